//! Training objectives of the denoiser: a fresh corrupted batch per step, the configured
//! diffusion loss, and the NELBO per token on held-out data as the validation metric.

use std::ops::Range;

use burn::module::AutodiffModule;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use gtl_diffusion::sampler::tokens_tensor;
use gtl_diffusion::{Denoiser, Loss, Process, antithetic_times, nelbo};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::DenoiserNet;
use crate::training::Objective;

/// Seed of the fixed corruption used by validation, so the metric is deterministic.
const VALIDATION_SEED: u64 = 0x005e_ed0f_7a11;

/// Draws `batch_size` sequences uniformly (with replacement) and uploads them.
pub fn sample_batch<B: Backend, R: Rng + ?Sized>(
    data: &[Vec<u32>],
    batch_size: usize,
    rng: &mut R,
    device: &B::Device,
) -> Tensor<B, 2, Int> {
    let length = data[0].len();
    let flat: Vec<u32> = (0..batch_size)
        .flat_map(|_| data[rng.random_range(0..data.len())].iter().copied())
        .collect();
    tokens_tensor::<B>(&flat, batch_size, length, device)
}

/// Uploads every sequence of `data` (all of one length).
pub fn all_tokens<B: Backend>(data: &[Vec<u32>], device: &B::Device) -> Tensor<B, 2, Int> {
    let flat: Vec<u32> = data.iter().flatten().copied().collect();
    tokens_tensor::<B>(&flat, data.len(), data[0].len(), device)
}

/// Trains a [`DenoiserNet`] with a diffusion loss.
pub struct DenoiserObjective<'a, B: Backend> {
    /// The forward process.
    pub process: Process,
    /// The training loss.
    pub loss: Loss,
    /// Training sequences.
    pub train: &'a [Vec<u32>],
    /// Held-out sequences for the NELBO.
    pub validation: &'a [Vec<u32>],
    /// Device of the tensors.
    pub device: B::Device,
}

/// One training batch of a [`DenoiserObjective`]: clean rows, their diffusion times and
/// their corruption.
struct DenoiserBatch<B: Backend> {
    x0: Tensor<B, 2, Int>,
    t: Vec<f64>,
    z: Tensor<B, 2, Int>,
}

impl<B: AutodiffBackend> DenoiserObjective<'_, B> {
    /// Draws a batch on `device`: rows, antithetic times over the whole batch, corruption.
    fn draw(
        &self,
        batch_size: usize,
        rng: &mut ChaCha8Rng,
        device: &B::Device,
    ) -> DenoiserBatch<B> {
        let x0 = sample_batch::<B, _>(self.train, batch_size, rng, device);
        let t = antithetic_times(
            batch_size,
            self.process.schedule.min_training_time(),
            rng.random(),
        );
        let z = self.process.corrupt(x0.clone(), &t, rng);
        DenoiserBatch { x0, t, z }
    }

    /// Mean loss per token of `batch` (a one-element tensor).
    fn mean_loss(&self, model: &DenoiserNet<B>, batch: DenoiserBatch<B>) -> Tensor<B, 1> {
        let DenoiserBatch { x0, t, z } = batch;
        let length = self.train[0].len();
        let t_tensor = Tensor::<B, 1>::from_data(
            TensorData::new(t.iter().map(|&v| v as f32).collect::<Vec<_>>(), [t.len()]),
            &x0.device(),
        );
        let log_x0 = model.forward(z.clone(), t_tensor);
        self.loss
            .per_sequence(&self.process, log_x0, x0, z, &t)
            .mean()
            .div_scalar(length as f64)
    }
}

impl<B: AutodiffBackend> Objective<B, DenoiserNet<B>> for DenoiserObjective<'_, B> {
    fn loss(
        &self,
        model: &DenoiserNet<B>,
        batch_size: usize,
        rng: &mut ChaCha8Rng,
    ) -> Tensor<B, 1> {
        let batch = self.draw(batch_size, rng, &self.device);
        self.mean_loss(model, batch)
    }

    /// The whole batch is drawn (and corrupted) as in `loss`, then only `rows` go through
    /// the network: their mean loss, so equal parts average to the whole batch's loss.
    fn loss_of_rows(
        &self,
        model: &DenoiserNet<B>,
        batch_size: usize,
        rng: &mut ChaCha8Rng,
        rows: Range<usize>,
        device: &B::Device,
    ) -> Option<Tensor<B, 1>> {
        crate::training::assert_rows_of_batch(&rows, batch_size);
        let batch = self.draw(batch_size, rng, device);
        if rows == (0..batch_size) {
            return Some(self.mean_loss(model, batch));
        }
        let part = DenoiserBatch {
            x0: batch.x0.slice([rows.clone()]),
            z: batch.z.slice([rows.clone()]),
            t: batch.t[rows].to_vec(),
        };
        Some(self.mean_loss(model, part))
    }

    fn splits(&self) -> bool {
        true
    }

    fn validate(&self, model: &<DenoiserNet<B> as AutodiffModule<B>>::InnerModule) -> f64 {
        nelbo_per_token(
            model,
            &self.process,
            self.validation,
            1,
            VALIDATION_SEED,
            &self.device,
        )
    }
}

/// NELBO per token of `data` under any denoiser, averaged over `repeats` corruptions drawn
/// from a generator seeded with `seed` (deterministic for given weights).
pub fn nelbo_per_token<B: Backend>(
    denoiser: &dyn Denoiser<B>,
    process: &Process,
    data: &[Vec<u32>],
    repeats: usize,
    seed: u64,
    device: &B::Device,
) -> f64 {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut total = 0.0;
    for chunk in data.chunks(512) {
        let bounds = nelbo::<B, _>(
            denoiser,
            process,
            all_tokens::<B>(chunk, device),
            repeats,
            &mut rng,
        );
        total += bounds.iter().sum::<f64>();
    }
    total / (data.len() * data[0].len()) as f64
}
