//! The data sets of an experiment: source and target sequences for training, validation and
//! evaluation, with the exact chains where the task has them.

use std::path::Path;
use std::sync::Arc;

use gtl_markov::MarkovChain;

use crate::config::{ExperimentConfig, Task, TokenizerSpec};
use crate::memo::Memo;
use crate::{ExperimentError, Result, dna, text};

/// Token sequences of both domains, split.
#[derive(Clone, Debug)]
pub struct TaskData {
    /// Source training sequences.
    pub source_train: Vec<Vec<u32>>,
    /// Held out from the source set for validation.
    pub source_validation: Vec<Vec<u32>>,
    /// Target training sequences.
    pub target_train: Vec<Vec<u32>>,
    /// Held out from the target set for validation.
    pub target_validation: Vec<Vec<u32>>,
    /// Source sequences no stage trains on, for evaluation.
    pub source_test: Vec<Vec<u32>>,
    /// Target sequences no stage trains on, for evaluation.
    pub target_test: Vec<Vec<u32>>,
    /// The exact chains (Markov tasks).
    pub chains: Option<Chains>,
}

/// The exact source and target chains of a Markov task.
#[derive(Clone, Debug)]
pub struct Chains {
    /// Source chain p.
    pub source: MarkovChain,
    /// Target chain q.
    pub target: MarkovChain,
}

impl TaskData {
    /// The data of `config`, computed once per process and key: a Markov task's draws, or a
    /// text task's windows under the tokenizer in `tokenizer` (the tokenizer stage's
    /// `tokenizer.json`; for `text.tokenizer.kind = "file"` its own file when `None`), or a
    /// DNA task's windows of bases.
    pub fn load(config: &ExperimentConfig, tokenizer: Option<&Path>) -> Result<Arc<Self>> {
        static DATA: Memo<String, Arc<TaskData>> = Memo::new();
        let key = format!(
            "{}\n{:?}",
            crate::keys::data(config)?,
            tokenizer.map(crate::cache::file_fingerprint).transpose()?
        );
        DATA.get_or_try(key, || {
            Ok(Arc::new(match config.task() {
                Task::Markov(_) => Self::new(config)?,
                Task::Text(text) => {
                    let path = match (tokenizer, &text.tokenizer) {
                        (Some(path), _) => path.to_path_buf(),
                        (None, TokenizerSpec::File { path }) => path.clone(),
                        (None, TokenizerSpec::Bpe { .. }) => {
                            return Err(ExperimentError::Missing(
                                "the text task's data needs the trained tokenizer".into(),
                            ));
                        }
                    };
                    Self::text(config, &*text::load_tokenizer(&path)?)?
                }
                Task::Dna(_) => Self::dna(config)?,
            }))
        })
    }

    /// The windows of a text task under `tokenizer`.
    pub fn text(config: &ExperimentConfig, tokenizer: &gtl_data::TextTokenizer) -> Result<Self> {
        let Task::Text(spec) = config.task() else {
            return Err(ExperimentError::config("TaskData::text needs a text task"));
        };
        let docs = text::documents(spec)?;
        let windows = |d: &[gtl_data::Document]| text::windows(tokenizer, d, spec.length);
        let held_out =
            |d: &[gtl_data::Document]| -> Result<_> { Ok(spread(windows(d)?, spec.eval_windows)) };
        let data = TaskData {
            source_train: windows(&docs.source_train)?,
            source_validation: held_out(&docs.source_validation)?,
            source_test: held_out(&docs.source_test)?,
            target_train: windows(&docs.target_train)?,
            target_validation: held_out(&docs.target_validation)?,
            target_test: held_out(&docs.target_test)?,
            chains: None,
        };
        data.require_windows(|name| {
            format!(
                "text: the {name} documents fill no window of text.length = {} tokens",
                spec.length
            )
        })?;
        Ok(data)
    }

    /// Refuses a data set with an empty split (every one but the source test split, which
    /// only the report reads); `message` says why, given the split's name.
    fn require_windows(&self, message: impl Fn(&str) -> String) -> Result<()> {
        for (name, split) in [
            ("source training", &self.source_train),
            ("source validation", &self.source_validation),
            ("target training", &self.target_train),
            ("target validation", &self.target_validation),
            ("target test", &self.target_test),
        ] {
            if split.is_empty() {
                return Err(ExperimentError::config(message(name)));
            }
        }
        Ok(())
    }

    /// The windows of a DNA task: training windows `dna.stride` bases apart and held-out
    /// windows side by side, or one window per sequence after `dna.anchor`; at most
    /// `dna.eval_windows` of each held-out split, evenly spread.
    pub fn dna(config: &ExperimentConfig) -> Result<Self> {
        let Task::Dna(spec) = config.task() else {
            return Err(ExperimentError::config("TaskData::dna needs a DNA task"));
        };
        let records = dna::records(spec)?;
        let train = |r: &[gtl_data::FastaRecord]| dna::windows(r, spec, spec.stride);
        let held_out = |r: &[gtl_data::FastaRecord]| -> Result<_> {
            Ok(spread(
                dna::windows(r, spec, spec.length)?,
                spec.eval_windows,
            ))
        };
        let data = TaskData {
            source_train: train(&records.source_train)?,
            source_validation: held_out(&records.source_validation)?,
            source_test: held_out(&records.source_test)?,
            target_train: train(&records.target_train)?,
            target_validation: held_out(&records.target_validation)?,
            target_test: held_out(&records.target_test)?,
            chains: None,
        };
        data.require_windows(|name| {
            format!(
                "dna: the {name} sequences give no window of dna.length = {} bases without \
                 an ambiguity code (and after dna.anchor, when it is set)",
                spec.length
            )
        })?;
        Ok(data)
    }

    /// Draws every data set of a Markov task. The target sets of configs that differ only in
    /// `data.target_size` are nested: a smaller one is a prefix of a larger one's draw.
    pub fn new(config: &ExperimentConfig) -> Result<Self> {
        let data = config.markov("drawing Markov data")?;
        let seed = config.seed;
        let (source, target) = data.chains()?;
        let (source_train, source_validation) = split(
            source.sample_dataset(data.source_size, data.length, seed),
            data.validation_fraction,
        );
        let (target_train, target_validation) = split(
            target.sample_dataset(data.target_size, data.length, seed.wrapping_add(2_000_003)),
            data.validation_fraction,
        );
        let source_test =
            source.sample_dataset(data.test_size, data.length, seed.wrapping_add(1_000_003));
        let target_test =
            target.sample_dataset(data.test_size, data.length, seed.wrapping_add(3_000_017));
        Ok(TaskData {
            source_train,
            source_validation,
            target_train,
            target_validation,
            source_test,
            target_test,
            chains: Some(Chains { source, target }),
        })
    }

    /// The exact chains, or an error naming `what` needs them.
    pub fn chains(&self, what: &str) -> Result<&Chains> {
        self.chains.as_ref().ok_or_else(|| {
            crate::ExperimentError::config(format!(
                "{what} needs the exact chains of a Markov task"
            ))
        })
    }

    /// The target training and validation sequences together (every target sequence a
    /// method may see).
    pub fn target_seen(&self) -> Vec<Vec<u32>> {
        self.target_train
            .iter()
            .chain(&self.target_validation)
            .cloned()
            .collect()
    }
}

/// At most `max` of `items` (0: all), evenly spread over them, in order.
pub fn spread<T>(items: Vec<T>, max: usize) -> Vec<T> {
    if max == 0 || items.len() <= max {
        return items;
    }
    let step = items.len() as f64 / max as f64;
    let mut picks = (0..max).map(|i| (i as f64 * step) as usize).peekable();
    items
        .into_iter()
        .enumerate()
        .filter_map(|(i, item)| {
            (picks.peek() == Some(&i)).then(|| {
                picks.next();
                item
            })
        })
        .collect()
}

/// Train/validation split of a data set: the last `fraction` is held out.
pub fn split(data: Vec<Vec<u32>>, fraction: f64) -> (Vec<Vec<u32>>, Vec<Vec<u32>>) {
    let held_out = (data.len() as f64 * fraction).round() as usize;
    let mut train = data;
    let validation = train.split_off(train.len() - held_out);
    (train, validation)
}

/// The i.i.d. chain of the training data's token frequencies: the unigram baseline.
pub fn unigram_chain(data: &[Vec<u32>], states: usize) -> Result<MarkovChain> {
    let mut counts = vec![1e-12; states];
    for &token in data.iter().flatten() {
        counts[token as usize] += 1.0;
    }
    let total: f64 = counts.iter().sum();
    let marginal: Vec<f64> = counts.iter().map(|c| c / total).collect();
    Ok(MarkovChain::new(marginal.clone(), vec![marginal; states])?)
}
