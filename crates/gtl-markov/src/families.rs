//! Families of chains used as sources and targets, as associated functions of
//! [`MarkovChain`]: `diagonal`, `dirichlet`, `mixture`, and the "poor overlap" pair built
//! from `pad_states` (source) and `with_extra_states` (target).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gamma};

use crate::{MarkovChain, MarkovError};

impl MarkovChain {
    /// Uniform initial distribution; stay with probability `d`, otherwise move to one of the
    /// other `n - 1` states uniformly. `n = 1` gives `[[1]]` for any `d`. The reference paper
    /// uses `d = 0.1` for the source and `d = 0.8` for the target.
    pub fn diagonal(n: usize, d: f64) -> Result<Self, MarkovError> {
        if n == 0 {
            return Err(MarkovError::NoStates);
        }
        if !(0.0..=1.0).contains(&d) {
            return Err(MarkovError::parameter("d", d, "in [0, 1]"));
        }
        if n == 1 {
            return Self::new(vec![1.0], vec![vec![1.0]]);
        }
        let off = (1.0 - d) / (n - 1) as f64;
        let transition = (0..n)
            .map(|i| (0..n).map(|j| if i == j { d } else { off }).collect())
            .collect();
        Self::new(vec![1.0 / n as f64; n], transition)
    }

    /// Initial distribution and every transition row drawn independently from the symmetric
    /// Dirichlet(`alpha`·1) with a `ChaCha8Rng` seeded by `seed`.
    ///
    /// Draws are normalised Gamma(`alpha`, 1) variates (rand_distr's `Dirichlet` needs N at
    /// compile time). If every variate underflows to 0 (tiny `alpha`), the row puts all its
    /// mass on one uniformly chosen state, the Dirichlet's limit as `alpha → 0`.
    pub fn dirichlet(n: usize, alpha: f64, seed: u64) -> Result<Self, MarkovError> {
        if n == 0 {
            return Err(MarkovError::NoStates);
        }
        let gamma = Gamma::new(alpha, 1.0)
            .ok()
            .filter(|_| alpha.is_finite())
            .ok_or_else(|| MarkovError::parameter("alpha", alpha, "finite and > 0"))?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut draw = || {
            let mut probs: Vec<f64> = (0..n).map(|_| gamma.sample(&mut rng)).collect();
            let total: f64 = probs.iter().sum();
            if total > 0.0 {
                probs.iter_mut().for_each(|p| *p /= total);
            } else {
                probs[rng.random_range(0..n)] = 1.0;
            }
            probs
        };
        let initial = draw();
        let transition = (0..n).map(|_| draw()).collect();
        Self::new(initial, transition)
    }

    /// The chain `(1 - λ)·A + λ·B`, mixing initial distributions and transition rows entry by
    /// entry; `a` and `b` must have the same number of states and `λ ∈ [0, 1]`.
    pub fn mixture(a: &Self, b: &Self, lambda: f64) -> Result<Self, MarkovError> {
        if a.num_states() != b.num_states() {
            return Err(MarkovError::StateCountMismatch {
                left: a.num_states(),
                right: b.num_states(),
            });
        }
        if !(0.0..=1.0).contains(&lambda) {
            return Err(MarkovError::parameter("lambda", lambda, "in [0, 1]"));
        }
        let mix = |x: &[f64], y: &[f64]| -> Vec<f64> {
            x.iter()
                .zip(y)
                .map(|(p, q)| (1.0 - lambda) * p + lambda * q)
                .collect()
        };
        let transition = a
            .transition()
            .iter()
            .zip(b.transition())
            .map(|(x, y)| mix(x, y))
            .collect();
        Self::new(mix(a.initial(), b.initial()), transition)
    }

    /// The "poor overlap" target: this chain extended by `extra` new states. Each original
    /// state moves to the new states with total probability `mass` (split evenly; its original
    /// row is scaled by `1 - mass`); a new state moves uniformly over all `N + extra` states.
    /// The initial distribution is unchanged on the original states and 0 on the new ones.
    /// `extra = 0` is allowed only with `mass = 0` (then the chain is returned unchanged).
    pub fn with_extra_states(&self, extra: usize, mass: f64) -> Result<Self, MarkovError> {
        if !(0.0..=1.0).contains(&mass) {
            return Err(MarkovError::parameter("mass", mass, "in [0, 1]"));
        }
        if extra == 0 && mass > 0.0 {
            return Err(MarkovError::parameter("mass", mass, "0 when extra = 0"));
        }
        let n = self.num_states();
        let total = n + extra;
        let mut initial = self.initial().to_vec();
        initial.resize(total, 0.0);
        let mut transition: Vec<Vec<f64>> = self
            .transition()
            .iter()
            .map(|row| {
                let mut row: Vec<f64> = row.iter().map(|p| (1.0 - mass) * p).collect();
                row.resize(total, mass / extra.max(1) as f64);
                row
            })
            .collect();
        transition.resize(total, vec![1.0 / total as f64; total]);
        Self::new(initial, transition)
    }

    /// The "poor overlap" source: the same chain over `total ≥ N` states, where the new states
    /// are never entered (initial 0, transition columns 0) and their own rows are uniform over
    /// the original N states.
    pub fn pad_states(&self, total: usize) -> Result<Self, MarkovError> {
        let n = self.num_states();
        if total < n {
            return Err(MarkovError::parameter(
                "total",
                total as f64,
                "at least the chain's number of states",
            ));
        }
        let mut initial = self.initial().to_vec();
        initial.resize(total, 0.0);
        let mut transition: Vec<Vec<f64>> = self
            .transition()
            .iter()
            .map(|row| {
                let mut row = row.clone();
                row.resize(total, 0.0);
                row
            })
            .collect();
        let mut back_to_original = vec![1.0 / n as f64; n];
        back_to_original.resize(total, 0.0);
        transition.resize(total, back_to_original);
        Self::new(initial, transition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_rows_valid(chain: &MarkovChain) {
        let valid =
            |p: &[f64]| p.iter().all(|&x| x >= 0.0) && (p.iter().sum::<f64>() - 1.0).abs() < 1e-12;
        assert!(valid(chain.initial()));
        assert!(chain.transition().iter().all(|row| valid(row)));
    }

    #[test]
    fn diagonal_has_the_stated_entries() {
        let chain = MarkovChain::diagonal(4, 0.8).unwrap();
        assert_rows_valid(&chain);
        assert_eq!(chain.initial(), &[0.25; 4]);
        for i in 0..4 {
            for j in 0..4 {
                let expected = if i == j { 0.8 } else { 0.2 / 3.0 };
                assert!((chain.transition()[i][j] - expected).abs() < 1e-15);
            }
        }
        assert_eq!(
            MarkovChain::diagonal(1, 0.3).unwrap().transition(),
            &[vec![1.0]]
        );
        let error = MarkovChain::diagonal(3, 1.5).unwrap_err().to_string();
        assert_eq!(error, "d = 1.5: must be in [0, 1]");
        assert!(MarkovChain::diagonal(0, 0.5).is_err());
    }

    #[test]
    fn dirichlet_is_valid_and_seeded() {
        for alpha in [1e-3, 0.1, 1.0, 10.0] {
            let chain = MarkovChain::dirichlet(7, alpha, 42).unwrap();
            assert_rows_valid(&chain);
            assert_eq!(chain, MarkovChain::dirichlet(7, alpha, 42).unwrap());
            assert_ne!(chain, MarkovChain::dirichlet(7, alpha, 43).unwrap());
        }
        for alpha in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(MarkovChain::dirichlet(3, alpha, 0).is_err());
        }
    }

    #[test]
    fn mixture_endpoints_are_the_components() {
        let a = MarkovChain::dirichlet(5, 1.0, 1).unwrap();
        let b = MarkovChain::diagonal(5, 0.8).unwrap();
        assert_eq!(MarkovChain::mixture(&a, &b, 0.0).unwrap(), a);
        assert_eq!(MarkovChain::mixture(&a, &b, 1.0).unwrap(), b);
        let half = MarkovChain::mixture(&a, &b, 0.5).unwrap();
        assert_rows_valid(&half);
        assert!((half.transition()[2][3] - 0.5 * (a.transition()[2][3] + 0.2 / 4.0)).abs() < 1e-15);
        assert!(MarkovChain::mixture(&a, &b, 1.1).is_err());
        let c = MarkovChain::diagonal(4, 0.8).unwrap();
        assert!(matches!(
            MarkovChain::mixture(&a, &c, 0.5),
            Err(MarkovError::StateCountMismatch { left: 5, right: 4 })
        ));
    }

    #[test]
    fn extra_states_target_has_the_stated_rows() {
        let base = MarkovChain::diagonal(3, 0.8).unwrap();
        let target = base.with_extra_states(2, 0.3).unwrap();
        assert_rows_valid(&target);
        assert_eq!(
            target.initial(),
            &[1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0, 0.0, 0.0]
        );
        assert!((target.transition()[0][0] - 0.7 * 0.8).abs() < 1e-15);
        assert!((target.transition()[0][4] - 0.15).abs() < 1e-15);
        assert_eq!(target.transition()[3], vec![0.2; 5]);
        let samples = target.sample_dataset(50, 40, 9);
        assert!(samples.iter().flatten().any(|&x| x >= 3));

        let never = base.with_extra_states(2, 0.0).unwrap();
        let samples = never.sample_dataset(200, 50, 9);
        assert!(samples.iter().flatten().all(|&x| x < 3));
        assert!(base.with_extra_states(0, 0.1).is_err());
        assert_eq!(base.with_extra_states(0, 0.0).unwrap(), base);
    }

    #[test]
    fn padded_source_never_enters_new_states() {
        let base = MarkovChain::dirichlet(3, 0.5, 4).unwrap();
        let source = base.pad_states(5).unwrap();
        assert_rows_valid(&source);
        assert_eq!(source.num_states(), 5);
        assert_eq!(
            source.transition()[4],
            vec![1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0, 0.0, 0.0]
        );
        let samples = source.sample_dataset(200, 50, 2);
        assert!(samples.iter().flatten().all(|&x| x < 3));
        // The padded chain gives the original sequences their original probability.
        for sequence in base.sample_dataset(20, 10, 3) {
            let difference = source.log_likelihood(&sequence) - base.log_likelihood(&sequence);
            assert!(difference.abs() < 1e-12);
        }
        assert_eq!(base.pad_states(3).unwrap(), base);
        assert!(base.pad_states(2).is_err());
    }
}
