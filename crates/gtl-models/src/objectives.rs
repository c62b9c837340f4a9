//! Training objectives of the denoiser: a fresh corrupted batch per step, the configured
//! diffusion loss, and the NELBO per token on held-out data as the validation metric.

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

impl<B: AutodiffBackend> Objective<B, DenoiserNet<B>> for DenoiserObjective<'_, B> {
    fn loss(
        &self,
        model: &DenoiserNet<B>,
        batch_size: usize,
        rng: &mut ChaCha8Rng,
    ) -> Tensor<B, 1> {
        let x0 = sample_batch::<B, _>(self.train, batch_size, rng, &self.device);
        let length = self.train[0].len();
        let t = antithetic_times(
            batch_size,
            self.process.schedule.min_training_time(),
            rng.random(),
        );
        let z = self.process.corrupt(x0.clone(), &t, rng);
        let t_tensor = Tensor::<B, 1>::from_data(
            TensorData::new(
                t.iter().map(|&v| v as f32).collect::<Vec<_>>(),
                [batch_size],
            ),
            &self.device,
        );
        let log_x0 = model.forward(z.clone(), t_tensor);
        self.loss
            .per_sequence(&self.process, log_x0, x0, z, &t)
            .mean()
            .div_scalar(length as f64)
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
