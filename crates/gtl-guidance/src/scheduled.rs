//! Scheduled GTL: one position per step, candidates restricted to the denoiser's top-n.

use burn::prelude::*;
use burn::tensor::IndexingUpdateOp;
use gtl_diffusion::sampler::{
    Samples, draw_categorical, gather_positions, in_batches, tensor_tokens, times_tensor,
    tokens_tensor,
};
use gtl_diffusion::{DiffusionError, ProcessKind};
use rand::RngCore;

use crate::{GammaSchedule, GuidanceError, Guide, GuidedSampler, PositionRule};

/// The scheduled GTL sampler (absorbing process): `L` steps, each revealing one masked
/// position `ℓ` chosen by `order`, drawn from
/// `softmax_v[log p_θ(x^ℓ = v | z_t) + γ · log r(z_t^{ℓ←v}, s)]` over the denoiser's `top_n`
/// most likely tokens `v` (all `N` when `top_n` is `None` or `≥ N`).
///
/// `γ = 0` skips the ratio model and draws exactly as the unguided one-position sampler
/// with the same order and seed. What happens to the tokens outside the top n is `tail`'s
/// choice.
#[derive(Clone)]
pub struct ScheduledGtl<'a, B: Backend> {
    /// Position order.
    pub order: PositionRule<'a, B>,
    /// Candidates per step; `None` = every token.
    pub top_n: Option<usize>,
    /// What the tokens outside the `top_n` candidates get (no effect when `top_n ≥ N`).
    pub tail: CandidateTail,
    /// Guidance strength over sampling progress.
    pub gamma: GammaSchedule,
    /// Sequences generated together.
    pub batch_size: usize,
}

/// What scheduled GTL does with the tokens outside the denoiser's top-n candidates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CandidateTail {
    /// Draw among the candidates only (the reference's schedule). For `γ → 0` this is top-n
    /// truncation of the denoiser, not the unguided sampler.
    #[default]
    Drop,
    /// Keep every other token at its unguided probability and reweight only the candidates
    /// within their own unguided mass `P_n`: candidate `v` gets `P_n · p(v) r(v)^γ /
    /// Σ_{w ∈ top-n} p(w) r(w)^γ`. This is exact guidance if every tail token's `r^γ` equals
    /// the candidates' `p`-weighted mean, and `γ → 0` gives back the unguided sampler.
    Keep,
}

impl<B: Backend> GuidedSampler<B> for ScheduledGtl<'_, B> {
    fn sample(
        &self,
        guide: Guide<'_, B>,
        count: usize,
        length: usize,
        device: &B::Device,
        rng: &mut dyn RngCore,
    ) -> Result<Samples, GuidanceError> {
        let Guide {
            denoiser,
            scorer,
            process,
        } = guide;
        if process.kind != ProcessKind::Absorbing {
            return Err(GuidanceError::Config(format!(
                "scheduled GTL reveals one position per step and needs the absorbing process, \
                 got \"{}\"",
                process.kind.name()
            )));
        }
        if self.top_n == Some(0) {
            return Err(GuidanceError::Config(
                "top_n = 0: must be at least 1".into(),
            ));
        }
        if self.batch_size == 0 {
            return Err(GuidanceError::Config(
                "batch_size = 0: must be at least 1".into(),
            ));
        }
        self.gamma.validate("gamma")?;
        scorer.validate()?;
        let n_tokens = process.num_tokens;
        let top_n = self.top_n.unwrap_or(n_tokens).min(n_tokens);
        let mask = n_tokens as u32;
        let samples = in_batches(count, self.batch_size, |rows| {
            let mut tokens = vec![mask; rows * length];
            let mut samples = Samples::default();
            for step in 0..length {
                let masked_left = length - step;
                let t = process.time_for_mask_fraction(masked_left as f64 / length as f64);
                let s = process.time_for_mask_fraction((masked_left - 1) as f64 / length as f64);
                let z = tokens_tensor::<B>(&tokens, rows, length, device);
                let t_rows = times_tensor(t, rows, device);
                let log_x0 = denoiser.log_probs(z.clone(), t_rows.clone());
                samples.stats.denoiser_calls += 1;
                samples.stats.denoised_rows += rows;
                let positions =
                    self.order
                        .choose(&tokens, z.clone(), log_x0.clone(), t_rows, mask, rng);
                let chosen = gather_positions(log_x0, &positions, device);
                let gamma = self.gamma.at(step as f64 / length as f64);
                let drawn = if gamma == 0.0 {
                    draw_categorical(chosen.exp(), rng)?
                } else {
                    let chosen = chosen.reshape([rows, n_tokens]);
                    let (log_p, values) = if top_n < n_tokens {
                        chosen.clone().topk_with_indices(top_n, 1)
                    } else {
                        let all = Tensor::<B, 1, Int>::arange(0..n_tokens as i64, device)
                            .reshape([1, n_tokens])
                            .expand([rows, n_tokens]);
                        (chosen.clone(), all)
                    };
                    let all_rows: Vec<usize> = (0..rows).collect();
                    let log_r = scorer.score(
                        z,
                        &all_rows,
                        &positions,
                        &vec![s; rows],
                        values.clone(),
                        &mut samples.stats,
                    );
                    let logits = log_p.clone() + log_r.mul_scalar(gamma);
                    let weights = (logits.clone() - logits.max_dim(1)).exp();
                    if self.tail == CandidateTail::Keep && top_n < n_tokens {
                        // Candidates' unguided mass, redistributed among them by r^γ;
                        // the two scatters write exact zeros, then the new values.
                        let head = log_p.exp();
                        let mass = head.clone().sum_dim(1);
                        let guided = weights.clone() / weights.sum_dim(1) * mass;
                        let probs = chosen
                            .exp()
                            .scatter(1, values.clone(), -head, IndexingUpdateOp::Add)
                            .scatter(1, values, guided, IndexingUpdateOp::Add)
                            .clamp_min(0.0);
                        draw_categorical(probs.reshape([rows, 1, n_tokens]), rng)?
                    } else {
                        let picked = draw_categorical(weights.reshape([rows, 1, top_n]), rng)?;
                        let values = tensor_tokens(values);
                        picked
                            .iter()
                            .enumerate()
                            .map(|(r, &k)| values[r * top_n + k as usize])
                            .collect()
                    }
                };
                for (r, (&position, token)) in positions.iter().zip(drawn).enumerate() {
                    tokens[r * length + position] = token;
                }
            }
            samples.tokens = tokens.chunks(length).map(<[u32]>::to_vec).collect();
            Ok::<_, DiffusionError>(samples)
        })?;
        Ok(samples)
    }
}
