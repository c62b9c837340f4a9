//! The domain judge: an independent classifier of source against target text, whose mean
//! P(target) over generated samples is a transfer metric (MATH.md §7).
//!
//! It is an L2-penalised logistic regression on hashed word unigrams and bigrams. Naive Bayes
//! would be cheaper, but it counts the evidence of a bigram and of its two unigrams as
//! independent, so its probabilities rush to 0 or 1 as a text grows and a mean P(target)
//! degenerates into a vote count; the logistic loss is fitted to the probabilities
//! themselves. Each text's features are `1 + ln count` per bucket, scaled to unit length, so
//! long and short texts weigh alike. The loss weighs each class by one half whatever its
//! size (balanced priors), so the probabilities do not lean toward the larger training set.

use crate::EvalError;
use crate::lbfgs::{Stop, minimise};
use crate::text::bucket_counts;

/// How a [`DomainJudge`] is trained.
#[derive(Clone, Debug)]
pub struct JudgeConfig {
    /// Feature buckets as a power of two, in 1..=22; default 18 (262,144 buckets; training
    /// holds about 25 vectors of that length, 52 MB).
    pub buckets_log2: u32,
    /// L2 penalty λ on the bucket weights (the intercept is not penalised); default 1e-4.
    pub l2: f64,
    /// Most L-BFGS iterations; default 300.
    pub max_iterations: usize,
}

impl Default for JudgeConfig {
    fn default() -> Self {
        JudgeConfig {
            buckets_log2: 18,
            l2: 1e-4,
            max_iterations: 300,
        }
    }
}

/// A trained source-vs-target text classifier.
#[derive(Clone, Debug)]
pub struct DomainJudge {
    buckets_log2: u32,
    weights: Vec<f64>,
    bias: f64,
    iterations: usize,
}

/// The unit-length feature vector of a text: `(bucket, value)` sorted by bucket.
fn features(text: &str, buckets_log2: u32) -> Vec<(u32, f64)> {
    let mut f: Vec<(u32, f64)> = bucket_counts(text, 2, buckets_log2)
        .into_iter()
        .map(|(b, c)| (b, 1.0 + f64::from(c).ln()))
        .collect();
    let norm = f.iter().map(|(_, v)| v * v).sum::<f64>().sqrt();
    if norm > 0.0 {
        f.iter_mut().for_each(|(_, v)| *v /= norm);
    }
    f
}

/// One training text: its features, its label y = ±1 (target = +1) and its loss weight.
struct Row {
    features: Vec<(u32, f64)>,
    label: f64,
    weight: f64,
}

/// `ln(1 + e^t)` without overflow.
fn softplus(t: f64) -> f64 {
    if t > 0.0 {
        t + (-t).exp().ln_1p()
    } else {
        t.exp().ln_1p()
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

impl DomainJudge {
    /// Trains on labelled texts: `source` and `target`. Errors when either set is empty or
    /// the configuration is out of range.
    pub fn fit<S: AsRef<str>>(
        source: &[S],
        target: &[S],
        config: &JudgeConfig,
    ) -> Result<Self, EvalError> {
        if source.is_empty() || target.is_empty() {
            return Err(EvalError::Input(format!(
                "the domain judge needs texts of both domains (got {} source, {} target)",
                source.len(),
                target.len()
            )));
        }
        if !(1..=22).contains(&config.buckets_log2) {
            return Err(EvalError::Input(format!(
                "judge.buckets_log2 = {}: must be in 1..=22",
                config.buckets_log2
            )));
        }
        if !(config.l2 > 0.0 && config.l2.is_finite()) {
            return Err(EvalError::Input(format!(
                "judge.l2 = {}: must be positive",
                config.l2
            )));
        }
        let dim = 1usize << config.buckets_log2;
        let rows: Vec<Row> = source
            .iter()
            .map(|t| (t, -1.0, 0.5 / source.len() as f64))
            .chain(target.iter().map(|t| (t, 1.0, 0.5 / target.len() as f64)))
            .map(|(t, label, weight)| Row {
                features: features(t.as_ref(), config.buckets_log2),
                label,
                weight,
            })
            .collect();
        let l2 = config.l2;
        // θ = (w, b): mean weighted logistic loss + λ/2 ‖w‖².
        let objective = |theta: &[f64], grad: &mut [f64]| {
            let (w, b) = theta.split_at(dim);
            let (gw, gb) = grad.split_at_mut(dim);
            gw.iter_mut().zip(w).for_each(|(g, w)| *g = l2 * w);
            gb[0] = 0.0;
            let mut f = 0.5 * l2 * w.iter().map(|v| v * v).sum::<f64>();
            for Row {
                features: x,
                label: y,
                weight: a,
            } in &rows
            {
                let z = b[0] + x.iter().map(|&(i, v)| w[i as usize] * v).sum::<f64>();
                f += a * softplus(-y * z);
                let dz = -a * y * sigmoid(-y * z);
                gb[0] += dz;
                x.iter().for_each(|&(i, v)| gw[i as usize] += dz * v);
            }
            f
        };
        let stop = Stop {
            max_iterations: config.max_iterations,
            gradient_tolerance: 1e-9,
        };
        let (mut theta, iterations) = minimise(objective, vec![0.0; dim + 1], stop);
        let bias = theta.pop().unwrap_or(0.0);
        Ok(DomainJudge {
            buckets_log2: config.buckets_log2,
            weights: theta,
            bias,
            iterations,
        })
    }

    /// The L-BFGS iterations the fit took.
    pub fn iterations(&self) -> usize {
        self.iterations
    }

    /// The judged probability that `text` comes from the target domain.
    pub fn p_target(&self, text: &str) -> f64 {
        let z = features(text, self.buckets_log2)
            .iter()
            .map(|&(i, v)| self.weights[i as usize] * v)
            .sum::<f64>()
            + self.bias;
        sigmoid(z)
    }

    /// Share of the labelled held-out texts judged correctly (P(target) > ½ for target
    /// texts, < ½ for source texts). Errors when there is no text.
    pub fn accuracy<S: AsRef<str>>(&self, source: &[S], target: &[S]) -> Result<f64, EvalError> {
        let total = source.len() + target.len();
        if total == 0 {
            return Err(EvalError::Input("no held-out text to judge".into()));
        }
        let right = source
            .iter()
            .filter(|t| self.p_target(t.as_ref()) < 0.5)
            .count()
            + target
                .iter()
                .filter(|t| self.p_target(t.as_ref()) > 0.5)
                .count();
        Ok(right as f64 / total as f64)
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// One-word texts: "a" is three times as likely in the source as in the target. With
    /// balanced priors and a vanishing penalty the judge recovers the balanced posterior
    /// P(target | a) = .25 / (.25 + .75) = 0.25, although the target set is three times larger
    /// (an unbalanced fit would give 75 / 150 = 0.5).
    #[test]
    fn recovers_the_balanced_posterior_of_one_word_texts() {
        let source: Vec<&str> = [["a"; 75].as_slice(), &["b"; 25]].concat();
        let target: Vec<&str> = [["a"; 75].as_slice(), &["b"; 225]].concat();
        let config = JudgeConfig {
            l2: 1e-8,
            ..JudgeConfig::default()
        };
        let judge = DomainJudge::fit(&source, &target, &config).unwrap();
        assert!(
            (judge.p_target("a") - 0.25).abs() < 1e-3,
            "{}",
            judge.p_target("a")
        );
        assert!((judge.p_target("B!") - 0.75).abs() < 1e-3);
        assert!(DomainJudge::fit(&source, &[] as &[&str], &config).is_err());
        let bad = JudgeConfig {
            l2: 0.0,
            ..JudgeConfig::default()
        };
        assert!(DomainJudge::fit(&source, &target, &bad).is_err());
    }

    /// Texts of 12 words from two known word distributions: the judge's held-out accuracy is
    /// within 0.04 of the Bayes-optimal classifier's on the same texts (about 2.5 standard
    /// errors of a paired difference over 1,000 texts), and its mean P(target) on target
    /// texts is within 0.08 of the exact posterior's mean (a saturated judge would be ≈ 1).
    #[test]
    fn approaches_the_bayes_classifier_on_synthetic_text() {
        let vocab = 60;
        // Source: uniform. Target: the first half of the words three times as likely as the rest.
        let p_source = vec![1.0 / vocab as f64; vocab];
        let p_target: Vec<f64> = (0..vocab)
            .map(|i| if i < vocab / 2 { 3.0 } else { 1.0 } / (2.0 * vocab as f64))
            .collect();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut draw = |p: &[f64], n: usize| -> Vec<Vec<usize>> {
            (0..n)
                .map(|_| {
                    (0..12)
                        .map(|_| {
                            let mut u: f64 = rng.random();
                            p.iter()
                                .position(|&q| {
                                    u -= q;
                                    u < 0.0
                                })
                                .unwrap_or(p.len() - 1)
                        })
                        .collect()
                })
                .collect()
        };
        let text = |ws: &Vec<usize>| {
            ws.iter()
                .map(|w| format!("w{w}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let (train_s, train_t) = (draw(&p_source, 2000), draw(&p_target, 2000));
        let (test_s, test_t) = (draw(&p_source, 500), draw(&p_target, 500));
        let strings = |set: &[Vec<usize>]| set.iter().map(text).collect::<Vec<String>>();
        let judge = DomainJudge::fit(
            &strings(&train_s),
            &strings(&train_t),
            &JudgeConfig::default(),
        )
        .unwrap();
        let posterior = |ws: &Vec<usize>| {
            let log_odds: f64 = ws.iter().map(|&w| (p_target[w] / p_source[w]).ln()).sum();
            sigmoid(log_odds)
        };
        let bayes_right = test_s.iter().filter(|t| posterior(t) < 0.5).count()
            + test_t.iter().filter(|t| posterior(t) > 0.5).count();
        let bayes = bayes_right as f64 / 1000.0;
        let accuracy = judge
            .accuracy(&strings(&test_s), &strings(&test_t))
            .unwrap();
        assert!(bayes > 0.7 && bayes < 0.95, "Bayes accuracy {bayes}");
        assert!(accuracy > bayes - 0.04, "judge {accuracy} vs Bayes {bayes}");
        let mean = |v: Vec<f64>| v.iter().sum::<f64>() / v.len() as f64;
        let judged = mean(test_t.iter().map(|t| judge.p_target(&text(t))).collect());
        let exact = mean(test_t.iter().map(posterior).collect());
        assert!(
            (judged - exact).abs() < 0.08,
            "judged {judged}, exact {exact}"
        );
    }
}
