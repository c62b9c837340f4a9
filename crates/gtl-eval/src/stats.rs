//! Statistics of samples of numbers: a percentile bootstrap interval of a mean (for the mean
//! P(target) and other per-sample scores), a Student-t interval of a mean (for a handful of
//! runs over seeds) and the two-sample Kolmogorov–Smirnov statistic.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::EvalError;

/// A mean with a confidence interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeanInterval {
    /// The sample mean.
    pub mean: f64,
    /// The interval's lower end.
    pub low: f64,
    /// The interval's upper end.
    pub high: f64,
}

fn check_finite(values: &[f64], what: &str) -> Result<(), EvalError> {
    match values.iter().find(|v| !v.is_finite()) {
        Some(v) => Err(EvalError::Input(format!(
            "{what}: {v} is not a finite number"
        ))),
        None => Ok(()),
    }
}

/// The `p`-quantile of sorted values, interpolating linearly between order statistics.
fn quantile(sorted: &[f64], p: f64) -> f64 {
    let h = p * (sorted.len() - 1) as f64;
    let below = h.floor() as usize;
    let above = (below + 1).min(sorted.len() - 1);
    sorted[below] + (h - below as f64) * (sorted[above] - sorted[below])
}

/// The mean of `values` with a percentile bootstrap interval at confidence `level`: the
/// `(1 ∓ level) / 2` quantiles of the means of `resamples` resamples drawn with replacement,
/// seeded by `seed`. Errors when there is no value, a value is not finite, `resamples = 0`
/// or `level` is outside (0, 1).
pub fn bootstrap_mean(
    values: &[f64],
    resamples: usize,
    level: f64,
    seed: u64,
) -> Result<MeanInterval, EvalError> {
    if values.is_empty() || resamples == 0 || !(level > 0.0 && level < 1.0) {
        return Err(EvalError::Input(format!(
            "bootstrap of {} values, {resamples} resamples, level {level}: need values, \
             resamples ≥ 1 and a level in (0, 1)",
            values.len()
        )));
    }
    check_finite(values, "bootstrap")?;
    let n = values.len();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| (0..n).map(|_| values[rng.random_range(0..n)]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(f64::total_cmp);
    Ok(MeanInterval {
        mean: values.iter().sum::<f64>() / n as f64,
        low: quantile(&means, (1.0 - level) / 2.0),
        high: quantile(&means, (1.0 + level) / 2.0),
    })
}

/// The mean of `values` (independent runs, e.g. one per seed) with the Student-t interval at
/// confidence `level`: `mean ± t_{(1+level)/2, n−1} · s / √n`, `s` the sample standard
/// deviation. Errors with fewer than two values, a non-finite value or `level` outside (0, 1).
pub fn t_interval(values: &[f64], level: f64) -> Result<MeanInterval, EvalError> {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    if values.len() < 2 || !(level > 0.0 && level < 1.0) {
        return Err(EvalError::Input(format!(
            "t interval of {} values at level {level}: need at least two values and a level \
             in (0, 1)",
            values.len()
        )));
    }
    check_finite(values, "t interval")?;
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let t = StudentsT::new(0.0, 1.0, n - 1.0)
        .map_err(|e| EvalError::Input(e.to_string()))?
        .inverse_cdf(0.5 + level / 2.0);
    let half = t * (variance / n).sqrt();
    Ok(MeanInterval {
        mean,
        low: mean - half,
        high: mean + half,
    })
}

/// The two-sample Kolmogorov–Smirnov statistic `sup_x |F_a(x) − F_b(x)|` of the empirical
/// distribution functions, in [0, 1]. Errors when a sample is empty or holds a non-finite
/// value.
pub fn ks_statistic(a: &[f64], b: &[f64]) -> Result<f64, EvalError> {
    if a.is_empty() || b.is_empty() {
        return Err(EvalError::Input(format!(
            "the KS statistic needs two non-empty samples (got {} and {})",
            a.len(),
            b.len()
        )));
    }
    check_finite(a, "KS statistic")?;
    check_finite(b, "KS statistic")?;
    let sorted = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v
    };
    let (a, b) = (sorted(a), sorted(b));
    let (mut i, mut j, mut largest) = (0, 0, 0f64);
    // Step both distribution functions past each distinct value, ties together.
    while i < a.len() && j < b.len() {
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] == x {
            i += 1;
        }
        while j < b.len() && b[j] == x {
            j += 1;
        }
        largest = largest.max((i as f64 / a.len() as f64 - j as f64 / b.len() as f64).abs());
    }
    Ok(largest)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brute force: the largest gap over every observed value, with the distribution
    /// functions counted directly.
    #[test]
    fn ks_matches_brute_force_with_ties() {
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        for _ in 0..200 {
            let (na, nb) = (rng.random_range(1..15), rng.random_range(1..15));
            let mut draw = |n| -> Vec<f64> {
                (0..n)
                    .map(|_| f64::from(rng.random_range(0..6u32)))
                    .collect()
            };
            let (a, b) = (draw(na), draw(nb));
            let cdf =
                |v: &[f64], x: f64| v.iter().filter(|&&y| y <= x).count() as f64 / v.len() as f64;
            let brute = a
                .iter()
                .chain(&b)
                .map(|&x| (cdf(&a, x) - cdf(&b, x)).abs())
                .fold(0.0, f64::max);
            assert!((ks_statistic(&a, &b).unwrap() - brute).abs() < 1e-12);
        }
        assert_eq!(ks_statistic(&[1.0, 2.0], &[2.0, 1.0]).unwrap(), 0.0);
        assert_eq!(ks_statistic(&[1.0, 2.0], &[3.0]).unwrap(), 1.0);
        assert!(ks_statistic(&[], &[1.0]).is_err());
        assert!(ks_statistic(&[f64::NAN], &[1.0]).is_err());
    }

    /// Over 400 data sets of 50 exponential values (true mean 1), the 90 % interval covers
    /// the true mean in 82–96 % of them: the binomial standard error of the coverage is
    /// 1.5 %, and the percentile bootstrap under-covers a skewed mean by a few percent at
    /// n = 50. Its width is near that of the normal interval, 2 · 1.645 · σ/√50 = 0.465.
    /// Against the printed table (t_{0.975, 4} = 2.7764, t_{0.95, 9} = 1.8331) and a hand
    /// computation; and the coverage of normal samples of five at 95 % over 4,000 draws is
    /// within 4.5 binomial standard deviations (0.0034) of 0.95.
    #[test]
    fn t_intervals_match_the_table_and_cover_at_their_level() {
        let ci = t_interval(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.95).unwrap();
        // mean 3, s = √2.5, half = 2.7764 · √(2.5 / 5)
        assert!((ci.mean - 3.0).abs() < 1e-12);
        assert!(
            (ci.high - 3.0 - 2.7764 * 0.5f64.sqrt()).abs() < 1e-3,
            "{ci:?}"
        );
        let ten: Vec<f64> = (0..10).map(f64::from).collect();
        let ci = t_interval(&ten, 0.9).unwrap();
        let s = (ten.iter().map(|v| (v - 4.5).powi(2)).sum::<f64>() / 9.0).sqrt();
        assert!(
            (ci.high - 4.5 - 1.8331 * s / 10f64.sqrt()).abs() < 1e-3,
            "{ci:?}"
        );
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let trials = 4000;
        let covered = (0..trials)
            .filter(|_| {
                let draws: Vec<f64> = (0..5)
                    .map(|_| {
                        // Box–Muller: standard normal draws around 10.
                        let (u, v): (f64, f64) = (rng.random(), rng.random());
                        10.0 + (-2.0 * (1.0 - u).ln()).sqrt() * (std::f64::consts::TAU * v).cos()
                    })
                    .collect();
                let ci = t_interval(&draws, 0.95).unwrap();
                ci.low <= 10.0 && 10.0 <= ci.high
            })
            .count() as f64
            / trials as f64;
        assert!(
            (covered - 0.95).abs() < 4.5 * (0.95f64 * 0.05 / 4000.0).sqrt(),
            "{covered}"
        );
        assert!(t_interval(&[1.0], 0.95).is_err());
        assert!(t_interval(&[1.0, f64::NAN], 0.95).is_err());
    }

    #[test]
    fn bootstrap_intervals_cover_the_mean() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut covered = 0;
        let mut width = 0.0;
        for seed in 0..400 {
            let values: Vec<f64> = (0..50).map(|_| -(1.0 - rng.random::<f64>()).ln()).collect();
            let ci = bootstrap_mean(&values, 500, 0.9, seed).unwrap();
            assert!(ci.low <= ci.mean && ci.mean <= ci.high);
            covered += usize::from(ci.low <= 1.0 && 1.0 <= ci.high);
            width += (ci.high - ci.low) / 400.0;
        }
        let coverage = covered as f64 / 400.0;
        assert!((0.82..=0.96).contains(&coverage), "coverage {coverage}");
        assert!((width - 0.465).abs() < 0.05, "width {width}");
        let constant = bootstrap_mean(&[0.25; 10], 100, 0.95, 0).unwrap();
        assert_eq!((constant.low, constant.high), (0.25, 0.25));
        assert_eq!(
            bootstrap_mean(&[1.0, 5.0, 2.0], 200, 0.8, 7).unwrap(),
            bootstrap_mean(&[1.0, 5.0, 2.0], 200, 0.8, 7).unwrap()
        );
        assert!(bootstrap_mean(&[], 100, 0.9, 0).is_err());
        assert!(bootstrap_mean(&[1.0], 100, 1.0, 0).is_err());
    }
}
