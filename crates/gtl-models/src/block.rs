//! One pre-norm transformer block, conditioned on the time embedding by adaLN-zero.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;

use crate::adapter::{AdapterSpec, LowRank, adapted};
use crate::attention::{Rotation, SelfAttention, SelfAttentionConfig};

/// Variance floor of every LayerNorm (PyTorch's default).
const NORM_EPSILON: f64 = 1e-5;

/// Configuration of a [`Block`].
#[derive(Config, Debug)]
pub struct BlockConfig {
    /// Width of the residual stream; divisible by `num_heads`.
    pub d_model: usize,
    /// Number of attention heads.
    pub num_heads: usize,
    /// Hidden width of the GELU MLP.
    pub mlp_hidden: usize,
    /// Dropout on the output of both residual branches, in [0, 1).
    #[config(default = 0.0)]
    pub dropout: f64,
    /// Modulate the norms by the time embedding (adaLN-zero); otherwise affine LayerNorms.
    #[config(default = true)]
    pub time_conditioning: bool,
}

impl BlockConfig {
    /// Builds the block; under adaLN-zero it is the identity map at initialisation.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Block<B> {
        Block {
            attention: SelfAttentionConfig::new(self.d_model, self.num_heads).init(device),
            mlp_in: LinearConfig::new(self.d_model, self.mlp_hidden).init(device),
            mlp_out: LinearConfig::new(self.mlp_hidden, self.d_model).init(device),
            mlp_adapters: None,
            dropout: DropoutConfig::new(self.dropout).init(),
            conditioning: Conditioning::init(self.d_model, 2, true, self.time_conditioning, device),
        }
    }
}

/// `x += gate₁·Attn(LN(x)(1+scale₁)+shift₁)`, then `x += gate₂·MLP(LN(x)(1+scale₂)+shift₂)`;
/// without time conditioning `x += Attn(LN₁(x))`, `x += MLP(LN₂(x))` with affine norms.
#[derive(Module, Debug)]
pub struct Block<B: Backend> {
    /// Bidirectional multi-head self-attention.
    pub attention: SelfAttention<B>,
    /// First MLP layer `d_model → mlp_hidden`.
    pub mlp_in: Linear<B>,
    /// Second MLP layer `mlp_hidden → d_model`.
    pub mlp_out: Linear<B>,
    /// Low-rank updates of the two MLP layers (LoRA fine-tuning), when attached.
    pub mlp_adapters: Option<MlpAdapters<B>>,
    /// Dropout on each branch output.
    pub dropout: Dropout,
    /// How the two norms are parameterised.
    pub conditioning: Conditioning<B>,
}

impl<B: Backend> Block<B> {
    /// Applies the block to `x` (`[batch, length, d_model]`). `c` (`[batch, d_model]`) is the
    /// time embedding, required under adaLN-zero and ignored otherwise; `mask` restricts the
    /// attention ([`SelfAttention::forward`]).
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        c: Option<&Tensor<B, 2>>,
        rotation: Option<&Rotation<B>>,
        mask: Option<&Tensor<B, 4, Bool>>,
    ) -> Tensor<B, 3> {
        match &self.conditioning {
            Conditioning::AdaLnZero(modulation) => {
                let c = c.expect("a time-conditioned block needs the time embedding");
                let [shift1, scale1, gate1, shift2, scale2, gate2] =
                    split_modulation(modulation.forward(c.clone()));
                let h = modulate(normalize(x.clone()), shift1, scale1);
                let x = x + gate1
                    * self
                        .dropout
                        .forward(self.attention.forward(h, rotation, mask));
                let h = modulate(normalize(x.clone()), shift2, scale2);
                x + gate2 * self.dropout.forward(self.mlp(h))
            }
            Conditioning::Affine(norms) => {
                let h = norms[0].forward(x.clone());
                let x = x + self
                    .dropout
                    .forward(self.attention.forward(h, rotation, mask));
                let h = norms[1].forward(x.clone());
                x + self.dropout.forward(self.mlp(h))
            }
        }
    }

    fn mlp(&self, h: Tensor<B, 3>) -> Tensor<B, 3> {
        let adapters = self.mlp_adapters.as_ref();
        let hidden = gelu(adapted(&self.mlp_in, adapters.map(|a| &a.mlp_in), h));
        adapted(&self.mlp_out, adapters.map(|a| &a.mlp_out), hidden)
    }

    /// Attaches fresh low-rank adapters to the attention projections and the MLP layers.
    pub fn with_adapters(mut self, spec: AdapterSpec, device: &B::Device) -> Self {
        self.attention = self.attention.with_adapters(spec, device);
        let new = |linear: &Linear<B>| LowRank::for_linear(linear, spec.rank, spec.alpha, device);
        self.mlp_adapters = Some(MlpAdapters {
            mlp_in: new(&self.mlp_in),
            mlp_out: new(&self.mlp_out),
        });
        self
    }
}

/// Low-rank updates of a block's MLP layers.
#[derive(Module, Debug)]
pub struct MlpAdapters<B: Backend> {
    /// Update of the first layer.
    pub mlp_in: LowRank<B>,
    /// Update of the second layer.
    pub mlp_out: LowRank<B>,
}

/// GELU `x Φ(x)` with the exact erf. Under autodiff it is composed from `erf`: burn 0.21
/// differentiates its fused `gelu` with the derivative of the tanh approximation, which
/// disagrees with the exact forward by up to ~1e-3.
fn gelu<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    if B::ad_enabled(&x.device()) {
        let phi = x
            .clone()
            .mul_scalar(std::f64::consts::FRAC_1_SQRT_2)
            .erf()
            .add_scalar(1.0)
            .mul_scalar(0.5);
        x * phi
    } else {
        burn::tensor::activation::gelu(x)
    }
}

/// How a layer normalises its input: modulated by the time embedding, or plain affine.
// A handful of instances per model: the size gap between the variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Conditioning<B: Backend> {
    /// adaLN-zero: parameter-free LayerNorms shifted, scaled (and gated) by a zero-initialised
    /// `Linear(c)` of width `sites · (2 or 3) · d_model`.
    AdaLnZero(Linear<B>),
    /// No time input: one affine LayerNorm per normalisation site.
    Affine(Vec<LayerNorm<B>>),
}

impl<B: Backend> Conditioning<B> {
    /// `sites` norms of width `d_model`; `gated` adds a residual gate per site.
    pub(crate) fn init(
        d_model: usize,
        sites: usize,
        gated: bool,
        time_conditioning: bool,
        device: &B::Device,
    ) -> Self {
        if time_conditioning {
            let per_site = if gated { 3 } else { 2 };
            let modulation = LinearConfig::new(d_model, sites * per_site * d_model)
                .with_initializer(burn::nn::Initializer::Zeros)
                .init(device);
            Conditioning::AdaLnZero(modulation)
        } else {
            let norm = || {
                LayerNormConfig::new(d_model)
                    .with_epsilon(NORM_EPSILON)
                    .init(device)
            };
            Conditioning::Affine((0..sites).map(|_| norm()).collect())
        }
    }
}

/// LayerNorm over the last axis without affine parameters.
pub(crate) fn normalize<B: Backend>(x: Tensor<B, 3>) -> Tensor<B, 3> {
    let (variance, mean) = x.clone().var_mean_bias(2);
    (x - mean) / variance.add_scalar(NORM_EPSILON).sqrt()
}

/// `h · (1 + scale) + shift`, broadcasting `[batch, 1, d]` over positions.
pub(crate) fn modulate<B: Backend>(
    h: Tensor<B, 3>,
    shift: Tensor<B, 3>,
    scale: Tensor<B, 3>,
) -> Tensor<B, 3> {
    h * scale.add_scalar(1.0) + shift
}

/// Splits a modulation `[batch, K·d]` into `K` tensors `[batch, 1, d]`.
pub(crate) fn split_modulation<B: Backend, const K: usize>(
    modulation: Tensor<B, 2>,
) -> [Tensor<B, 3>; K] {
    modulation
        .unsqueeze_dim::<3>(1)
        .chunk(K, 2)
        .try_into()
        .expect("the modulation width is a multiple of K")
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    type TB = crate::tests::TestBackend;

    #[test]
    fn normalize_matches_the_definition() {
        let device = Default::default();
        let x = Tensor::<TB, 3>::random([2, 3, 6], Distribution::Normal(1.0, 3.0), &device);
        let rows = x.clone().into_data().to_vec::<f64>().unwrap();
        let got = normalize(x).into_data().to_vec::<f64>().unwrap();
        for (row, out) in rows.chunks(6).zip(got.chunks(6)) {
            let mean = row.iter().sum::<f64>() / 6.0;
            let variance = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 6.0;
            for (v, o) in row.iter().zip(out) {
                assert!(((v - mean) / (variance + NORM_EPSILON).sqrt() - o).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn adaln_zero_block_is_the_identity_at_init() {
        let device = Default::default();
        let block = BlockConfig::new(8, 2, 16).init::<TB>(&device);
        let x = Tensor::<TB, 3>::random([2, 4, 8], Distribution::Normal(0.0, 1.0), &device);
        let c = Tensor::<TB, 2>::random([2, 8], Distribution::Normal(0.0, 1.0), &device);
        let y = block.forward(x.clone(), Some(&c), None, None);
        assert_eq!(y.into_data(), x.into_data());
    }
}
