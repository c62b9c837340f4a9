//! The text transfer task (the `[text]` section): documents of a corpus split into a source
//! and a target domain by category prefix, tokenised and packed into windows.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::{ExperimentError, Result};

/// Where the documents come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "format", rename_all = "kebab-case", deny_unknown_fields)]
pub enum CorpusSpec {
    /// A directory of `PREFIX-NN.jsonl` shards (`id`, `primary`, `categories`, `title`,
    /// `abstract` per line), one prefix per domain prefix (`../shared/data/arxiv`).
    Shards {
        /// The directory (relative to the working directory).
        dir: PathBuf,
    },
    /// The arXiv metadata snapshot (one JSON object per line with `id`, `categories` as a
    /// space-separated string and `abstract`), read streaming.
    Snapshot {
        /// The file.
        path: PathBuf,
    },
}

/// How the text is tokenised.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum TokenizerSpec {
    /// A byte-level BPE trained on the source training text (a stage of the experiment).
    Bpe {
        /// Real tokens N of the vocabulary (at least 258: begin, end and the 256 bytes).
        vocab_size: usize,
    },
    /// A `tokenizer.json` of the user's (for example BERT's WordPiece), with a mask token.
    File {
        /// The file.
        path: PathBuf,
    },
}

/// The text task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextData {
    /// The documents.
    pub corpus: CorpusSpec,
    /// Primary-category prefixes of the source domain (`math` takes `math.RT`, not `math-ph`).
    pub source: Vec<String>,
    /// Primary-category prefixes of the target domain.
    pub target: Vec<String>,
    /// Prefixes of further target-side documents that no method trains on, added to the
    /// held-out references of the metrics (the judge, the reference language model, MAUVE):
    /// for physics, `astro-ph`, with which most of it is cross-listed.
    #[serde(default)]
    pub held_out_target: Vec<String>,
    /// Tokens per window L, begin and end tokens included.
    pub length: usize,
    /// The tokenizer.
    pub tokenizer: TokenizerSpec,
    /// Share of each domain's documents held out for validation, in [0, 0.5).
    #[serde(default = "default_held_out")]
    pub validation_fraction: f64,
    /// Share of each domain's documents held out for evaluation, in (0, 0.5).
    #[serde(default = "default_held_out")]
    pub test_fraction: f64,
    /// Seed of the hashed splits, the overlap and the keep fraction.
    #[serde(default = "default_split_seed")]
    pub split_seed: u64,
    /// Share r of the target training documents moved into the source (the paper's overlap),
    /// in [0, 1).
    #[serde(default)]
    pub overlap: f64,
    /// Share of the remaining target training and validation documents kept (the target data
    /// size), in (0, 1]; the experiment sets it from `experiment.target_fractions`.
    #[serde(default = "default_fraction")]
    pub target_fraction: f64,
    /// At most this many documents per domain prefix, the first by hash (0: all); for
    /// seconds-long runs on a slice of the corpus.
    #[serde(default)]
    pub max_documents: usize,
    /// At most this many windows in each validation and test set of the networks (evenly
    /// spread over the split; 0: all): the NELBO of a 4,096-token vocabulary costs a
    /// 4,096-wide softmax per token, so whole splits would dominate a CPU run.
    #[serde(default = "default_eval_windows")]
    pub eval_windows: usize,
}

fn default_eval_windows() -> usize {
    256
}

fn default_held_out() -> f64 {
    0.1
}

fn default_split_seed() -> u64 {
    42
}

fn default_fraction() -> f64 {
    1.0
}

impl TextData {
    /// Range checks of the section's own keys.
    pub fn validate(&self) -> Result<()> {
        let fail = |message: String| Err(ExperimentError::Config(message));
        if self.source.is_empty() || self.target.is_empty() {
            return fail("text.source and text.target: name at least one prefix each".into());
        }
        if let Some(p) = self.target.iter().find(|p| self.source.contains(p)) {
            return fail(format!(
                "text.target = {p:?}: also a source prefix; the domains must differ"
            ));
        }
        if self.length < 3 {
            return fail(format!(
                "text.length = {}: must be at least 3 (begin, a token, end)",
                self.length
            ));
        }
        if let TokenizerSpec::Bpe { vocab_size } = self.tokenizer
            && vocab_size < 258
        {
            return fail(format!(
                "text.tokenizer.vocab_size = {vocab_size}: must be at least 258 (begin, end and \
                 the 256 bytes)"
            ));
        }
        if !(0.0..0.5).contains(&self.validation_fraction) {
            return fail(format!(
                "text.validation_fraction = {}: must be in [0, 0.5)",
                self.validation_fraction
            ));
        }
        if !(self.test_fraction > 0.0 && self.test_fraction < 0.5) {
            return fail(format!(
                "text.test_fraction = {}: must be in (0, 0.5)",
                self.test_fraction
            ));
        }
        if !(0.0..1.0).contains(&self.overlap) {
            return fail(format!(
                "text.overlap = {}: must be in [0, 1)",
                self.overlap
            ));
        }
        check_fraction("text.target_fraction", self.target_fraction)
    }
}

/// Checks a target fraction.
pub fn check_fraction(key: &str, fraction: f64) -> Result<()> {
    if !(fraction > 0.0 && fraction <= 1.0) {
        return Err(ExperimentError::config(format!(
            "{key} = {fraction}: must be in (0, 1]"
        )));
    }
    Ok(())
}
