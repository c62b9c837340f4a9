//! Density-ratio estimation for guided transfer (MATH.md §5): clean and noisy domain
//! classifiers and the noisy ratio network `log r_φ(z_t, t)`, trained with the shared
//! gtl-models loop, all behind the [`RatioModel`] trait that guided samplers consume.
//!
//! ```
//! use burn::backend::NdArray;
//! use burn::prelude::*;
//! use gtl_classifier::{Balance, DomainClassifier, RatioModel, bce_with_logits};
//! use gtl_models::{ScalarNetConfig, TrunkConfig};
//!
//! let device = Default::default();
//! // A clean classifier ignores t; its vocabulary includes the mask token 5.
//! let trunk = TrunkConfig::preset("tiny", 6, 8).unwrap().with_time_conditioning(false);
//! let net = ScalarNetConfig::new(trunk).init::<NdArray>(&device);
//! // Trained on the pooled data of 9000 source and 1000 target sequences, its logit
//! // estimates log r + log(1000 / 9000): the prior term is removed from the ratio.
//! let correction = Balance::PriorCorrection.prior_correction(9000, 1000);
//! let classifier = DomainClassifier::new(net, correction);
//! let tokens = Tensor::<NdArray, 2, Int>::zeros([2, 8], &device);
//! let log_r = classifier.log_ratio(tokens.clone(), Tensor::zeros([2], &device));
//! let shift = (classifier.logit(tokens) - log_r).into_data().to_vec::<f32>().unwrap();
//! assert!((f64::from(shift[0]) - (1.0f64 / 9.0).ln()).abs() < 1e-5);
//!
//! // Labels: target = 1, source = 0; the loss is a stable BCE with logits.
//! let loss = bce_with_logits(Tensor::<NdArray, 1>::from_floats([0.0], &device),
//!                            Tensor::from_floats([1.0], &device));
//! let loss = loss.into_scalar();
//! assert!((f64::from(loss) - 2f64.ln()).abs() < 1e-6);
//! ```

#![warn(missing_docs)]

mod batch;
mod clean;
mod config;
mod error;
mod loss;
mod noisy;
mod ratio;

use burn::prelude::*;
use gtl_models::ScalarNet;

pub use batch::{log_ratios, row_times_tensor};
pub use clean::{CleanClassifierObjective, DomainClassifier};
pub use config::{Balance, EstimatorKind, RatioConfig};
pub use error::ClassifierError;
pub use loss::{
    RATIO_EXPONENT_MAX, SOURCE_LABEL, TARGET_LABEL, bce_with_logits, smoothed_label, softplus,
    squared_error,
};
pub use noisy::NoisyClassifierObjective;
pub use ratio::{CycleTerm, RatioEstimator, RatioObjective};

/// An estimate of `log h_t(z_t) = log q_t(z_t) / p_t(z_t)`, the log density ratio of noisy
/// sequences between the target `q` and the source `p` (MATH.md §5).
///
/// Implemented by the learned estimators (a [`DomainClassifier`] on clean data, a noisy
/// classifier or a ratio network, both a [`ScalarNet`]) and by the exact Markov-chain oracle
/// (`gtl-oracle`), so every guided sampler runs with exact components as well as learned ones.
pub trait RatioModel<B: Backend> {
    /// `log h_t` of shape `[batch]` for noisy `tokens` (`[batch, length]`, values in `0..=N`
    /// where `N` is the mask of processes that have one) at times `t` (`[batch]`).
    fn log_ratio(&self, tokens: Tensor<B, 2, Int>, t: Tensor<B, 1>) -> Tensor<B, 1>;

    /// Whether the output depends on `t`. Samplers may reuse outputs across times when not.
    fn time_conditioned(&self) -> bool {
        true
    }
}

/// The input gradient of a ratio model, `G = ∂ log h_t / ∂ one_hot(z)` at noisy `tokens`
/// (`[rows, length]`) and times `t` (`[rows]`), shape `[rows, length, vocab]` (vocab includes
/// the mask where the process has one): first-order (Taylor) guidance estimates every
/// substitution as `log h(z^{ℓ←v}) - log h(z) ≈ G[ℓ, v] - G[ℓ, z^ℓ]`.
pub trait OneHotGradient<B: Backend> {
    /// The gradient.
    fn one_hot_gradient(&self, tokens: Tensor<B, 2, Int>, t: Tensor<B, 1>) -> Tensor<B, 3>;
}

impl<B: Backend, R: RatioModel<B> + ?Sized> RatioModel<B> for &R {
    fn log_ratio(&self, tokens: Tensor<B, 2, Int>, t: Tensor<B, 1>) -> Tensor<B, 1> {
        (**self).log_ratio(tokens, t)
    }

    fn time_conditioned(&self) -> bool {
        (**self).time_conditioned()
    }
}

/// A noisy domain classifier `d(z_t, t)` or a ratio network `r_φ(z_t, t)`: the network's
/// output is the estimate of `log h_t(z_t)` itself.
impl<B: Backend> RatioModel<B> for ScalarNet<B> {
    fn log_ratio(&self, tokens: Tensor<B, 2, Int>, t: Tensor<B, 1>) -> Tensor<B, 1> {
        self.forward(tokens, t)
    }

    fn time_conditioned(&self) -> bool {
        self.trunk.time_conditioned()
    }
}

#[cfg(test)]
mod tests;
