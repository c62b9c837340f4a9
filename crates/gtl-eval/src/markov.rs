//! Exact scores of samples against the target and source Markov chains (MATH.md §7).

use gtl_markov::MarkovChain;
use gtl_markov::metrics::{
    MAX_ENUMERATED, chi_square, empirical_transition, per_token_nll, total_variation,
    transition_error,
};
use serde::{Deserialize, Serialize};

use crate::EvalError;

/// How far a sample set is from the target chain, and how close to the source.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MarkovScores {
    /// Sequences scored.
    pub samples: usize,
    /// Mean absolute error of the empirical transition matrix against the target's.
    pub transition_mean_error: f64,
    /// Largest absolute error of an entry of the empirical transition matrix.
    pub transition_max_error: f64,
    /// Mean diagonal of the empirical transition matrix (the reference paper's metric).
    pub mean_diagonal: f64,
    /// Mean diagonal of the target chain, for comparison.
    pub target_mean_diagonal: f64,
    /// Negative log-likelihood per token under the target chain (∞ off its support).
    pub nll_target: f64,
    /// Negative log-likelihood per token under the source chain (∞ off its support).
    pub nll_source: f64,
    /// Total variation to the enumerated target distribution, when `N^L ≤ 10^6`.
    pub tv: Option<f64>,
    /// Chi-square goodness-of-fit p-value against the target, when `N^L ≤ 10^6`.
    pub chi_square_p: Option<f64>,
    /// The empirical transition matrix, rows = from-state.
    pub transition: Vec<Vec<f64>>,
}

impl MarkovScores {
    /// Scores `samples` (every one of `length` tokens below the chains' state count).
    pub fn compute(
        samples: &[Vec<u32>],
        target: &MarkovChain,
        source: &MarkovChain,
        length: usize,
    ) -> Result<Self, EvalError> {
        let n = target.num_states();
        if samples.is_empty() {
            return Err(EvalError::Input("no samples to score".into()));
        }
        if let Some(bad) = samples
            .iter()
            .find(|s| s.len() != length || s.iter().any(|&x| x as usize >= n))
        {
            return Err(EvalError::Input(format!(
                "sample {bad:?}: expected {length} tokens, each below {n}"
            )));
        }
        let error = transition_error(samples, target);
        let enumerable = u32::try_from(length)
            .ok()
            .and_then(|l| n.checked_pow(l))
            .is_some_and(|count| count <= MAX_ENUMERATED);
        let (tv, chi_square_p) = if enumerable {
            (
                Some(total_variation(samples, target, length)?),
                Some(chi_square(samples, target, length)?.p_value),
            )
        } else {
            (None, None)
        };
        let diagonal = (0..n).map(|i| target.transition()[i][i]).sum::<f64>() / n as f64;
        Ok(MarkovScores {
            samples: samples.len(),
            transition_mean_error: error.mean_abs,
            transition_max_error: error.max_abs,
            mean_diagonal: error.mean_diagonal,
            target_mean_diagonal: diagonal,
            nll_target: per_token_nll(samples, target),
            nll_source: per_token_nll(samples, source),
            tv,
            chi_square_p,
            transition: empirical_transition(samples, n),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scores of a tiny hand-made set, computed by hand.
    #[test]
    fn scores_of_a_hand_made_set() {
        let target = MarkovChain::diagonal(2, 0.75).unwrap();
        let source = MarkovChain::diagonal(2, 0.5).unwrap();
        // Transitions: 0→0, 0→1, 1→1, 1→1: rows [1/2, 1/2] and [0, 1].
        let samples = vec![vec![0, 0, 1], vec![1, 1, 1]];
        let s = MarkovScores::compute(&samples, &target, &source, 3).unwrap();
        assert_eq!(s.transition, vec![vec![0.5, 0.5], vec![0.0, 1.0]]);
        assert!((s.mean_diagonal - 0.75).abs() < 1e-12);
        let errors = [0.25, 0.25, 0.25, 0.25];
        assert!((s.transition_mean_error - errors.iter().sum::<f64>() / 4.0).abs() < 1e-12);
        assert!((s.transition_max_error - 0.25).abs() < 1e-12);
        // Target log-likelihood: 2·ln(1/2) + ln .75 + ln .25 + 2 ln .75 over 6 tokens.
        let ll = 2.0 * 0.5f64.ln() + 3.0 * 0.75f64.ln() + 0.25f64.ln();
        assert!((s.nll_target + ll / 6.0).abs() < 1e-12);
        assert!((s.nll_source + (6.0 * 0.5f64.ln()) / 6.0).abs() < 1e-12);
        // 2^3 = 8 sequences: TV = ½ Σ |p̂ - p|, p(001) = .5·.75·.25, p(111) = .5·.75².
        let (p1, p2) = (0.5 * 0.75 * 0.25, 0.5 * 0.75 * 0.75);
        let tv = 0.5 * ((0.5 - p1) + (0.5 - p2) + (1.0 - p1 - p2));
        assert!((s.tv.unwrap() - tv).abs() < 1e-12);
        assert!(s.chi_square_p.is_some());
        let err = MarkovScores::compute(&[vec![0, 2, 1]], &target, &source, 3).unwrap_err();
        assert!(err.to_string().contains("each below 2"), "{err}");
    }

    #[test]
    fn long_sequences_are_not_enumerated() {
        let target = MarkovChain::diagonal(5, 0.8).unwrap();
        let samples = target.sample_dataset(50, 20, 3);
        let s = MarkovScores::compute(&samples, &target, &target, 20).unwrap();
        assert!(s.tv.is_none() && s.chi_square_p.is_none());
        assert_eq!(s.nll_target, s.nll_source);
    }
}
