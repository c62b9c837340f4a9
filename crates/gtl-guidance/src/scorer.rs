//! Log-ratios of single-token substitutions `z^{ℓ←v}`, exactly (batched ratio passes) or to
//! first order (one gradient of the ratio network with respect to its one-hot input).

use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use gtl_classifier::{OneHotGradient, RatioModel};
use gtl_diffusion::sampler::SamplerStats;
use gtl_models::ScalarNet;

use crate::GuidanceError;

/// A ratio network on an autodiff backend, differentiated with respect to its one-hot input;
/// used by samplers running on the inner backend.
pub struct TaylorRatio<AB: AutodiffBackend> {
    /// The network (its output is `log r`).
    pub net: ScalarNet<AB>,
}

impl<AB: AutodiffBackend> OneHotGradient<AB::InnerBackend> for TaylorRatio<AB> {
    fn one_hot_gradient(
        &self,
        tokens: Tensor<AB::InnerBackend, 2, Int>,
        t: Tensor<AB::InnerBackend, 1>,
    ) -> Tensor<AB::InnerBackend, 3> {
        let vocab = self.net.trunk.token_embedding.weight.dims()[0];
        let one_hot = Tensor::<AB, 3>::from_inner(tokens.one_hot(vocab).float()).require_grad();
        let out = self
            .net
            .forward_one_hot(one_hot.clone(), Tensor::from_inner(t));
        let grads = out.sum().backward();
        one_hot.grad(&grads).expect("the one-hot input is tracked")
    }
}

/// How guided samplers score candidate substitutions.
pub enum Scorer<'a, B: Backend> {
    /// The ratio model on every candidate sequence, at most `chunk_rows` sequences per call.
    Exact {
        /// The ratio model.
        ratio: &'a dyn RatioModel<B>,
        /// Largest batch of candidate sequences per ratio call (≥ 1).
        chunk_rows: usize,
    },
    /// First-order estimate from the one-hot gradient at the current sequence.
    Taylor(&'a dyn OneHotGradient<B>),
}

impl<B: Backend> Clone for Scorer<'_, B> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<B: Backend> Copy for Scorer<'_, B> {}

impl<B: Backend> Scorer<'_, B> {
    /// Checks `chunk_rows`.
    pub fn validate(&self) -> Result<(), GuidanceError> {
        match self {
            Scorer::Exact { chunk_rows: 0, .. } => Err(GuidanceError::Config(
                "chunk_rows = 0: must be at least 1".into(),
            )),
            _ => Ok(()),
        }
    }

    /// `log r(z^{ℓ_p ← v})` for sites `p` (row `rows[p]` of `z`, position `positions[p]`,
    /// evaluated at time `times[p]`) and candidates `values` (`[sites, K]`), shape
    /// `[sites, K]`, up to a constant per site (which guidance ignores).
    pub fn score(
        &self,
        z: Tensor<B, 2, Int>,
        rows: &[usize],
        positions: &[usize],
        times: &[f64],
        values: Tensor<B, 2, Int>,
        stats: &mut SamplerStats,
    ) -> Tensor<B, 2> {
        let device = z.device();
        let [sites, k] = values.dims();
        let [_, length] = z.dims();
        match *self {
            Scorer::Exact { ratio, chunk_rows } => {
                let per_chunk = (chunk_rows / k).max(1);
                let mut parts = Vec::new();
                for start in (0..sites).step_by(per_chunk) {
                    let end = (start + per_chunk).min(sites);
                    let n = end - start;
                    let base = z
                        .clone()
                        .select(0, index_tensor(&rows[start..end], &device));
                    let at = position_mask::<B>(&positions[start..end], length, &device)
                        .unsqueeze_dim::<3>(1)
                        .expand([n, k, length]);
                    let candidates = base
                        .unsqueeze_dim::<3>(1)
                        .expand([n, k, length])
                        .mask_where(
                            at,
                            values
                                .clone()
                                .slice(start..end)
                                .unsqueeze_dim::<3>(2)
                                .expand([n, k, length]),
                        )
                        .reshape([n * k, length]);
                    let t: Vec<f32> = times[start..end]
                        .iter()
                        .flat_map(|&t| std::iter::repeat_n(t as f32, k))
                        .collect();
                    let t = Tensor::from_data(TensorData::new(t, [n * k]), &device);
                    parts.push(ratio.log_ratio(candidates, t).reshape([n, k]));
                    stats.ratio_calls += 1;
                    stats.ratio_rows += n * k;
                }
                Tensor::cat(parts, 0)
            }
            Scorer::Taylor(gradient) => {
                // One gradient per distinct row, at the time of the row's first site.
                let mut distinct: Vec<usize> = rows.to_vec();
                distinct.sort_unstable();
                distinct.dedup();
                let mut row_time = vec![f32::NAN; distinct.len()];
                for (row, &t) in rows.iter().zip(times).rev() {
                    let slot = distinct.binary_search(row).expect("row present");
                    row_time[slot] = t as f32;
                }
                let base = z.select(0, index_tensor(&distinct, &device));
                let g = gradient.one_hot_gradient(
                    base,
                    Tensor::from_data(TensorData::new(row_time, [distinct.len()]), &device),
                );
                stats.ratio_calls += 1;
                stats.ratio_rows += distinct.len();
                let [_, _, vocab] = g.dims();
                let slot: Vec<usize> = rows
                    .iter()
                    .map(|r| distinct.binary_search(r).expect("row present"))
                    .collect();
                let position_index = index_tensor(positions, &device)
                    .reshape([sites, 1, 1])
                    .expand([sites, 1, vocab]);
                g.select(0, index_tensor(&slot, &device))
                    .gather(1, position_index)
                    .reshape([sites, vocab])
                    .gather(1, values)
            }
        }
    }
}

/// A `[len]` Int tensor of indices.
pub(crate) fn index_tensor<B: Backend>(indices: &[usize], device: &B::Device) -> Tensor<B, 1, Int> {
    let data: Vec<i64> = indices.iter().map(|&i| i as i64).collect();
    Tensor::from_data(TensorData::new(data, [indices.len()]), device)
}

/// `[sites, length]`, true at each site's position.
fn position_mask<B: Backend>(
    positions: &[usize],
    length: usize,
    device: &B::Device,
) -> Tensor<B, 2, Bool> {
    let n = positions.len();
    let arange = Tensor::<B, 1, Int>::arange(0..length as i64, device)
        .reshape([1, length])
        .expand([n, length]);
    arange.equal(
        index_tensor(positions, device)
            .reshape([n, 1])
            .expand([n, length]),
    )
}
