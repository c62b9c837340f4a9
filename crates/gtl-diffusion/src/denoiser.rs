//! The `Denoiser` trait: anything that predicts clean tokens from noisy ones.

use burn::prelude::*;

/// A model of `x_θ(z_t, t)`: per position, log-probabilities of the clean token (MATH.md §3).
///
/// Implemented by the neural denoisers and by the exact Markov-chain denoiser (`gtl-oracle`),
/// so every sampler runs with exact components as well as learned ones.
pub trait Denoiser<B: Backend> {
    /// Number of real tokens `N` (the width of the output).
    fn num_tokens(&self) -> usize;

    /// `log x_θ` of shape `[batch, length, N]` for noisy `tokens` (`[batch, length]`, values in
    /// `0..=N` where `N` is the mask) at times `t` (`[batch]`). Rows must be normalised.
    fn log_probs(&self, tokens: Tensor<B, 2, Int>, t: Tensor<B, 1>) -> Tensor<B, 3>;

    /// Whether the output depends on `t`. Samplers may cache outputs of rows whose tokens did
    /// not change when it does not (MATH.md §4, ancestral caching).
    fn time_conditioned(&self) -> bool {
        true
    }
}

impl<B: Backend, D: Denoiser<B> + ?Sized> Denoiser<B> for &D {
    fn num_tokens(&self) -> usize {
        (**self).num_tokens()
    }

    fn log_probs(&self, tokens: Tensor<B, 2, Int>, t: Tensor<B, 1>) -> Tensor<B, 3> {
        (**self).log_probs(tokens, t)
    }

    fn time_conditioned(&self) -> bool {
        (**self).time_conditioned()
    }
}
