//! The experiment configuration: one TOML file as typed structs (every choice an enum),
//! unknown keys refused, every value range-checked with an error that names its key.
//! Reference: docs/configuration.md.

mod dna;
mod guidance;
mod markov;
mod model;
mod plan;
mod sections;
mod text;

use std::path::Path;

use gtl_classifier::RatioConfig;
use gtl_diffusion::{Process, ProcessKind};
use serde::{Deserialize, Serialize};

pub use dna::{AmbiguityPolicy, DnaData, MIN_TARGET_SEQUENCES, TaxonRank, check_target_size};
pub use guidance::{FitCriterion, GuidanceSection, PositionOrder, TailChoice, UnguidedOrder};
pub use markov::{ChainSpec, MAX_STATES, MarkovData, check_size};
pub use model::{ModelSection, Pooling, PositionsName, Preset};
pub use plan::{ExperimentSection, SweepSection, check_methods};
pub use sections::{
    ClassifierSection, DenoiserSection, FinetuneSection, HeadStart, PlannerSection, ProcessName,
    ProcessSection, RatioSection, TargetOnlySection, validate_training,
};
pub use text::{CorpusSpec, TextData, TokenizerSpec, check_fraction};

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
    /// The Markov-chain transfer task (`[data]`; exactly one task section is given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<MarkovData>,
    /// The text transfer task (`[text]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<TextData>,
    /// The DNA transfer task (`[dna]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dna: Option<DnaData>,
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
        Self::load_with(path, &[])
    }

    /// Reads a TOML file, applies `overrides` ([`ExperimentConfig::parse_with`]) and
    /// validates the result; errors name the file.
    pub fn load_with(path: &Path, overrides: &[String]) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| ExperimentError::io(path, e))?;
        Self::parse_with(&text, overrides).map_err(|e| ExperimentError::Format {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// Parses and validates TOML text after applying `overrides`, each `key=value` with `key`
    /// a dotted path (`finetune.learning_rates`, `experiment.target_sizes`) and `value` a TOML
    /// value (`[1e-3, 3e-3]`, `"fresh"`, `800`, `true`); the result is checked like a file
    /// (unknown keys rejected, ranges validated). No overrides: [`ExperimentConfig::parse`].
    pub fn parse_with(text: &str, overrides: &[String]) -> Result<Self> {
        if overrides.is_empty() {
            return Self::parse(text);
        }
        let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            ExperimentError::config(format!("the configuration: {}", e.message().trim()))
        })?;
        for item in overrides {
            apply_override(&mut table, item)?;
        }
        let text = toml::to_string(&table)
            .map_err(|e| ExperimentError::config(format!("the overridden configuration: {e}")))?;
        Self::parse(&text)
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

    /// The task.
    pub fn task(&self) -> Task<'_> {
        match (&self.data, &self.text, &self.dna) {
            (Some(markov), _, _) => Task::Markov(markov),
            (None, Some(text), _) => Task::Text(text),
            (None, None, Some(dna)) => Task::Dna(dna),
            (None, None, None) => unreachable!("validate() requires a task section"),
        }
    }

    /// The Markov task, or an error naming `what` needs one.
    pub fn markov(&self, what: &str) -> Result<&MarkovData> {
        self.data.as_ref().ok_or_else(|| {
            ExperimentError::config(format!("{what} needs a Markov task ([data] section)"))
        })
    }

    /// The Markov task, for settings that vary it.
    ///
    /// # Panics
    /// If the task is not a Markov one.
    pub fn markov_mut(&mut self) -> &mut MarkovData {
        self.data.as_mut().expect("a Markov task")
    }

    /// Real tokens N of both domains (for a text task: of its tokenizer).
    pub fn num_tokens(&self) -> Result<usize> {
        match self.task() {
            Task::Markov(data) => Ok(data.num_states()),
            Task::Text(text) => crate::text::num_tokens(&text.tokenizer),
            Task::Dna(_) => Ok(crate::dna::vocab().num_tokens()),
        }
    }

    /// Sequence length L.
    pub fn length(&self) -> usize {
        match self.task() {
            Task::Markov(data) => data.length,
            Task::Text(text) => text.length,
            Task::Dna(dna) => dna.length,
        }
    }

    /// The forward process over the task's tokens.
    pub fn process(&self) -> Result<Process> {
        self.process.build(self.num_tokens()?)
    }

    /// The settings of a plain experiment: one per target size (Markov, DNA) or target
    /// fraction (text), each with this config's target set to it.
    pub fn target_settings(&self) -> Vec<TargetSetting> {
        match self.task() {
            Task::Markov(_) => self
                .experiment
                .target_sizes
                .iter()
                .map(|&n| self.with_target_size(n))
                .collect(),
            Task::Text(_) => self
                .experiment
                .target_fractions
                .iter()
                .map(|&f| self.with_target_fraction(f))
                .collect(),
            Task::Dna(_) => self
                .experiment
                .target_sizes
                .iter()
                .map(|&n| self.with_target_sequences(n))
                .collect(),
        }
    }

    /// This config with every seed moved by `10·k`: the data (`seed`), every network's
    /// initialisation and batches (each `[*.training] seed`) and the samples (`[guidance]
    /// seed`); `k = 0` is the config itself. The `[sweep] seeds` axis runs these.
    pub fn with_seed_offset(&self, k: u64) -> Self {
        let mut c = self.clone();
        for seed in [
            &mut c.seed,
            &mut c.denoiser.training.seed,
            &mut c.classifier.training.seed,
            &mut c.ratio.training.seed,
            &mut c.planner.training.seed,
            &mut c.finetune.training.seed,
            &mut c.guidance.seed,
        ] {
            *seed = seed.wrapping_add(10 * k);
        }
        if let Some(own) = &mut c.finetune.target_only {
            own.training.seed = own.training.seed.wrapping_add(10 * k);
        }
        c
    }

    /// This config at `n` target sequences (Markov).
    pub fn with_target_size(&self, n: usize) -> TargetSetting {
        let mut config = self.clone();
        config.markov_mut().target_size = n;
        TargetSetting {
            label: format!("n={n}"),
            axis: "target_size",
            value: n as f64,
            config,
        }
    }

    /// This config at target fraction `f` (text).
    ///
    /// # Panics
    /// If the task is not a text one.
    pub fn with_target_fraction(&self, f: f64) -> TargetSetting {
        let mut config = self.clone();
        config.text.as_mut().expect("a text task").target_fraction = f;
        TargetSetting {
            label: format!("f={f}"),
            axis: "target_fraction",
            value: f,
            config,
        }
    }

    /// This config at `n` target sequences (DNA; 0: every target sequence not held out).
    /// The value of `n = 0` is 0 here; the report replaces it by the count it found.
    ///
    /// # Panics
    /// If the task is not a DNA one.
    pub fn with_target_sequences(&self, n: usize) -> TargetSetting {
        let mut config = self.clone();
        config.dna.as_mut().expect("a DNA task").target_size = n;
        TargetSetting {
            label: if n == 0 {
                "n=all".into()
            } else {
                format!("n={n}")
            },
            axis: "target_size",
            value: n as f64,
            config,
        }
    }

    /// This config's own target setting (`data.target_size`, `text.target_fraction` or
    /// `dna.target_size`).
    pub fn own_target(&self) -> TargetSetting {
        match self.task() {
            Task::Markov(data) => self.with_target_size(data.target_size),
            Task::Text(text) => self.with_target_fraction(text.target_fraction),
            Task::Dna(dna) => self.with_target_sequences(dna.target_size),
        }
    }

    /// Range checks of every key.
    pub fn validate(&self) -> Result<()> {
        if self.name.is_empty() || self.name.contains(['/', '\\']) || self.name.starts_with('.') {
            return Err(ExperimentError::config(format!(
                "name = {:?}: must be a non-empty file name (no '/', not starting with '.')",
                self.name
            )));
        }
        match (&self.data, &self.text, &self.dna) {
            (Some(data), None, None) => data.validate()?,
            (None, Some(text), None) => {
                text.validate()?;
                self.check_no_exact_chains("a text task")?;
                if self.experiment.target_fractions.is_empty() {
                    return Err(ExperimentError::config(
                        "experiment.target_fractions = []: name at least one fraction",
                    ));
                }
                for &f in &self.experiment.target_fractions {
                    check_fraction("experiment.target_fractions", f)?;
                }
            }
            (None, None, Some(dna)) => {
                dna.validate()?;
                self.check_no_exact_chains("a DNA task")?;
                if self.experiment.target_sizes.is_empty() {
                    return Err(ExperimentError::config(
                        "experiment.target_sizes = []: name at least one target size (0: all)",
                    ));
                }
                for &size in &self.experiment.target_sizes {
                    check_target_size("experiment.target_sizes", size)?;
                }
            }
            _ => {
                return Err(ExperimentError::config(
                    "name exactly one task: a [data] section (Markov chains), a [text] section \
                     or a [dna] section",
                ));
            }
        }
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
        self.guidance.validate(process.num_tokens, length)?;
        if let Some(data) = &self.data {
            if self.experiment.target_sizes.is_empty() {
                return Err(ExperimentError::config(
                    "experiment.target_sizes = []: name at least one target size",
                ));
            }
            for &size in &self.experiment.target_sizes {
                check_size("experiment.target_sizes", size, data.validation_fraction)?;
            }
            for &size in &self.sweep.target_sizes {
                check_size("sweep.target_sizes", size, data.validation_fraction)?;
            }
        }
        check_methods("experiment.methods", &self.experiment.methods)?;
        self.sweep.validate(process.num_tokens)?;
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

    /// Refuses the methods that use the exact chains of a Markov task.
    fn check_no_exact_chains(&self, task: &str) -> Result<()> {
        if let Some(m) = self
            .experiment
            .methods
            .iter()
            .find(|m| m.needs_exact_chains())
        {
            return Err(ExperimentError::config(format!(
                "experiment.methods = \"{m}\": uses the exact chains of a Markov task; \
                 {task} has none"
            )));
        }
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
        let exact: Vec<&str> = methods
            .iter()
            .filter(|m| m.ratio() == crate::method::RatioChoice::Exact)
            .map(|m| m.name())
            .collect();
        if let (false, Some(data)) = (exact.is_empty(), &self.data) {
            let (source, target) = data.chains()?;
            gtl_oracle::MarkovLogRatio::new(source, target, self.process()?)?
                .require_source_support()
                .map_err(|e| {
                    ExperimentError::config(format!(
                        "the methods {exact:?} guide with the exact ratio q/p: {e} \
                         (data.extra_target_states = {} adds states only the target has)",
                        data.extra_target_states
                    ))
                })?;
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

/// The task of an experiment.
#[derive(Clone, Copy, Debug)]
pub enum Task<'a> {
    /// Markov chains with exact oracles.
    Markov(&'a MarkovData),
    /// Text of a corpus.
    Text(&'a TextData),
    /// DNA sequences of a FASTA file.
    Dna(&'a DnaData),
}

/// One target setting of an experiment: the config with its target set.
#[derive(Clone, Debug)]
pub struct TargetSetting {
    /// Short name, e.g. "n=20" or "f=0.05".
    pub label: String,
    /// What is varied: "target_size" or "target_fraction".
    pub axis: &'static str,
    /// The value.
    pub value: f64,
    /// The config.
    pub config: ExperimentConfig,
}

/// The name serde gives a unit enum value (its spelling in configs and on the command line).
pub fn serde_name<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Sets `key=value` (see [`ExperimentConfig::parse_with`]) in `table`, creating the tables on
/// the path.
fn apply_override(table: &mut toml::Table, item: &str) -> Result<()> {
    let bad = |why: &str| ExperimentError::config(format!("override `{item}`: {why}"));
    let (key, raw) = item
        .split_once('=')
        .ok_or_else(|| bad("expected key=value, e.g. finetune.learning_rates=[1e-3]"))?;
    let (key, raw) = (key.trim(), raw.trim());
    let mut wrapper: toml::Table = format!("value = {raw}").parse().map_err(|_| {
        bad("the value is not a TOML value (quote strings: heads=[\"fresh\"], loss=\"cedd\")")
    })?;
    let value = wrapper.remove("value").ok_or_else(|| bad("no value"))?;
    let segments: Vec<&str> = key.split('.').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err(bad("the key must be a dotted path of names"));
    }
    let (last, path) = segments
        .split_last()
        .expect("split gives one segment at least");
    let mut current = table;
    for (i, segment) in path.iter().enumerate() {
        let entry = current
            .entry(segment.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = entry.as_table_mut().ok_or_else(|| {
            bad(&format!(
                "`{}` is a value, not a table",
                segments[..=i].join(".")
            ))
        })?;
    }
    current.insert(last.to_string(), value);
    Ok(())
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
