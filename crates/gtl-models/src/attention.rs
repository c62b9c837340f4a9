//! Bidirectional multi-head self-attention with optional rotary positions on queries and keys.
//!
//! burn's `MultiHeadAttention` offers no hook between the projections and the scores, where
//! rotary encoding must act, so the trunk uses this small module instead. Rotary positions
//! are applied as [`Rotation`]: two elementwise products and a pair swap on the projected
//! `[batch, length, d_model]` tensor, instead of burn's `RotaryEncoding::forward`, whose
//! batched `[d/2, 2] × [2, 4]` matrix products per position cost about as much as the rest
//! of a training step on the CPU backend.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig, RotaryEncoding};
use burn::tensor::backend::Backend;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, Tensor, TensorData};

use crate::adapter::{AdapterSpec, LowRank, adapted};

/// Configuration of a [`SelfAttention`] layer.
#[derive(Config, Debug)]
pub struct SelfAttentionConfig {
    /// Width of the input and output; divisible by `num_heads`.
    pub d_model: usize,
    /// Number of attention heads.
    pub num_heads: usize,
}

impl SelfAttentionConfig {
    /// Builds the layer. Panics if `d_model` is not a positive multiple of `num_heads`.
    pub fn init<B: Backend>(&self, device: &B::Device) -> SelfAttention<B> {
        assert!(
            self.num_heads > 0 && self.d_model > 0 && self.d_model.is_multiple_of(self.num_heads),
            "attention d_model = {} must be a positive multiple of num_heads = {}",
            self.d_model,
            self.num_heads
        );
        let projection = || LinearConfig::new(self.d_model, self.d_model).init(device);
        SelfAttention {
            query: projection(),
            key: projection(),
            value: projection(),
            output: projection(),
            adapters: None,
            num_heads: self.num_heads,
            head_dim: self.d_model / self.num_heads,
        }
    }
}

/// The attention mask of a window: `[1, 1, length, length]`, `true` where `|i − j| > window`
/// (query `i` may not attend to key `j`); the layout [`SelfAttention::forward`] takes.
pub(crate) fn band_mask<B: Backend>(
    length: usize,
    window: usize,
    device: &B::Device,
) -> Tensor<B, 4, Bool> {
    let far: Vec<bool> = (0..length * length)
        .map(|k| (k / length).abs_diff(k % length) > window)
        .collect();
    Tensor::<B, 1, Bool>::from_data(TensorData::new(far, [length * length]), device)
        .reshape([1, 1, length, length])
}

/// Rotary position encoding of every head at once, for one sequence length: position `p`
/// rotates each pair `(2i, 2i + 1)` of a head vector by the angle of burn's
/// [`RotaryEncoding`] table (`p · θ^(−2i/d_h)`), written as `x ∘ C + swap(x) ∘ S` with
/// `swap(a, b) = (b, a)` on each pair and the sign of the sine folded into `S`.
#[derive(Clone, Debug)]
pub struct Rotation<B: Backend> {
    /// `[1, length, d_model]`: the cosine of each channel's angle, tiled over the heads.
    cos: Tensor<B, 3>,
    /// `[1, length, d_model]`: `−sin` on even channels, `+sin` on odd ones.
    signed_sin: Tensor<B, 3>,
}

impl<B: Backend> Rotation<B> {
    /// The rotation of the first `length` positions from `encoding` (built for width
    /// `head_dim`), for tensors of width `d_model`: `d_model / head_dim` heads side by side.
    /// Panics if `length` exceeds the encoding's table or `d_model` is not a multiple of
    /// `head_dim`.
    pub fn new(encoding: &RotaryEncoding<B>, length: usize, d_model: usize) -> Self {
        let [max_length, head_dim, _] = encoding.freq_complex.dims();
        assert!(
            length <= max_length,
            "sequence length {length} exceeds the rotary table's {max_length}"
        );
        assert!(
            d_model.is_multiple_of(head_dim),
            "width {d_model} is not a multiple of the rotary head width {head_dim}"
        );
        let num_heads = d_model / head_dim;
        let table = encoding.freq_complex.clone().narrow(0, 0, length);
        let part = |index: usize| {
            table
                .clone()
                .narrow(2, index, 1)
                .reshape([length, head_dim])
                .repeat_dim(1, num_heads)
                .unsqueeze::<3>()
        };
        let device = encoding.freq_complex.device();
        let signs: Vec<f32> = (0..d_model)
            .map(|channel| if channel % 2 == 0 { -1.0 } else { 1.0 })
            .collect();
        let signs = Tensor::<B, 1>::from_data(TensorData::new(signs, [d_model]), &device)
            .reshape([1, 1, d_model]);
        Rotation {
            cos: part(0),
            signed_sin: part(1) * signs,
        }
    }

    /// Rotates `x` (`[batch, length, d_model]`, heads side by side in the last axis).
    pub fn apply(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let [batch, length, d_model] = x.dims();
        let swapped = x
            .clone()
            .reshape([batch, length, d_model / 2, 2])
            .flip([3])
            .reshape([batch, length, d_model]);
        x * self.cos.clone() + swapped * self.signed_sin.clone()
    }
}

/// `softmax(Q Kᵀ / √d_h) V` per head, every position attending to every position unless a
/// mask is given.
#[derive(Module, Debug)]
pub struct SelfAttention<B: Backend> {
    /// Query projection `d_model → d_model`.
    pub query: Linear<B>,
    /// Key projection `d_model → d_model`.
    pub key: Linear<B>,
    /// Value projection `d_model → d_model`.
    pub value: Linear<B>,
    /// Output projection of the concatenated heads.
    pub output: Linear<B>,
    /// Low-rank updates of the four projections (LoRA fine-tuning), when attached.
    pub adapters: Option<AttentionAdapters<B>>,
    /// Number of heads.
    pub num_heads: usize,
    /// Width of one head, `d_model / num_heads`.
    pub head_dim: usize,
}

impl<B: Backend> SelfAttention<B> {
    /// Attends over `x` (`[batch, length, d_model]`); when `rotation` is given (built for this
    /// length and `num_heads`) it rotates each head's queries and keys by their position. `mask`
    /// (`[1, 1, length, length]`, `true` = may not attend) restricts which keys each query
    /// sees; `None` lets every position attend to every position.
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        rotation: Option<&Rotation<B>>,
        mask: Option<&Tensor<B, 4, Bool>>,
    ) -> Tensor<B, 3> {
        let [batch, length, d_model] = x.dims();
        let adapters = self.adapters.as_ref();
        let heads = |projection: &Linear<B>, adapter: Option<&LowRank<B>>, rotated: bool| {
            let projected = adapted(projection, adapter, x.clone());
            let projected = match rotation {
                Some(rotation) if rotated => rotation.apply(projected),
                _ => projected,
            };
            projected
                .reshape([batch, length, self.num_heads, self.head_dim])
                .swap_dims(1, 2)
        };
        // Rotary positions act on queries and keys, never on values.
        let (query, key, value) = (
            heads(&self.query, adapters.map(|a| &a.query), true),
            heads(&self.key, adapters.map(|a| &a.key), true),
            heads(&self.value, adapters.map(|a| &a.value), false),
        );
        let mask = mask.map(|m| m.clone().expand([batch, self.num_heads, length, length]));
        // Default options: scale 1/√d_h, no causal mask.
        let context = attention(
            query,
            key,
            value,
            mask,
            None,
            AttentionModuleOptions::default(),
        );
        adapted(
            &self.output,
            adapters.map(|a| &a.output),
            context.swap_dims(1, 2).reshape([batch, length, d_model]),
        )
    }

    /// Attaches fresh adapters to the four projections (replacing any present).
    pub fn with_adapters(mut self, spec: AdapterSpec, device: &B::Device) -> Self {
        let new = |linear: &Linear<B>| LowRank::for_linear(linear, spec.rank, spec.alpha, device);
        self.adapters = Some(AttentionAdapters {
            query: new(&self.query),
            key: new(&self.key),
            value: new(&self.value),
            output: new(&self.output),
        });
        self
    }
}

/// Low-rank updates of the query, key, value and output projections.
#[derive(Module, Debug)]
pub struct AttentionAdapters<B: Backend> {
    /// Update of the query projection.
    pub query: LowRank<B>,
    /// Update of the key projection.
    pub key: LowRank<B>,
    /// Update of the value projection.
    pub value: LowRank<B>,
    /// Update of the output projection.
    pub output: LowRank<B>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::RotaryEncodingConfig;
    use burn::tensor::Distribution;

    type TB = crate::tests::TestBackend;

    fn values<const D: usize>(tensor: Tensor<TB, D>) -> Vec<f64> {
        tensor.into_data().to_vec::<f64>().unwrap()
    }

    /// `x W + b` for one row-major `[rows, d_in]` matrix.
    fn affine(x: &[f64], rows: usize, linear: &Linear<TB>) -> Vec<f64> {
        let [d_in, d_out] = linear.weight.dims();
        let w = values(linear.weight.val());
        let b = values(linear.bias.as_ref().unwrap().val());
        let mut out = vec![0.0; rows * d_out];
        for r in 0..rows {
            for o in 0..d_out {
                out[r * d_out + o] = b[o]
                    + (0..d_in)
                        .map(|i| x[r * d_in + i] * w[i * d_out + o])
                        .sum::<f64>();
            }
        }
        out
    }

    /// Rotates consecutive pairs `(2i, 2i+1)` of a head vector at `position` by angle
    /// `position · 10000^(-2i/d)`.
    fn rotate(head: &mut [f64], position: usize) {
        let d = head.len();
        for i in 0..d / 2 {
            let angle = position as f64 * 10000f64.powf(-((2 * i) as f64) / d as f64);
            let (a, b) = (head[2 * i], head[2 * i + 1]);
            head[2 * i] = a * angle.cos() - b * angle.sin();
            head[2 * i + 1] = a * angle.sin() + b * angle.cos();
        }
    }

    /// Self-attention of one sequence written out with loops; position `i` attends to `j`
    /// only when `|i − j| ≤ window` (`None`: every `j`).
    fn reference(
        x: &[f64],
        length: usize,
        layer: &SelfAttention<TB>,
        rotary: bool,
        window: Option<usize>,
    ) -> Vec<f64> {
        let d = layer.num_heads * layer.head_dim;
        let (q, k, v) = (
            affine(x, length, &layer.query),
            affine(x, length, &layer.key),
            affine(x, length, &layer.value),
        );
        let mut context = vec![0.0; length * d];
        for h in 0..layer.num_heads {
            // Rotary acts on queries and keys only, never on values.
            let slice = |m: &[f64], pos: usize, rotated: bool| {
                let start = pos * d + h * layer.head_dim;
                let mut head = m[start..start + layer.head_dim].to_vec();
                if rotated {
                    rotate(&mut head, pos);
                }
                head
            };
            for i in 0..length {
                let qi = slice(&q, i, rotary);
                let scores: Vec<f64> = (0..length)
                    .map(|j| {
                        if window.is_some_and(|w| i.abs_diff(j) > w) {
                            return f64::NEG_INFINITY;
                        }
                        let kj = slice(&k, j, rotary);
                        qi.iter().zip(&kj).map(|(a, b)| a * b).sum::<f64>()
                            / (layer.head_dim as f64).sqrt()
                    })
                    .collect();
                let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let weights: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let total: f64 = weights.iter().sum();
                for (j, w) in weights.iter().enumerate() {
                    let vj = slice(&v, j, false);
                    for c in 0..layer.head_dim {
                        context[i * d + h * layer.head_dim + c] += w / total * vj[c];
                    }
                }
            }
        }
        affine(&context, length, &layer.output)
    }

    #[test]
    fn matches_a_loop_implementation_with_and_without_rotary_and_a_window() {
        let device = Default::default();
        let (length, d_model, num_heads) = (5, 8, 2);
        let layer = SelfAttentionConfig::new(d_model, num_heads).init::<TB>(&device);
        let rotary_encoding =
            RotaryEncodingConfig::new(length, d_model / num_heads).init::<TB>(&device);
        let x = Tensor::<TB, 3>::random(
            [1, length, d_model],
            Distribution::Normal(0.0, 1.0),
            &device,
        );
        let rotation = Rotation::new(&rotary_encoding, length, d_model);
        let x_values = values(x.clone());
        for rotary in [false, true] {
            for window in [None, Some(1)] {
                let mask = window.map(|w| band_mask::<TB>(length, w, &device));
                let got =
                    values(layer.forward(x.clone(), rotary.then_some(&rotation), mask.as_ref()));
                let expected = reference(&x_values, length, &layer, rotary, window);
                for (g, e) in got.iter().zip(&expected) {
                    assert!(
                        (g - e).abs() < 1e-9,
                        "rotary = {rotary}, window = {window:?}: {g} vs {e}"
                    );
                }
            }
        }
    }

    /// The rotation of all heads at once equals burn's `RotaryEncoding` applied head by head
    /// on `[batch, heads, length, head_dim]`, for a sequence shorter than the table.
    #[test]
    fn rotation_equals_burns_rotary_encoding_per_head() {
        let device = Default::default();
        let (batch, num_heads, length, head_dim) = (3, 2, 6, 8);
        let encoding = RotaryEncodingConfig::new(length + 3, head_dim).init::<TB>(&device);
        let x = Tensor::<TB, 3>::random(
            [batch, length, num_heads * head_dim],
            Distribution::Normal(0.0, 1.0),
            &device,
        );
        let heads = |x: Tensor<TB, 3>| {
            x.reshape([batch, length, num_heads, head_dim])
                .swap_dims(1, 2)
        };
        let expected = values(encoding.forward(heads(x.clone())));
        let got = values(heads(
            Rotation::new(&encoding, length, num_heads * head_dim).apply(x),
        ));
        assert_eq!(got.len(), expected.len());
        for (g, e) in got.iter().zip(&expected) {
            assert!((g - e).abs() < 1e-9, "{g} vs {e}");
        }
    }
}
