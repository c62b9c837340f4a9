//! Unguided samplers (MATH.md §4), each a small type behind the [`Sampler`] trait.

mod ancestral;
mod one_position;
mod tau_leaping;

use std::time::Instant;

use burn::prelude::*;
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};

pub use ancestral::Ancestral;
pub use one_position::{
    Confidence, OnePosition, Order, gather_positions, most_confident_positions,
    random_masked_positions,
};
pub use tau_leaping::{LeapRule, TauLeaping, euler_probs, tweedie_probs};

use crate::{Denoiser, DiffusionError, Process};

/// Generated token sequences with the cost of producing them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Samples {
    /// One sequence of token ids per sample.
    pub tokens: Vec<Vec<u32>>,
    /// Counters.
    pub stats: SamplerStats,
}

/// What a sampler spent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SamplerStats {
    /// Denoiser forward calls (batched).
    pub denoiser_calls: usize,
    /// Sequences passed through the denoiser, summed over calls.
    pub denoised_rows: usize,
    /// Ratio-model forward calls (guided samplers; 0 otherwise).
    pub ratio_calls: usize,
    /// Sequences scored by the ratio model, summed over calls (a Taylor step counts its
    /// forward-and-backward pass as one row per sequence).
    pub ratio_rows: usize,
    /// Wall-clock seconds.
    pub seconds: f64,
}

impl SamplerStats {
    fn add(&mut self, other: SamplerStats) {
        self.denoiser_calls += other.denoiser_calls;
        self.denoised_rows += other.denoised_rows;
        self.ratio_calls += other.ratio_calls;
        self.ratio_rows += other.ratio_rows;
        self.seconds += other.seconds;
    }
}

/// A sampler of the reverse process of `process` driven by a denoiser.
pub trait Sampler<B: Backend> {
    /// Draws `count` sequences of `length` tokens, in batches, all randomness from `rng`.
    fn sample(
        &self,
        denoiser: &dyn Denoiser<B>,
        process: &Process,
        count: usize,
        length: usize,
        device: &B::Device,
        rng: &mut dyn RngCore,
    ) -> Result<Samples, DiffusionError>;
}

/// Which sampler to build, as written in configs and on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SamplerConfig {
    /// The sampling rule.
    pub kind: SamplerKind,
    /// Number of time steps (ignored by one-position sampling, which takes `length` steps).
    pub steps: usize,
    /// Last time of the grid `linspace(1, t_end, steps + 1)` before the final denoising step.
    pub t_end: f64,
    /// Position order of the one-position sampler.
    pub order: Order,
    /// Sequences generated together.
    pub batch_size: usize,
}

/// The sampling rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum SamplerKind {
    /// Sample each position from the model posterior.
    Ancestral,
    /// Euler τ-leaping with the denoiser's concrete score.
    Euler,
    /// Tweedie (analytic) τ-leaping.
    Tweedie,
    /// Reveal one position per step (absorbing only).
    OnePosition,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig {
            kind: SamplerKind::Ancestral,
            steps: 128,
            t_end: 1e-5,
            order: Order::Random,
            batch_size: 256,
        }
    }
}

impl SamplerConfig {
    /// Checks the parameters against the process; errors name the key and the allowed range.
    pub fn validate(&self, process: &Process) -> Result<(), DiffusionError> {
        if self.steps == 0 && self.kind != SamplerKind::OnePosition {
            return Err(DiffusionError::config(format!(
                "sampler.steps = {}: must be at least 1",
                self.steps
            )));
        }
        if !(self.t_end > 0.0 && self.t_end < 1.0) {
            return Err(DiffusionError::config(format!(
                "sampler.t_end = {}: must be in (0, 1)",
                self.t_end
            )));
        }
        if self.batch_size == 0 {
            return Err(DiffusionError::config(
                "sampler.batch_size = 0: must be at least 1".into(),
            ));
        }
        if self.kind == SamplerKind::OnePosition && process.kind != crate::ProcessKind::Absorbing {
            return Err(DiffusionError::config(format!(
                "sampler.kind = \"one-position\" needs the absorbing process, got \"{}\"",
                process.kind.name()
            )));
        }
        Ok(())
    }

    /// The configured sampler.
    pub fn build<B: Backend>(&self) -> Box<dyn Sampler<B>> {
        let leap = |rule| {
            Box::new(TauLeaping {
                steps: self.steps,
                t_end: self.t_end,
                rule,
                batch_size: self.batch_size,
            }) as Box<dyn Sampler<B>>
        };
        match self.kind {
            SamplerKind::Ancestral => Box::new(Ancestral {
                steps: self.steps,
                t_end: self.t_end,
                batch_size: self.batch_size,
            }),
            SamplerKind::Euler => leap(LeapRule::Euler),
            SamplerKind::Tweedie => leap(LeapRule::Tweedie),
            SamplerKind::OnePosition => Box::new(OnePosition {
                order: self.order,
                batch_size: self.batch_size,
            }),
        }
    }
}

/// Runs `sample_batch` over batches of at most `batch_size` rows and concatenates the results;
/// `stats.seconds` is the wall time of the whole call.
pub fn in_batches(
    count: usize,
    batch_size: usize,
    mut sample_batch: impl FnMut(usize) -> Result<Samples, DiffusionError>,
) -> Result<Samples, DiffusionError> {
    let start = Instant::now();
    let mut all = Samples::default();
    let mut done = 0;
    while done < count {
        let rows = batch_size.min(count - done);
        let batch = sample_batch(rows)?;
        all.tokens.extend(batch.tokens);
        all.stats.add(batch.stats);
        done += rows;
    }
    all.stats.seconds = start.elapsed().as_secs_f64();
    Ok(all)
}

/// Uploads host tokens (`rows × length`, row-major) as a `[rows, length]` tensor.
pub fn tokens_tensor<B: Backend>(
    tokens: &[u32],
    rows: usize,
    length: usize,
    device: &B::Device,
) -> Tensor<B, 2, Int> {
    let data: Vec<i64> = tokens.iter().map(|&v| i64::from(v)).collect();
    Tensor::from_data(TensorData::new(data, [rows, length]), device)
}

/// Downloads a token tensor as host ids.
pub fn tensor_tokens<B: Backend, const D: usize>(tokens: Tensor<B, D, Int>) -> Vec<u32> {
    tokens
        .into_data()
        .convert::<i64>()
        .to_vec::<i64>()
        .expect("integer tensor data")
        .into_iter()
        .map(|v| v as u32)
        .collect()
}

/// A `[rows]` tensor holding the same time for every row.
pub fn times_tensor<B: Backend>(t: f64, rows: usize, device: &B::Device) -> Tensor<B, 1> {
    Tensor::from_data(TensorData::new(vec![t as f32; rows], [rows]), device)
}

/// Draws one category per `[rows, positions]` entry from unnormalised probabilities
/// `[rows, positions, categories]` by inverse-CDF with one host uniform (f64) per entry.
/// A zero-probability category is never drawn.
///
/// # Errors
/// [`DiffusionError::InvalidProbabilities`] when an entry's total mass is NaN, infinite or
/// not positive (entries must be finite and ≥ 0; a NaN or infinite one makes the total so).
pub fn draw_categorical<B: Backend>(
    probs: Tensor<B, 3>,
    rng: &mut dyn RngCore,
) -> Result<Vec<u32>, DiffusionError> {
    let [rows, positions, categories] = probs.dims();
    let device = probs.device();
    let cdf = probs.cumsum(2);
    let total = cdf
        .clone()
        .slice([0..rows, 0..positions, categories - 1..categories]);
    let totals: Vec<f32> = total
        .clone()
        .into_data()
        .convert::<f32>()
        .to_vec()
        .expect("float tensor data");
    if let Some((flat, &bad)) = totals
        .iter()
        .enumerate()
        .find(|(_, t)| !(t.is_finite() && **t > 0.0))
    {
        return Err(DiffusionError::InvalidProbabilities {
            row: flat / positions,
            position: flat % positions,
            total: f64::from(bad),
        });
    }
    // Strictly below 1, so a zero-probability last category is never drawn.
    let uniforms: Vec<f32> = (0..rows * positions)
        .map(|_| (rng.random::<f64>() as f32).min(1.0 - f32::EPSILON / 2.0))
        .collect();
    let threshold =
        Tensor::<B, 3>::from_data(TensorData::new(uniforms, [rows, positions, 1]), &device) * total;
    let index = cdf
        .lower_equal(threshold.expand([rows, positions, categories]))
        .int()
        .sum_dim(2)
        .clamp_max(categories as i64 - 1);
    Ok(tensor_tokens(index))
}
