//! The error of a `log h_t` estimate against the exact Markov one, by t (MATH.md §5, §7).

use std::path::Path;

use burn::prelude::*;
use gtl_classifier::{RatioModel, log_ratios};
use gtl_diffusion::sampler::{tensor_tokens, tokens_tensor};
use gtl_diffusion::{Process, antithetic_times};
use gtl_oracle::MarkovLogRatio;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::{Cell, EvalError, Table};

/// The error of a `log h_t` estimate against the exact one in one t-bin on one domain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorBin {
    /// Whose sequences were noised ("source" or "target").
    pub domain: String,
    /// Lower edge of the bin (inclusive).
    pub t_low: f64,
    /// Upper edge of the bin.
    pub t_high: f64,
    /// Sequences in the bin (those with a finite exact `log h_t`).
    pub count: usize,
    /// Mean squared error of the estimate against the exact `log h_t`.
    pub mse: f64,
    /// Mean error (estimate - exact).
    pub bias: f64,
    /// MSE minus bias²: the part a guided sampler sees (a constant offset cancels there).
    pub error_variance: f64,
    /// Variance of the exact `log h_t` in the bin: the MSE of the best constant guess.
    pub exact_variance: f64,
}

impl ErrorBin {
    /// Whether this is the all-t row of its domain.
    pub fn is_overall(&self) -> bool {
        self.t_low == 0.0 && self.t_high == 1.0
    }

    fn from_pairs(domain: &str, t_low: f64, t_high: f64, pairs: &[(f64, f64)]) -> Self {
        let count = pairs.len();
        let n = count.max(1) as f64;
        let mse = pairs.iter().map(|(e, x)| (e - x).powi(2)).sum::<f64>() / n;
        let bias = pairs.iter().map(|(e, x)| e - x).sum::<f64>() / n;
        let exact_mean = pairs.iter().map(|(_, x)| x).sum::<f64>() / n;
        let exact_variance = pairs
            .iter()
            .map(|(_, x)| (x - exact_mean).powi(2))
            .sum::<f64>()
            / n;
        ErrorBin {
            domain: domain.to_string(),
            t_low,
            t_high,
            count,
            mse,
            bias,
            error_variance: mse - bias * bias,
            exact_variance,
        }
    }
}

/// Scores `model` against the exact ratio on each named set of clean sequences: every
/// sequence is noised once at stratified times in `[t_min, 1]` (`seed` fixes the times and
/// the corruption, so estimators scored with one seed see the same noisy sequences), and the
/// pairs are binned into `bins` equal t-bins; the last row of each domain covers all t.
/// Sequences whose exact `log h_t` is infinite (off the source's support) are left out.
pub fn ratio_error<B: Backend>(
    model: &dyn RatioModel<B>,
    exact: &MarkovLogRatio,
    process: &Process,
    domains: &[(&str, &[Vec<u32>])],
    bins: usize,
    seed: u64,
    device: &B::Device,
) -> Vec<ErrorBin> {
    assert!(bins >= 1, "ratio_error needs at least one t-bin");
    let mut rows = Vec::new();
    for &(domain, sequences) in domains {
        let count = sequences.len();
        if count == 0 {
            continue;
        }
        let length = sequences[0].len();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let t = antithetic_times(count, process.schedule.min_training_time(), 0.5);
        let flat: Vec<u32> = sequences.iter().flatten().copied().collect();
        let x0 = tokens_tensor::<B>(&flat, count, length, device);
        let z_flat = tensor_tokens(process.corrupt(x0, &t, &mut rng));
        let z: Vec<Vec<u32>> = z_flat.chunks(length).map(<[u32]>::to_vec).collect();
        let borrowed: Vec<&[u32]> = z.iter().map(Vec::as_slice).collect();
        let exact_values = exact.log_h(&borrowed, &t);
        let estimates = log_ratios(model, &z, &t, device);
        let mut binned: Vec<Vec<(f64, f64)>> = vec![Vec::new(); bins];
        for ((&t, &exact), &estimate) in t.iter().zip(&exact_values).zip(&estimates) {
            if exact.is_finite() {
                let bin = ((t * bins as f64) as usize).min(bins - 1);
                binned[bin].push((estimate, exact));
            }
        }
        let all: Vec<(f64, f64)> = binned.iter().flatten().copied().collect();
        for (index, pairs) in binned.iter().enumerate() {
            let low = index as f64 / bins as f64;
            rows.push(ErrorBin::from_pairs(
                domain,
                low,
                (index + 1) as f64 / bins as f64,
                pairs,
            ));
        }
        rows.push(ErrorBin::from_pairs(domain, 0.0, 1.0, &all));
    }
    rows
}

/// Reads error bins written by [`write_error_csv`].
pub fn read_error_csv(path: &Path) -> Result<Vec<ErrorBin>, EvalError> {
    let mut reader = csv::Reader::from_path(path)?;
    Ok(reader.deserialize().collect::<Result<_, _>>()?)
}

/// The columns of an error-bin table, in the order of [`ErrorBin::cells`].
pub const ERROR_COLUMNS: [&str; 8] = [
    "domain",
    "t_low",
    "t_high",
    "count",
    "mse",
    "bias",
    "error_variance",
    "exact_variance",
];

impl ErrorBin {
    /// The bin as table cells, in the order of [`ERROR_COLUMNS`].
    pub fn cells(&self) -> [Cell; 8] {
        [
            self.domain.clone().into(),
            self.t_low.into(),
            self.t_high.into(),
            self.count.into(),
            self.mse.into(),
            self.bias.into(),
            self.error_variance.into(),
            self.exact_variance.into(),
        ]
    }
}

/// Writes error bins as CSV, one row per domain and t-bin.
pub fn write_error_csv(path: &Path, rows: &[ErrorBin]) -> Result<(), EvalError> {
    let mut table = Table::new(ERROR_COLUMNS);
    for r in rows {
        table.push(r.cells());
    }
    table.write_csv(path)
}

#[cfg(test)]
mod tests {
    use burn::backend::NdArray;
    use gtl_diffusion::{ProcessKind, Schedule};
    use gtl_markov::MarkovChain;

    use super::*;

    /// The exact ratio scores zero error everywhere; the exact ratio plus 2 scores MSE 4,
    /// bias 2 and error variance 0; each bin's count adds up to the all-t row.
    #[test]
    fn the_exact_ratio_has_no_error_and_a_shift_is_pure_bias() {
        let source = MarkovChain::diagonal(3, 0.2).unwrap();
        let target = MarkovChain::diagonal(3, 0.8).unwrap();
        let process = Process::new(ProcessKind::Absorbing, 3, Schedule::default()).unwrap();
        let exact = MarkovLogRatio::new(source.clone(), target.clone(), process).unwrap();
        let shifted = Shifted(&exact);
        let data = target.sample_dataset(200, 6, 4);
        let device = Default::default();
        let domains = [("target", data.as_slice())];
        let rows = ratio_error::<NdArray>(&exact, &exact, &process, &domains, 4, 1, &device);
        assert_eq!(rows.len(), 5);
        assert!(rows.iter().all(|r| r.mse < 1e-9));
        let rows = ratio_error::<NdArray>(&shifted, &exact, &process, &domains, 4, 1, &device);
        let path = std::env::temp_dir().join(format!("gtl-eval-bins-{}.csv", std::process::id()));
        write_error_csv(&path, &rows).unwrap();
        assert_eq!(read_error_csv(&path).unwrap(), rows);
        let _ = std::fs::remove_file(&path);
        let all = rows.iter().find(|r| r.is_overall()).unwrap();
        assert_eq!(all.count, 200);
        assert_eq!(rows[..4].iter().map(|r| r.count).sum::<usize>(), 200);
        assert!((all.mse - 4.0).abs() < 1e-6 && (all.bias - 2.0).abs() < 1e-6);
        assert!(all.error_variance.abs() < 1e-6);
        assert!(all.exact_variance > 0.1);
    }

    struct Shifted<'a>(&'a MarkovLogRatio);

    impl<B: Backend> RatioModel<B> for Shifted<'_> {
        fn log_ratio(&self, tokens: Tensor<B, 2, Int>, t: Tensor<B, 1>) -> Tensor<B, 1> {
            RatioModel::<B>::log_ratio(self.0, tokens, t).add_scalar(2.0)
        }
    }
}
