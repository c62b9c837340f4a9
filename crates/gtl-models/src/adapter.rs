//! Low-rank adapters (LoRA, Hu et al. 2021): a trainable update `scale · x A B` added to the
//! output of a frozen linear layer, `A` of shape `[d_in, rank]` drawn at random and `B` of
//! shape `[rank, d_out]` zero, so an adapted network starts as the network it adapts.

use burn::module::Initializer;
use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::prelude::*;

/// The update `scale · x A B` of one linear layer, `scale = alpha / rank`.
#[derive(Module, Debug)]
pub struct LowRank<B: Backend> {
    /// `A`, `[d_in, rank]`, Kaiming-uniform at initialisation.
    pub down: Param<Tensor<B, 2>>,
    /// `B`, `[rank, d_out]`, zero at initialisation.
    pub up: Param<Tensor<B, 2>>,
    /// `alpha / rank`.
    pub scale: f64,
}

impl<B: Backend> LowRank<B> {
    /// An adapter of `rank` for a layer `d_in → d_out`, scaled by `alpha / rank`.
    pub fn new(d_in: usize, d_out: usize, rank: usize, alpha: f64, device: &B::Device) -> Self {
        assert!(rank > 0, "a low-rank adapter needs rank ≥ 1");
        let down = Initializer::KaimingUniform {
            gain: 1.0 / 3f64.sqrt(),
            fan_out_only: false,
        }
        .init_with([d_in, rank], Some(d_in), Some(rank), device);
        let up = Initializer::Zeros.init([rank, d_out], device);
        // Drawn now: a lazily initialised clone would draw other values (see params.rs).
        let _ = (down.val(), up.val());
        LowRank {
            down,
            up,
            scale: alpha / rank as f64,
        }
    }

    /// An adapter shaped for `linear`.
    pub fn for_linear(linear: &Linear<B>, rank: usize, alpha: f64, device: &B::Device) -> Self {
        let [d_in, d_out] = linear.weight.dims();
        Self::new(d_in, d_out, rank, alpha, device)
    }

    /// The update `scale · x A B` for `x` of shape `[..., d_in]`.
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        position_wise(x, |rows| self.forward_rows(rows))
    }

    fn forward_rows(&self, rows: Tensor<B, 2>) -> Tensor<B, 2> {
        rows.matmul(self.down.val())
            .matmul(self.up.val())
            .mul_scalar(self.scale)
    }
}

/// Applies a map of rows `[n, d_in] → [n, d_out]` to the last axis of `x`: the leading axes
/// are flattened into one, so the map runs as one large matrix product. (burn's `Linear` on
/// a `[batch, length, d]` input runs `batch` small products, ~10× slower on NdArray.)
pub(crate) fn position_wise<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    map: impl FnOnce(Tensor<B, 2>) -> Tensor<B, 2>,
) -> Tensor<B, D> {
    let mut dims = x.dims();
    let rows: usize = dims[..D - 1].iter().product();
    let out = map(x.reshape([rows, dims[D - 1]]));
    dims[D - 1] = out.dims()[1];
    out.reshape(dims)
}

/// `linear(x)` on the last axis of `x`, plus the adapter's update when there is one.
pub(crate) fn adapted<B: Backend, const D: usize>(
    linear: &Linear<B>,
    adapter: Option<&LowRank<B>>,
    x: Tensor<B, D>,
) -> Tensor<B, D> {
    position_wise(x, |rows| match adapter {
        Some(adapter) => linear.forward(rows.clone()) + adapter.forward_rows(rows),
        None => linear.forward(rows),
    })
}

/// How to adapt a network: the rank and `alpha` of every adapter (`scale = alpha / rank`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdapterSpec {
    /// Rank of every update (≥ 1).
    pub rank: usize,
    /// Numerator of the scale.
    pub alpha: f64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::LinearConfig;
    use burn::tensor::Distribution;

    type TB = crate::tests::TestBackend;

    /// The update is `scale · x A B`, checked against a host-side product with non-zero `B`.
    #[test]
    fn the_update_is_the_scaled_low_rank_product() {
        let device = Default::default();
        let mut adapter = LowRank::<TB>::new(3, 4, 2, 6.0, &device);
        assert_eq!(adapter.scale, 3.0);
        adapter.up = Param::from_tensor(Tensor::random([2, 4], Distribution::Default, &device));
        let x = Tensor::<TB, 3>::random([2, 5, 3], Distribution::Default, &device);
        let got = adapter
            .forward(x.clone())
            .into_data()
            .to_vec::<f64>()
            .unwrap();
        let a = adapter.down.val().into_data().to_vec::<f64>().unwrap();
        let b = adapter.up.val().into_data().to_vec::<f64>().unwrap();
        let xs = x.into_data().to_vec::<f64>().unwrap();
        for (row, out) in xs.chunks(3).zip(got.chunks(4)) {
            for (j, &o) in out.iter().enumerate() {
                let mut expected = 0.0;
                for k in 0..2 {
                    let xa: f64 = (0..3).map(|i| row[i] * a[i * 2 + k]).sum();
                    expected += xa * b[k * 4 + j];
                }
                assert!((3.0 * expected - o).abs() < 1e-9, "{expected} vs {o}");
            }
        }
        let linear = LinearConfig::new(3, 4).init::<TB>(&device);
        let x = Tensor::<TB, 2>::random([5, 3], Distribution::Default, &device);
        let fresh = LowRank::for_linear(&linear, 2, 2.0, &device);
        let y = adapted(&linear, Some(&fresh), x.clone());
        assert_eq!(y.into_data(), linear.forward(x).into_data());
    }
}
