//! The two losses of ratio estimation, per row: binary cross-entropy with logits for the
//! domain classifiers and squared error for the ratio network (MATH.md §5).

use burn::prelude::*;

/// Label of a target-domain sequence (MATH.md §5).
pub const TARGET_LABEL: f64 = 1.0;

/// Label of a source-domain sequence (MATH.md §5).
pub const SOURCE_LABEL: f64 = 0.0;

/// Largest exponent of the `r` estimator: `exp(out)` and `r(x_0) = exp(log r)` are computed
/// with their exponent clamped to this value, so the squared error stays finite in f32
/// (`e^{2·20} ≈ 2.4e17`). A clamped output gets no gradient, which only matters for ratios
/// above `e^20 ≈ 5e8`, far outside anything a guided sampler can use.
pub const RATIO_EXPONENT_MAX: f64 = 20.0;

/// `log(1 + e^x)` computed stably as `max(x, 0) + log1p(e^{-|x|})` (burn's own `softplus`
/// overflows to `inf` at large `x`).
pub fn softplus<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    let tail = x.clone().abs().neg().exp().log1p();
    x.clamp_min(0.0) + tail
}

/// The label of a domain under label smoothing `epsilon`: `1 - ε` for the target
/// ([`TARGET_LABEL`]) and `ε` for the source ([`SOURCE_LABEL`]).
pub fn smoothed_label(label: f64, epsilon: f64) -> f64 {
    label * (1.0 - epsilon) + (1.0 - label) * epsilon
}

/// Per-row binary cross-entropy of `logits` (`[batch]`) against soft labels `y ∈ [0, 1]`:
/// `-y log σ(f) - (1 - y) log(1 - σ(f)) = softplus(f) - y f`, stable at every `f`.
pub fn bce_with_logits<B: Backend>(logits: Tensor<B, 1>, labels: Tensor<B, 1>) -> Tensor<B, 1> {
    softplus(logits.clone()) - labels * logits
}

/// Per-row squared error `(prediction - target)²`.
pub fn squared_error<B: Backend>(prediction: Tensor<B, 1>, target: Tensor<B, 1>) -> Tensor<B, 1> {
    (prediction - target).square()
}

/// [`bce_with_logits`] of one logit on the host, in f64 (validation metrics).
pub(crate) fn bce_f64(logit: f64, label: f64) -> f64 {
    logit.max(0.0) + (-logit.abs()).exp().ln_1p() - label * logit
}
