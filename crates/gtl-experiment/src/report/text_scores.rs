//! Scores of a text task's samples (docs/language.md): an independent domain judge, a
//! reference Kneser–Ney language model, MAUVE on hashed TF-IDF features, diversity and
//! memorisation. Every reference is built from documents no method trains on: the source
//! and target test splits and the held-out target-side prefixes, packed into windows of the
//! samples' length and decoded, then divided by hash into a part that trains the judge and
//! the language model, a MAUVE reference, and a part scored as real text.

use std::path::Path;
use std::sync::Arc;

use gtl_data::{Document, TextTokenizer, stable_hash};
use gtl_eval::{
    DomainJudge, JudgeConfig, KneserNey, KneserNeyConfig, MauveConfig, MeanInterval, NgramIndex,
    TfidfConfig, bootstrap_mean, distinct_n, hashed_tfidf_mauve, repetition_rate, words,
};
use serde::{Deserialize, Serialize};

use crate::config::{ExperimentConfig, Task};
use crate::data::TaskData;
use crate::memo::Memo;
use crate::text::{decode_plain, documents, load_tokenizer, windows};
use crate::{ExperimentError, Result};

/// Bootstrap resamples of the intervals.
const RESAMPLES: usize = 1000;

/// The longest n-gram of the memorisation check (the GTL paper's 50 tokens), at most half a
/// window.
const MEMORISED_NGRAM: usize = 50;

/// A text method's (or real text's) scores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TextScores {
    /// Texts scored.
    pub samples: usize,
    /// The judge's mean P(target | text), with a 95 % bootstrap interval.
    pub p_target: MeanInterval,
    /// Perplexity per word (and end of text) under the reference language model.
    pub perplexity: f64,
    /// MAUVE on hashed TF-IDF features against held-out target windows (same count).
    pub mauve: f64,
    /// Distinct-1, -2, -3 of the words over all texts.
    pub distinct: [f64; 3],
    /// Share of word 4-grams that repeat an earlier 4-gram of the same text.
    pub repetition: f64,
    /// Share of texts that share a long token n-gram with the target training windows.
    pub memorised: f64,
}

/// The references' own numbers: the judge's accuracy, and real held-out windows scored as
/// samples are.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TextReference {
    /// The judge's balanced accuracy on held-out windows of both domains.
    pub judge_accuracy: f64,
    /// Windows the judge and the language model were trained on (source, target).
    pub training_windows: [usize; 2],
    /// The n of the memorisation check.
    pub memorised_ngram: usize,
    /// Held-out target windows.
    pub target: TextScores,
    /// Held-out source windows.
    pub source: TextScores,
}

/// The trained references of one corpus and split.
struct References {
    judge: DomainJudge,
    judge_accuracy: f64,
    language_model: KneserNey,
    mauve_reference: Vec<String>,
    real_target: (Vec<Vec<u32>>, Vec<String>),
    real_source: (Vec<Vec<u32>>, Vec<String>),
    training_windows: [usize; 2],
}

/// Scores samples of one text setting.
pub struct TextEvaluator {
    references: Arc<References>,
    tokenizer: Arc<TextTokenizer>,
    memorisation: NgramIndex,
    seed: u64,
}

/// Which third a window falls in: 0 trains the judge and language model, 1 is the MAUVE
/// reference, 2 is scored as real text.
fn part(index: usize, seed: u64) -> u64 {
    stable_hash(seed, "reference-part", &index.to_string()) % 5
}

fn decoded(
    tokenizer: &TextTokenizer,
    docs: &[Document],
    length: usize,
) -> Result<Vec<(Vec<u32>, String)>> {
    Ok(windows(tokenizer, docs, length)?
        .into_iter()
        .map(|w| {
            let text = decode_plain(tokenizer, &w);
            (w, text)
        })
        .collect())
}

fn build_references(config: &ExperimentConfig, tokenizer: &TextTokenizer) -> Result<References> {
    let Task::Text(spec) = config.task() else {
        return Err(ExperimentError::config("text scores need a text task"));
    };
    let docs = documents(spec)?;
    let mut target_docs = docs.target_test.clone();
    target_docs.extend(docs.held_out_target.iter().cloned());
    let target = decoded(tokenizer, &target_docs, spec.length)?;
    let source = decoded(tokenizer, &docs.source_test, spec.length)?;
    let seed = spec.split_seed;
    let (mut target_train, mut mauve_reference, mut real_target) =
        (Vec::new(), Vec::new(), (Vec::new(), Vec::new()));
    for (i, (tokens, text)) in target.into_iter().enumerate() {
        match part(i, seed) {
            0..=2 => target_train.push(text),
            3 => mauve_reference.push(text),
            _ => {
                real_target.0.push(tokens);
                real_target.1.push(text);
            }
        }
    }
    let (mut source_train, mut real_source) = (Vec::new(), (Vec::new(), Vec::new()));
    for (i, (tokens, text)) in source.into_iter().enumerate() {
        if part(i, seed ^ 1) <= 2 {
            source_train.push(text);
        } else {
            real_source.0.push(tokens);
            real_source.1.push(text);
        }
    }
    for (name, set) in [
        ("target-side judge training", &target_train),
        ("MAUVE reference", &mauve_reference),
        ("held-out target", &real_target.1),
        ("source judge training", &source_train),
        ("held-out source", &real_source.1),
    ] {
        if set.is_empty() {
            return Err(ExperimentError::config(format!(
                "text scores: the {name} windows are empty; hold out more documents \
                 (text.test_fraction, text.held_out_target, text.max_documents)"
            )));
        }
    }
    let judge = DomainJudge::fit(&source_train, &target_train, &JudgeConfig::default())?;
    let judge_accuracy = judge.accuracy(&real_source.1, &real_target.1)?;
    let language_model = KneserNey::fit(&target_train, &KneserNeyConfig::default())?;
    Ok(References {
        judge,
        judge_accuracy,
        language_model,
        mauve_reference,
        real_target,
        real_source,
        training_windows: [source_train.len(), target_train.len()],
    })
}

impl TextEvaluator {
    /// The evaluator of `config`'s setting with the tokenizer in `tokenizer` (the references
    /// are built once per process and corpus; the memorisation index per target set).
    pub fn new(config: &ExperimentConfig, tokenizer: &Path, data: &TaskData) -> Result<Self> {
        static REFERENCES: Memo<String, Arc<References>> = Memo::new();
        let tokenizer = load_tokenizer(tokenizer)?;
        let key = format!(
            "{}\n{:?}",
            crate::keys::source_data(config)?,
            config.text.as_ref().map(|t| &t.held_out_target)
        );
        let references =
            REFERENCES.get_or_try(key, || Ok(Arc::new(build_references(config, &tokenizer)?)))?;
        let n = MEMORISED_NGRAM.min(config.length() / 2).max(1);
        Ok(TextEvaluator {
            references,
            tokenizer,
            memorisation: NgramIndex::new(&data.target_train, n)?,
            seed: config.guidance.seed,
        })
    }

    /// The decoded text of samples.
    pub fn decode(&self, samples: &[Vec<u32>]) -> Vec<String> {
        samples
            .iter()
            .map(|s| decode_plain(&self.tokenizer, s))
            .collect()
    }

    /// Scores `samples` (model ids).
    pub fn score(&self, samples: &[Vec<u32>]) -> Result<TextScores> {
        let texts = self.decode(samples);
        self.score_texts(samples, &texts)
    }

    fn score_texts(&self, samples: &[Vec<u32>], texts: &[String]) -> Result<TextScores> {
        let r = &self.references;
        if texts.is_empty() {
            return Err(ExperimentError::config("text scores: no samples"));
        }
        let p: Vec<f64> = texts.iter().map(|t| r.judge.p_target(t)).collect();
        let p_target = bootstrap_mean(&p, RESAMPLES, 0.95, self.seed)?;
        let count = texts.len().min(r.mauve_reference.len());
        let mauve = hashed_tfidf_mauve(
            &texts[..count],
            &r.mauve_reference[..count],
            &TfidfConfig::default(),
            &MauveConfig::default(),
        )?
        .score;
        let word_lists: Vec<Vec<String>> = texts.iter().map(|t| words(t)).collect();
        let distinct = [1, 2, 3].map(|n| distinct_n(&word_lists, n).unwrap_or(0.0));
        Ok(TextScores {
            samples: texts.len(),
            p_target,
            perplexity: r.language_model.perplexity(texts)?,
            mauve,
            distinct,
            repetition: repetition_rate(&word_lists, 4).unwrap_or(0.0),
            memorised: self.memorisation.memorised_share(samples),
        })
    }

    /// The references' own numbers.
    pub fn reference(&self) -> Result<TextReference> {
        let r = &self.references;
        Ok(TextReference {
            judge_accuracy: r.judge_accuracy,
            training_windows: r.training_windows,
            memorised_ngram: self.memorisation.n(),
            target: self.score_texts(&r.real_target.0, &r.real_target.1)?,
            source: self.score_texts(&r.real_source.0, &r.real_source.1)?,
        })
    }
}
