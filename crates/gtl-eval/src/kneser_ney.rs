//! An interpolated Kneser–Ney word n-gram model: the reference language model of generative
//! perplexity where no pretrained model is at hand (MATH.md §7). Fit it on held-out target
//! text and report the perplexity of real held-out text beside that of the samples.
//!
//! Texts are split by [`words`]. The vocabulary is every word seen at least `min_count` times
//! in training; every other word, in training and when scoring, becomes [`KneserNey::UNKNOWN`],
//! so the model learns how often rare words occur. Each text is preceded by `order - 1`
//! [`KneserNey::START`] markers (context only, never predicted) and ends with
//! [`KneserNey::END`], which is predicted like a word.
//!
//! With `D_k` the discount of order k, `c_k` the order-k counts and `h'` the context `h`
//! without its oldest word:
//! `P_k(w | h) = (max(c_k(h w) - D_k, 0) + D_k · N₁₊(h ·) · P_{k-1}(w | h')) / Σ_v c_k(h v)`,
//! where `N₁₊(h ·)` is the number of words seen after `h` and `P_0` is uniform over the
//! vocabulary and the end marker; a context never seen leaves `P_{k-1}` unchanged. The
//! highest order counts occurrences; lower orders count the distinct words seen before an
//! n-gram (continuation counts), except n-grams that begin with the start marker, which
//! nothing precedes and which keep their occurrence counts. `D_k = n₁ / (n₁ + 2 n₂)` from the
//! numbers of order-k n-grams counted once and twice (0.5 when either is zero).

use std::collections::HashMap;

use crate::EvalError;
use crate::text::words;

const START_ID: u32 = 0;
const END_ID: u32 = 1;
const UNKNOWN_ID: u32 = 2;
/// Bits per word id in a packed n-gram key: five ids fit in a `u128`.
const ID_BITS: u32 = 25;
const MAX_ORDER: usize = 5;

/// How a [`KneserNey`] model is fitted.
#[derive(Clone, Debug)]
pub struct KneserNeyConfig {
    /// The n of the n-grams, in 1..=5; default 3.
    pub order: usize,
    /// Fewest training occurrences of a vocabulary word (≥ 1); default 2.
    pub min_count: usize,
}

impl Default for KneserNeyConfig {
    fn default() -> Self {
        KneserNeyConfig {
            order: 3,
            min_count: 2,
        }
    }
}

/// The counts of one order.
#[derive(Clone, Debug, Default)]
struct Level {
    discount: f64,
    /// n-gram → (adjusted) count.
    grams: HashMap<u128, f64>,
    /// context → (sum of its n-gram counts, number of distinct next words).
    contexts: HashMap<u128, (f64, f64)>,
}

/// A fitted interpolated Kneser–Ney word model.
#[derive(Clone, Debug)]
pub struct KneserNey {
    order: usize,
    /// The vocabulary: `UNKNOWN` first, then the kept words in sorted order.
    vocabulary: Vec<String>,
    ids: HashMap<String, u32>,
    /// `levels[k - 1]` holds order k.
    levels: Vec<Level>,
}

/// Packs up to five ids, oldest in the highest bits.
fn key(ids: &[u32]) -> u128 {
    ids.iter()
        .fold(0u128, |k, &id| (k << ID_BITS) | u128::from(id))
}

impl KneserNey {
    /// The start-of-text marker (context only).
    pub const START: &str = "<s>";
    /// The end-of-text marker, predicted after a text's last word.
    pub const END: &str = "</s>";
    /// The word that stands for every word outside the vocabulary.
    pub const UNKNOWN: &str = "<unk>";

    /// Fits the model on `texts`. Errors when there is no text or the configuration is out
    /// of range.
    pub fn fit<S: AsRef<str>>(texts: &[S], config: &KneserNeyConfig) -> Result<Self, EvalError> {
        let order = config.order;
        if !(1..=MAX_ORDER).contains(&order) || config.min_count == 0 {
            return Err(EvalError::Input(format!(
                "kneser_ney.order = {order}, min_count = {}: need order in 1..={MAX_ORDER} \
                 and min_count ≥ 1",
                config.min_count
            )));
        }
        if texts.is_empty() {
            return Err(EvalError::Input(
                "no text to fit a language model on".into(),
            ));
        }
        let tokenised: Vec<Vec<String>> = texts.iter().map(|t| words(t.as_ref())).collect();
        let mut frequency: HashMap<&str, usize> = HashMap::new();
        for w in tokenised.iter().flatten() {
            *frequency.entry(w).or_default() += 1;
        }
        let mut kept: Vec<&str> = frequency
            .into_iter()
            .filter(|&(_, c)| c >= config.min_count)
            .map(|(w, _)| w)
            .collect();
        kept.sort_unstable();
        if kept.len() + 3 >= 1 << ID_BITS {
            return Err(EvalError::Input(format!(
                "a vocabulary of {} words is too large (at most 2^25 - 4)",
                kept.len()
            )));
        }
        let vocabulary: Vec<String> = std::iter::once(Self::UNKNOWN)
            .chain(kept)
            .map(str::to_string)
            .collect();
        let ids: HashMap<String, u32> = vocabulary
            .iter()
            .enumerate()
            .skip(1)
            .map(|(i, w)| (w.clone(), UNKNOWN_ID + i as u32))
            .collect();
        let mut levels = vec![Level::default(); order];
        let top = &mut levels[order - 1].grams;
        for text in &tokenised {
            let mut sequence = vec![START_ID; order - 1];
            sequence.extend(
                text.iter()
                    .map(|w| ids.get(w).copied().unwrap_or(UNKNOWN_ID)),
            );
            sequence.push(END_ID);
            for window in sequence.windows(order) {
                *top.entry(key(window)).or_default() += 1.0;
            }
        }
        // Lower orders: one count per distinct left extension (continuation counts), or the
        // extension's own count where the n-gram starts with the start marker.
        for k in (1..order).rev() {
            let suffix_mask = (1u128 << (ID_BITS as usize * k)) - 1;
            let mut lower: HashMap<u128, f64> = HashMap::new();
            for (&gram, &count) in &levels[k].grams {
                let suffix = gram & suffix_mask;
                let first = (suffix >> (ID_BITS as usize * (k - 1))) as u32;
                let add = if k >= 2 && first == START_ID {
                    count
                } else {
                    1.0
                };
                *lower.entry(suffix).or_default() += add;
            }
            levels[k - 1].grams = lower;
        }
        for level in &mut levels {
            let (mut once, mut twice) = (0usize, 0usize);
            for (&gram, &count) in &level.grams {
                let context = level.contexts.entry(gram >> ID_BITS).or_default();
                context.0 += count;
                context.1 += 1.0;
                once += usize::from(count == 1.0);
                twice += usize::from(count == 2.0);
            }
            level.discount = if once > 0 && twice > 0 {
                once as f64 / (once + 2 * twice) as f64
            } else {
                0.5
            };
        }
        Ok(KneserNey {
            order,
            vocabulary,
            ids,
            levels,
        })
    }

    /// The model's order n.
    pub fn order(&self) -> usize {
        self.order
    }

    /// The vocabulary: [`KneserNey::UNKNOWN`] and the kept words (without the end marker).
    pub fn vocabulary(&self) -> &[String] {
        &self.vocabulary
    }

    fn id(&self, word: &str) -> u32 {
        match word {
            Self::START => START_ID,
            Self::END => END_ID,
            _ => self.ids.get(word).copied().unwrap_or(UNKNOWN_ID),
        }
    }

    /// `ln P(next | context)` by ids; `context` holds exactly `order - 1` ids.
    fn log_prob_ids(&self, context: &[u32], next: u32) -> f64 {
        let mut p = 1.0 / (self.vocabulary.len() + 1) as f64;
        for (k, level) in self.levels.iter().enumerate() {
            let history = key(&context[context.len() - k..]);
            if let Some(&(total, distinct)) = level.contexts.get(&history) {
                let gram = (history << ID_BITS) | u128::from(next);
                let count = level.grams.get(&gram).copied().unwrap_or(0.0);
                let d = level.discount;
                p = ((count - d).max(0.0) + d * distinct * p) / total;
            }
        }
        p.ln()
    }

    /// `ln P(word | context)`. `context` holds the preceding words of the same text, oldest
    /// first (only the last `order - 1` matter; fewer means the text starts there). Words
    /// outside the vocabulary count as [`KneserNey::UNKNOWN`]; `word` may be
    /// [`KneserNey::END`]. Words are taken as given, not passed through [`words`].
    pub fn log_prob(&self, context: &[&str], word: &str) -> f64 {
        let width = self.order - 1;
        let mut ids = vec![START_ID; width.saturating_sub(context.len())];
        ids.extend(
            context[context.len().saturating_sub(width)..]
                .iter()
                .map(|w| self.id(w)),
        );
        self.log_prob_ids(&ids, self.id(word))
    }

    /// `ln P` of each word of `text` (split by [`words`]) given the ones before it, then of
    /// the end marker.
    pub fn text_log_probs(&self, text: &str) -> Vec<f64> {
        let mut sequence = vec![START_ID; self.order - 1];
        sequence.extend(words(text).iter().map(|w| self.id(w)));
        sequence.push(END_ID);
        (self.order - 1..sequence.len())
            .map(|i| self.log_prob_ids(&sequence[i + 1 - self.order..i], sequence[i]))
            .collect()
    }

    /// Perplexity of `texts`: `exp(-Σ ln P / Σ (words + 1))`, counting each text's end
    /// marker. Errors when there is no text.
    pub fn perplexity<S: AsRef<str>>(&self, texts: &[S]) -> Result<f64, EvalError> {
        if texts.is_empty() {
            return Err(EvalError::Input("no text to score".into()));
        }
        let (mut total, mut tokens) = (0.0, 0usize);
        for text in texts {
            let log_probs = self.text_log_probs(text.as_ref());
            tokens += log_probs.len();
            total += log_probs.iter().sum::<f64>();
        }
        Ok((-total / tokens as f64).exp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probability_mass(model: &KneserNey, context: &[&str]) -> f64 {
        model
            .vocabulary()
            .iter()
            .map(String::as_str)
            .chain([KneserNey::END])
            .map(|w| model.log_prob(context, w).exp())
            .sum()
    }

    /// Kneser–Ney by hand on "a b" and "a a b", min_count 1 (vocabulary <unk> a b, plus the
    /// end marker: 4 outcomes).
    #[test]
    fn matches_a_hand_computation() {
        let texts = ["a b", "A, a b."];
        let config = |order| KneserNeyConfig {
            order,
            min_count: 1,
        };
        let bigram = KneserNey::fit(&texts, &config(2)).unwrap();
        // Unigram continuation counts: a after {<s>, a} = 2, b after {a} = 1, </s> after
        // {b} = 1; total 4, 3 types; n₁ = 2, n₂ = 1 → D₁ = 2 / 4.
        let d1 = 0.5;
        let p1 = |c: f64| ((c - d1).max(0.0) + d1 * 3.0 * 0.25) / 4.0;
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        // An unseen context falls back to the unigram.
        assert!(close(bigram.log_prob(&["zebra"], "a").exp(), p1(2.0)));
        assert!(close(
            bigram.log_prob(&["zebra"], KneserNey::END).exp(),
            p1(1.0)
        ));
        assert!(close(bigram.log_prob(&["zebra"], "zebra").exp(), p1(0.0)));
        // Bigram counts: <s> a ×2, a b ×2, b </s> ×2, a a ×1 → n₁ = 1, n₂ = 3, D₂ = 1/7.
        let d2 = 1.0 / 7.0;
        // After a: a b ×2, a a ×1 (total 3, 2 types).
        let p_b_after_a = ((2.0 - d2) + d2 * 2.0 * p1(1.0)) / 3.0;
        assert!(close(bigram.log_prob(&["a"], "b").exp(), p_b_after_a));
        let p_unk_after_a = (d2 * 2.0 * p1(0.0)) / 3.0;
        assert!(close(bigram.log_prob(&["a"], "zebra").exp(), p_unk_after_a));
        // After <s>: <s> a ×2 (total 2, 1 type).
        let p_a_first = ((2.0 - d2) + d2 * p1(2.0)) / 2.0;
        assert!(close(bigram.log_prob(&[], "a").exp(), p_a_first));
        let log_probs = bigram.text_log_probs("a b");
        let expected = [p_a_first, p_b_after_a, ((2.0 - d2) + d2 * p1(1.0)) / 2.0];
        assert_eq!(log_probs.len(), 3);
        for (got, want) in log_probs.iter().zip(expected) {
            assert!(close(got.exp(), want));
        }
        let ppl = bigram.perplexity(&["a b"]).unwrap();
        assert!(close(ppl, (-log_probs.iter().sum::<f64>() / 3.0).exp()));

        // Trigram: the bigram level's counts are continuation counts, except <s> a, which
        // keeps its occurrence count 2: {<s> a: 2, a b: 2 (after <s> and a), b </s>: 1,
        // a a: 1} → D₂ = 2 / (2 + 4); trigram counts {<s> <s> a: 2, <s> a b: 1,
        // a b </s>: 2, <s> a a: 1, a a b: 1} → D₃ = 3 / (3 + 4).
        let trigram = KneserNey::fit(&texts, &config(3)).unwrap();
        let (d2, d3) = (1.0 / 3.0, 3.0 / 7.0);
        let p2_b_after_a = ((2.0 - d2) + d2 * 2.0 * p1(1.0)) / 3.0;
        let p3 = ((1.0 - d3) + d3 * 2.0 * p2_b_after_a) / 2.0;
        assert!(close(trigram.log_prob(&["a"], "b").exp(), p3));
        assert!(close(
            trigram.log_prob(&[KneserNey::START, "a"], "b").exp(),
            p3
        ));
    }

    /// Every conditional sums to one over the vocabulary and the end marker, in seen and
    /// unseen contexts, at every order.
    #[test]
    fn conditionals_are_normalised() {
        let texts = [
            "the cat sat on the mat",
            "the dog sat on the log",
            "a cat and a dog",
            "the mat is on the floor, the log is not",
            "on the mat the cat sat",
            "",
        ];
        for order in 1..=4 {
            for min_count in [1, 2] {
                let model = KneserNey::fit(&texts, &KneserNeyConfig { order, min_count }).unwrap();
                for context in [
                    vec![],
                    vec!["the"],
                    vec!["on", "the"],
                    vec!["sat", "on", "the"],
                    vec!["the", "zebra"],
                    vec!["zebra", "on"],
                    vec!["floor"],
                    vec![KneserNey::START],
                    vec!["mat", "the", "cat"],
                ] {
                    let mass = probability_mass(&model, &context);
                    assert!(
                        (mass - 1.0).abs() < 1e-12,
                        "order {order}, min_count {min_count}, {context:?}: {mass}"
                    );
                }
            }
        }
    }

    #[test]
    fn rare_words_become_unknown_and_bad_input_errors() {
        let model = KneserNey::fit(&["x y x", "y z"], &KneserNeyConfig::default()).unwrap();
        assert_eq!(model.vocabulary(), [KneserNey::UNKNOWN, "x", "y"]);
        assert_eq!(model.log_prob(&["x"], "z"), model.log_prob(&["x"], "w"));
        assert!(model.log_prob(&["x"], "z").is_finite());
        assert!(model.perplexity(&[] as &[&str]).is_err());
        assert!(KneserNey::fit(&[] as &[&str], &KneserNeyConfig::default()).is_err());
        let bad = KneserNeyConfig {
            order: 6,
            min_count: 1,
        };
        assert!(KneserNey::fit(&["a"], &bad).is_err());
    }
}
