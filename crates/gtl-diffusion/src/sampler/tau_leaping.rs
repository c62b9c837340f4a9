//! τ-leaping samplers driven by the denoiser's concrete score: Euler and Tweedie (analytic).

use burn::prelude::*;
use rand::RngCore;

use super::ancestral::run_steps;
use super::{Sampler, Samples, in_batches};
use crate::posterior::{mask_positions, one_hot_real, rate_into_current};
use crate::{Denoiser, DiffusionError, Process, concrete_score};

/// How one τ-leap step turns scores into transition probabilities.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeapRule {
    /// `δ_x + Δt σ(t) Q(x, y) s_y`, a negative stay probability clamped to 0.
    Euler,
    /// `[exp(-ΔQ) s]_y · exp(ΔQ)(x, y)`, clamped at 0, `Δ = σ̄(t) - σ̄(s)`.
    Tweedie,
}

/// A τ-leaping sampler on the grid `linspace(1, t_end, steps + 1)` with a final denoising step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TauLeaping {
    /// Number of steps before the final denoising step.
    pub steps: usize,
    /// Last time of the grid.
    pub t_end: f64,
    /// Euler or Tweedie.
    pub rule: LeapRule,
    /// Sequences generated together.
    pub batch_size: usize,
}

impl<B: Backend> Sampler<B> for TauLeaping {
    fn sample(
        &self,
        denoiser: &dyn Denoiser<B>,
        process: &Process,
        count: usize,
        length: usize,
        device: &B::Device,
        rng: &mut dyn RngCore,
    ) -> Result<Samples, DiffusionError> {
        in_batches(count, self.batch_size, |rows| {
            let step = |log_x0: Tensor<B, 3>, z: Tensor<B, 2, Int>, t: f64, s: f64| {
                let score = concrete_score(process, log_x0.exp(), z.clone(), &[process.kernel(t)]);
                match self.rule {
                    LeapRule::Euler => euler_probs(process, score, z, t, s),
                    LeapRule::Tweedie => tweedie_probs(process, score, z, t, s),
                }
            };
            run_steps(
                denoiser, process, rows, length, self.steps, self.t_end, device, rng, step,
            )
        })
    }
}

/// Euler step probabilities over all states (unnormalised only through clamping).
pub fn euler_probs<B: Backend>(
    process: &Process,
    score: Tensor<B, 3>,
    z: Tensor<B, 2, Int>,
    t: f64,
    s: f64,
) -> Tensor<B, 3> {
    let n = process.num_tokens;
    let [batch, length, states] = score.dims();
    let dt = process.rate(t) * (t - s);
    let onehot = one_hot_real(z.clone(), n);
    let masked = mask_positions(process, &z).float();
    let weight = rate_into_current(process, masked.clone(), onehot.clone());
    let real_moves = score.slice([0..batch, 0..length, 0..n]) * weight * dt;
    let leave = real_moves.clone().sum_dim(2);
    let stay = (leave.neg() + 1.0).clamp_min(0.0);
    let real = real_moves + onehot * stay.clone();
    if states == n {
        return real;
    }
    Tensor::cat(vec![real, masked * stay], 2)
}

/// Tweedie step probabilities over all states.
pub fn tweedie_probs<B: Backend>(
    process: &Process,
    score: Tensor<B, 3>,
    z: Tensor<B, 2, Int>,
    t: f64,
    s: f64,
) -> Tensor<B, 3> {
    let n = process.num_tokens;
    let [batch, length, states] = score.dims();
    let delta = process.total_noise(t) - process.total_noise(s);
    let (inverse, forward) = (
        process.kernel_at_noise(-delta),
        process.kernel_at_noise(delta),
    );
    let real_score = score.clone().slice([0..batch, 0..length, 0..n]);
    let total = real_score.clone().sum_dim(2);
    // [exp(-ΔQ) s]_y for real y; exp(ΔQ)(x, y) = P_Δ(x | y).
    let staggered = real_score * (inverse.stay - inverse.jump) + total.clone() * inverse.jump;
    let onehot = one_hot_real(z.clone(), n);
    let masked = mask_positions(process, &z).float();
    let into_x = masked.clone() * forward.to_mask
        + (masked.clone().neg() + 1.0) * (onehot * (forward.stay - forward.jump) + forward.jump);
    let real = (staggered * into_x).clamp_min(0.0);
    if states == n {
        return real;
    }
    let score_mask = score.slice([0..batch, 0..length, n..n + 1]);
    let stay_masked = (total * inverse.to_mask + score_mask) * masked;
    Tensor::cat(vec![real, stay_masked.clamp_min(0.0)], 2)
}
