//! `cargo xtask sample` and `cargo xtask evaluate`: more samples of one method of a finished
//! run with other sampler settings, and the run's metrics for samples files
//! (gtl-experiment's `finished` module).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use burn::tensor::backend::AutodiffBackend;
use clap::Args;
use gtl_experiment::Method;
use gtl_experiment::config::{PositionOrder, TailChoice};
use gtl_experiment::finished::{
    Drawn, Evaluation, FinishedRun, SamplerOverrides, evaluation_table,
};
use gtl_experiment::io::{write_decoded_jsonl, write_jsonl};

use crate::BackendArgs;
use crate::backend::{BackendTask, dispatch};

/// Arguments of `sample`.
#[derive(Args, Debug)]
pub struct SampleArgs {
    /// The run's folder (runs/<name>, written by `experiment`).
    #[arg(long)]
    run: PathBuf,
    /// The method to sample.
    #[arg(long, value_enum)]
    method: Method,
    /// The setting, as the report labels it (n=100, f=0.05); default: the run's first.
    #[arg(long)]
    setting: Option<String>,
    /// Guidance strength γ of a guided method (default: the run's, fitted or configured).
    #[arg(long)]
    gamma: Option<f64>,
    /// Candidates per step of scheduled GTL (0: every token).
    #[arg(long)]
    top_n: Option<usize>,
    /// What scheduled GTL's tokens outside the top n get: drop them, or keep them at their
    /// unguided probabilities.
    #[arg(long, value_enum)]
    candidate_tail: Option<TailChoice>,
    /// Position order of the one-position samplers.
    #[arg(long, value_enum)]
    order: Option<PositionOrder>,
    /// Number of samples.
    #[arg(long)]
    samples: Option<usize>,
    /// Seed of the sampler (default: the run's, so the same settings give the report's
    /// samples).
    #[arg(long)]
    seed: Option<u64>,
    /// Output JSONL: token ids per line (with the decoded text for text tasks).
    #[arg(long)]
    out: PathBuf,
    /// Print the first N samples (decoded for text tasks).
    #[arg(long, default_value_t = 0)]
    show: usize,
    #[command(flatten)]
    backend: BackendArgs,
}

struct Sample {
    run: FinishedRun,
    args: SampleArgs,
}

impl BackendTask for Sample {
    type Output = Drawn;

    fn run<B: AutodiffBackend>(self, devices: &[B::Device]) -> Result<Drawn> {
        let device = devices[0].clone();
        let a = &self.args;
        let setting = self.run.setting(a.setting.as_deref())?;
        let overrides = SamplerOverrides {
            gamma: a.gamma,
            top_n: a.top_n,
            candidate_tail: a.candidate_tail,
            order: a.order,
            samples: a.samples,
            seed: a.seed,
        };
        Ok(self.run.sample::<B>(
            &setting,
            a.method,
            &overrides,
            &crate::progress::observer(),
            &device,
        )?)
    }
}

/// `sample`.
pub fn sample(args: SampleArgs) -> Result<()> {
    let run = FinishedRun::open(&args.run)?;
    crate::oracle::check_writable(&args.out)?;
    let (backend, out, show) = (args.backend, args.out.clone(), args.show);
    let start = Instant::now();
    let drawn = dispatch(backend.backend, &[backend.device], Sample { run, args })?;
    let seconds = start.elapsed().as_secs_f64();
    match &drawn.texts {
        Some(texts) => write_decoded_jsonl(&out, &drawn.tokens, texts)?,
        None => write_jsonl(&out, &drawn.tokens)?,
    }
    let stats = &drawn.summary.stats;
    let count = drawn.tokens.len().max(1) as f64;
    println!(
        "{} samples, γ = {}, in {seconds:.1} s ({:.3} s per sample when drawn; {:.1} \
         denoiser and {:.1} ratio passes per sample); wrote {}",
        drawn.tokens.len(),
        drawn.summary.gamma,
        stats.seconds / count,
        stats.denoised_rows as f64 / count,
        stats.ratio_rows as f64 / count,
        out.display()
    );
    for (i, tokens) in drawn.tokens.iter().take(show).enumerate() {
        match &drawn.texts {
            Some(texts) => println!("[{i}] {}", texts[i]),
            None => println!("[{i}] {tokens:?}"),
        }
    }
    Ok(())
}

/// Arguments of `evaluate`.
#[derive(Args, Debug)]
pub struct EvaluateArgs {
    /// The run's folder (runs/<name>).
    #[arg(long)]
    run: PathBuf,
    /// The setting whose references score the files (n=100, f=0.05); default: the run's
    /// first.
    #[arg(long)]
    setting: Option<String>,
    /// Samples files: JSONL of token-id arrays, or objects with a "tokens" array.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[command(flatten)]
    backend: BackendArgs,
}

struct Evaluate {
    run: FinishedRun,
    setting: Option<String>,
    files: Vec<PathBuf>,
}

impl BackendTask for Evaluate {
    type Output = (String, Vec<Evaluation>);

    fn run<B: AutodiffBackend>(self, _devices: &[B::Device]) -> Result<Self::Output> {
        let setting = self.run.setting(self.setting.as_deref())?;
        let evaluations = self
            .files
            .iter()
            .map(|file| {
                self.run
                    .evaluate::<B>(&setting, file)
                    .with_context(|| format!("evaluating {}", file.display()))
            })
            .collect::<Result<_>>()?;
        Ok((setting.label, evaluations))
    }
}

/// `evaluate`.
pub fn evaluate(args: EvaluateArgs) -> Result<()> {
    let task = Evaluate {
        run: FinishedRun::open(&args.run)?,
        setting: args.setting,
        files: args.files,
    };
    let (label, evaluations) = dispatch(args.backend.backend, &[args.backend.device], task)?;
    println!("{}", evaluation_table(&label, &evaluations).to_markdown(4));
    Ok(())
}
