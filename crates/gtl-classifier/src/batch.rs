//! Host-side batching shared by the objectives: drawing rows, corrupting them at antithetic
//! times, and evaluating a [`RatioModel`] over many sequences.

use burn::prelude::*;
use gtl_diffusion::sampler::tokens_tensor;
use gtl_diffusion::{Process, antithetic_times};
use rand::Rng;

use crate::RatioModel;

/// Rows evaluated together by the validation metrics and [`log_ratios`].
pub(crate) const EVAL_CHUNK: usize = 512;

/// Seed of the fixed corruption used by every validation metric, so it is deterministic.
pub(crate) const VALIDATION_SEED: u64 = 0x0c1a_551f_1e25;

/// A `[rows]` time tensor holding `t` (one time per row).
pub fn row_times_tensor<B: Backend>(t: &[f64], device: &B::Device) -> Tensor<B, 1> {
    let values: Vec<f32> = t.iter().map(|&v| v as f32).collect();
    Tensor::from_data(TensorData::new(values, [t.len()]), device)
}

/// `log h_t` of every sequence of `sequences` at its time in `times` (one per sequence), in
/// chunks of 512 rows, downloaded as `f64`.
///
/// # Panics
/// If `times.len() != sequences.len()` or the sequences differ in length.
pub fn log_ratios<B: Backend, R: RatioModel<B> + ?Sized>(
    model: &R,
    sequences: &[Vec<u32>],
    times: &[f64],
    device: &B::Device,
) -> Vec<f64> {
    assert_eq!(
        times.len(),
        sequences.len(),
        "one time per sequence expected"
    );
    let mut out = Vec::with_capacity(sequences.len());
    for (rows, t) in sequences.chunks(EVAL_CHUNK).zip(times.chunks(EVAL_CHUNK)) {
        let tokens = rows_tensor::<B>(rows, device);
        out.extend(to_f64(
            model.log_ratio(tokens, row_times_tensor::<B>(t, device)),
        ));
    }
    out
}

/// Uploads `rows` (all of one length) as a `[rows, length]` tensor.
pub(crate) fn rows_tensor<B: Backend>(rows: &[Vec<u32>], device: &B::Device) -> Tensor<B, 2, Int> {
    let length = rows[0].len();
    assert!(
        rows.iter().all(|row| row.len() == length),
        "sequences must all have the same length"
    );
    let flat: Vec<u32> = rows.iter().flatten().copied().collect();
    tokens_tensor::<B>(&flat, rows.len(), length, device)
}

/// Draws `count` rows of `data` uniformly with replacement.
pub(crate) fn draw_rows<'a, R: Rng + ?Sized>(
    data: &'a [Vec<u32>],
    count: usize,
    rng: &mut R,
) -> Vec<&'a [u32]> {
    (0..count)
        .map(|_| data[rng.random_range(0..data.len())].as_slice())
        .collect()
}

/// Uploads borrowed rows (all of one length).
pub(crate) fn borrowed_rows_tensor<B: Backend>(
    rows: &[&[u32]],
    device: &B::Device,
) -> Tensor<B, 2, Int> {
    let flat: Vec<u32> = rows.iter().flat_map(|row| row.iter().copied()).collect();
    tokens_tensor::<B>(&flat, rows.len(), rows[0].len(), device)
}

/// `count` antithetic training times in `[t_min, 1]` (MATH.md §1) with a fresh offset.
pub(crate) fn training_times<R: Rng + ?Sized>(
    process: &Process,
    count: usize,
    rng: &mut R,
) -> Vec<f64> {
    antithetic_times(count, process.schedule.min_training_time(), rng.random())
}

/// A vector of `[rows]` labels, one value repeated.
pub(crate) fn constant<B: Backend>(value: f64, rows: usize, device: &B::Device) -> Tensor<B, 1> {
    Tensor::full([rows], value, device)
}

/// Downloads a float tensor as `f64`.
pub(crate) fn to_f64<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> Vec<f64> {
    tensor
        .into_data()
        .convert::<f64>()
        .to_vec::<f64>()
        .expect("float tensor data")
}
