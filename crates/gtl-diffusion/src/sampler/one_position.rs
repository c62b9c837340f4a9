//! One position per step for the absorbing process (MATH.md §4): `L` steps, each revealing
//! one masked position chosen from `z_t` alone.

use burn::prelude::*;
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};

use super::{
    Sampler, Samples, draw_categorical, in_batches, tensor_tokens, times_tensor, tokens_tensor,
};
use crate::{Denoiser, DiffusionError, Process, ProcessKind};

/// Which masked position is revealed next.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Order {
    /// Uniformly at random among masked positions.
    #[default]
    Random,
    /// The masked position where the denoiser is most confident.
    Confidence(Confidence),
}

/// How confident the denoiser is at a position.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Confidence {
    /// Largest probability.
    #[default]
    MaxProb,
    /// Gap between the two largest probabilities.
    Margin,
    /// Negative entropy.
    Entropy,
}

/// The one-position sampler.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OnePosition {
    /// Position order.
    pub order: Order,
    /// Sequences generated together.
    pub batch_size: usize,
}

impl<B: Backend> Sampler<B> for OnePosition {
    fn sample(
        &self,
        denoiser: &dyn Denoiser<B>,
        process: &Process,
        count: usize,
        length: usize,
        device: &B::Device,
        rng: &mut dyn RngCore,
    ) -> Result<Samples, DiffusionError> {
        if process.kind != ProcessKind::Absorbing {
            return Err(DiffusionError::config(format!(
                "sampler.kind = \"one-position\" needs the absorbing process, got \"{}\"",
                process.kind.name()
            )));
        }
        let mask = process.num_tokens as u32;
        in_batches(count, self.batch_size, |rows| {
            let mut tokens = vec![mask; rows * length];
            let mut samples = Samples::default();
            for step in 0..length {
                let masked_left = length - step;
                let t = process.time_for_mask_fraction(masked_left as f64 / length as f64);
                let z = tokens_tensor::<B>(&tokens, rows, length, device);
                let log_x0 = denoiser.log_probs(z.clone(), times_tensor(t, rows, device));
                samples.stats.denoiser_calls += 1;
                samples.stats.denoised_rows += rows;
                let positions = match self.order {
                    Order::Random => random_masked_positions(&tokens, rows, length, mask, rng),
                    Order::Confidence(kind) => {
                        most_confident_positions(log_x0.clone(), z, mask, kind)
                    }
                };
                let chosen = gather_positions(log_x0, &positions, device).exp();
                let drawn = draw_categorical(chosen, rng)?;
                for (r, (&position, token)) in positions.iter().zip(drawn).enumerate() {
                    tokens[r * length + position] = token;
                }
            }
            samples.tokens = tokens.chunks(length).map(<[u32]>::to_vec).collect();
            Ok(samples)
        })
    }
}

/// Per row of host `tokens` (`rows × length`), one masked position drawn uniformly (one RNG
/// draw per row).
///
/// # Panics
/// If a row has no masked position.
pub fn random_masked_positions(
    tokens: &[u32],
    rows: usize,
    length: usize,
    mask: u32,
    rng: &mut dyn RngCore,
) -> Vec<usize> {
    (0..rows)
        .map(|r| {
            let row = &tokens[r * length..(r + 1) * length];
            let masked: Vec<usize> = (0..length).filter(|&l| row[l] == mask).collect();
            masked[rng.random_range(0..masked.len())]
        })
        .collect()
}

/// Per row, the masked position with the highest confidence (ties: the first).
pub fn most_confident_positions<B: Backend>(
    log_x0: Tensor<B, 3>,
    z: Tensor<B, 2, Int>,
    mask: u32,
    kind: Confidence,
) -> Vec<usize> {
    let [rows, length, _] = log_x0.dims();
    let probs = log_x0.clone().exp();
    let score: Tensor<B, 2> = match kind {
        Confidence::MaxProb => probs.max_dim(2).reshape([rows, length]),
        Confidence::Margin => {
            let top = probs.topk(2, 2);
            let [first, second] = [0, 1].map(|k| top.clone().slice([0..rows, 0..length, k..k + 1]));
            (first - second).reshape([rows, length])
        }
        Confidence::Entropy => (probs * log_x0.clamp_min(-1e4))
            .sum_dim(2)
            .reshape([rows, length]),
    };
    let unmasked = z.equal_elem(i64::from(mask)).bool_not();
    let score = score.mask_fill(unmasked, f32::NEG_INFINITY);
    tensor_tokens(score.argmax(1))
        .into_iter()
        .map(|p| p as usize)
        .collect()
}

/// Rows of `log_x0` at one position per row: `[rows, 1, N]`.
pub fn gather_positions<B: Backend>(
    log_x0: Tensor<B, 3>,
    positions: &[usize],
    device: &B::Device,
) -> Tensor<B, 3> {
    let [rows, _, n] = log_x0.dims();
    let index: Vec<i64> = positions.iter().map(|&p| p as i64).collect();
    let index = Tensor::<B, 1, Int>::from_data(TensorData::new(index, [rows]), device)
        .reshape([rows, 1, 1])
        .expand([rows, 1, n]);
    log_x0.gather(1, index)
}
