//! The cost of guided sampling against the vocabulary size N and the sequence length L
//! (MATH.md §5): seconds and ratio passes per sample of unguided one-position sampling,
//! scheduled GTL with top-n candidates, Taylor guidance and exact guidance, with a fixed small
//! denoiser and ratio network (untrained: the cost does not depend on the weights).

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
    /// Sequence lengths L (each ≥ 1); every N is measured at every L.
    pub lengths: Vec<usize>,
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
        if self.lengths.is_empty() || self.lengths.contains(&0) {
            return Err(ExperimentError::config(
                "lengths: give sequence lengths ≥ 1",
            ));
        }
        if self.samples == 0 || self.exact_samples == 0 || self.chunk_rows == 0 {
            return Err(ExperimentError::config(
                "samples, exact_samples and chunk_rows must be at least 1",
            ));
        }
        if self.top_n.contains(&0) {
            return Err(ExperimentError::config("top_n: every n must be at least 1"));
        }
        Ok(())
    }

    /// Measures every sampler at vocabulary size `vocab` and length `length` on backend `B`.
    pub fn measure<B: AutodiffBackend>(
        &self,
        vocab: usize,
        length: usize,
        device: &B::Device,
    ) -> Result<Vec<CostRow>> {
        self.validate()?;
        measure::<B>(self, vocab, length, device)
    }
}

/// One measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostRow {
    /// The sampler.
    pub sampler: String,
    /// Vocabulary size N.
    pub vocab: usize,
    /// Sequence length L.
    pub length: usize,
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

/// The two axes of the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Axis {
    /// Vocabulary size N.
    #[serde(rename = "N")]
    Vocab,
    /// Sequence length L.
    #[serde(rename = "L")]
    Length,
}

impl Axis {
    fn of(self, row: &CostRow) -> usize {
        match self {
            Axis::Vocab => row.vocab,
            Axis::Length => row.length,
        }
    }

    fn other(self) -> Axis {
        match self {
            Axis::Vocab => Axis::Length,
            Axis::Length => Axis::Vocab,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Axis::Vocab => "N",
            Axis::Length => "L",
        }
    }
}

/// A fitted slope of log(seconds per sample) against log N (at a fixed L) or log L (at a
/// fixed N).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slope {
    /// The sampler.
    pub sampler: String,
    /// The axis of the fit.
    pub axis: Axis,
    /// The other axis's fixed value.
    pub at: usize,
    /// Smallest value of the fit.
    pub from: usize,
    /// Largest value of the fit.
    pub to: usize,
    /// The slope.
    pub slope: f64,
}

fn unique<T: PartialEq>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for name in items {
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

/// Least-squares slopes of log(seconds per sample): on log N at each L (over N ≥ 64; all
/// sizes if fewer than two are ≥ 64), and on log L at each N (over every L).
pub fn fit_slopes(rows: &[CostRow]) -> Vec<Slope> {
    let mut slopes = Vec::new();
    for axis in [Axis::Vocab, Axis::Length] {
        for sampler in unique(rows.iter().map(|r| r.sampler.clone())) {
            let fixed = unique(
                rows.iter()
                    .filter(|r| r.sampler == sampler)
                    .map(|r| axis.other().of(r)),
            );
            for at in fixed {
                let mine: Vec<&CostRow> = rows
                    .iter()
                    .filter(|r| r.sampler == sampler && axis.other().of(r) == at)
                    .collect();
                let large: Vec<&CostRow> = mine
                    .iter()
                    .copied()
                    .filter(|r| axis == Axis::Length || r.vocab >= 64)
                    .collect();
                let points = if large.len() >= 2 { large } else { mine };
                if points.len() < 2 {
                    continue;
                }
                let xs: Vec<f64> = points.iter().map(|r| (axis.of(r) as f64).ln()).collect();
                let ys: Vec<f64> = points.iter().map(|r| r.seconds_per_sample.ln()).collect();
                let n = xs.len() as f64;
                let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
                let cov: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
                let var: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
                slopes.push(Slope {
                    sampler: sampler.clone(),
                    axis,
                    at,
                    from: points.iter().map(|r| axis.of(r)).min().unwrap_or(0),
                    to: points.iter().map(|r| axis.of(r)).max().unwrap_or(0),
                    slope: cov / var,
                });
            }
        }
    }
    slopes
}

/// The Markdown tables of seconds (ratio passes) per sample: against N at each L, and, when
/// several lengths were measured, against L at each N; each with its slopes.
pub fn cost_table(rows: &[CostRow], slopes: &[Slope]) -> String {
    let mut text = String::new();
    let lengths = unique(rows.iter().map(|r| r.length));
    let sizes = unique(rows.iter().map(|r| r.vocab));
    let mut axes = Vec::new();
    if sizes.len() > 1 || lengths.len() == 1 {
        axes.push(Axis::Vocab);
    }
    if lengths.len() > 1 {
        axes.push(Axis::Length);
    }
    for axis in axes {
        let values = unique(rows.iter().map(|r| axis.of(r)));
        let fixed = unique(rows.iter().map(|r| axis.other().of(r)));
        for at in fixed {
            let _ = write!(
                text,
                "seconds per sample (ratio passes per sample), {} = {at}\n\n| sampler |",
                axis.other().symbol()
            );
            for v in &values {
                let _ = write!(text, " {} = {v} |", axis.symbol());
            }
            text.push_str(" slope |\n|---|");
            for _ in &values {
                text.push_str("---|");
            }
            text.push_str("---|\n");
            for name in unique(rows.iter().map(|r| r.sampler.clone())) {
                let _ = write!(text, "| {name} |");
                for v in &values {
                    let cell = rows.iter().find(|r| {
                        r.sampler == name && axis.of(r) == *v && axis.other().of(r) == at
                    });
                    match cell {
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
                match slopes
                    .iter()
                    .find(|s| s.sampler == name && s.axis == axis && s.at == at)
                {
                    Some(s) => {
                        let _ = writeln!(text, " {:.2} |", s.slope);
                    }
                    None => text.push_str(" – |\n"),
                }
            }
            text.push('\n');
        }
    }
    text
}

fn measure<B: AutodiffBackend>(
    bench: &GuidanceBench,
    vocab: usize,
    length: usize,
    device: &B::Device,
) -> Result<Vec<CostRow>> {
    {
        let device = device.clone();
        let args = bench;
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
                length,
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

/// Writes `guidance.csv`, `guidance.json` (with the slopes), `guidance.png` (against N) and,
/// when several lengths were measured, `guidance-length.png` (against L) into `dir`;
/// `backend` names the backend in the titles and the JSON.
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
        "length",
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
            r.length.into(),
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
    let mut plots = vec![(Axis::Vocab, "guidance.png")];
    if bench.lengths.len() > 1 {
        plots.push((Axis::Length, "guidance-length.png"));
    }
    let several = |axis: Axis| unique(rows.iter().map(|r| axis.of(r))).len() > 1;
    for (axis, file) in plots {
        let label_other = several(axis.other());
        let mut series = Vec::new();
        for name in unique(rows.iter().map(|r| r.sampler.clone())) {
            for at in unique(
                rows.iter()
                    .filter(|r| r.sampler == name)
                    .map(|r| axis.other().of(r)),
            ) {
                let points: Vec<(f64, f64)> = rows
                    .iter()
                    .filter(|r| r.sampler == name && axis.other().of(r) == at)
                    .map(|r| (axis.of(r) as f64, r.seconds_per_sample))
                    .collect();
                let label = if label_other {
                    format!("{name}, {} = {at}", axis.other().symbol())
                } else {
                    name.clone()
                };
                series.push(Series::new(label, points));
            }
        }
        let title = match axis {
            Axis::Vocab if !label_other => format!(
                "Guided sampling cost, L = {}, {backend} backend",
                rows.first().map_or(0, |r| r.length)
            ),
            Axis::Length if !label_other => format!(
                "Guided sampling cost, N = {}, {backend} backend",
                rows.first().map_or(0, |r| r.vocab)
            ),
            _ => format!("Guided sampling cost, {backend} backend"),
        };
        LinePlot {
            title: &title,
            x_label: match axis {
                Axis::Vocab => "vocabulary size N",
                Axis::Length => "sequence length L",
            },
            y_label: "seconds per sample",
            x_scale: Scale::Log,
            y_scale: Scale::Log,
            series: &series,
            ..LinePlot::default()
        }
        .write_png(&dir.join(file))?;
    }
    Ok(slopes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(sampler: &str, vocab: usize, length: usize, seconds_per_sample: f64) -> CostRow {
        CostRow {
            sampler: sampler.into(),
            vocab,
            length,
            samples: 1,
            seconds: seconds_per_sample,
            seconds_per_sample,
            ratio_rows_per_sample: 0.0,
            denoiser_rows_per_sample: 0.0,
        }
    }

    /// Costs `c · N^a · L^b` give back slope `a` against N at every L (over N ≥ 64 only: the
    /// N = 16 point is off the power law on purpose) and `b` against L at every N.
    #[test]
    fn slopes_recover_the_exponents_of_a_power_law_on_each_axis() {
        let cost = |n: usize, l: usize| 0.001 * (n as f64).powf(1.0) * (l as f64).powf(2.5);
        let mut rows = Vec::new();
        for l in [8, 16, 64] {
            rows.push(row("exact", 16, l, 1e3 * cost(16, l)));
            for n in [64, 256, 4096] {
                rows.push(row("exact", n, l, cost(n, l)));
            }
        }
        let slopes = fit_slopes(&rows);
        let find = |axis, at| {
            slopes
                .iter()
                .find(|s| s.axis == axis && s.at == at)
                .unwrap()
                .clone()
        };
        for l in [8, 16, 64] {
            let s = find(Axis::Vocab, l);
            assert!((s.slope - 1.0).abs() < 1e-9, "{s:?}");
            assert_eq!((s.from, s.to), (64, 4096));
        }
        for n in [64, 256, 4096] {
            let s = find(Axis::Length, n);
            assert!((s.slope - 2.5).abs() < 1e-9, "{s:?}");
            assert_eq!((s.from, s.to), (8, 64));
        }
        let table = cost_table(&rows, &slopes);
        assert!(
            table.contains("L = 8\n\n| sampler | N = 16 | N = 64 |"),
            "{table}"
        );
        assert!(
            table.contains("N = 4096\n\n| sampler | L = 8 | L = 16 | L = 64 |"),
            "{table}"
        );
        assert!(table.contains(" 2.50 |"), "{table}");
    }
}
