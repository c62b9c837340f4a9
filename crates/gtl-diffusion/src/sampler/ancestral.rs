//! Ancestral sampling: every position drawn from the model posterior at each step.

use burn::prelude::*;
use rand::RngCore;

use super::{
    Sampler, SamplerStats, Samples, draw_categorical, in_batches, times_tensor, tokens_tensor,
};
use crate::{Denoiser, DiffusionError, Process, model_posterior, time_grid};

/// Ancestral sampler on the grid `linspace(1, t_end, steps + 1)`, then a final denoising step
/// to `t = 0`. When the denoiser ignores `t`, rows whose tokens did not change reuse the
/// cached prediction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ancestral {
    /// Number of steps before the final denoising step.
    pub steps: usize,
    /// Last time of the grid.
    pub t_end: f64,
    /// Sequences generated together.
    pub batch_size: usize,
}

impl<B: Backend> Sampler<B> for Ancestral {
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
                model_posterior(process, log_x0, z, t, s)
            };
            run_steps(
                denoiser, process, rows, length, self.steps, self.t_end, device, rng, step,
            )
        })
    }
}

/// The shared multi-step loop: start from the limit, apply `step_probs` on the time grid, then
/// the exact final denoising step (the model posterior to `t = 0`).
#[allow(clippy::too_many_arguments)]
pub(super) fn run_steps<B: Backend>(
    denoiser: &dyn Denoiser<B>,
    process: &Process,
    rows: usize,
    length: usize,
    steps: usize,
    t_end: f64,
    device: &B::Device,
    rng: &mut dyn RngCore,
    step_probs: impl Fn(Tensor<B, 3>, Tensor<B, 2, Int>, f64, f64) -> Tensor<B, 3>,
) -> Result<Samples, DiffusionError> {
    let mut tokens = process.limit_tokens(rows * length, rng);
    let mut cache = PredictionCache::new(denoiser, rows, length);
    let grid = time_grid(steps, t_end);
    for pair in grid.windows(2) {
        let (t, s) = (pair[0], pair[1]);
        let log_x0 = cache.predict(&tokens, t, device);
        let z = tokens_tensor::<B>(&tokens, rows, length, device);
        tokens = draw_categorical(step_probs(log_x0, z, t, s), rng)?;
    }
    let log_x0 = cache.predict(&tokens, t_end, device);
    let z = tokens_tensor::<B>(&tokens, rows, length, device);
    tokens = draw_categorical(model_posterior(process, log_x0, z, t_end, 0.0), rng)?;
    Ok(Samples {
        tokens: tokens.chunks(length).map(<[u32]>::to_vec).collect(),
        stats: cache.stats,
    })
}

/// Calls the denoiser, re-using the previous prediction of unchanged rows when the denoiser
/// is not time-conditioned.
pub(super) struct PredictionCache<'a, B: Backend> {
    denoiser: &'a dyn Denoiser<B>,
    rows: usize,
    length: usize,
    previous: Option<(Vec<u32>, Tensor<B, 3>)>,
    pub(super) stats: SamplerStats,
}

impl<'a, B: Backend> PredictionCache<'a, B> {
    pub(super) fn new(denoiser: &'a dyn Denoiser<B>, rows: usize, length: usize) -> Self {
        PredictionCache {
            denoiser,
            rows,
            length,
            previous: None,
            stats: SamplerStats::default(),
        }
    }

    /// `log x_θ` for host `tokens` at time `t`.
    pub(super) fn predict(&mut self, tokens: &[u32], t: f64, device: &B::Device) -> Tensor<B, 3> {
        let changed: Vec<usize> = match &self.previous {
            Some((old, _)) if !self.denoiser.time_conditioned() => (0..self.rows)
                .filter(|&r| {
                    let span = r * self.length..(r + 1) * self.length;
                    old[span.clone()] != tokens[span]
                })
                .collect(),
            _ => (0..self.rows).collect(),
        };
        let prediction = if changed.len() == self.rows {
            self.call(tokens.to_vec(), self.rows, t, device)
        } else if changed.is_empty() {
            self.previous.as_ref().expect("cached prediction").1.clone()
        } else {
            let subset: Vec<u32> = changed
                .iter()
                .flat_map(|&r| {
                    tokens[r * self.length..(r + 1) * self.length]
                        .iter()
                        .copied()
                })
                .collect();
            let fresh = self.call(subset, changed.len(), t, device);
            // Row r of the result: row r of the old prediction, or row `rows + k` of
            // [old; fresh] when r is the k-th changed row (a gather: no arithmetic on the
            // log-probabilities, so -inf entries stay -inf).
            let mut source: Vec<i64> = (0..self.rows as i64).collect();
            for (k, &r) in changed.iter().enumerate() {
                source[r] = (self.rows + k) as i64;
            }
            let index =
                Tensor::<B, 1, Int>::from_data(TensorData::new(source, [self.rows]), device);
            let old = self.previous.as_ref().expect("cached prediction").1.clone();
            Tensor::cat(vec![old, fresh], 0).select(0, index)
        };
        self.previous = Some((tokens.to_vec(), prediction.clone()));
        prediction
    }

    fn call(&mut self, tokens: Vec<u32>, rows: usize, t: f64, device: &B::Device) -> Tensor<B, 3> {
        self.stats.denoiser_calls += 1;
        self.stats.denoised_rows += rows;
        let z = tokens_tensor::<B>(&tokens, rows, self.length, device);
        self.denoiser.log_probs(z, times_tensor(t, rows, device))
    }
}
