//! The data sets of an experiment: source and target sequences for training, validation and
//! evaluation, with the exact chains where the task has them.

use gtl_markov::MarkovChain;

use crate::Result;
use crate::config::ExperimentConfig;

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
    /// Draws every data set of `config`. The target sets of configs that differ only in
    /// `data.target_size` are nested: a smaller one is a prefix of a larger one's draw.
    pub fn new(config: &ExperimentConfig) -> Result<Self> {
        let data = &config.data;
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
