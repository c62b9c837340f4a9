//! The `[ratio]` section of an experiment: which estimator of `log h_t` to train and how
//! (MATH.md §5, "Ratio estimation").

use serde::{Deserialize, Serialize};

use crate::ClassifierError;
use crate::ratio::RatioEstimator;

/// How `log h_t(z_t)` is estimated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EstimatorKind {
    /// Ratio network regressed onto the clean classifier's `log r(x_0)` (the reference code's
    /// choice; optimum `E[log r | z_t] ≤ log h_t`).
    LogR,
    /// Ratio network with `exp(out)` regressed onto `r(x_0)` (TGDP; optimum `h_t`).
    R,
    /// The noisy domain classifier's logit, no ratio network: the default, the lowest error
    /// against the exact `log h_t` in the ratio study (docs/ratio-estimators.md).
    #[default]
    NoisyClassifier,
}

impl EstimatorKind {
    /// The regression target of the ratio network, or `None` for the noisy classifier.
    pub fn regression(self) -> Option<RatioEstimator> {
        match self {
            EstimatorKind::LogR => Some(RatioEstimator::LogRatio),
            EstimatorKind::R => Some(RatioEstimator::Ratio),
            EstimatorKind::NoisyClassifier => None,
        }
    }

    /// Name used in configs, file names and tables.
    pub fn name(self) -> &'static str {
        match self {
            EstimatorKind::LogR => "log-r",
            EstimatorKind::R => "r",
            EstimatorKind::NoisyClassifier => "noisy-classifier",
        }
    }
}

/// How the clean classifier copes with unequal numbers of source and target sequences.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Balance {
    /// Every batch is half source, half target (drawn with replacement): the logit estimates
    /// `log r` directly.
    #[default]
    Balanced,
    /// Batches are drawn from the pooled data in its natural proportions: the logit estimates
    /// `log r + log(n_T / n_S)` and the prior term is subtracted when it is used as a ratio.
    PriorCorrection,
}

impl Balance {
    /// The term subtracted from the classifier logit to obtain `log r`: `log(n_T / n_S)`
    /// under [`Balance::PriorCorrection`], 0 under [`Balance::Balanced`].
    pub fn prior_correction(self, n_source: usize, n_target: usize) -> f64 {
        match self {
            Balance::Balanced => 0.0,
            Balance::PriorCorrection => (n_target as f64 / n_source as f64).ln(),
        }
    }
}

/// Configuration of the ratio estimator.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RatioConfig {
    /// `log-r`, `r` or `noisy-classifier`.
    pub estimator: EstimatorKind,
    /// Weight η ≥ 0 of the cycle term `η · MSE(log r_φ(z_t), d(z_t, t))` on noised target
    /// sequences; 0 turns it off. Only the ratio network (`log-r`, `r`) has this term.
    pub cycle_weight: f64,
    /// `balanced` or `prior-correction` batches for the clean classifier.
    pub balance: Balance,
    /// Label smoothing ε ∈ [0, 0.5) of both classifiers: targets are `1 - ε` (target) and `ε`
    /// (source). It shrinks the logit towards 0, so ε > 0 biases the ratio.
    pub label_smoothing: f64,
}

impl Default for RatioConfig {
    fn default() -> Self {
        RatioConfig {
            estimator: EstimatorKind::NoisyClassifier,
            cycle_weight: 0.1,
            balance: Balance::Balanced,
            label_smoothing: 0.0,
        }
    }
}

impl RatioConfig {
    /// Checks every value; the error names the key (under `section`) and the allowed range.
    pub fn validate(&self, section: &str) -> Result<(), ClassifierError> {
        if !(self.cycle_weight >= 0.0 && self.cycle_weight.is_finite()) {
            return Err(ClassifierError::Config(format!(
                "{section}.cycle_weight = {}: must be ≥ 0 and finite (0 = off)",
                self.cycle_weight
            )));
        }
        if !(0.0..0.5).contains(&self.label_smoothing) {
            return Err(ClassifierError::Config(format!(
                "{section}.label_smoothing = {}: must be in [0, 0.5)",
                self.label_smoothing
            )));
        }
        Ok(())
    }
}
