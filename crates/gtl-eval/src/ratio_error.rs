//! The error of a `log h_t` estimate against the exact one, by t (MATH.md §5, §7): the bins
//! and their tables. The estimates themselves come from a ratio model (gtl-oracle's
//! `ratio_error` scores one against the exact Markov `log h_t`).

use std::path::Path;

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

    /// The bin of `(estimate, exact)` pairs of `domain` between `t_low` and `t_high`.
    pub fn from_pairs(domain: &str, t_low: f64, t_high: f64, pairs: &[(f64, f64)]) -> Self {
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

/// Bins `(t, estimate, exact)` triples of one domain into `bins` equal t-bins plus an all-t
/// row (the last), leaving out pairs whose exact value is not finite.
///
/// # Panics
/// If `bins` is 0.
pub fn bin_errors(domain: &str, triples: &[(f64, f64, f64)], bins: usize) -> Vec<ErrorBin> {
    assert!(bins >= 1, "error bins need at least one t-bin");
    let mut binned: Vec<Vec<(f64, f64)>> = vec![Vec::new(); bins];
    for &(t, estimate, exact) in triples {
        if exact.is_finite() {
            let bin = ((t * bins as f64) as usize).min(bins - 1);
            binned[bin].push((estimate, exact));
        }
    }
    let all: Vec<(f64, f64)> = binned.iter().flatten().copied().collect();
    let mut rows: Vec<ErrorBin> = binned
        .iter()
        .enumerate()
        .map(|(index, pairs)| {
            let low = index as f64 / bins as f64;
            ErrorBin::from_pairs(domain, low, (index + 1) as f64 / bins as f64, pairs)
        })
        .collect();
    rows.push(ErrorBin::from_pairs(domain, 0.0, 1.0, &all));
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
    use super::*;

    /// Pairs land in the bin of their t, non-finite exact values are left out, the all-t row
    /// pools every bin, and a constant shift is pure bias.
    #[test]
    fn bins_pool_into_the_all_t_row_and_a_shift_is_bias() {
        let triples = [
            (0.1, 3.0, 1.0),
            (0.2, 4.0, 2.0),
            (0.7, 5.0, 3.0),
            (0.9, 0.0, f64::INFINITY),
        ];
        let rows = bin_errors("target", &triples, 2);
        assert_eq!(rows.len(), 3);
        assert_eq!((rows[0].count, rows[1].count, rows[2].count), (2, 1, 3));
        let all = &rows[2];
        assert!(all.is_overall() && !rows[0].is_overall());
        assert!((all.mse - 4.0).abs() < 1e-12 && (all.bias - 2.0).abs() < 1e-12);
        assert!(all.error_variance.abs() < 1e-12);
        // Exact values 1, 2, 3: population variance 2/3.
        assert!((all.exact_variance - 2.0 / 3.0).abs() < 1e-12);
        let path = std::env::temp_dir().join(format!("gtl-eval-bins-{}.csv", std::process::id()));
        write_error_csv(&path, &rows).unwrap();
        assert_eq!(read_error_csv(&path).unwrap(), rows);
        let _ = std::fs::remove_file(&path);
    }
}
