//! `cargo xtask bench guidance`: the cost of guided sampling against the vocabulary size N
//! (MATH.md §5) with a fixed small denoiser and ratio network (untrained: cost does not
//! depend on the weights). Writes CSV, JSON (with fitted log-log slopes) and a PNG under
//! `--out`.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Result, bail};
use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use clap::{Args, Subcommand};
use gtl_diffusion::sampler::{OnePosition, Order, Sampler, Samples};
use gtl_diffusion::{Process, ProcessKind, Schedule};
use gtl_guidance::{ExactGuidance, GammaSchedule, PositionRule, ScheduledGtl, Scorer, TaylorRatio};
use gtl_models::training::write_atomically;
use gtl_models::{DenoiserNet, DenoiserNetConfig, ScalarNet, ScalarNetConfig, TrunkConfig};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::BackendArgs;
use crate::backend::{BackendTask, dispatch};
use crate::plot::{LinePlot, Scale, Series};

/// Benchmarks.
#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Seconds per generated sample and ratio passes against N for unguided one-position
    /// sampling, exact guidance, scheduled GTL (top-n) and Taylor guidance.
    Guidance(GuidanceBenchArgs),
}

/// Arguments of `bench guidance`.
#[derive(Args, Debug, Clone)]
pub struct GuidanceBenchArgs {
    /// Vocabulary sizes N.
    #[arg(long, value_delimiter = ',', default_value = "16,64,256,1024,4096")]
    sizes: Vec<usize>,
    /// Sequence length L.
    #[arg(long, default_value_t = 16)]
    length: usize,
    /// Samples per measurement (exact guidance: --exact-samples).
    #[arg(long, default_value_t = 32)]
    samples: usize,
    /// Samples per exact-guidance measurement (it costs L·N ratio passes per step).
    #[arg(long, default_value_t = 2)]
    exact_samples: usize,
    /// Candidate counts n of scheduled GTL.
    #[arg(long, value_delimiter = ',', default_value = "16,64")]
    top_n: Vec<usize>,
    /// Largest batch of candidate sequences per ratio call.
    #[arg(long, default_value_t = 4096)]
    chunk_rows: usize,
    /// Network preset of the denoiser.
    #[arg(long, default_value = "small")]
    preset: String,
    /// Network preset of the ratio network (smaller than the denoiser, as in GTL).
    #[arg(long, default_value = "tiny")]
    ratio_preset: String,
    /// Output folder.
    #[arg(long, default_value = "runs/bench-guidance")]
    out: PathBuf,
    #[command(flatten)]
    backend: BackendArgs,
}

/// `bench`.
pub fn run(command: BenchCommand) -> Result<()> {
    match command {
        BenchCommand::Guidance(args) => guidance(args),
    }
}

/// One measurement.
#[derive(Debug, Clone, Serialize)]
struct Row {
    sampler: String,
    vocab: usize,
    samples: usize,
    seconds: f64,
    seconds_per_sample: f64,
    ratio_rows_per_sample: f64,
    denoiser_rows_per_sample: f64,
}

/// A fitted slope of log(seconds per sample) against log N.
#[derive(Debug, Serialize)]
struct Slope {
    sampler: String,
    from_vocab: usize,
    to_vocab: usize,
    slope: f64,
}

fn guidance(args: GuidanceBenchArgs) -> Result<()> {
    if args.sizes.is_empty() || args.sizes.contains(&0) || args.sizes.contains(&1) {
        bail!("--sizes: give vocabulary sizes ≥ 2");
    }
    if args.length == 0 || args.samples == 0 || args.exact_samples == 0 {
        bail!("--length, --samples and --exact-samples must be at least 1");
    }
    if args.top_n.contains(&0) {
        bail!("--top-n: every n must be at least 1");
    }
    std::fs::create_dir_all(&args.out)?;
    let mut rows = Vec::new();
    for &vocab in &args.sizes {
        tracing::info!("N = {vocab}");
        rows.extend(dispatch(
            args.backend.backend,
            args.backend.device,
            GuidanceBench {
                args: args.clone(),
                vocab,
            },
        )?);
    }
    let slopes = fit_slopes(&rows);
    let mut csv = String::from(
        "sampler,vocab,samples,seconds,seconds_per_sample,ratio_rows_per_sample,denoiser_rows_per_sample\n",
    );
    for r in &rows {
        writeln!(
            csv,
            "{},{},{},{},{},{},{}",
            r.sampler,
            r.vocab,
            r.samples,
            r.seconds,
            r.seconds_per_sample,
            r.ratio_rows_per_sample,
            r.denoiser_rows_per_sample
        )?;
    }
    write_atomically(&args.out.join("guidance.csv"), csv.as_bytes())?;
    let json = serde_json::json!({
        "backend": format!("{:?}", args.backend.backend),
        "length": args.length,
        "preset": args.preset,
        "ratio_preset": args.ratio_preset,
        "rows": rows,
        "slopes": slopes,
    });
    write_atomically(
        &args.out.join("guidance.json"),
        serde_json::to_string_pretty(&json)?.as_bytes(),
    )?;
    let names: Vec<String> = unique(rows.iter().map(|r| r.sampler.clone()));
    let series: Vec<Series> = names
        .iter()
        .map(|name| Series {
            name: name.clone(),
            points: rows
                .iter()
                .filter(|r| &r.sampler == name)
                .map(|r| (r.vocab as f64, r.seconds_per_sample))
                .collect(),
        })
        .collect();
    LinePlot {
        title: &format!(
            "Guided sampling cost, L = {}, {:?} backend",
            args.length, args.backend.backend
        ),
        x_label: "vocabulary size N",
        y_label: "seconds per sample",
        x_scale: Scale::Log,
        y_scale: Scale::Log,
        series: &series,
    }
    .write_png(&args.out.join("guidance.png"))?;
    println!("{}", table(&rows, &slopes, &args.sizes));
    println!("wrote {}", args.out.display());
    Ok(())
}

fn unique(names: impl Iterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in names {
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

/// Least-squares slope of log(seconds per sample) on log N over N ≥ 64 (all sizes if fewer
/// than two are ≥ 64).
fn fit_slopes(rows: &[Row]) -> Vec<Slope> {
    unique(rows.iter().map(|r| r.sampler.clone()))
        .into_iter()
        .filter_map(|sampler| {
            let mine: Vec<&Row> = rows.iter().filter(|r| r.sampler == sampler).collect();
            let large: Vec<&Row> = mine.iter().copied().filter(|r| r.vocab >= 64).collect();
            let points = if large.len() >= 2 { large } else { mine };
            if points.len() < 2 {
                return None;
            }
            let xs: Vec<f64> = points.iter().map(|r| (r.vocab as f64).ln()).collect();
            let ys: Vec<f64> = points.iter().map(|r| r.seconds_per_sample.ln()).collect();
            let n = xs.len() as f64;
            let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
            let cov: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
            let var: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
            Some(Slope {
                sampler,
                from_vocab: points.iter().map(|r| r.vocab).min().unwrap_or(0),
                to_vocab: points.iter().map(|r| r.vocab).max().unwrap_or(0),
                slope: cov / var,
            })
        })
        .collect()
}

fn table(rows: &[Row], slopes: &[Slope], sizes: &[usize]) -> String {
    let mut text = String::from("seconds per sample (ratio passes per sample)\n\n| sampler |");
    for n in sizes {
        let _ = write!(text, " N = {n} |");
    }
    text.push_str(" slope |\n|---|");
    for _ in sizes {
        text.push_str("---|");
    }
    text.push_str("---|\n");
    for name in unique(rows.iter().map(|r| r.sampler.clone())) {
        let _ = write!(text, "| {name} |");
        for &n in sizes {
            match rows.iter().find(|r| r.sampler == name && r.vocab == n) {
                Some(r) => {
                    let _ = write!(
                        text,
                        " {:.4} ({:.0}) |",
                        r.seconds_per_sample, r.ratio_rows_per_sample
                    );
                }
                None => text.push_str(" – |"),
            }
        }
        match slopes.iter().find(|s| s.sampler == name) {
            Some(s) => {
                let _ = writeln!(text, " {:.2} |", s.slope);
            }
            None => text.push_str(" – |\n"),
        }
    }
    text
}

struct GuidanceBench {
    args: GuidanceBenchArgs,
    vocab: usize,
}

impl BackendTask for GuidanceBench {
    type Output = Vec<Row>;

    fn run<B: AutodiffBackend>(self, device: B::Device) -> Result<Vec<Row>> {
        let (vocab, length) = (self.vocab, self.args.length);
        let process = Process::new(ProcessKind::Absorbing, vocab, Schedule::default())?;
        let trunk = TrunkConfig::preset(&self.args.preset, vocab + 1, length)?;
        let ratio_trunk = TrunkConfig::preset(&self.args.ratio_preset, vocab + 1, length)?;
        B::seed(&device, 0);
        let denoiser: DenoiserNet<B::InnerBackend> =
            DenoiserNetConfig::new(trunk, vocab, true).init(&device);
        let ratio_ad: ScalarNet<B> = ScalarNetConfig::new(ratio_trunk).init(&device);
        let ratio = ratio_ad.valid();
        let taylor = TaylorRatio { net: ratio_ad };
        let exact: Scorer<B::InnerBackend> = Scorer::Exact {
            ratio: &ratio,
            chunk_rows: self.args.chunk_rows,
        };
        let gtl = |top_n| ScheduledGtl {
            order: PositionRule::Random,
            top_n,
            gamma: GammaSchedule::Constant(1.0),
            batch_size: self.args.samples,
        };
        let samples = self.args.samples;
        let mut rows = Vec::new();
        let mut measure = |name: String,
                           count: usize,
                           f: &mut dyn FnMut(usize, &mut ChaCha8Rng) -> Result<Samples>|
         -> Result<()> {
            let mut rng = ChaCha8Rng::seed_from_u64(1);
            f(1, &mut rng)?; // warm-up
            let result = f(count, &mut rng)?;
            let per = count as f64;
            tracing::info!(
                "{name}: {:.4} s per sample, {:.0} ratio passes per sample",
                result.stats.seconds / per,
                result.stats.ratio_rows as f64 / per
            );
            rows.push(Row {
                sampler: name,
                vocab,
                samples: count,
                seconds: result.stats.seconds,
                seconds_per_sample: result.stats.seconds / per,
                ratio_rows_per_sample: result.stats.ratio_rows as f64 / per,
                denoiser_rows_per_sample: result.stats.denoised_rows as f64 / per,
            });
            Ok(())
        };
        let unguided = OnePosition {
            order: Order::Random,
            batch_size: samples,
        };
        measure("unguided".into(), samples, &mut |count, rng| {
            Ok(Sampler::<B::InnerBackend>::sample(
                &unguided, &denoiser, &process, count, length, &device, rng,
            )?)
        })?;
        for &n in &self.args.top_n {
            if n < vocab {
                let sampler = gtl(Some(n));
                measure(format!("gtl n={n}"), samples, &mut |count, rng| {
                    Ok(sampler.sample(&denoiser, exact, &process, count, length, &device, rng)?)
                })?;
            }
        }
        let all = gtl(None);
        measure("taylor".into(), samples, &mut |count, rng| {
            Ok(all.sample(
                &denoiser,
                Scorer::Taylor(&taylor),
                &process,
                count,
                length,
                &device,
                rng,
            )?)
        })?;
        let exact_sampler = ExactGuidance {
            steps: length,
            t_end: 1e-5,
            gamma: GammaSchedule::Constant(1.0),
            batch_size: self.args.exact_samples,
        };
        measure(
            "exact".into(),
            self.args.exact_samples,
            &mut |count, rng| {
                Ok(
                    exact_sampler
                        .sample(&denoiser, exact, &process, count, length, &device, rng)?,
                )
            },
        )?;
        Ok(rows)
    }
}
