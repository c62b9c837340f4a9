//! `oracle-sample`, `oracle-convergence` and `demo`: sampling with the exact Markov
//! denoiser (gtl-experiment's `oracle` module), checked against the chain by enumeration.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::tensor::backend::AutodiffBackend;
use clap::Args;
use gtl_diffusion::sampler::{SamplerConfig, SamplerKind, Samples};
use gtl_diffusion::{Process, Schedule};
use gtl_experiment::config::{ProcessName, UnguidedOrder};
use gtl_experiment::io::write_jsonl;
use gtl_experiment::oracle::{
    OracleGuidance, OracleSampling, SamplerCheck, SamplerSetting, check, check_samplers,
    check_table,
};
use gtl_markov::MarkovChain;
use indicatif::{ProgressBar, ProgressStyle};

use crate::BackendArgs;
use crate::backend::{BackendTask, dispatch};

/// Arguments of `oracle-sample`.
#[derive(Args, Debug)]
pub struct OracleSampleArgs {
    /// Chain JSON (see `markov-chain`).
    #[arg(long)]
    chain: PathBuf,
    /// Sequence length L.
    #[arg(long)]
    length: usize,
    /// Forward process.
    #[arg(long, value_enum, default_value_t = ProcessName::Absorbing)]
    process: ProcessName,
    /// Roulette share p_m of the rate that goes to the mask, in (0, 1].
    #[arg(long, default_value_t = 0.95)]
    mask_rate: f64,
    /// Sampler (unguided sampling; guided samplers fix their own rule).
    #[arg(long, value_enum, default_value_t = SamplerKind::Ancestral)]
    sampler: SamplerKind,
    /// Time steps (one-position sampling always takes L steps).
    #[arg(long, default_value_t = 128)]
    steps: usize,
    /// Position order of the one-position samplers.
    #[arg(long, value_enum, default_value_t = UnguidedOrder::Random)]
    order: UnguidedOrder,
    /// Number of samples.
    #[arg(long, default_value_t = 1000)]
    samples: usize,
    /// Sequences generated together.
    #[arg(long, default_value_t = 512)]
    batch_size: usize,
    /// Seed of every random draw.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output JSONL: one JSON array of token ids per line.
    #[arg(long)]
    out: PathBuf,
    /// Target chain JSON: guided samplers target it with the exact log h_t of
    /// (--target-chain vs --chain); the check then compares samples with the target.
    #[arg(long)]
    target_chain: Option<PathBuf>,
    /// Guidance (needs --target-chain; none refuses one).
    #[arg(long, value_enum, default_value_t = OracleGuidance::None)]
    guidance: OracleGuidance,
    /// Guidance strength γ (≥ 0; 1 is exact for gtl with all candidates).
    #[arg(long, default_value_t = 1.0)]
    gamma: f64,
    /// Candidates per step for gtl and taylor (default: all N tokens).
    #[arg(long)]
    top_n: Option<usize>,
    /// Largest batch of candidate sequences per ratio call.
    #[arg(long, default_value_t = 4096)]
    chunk_rows: usize,
    /// Write the samples and exit 0 even when the enumeration check rejects them.
    #[arg(long)]
    no_check: bool,
    #[command(flatten)]
    backend: BackendArgs,
}

struct Draw(OracleSampling);

impl BackendTask for Draw {
    type Output = Samples;

    fn run<B: AutodiffBackend>(self, devices: &[B::Device]) -> Result<Samples> {
        let device = devices[0].clone();
        Ok(self.0.sample::<B::InnerBackend>(&device)?)
    }
}

/// Fails early when `path` cannot be written (its folder is created when missing).
pub fn check_writable(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("--out {}: cannot create its folder", path.display()))?;
    }
    let probe = path.with_extension("jsonl.probe");
    std::fs::write(&probe, b"")
        .with_context(|| format!("--out {}: cannot write there", path.display()))?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// `oracle-sample`.
pub fn sample(args: OracleSampleArgs) -> Result<()> {
    let chain = MarkovChain::load_json(&args.chain)
        .with_context(|| format!("--chain {}", args.chain.display()))?;
    let target = match &args.target_chain {
        Some(path) => Some(
            MarkovChain::load_json(path)
                .with_context(|| format!("--target-chain {}", path.display()))?,
        ),
        None => None,
    };
    let process = Process::new(
        args.process.kind(args.mask_rate),
        chain.num_states(),
        Schedule::default(),
    )?;
    let job = OracleSampling {
        chain,
        target,
        process,
        sampler: SamplerConfig {
            kind: args.sampler,
            steps: args.steps,
            order: args.order.order(),
            batch_size: args.batch_size,
            ..SamplerConfig::default()
        },
        guidance: args.guidance,
        gamma: args.gamma,
        top_n: args.top_n,
        chunk_rows: args.chunk_rows,
        samples: args.samples,
        length: args.length,
        seed: args.seed,
    };
    job.validate()?;
    check_writable(&args.out)?;
    if job.ignores_sampler_kind() {
        tracing::warn!(
            "--sampler is ignored with --guidance: exact guidance is ancestral, gtl and taylor \
             reveal one position per step"
        );
    }
    let expected = job.expected_chain().clone();
    let samples = dispatch(args.backend.backend, &[args.backend.device], Draw(job))?;
    write_jsonl(&args.out, &samples.tokens)?;
    tracing::info!(
        samples = samples.tokens.len(),
        seconds = samples.stats.seconds,
        denoiser_calls = samples.stats.denoiser_calls,
        ratio_rows = samples.stats.ratio_rows,
        out = %args.out.display(),
        "samples written"
    );
    match check(&expected, &samples.tokens, args.length, args.seed) {
        Ok(report) => {
            println!("{report}");
            if !report.consistent() && !args.no_check {
                bail!("the samples do not match the chain (pass --no-check to accept them)");
            }
        }
        Err(reason) => println!("not checked by enumeration: {reason}"),
    }
    Ok(())
}

/// Arguments of `oracle-convergence`.
#[derive(Args, Debug)]
pub struct ConvergenceArgs {
    /// Number of states of the random (Dirichlet) chains (≥ 2).
    #[arg(long, default_value_t = 3)]
    states: usize,
    /// Sequence length (≥ 1; N^L ≤ 10^6 for enumeration).
    #[arg(long, default_value_t = 5)]
    length: usize,
    /// Samples per setting.
    #[arg(long, default_value_t = 4000)]
    samples: usize,
    /// Step counts to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8,16,32,64,128")]
    steps: Vec<usize>,
    /// Dirichlet seeds of the chains.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    chains: Vec<u64>,
    /// Output directory (CSV and a markdown table).
    #[arg(long, default_value = "runs/oracle-convergence")]
    out: PathBuf,
    #[command(flatten)]
    backend: BackendArgs,
}

/// `oracle-convergence`: TV against steps for Euler and Tweedie on uniform and roulette.
pub fn convergence(args: ConvergenceArgs) -> Result<()> {
    if args.states < 2 || args.length == 0 || args.samples == 0 {
        bail!("--states must be at least 2, --length and --samples at least 1");
    }
    let mut settings = Vec::new();
    for &chain in &args.chains {
        for process in [ProcessName::Uniform, ProcessName::Roulette] {
            for sampler in [SamplerKind::Euler, SamplerKind::Tweedie] {
                for &steps in &args.steps {
                    settings.push((chain, process, sampler, steps));
                }
            }
        }
    }
    let rows = run_checks(
        settings,
        args.states,
        args.length,
        args.samples,
        args.backend,
    )?;
    write_tables(&args.out, &rows)
}

/// Arguments of `demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Samples per setting.
    #[arg(long, default_value_t = 4000)]
    samples: usize,
    /// Output directory.
    #[arg(long, default_value = "runs/demo")]
    out: PathBuf,
    #[command(flatten)]
    backend: BackendArgs,
}

/// `demo`: every process and sampler with the exact denoiser of a random chain (N = 3, L = 6).
pub fn demo(args: DemoArgs) -> Result<()> {
    let mut settings = vec![
        (7, ProcessName::Absorbing, SamplerKind::OnePosition, 0),
        (7, ProcessName::Absorbing, SamplerKind::Ancestral, 64),
    ];
    for process in [ProcessName::Uniform, ProcessName::Roulette] {
        for sampler in [
            SamplerKind::Ancestral,
            SamplerKind::Euler,
            SamplerKind::Tweedie,
        ] {
            settings.push((7, process, sampler, 64));
        }
    }
    let rows = run_checks(settings, 3, 6, args.samples, args.backend)?;
    write_tables(&args.out, &rows)?;
    println!("{}", check_table(&rows).to_markdown(4));
    Ok(())
}

struct Checks {
    settings: Vec<SamplerSetting>,
    states: usize,
    length: usize,
    samples: usize,
}

impl BackendTask for Checks {
    type Output = Vec<SamplerCheck>;

    fn run<B: AutodiffBackend>(self, devices: &[B::Device]) -> Result<Vec<SamplerCheck>> {
        let device = devices[0].clone();
        let bar = ProgressBar::new(self.settings.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} {msg} [{elapsed_precise}]")
                .expect("a valid template"),
        );
        let rows = check_samplers::<B::InnerBackend>(
            &self.settings,
            self.states,
            self.length,
            self.samples,
            &device,
            |message| {
                bar.inc(1);
                bar.set_message(message.to_string());
            },
        )?;
        bar.finish_and_clear();
        Ok(rows)
    }
}

fn run_checks(
    settings: Vec<SamplerSetting>,
    states: usize,
    length: usize,
    samples: usize,
    backend: BackendArgs,
) -> Result<Vec<SamplerCheck>> {
    let task = Checks {
        settings,
        states,
        length,
        samples,
    };
    dispatch(backend.backend, &[backend.device], task)
}

fn write_tables(dir: &Path, rows: &[SamplerCheck]) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let table = check_table(rows);
    table.write_csv(&dir.join("results.csv"))?;
    std::fs::write(dir.join("results.md"), table.to_markdown(4))?;
    tracing::info!(dir = %dir.display(), "results.csv and results.md written");
    Ok(())
}
