//! `cargo xtask train <stage> --config FILE`: one stage of an experiment with the stages it
//! needs, cached in `runs/<name>/stages/` like every experiment stage; prints its summary.

use std::path::PathBuf;

use anyhow::Result;
use burn::tensor::backend::AutodiffBackend;
use clap::Args;
use gtl_experiment::run::StageRecord;
use gtl_experiment::{ExperimentConfig, RunOptions, StageName};

use crate::backend::{BackendTask, dispatch};
use crate::{RunArgs, load_config};

/// Arguments of `train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Which network to train (at the config's data.target_size).
    #[arg(value_enum)]
    stage: StageName,
    /// Experiment configuration (TOML); default: the embedded configs/markov-default.toml.
    #[arg(long)]
    config: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) run: RunArgs,
}

struct Train {
    config: ExperimentConfig,
    stage: StageName,
    options: RunOptions,
}

impl BackendTask for Train {
    type Output = Vec<StageRecord>;

    fn run<B: AutodiffBackend>(self, devices: &[B::Device]) -> Result<Vec<StageRecord>> {
        Ok(gtl_experiment::run::train::<B>(
            &self.config,
            self.stage,
            &self.options,
            devices,
        )?)
    }
}

/// `train`.
pub fn run(args: TrainArgs) -> Result<()> {
    let task = Train {
        config: load_config(args.config.as_deref(), &args.run.overrides)?,
        stage: args.stage,
        options: args.run.options(),
    };
    for record in dispatch(args.run.backend, &args.run.devices, task)? {
        println!("{} ({})", record.label, record.dir.display());
        if let Some(outcome) = record.outcome {
            println!("{}", serde_json::to_string_pretty(&outcome.done.summary)?);
        }
    }
    Ok(())
}
