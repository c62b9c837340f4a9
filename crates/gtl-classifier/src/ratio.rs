//! The noisy ratio network `r_φ(z_t, t)` (MATH.md §5, ratio estimation 1): a time-conditioned
//! [`ScalarNet`] whose output is `log r_φ`, regressed on noised source sequences onto the
//! clean log-ratio `log r(x_0)` of a frozen teacher, with an optional cycle term that pulls it
//! towards a frozen noisy classifier on noised target sequences.

use burn::module::AutodiffModule;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use gtl_diffusion::Process;
use gtl_models::ScalarNet;
use gtl_models::training::Objective;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::batch::{
    EVAL_CHUNK, VALIDATION_SEED, borrowed_rows_tensor, draw_rows, row_times_tensor, rows_tensor,
    to_f64, training_times,
};
use crate::loss::squared_error;
use crate::{RATIO_EXPONENT_MAX, RatioModel};

/// What the ratio network regresses onto, for noised source sequences `z_t ~ p(z_t | x_0)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RatioEstimator {
    /// `(out - log r(x_0))²`. The optimum is `E[log r(x_0) | z_t] ≤ log h_t(z_t)` (Jensen):
    /// low variance, biased low wherever `z_t` leaves `x_0` uncertain.
    #[serde(rename = "log-r")]
    LogRatio,
    /// `(exp(out) - r(x_0))²` (TGDP). The optimum is `h_t(z_t) = E[r(x_0) | z_t]`, unbiased
    /// but heavy-tailed. Both exponents are clamped at [`RATIO_EXPONENT_MAX`].
    #[serde(rename = "r")]
    Ratio,
}

impl RatioEstimator {
    /// Per-row regression loss of network outputs `out = log r_φ` (`[batch]`) against the
    /// teacher's clean `log_r` (`[batch]`).
    pub fn per_row<B: Backend>(self, out: Tensor<B, 1>, log_r: Tensor<B, 1>) -> Tensor<B, 1> {
        match self {
            RatioEstimator::LogRatio => squared_error(out, log_r),
            RatioEstimator::Ratio => squared_error(
                out.clamp_max(RATIO_EXPONENT_MAX).exp(),
                log_r.clamp_max(RATIO_EXPONENT_MAX).exp(),
            ),
        }
    }
}

/// The cycle term `η · MSE(log r_φ(z_t, t), d(z_t, t))` on noised target sequences.
pub struct CycleTerm<'a, B: Backend> {
    /// The frozen noisy classifier `d` (inference backend).
    pub classifier: &'a dyn RatioModel<B>,
    /// Target training sequences, noised at the batch's times.
    pub target: &'a [Vec<u32>],
    /// The weight η > 0.
    pub weight: f64,
}

/// Trains a ratio network. Each step draws `batch_size` source sequences, corrupts them at
/// antithetic times and regresses the network onto the frozen teacher's `log r(x_0)` of the
/// clean sequences; with a [`CycleTerm`], `batch_size` target sequences corrupted at the same
/// times go through the network in the same pass and are pulled towards the frozen noisy
/// classifier. The frozen models run on the inner (non-autodiff) backend and enter the graph
/// as constants.
///
/// The validation metric is the regression loss (without the cycle term) on the held-out
/// source sequences corrupted with a fixed seed. Every set must be non-empty, all sequences
/// of one length.
pub struct RatioObjective<'a, B: AutodiffBackend> {
    /// The forward process.
    pub process: Process,
    /// The regression target.
    pub estimator: RatioEstimator,
    /// The frozen clean log-ratio `log r(x_0)`, evaluated on clean sequences at `t = 0`: a
    /// prior-corrected [`DomainClassifier`](crate::DomainClassifier) or an exact oracle.
    pub clean_log_ratio: &'a dyn RatioModel<B::InnerBackend>,
    /// The optional cycle term.
    pub cycle: Option<CycleTerm<'a, B::InnerBackend>>,
    /// Source training sequences.
    pub source: &'a [Vec<u32>],
    /// Held-out source sequences.
    pub validation: &'a [Vec<u32>],
    /// Device of the tensors.
    pub device: B::Device,
}

impl<B: AutodiffBackend> Objective<B, ScalarNet<B>> for RatioObjective<'_, B> {
    fn loss(&self, model: &ScalarNet<B>, batch_size: usize, rng: &mut ChaCha8Rng) -> Tensor<B, 1> {
        let device = &self.device;
        let t = training_times(&self.process, batch_size, rng);
        let x0 = borrowed_rows_tensor::<B::InnerBackend>(
            &draw_rows(self.source, batch_size, rng),
            device,
        );
        let log_r = self
            .clean_log_ratio
            .log_ratio(x0.clone(), Tensor::zeros([batch_size], device));
        let z = self.process.corrupt(x0, &t, rng);
        let Some(cycle) = &self.cycle else {
            let out = model.forward(Tensor::from_inner(z), row_times_tensor(&t, device));
            return self
                .estimator
                .per_row(out, Tensor::from_inner(log_r))
                .mean();
        };
        let target = borrowed_rows_tensor::<B::InnerBackend>(
            &draw_rows(cycle.target, batch_size, rng),
            device,
        );
        let z_target = self.process.corrupt(target, &t, rng);
        let guide = cycle
            .classifier
            .log_ratio(z_target.clone(), row_times_tensor(&t, device));
        let times = [t.as_slice(), t.as_slice()].concat();
        let out = model.forward(
            Tensor::from_inner(Tensor::cat(vec![z, z_target], 0)),
            row_times_tensor(&times, device),
        );
        let out_source = out.clone().slice(0..batch_size);
        let out_target = out.slice(batch_size..2 * batch_size);
        let regression = self
            .estimator
            .per_row(out_source, Tensor::from_inner(log_r))
            .mean();
        let cycle_loss = squared_error(out_target, Tensor::from_inner(guide)).mean();
        regression + cycle_loss.mul_scalar(cycle.weight)
    }

    fn validate(&self, model: &<ScalarNet<B> as AutodiffModule<B>>::InnerModule) -> f64 {
        regression_loss(
            model,
            self.clean_log_ratio,
            self.estimator,
            &self.process,
            self.validation,
            &self.device,
        )
    }
}

/// Mean regression loss of `model` on `data` corrupted at antithetic times with the fixed
/// validation seed (deterministic for given weights).
fn regression_loss<B: Backend>(
    model: &ScalarNet<B>,
    clean_log_ratio: &dyn RatioModel<B>,
    estimator: RatioEstimator,
    process: &Process,
    data: &[Vec<u32>],
    device: &B::Device,
) -> f64 {
    let mut rng = ChaCha8Rng::seed_from_u64(VALIDATION_SEED);
    let mut total = 0.0;
    for rows in data.chunks(EVAL_CHUNK) {
        let t = training_times(process, rows.len(), &mut rng);
        let x0 = rows_tensor::<B>(rows, device);
        let log_r = clean_log_ratio.log_ratio(x0.clone(), Tensor::zeros([rows.len()], device));
        let z = process.corrupt(x0, &t, &mut rng);
        let out = model.forward(z, row_times_tensor(&t, device));
        total += to_f64(estimator.per_row(out, log_r)).iter().sum::<f64>();
    }
    total / data.len() as f64
}
