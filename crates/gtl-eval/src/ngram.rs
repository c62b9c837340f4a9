//! An n-gram language model with interpolated Witten–Bell smoothing. Fitted on one set of
//! token sequences and scored on another it gives the "reverse" likelihood of generated
//! text: how well a model of the samples explains real sequences. The score is conditional
//! (next token given the preceding ones), so it does not depend on which tokens happen to
//! dominate individual sequences, and it punishes both missing and over-sharpened
//! continuations.

use std::collections::HashMap;

use crate::EvalError;

/// Counts of the tokens that followed one context.
#[derive(Clone, Debug, Default)]
struct Followers {
    total: f64,
    next: HashMap<u32, f64>,
}

/// An order-`n` model over tokens `0..vocab`: `P(w | h)` for contexts `h` of up to `n - 1`
/// preceding tokens, by Witten–Bell interpolation
/// `P(w | h) = (c(h, w) + T(h) · P(w | h')) / (c(h) + T(h))`, where `h'` drops the oldest token
/// of `h`, `T(h)` is the number of distinct tokens seen after `h`, and the empty context
/// interpolates with the uniform distribution. An unseen context falls back to `h'`. Tokens
/// near the start of a sequence use the shorter context they have.
#[derive(Clone, Debug)]
pub struct NgramModel {
    order: usize,
    vocab: usize,
    contexts: HashMap<Vec<u32>, Followers>,
}

impl NgramModel {
    /// Counts every n-gram of `sequences`. Errors when `order` or `vocab` is 0, when there
    /// is no token, or when a token is `≥ vocab`.
    pub fn fit(sequences: &[Vec<u32>], order: usize, vocab: usize) -> Result<Self, EvalError> {
        if order == 0 || vocab == 0 {
            return Err(EvalError::Input(format!(
                "an n-gram model needs order ≥ 1 and a vocabulary (got order {order}, \
                 vocabulary {vocab})"
            )));
        }
        check_tokens(sequences, vocab)?;
        if sequences.iter().all(Vec::is_empty) {
            return Err(EvalError::Input(
                "an n-gram model needs a token to count".into(),
            ));
        }
        let mut contexts: HashMap<Vec<u32>, Followers> = HashMap::new();
        for sequence in sequences {
            for (i, &token) in sequence.iter().enumerate() {
                for width in 0..order.min(i + 1) {
                    let entry = contexts.entry(sequence[i - width..i].to_vec()).or_default();
                    entry.total += 1.0;
                    *entry.next.entry(token).or_default() += 1.0;
                }
            }
        }
        Ok(NgramModel {
            order,
            vocab,
            contexts,
        })
    }

    /// The model's order n.
    pub fn order(&self) -> usize {
        self.order
    }

    /// `log P(token | the last n - 1 tokens of preceding)`.
    ///
    /// # Panics
    /// If `token ≥ vocab`.
    pub fn log_prob(&self, preceding: &[u32], token: u32) -> f64 {
        assert!(
            (token as usize) < self.vocab,
            "token {token} ≥ {}",
            self.vocab
        );
        let width = preceding.len().min(self.order - 1);
        let mut p = 1.0 / self.vocab as f64;
        for start in (preceding.len() - width..=preceding.len()).rev() {
            if let Some(f) = self.contexts.get(&preceding[start..]) {
                let seen = f.next.len() as f64;
                let count = f.next.get(&token).copied().unwrap_or(0.0);
                p = (count + seen * p) / (f.total + seen);
            }
        }
        p.ln()
    }

    /// Mean log-probability per token of `sequences` (each token given its preceding ones
    /// in its own sequence). Errors when there is no token or a token is `≥ vocab`.
    pub fn mean_log_likelihood(&self, sequences: &[Vec<u32>]) -> Result<f64, EvalError> {
        check_tokens(sequences, self.vocab)?;
        let tokens: usize = sequences.iter().map(Vec::len).sum();
        if tokens == 0 {
            return Err(EvalError::Input("no token to score".into()));
        }
        let total: f64 = sequences
            .iter()
            .flat_map(|s| (0..s.len()).map(move |i| self.log_prob(&s[..i], s[i])))
            .sum();
        Ok(total / tokens as f64)
    }
}

fn check_tokens(sequences: &[Vec<u32>], vocab: usize) -> Result<(), EvalError> {
    match sequences.iter().flatten().find(|&&t| t as usize >= vocab) {
        Some(t) => Err(EvalError::Input(format!(
            "token {t} is outside the vocabulary of {vocab}"
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use gtl_markov::MarkovChain;

    use super::*;

    /// Witten–Bell by hand on "aab" + "ab" (a = 0, b = 1, vocabulary 3).
    #[test]
    fn matches_a_hand_computation() {
        let model = NgramModel::fit(&[vec![0, 0, 1], vec![0, 1]], 2, 3).unwrap();
        // Empty context: 5 tokens, a×3 b×2, T = 2: P(w) = (c + 2/3) / 7.
        let uni = |c: f64| (c + 2.0 / 3.0) / 7.0;
        assert!((model.log_prob(&[], 0) - uni(3.0).ln()).abs() < 1e-12);
        assert!((model.log_prob(&[], 2) - uni(0.0).ln()).abs() < 1e-12);
        // After a: a×1, b×2, T = 2: P(w | a) = (c + 2 · P(w)) / 5.
        let after_a = |c: f64, w: f64| (c + 2.0 * uni(w)) / 5.0;
        assert!((model.log_prob(&[0], 1) - after_a(2.0, 2.0).ln()).abs() < 1e-12);
        assert!((model.log_prob(&[1, 0], 0) - after_a(1.0, 3.0).ln()).abs() < 1e-12);
        // b was never followed by anything: its context falls back to the unigram.
        assert!((model.log_prob(&[1], 2) - uni(0.0).ln()).abs() < 1e-12);
        let ll = model.mean_log_likelihood(&[vec![0, 1]]).unwrap();
        assert!((ll - (uni(3.0).ln() + after_a(2.0, 2.0).ln()) / 2.0).abs() < 1e-12);
        assert!(NgramModel::fit(&[vec![0, 3]], 2, 3).is_err());
        assert!(NgramModel::fit(&[vec![]], 2, 3).is_err());
        assert!(NgramModel::fit(&[vec![0]], 0, 3).is_err());
        assert!(model.mean_log_likelihood(&[vec![5]]).is_err());
    }

    /// Every context's conditional sums to one over the vocabulary.
    #[test]
    fn conditionals_are_normalised() {
        let chain = MarkovChain::diagonal(4, 0.6).unwrap();
        let model = NgramModel::fit(&chain.sample_dataset(30, 7, 2), 3, 6).unwrap();
        for context in [vec![], vec![2], vec![3, 3], vec![5, 0], vec![1, 4, 2]] {
            let total: f64 = (0..6).map(|w| model.log_prob(&context, w).exp()).sum();
            assert!((total - 1.0).abs() < 1e-12, "{context:?}: {total}");
        }
    }

    /// A bigram model of many Markov sequences recovers the transition matrix: each
    /// estimate within four binomial standard errors of its row's count.
    #[test]
    fn a_bigram_model_recovers_a_markov_chain() {
        let chain = MarkovChain::diagonal(3, 0.7).unwrap();
        let data = chain.sample_dataset(2000, 10, 9);
        let model = NgramModel::fit(&data, 2, 3).unwrap();
        let transitions_from = |a: u32| {
            data.iter()
                .flat_map(|s| s.windows(2))
                .filter(|w| w[0] == a)
                .count() as f64
        };
        for a in 0..3u32 {
            let count = transitions_from(a);
            for b in 0..3u32 {
                let exact = chain.transition_row(a as usize)[b as usize];
                let se = (exact * (1.0 - exact) / count).sqrt();
                let estimate = model.log_prob(&[a], b).exp();
                assert!(
                    (estimate - exact).abs() < 4.0 * se + 4.0 / count,
                    "{a}→{b}: {estimate} vs {exact} (se {se})"
                );
            }
        }
    }
}
