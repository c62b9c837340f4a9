//! Which masked position a one-position sampler reveals next.

use burn::prelude::*;
use gtl_diffusion::sampler::{Confidence, most_confident_positions, random_masked_positions};
use gtl_models::PositionNet;
use rand::RngCore;

/// A learned planner: one score per position; the highest-scoring masked position is revealed.
pub trait Planner<B: Backend> {
    /// Scores `[rows, length]` for noisy `tokens` at times `t` (`[rows]`).
    fn position_scores(&self, tokens: Tensor<B, 2, Int>, t: Tensor<B, 1>) -> Tensor<B, 2>;
}

impl<B: Backend> Planner<B> for PositionNet<B> {
    fn position_scores(&self, tokens: Tensor<B, 2, Int>, t: Tensor<B, 1>) -> Tensor<B, 2> {
        self.forward(tokens, t)
    }
}

/// The order rule of a one-position sampler.
pub enum PositionRule<'a, B: Backend> {
    /// Uniformly at random among masked positions (one RNG draw per row).
    Random,
    /// The masked position where the denoiser is most confident.
    Confidence(Confidence),
    /// The masked position with the highest planner score.
    Planner(&'a dyn Planner<B>),
}

impl<B: Backend> Clone for PositionRule<'_, B> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<B: Backend> Copy for PositionRule<'_, B> {}

impl<B: Backend> PositionRule<'_, B> {
    /// Name for logs and files.
    pub fn name(&self) -> String {
        match self {
            PositionRule::Random => "random".into(),
            PositionRule::Confidence(kind) => format!("confidence-{kind:?}").to_lowercase(),
            PositionRule::Planner(_) => "planner".into(),
        }
    }

    /// One masked position per row of host `tokens` (`[rows, length]`, uploaded as `z`), from
    /// the denoiser output `log_x0` at time `t`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn choose(
        &self,
        tokens: &[u32],
        z: Tensor<B, 2, Int>,
        log_x0: Tensor<B, 3>,
        t: Tensor<B, 1>,
        mask: u32,
        rng: &mut dyn RngCore,
    ) -> Vec<usize> {
        let [rows, length] = z.dims();
        match self {
            PositionRule::Random => random_masked_positions(tokens, rows, length, mask, rng),
            PositionRule::Confidence(kind) => most_confident_positions(log_x0, z, mask, *kind),
            PositionRule::Planner(planner) => {
                let unmasked = z.clone().equal_elem(i64::from(mask)).bool_not();
                let scores = planner
                    .position_scores(z, t)
                    .mask_fill(unmasked, f32::NEG_INFINITY);
                gtl_diffusion::sampler::tensor_tokens(scores.argmax(1))
                    .into_iter()
                    .map(|p| p as usize)
                    .collect()
            }
        }
    }
}
