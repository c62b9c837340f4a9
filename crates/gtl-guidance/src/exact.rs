//! Exact per-position ratio guidance for multi-position steps.

use burn::prelude::*;
use burn::tensor::IndexingUpdateOp;
use gtl_diffusion::sampler::{Samples, draw_categorical, in_batches, times_tensor, tokens_tensor};
use gtl_diffusion::{DiffusionError, Process, ProcessKind, model_posterior, time_grid};
use rand::RngCore;

use crate::scorer::index_tensor;
use crate::{GammaSchedule, GuidanceError, Guide, GuidedSampler, Scorer};

/// Ancestral sampling on the grid `linspace(1, t_end, steps + 1)` plus a final step to 0,
/// with every position that may change reweighted by the ratio of its substitutions
/// (MATH.md §5): for real tokens `v`,
/// `p^γ(z_s^ℓ = v) ∝ p_θ(z_s^ℓ = v | z_t) · r(z_t^{ℓ←v}, s)^γ`, normalised to the unguided
/// real-token mass so that the probability of (staying) masked is unchanged. Absorbing:
/// masked positions change, revealed ones are copied; uniform and roulette: every position.
/// Costs `(#changeable positions) × N` ratio evaluations per step.
#[derive(Clone, Debug)]
pub struct ExactGuidance {
    /// Steps before the final denoising step.
    pub steps: usize,
    /// Last time of the grid.
    pub t_end: f64,
    /// Guidance strength over sampling progress.
    pub gamma: GammaSchedule,
    /// Sequences generated together.
    pub batch_size: usize,
}

impl<B: Backend> GuidedSampler<B> for ExactGuidance {
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
        if self.steps == 0 || self.batch_size == 0 {
            return Err(GuidanceError::Config(format!(
                "steps = {} and batch_size = {}: both must be at least 1",
                self.steps, self.batch_size
            )));
        }
        if !(self.t_end > 0.0 && self.t_end < 1.0) {
            return Err(GuidanceError::Config(format!(
                "t_end = {}: must be in (0, 1)",
                self.t_end
            )));
        }
        self.gamma.validate("gamma")?;
        scorer.validate()?;
        let mut grid = time_grid(self.steps, self.t_end);
        grid.push(0.0);
        let total_steps = grid.len() - 1;
        let samples = in_batches(count, self.batch_size, |rows| {
            let mut tokens = process.limit_tokens(rows * length, rng);
            let mut samples = Samples::default();
            for (index, pair) in grid.windows(2).enumerate() {
                let (t, s) = (pair[0], pair[1]);
                let z = tokens_tensor::<B>(&tokens, rows, length, device);
                let log_x0 = denoiser.log_probs(z.clone(), times_tensor(t, rows, device));
                samples.stats.denoiser_calls += 1;
                samples.stats.denoised_rows += rows;
                let posterior = model_posterior(process, log_x0, z.clone(), t, s);
                let gamma = self.gamma.at(index as f64 / total_steps as f64);
                let probs = if gamma == 0.0 {
                    posterior
                } else {
                    reweight(
                        posterior,
                        z,
                        &tokens,
                        process,
                        s,
                        gamma,
                        scorer,
                        &mut samples,
                    )
                };
                tokens = draw_categorical(probs, rng)?;
            }
            samples.tokens = tokens.chunks(length).map(<[u32]>::to_vec).collect();
            Ok::<_, DiffusionError>(samples)
        })?;
        Ok(samples)
    }
}

/// Reweights the real-token part of `posterior` (`[rows, length, states]`) at every position
/// that may change by `r(z^{ℓ←v}, s)^γ`, keeping each position's real-token mass.
#[allow(clippy::too_many_arguments)]
fn reweight<B: Backend>(
    posterior: Tensor<B, 3>,
    z: Tensor<B, 2, Int>,
    tokens: &[u32],
    process: &Process,
    s: f64,
    gamma: f64,
    scorer: Scorer<'_, B>,
    samples: &mut Samples,
) -> Tensor<B, 3> {
    let [rows, length, states] = posterior.dims();
    let n = process.num_tokens;
    let device = posterior.device();
    let mask = process.mask_token().map(|m| m as u32);
    // Sites: masked positions (absorbing copies revealed tokens), else every position.
    let (mut site_rows, mut site_positions) = (Vec::new(), Vec::new());
    for (flat, &token) in tokens.iter().enumerate() {
        if process.kind != ProcessKind::Absorbing || Some(token) == mask {
            site_rows.push(flat / length);
            site_positions.push(flat % length);
        }
    }
    let sites = site_rows.len();
    let mut log_r = Tensor::<B, 2>::zeros([rows * length, n], &device);
    if sites > 0 {
        let values = Tensor::<B, 1, Int>::arange(0..n as i64, &device)
            .reshape([1, n])
            .expand([sites, n]);
        let scores = scorer.score(
            z,
            &site_rows,
            &site_positions,
            &vec![s; sites],
            values,
            &mut samples.stats,
        );
        let flat: Vec<usize> = site_rows
            .iter()
            .zip(&site_positions)
            .map(|(r, l)| r * length + l)
            .collect();
        log_r = log_r.select_assign(
            0,
            index_tensor(&flat, &device),
            scores,
            IndexingUpdateOp::Add,
        );
    }
    let log_r = log_r.reshape([rows, length, n]);
    let real = posterior.clone().slice([0..rows, 0..length, 0..n]);
    let real_mass = real.clone().sum_dim(2);
    // In log space: tokens of zero probability stay at zero whatever their ratio.
    let impossible = real.clone().lower_equal_elem(0.0);
    let logits =
        (real.clone().log() + log_r.mul_scalar(gamma)).mask_fill(impossible, f32::NEG_INFINITY);
    let top = logits.clone().max_dim(2);
    // Positions without real-token mass keep the unguided probabilities. A +inf top (an
    // infinite ratio where the posterior allows the token) is not one of them: it leaves NaN,
    // which the draw refuses with an error.
    let keep = top
        .clone()
        .equal_elem(f32::NEG_INFINITY)
        .expand([rows, length, n]);
    let weights =
        (logits - top.mask_fill(keep.clone().slice([0..rows, 0..length, 0..1]), 0.0)).exp();
    let guided = (weights.clone() * real_mass / weights.sum_dim(2).clamp_min(f32::MIN_POSITIVE))
        .mask_where(keep, real);
    if states > n {
        Tensor::cat(
            vec![guided, posterior.slice([0..rows, 0..length, n..states])],
            2,
        )
    } else {
        guided
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::NdArray;
    use burn::tensor::Distribution;
    use gtl_classifier::RatioModel;
    use gtl_diffusion::Schedule;

    use super::*;

    type TB = NdArray;

    /// `log r(z) = 3 · #(token 0)`: strongly favours token 0.
    struct CountZeros;

    impl RatioModel<TB> for CountZeros {
        fn log_ratio(&self, tokens: Tensor<TB, 2, Int>, _t: Tensor<TB, 1>) -> Tensor<TB, 1> {
            let [rows, _] = tokens.dims();
            tokens
                .equal_elem(0)
                .int()
                .sum_dim(1)
                .float()
                .mul_scalar(3.0)
                .reshape([rows])
        }
    }

    /// Guidance moves probability between real tokens only: every position keeps its mask
    /// probability and its real-token mass, revealed (absorbing) positions are untouched.
    #[test]
    fn guidance_preserves_mask_and_real_mass_and_copies_revealed_tokens() {
        let device = Default::default();
        let (rows, length, n) = (4, 6, 3);
        for kind in [
            ProcessKind::Absorbing,
            ProcessKind::Roulette { mask_rate: 0.9 },
        ] {
            let process = Process::new(kind, n, Schedule::default()).unwrap();
            let tokens: Vec<u32> = (0..rows * length).map(|i| ((i * 5) % 4) as u32).collect();
            let z = gtl_diffusion::sampler::tokens_tensor::<TB>(&tokens, rows, length, &device);
            let log_x0 = Tensor::<TB, 3>::random([rows, length, n], Distribution::Default, &device);
            let log_x0 = burn::tensor::activation::log_softmax(log_x0, 2);
            let posterior = model_posterior(&process, log_x0, z.clone(), 0.6, 0.4);
            let mut samples = Samples::default();
            let guided = reweight(
                posterior.clone(),
                z,
                &tokens,
                &process,
                0.4,
                1.0,
                Scorer::Exact {
                    ratio: &CountZeros,
                    chunk_rows: 7,
                },
                &mut samples,
            );
            let before: Vec<f32> = posterior.clone().into_data().to_vec().unwrap();
            let after: Vec<f32> = guided.into_data().to_vec().unwrap();
            let states = n + 1;
            let mut moved = 0.0f32;
            for site in 0..rows * length {
                let b = &before[site * states..(site + 1) * states];
                let a = &after[site * states..(site + 1) * states];
                assert!(
                    (a[n] - b[n]).abs() < 1e-6,
                    "{kind:?} site {site}: mask {a:?} vs {b:?}"
                );
                let (mass_a, mass_b): (f32, f32) = (a[..n].iter().sum(), b[..n].iter().sum());
                assert!(
                    (mass_a - mass_b).abs() < 1e-5,
                    "{kind:?} site {site}: real mass"
                );
                if kind == ProcessKind::Absorbing && tokens[site] != n as u32 {
                    assert_eq!(a, b, "revealed position {site} must be copied");
                }
                moved += a[0] - b[0];
            }
            // The ratio favours token 0, so guidance moves mass onto it.
            assert!(moved > 0.1, "{kind:?}: {moved}");
            let masked = tokens.iter().filter(|&&t| t == n as u32).count();
            let sites = if kind == ProcessKind::Absorbing {
                masked
            } else {
                rows * length
            };
            assert_eq!(samples.stats.ratio_rows, sites * n);
        }
    }
}
