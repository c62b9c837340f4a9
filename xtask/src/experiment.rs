//! `cargo xtask experiment [CONFIG]` and `cargo xtask sweep [CONFIG]`: gtl-experiment's
//! `run` and `sweep::run` on the chosen backend.

use std::path::PathBuf;

use anyhow::Result;
use burn::tensor::backend::AutodiffBackend;
use clap::Args;
use gtl_experiment::{ExperimentConfig, Report, RunOptions};

use crate::backend::{BackendTask, dispatch};
use crate::{RunArgs, load_config};

/// Arguments of `experiment` and `sweep`.
#[derive(Args, Debug)]
pub struct ExperimentArgs {
    /// Experiment configuration (TOML; `sweep` reads its [sweep] section); default: the
    /// embedded configs/markov-default.toml.
    pub config: Option<PathBuf>,
    /// Print every network's parameters, the ratio network's share of the denoiser, tokens
    /// per step and a training-memory estimate, and stop (nothing is trained).
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub run: RunArgs,
}

/// Arguments of `sweep`.
#[derive(Args, Debug)]
pub struct SweepArgs {
    #[command(flatten)]
    pub experiment: ExperimentArgs,
    /// Run only these axes of the [sweep] section, comma-separated (target_sizes,
    /// target_diag, mixture, extra_states, overlap, gamma, top_n, seeds); e.g. `--axes seeds`
    /// for the experiment over seeds alone. Default: every axis.
    #[arg(long, value_delimiter = ',')]
    pub axes: Vec<String>,
}

/// A dry run of a configuration.
struct DryRun(ExperimentConfig);

impl BackendTask for DryRun {
    type Output = gtl_experiment::dry_run::DryRun;

    fn run<B: AutodiffBackend>(self, devices: &[B::Device]) -> Result<Self::Output> {
        let device = devices[0].clone();
        Ok(gtl_experiment::dry_run::dry_run::<B>(&self.0, &device)?)
    }
}

/// An experiment or its sweep, on one backend.
struct Experiment {
    config: ExperimentConfig,
    options: RunOptions,
    sweep: bool,
}

impl BackendTask for Experiment {
    type Output = Report;

    fn run<B: AutodiffBackend>(self, devices: &[B::Device]) -> Result<Report> {
        Ok(if self.sweep {
            gtl_experiment::sweep::run::<B>(&self.config, &self.options, devices)?
        } else {
            gtl_experiment::run::<B>(&self.config, &self.options, devices)?
        })
    }
}

fn execute(args: ExperimentArgs, sweep: bool, axes: &[String]) -> Result<()> {
    let mut config = load_config(args.config.as_deref(), &args.run.overrides)?;
    if !axes.is_empty() {
        config.sweep = config.sweep.only(axes)?;
    }
    if args.dry_run {
        println!(
            "{}",
            dispatch(args.run.backend, &args.run.devices, DryRun(config))?
        );
        return Ok(());
    }
    let task = Experiment {
        config,
        options: args.run.options(),
        sweep,
    };
    let report = dispatch(args.run.backend, &args.run.devices, task)?;
    println!("{}", report.summary);
    Ok(())
}

/// `experiment`.
pub fn run(args: ExperimentArgs) -> Result<()> {
    execute(args, false, &[])
}

/// `sweep`.
pub fn sweep(args: SweepArgs) -> Result<()> {
    execute(args.experiment, true, &args.axes)
}
