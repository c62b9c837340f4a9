//! The experiment configuration: one TOML file as typed structs (every choice an enum),
//! unknown keys refused, every value range-checked with an error that names its key.
//! Reference: docs/configuration.md.

mod guidance;
mod markov;
mod model;
mod plan;
mod sections;

use std::path::Path;

use gtl_classifier::RatioConfig;
use gtl_diffusion::{Process, ProcessKind};
use serde::{Deserialize, Serialize};

pub use guidance::{FitCriterion, GuidanceSection, PositionOrder, UnguidedOrder};
pub use markov::{ChainSpec, MAX_STATES, MarkovData, check_size};
pub use model::{ModelSection, Pooling, PositionsName, Preset};
pub use plan::{ExperimentSection, SweepSection, check_methods};
pub use sections::{
    ClassifierSection, DenoiserSection, FinetuneSection, PlannerSection, ProcessName,
    ProcessSection, RatioSection, validate_training,
};

use crate::method::Method;
use crate::{ExperimentError, Result};

/// The embedded default configuration (`configs/markov-default.toml`).
pub const DEFAULT_CONFIG: &str = include_str!("../../../../configs/markov-default.toml");

/// A whole experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig {
    /// Run name: artefacts go to `runs/<name>/`.
    pub name: String,
    /// Seed of the data sets.
    #[serde(default)]
    pub seed: u64,
    /// The Markov-chain transfer task.
    pub data: MarkovData,
    /// The forward process.
    pub process: ProcessSection,
    /// The source denoiser.
    pub denoiser: DenoiserSection,
    /// The clean and noisy domain classifiers.
    #[serde(default)]
    pub classifier: ClassifierSection,
    /// The noisy ratio network `log r_φ(z_t, t)`.
    #[serde(default)]
    pub ratio: RatioSection,
    /// The planner of scheduled GTL (absorbing process).
    #[serde(default)]
    pub planner: PlannerSection,
    /// The fine-tuning baselines.
    #[serde(default)]
    pub finetune: FinetuneSection,
    /// The samplers of every method (guided and unguided).
    #[serde(default)]
    pub guidance: GuidanceSection,
    /// What an experiment runs.
    #[serde(default)]
    pub experiment: ExperimentSection,
    /// The grid of a sweep.
    #[serde(default)]
    pub sweep: SweepSection,
}

impl ExperimentConfig {
    /// The embedded default configuration, parsed.
    pub fn default_config() -> Result<Self> {
        Self::parse(DEFAULT_CONFIG)
    }

    /// Reads and validates a TOML file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| ExperimentError::io(path, e))?;
        Self::parse(&text).map_err(|e| ExperimentError::Format {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// Parses and validates TOML text.
    pub fn parse(text: &str) -> Result<Self> {
        let config: ExperimentConfig = from_toml(text)?;
        config.validate()?;
        Ok(config)
    }

    /// The config as TOML (what a run writes to `config.toml`).
    pub fn to_toml(&self) -> Result<String> {
        crate::error::to_toml(self, "the resolved configuration")
    }

    /// Real tokens N of both domains.
    pub fn num_tokens(&self) -> usize {
        self.data.num_states()
    }

    /// Sequence length L.
    pub fn length(&self) -> usize {
        self.data.length
    }

    /// The forward process over the task's tokens.
    pub fn process(&self) -> Result<Process> {
        self.process.build(self.num_tokens())
    }

    /// Range checks of every key.
    pub fn validate(&self) -> Result<()> {
        if self.name.is_empty() || self.name.contains(['/', '\\']) || self.name.starts_with('.') {
            return Err(ExperimentError::config(format!(
                "name = {:?}: must be a non-empty file name (no '/', not starting with '.')",
                self.name
            )));
        }
        self.data.validate()?;
        let process = self.process()?;
        let (vocab, length) = (process.num_states(), self.length());
        let denoiser = self.denoiser.model.trunk(vocab, length, "denoiser.model")?;
        self.denoiser
            .loss
            .check(&process)
            .map_err(|e| ExperimentError::from(e).under("denoiser.loss"))?;
        validate_training(&self.denoiser.training, "denoiser.training")?;
        for (section, model) in [
            ("classifier.model", &self.classifier.model),
            ("ratio.model", &self.ratio.model),
            ("planner.model", &self.planner.model),
        ] {
            model.trunk(vocab, length, section)?;
        }
        validate_training(&self.classifier.training, "classifier.training")?;
        validate_training(&self.ratio.training, "ratio.training")?;
        validate_training(&self.planner.training, "planner.training")?;
        for (section, model) in [
            ("denoiser.model", &self.denoiser.model),
            ("planner.model", &self.planner.model),
        ] {
            if let Some(pooling) = model.pooling {
                return Err(ExperimentError::config(format!(
                    "{section}.pooling = {pooling:?}: only the classifier and ratio networks \
                     pool (their sections take the key)"
                )));
            }
        }
        self.finetune.validate(denoiser.num_blocks)?;
        self.guidance.validate(self.num_tokens(), length)?;
        for &size in &self.experiment.target_sizes {
            check_size(
                "experiment.target_sizes",
                size,
                self.data.validation_fraction,
            )?;
        }
        if self.experiment.target_sizes.is_empty() {
            return Err(ExperimentError::config(
                "experiment.target_sizes = []: name at least one target size",
            ));
        }
        check_methods("experiment.methods", &self.experiment.methods)?;
        for &size in &self.sweep.target_sizes {
            check_size("sweep.target_sizes", size, self.data.validation_fraction)?;
        }
        self.sweep.validate(self.num_tokens())?;
        let ratio = self.classifier.ratio_config(&self.ratio);
        // Both sections feed one RatioConfig; name each key under its own section.
        RatioConfig {
            label_smoothing: 0.0,
            ..ratio
        }
        .validate("ratio")?;
        RatioConfig {
            cycle_weight: 0.0,
            ..ratio
        }
        .validate("classifier")?;
        Ok(())
    }

    /// What running `methods` needs beyond [`validate`](Self::validate), checked before any
    /// stage starts: the one-position samplers, the planner and the γ fit reveal one
    /// position per step, which only the absorbing process does.
    pub fn check_runnable(&self, methods: &[Method]) -> Result<()> {
        let one_position = methods.iter().any(|m| *m != Method::ExactGuidance);
        if one_position && self.process.kind.kind(self.process.mask_rate) != ProcessKind::Absorbing
        {
            let names: Vec<&str> = methods
                .iter()
                .filter(|m| **m != Method::ExactGuidance)
                .map(|m| m.name())
                .collect();
            return Err(ExperimentError::config(format!(
                "process.kind = \"{}\": the methods {names:?} reveal one position per step, \
                 which needs process.kind = \"absorbing\" (only \"exact-guidance\" samples \
                 other processes)",
                self.process.kind.kind(self.process.mask_rate).name()
            )));
        }
        Ok(())
    }

    /// Whether any network of the experiment uses dropout (whose draws would depend on
    /// thread timing when stages run at once).
    pub fn has_dropout(&self) -> bool {
        [
            &self.denoiser.model,
            &self.classifier.model,
            &self.ratio.model,
            &self.planner.model,
        ]
        .iter()
        .any(|m| m.has_dropout())
    }
}

/// The name serde gives a unit enum value (its spelling in configs and on the command line).
pub fn serde_name<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Deserialises TOML text; errors name the line and the key path.
fn from_toml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    let line_of = |span: Option<std::ops::Range<usize>>| {
        span.map_or(0, |s| {
            text[..s.start.min(text.len())].matches('\n').count() + 1
        })
    };
    let deserializer = toml::Deserializer::parse(text).map_err(|e| ExperimentError::Toml {
        line: line_of(e.span()),
        key: String::new(),
        message: e.message().trim().to_string(),
    })?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        ExperimentError::Toml {
            line: line_of(inner.span()),
            key: if path == "." {
                String::new()
            } else {
                format!("{path}: ")
            },
            message: inner.message().trim().to_string(),
        }
    })
}

#[cfg(test)]
mod tests;
