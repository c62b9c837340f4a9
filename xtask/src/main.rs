//! `cargo xtask`: gtl's runner, a thin command line over the library crates (the work is in
//! gtl-experiment). Every subcommand is one module with one entry point.

mod backend;
mod bench;
mod experiment;
mod fuzz;
mod markov_chain;
mod oracle;
mod progress;
mod sample;
mod study;
mod train;
mod train_bench;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use gtl_experiment::ExperimentConfig;

use backend::BackendChoice;

/// gtl: guided transfer learning for discrete diffusion models.
///
/// Markov-chain benchmarks with exact oracles, diffusion samplers, training of every network
/// (denoiser, classifiers, ratio network, planner, fine-tuning baselines), guided samplers,
/// whole experiments with reports, and benchmarks. Logs go to stderr (set RUST_LOG=debug for
/// more; plain text when stderr is not a terminal); results go to the files named by --out
/// or under runs/. Reference: docs/cli.md and docs/configuration.md.
#[derive(Parser, Debug)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    version,
    about,
    long_about
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Write a Markov chain as JSON ({"initial": [..], "transition": [[..], ..]}).
    MarkovChain(markov_chain::MarkovChainArgs),
    /// Sample with the exact Markov denoiser, unguided or guided towards --target-chain with
    /// the exact log h_t (exact, gtl or taylor guidance); write JSONL token ids and check the
    /// samples against the chain by enumeration (exit status 1 when the check rejects them).
    OracleSample(oracle::OracleSampleArgs),
    /// Measure the TV distance of τ-leaping samplers to the chain against the number of steps.
    OracleConvergence(oracle::ConvergenceArgs),
    /// Run a whole transfer experiment: source denoiser, planner, classifiers and ratio,
    /// fine-tuning baselines, every method's samples at each target size, then metrics,
    /// plots and report.md (writes runs/<name>/; finished stages are cached and reused).
    Experiment(experiment::ExperimentArgs),
    /// Run the experiment over the grid of its [sweep] section (target sizes, overlap, γ,
    /// top-n, seeds), sharing the experiment's stage cache; writes runs/<name>-sweep/.
    Sweep(experiment::SweepArgs),
    /// Train one stage of an experiment, with the stages it needs (cached in
    /// runs/<name>/stages/), and print its summary.
    Train(train::TrainArgs),
    /// Draw samples of one method of a finished run with other sampler settings (γ, top-n,
    /// order, count, seed); checks that the stages the method needs have finished.
    Sample(sample::SampleArgs),
    /// Score samples files with a finished run's task metrics (the report's columns).
    Evaluate(sample::EvaluateArgs),
    /// Compare the ratio estimators (log-r, r, each ± cycle term, noisy classifier) against
    /// the exact log h_t at several target data set sizes (writes runs/<name>/ratio-study/).
    RatioStudy(study::RatioStudyArgs),
    /// Train the source denoiser with each loss (e.g. CEDD against score entropy) under each
    /// process over several seeds, on the same network and budget: NELBO against the exact
    /// NLL and seconds per step, with intervals (writes runs/<name>/loss-study/).
    LossStudy(study::LossStudyArgs),
    /// Benchmarks (writes CSV, JSON and a PNG under --out).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Fuzz the file parsers (config, chain, samples, FASTA, checkpoint, weights) with
    /// mutated inputs; exit status 1 when one panics or refuses an input without a message.
    Fuzz(fuzz::FuzzArgs),
    /// The richest demo available: every process and sampler on exact oracles, checked by
    /// enumeration (writes runs/demo/).
    Demo(oracle::DemoArgs),
}

/// Backend options shared by every command that runs tensors.
#[derive(Args, Debug, Clone, Copy)]
pub struct BackendArgs {
    /// Tensor backend (GPU backends need the matching cargo feature of xtask).
    #[arg(long, value_enum, default_value_t = BackendChoice::Ndarray)]
    pub backend: BackendChoice,
    /// Device index for GPU backends.
    #[arg(long, default_value_t = 0)]
    pub device: usize,
}

/// Options of every command that runs an experiment's stages.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Directory that holds runs/<name>/.
    #[arg(long, default_value = "runs")]
    pub runs_dir: PathBuf,
    /// Stages run at once (default: the machine's cores; 1 when a network uses dropout,
    /// whose draws would otherwise depend on thread timing, or with several --devices).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Tensor backend (GPU backends need the matching cargo feature of xtask).
    #[arg(long, value_enum, default_value_t = BackendChoice::Ndarray)]
    pub backend: BackendChoice,
    /// Device indices, comma-separated. Several devices train the denoiser, the fine-tuning
    /// baselines and the ratio network data-parallel (gradients averaged by burn's
    /// collective all-reduce; build with `--features data-parallel`); every other stage
    /// runs on the first. On the CPU backends each index is the CPU: `0,1` is two workers.
    #[arg(long, alias = "device", value_delimiter = ',', default_value = "0")]
    pub devices: Vec<usize>,
    /// Override a config key, `--set key=value` (repeatable): a dotted key and a TOML value,
    /// e.g. `--set finetune.learning_rates='[1e-3]' --set experiment.target_sizes='[10, 50]'`;
    /// checked like the file.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
}

impl RunArgs {
    /// The library's run options, with a terminal progress display when stderr is one.
    pub fn options(&self) -> gtl_experiment::RunOptions {
        gtl_experiment::RunOptions {
            runs_dir: self.runs_dir.clone(),
            workers: self.workers,
            observer: progress::observer(),
        }
    }
}

/// Loads `path`, or the embedded configs/markov-default.toml, with `overrides` (`key=value`)
/// applied.
pub fn load_config(path: Option<&Path>, overrides: &[String]) -> Result<ExperimentConfig> {
    Ok(match path {
        Some(path) => ExperimentConfig::load_with(path, overrides)?,
        None => ExperimentConfig::parse_with(gtl_experiment::config::DEFAULT_CONFIG, overrides)
            .context("the embedded configs/markov-default.toml")?,
    })
}

/// matrixmultiply, behind burn-ndarray's matrix products, keeps one process-wide pool of
/// `MATMUL_NUM_THREADS` threads (default: the cores), read at the first product. Stages on
/// parallel workers each asking for every core oversubscribed the CPU: a DNA run on 2 cores
/// spent 518 of its 4,856 CPU seconds in the kernel, mostly in `sched_yield` (docs/dna.md).
/// When a command runs stages on several workers (`--workers`; by default the cores, one
/// with several `--devices`, as `gtl_experiment::run::worker_count` decides), each product
/// gets one worker's share of the cores (`gtl_experiment::stage::threads_per_worker`, which
/// also sizes the library's per-worker rayon pools); the environment's value, when set, is
/// left alone. A config whose networks use dropout also runs one worker, which this cannot
/// see before the config is read: its products then get that share too.
fn share_matmul_threads(command: &Command) {
    let run = match command {
        Command::Experiment(args) => &args.run,
        Command::Sweep(args) => &args.experiment.run,
        Command::Train(args) => &args.run,
        Command::RatioStudy(args) => &args.run,
        Command::LossStudy(args) => &args.run,
        _ => return,
    };
    // The library's rule, before the config (and so dropout) is known.
    let workers = gtl_experiment::run::worker_count(run.workers, &[], run.devices.len());
    if workers > 1 && std::env::var_os("MATMUL_NUM_THREADS").is_none() {
        let threads = gtl_experiment::stage::threads_per_worker(workers);
        // SAFETY: called from main before any thread starts.
        unsafe { std::env::set_var("MATMUL_NUM_THREADS", threads.to_string()) };
    }
}

fn main() {
    keep_freed_memory();
    let cli = Cli::parse();
    share_matmul_threads(&cli.command);
    let terminal = std::io::stderr().is_terminal();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(terminal)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    if let Err(error) = run(cli) {
        eprintln!("error: {}", error_message(&error));
        std::process::exit(1);
    }
}

/// The error and its causes joined by ": ", leaving out a cause the text before it already
/// ends with: the library's errors name their cause in their own message (`path: os error`)
/// and also expose it as their source, which `{:#}` would print twice.
fn error_message(error: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if message.is_empty() {
            message = text;
        } else if !message.ends_with(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
    }
    message
}

/// glibc hands large freed buffers back to the OS (mmap'd blocks, heap trimming), so every
/// training step faults its tensors' pages in again: 25–45 % of burn's CPU time on the
/// reference denoiser went to the kernel. Keeping freed memory in the heap made training
/// 1.4–1.6× faster (docs/training.md). Stages run on worker threads, whose allocations go
/// to per-thread arenas that these settings do not keep: one arena for every thread (the
/// main one, never trimmed) cut a 4,096-token text denoiser's system time from 61 s to 12 s
/// and its wall time 1.8× (docs/language.md). Only on glibc; the environment's
/// GLIBC_TUNABLES, when set, is applied by glibc itself and then left alone here.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("GLIBC_TUNABLES").is_none() {
        // SAFETY: mallopt only changes allocator parameters; it is called before any thread
        // starts. M_MMAP_THRESHOLD accepts at most 32 MiB on 64-bit glibc, below some of
        // burn's buffers, so mmap is switched off instead (M_MMAP_MAX = 0): every block comes
        // from the heap, which is never trimmed (-1 disables trimming, as mallopt(3) says).
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
            libc::mallopt(libc::M_MMAP_MAX, 0);
            libc::mallopt(libc::M_TRIM_THRESHOLD, -1);
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::MarkovChain(args) => markov_chain::run(args),
        Command::OracleSample(args) => oracle::sample(args),
        Command::OracleConvergence(args) => oracle::convergence(args),
        Command::Demo(args) => oracle::demo(args),
        Command::Experiment(args) => experiment::run(args),
        Command::Sweep(args) => experiment::sweep(args),
        Command::Train(args) => train::run(args),
        Command::Sample(args) => sample::sample(args),
        Command::Evaluate(args) => sample::evaluate(args),
        Command::RatioStudy(args) => study::run(args),
        Command::LossStudy(args) => study::run_losses(args),
        Command::Bench(command) => bench::run(command),
        Command::Fuzz(args) => fuzz::run(args),
    }
}
