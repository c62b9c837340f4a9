//! gtl's transfer experiments as a library: a typed configuration, the [`Method`]s compared,
//! typed [`stage`]s cached by one content-keyed rule, sampling of every method, metrics, tables,
//! plots and a report. [`run`] runs a whole experiment from Rust; the `cargo xtask` runner is
//! a thin command line over this crate.
//!
//! ```
//! use burn::backend::{Autodiff, NdArray};
//! use gtl_experiment::{ExperimentConfig, RunOptions};
//!
//! // The seconds-long CI experiment, with fewer samples.
//! let text = include_str!("../../../configs/markov-ci.toml").replace("samples = 200", "samples = 50");
//! let mut config = ExperimentConfig::parse(&text).unwrap();
//! config.experiment.target_sizes = vec![20];
//! let runs = std::env::temp_dir().join(format!("gtl-doc-{}", std::process::id()));
//! let report = gtl_experiment::run::<Autodiff<NdArray>>(&config, &RunOptions::new(&runs), &[Default::default()]).unwrap();
//! let gtl = report.metrics.settings[0].method("gtl").unwrap();
//! assert!(gtl.scores.as_ref().unwrap().mean_diagonal > 0.0 && gtl.ratio_rows_per_sample > 0.0);
//! assert!(report.run_dir.join("report.md").is_file());
//! # std::fs::remove_dir_all(&runs).unwrap();
//! ```

#![warn(missing_docs)]

pub mod bench;
pub mod cache;
pub mod config;
pub mod data;
pub mod dna;
pub mod dry_run;
mod error;
pub mod finished;
pub mod fuzz;
pub mod io;
pub mod keys;
pub mod loss_study;
mod memo;
pub mod method;
pub mod nets;
pub mod observer;
pub mod oracle;
pub mod report;
pub mod run;
pub mod sampling;
pub mod stage;
pub mod study;
pub mod sweep;
pub mod text;
pub mod throughput;

pub use config::ExperimentConfig;
pub use error::{ExperimentError, Result};
pub use method::Method;
pub use observer::{LogObserver, Observer};
pub use report::{Metrics, Report, run};
pub use run::{RunOptions, Setting, StageName};
