//! The Markov-chain transfer task: source and target chains and data set sizes.

use std::path::PathBuf;

use gtl_markov::MarkovChain;
use serde::{Deserialize, Serialize};

use crate::cache::file_fingerprint;
use crate::{ExperimentError, Result};

/// Source and target chains and data set sizes (the `[data]` section).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkovData {
    /// Number of states N.
    pub states: usize,
    /// Sequence length L.
    pub length: usize,
    /// The source chain.
    pub source: ChainSpec,
    /// The target chain.
    pub target: ChainSpec,
    /// Source sequences (training + validation).
    pub source_size: usize,
    /// Target sequences (training + validation).
    pub target_size: usize,
    /// Share of each data set held out for validation, in (0, 0.5].
    #[serde(default = "default_validation_fraction")]
    pub validation_fraction: f64,
    /// Fresh sequences per chain for evaluation.
    #[serde(default = "default_test_size")]
    pub test_size: usize,
    /// Target-only states (poor overlap): the target chain gains this many states that the
    /// source never visits (`MarkovChain::with_extra_states` / `pad_states`).
    #[serde(default)]
    pub extra_target_states: usize,
    /// Probability with which each original target state moves into the extra states, in
    /// (0, 1] when `extra_target_states > 0`, else 0.
    #[serde(default)]
    pub extra_target_mass: f64,
}

fn default_validation_fraction() -> f64 {
    0.1
}

fn default_test_size() -> usize {
    2000
}

impl MarkovData {
    /// States of both chains: `states` plus the target-only ones.
    pub fn num_states(&self) -> usize {
        self.states + self.extra_target_states
    }

    /// The source and target chains over [`num_states`](Self::num_states) states.
    pub fn chains(&self) -> Result<(MarkovChain, MarkovChain)> {
        let source = self.source.build(self.states, "data.source")?;
        let target = self.target.build(self.states, "data.target")?;
        if self.extra_target_states == 0 {
            return Ok((source, target));
        }
        Ok((
            source.pad_states(self.num_states())?,
            target
                .with_extra_states(self.extra_target_states, self.extra_target_mass)
                .map_err(|e| ExperimentError::from(e).under("data.extra_target_mass"))?,
        ))
    }

    /// Range checks of the section's own keys.
    pub fn validate(&self) -> Result<()> {
        if self.states < 2 {
            return Err(ExperimentError::config(format!(
                "data.states = {}: must be at least 2",
                self.states
            )));
        }
        // The dense chain and its forward-backward tables are N × N.
        if self.num_states() > MAX_STATES {
            return Err(ExperimentError::config(format!(
                "data.states + data.extra_target_states = {}: must be at most {MAX_STATES}",
                self.num_states()
            )));
        }
        if self.length == 0 {
            return Err(ExperimentError::config(
                "data.length = 0: must be at least 1",
            ));
        }
        if !(self.validation_fraction > 0.0 && self.validation_fraction <= 0.5) {
            return Err(ExperimentError::config(format!(
                "data.validation_fraction = {}: must be in (0, 0.5]",
                self.validation_fraction
            )));
        }
        for (key, size) in [
            ("data.source_size", self.source_size),
            ("data.target_size", self.target_size),
            ("data.test_size", self.test_size),
        ] {
            check_size(key, size, self.validation_fraction)?;
        }
        if self.extra_target_states == 0 && self.extra_target_mass != 0.0 {
            return Err(ExperimentError::config(format!(
                "data.extra_target_mass = {}: must be 0 when data.extra_target_states = 0",
                self.extra_target_mass
            )));
        }
        if self.extra_target_states > 0
            && !(self.extra_target_mass > 0.0 && self.extra_target_mass <= 1.0)
        {
            return Err(ExperimentError::config(format!(
                "data.extra_target_mass = {}: must be in (0, 1] when data.extra_target_states > 0",
                self.extra_target_mass
            )));
        }
        self.chains()?;
        Ok(())
    }
}

/// The largest number of states a Markov task accepts.
pub const MAX_STATES: usize = 4096;

/// Checks that `size` sequences leave a non-empty validation and training split.
pub fn check_size(key: &str, size: usize, validation_fraction: f64) -> Result<()> {
    let held_out = (size as f64 * validation_fraction).round() as usize;
    if size < 2 || held_out == 0 || held_out == size {
        return Err(ExperimentError::config(format!(
            "{key} = {size}: too small to hold out data.validation_fraction = \
             {validation_fraction} for validation"
        )));
    }
    Ok(())
}

/// A chain from a family or a JSON file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "family", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ChainSpec {
    /// `d` on the diagonal, uniform off it.
    Diagonal {
        /// Diagonal probability in [0, 1].
        diag: f64,
    },
    /// Initial distribution and rows from Dirichlet(alpha).
    Dirichlet {
        /// Concentration > 0.
        alpha: f64,
        /// Seed.
        seed: u64,
    },
    /// A chain saved by `cargo xtask markov-chain` (`MarkovChain::save_json`).
    File {
        /// Path of the JSON file (relative to the working directory).
        path: PathBuf,
    },
    /// `(1 - weight)·a + weight·b`, entry by entry (the overlap knob of the sweeps).
    Mixture {
        /// Weight of `b`, in [0, 1].
        weight: f64,
        /// First component.
        a: Box<ChainSpec>,
        /// Second component.
        b: Box<ChainSpec>,
    },
}

impl ChainSpec {
    /// Builds the chain; `key` names it in errors.
    pub fn build(&self, states: usize, key: &str) -> Result<MarkovChain> {
        let chain = match self {
            ChainSpec::Diagonal { diag } => MarkovChain::diagonal(states, *diag),
            ChainSpec::Dirichlet { alpha, seed } => MarkovChain::dirichlet(states, *alpha, *seed),
            ChainSpec::File { path } => MarkovChain::load_json(path),
            ChainSpec::Mixture { weight, a, b } => {
                if !(0.0..=1.0).contains(weight) {
                    return Err(ExperimentError::config(format!(
                        "{key}.weight = {weight}: must be in [0, 1]"
                    )));
                }
                let a = a.build(states, &format!("{key}.a"))?;
                let b = b.build(states, &format!("{key}.b"))?;
                MarkovChain::mixture(&a, &b, *weight)
            }
        }
        .map_err(|e| ExperimentError::from(e).under(key))?;
        if chain.num_states() != states {
            return Err(ExperimentError::config(format!(
                "{key}: the chain has {} states, data.states = {states}",
                chain.num_states()
            )));
        }
        Ok(chain)
    }

    /// What the chain depends on, as text for cache keys: the spec itself, with the contents
    /// (a fingerprint) of every file it reads, so an edited chain file is a new key.
    pub fn key_text(&self) -> Result<String> {
        Ok(match self {
            ChainSpec::File { path } => format!(
                "{{ family = \"file\", path = {:?}, contents = \"{}\" }}",
                path.display().to_string(),
                file_fingerprint(path)?
            ),
            ChainSpec::Mixture { weight, a, b } => format!(
                "{{ family = \"mixture\", weight = {weight:?}, a = {}, b = {} }}",
                a.key_text()?,
                b.key_text()?
            ),
            other => format!("{other:?}"),
        })
    }
}
