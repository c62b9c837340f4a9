//! The noisy ratio network `r_φ(z_t, t)` (MATH.md §5, ratio estimation 1): a time-conditioned
//! [`ScalarNet`] whose output is `log r_φ`, regressed on noised source sequences onto the
//! clean log-ratio `log r(x_0)` of a frozen teacher, with an optional cycle term that pulls it
//! towards a frozen noisy classifier on noised target sequences.

use std::ops::Range;

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
    pub classifier: &'a (dyn RatioModel<B> + Sync),
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
    pub clean_log_ratio: &'a (dyn RatioModel<B::InnerBackend> + Sync),
    /// The optional cycle term.
    pub cycle: Option<CycleTerm<'a, B::InnerBackend>>,
    /// Source training sequences.
    pub source: &'a [Vec<u32>],
    /// Held-out source sequences.
    pub validation: &'a [Vec<u32>],
    /// Device of the tensors.
    pub device: B::Device,
}

/// One training batch of [`RatioObjective`], drawn on the objective's device: the times,
/// the noised source rows with their teacher's `log r(x_0)`, and (with a cycle term) the
/// noised target rows with the frozen classifier's `log h_t`.
struct RatioBatch<B: Backend> {
    times: Vec<f64>,
    z: Tensor<B, 2, Int>,
    log_r: Tensor<B, 1>,
    cycle: Option<(Tensor<B, 2, Int>, Tensor<B, 1>)>,
}

impl<B: Backend> RatioBatch<B> {
    /// The rows `rows` of every part, moved to `device`.
    fn rows(self, rows: Range<usize>, device: &B::Device) -> Self {
        let take_2 = |x: Tensor<B, 2, Int>| x.slice([rows.clone()]).to_device(device);
        let take_1 = |x: Tensor<B, 1>| x.slice([rows.clone()]).to_device(device);
        RatioBatch {
            times: self.times[rows.clone()].to_vec(),
            z: take_2(self.z),
            log_r: take_1(self.log_r),
            cycle: self.cycle.map(|(z, guide)| (take_2(z), take_1(guide))),
        }
    }
}

impl<B: AutodiffBackend> RatioObjective<'_, B> {
    /// Draws a batch: times, source rows, their clean log-ratio, their corruption, then
    /// (with a cycle term) target rows, their corruption and the classifier's guide.
    fn draw(&self, batch_size: usize, rng: &mut ChaCha8Rng) -> RatioBatch<B::InnerBackend> {
        let device = &self.device;
        let times = training_times(&self.process, batch_size, rng);
        let x0 = borrowed_rows_tensor::<B::InnerBackend>(
            &draw_rows(self.source, batch_size, rng),
            device,
        );
        let log_r = self
            .clean_log_ratio
            .log_ratio(x0.clone(), Tensor::zeros([batch_size], device));
        let z = self.process.corrupt(x0, &times, rng);
        let cycle = self.cycle.as_ref().map(|cycle| {
            let target = borrowed_rows_tensor::<B::InnerBackend>(
                &draw_rows(cycle.target, batch_size, rng),
                device,
            );
            let z_target = self.process.corrupt(target, &times, rng);
            let guide = cycle
                .classifier
                .log_ratio(z_target.clone(), row_times_tensor(&times, device));
            (z_target, guide)
        });
        RatioBatch {
            times,
            z,
            log_r,
            cycle,
        }
    }

    /// Mean loss of `batch`'s rows: the regression, plus η times the cycle term.
    fn batch_loss(&self, model: &ScalarNet<B>, batch: RatioBatch<B::InnerBackend>) -> Tensor<B, 1> {
        let RatioBatch {
            times,
            z,
            log_r,
            cycle,
        } = batch;
        let device = &z.device();
        let rows = times.len();
        let Some((z_target, guide)) = cycle else {
            let out = model.forward(Tensor::from_inner(z), row_times_tensor(&times, device));
            return self
                .estimator
                .per_row(out, Tensor::from_inner(log_r))
                .mean();
        };
        let weight = self.cycle.as_ref().map_or(0.0, |c| c.weight);
        let both = [times.as_slice(), times.as_slice()].concat();
        let out = model.forward(
            Tensor::from_inner(Tensor::cat(vec![z, z_target], 0)),
            row_times_tensor(&both, device),
        );
        let out_source = out.clone().slice(0..rows);
        let out_target = out.slice(rows..2 * rows);
        let regression = self
            .estimator
            .per_row(out_source, Tensor::from_inner(log_r))
            .mean();
        let cycle_loss = squared_error(out_target, Tensor::from_inner(guide)).mean();
        regression + cycle_loss.mul_scalar(weight)
    }
}

impl<B: AutodiffBackend> Objective<B, ScalarNet<B>> for RatioObjective<'_, B> {
    fn loss(&self, model: &ScalarNet<B>, batch_size: usize, rng: &mut ChaCha8Rng) -> Tensor<B, 1> {
        let batch = self.draw(batch_size, rng);
        self.batch_loss(model, batch)
    }

    /// The whole batch is drawn on the objective's device (where the frozen teacher and
    /// classifier live) as in `loss`; only `rows`, moved to `device`, go through the network.
    fn loss_of_rows(
        &self,
        model: &ScalarNet<B>,
        batch_size: usize,
        rng: &mut ChaCha8Rng,
        rows: Range<usize>,
        device: &B::Device,
    ) -> Option<Tensor<B, 1>> {
        gtl_models::training::assert_rows_of_batch(&rows, batch_size);
        let batch = self.draw(batch_size, rng);
        if rows == (0..batch_size) {
            return Some(self.batch_loss(model, batch));
        }
        Some(self.batch_loss(model, batch.rows(rows, device)))
    }

    fn splits(&self) -> bool {
        true
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
