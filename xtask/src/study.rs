//! `cargo xtask ratio-study`: gtl-experiment's study of every ratio estimator against the
//! exact log h_t at several target sizes; `cargo xtask loss-study`: the source denoiser
//! trained with each loss under each process over seeds.

use std::path::PathBuf;

use anyhow::Result;
use burn::tensor::backend::AutodiffBackend;
use clap::Args;
use gtl_diffusion::Loss;
use gtl_experiment::config::ProcessName;
use gtl_experiment::loss_study::LossStudy;
use gtl_experiment::study::Study;
use gtl_experiment::{ExperimentConfig, RunOptions};

use crate::backend::{BackendTask, dispatch};
use crate::{RunArgs, load_config};

/// Arguments of `ratio-study`.
#[derive(Args, Debug)]
pub struct RatioStudyArgs {
    /// Experiment configuration (TOML); its [classifier] and [ratio] sections size the
    /// networks. Default: the embedded configs/markov-default.toml.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Target data set sizes (training + validation), comma separated.
    #[arg(long, value_delimiter = ',', default_value = "20,100,1000")]
    sizes: Vec<usize>,
    #[command(flatten)]
    pub(crate) run: RunArgs,
}

struct RatioStudy {
    config: ExperimentConfig,
    sizes: Vec<usize>,
    options: RunOptions,
}

impl BackendTask for RatioStudy {
    type Output = Study;

    fn run<B: AutodiffBackend>(self, devices: &[B::Device]) -> Result<Study> {
        Ok(gtl_experiment::study::run::<B>(
            &self.config,
            &self.sizes,
            &self.options,
            devices,
        )?)
    }
}

/// `ratio-study`.
pub fn run(args: RatioStudyArgs) -> Result<()> {
    let task = RatioStudy {
        config: load_config(args.config.as_deref(), &args.run.overrides)?,
        sizes: args.sizes,
        options: args.run.options(),
    };
    let study = dispatch(args.run.backend, &args.run.devices, task)?;
    println!("{}", study.table);
    println!("wrote {}", study.dir.display());
    Ok(())
}

/// Arguments of `loss-study`.
#[derive(Args, Debug)]
pub struct LossStudyArgs {
    /// Experiment configuration (TOML, a Markov task); its [denoiser] section sizes and
    /// trains the network. Default: the embedded configs/markov-default.toml.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Forward processes, comma separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "uniform,roulette"
    )]
    processes: Vec<ProcessName>,
    /// Training losses, comma separated (mdlm-nelbo, cedd, cedd-star, score-entropy); the
    /// first is the reference of the paired ratios.
    #[arg(long, value_delimiter = ',', default_value = "score-entropy,cedd", value_parser = parse_loss)]
    losses: Vec<Loss>,
    /// Seed offsets (each moves the data, initialisation and batch seeds by 10·k); at least 2.
    #[arg(long, value_delimiter = ',', default_value = "0,1,2")]
    seeds: Vec<u64>,
    #[command(flatten)]
    pub(crate) run: RunArgs,
}

fn parse_loss(name: &str) -> Result<Loss, String> {
    serde_json::from_value(serde_json::Value::String(name.into()))
        .map_err(|_| format!("{name:?}: must be mdlm-nelbo, cedd, cedd-star or score-entropy"))
}

struct LossStudyTask {
    config: ExperimentConfig,
    processes: Vec<ProcessName>,
    losses: Vec<Loss>,
    seeds: Vec<u64>,
    options: RunOptions,
}

impl BackendTask for LossStudyTask {
    type Output = LossStudy;

    fn run<B: AutodiffBackend>(self, devices: &[B::Device]) -> Result<LossStudy> {
        Ok(gtl_experiment::loss_study::run::<B>(
            &self.config,
            &self.processes,
            &self.losses,
            &self.seeds,
            &self.options,
            devices,
        )?)
    }
}

/// `loss-study`.
pub fn run_losses(args: LossStudyArgs) -> Result<()> {
    let task = LossStudyTask {
        config: load_config(args.config.as_deref(), &args.run.overrides)?,
        processes: args.processes,
        losses: args.losses,
        seeds: args.seeds,
        options: args.run.options(),
    };
    let study = dispatch(args.run.backend, &args.run.devices, task)?;
    println!("{}", study.table);
    println!("wrote {}", study.dir.display());
    Ok(())
}
