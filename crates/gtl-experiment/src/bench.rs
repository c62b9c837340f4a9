//! The cost of guided sampling against the vocabulary size N (MATH.md §5): seconds and
//! ratio passes per sample of unguided one-position sampling, scheduled GTL with top-n
//! candidates, Taylor guidance and exact guidance, with a fixed small denoiser and ratio
//! network (untrained: the cost does not depend on the weights).

use std::fmt::Write as _;
use std::path::Path;

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use gtl_diffusion::sampler::{OnePosition, Order, Sampler, Samples};
use gtl_diffusion::{Process, ProcessKind, Schedule};
use gtl_eval::plot::{LinePlot, Scale, Series};
use gtl_guidance::{
    ExactGuidance, GammaSchedule, Guide, GuidedSampler, PositionRule, ScheduledGtl, Scorer,
    TaylorRatio,
};
use gtl_models::training::write_atomically;
use gtl_models::{DenoiserNet, DenoiserNetConfig, ScalarNet, ScalarNetConfig};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::config::ModelSection;
use crate::error::to_json;
use crate::{ExperimentError, Result};

/// What the guidance benchmark measures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GuidanceBench {
    /// Vocabulary sizes N (each ≥ 2).
    pub sizes: Vec<usize>,
    /// Sequence length L.
    pub length: usize,
    /// Samples per measurement.
    pub samples: usize,
    /// Samples per exact-guidance measurement (it costs L·N ratio passes per step).
    pub exact_samples: usize,
    /// Steps of exact guidance before its final step (0: L, the scheduled samplers' count);
    /// at large N one step is what can be afforded, and the rows report the cost as measured.
    pub exact_steps: usize,
    /// Candidate counts n of scheduled GTL.
    pub top_n: Vec<usize>,
    /// Largest batch of candidate sequences per ratio call.
    pub chunk_rows: usize,
    /// The denoiser's size (a preset and overrides, as in a config's `[denoiser.model]`).
    pub denoiser: ModelSection,
    /// The ratio network's size (as a config's `[classifier.model]` or `[ratio.model]`).
    pub ratio: ModelSection,
}

impl GuidanceBench {
    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        if self.sizes.is_empty() || self.sizes.iter().any(|&n| n < 2) {
            return Err(ExperimentError::config("sizes: give vocabulary sizes ≥ 2"));
        }
        if self.length == 0 || self.samples == 0 || self.exact_samples == 0 || self.chunk_rows == 0
        {
            return Err(ExperimentError::config(
                "length, samples, exact_samples and chunk_rows must be at least 1",
            ));
        }
        if self.top_n.contains(&0) {
            return Err(ExperimentError::config("top_n: every n must be at least 1"));
        }
        Ok(())
    }

    /// Measures every sampler at vocabulary size `vocab` on backend `B`.
    pub fn measure<B: AutodiffBackend>(
        &self,
        vocab: usize,
        device: &B::Device,
    ) -> Result<Vec<CostRow>> {
        self.validate()?;
        measure::<B>(self, vocab, device)
    }
}

/// One measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostRow {
    /// The sampler.
    pub sampler: String,
    /// Vocabulary size N.
    pub vocab: usize,
    /// Samples drawn.
    pub samples: usize,
    /// Wall time.
    pub seconds: f64,
    /// Seconds per sample.
    pub seconds_per_sample: f64,
    /// Ratio passes per sample.
    pub ratio_rows_per_sample: f64,
    /// Denoiser passes per sample.
    pub denoiser_rows_per_sample: f64,
}

/// A fitted slope of log(seconds per sample) against log N.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slope {
    /// The sampler.
    pub sampler: String,
    /// Smallest N of the fit.
    pub from_vocab: usize,
    /// Largest N of the fit.
    pub to_vocab: usize,
    /// The slope.
    pub slope: f64,
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
pub fn fit_slopes(rows: &[CostRow]) -> Vec<Slope> {
    unique(rows.iter().map(|r| r.sampler.clone()))
        .into_iter()
        .filter_map(|sampler| {
            let mine: Vec<&CostRow> = rows.iter().filter(|r| r.sampler == sampler).collect();
            let large: Vec<&CostRow> = mine.iter().copied().filter(|r| r.vocab >= 64).collect();
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

/// The Markdown table of seconds (ratio passes) per sample, with the slopes.
pub fn cost_table(rows: &[CostRow], slopes: &[Slope], sizes: &[usize]) -> String {
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

fn measure<B: AutodiffBackend>(
    bench: &GuidanceBench,
    vocab: usize,
    device: &B::Device,
) -> Result<Vec<CostRow>> {
    {
        let device = device.clone();
        let (length, args) = (bench.length, bench);
        let process = Process::new(ProcessKind::Absorbing, vocab, Schedule::default())?;
        let trunk = args.denoiser.trunk(vocab + 1, length, "denoiser")?;
        let ratio_trunk = args.ratio.trunk(vocab + 1, length, "ratio")?;
        B::seed(&device, 0);
        let denoiser: DenoiserNet<B::InnerBackend> =
            DenoiserNetConfig::new(trunk, vocab, true).init(&device);
        let ratio_ad: ScalarNet<B> = ScalarNetConfig::new(ratio_trunk).init(&device);
        let ratio = ratio_ad.valid();
        let taylor = TaylorRatio { net: ratio_ad };
        let exact: Scorer<B::InnerBackend> = Scorer::Exact {
            ratio: &ratio,
            chunk_rows: args.chunk_rows,
        };
        let guide = |scorer| Guide {
            denoiser: &denoiser,
            scorer,
            process: &process,
        };
        let gtl = |top_n| ScheduledGtl {
            order: PositionRule::Random,
            top_n,
            tail: Default::default(),
            gamma: GammaSchedule::Constant(1.0),
            batch_size: args.samples,
        };
        let samples = args.samples;
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
            rows.push(CostRow {
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
        for &n in &args.top_n {
            if n < vocab {
                let sampler = gtl(Some(n));
                measure(format!("gtl n={n}"), samples, &mut |count, rng| {
                    Ok(sampler.sample(guide(exact), count, length, &device, rng)?)
                })?;
            }
        }
        let all = gtl(None);
        measure("taylor".into(), samples, &mut |count, rng| {
            Ok(all.sample(guide(Scorer::Taylor(&taylor)), count, length, &device, rng)?)
        })?;
        let exact_sampler = ExactGuidance {
            steps: if args.exact_steps == 0 {
                length
            } else {
                args.exact_steps
            },
            t_end: 1e-5,
            gamma: GammaSchedule::Constant(1.0),
            batch_size: args.exact_samples,
        };
        let exact_name = match args.exact_steps {
            0 => "exact".to_string(),
            steps => format!("exact {steps}+1 steps"),
        };
        measure(exact_name, args.exact_samples, &mut |count, rng| {
            Ok(exact_sampler.sample(guide(exact), count, length, &device, rng)?)
        })?;
        Ok(rows)
    }
}

/// Writes `guidance.csv`, `guidance.json` (with the slopes) and `guidance.png` into `dir`;
/// `backend` names the backend in the title and the JSON.
pub fn write_results(
    bench: &GuidanceBench,
    rows: &[CostRow],
    backend: &str,
    dir: &Path,
) -> Result<Vec<Slope>> {
    std::fs::create_dir_all(dir).map_err(|e| ExperimentError::io(dir, e))?;
    let slopes = fit_slopes(rows);
    let mut table = gtl_eval::Table::new([
        "sampler",
        "vocab",
        "samples",
        "seconds",
        "seconds_per_sample",
        "ratio_rows_per_sample",
        "denoiser_rows_per_sample",
    ]);
    for r in rows {
        table.push([
            r.sampler.clone().into(),
            r.vocab.into(),
            r.samples.into(),
            r.seconds.into(),
            r.seconds_per_sample.into(),
            r.ratio_rows_per_sample.into(),
            r.denoiser_rows_per_sample.into(),
        ]);
    }
    table.write_csv(&dir.join("guidance.csv"))?;
    let json = serde_json::json!({
        "backend": backend,
        "bench": bench,
        "rows": rows,
        "slopes": slopes,
    });
    write_atomically(
        &dir.join("guidance.json"),
        to_json(&json, "guidance.json")?.as_bytes(),
    )?;
    let series: Vec<Series> = unique(rows.iter().map(|r| r.sampler.clone()))
        .into_iter()
        .map(|name| {
            let points: Vec<(f64, f64)> = rows
                .iter()
                .filter(|r| r.sampler == name)
                .map(|r| (r.vocab as f64, r.seconds_per_sample))
                .collect();
            Series::new(name, points)
        })
        .collect();
    LinePlot {
        title: &format!(
            "Guided sampling cost, L = {}, {backend} backend",
            bench.length
        ),
        x_label: "vocabulary size N",
        y_label: "seconds per sample",
        x_scale: Scale::Log,
        y_scale: Scale::Log,
        series: &series,
        ..LinePlot::default()
    }
    .write_png(&dir.join("guidance.png"))?;
    Ok(slopes)
}
