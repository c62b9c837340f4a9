//! `cargo xtask bench guidance`: gtl-experiment's guidance-cost benchmark against the
//! vocabulary size; writes CSV, JSON (with fitted log-log slopes) and a PNG under `--out`.
//! `cargo xtask bench train`: training throughput against PyTorch (see `train_bench`).

use std::path::PathBuf;

use anyhow::Result;
use burn::tensor::backend::AutodiffBackend;
use clap::{Args, Subcommand};
use gtl_experiment::bench::{CostRow, GuidanceBench, cost_table, write_results};
use gtl_experiment::config::{ModelSection, Preset};

use crate::BackendArgs;
use crate::backend::{BackendTask, dispatch};

/// Benchmarks.
#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Seconds per generated sample and ratio passes against N for unguided one-position
    /// sampling, exact guidance, scheduled GTL (top-n) and Taylor guidance.
    Guidance(GuidanceBenchArgs),
    /// Training throughput of gtl's loop against ../shared/bench/torch_denoiser.py on the
    /// same architecture, interleaved in one run, at each thread count: sequences per second,
    /// the ratio to PyTorch, CPU seconds and peak memory (writes CSV, JSON and a table).
    Train(crate::train_bench::TrainBenchArgs),
    /// One measurement of `bench train` in this process (prints one JSON line).
    #[command(hide = true)]
    TrainOne(crate::train_bench::TrainOneArgs),
}

/// Arguments of `bench guidance`.
#[derive(Args, Debug, Clone)]
pub struct GuidanceBenchArgs {
    /// Vocabulary sizes N.
    #[arg(long, value_delimiter = ',', default_value = "16,64,256,1024,4096")]
    sizes: Vec<usize>,
    /// Sequence lengths L (every N is measured at every L).
    #[arg(long, alias = "length", value_delimiter = ',', default_value = "16")]
    lengths: Vec<usize>,
    /// Samples per measurement (exact guidance: --exact-samples).
    #[arg(long, default_value_t = 32)]
    samples: usize,
    /// Samples per exact-guidance measurement (it costs L·N ratio passes per step).
    #[arg(long, default_value_t = 2)]
    exact_samples: usize,
    /// Steps of exact guidance before its final step (0: L, like the scheduled samplers).
    #[arg(long, default_value_t = 0)]
    exact_steps: usize,
    /// Candidate counts n of scheduled GTL.
    #[arg(long, value_delimiter = ',', default_value = "16,64")]
    top_n: Vec<usize>,
    /// Largest batch of candidate sequences per ratio call.
    #[arg(long, default_value_t = 4096)]
    chunk_rows: usize,
    /// Network preset of the denoiser (tiny, small, reference, reference-ratio).
    #[arg(long, default_value = "small", value_parser = parse_preset)]
    preset: Preset,
    /// Network preset of the ratio network (smaller than the denoiser, as in GTL).
    #[arg(long, default_value = "tiny", value_parser = parse_preset)]
    ratio_preset: Preset,
    /// Take the denoiser's and the ratio network's sizes from this experiment's
    /// [denoiser.model] and [classifier.model] (or [ratio.model] for the log-r and r
    /// estimators) instead of the presets.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Output folder.
    #[arg(long, default_value = "runs/bench-guidance")]
    out: PathBuf,
    #[command(flatten)]
    backend: BackendArgs,
}

fn parse_preset(name: &str) -> Result<Preset, String> {
    serde_json::from_value(serde_json::Value::String(name.into()))
        .map_err(|_| format!("{name:?}: must be tiny, small, reference or reference-ratio"))
}

/// `bench`.
pub fn run(command: BenchCommand) -> Result<()> {
    match command {
        BenchCommand::Guidance(args) => guidance(args),
        BenchCommand::Train(args) => crate::train_bench::run(args),
        BenchCommand::TrainOne(args) => crate::train_bench::one(args),
    }
}

struct Measure {
    bench: GuidanceBench,
    vocab: usize,
    length: usize,
}

impl BackendTask for Measure {
    type Output = Vec<CostRow>;

    fn run<B: AutodiffBackend>(self, devices: &[B::Device]) -> Result<Vec<CostRow>> {
        let device = devices[0].clone();
        Ok(self.bench.measure::<B>(self.vocab, self.length, &device)?)
    }
}

fn guidance(args: GuidanceBenchArgs) -> Result<()> {
    let bench = GuidanceBench {
        sizes: args.sizes.clone(),
        lengths: args.lengths.clone(),
        samples: args.samples,
        exact_samples: args.exact_samples,
        exact_steps: args.exact_steps,
        top_n: args.top_n.clone(),
        chunk_rows: args.chunk_rows,
        denoiser: ModelSection {
            preset: args.preset,
            ..ModelSection::default()
        },
        ratio: ModelSection {
            preset: args.ratio_preset,
            ..ModelSection::default()
        },
    };
    let bench = match &args.config {
        Some(path) => {
            let config = crate::load_config(Some(path), &[])?;
            let ratio = if config.ratio.needs_clean_classifier() {
                config.ratio.model.clone()
            } else {
                config.classifier.model.clone()
            };
            GuidanceBench {
                denoiser: config.denoiser.model.clone(),
                ratio,
                ..bench
            }
        }
        None => bench,
    };
    bench.validate()?;
    let mut rows = Vec::new();
    for &length in &args.lengths {
        for &vocab in &args.sizes {
            tracing::info!("N = {vocab}, L = {length}");
            let task = Measure {
                bench: bench.clone(),
                vocab,
                length,
            };
            rows.extend(dispatch(
                args.backend.backend,
                &[args.backend.device],
                task,
            )?);
        }
    }
    let backend = format!("{:?}", args.backend.backend).to_lowercase();
    let slopes = write_results(&bench, &rows, &backend, &args.out)?;
    println!("{}", cost_table(&rows, &slopes));
    println!("wrote {}", args.out.display());
    Ok(())
}
