//! The noisy domain classifier `d(z_t, t)` (MATH.md §5, ratio estimation 2): a
//! time-conditioned [`ScalarNet`] trained by BCE on corrupted source (label 0) against
//! corrupted target (label 1) sequences at the same times, in balanced batches, so that its
//! logit estimates `log h_t(z_t)` directly. The trained network is itself a
//! [`RatioModel`](crate::RatioModel).

use burn::module::AutodiffModule;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use gtl_diffusion::Process;
use gtl_models::ScalarNet;
use gtl_models::training::Objective;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::batch::{
    EVAL_CHUNK, VALIDATION_SEED, borrowed_rows_tensor, constant, draw_rows, row_times_tensor,
    rows_tensor, to_f64, training_times,
};
use crate::loss::{bce_f64, bce_with_logits, smoothed_label};
use crate::{SOURCE_LABEL, TARGET_LABEL};

/// Trains a noisy classifier. Each batch holds `batch_size / 2` source and as many target
/// sequences, corrupted at one set of antithetic times shared by the two halves, so the
/// classes are balanced at every `t`.
///
/// The validation metric is the unsmoothed BCE on the held-out sets corrupted with a fixed
/// seed, each domain weighted ½. Every set must be non-empty, all sequences of one length.
pub struct NoisyClassifierObjective<'a, B: Backend> {
    /// The forward process that corrupts both domains.
    pub process: Process,
    /// Source training sequences (label 0).
    pub source: &'a [Vec<u32>],
    /// Target training sequences (label 1).
    pub target: &'a [Vec<u32>],
    /// Held-out source sequences.
    pub validation_source: &'a [Vec<u32>],
    /// Held-out target sequences.
    pub validation_target: &'a [Vec<u32>],
    /// Label smoothing ε ∈ [0, 0.5): labels `1 - ε` (target) and `ε` (source).
    pub label_smoothing: f64,
    /// Device of the tensors.
    pub device: B::Device,
}

impl<B: AutodiffBackend> Objective<B, ScalarNet<B>> for NoisyClassifierObjective<'_, B> {
    fn loss(&self, model: &ScalarNet<B>, batch_size: usize, rng: &mut ChaCha8Rng) -> Tensor<B, 1> {
        let half = (batch_size / 2).max(1);
        let epsilon = self.label_smoothing;
        let t = training_times(&self.process, half, rng);
        let mut rows = draw_rows(self.source, half, rng);
        rows.extend(draw_rows(self.target, half, rng));
        let times = [t.as_slice(), t.as_slice()].concat();
        let x0 = borrowed_rows_tensor::<B>(&rows, &self.device);
        let z = self.process.corrupt(x0, &times, rng);
        let logits = model.forward(z, row_times_tensor(&times, &self.device));
        let labels = Tensor::cat(
            vec![
                constant(smoothed_label(SOURCE_LABEL, epsilon), half, &self.device),
                constant(smoothed_label(TARGET_LABEL, epsilon), half, &self.device),
            ],
            0,
        );
        bce_with_logits(logits, labels).mean()
    }

    fn validate(&self, model: &<ScalarNet<B> as AutodiffModule<B>>::InnerModule) -> f64 {
        0.5 * noisy_mean_bce(
            model,
            &self.process,
            self.validation_source,
            SOURCE_LABEL,
            &self.device,
        ) + 0.5
            * noisy_mean_bce(
                model,
                &self.process,
                self.validation_target,
                TARGET_LABEL,
                &self.device,
            )
    }
}

/// Mean BCE of `data` corrupted at antithetic times with the fixed validation seed.
fn noisy_mean_bce<B: Backend>(
    model: &ScalarNet<B>,
    process: &Process,
    data: &[Vec<u32>],
    label: f64,
    device: &B::Device,
) -> f64 {
    let mut rng = ChaCha8Rng::seed_from_u64(VALIDATION_SEED);
    let mut total = 0.0;
    for rows in data.chunks(EVAL_CHUNK) {
        let t = training_times(process, rows.len(), &mut rng);
        let z = process.corrupt(rows_tensor::<B>(rows, device), &t, &mut rng);
        let logits = to_f64(model.forward(z, row_times_tensor(&t, device)));
        total += logits.iter().map(|&f| bce_f64(f, label)).sum::<f64>();
    }
    total / data.len() as f64
}
