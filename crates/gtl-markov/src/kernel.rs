//! Per-token corruption kernels `P_t(z | x)` in closed form (MATH.md §2).

use crate::MarkovError;
use crate::chain::SUM_TOLERANCE;

/// A per-token corruption kernel `P(z | x)` over the real states `0..N` and the mask symbol
/// `N`, described by its three distinct values.
///
/// For a real `x`: `P(x | x) = stay`, `P(y | x) = jump` for every real `y ≠ x`, and
/// `P(N | x) = to_mask`. The mask symbol stays the mask. Observed symbols are `0..=N`.
///
/// The constructors panic on arguments outside their domain (documented on each); a kernel
/// built by hand can be checked with [`TokenKernel::validate`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TokenKernel {
    /// Number of real states N; the mask symbol is `N`.
    pub num_states: usize,
    /// Probability that a real token is kept.
    pub stay: f64,
    /// Probability that a real token becomes one particular other real token.
    pub jump: f64,
    /// Probability that a real token becomes the mask.
    pub to_mask: f64,
}

impl TokenKernel {
    /// The absorbing (masked) process at total noise `σ̄`: keep with `e^{-σ̄}`, mask otherwise.
    ///
    /// # Panics
    /// If `n = 0` or `sigma_bar` is negative or NaN.
    pub fn absorbing(n: usize, sigma_bar: f64) -> Self {
        check_arguments(n, sigma_bar);
        Self {
            num_states: n,
            stay: (-sigma_bar).exp(),
            jump: 0.0,
            to_mask: -(-sigma_bar).exp_m1(),
        }
    }

    /// The uniform process at total noise `σ̄`: `P(z | x) = e^{-σ̄} δ(z, x) + (1 - e^{-σ̄}) / N`;
    /// the mask is never produced.
    ///
    /// # Panics
    /// If `n = 0` or `sigma_bar` is negative or NaN.
    pub fn uniform(n: usize, sigma_bar: f64) -> Self {
        check_arguments(n, sigma_bar);
        let jump = -(-sigma_bar).exp_m1() / n as f64;
        Self {
            num_states: n,
            stay: (-sigma_bar).exp() + jump,
            jump,
            to_mask: 0.0,
        }
    }

    /// The roulette process (rate `(1 - p_m) Q_unif + p_m Q_abs`) at total noise `σ̄`: with
    /// `g = 1 - p_m`, `to_mask = 1 - e^{-p_m σ̄}`, `jump = e^{-p_m σ̄}(1 - e^{-g σ̄}) / N` and
    /// `stay = e^{-σ̄} + jump`. `mask_rate = 1` is the absorbing process.
    ///
    /// # Panics
    /// If `n = 0`, `sigma_bar` is negative or NaN, or `mask_rate` is not in `(0, 1]`.
    pub fn roulette(n: usize, sigma_bar: f64, mask_rate: f64) -> Self {
        check_arguments(n, sigma_bar);
        assert!(
            mask_rate > 0.0 && mask_rate <= 1.0,
            "mask_rate = {mask_rate}: must be in (0, 1]"
        );
        let keep_unmasked = (-mask_rate * sigma_bar).exp();
        let jump = keep_unmasked * -(-(1.0 - mask_rate) * sigma_bar).exp_m1() / n as f64;
        Self {
            num_states: n,
            stay: (-sigma_bar).exp() + jump,
            jump,
            to_mask: -(-mask_rate * sigma_bar).exp_m1(),
        }
    }

    /// The mask symbol, `N`.
    pub fn mask(&self) -> u32 {
        self.num_states as u32
    }

    /// `P(z | x)` for `z, x ∈ 0..=N`; 0 when either symbol is outside `0..=N`.
    pub fn prob(&self, z: u32, x: u32) -> f64 {
        let mask = self.mask();
        match (z, x) {
            _ if z > mask || x > mask => 0.0,
            (_, x) if x == mask => f64::from(u8::from(z == mask)),
            (z, _) if z == mask => self.to_mask,
            (z, x) if z == x => self.stay,
            _ => self.jump,
        }
    }

    /// `log P(z | x)`; `-inf` where the probability is 0.
    pub fn log_prob(&self, z: u32, x: u32) -> f64 {
        self.prob(z, x).ln()
    }

    /// Checks that N ≥ 1, every probability is finite and non-negative, and the column of a
    /// real state, `stay + (N - 1)·jump + to_mask`, sums to 1 within 1e-9.
    pub fn validate(&self) -> Result<(), MarkovError> {
        if self.num_states == 0 {
            return Err(MarkovError::NoStates);
        }
        for (name, value) in [
            ("kernel stay", self.stay),
            ("kernel jump", self.jump),
            ("kernel to_mask", self.to_mask),
        ] {
            if !value.is_finite() || value < 0.0 {
                return Err(MarkovError::parameter(name, value, "finite and >= 0"));
            }
        }
        let sum = self.stay + (self.num_states - 1) as f64 * self.jump + self.to_mask;
        if (sum - 1.0).abs() > SUM_TOLERANCE {
            return Err(MarkovError::NotNormalized {
                what: "kernel column".to_string(),
                sum,
            });
        }
        Ok(())
    }
}

fn check_arguments(n: usize, sigma_bar: f64) {
    assert!(n >= 1, "num_states = 0: must be at least 1");
    assert!(sigma_bar >= 0.0, "sigma_bar = {sigma_bar}: must be >= 0");
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGMAS: [f64; 6] = [0.0, 1e-6, 0.05, 0.7, 3.0, 40.0];

    fn all_kernels(n: usize, sigma_bar: f64) -> [TokenKernel; 4] {
        [
            TokenKernel::absorbing(n, sigma_bar),
            TokenKernel::uniform(n, sigma_bar),
            TokenKernel::roulette(n, sigma_bar, 0.7),
            TokenKernel::roulette(n, sigma_bar, 0.95),
        ]
    }

    /// `exp(A)` for a small dense matrix by scaling, a 30-term Taylor series and squaring.
    fn dense_exp(a: &[Vec<f64>]) -> Vec<Vec<f64>> {
        let n = a.len();
        let norm = a
            .iter()
            .map(|r| r.iter().map(|x| x.abs()).sum::<f64>())
            .fold(0.0, f64::max);
        let squarings = (norm / 0.25).log2().ceil().max(0.0) as i32;
        let scale = 0.5f64.powi(squarings);
        let matmul = |x: &[Vec<f64>], y: &[Vec<f64>]| -> Vec<Vec<f64>> {
            (0..n)
                .map(|i| {
                    (0..n)
                        .map(|j| (0..n).map(|k| x[i][k] * y[k][j]).sum())
                        .collect()
                })
                .collect()
        };
        let scaled: Vec<Vec<f64>> = a
            .iter()
            .map(|r| r.iter().map(|x| x * scale).collect())
            .collect();
        let identity: Vec<Vec<f64>> = (0..n)
            .map(|i| (0..n).map(|j| f64::from(u8::from(i == j))).collect())
            .collect();
        let mut result = identity.clone();
        let mut term = identity;
        for k in 1..30 {
            term = matmul(&term, &scaled);
            term.iter_mut().flatten().for_each(|x| *x /= k as f64);
            for (r, t) in result.iter_mut().flatten().zip(term.iter().flatten()) {
                *r += t;
            }
        }
        for _ in 0..squarings {
            result = matmul(&result, &result);
        }
        result
    }

    /// The rate matrix over `0..=N` (columns are the current symbol) of the roulette process;
    /// `mask_rate = 1` is absorbing and `mask_rate = 0` uniform.
    fn rate_matrix(n: usize, mask_rate: f64) -> Vec<Vec<f64>> {
        let mut q = vec![vec![0.0; n + 1]; n + 1];
        for x in 0..n {
            for (y, row) in q.iter_mut().enumerate().take(n) {
                row[x] += (1.0 - mask_rate) / n as f64;
                if y == x {
                    row[x] -= 1.0 - mask_rate;
                }
            }
            q[n][x] += mask_rate;
            q[x][x] -= mask_rate;
        }
        q
    }

    #[test]
    fn every_column_sums_to_one() {
        for n in [1, 2, 5, 64, 1000] {
            for sigma_bar in SIGMAS {
                for kernel in all_kernels(n, sigma_bar) {
                    kernel.validate().unwrap();
                    for x in [0, n as u32 - 1, n as u32] {
                        let column: f64 = (0..=n as u32).map(|z| kernel.prob(z, x)).sum();
                        assert!(
                            (column - 1.0).abs() < 1e-12,
                            "{kernel:?} column {x}: {column}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn kernels_match_the_dense_matrix_exponential() {
        let n = 3;
        for sigma_bar in [0.05, 0.7, 3.0] {
            for (mask_rate, kernel) in [
                (1.0, TokenKernel::absorbing(n, sigma_bar)),
                (0.0, TokenKernel::uniform(n, sigma_bar)),
                (0.7, TokenKernel::roulette(n, sigma_bar, 0.7)),
            ] {
                let q = rate_matrix(n, mask_rate);
                let scaled: Vec<Vec<f64>> = q
                    .iter()
                    .map(|r| r.iter().map(|x| x * sigma_bar).collect())
                    .collect();
                let dense = dense_exp(&scaled);
                for (z, dense_row) in dense.iter().enumerate() {
                    for (x, &expected) in dense_row.iter().enumerate() {
                        let closed = kernel.prob(z as u32, x as u32);
                        if mask_rate == 0.0 && (z == n || x == n) {
                            // The uniform process has no mask; its closed form lets the mask stay.
                            continue;
                        }
                        assert!((closed - expected).abs() < 1e-12, "{kernel:?} P({z}|{x})");
                    }
                }
            }
        }
    }

    #[test]
    fn roulette_limits() {
        for sigma_bar in SIGMAS {
            let absorbing = TokenKernel::absorbing(5, sigma_bar);
            let roulette = TokenKernel::roulette(5, sigma_bar, 1.0);
            assert_eq!(roulette.to_mask, absorbing.to_mask);
            assert_eq!(roulette.jump, 0.0);
            assert!((roulette.stay - absorbing.stay).abs() < 1e-15);
            // As p_m → 0 the roulette kernel tends to the uniform one.
            let nearly_uniform = TokenKernel::roulette(5, sigma_bar, 1e-12);
            let uniform = TokenKernel::uniform(5, sigma_bar);
            assert!((nearly_uniform.stay - uniform.stay).abs() < 1e-9);
            assert!((nearly_uniform.jump - uniform.jump).abs() < 1e-9);
            assert!(nearly_uniform.to_mask < 1e-9);
        }
    }

    #[test]
    fn prob_handles_mask_and_out_of_range_symbols() {
        let kernel = TokenKernel::roulette(4, 0.7, 0.7);
        assert_eq!(kernel.prob(4, 4), 1.0);
        assert_eq!(kernel.prob(2, 4), 0.0);
        assert_eq!(kernel.prob(5, 0), 0.0);
        assert_eq!(kernel.prob(0, 5), 0.0);
        assert_eq!(kernel.log_prob(2, 4), f64::NEG_INFINITY);
        assert_eq!(kernel.log_prob(1, 1), kernel.stay.ln());
        assert_eq!(
            TokenKernel::absorbing(4, 0.7).log_prob(1, 2),
            f64::NEG_INFINITY
        );
    }

    #[test]
    fn validate_rejects_bad_kernels() {
        let good = TokenKernel::uniform(3, 0.5);
        let negative = TokenKernel { jump: -0.1, ..good };
        let message = negative.validate().unwrap_err().to_string();
        assert_eq!(message, "kernel jump = -0.1: must be finite and >= 0");
        let unnormalised = TokenKernel {
            stay: good.stay + 0.01,
            ..good
        };
        let message = unnormalised.validate().unwrap_err().to_string();
        assert!(
            message.starts_with("kernel column sums to 1.01"),
            "{message}"
        );
        assert!(
            TokenKernel {
                num_states: 0,
                ..good
            }
            .validate()
            .is_err()
        );
    }

    #[test]
    #[should_panic(expected = "mask_rate = 0: must be in (0, 1]")]
    fn roulette_rejects_zero_mask_rate() {
        let _ = TokenKernel::roulette(3, 0.5, 0.0);
    }
}
