//! Choosing γ on held-out target data: the guided one-position conditional that scheduled
//! GTL samples from, `q_γ(x^ℓ = v | z) ∝ p_θ(v | z) · r(z^{ℓ←v}, s)^γ` (MATH.md §5), scored
//! at the true token of held-out target sequences under random masks.

use burn::prelude::*;
use gtl_diffusion::ProcessKind;
use gtl_diffusion::sampler::{SamplerStats, gather_positions, tokens_tensor};
use rand::seq::index::sample;
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};

use crate::{GammaSchedule, GuidanceError, Guide};

/// Rows of noisy sequences scored per denoiser call.
const CHUNK: usize = 512;

/// The held-out score of each γ of a grid, overall and per bin of sampling progress.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GammaFit {
    /// The grid.
    pub gammas: Vec<f64>,
    /// Mean log-probability of the true token under `q_γ`, per γ (higher is better).
    pub log_likelihood: Vec<f64>,
    /// The γ with the highest score.
    pub best: f64,
    /// Masked sequences scored.
    pub rows: usize,
    /// The same per equal-width bin of sampling progress `1 - k/L` (`k` masked positions).
    pub bins: Vec<GammaBin>,
}

/// The fit of γ on the rows of one bin of sampling progress.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GammaBin {
    /// Lower edge of the bin (inclusive).
    pub progress_low: f64,
    /// Upper edge (exclusive, except for the last bin).
    pub progress_high: f64,
    /// Rows in the bin.
    pub rows: usize,
    /// Mean log-probability per γ.
    pub log_likelihood: Vec<f64>,
    /// The γ with the highest score (the overall best when the bin is empty).
    pub best: f64,
}

impl GammaFit {
    /// The schedule the fit recommends: the overall best γ with one bin, else each bin's
    /// best γ held constant over its range of progress. Each bin's term of the held-out
    /// score depends only on that bin's γ, so the per-bin maxima maximise the whole score.
    pub fn schedule(&self) -> GammaSchedule {
        if self.bins.len() <= 1 {
            return GammaSchedule::Constant(self.best);
        }
        let mut knots = Vec::new();
        for bin in &self.bins {
            knots.push((bin.progress_low, bin.best));
            knots.push(((bin.progress_high - 1e-9).max(bin.progress_low), bin.best));
        }
        GammaSchedule::PiecewiseLinear(knots)
    }
}

/// The value of `grid` whose score (same index in `scores`) is highest; the last on ties.
/// A score of `-inf` (the held-out data impossible under that γ) is allowed and loses.
///
/// # Errors
/// [`GuidanceError::Config`] when a score is NaN (it names the γ), or when `grid` is empty or
/// `scores` has a different length.
pub fn best_on_grid(grid: &[f64], scores: &[f64]) -> Result<f64, GuidanceError> {
    if grid.is_empty() || grid.len() != scores.len() {
        return Err(GuidanceError::Config(format!(
            "best_on_grid: {} candidates and {} scores (need as many, at least one)",
            grid.len(),
            scores.len()
        )));
    }
    if let Some((gamma, _)) = grid.iter().zip(scores).find(|(_, s)| s.is_nan()) {
        return Err(GuidanceError::Config(format!(
            "the score of γ = {gamma} is NaN (an infinite or NaN log-ratio or log-probability \
             reached the fit); no γ can be chosen"
        )));
    }
    let best = scores
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| i)
        .expect("a non-empty grid");
    Ok(grid[best])
}

/// How [`GammaFitter::fit`] scores a grid of γ on held-out target sequences.
#[derive(Clone, Debug, PartialEq)]
pub struct GammaFitter {
    /// The candidates γ (each finite and ≥ 0).
    pub gammas: Vec<f64>,
    /// Random masks drawn per held-out sequence (≥ 1).
    pub draws: usize,
    /// Equal bins of sampling progress scored apart (≥ 1; see [`GammaFit::schedule`]).
    pub bins: usize,
}

impl GammaFitter {
    /// Scores every γ on `sequences` (clean target sequences of one length): each is masked
    /// `draws` times like a state of one-position sampling (a uniform number `k ∈ 1..=L` of
    /// uniformly chosen masked positions) and one masked position `ℓ` is scored over all `N`
    /// tokens, the denoiser at the time of `k` masks and the ratio at that of `k - 1`. The
    /// rows are also scored per bin of sampling progress `1 - k/L`.
    pub fn fit<B: Backend>(
        &self,
        guide: Guide<'_, B>,
        sequences: &[Vec<u32>],
        device: &B::Device,
        rng: &mut dyn RngCore,
    ) -> Result<GammaFit, GuidanceError> {
        fit_gamma(guide, sequences, self, device, rng)
    }
}

fn fit_gamma<B: Backend>(
    guide: Guide<'_, B>,
    sequences: &[Vec<u32>],
    fitter: &GammaFitter,
    device: &B::Device,
    rng: &mut dyn RngCore,
) -> Result<GammaFit, GuidanceError> {
    let Guide {
        denoiser,
        scorer,
        process,
    } = guide;
    let GammaFitter {
        gammas,
        draws,
        bins,
    } = fitter;
    let (gammas, draws, bins) = (gammas.as_slice(), *draws, *bins);
    if process.kind != ProcessKind::Absorbing {
        return Err(GuidanceError::Config(
            "fitting γ scores one-position conditionals and needs the absorbing process".into(),
        ));
    }
    if sequences.is_empty() || draws == 0 || gammas.is_empty() || bins == 0 {
        return Err(GuidanceError::Config(
            "fitting γ needs held-out sequences, at least one draw, a non-empty grid and at \
             least one bin"
                .into(),
        ));
    }
    scorer.validate()?;
    let n = process.num_tokens;
    let length = sequences[0].len();
    let mask = n as u32;
    let mut tokens = Vec::new();
    let mut positions = Vec::new();
    let mut truth = Vec::new();
    let mut masked_counts = Vec::new();
    for sequence in sequences {
        for _ in 0..draws {
            let k = rng.random_range(1..=length);
            let chosen = sample(rng, length, k).into_vec();
            let mut z = sequence.clone();
            for &p in &chosen {
                z[p] = mask;
            }
            positions.push(chosen[rng.random_range(0..k)]);
            truth.push(sequence[*positions.last().expect("pushed")] as usize);
            tokens.extend(z);
            masked_counts.push(k);
        }
    }
    let rows = positions.len();
    let bin_of = |k: usize| (((length - k) * bins) / length).min(bins - 1);
    let mut scores = vec![vec![0.0; gammas.len()]; bins];
    let mut counts = vec![0usize; bins];
    let mut stats = SamplerStats::default();
    for start in (0..rows).step_by(CHUNK) {
        let end = (start + CHUNK).min(rows);
        let count = end - start;
        let z = tokens_tensor::<B>(&tokens[start * length..end * length], count, length, device);
        let fraction = |k: usize| process.time_for_mask_fraction(k as f64 / length as f64);
        let t: Vec<f32> = masked_counts[start..end]
            .iter()
            .map(|&k| fraction(k) as f32)
            .collect();
        let s: Vec<f64> = masked_counts[start..end]
            .iter()
            .map(|&k| fraction(k - 1))
            .collect();
        let t = Tensor::<B, 1>::from_data(TensorData::new(t, [count]), device);
        let log_x0 = denoiser.log_probs(z.clone(), t);
        let log_p = gather_positions(log_x0, &positions[start..end], device).reshape([count, n]);
        let values = Tensor::<B, 1, Int>::arange(0..n as i64, device)
            .reshape([1, n])
            .expand([count, n]);
        let local: Vec<usize> = (0..count).collect();
        let log_r = scorer.score(z, &local, &positions[start..end], &s, values, &mut stats);
        let log_p = host(log_p);
        let log_r = host(log_r);
        for row in 0..count {
            let p = &log_p[row * n..(row + 1) * n];
            let r = &log_r[row * n..(row + 1) * n];
            let target = truth[start + row];
            let bin = bin_of(masked_counts[start + row]);
            counts[bin] += 1;
            for (score, &gamma) in scores[bin].iter_mut().zip(gammas) {
                let logits: Vec<f64> = p.iter().zip(r).map(|(p, r)| p + gamma * r).collect();
                let top = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let norm = top + logits.iter().map(|l| (l - top).exp()).sum::<f64>().ln();
                *score += logits[target] - norm;
            }
        }
    }
    let log_likelihood: Vec<f64> = (0..gammas.len())
        .map(|g| scores.iter().map(|bin| bin[g]).sum::<f64>() / rows as f64)
        .collect();
    let best = best_on_grid(gammas, &log_likelihood)?;
    let bins = scores
        .iter()
        .zip(&counts)
        .enumerate()
        .map(|(b, (score, &count))| {
            let mean: Vec<f64> = score.iter().map(|s| s / count.max(1) as f64).collect();
            Ok(GammaBin {
                progress_low: b as f64 / bins as f64,
                progress_high: (b + 1) as f64 / bins as f64,
                rows: count,
                best: if count == 0 {
                    best
                } else {
                    best_on_grid(gammas, &mean)?
                },
                log_likelihood: mean,
            })
        })
        .collect::<Result<_, GuidanceError>>()?;
    Ok(GammaFit {
        gammas: gammas.to_vec(),
        log_likelihood,
        best,
        rows,
        bins,
    })
}

fn host<B: Backend>(tensor: Tensor<B, 2>) -> Vec<f64> {
    tensor
        .into_data()
        .convert::<f64>()
        .to_vec()
        .expect("a float tensor")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A NaN score is refused (it used to win or lose depending on the ordering), `-inf`
    /// loses, and ties go to the last candidate.
    #[test]
    fn best_on_grid_refuses_nan_and_lets_minus_infinity_lose() {
        let grid = [0.0, 1.0, 2.0];
        let err = best_on_grid(&grid, &[-1.0, f64::NAN, -3.0]).unwrap_err();
        assert!(err.to_string().contains("γ = 1 is NaN"), "{err}");
        assert_eq!(
            best_on_grid(&grid, &[-1.0, f64::NEG_INFINITY, -3.0]).unwrap(),
            0.0
        );
        assert_eq!(best_on_grid(&grid, &[-1.0, -1.0, -3.0]).unwrap(), 1.0);
        assert!(best_on_grid(&grid, &[-1.0]).is_err());
        assert!(best_on_grid(&[], &[]).is_err());
    }

    /// Per-bin γ become a step schedule over progress: each bin's γ on its whole range.
    #[test]
    fn bins_give_a_step_schedule() {
        let bin = |low: f64, high: f64, best: f64| GammaBin {
            progress_low: low,
            progress_high: high,
            rows: 10,
            log_likelihood: vec![],
            best,
        };
        let fit = GammaFit {
            gammas: vec![1.0, 3.0],
            log_likelihood: vec![-1.0, -2.0],
            best: 1.0,
            rows: 20,
            bins: vec![bin(0.0, 0.5, 1.0), bin(0.5, 1.0, 3.0)],
        };
        let schedule = fit.schedule();
        schedule.validate("gamma").unwrap();
        for (progress, gamma) in [(0.0, 1.0), (0.45, 1.0), (0.5, 3.0), (0.95, 3.0), (1.0, 3.0)] {
            assert!((schedule.at(progress) - gamma).abs() < 1e-6, "{progress}");
        }
        let single = GammaFit {
            bins: vec![bin(0.0, 1.0, 3.0)],
            ..fit
        };
        assert_eq!(single.schedule(), GammaSchedule::Constant(1.0));
    }
}
