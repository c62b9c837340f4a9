//! Commands that run the unguided samplers with the exact Markov denoiser: `oracle-sample`,
//! `oracle-convergence` and `demo`. Samples are checked against the chain by enumeration.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::tensor::backend::AutodiffBackend;
use clap::{Args, ValueEnum};
use gtl_diffusion::sampler::{Confidence, Order, SamplerConfig, SamplerKind};
use gtl_diffusion::{Process, ProcessKind, Schedule};
use gtl_guidance::{ExactGuidance, GammaSchedule, PositionRule, ScheduledGtl, Scorer};
use gtl_markov::MarkovChain;
use gtl_markov::metrics::{chi_square, total_variation, tv_null_quantile};
use gtl_oracle::{MarkovDenoiser, MarkovLogRatio};
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::BackendArgs;
use crate::backend::{BackendTask, dispatch};

/// Forward processes on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProcessChoice {
    /// Masked diffusion.
    Absorbing,
    /// Uniform resampling.
    Uniform,
    /// Roulette (uniform then absorbed), see --mask-rate.
    Roulette,
}

/// Samplers on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SamplerChoice {
    /// Model posterior at every position and step.
    Ancestral,
    /// One masked position per step (absorbing only; see --order).
    OnePosition,
    /// Euler τ-leaping.
    Euler,
    /// Tweedie τ-leaping.
    Tweedie,
}

/// Guidance on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GuidanceChoice {
    /// Unguided: sample the chain of --chain.
    None,
    /// Exact per-position guidance on multi-position steps (--steps; any process).
    Exact,
    /// Scheduled GTL: one position per step (--order), the denoiser's --top-n candidates
    /// scored by the exact ratio (absorbing).
    Gtl,
    /// Scheduled GTL with first-order (Taylor) scores from the exact ratio's one-hot gradient.
    Taylor,
}

/// Position orders of the one-position sampler.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OrderChoice {
    /// Uniformly random masked position.
    Random,
    /// Highest denoiser max-probability.
    Confidence,
    /// Largest gap between the two most likely tokens.
    Margin,
    /// Lowest denoiser entropy.
    Entropy,
}

impl From<OrderChoice> for Order {
    fn from(choice: OrderChoice) -> Self {
        match choice {
            OrderChoice::Random => Order::Random,
            OrderChoice::Confidence => Order::Confidence(Confidence::MaxProb),
            OrderChoice::Margin => Order::Confidence(Confidence::Margin),
            OrderChoice::Entropy => Order::Confidence(Confidence::Entropy),
        }
    }
}

fn make_process(choice: ProcessChoice, num_tokens: usize, mask_rate: f64) -> Result<Process> {
    let kind = match choice {
        ProcessChoice::Absorbing => ProcessKind::Absorbing,
        ProcessChoice::Uniform => ProcessKind::Uniform,
        ProcessChoice::Roulette => ProcessKind::Roulette { mask_rate },
    };
    Ok(Process::new(kind, num_tokens, Schedule::default())?)
}

fn make_sampler(
    choice: SamplerChoice,
    steps: usize,
    order: OrderChoice,
    batch_size: usize,
) -> SamplerConfig {
    SamplerConfig {
        kind: match choice {
            SamplerChoice::Ancestral => SamplerKind::Ancestral,
            SamplerChoice::OnePosition => SamplerKind::OnePosition,
            SamplerChoice::Euler => SamplerKind::Euler,
            SamplerChoice::Tweedie => SamplerKind::Tweedie,
        },
        steps,
        order: order.into(),
        batch_size,
        ..SamplerConfig::default()
    }
}

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
    #[arg(long, value_enum, default_value_t = ProcessChoice::Absorbing)]
    process: ProcessChoice,
    /// Roulette share p_m of the rate that goes to the mask, in (0, 1].
    #[arg(long, default_value_t = 0.95)]
    mask_rate: f64,
    /// Sampler.
    #[arg(long, value_enum, default_value_t = SamplerChoice::Ancestral)]
    sampler: SamplerChoice,
    /// Time steps (one-position sampling always takes L steps).
    #[arg(long, default_value_t = 128)]
    steps: usize,
    /// Position order of the one-position sampler.
    #[arg(long, value_enum, default_value_t = OrderChoice::Random)]
    order: OrderChoice,
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
    /// Guidance (needs --target-chain unless none).
    #[arg(long, value_enum, default_value_t = GuidanceChoice::None)]
    guidance: GuidanceChoice,
    /// Guidance strength γ (≥ 0; 1 is exact for gtl with all candidates).
    #[arg(long, default_value_t = 1.0)]
    gamma: f64,
    /// Candidates per step for gtl and taylor (default: all N tokens).
    #[arg(long)]
    top_n: Option<usize>,
    /// Largest batch of candidate sequences per ratio call.
    #[arg(long, default_value_t = 4096)]
    chunk_rows: usize,
    #[command(flatten)]
    backend: BackendArgs,
}

/// One sampling job with the exact denoiser.
struct OracleJob {
    chain: MarkovChain,
    process: Process,
    sampler: SamplerConfig,
    samples: usize,
    length: usize,
    seed: u64,
    guidance: Option<GuidedJob>,
}

/// The guided part of an oracle job.
struct GuidedJob {
    target: MarkovChain,
    kind: GuidanceChoice,
    gamma: f64,
    top_n: Option<usize>,
    chunk_rows: usize,
}

impl BackendTask for OracleJob {
    type Output = gtl_diffusion::sampler::Samples;

    fn run<B: AutodiffBackend>(self, device: B::Device) -> Result<Self::Output> {
        self.sampler.validate(&self.process)?;
        let denoiser = MarkovDenoiser::new(self.chain.clone(), self.process)?;
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let Some(guided) = self.guidance else {
            let sampler = self.sampler.build::<B::InnerBackend>();
            return Ok(sampler.sample(
                &denoiser,
                &self.process,
                self.samples,
                self.length,
                &device,
                &mut rng,
            )?);
        };
        let ratio = MarkovLogRatio::new(self.chain, guided.target, self.process)?;
        let gamma = GammaSchedule::Constant(guided.gamma);
        let exact: Scorer<B::InnerBackend> = Scorer::Exact {
            ratio: &ratio,
            chunk_rows: guided.chunk_rows,
        };
        let order = match self.sampler.order {
            Order::Random => PositionRule::Random,
            Order::Confidence(kind) => PositionRule::Confidence(kind),
        };
        let scheduled = ScheduledGtl {
            order,
            top_n: guided.top_n,
            gamma: gamma.clone(),
            batch_size: self.sampler.batch_size,
        };
        let samples = match guided.kind {
            GuidanceChoice::None => unreachable!("unguided jobs carry no guidance"),
            GuidanceChoice::Exact => ExactGuidance {
                steps: self.sampler.steps,
                t_end: self.sampler.t_end,
                gamma,
                batch_size: self.sampler.batch_size,
            }
            .sample(
                &denoiser,
                exact,
                &self.process,
                self.samples,
                self.length,
                &device,
                &mut rng,
            )?,
            GuidanceChoice::Gtl | GuidanceChoice::Taylor => {
                let scorer = if guided.kind == GuidanceChoice::Taylor {
                    Scorer::Taylor(&ratio)
                } else {
                    exact
                };
                scheduled.sample(
                    &denoiser,
                    scorer,
                    &self.process,
                    self.samples,
                    self.length,
                    &device,
                    &mut rng,
                )?
            }
        };
        Ok(samples)
    }
}

/// `oracle-sample`.
pub fn sample(args: OracleSampleArgs) -> Result<()> {
    if args.length == 0 || args.samples == 0 {
        bail!("--length and --samples must be at least 1");
    }
    let chain = MarkovChain::load_json(&args.chain)?;
    let process = make_process(args.process, chain.num_states(), args.mask_rate)?;
    let target = match &args.target_chain {
        Some(path) => Some(MarkovChain::load_json(path)?),
        None => None,
    };
    let guidance = match (args.guidance, &target) {
        (GuidanceChoice::None, _) => None,
        (_, None) => bail!("--guidance {:?} needs --target-chain", args.guidance),
        (kind, Some(target)) => Some(GuidedJob {
            target: target.clone(),
            kind,
            gamma: args.gamma,
            top_n: args.top_n,
            chunk_rows: args.chunk_rows,
        }),
    };
    if guidance.is_some() && args.sampler != SamplerChoice::Ancestral {
        tracing::warn!(
            "--sampler is ignored with --guidance: exact guidance is ancestral, gtl and taylor \
             reveal one position per step"
        );
    }
    let job = OracleJob {
        chain: chain.clone(),
        process,
        sampler: make_sampler(args.sampler, args.steps, args.order, args.batch_size),
        samples: args.samples,
        length: args.length,
        seed: args.seed,
        guidance,
    };
    // Guided samples are checked against the target chain.
    let chain = match (&job.guidance, target) {
        (Some(_), Some(target)) => target,
        _ => chain,
    };
    let samples = dispatch(args.backend.backend, args.backend.device, job)?;
    write_jsonl(&args.out, &samples.tokens)?;
    tracing::info!(
        samples = samples.tokens.len(),
        seconds = samples.stats.seconds,
        denoiser_calls = samples.stats.denoiser_calls,
        ratio_rows = samples.stats.ratio_rows,
        out = %args.out.display(),
        "samples written"
    );
    match check(&chain, &samples.tokens, args.length, args.seed) {
        Ok(report) => println!("{report}"),
        Err(reason) => println!("not checked by enumeration: {reason}"),
    }
    Ok(())
}

/// Writes token sequences as JSONL, atomically (temp file, then rename).
pub fn write_jsonl(path: &Path, sequences: &[Vec<u32>]) -> Result<()> {
    let tmp = path.with_extension("jsonl.tmp");
    {
        let file = fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mut out = BufWriter::new(file);
        for sequence in sequences {
            serde_json::to_writer(&mut out, sequence)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
    }
    fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))?;
    Ok(())
}

/// Enumeration check of samples against the chain.
struct Check {
    tv: f64,
    null_q99: f64,
    chi_square_p: f64,
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TV to the chain {:.4} (99th percentile of exact-sample TV at this size: {:.4}) -> {}; chi-square p = {:.3}",
            self.tv,
            self.null_q99,
            if self.tv <= self.null_q99 {
                "consistent"
            } else {
                "REJECTED"
            },
            self.chi_square_p
        )
    }
}

fn check(chain: &MarkovChain, samples: &[Vec<u32>], length: usize, seed: u64) -> Result<Check> {
    let tv = total_variation(samples, chain, length)?;
    let null_q99 = tv_null_quantile(chain, length, samples.len(), 200, 0.99, seed ^ 0x5eed)?;
    let chi = chi_square(samples, chain, length)?;
    Ok(Check {
        tv,
        null_q99,
        chi_square_p: chi.p_value,
    })
}

/// Arguments of `oracle-convergence`.
#[derive(Args, Debug)]
pub struct ConvergenceArgs {
    /// Number of states of the random (Dirichlet) chains.
    #[arg(long, default_value_t = 3)]
    states: usize,
    /// Sequence length (N^L ≤ 10^6 for enumeration).
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

/// One measured setting.
struct Row {
    chain_seed: u64,
    process: &'static str,
    sampler: &'static str,
    steps: usize,
    check: Check,
    seconds: f64,
}

fn progress(len: usize) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {msg} [{elapsed_precise}]")
            .expect("valid template"),
    );
    bar
}

/// `oracle-convergence`: TV against steps for Euler and Tweedie on uniform and roulette.
pub fn convergence(args: ConvergenceArgs) -> Result<()> {
    let settings: Vec<(u64, ProcessChoice, SamplerChoice, usize)> = args
        .chains
        .iter()
        .flat_map(|&c| {
            [ProcessChoice::Uniform, ProcessChoice::Roulette]
                .into_iter()
                .flat_map(move |p| {
                    [SamplerChoice::Euler, SamplerChoice::Tweedie]
                        .into_iter()
                        .map(move |s| (c, p, s))
                })
        })
        .flat_map(|(c, p, s)| args.steps.iter().map(move |&k| (c, p, s, k)))
        .collect();
    let rows = run_settings(
        &settings,
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
        (7, ProcessChoice::Absorbing, SamplerChoice::OnePosition, 0),
        (7, ProcessChoice::Absorbing, SamplerChoice::Ancestral, 64),
    ];
    for process in [ProcessChoice::Uniform, ProcessChoice::Roulette] {
        for sampler in [
            SamplerChoice::Ancestral,
            SamplerChoice::Euler,
            SamplerChoice::Tweedie,
        ] {
            settings.push((7, process, sampler, 64));
        }
    }
    let rows = run_settings(&settings, 3, 6, args.samples, args.backend)?;
    write_tables(&args.out, &rows)?;
    println!("{}", markdown(&rows));
    Ok(())
}

fn run_settings(
    settings: &[(u64, ProcessChoice, SamplerChoice, usize)],
    states: usize,
    length: usize,
    samples: usize,
    backend: BackendArgs,
) -> Result<Vec<Row>> {
    let bar = progress(settings.len());
    let mut rows = Vec::new();
    for &(chain_seed, process, sampler, steps) in settings {
        let chain = MarkovChain::dirichlet(states, 1.0, chain_seed)?;
        bar.set_message(format!("{process:?} {sampler:?} {steps} steps"));
        let job = OracleJob {
            chain: chain.clone(),
            process: make_process(process, states, 0.95)?,
            sampler: make_sampler(sampler, steps, OrderChoice::Random, 1000),
            samples,
            length,
            seed: chain_seed * 1000 + steps as u64,
            guidance: None,
        };
        let result = dispatch(backend.backend, backend.device, job)?;
        rows.push(Row {
            chain_seed,
            process: process_name(process),
            sampler: sampler_name(sampler),
            steps: if sampler == SamplerChoice::OnePosition {
                length
            } else {
                steps
            },
            check: check(&chain, &result.tokens, length, chain_seed)?,
            seconds: result.stats.seconds,
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(rows)
}

fn process_name(choice: ProcessChoice) -> &'static str {
    match choice {
        ProcessChoice::Absorbing => "absorbing",
        ProcessChoice::Uniform => "uniform",
        ProcessChoice::Roulette => "roulette",
    }
}

fn sampler_name(choice: SamplerChoice) -> &'static str {
    match choice {
        SamplerChoice::Ancestral => "ancestral",
        SamplerChoice::OnePosition => "one-position",
        SamplerChoice::Euler => "euler",
        SamplerChoice::Tweedie => "tweedie",
    }
}

fn markdown(rows: &[Row]) -> String {
    let mut out = String::from(
        "| chain | process | sampler | steps | TV | null TV q99 | chi-square p | seconds |\n|---|---|---|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| dirichlet-{} | {} | {} | {} | {:.4} | {:.4} | {:.3} | {:.2} |\n",
            r.chain_seed,
            r.process,
            r.sampler,
            r.steps,
            r.check.tv,
            r.check.null_q99,
            r.check.chi_square_p,
            r.seconds
        ));
    }
    out
}

fn write_tables(dir: &Path, rows: &[Row]) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut csv =
        String::from("chain_seed,process,sampler,steps,tv,null_tv_q99,chi_square_p,seconds\n");
    for r in rows {
        csv.push_str(&format!(
            "{},{},{},{},{:.6},{:.6},{:.6},{:.4}\n",
            r.chain_seed,
            r.process,
            r.sampler,
            r.steps,
            r.check.tv,
            r.check.null_q99,
            r.check.chi_square_p,
            r.seconds
        ));
    }
    fs::write(dir.join("results.csv"), csv)?;
    fs::write(dir.join("results.md"), markdown(rows))?;
    tracing::info!(dir = %dir.display(), "results.csv and results.md written");
    Ok(())
}
