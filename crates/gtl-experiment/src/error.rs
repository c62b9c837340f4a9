//! The experiment library's error type: what went wrong, where (a key, a file, a stage).

use std::path::PathBuf;

/// Errors of configuring, running and reporting an experiment.
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    /// A configuration value is out of range or inconsistent; the message names the key.
    #[error("{0}")]
    Config(String),
    /// A TOML configuration could not be parsed.
    #[error("invalid configuration at line {line}: {key}{message}")]
    Toml {
        /// 1-based line of the error (0 when unknown).
        line: usize,
        /// The key path that failed, with a trailing ": " (empty when unknown).
        key: String,
        /// What the parser said.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// A file's contents are not what was expected (line numbers in the message).
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A stage failed; `reason` says why (in the message already, so it is not also a
    /// `source()`: an error chain printed in full would repeat it).
    #[error("stage {label}: {reason}")]
    Stage {
        /// The stage's label.
        label: String,
        /// Why it failed.
        reason: Box<ExperimentError>,
    },
    /// A stage that the work needs has not finished.
    #[error("{0}")]
    Missing(String),
    /// An error of the Markov chains.
    #[error(transparent)]
    Markov(#[from] gtl_markov::MarkovError),
    /// An error of a diffusion process or an unguided sampler.
    #[error(transparent)]
    Diffusion(#[from] gtl_diffusion::DiffusionError),
    /// An error of a network configuration.
    #[error(transparent)]
    Model(#[from] gtl_models::ModelError),
    /// An error of a training run (checkpoints, non-finite losses).
    #[error(transparent)]
    Train(#[from] gtl_models::training::TrainError),
    /// An error of a checkpoint file.
    #[error(transparent)]
    Checkpoint(#[from] gtl_models::training::CheckpointError),
    /// An error of the classifiers or the ratio network.
    #[error(transparent)]
    Classifier(#[from] gtl_classifier::ClassifierError),
    /// An error of a guided sampler.
    #[error(transparent)]
    Guidance(#[from] gtl_guidance::GuidanceError),
    /// An error of a fine-tuning baseline.
    #[error(transparent)]
    Finetune(#[from] gtl_finetune::FinetuneError),
    /// An error of the oracle adapters.
    #[error(transparent)]
    Oracle(#[from] gtl_oracle::OracleError),
    /// An error of the evaluation metrics or tables.
    #[error(transparent)]
    Eval(#[from] gtl_eval::EvalError),
    /// A plot could not be drawn.
    #[error(transparent)]
    Plot(#[from] gtl_eval::plot::PlotError),
    /// A value could not be serialised.
    #[error("serialising {what}: {message}")]
    Serialise {
        /// What was being written.
        what: String,
        /// The serialiser's message.
        message: String,
    },
}

/// The library's result type.
pub type Result<T, E = ExperimentError> = std::result::Result<T, E>;

impl ExperimentError {
    /// A configuration error with `message`.
    pub fn config(message: impl Into<String>) -> Self {
        ExperimentError::Config(message.into())
    }

    /// This error with the configuration key `key` in front, for errors of library crates
    /// that do not know the runner's key names.
    pub fn under(self, key: &str) -> Self {
        ExperimentError::Config(format!("{key}: {self}"))
    }

    /// An I/O error of `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ExperimentError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Serialises `value` as pretty JSON; `what` names it in the error.
pub fn to_json<T: serde::Serialize>(value: &T, what: &str) -> Result<String> {
    serde_json::to_string_pretty(value).map_err(|e| ExperimentError::Serialise {
        what: what.into(),
        message: e.to_string(),
    })
}

/// Serialises `value` as TOML; `what` names it in the error.
pub fn to_toml<T: serde::Serialize>(value: &T, what: &str) -> Result<String> {
    toml::to_string(value).map_err(|e| ExperimentError::Serialise {
        what: what.into(),
        message: e.to_string(),
    })
}
