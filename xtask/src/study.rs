//! `cargo xtask ratio-study`: gtl-experiment's study of every ratio estimator against the
//! exact log h_t at several target sizes.

use std::path::PathBuf;

use anyhow::Result;
use burn::tensor::backend::AutodiffBackend;
use clap::Args;
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
    run: RunArgs,
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
        config: load_config(args.config.as_deref())?,
        sizes: args.sizes,
        options: args.run.options(),
    };
    let study = dispatch(args.run.backend, &args.run.devices, task)?;
    println!("{}", study.table);
    println!("wrote {}", study.dir.display());
    Ok(())
}
