//! The clean domain classifier `c(x_0)` (MATH.md §5, ratio estimation 1): a [`ScalarNet`]
//! without time conditioning whose logit, trained by BCE on source (label 0) against target
//! (label 1), estimates `log r(x_0) = log q(x_0) / p(x_0)`, up to the prior term.

use burn::module::{AutodiffModule, Module};
use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use burn::tensor::backend::AutodiffBackend;
use gtl_models::ScalarNet;
use gtl_models::training::Objective;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::batch::{EVAL_CHUNK, borrowed_rows_tensor, draw_rows, rows_tensor, to_f64};
use crate::loss::{bce_f64, bce_with_logits, smoothed_label};
use crate::{Balance, RatioModel, SOURCE_LABEL, TARGET_LABEL};

/// Trains a clean classifier [`ScalarNet`] (build it with time conditioning off; the time
/// input is always zero) by BCE with logits on source against target sequences.
///
/// The validation metric is the unsmoothed BCE of the prior-corrected logit on the held-out
/// sets, each domain weighted ½ (balanced whatever their sizes), so it is minimised by
/// `log r` under either [`Balance`]. Every set must be non-empty, all sequences of one length.
pub struct CleanClassifierObjective<'a, B: Backend> {
    /// Source training sequences (label 0).
    pub source: &'a [Vec<u32>],
    /// Target training sequences (label 1).
    pub target: &'a [Vec<u32>],
    /// Held-out source sequences.
    pub validation_source: &'a [Vec<u32>],
    /// Held-out target sequences.
    pub validation_target: &'a [Vec<u32>],
    /// Balanced batches or natural proportions with the prior term removed afterwards.
    pub balance: Balance,
    /// Label smoothing ε ∈ [0, 0.5): labels `1 - ε` (target) and `ε` (source).
    pub label_smoothing: f64,
    /// Device of the tensors.
    pub device: B::Device,
}

impl<B: Backend> CleanClassifierObjective<'_, B> {
    /// `log(n_T / n_S)` of the training sets under [`Balance::PriorCorrection`], else 0.
    pub fn prior_correction(&self) -> f64 {
        self.balance
            .prior_correction(self.source.len(), self.target.len())
    }

    /// Wraps a network trained with this objective as a ratio model with the right prior term.
    pub fn classifier<C: Backend>(&self, net: ScalarNet<C>) -> DomainClassifier<C> {
        DomainClassifier::new(net, self.prior_correction())
    }
}

impl<B: AutodiffBackend> Objective<B, ScalarNet<B>> for CleanClassifierObjective<'_, B> {
    fn loss(&self, model: &ScalarNet<B>, batch_size: usize, rng: &mut ChaCha8Rng) -> Tensor<B, 1> {
        let epsilon = self.label_smoothing;
        let (rows, labels, weights) = match self.balance {
            Balance::Balanced => {
                // Each half weighs ½ whatever its size (an odd batch stays balanced).
                let sources = (batch_size / 2).max(1);
                let targets = (batch_size - sources).max(1);
                let mut rows = draw_rows(self.source, sources, rng);
                rows.extend(draw_rows(self.target, targets, rng));
                let mut labels = vec![smoothed_label(SOURCE_LABEL, epsilon); sources];
                labels.extend(vec![smoothed_label(TARGET_LABEL, epsilon); targets]);
                let mut weights = vec![0.5 / sources as f64; sources];
                weights.extend(vec![0.5 / targets as f64; targets]);
                (rows, labels, weights)
            }
            Balance::PriorCorrection => {
                // Uniform over the pooled sequences: the domains in their natural proportions.
                let pooled = self.source.len() + self.target.len();
                let (mut rows, mut labels) = (Vec::new(), Vec::new());
                for _ in 0..batch_size {
                    let index = rng.random_range(0..pooled);
                    if let Some(row) = self.source.get(index) {
                        rows.push(row.as_slice());
                        labels.push(smoothed_label(SOURCE_LABEL, epsilon));
                    } else {
                        rows.push(self.target[index - self.source.len()].as_slice());
                        labels.push(smoothed_label(TARGET_LABEL, epsilon));
                    }
                }
                (rows, labels, vec![1.0 / batch_size as f64; batch_size])
            }
        };
        let device = &self.device;
        let tokens = borrowed_rows_tensor::<B>(&rows, device);
        let logits = model.forward(tokens, Tensor::zeros([rows.len()], device));
        let labels = Tensor::from_data(TensorData::new(labels, [rows.len()]), device);
        let weights = Tensor::from_data(TensorData::new(weights, [rows.len()]), device);
        (bce_with_logits(logits, labels) * weights).sum()
    }

    fn validate(&self, model: &<ScalarNet<B> as AutodiffModule<B>>::InnerModule) -> f64 {
        let classifier = DomainClassifier::new(model.clone(), self.prior_correction());
        let mean_bce = |data: &[Vec<u32>], label: f64| {
            let total: f64 = data
                .chunks(EVAL_CHUNK)
                .flat_map(|rows| {
                    let tokens = rows_tensor(rows, &self.device);
                    let t = Tensor::zeros([rows.len()], &self.device);
                    to_f64(classifier.log_ratio(tokens, t))
                })
                .map(|logit| bce_f64(logit, label))
                .sum();
            total / data.len() as f64
        };
        0.5 * mean_bce(self.validation_source, SOURCE_LABEL)
            + 0.5 * mean_bce(self.validation_target, TARGET_LABEL)
    }
}

/// A trained clean classifier as a density-ratio model: `log r(x_0) = c(x_0) - log(n_T/n_S)`,
/// the prior term being 0 for balanced training.
///
/// It ignores `t` and never saw a mask in training (give its trunk the mask in its vocabulary
/// if it is ever fed noisy tokens): it is the ratio network's teacher, not a guide itself.
/// The prior correction is a constant of the module, not stored in its record: set it again
/// with [`DomainClassifier::new`] when loading weights.
#[derive(Module, Debug)]
pub struct DomainClassifier<B: Backend> {
    /// The classifier network (time conditioning off).
    pub net: ScalarNet<B>,
    /// The term subtracted from the logit: `log(n_T / n_S)` or 0 ([`Balance::prior_correction`]).
    pub prior_correction: f64,
}

impl<B: Backend> DomainClassifier<B> {
    /// Wraps a trained network with its prior correction.
    pub fn new(net: ScalarNet<B>, prior_correction: f64) -> Self {
        DomainClassifier {
            net,
            prior_correction,
        }
    }

    /// The raw logit `[batch]` of clean `tokens` (`[batch, length]`), prior term included.
    pub fn logit(&self, tokens: Tensor<B, 2, Int>) -> Tensor<B, 1> {
        let [batch, _] = tokens.dims();
        let t = Tensor::zeros([batch], &tokens.device());
        self.net.forward(tokens, t)
    }

    /// `P(target | x_0)` for balanced classes, `σ(log r(x_0))`.
    pub fn target_probability(&self, tokens: Tensor<B, 2, Int>) -> Tensor<B, 1> {
        sigmoid(self.logit(tokens).sub_scalar(self.prior_correction))
    }
}

impl<B: Backend> RatioModel<B> for DomainClassifier<B> {
    fn log_ratio(&self, tokens: Tensor<B, 2, Int>, _t: Tensor<B, 1>) -> Tensor<B, 1> {
        self.logit(tokens).sub_scalar(self.prior_correction)
    }

    fn time_conditioned(&self) -> bool {
        false
    }
}
