//! Embedding of the diffusion time `t ∈ [0, 1]` into the model width.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};

/// Times are scaled by this factor before the sinusoids, so that `t ∈ [0, 1]` spans many
/// periods of the fastest frequency (as for integer diffusion steps).
const TIME_SCALE: f64 = 1000.0;

/// Period scale of the slowest sinusoid.
const MAX_PERIOD: f64 = 10000.0;

/// Configuration of a [`TimeEmbedding`].
#[derive(Config, Debug)]
pub struct TimeEmbeddingConfig {
    /// Width of the embedding; even, half cosines and half sines.
    pub d_model: usize,
}

impl TimeEmbeddingConfig {
    /// Builds the embedding. Panics if `d_model` is odd or zero.
    pub fn init<B: Backend>(&self, device: &B::Device) -> TimeEmbedding<B> {
        assert!(
            self.d_model >= 2 && self.d_model.is_multiple_of(2),
            "time embedding d_model = {}: must be even and at least 2",
            self.d_model
        );
        TimeEmbedding {
            linear_in: LinearConfig::new(self.d_model, self.d_model).init(device),
            linear_out: LinearConfig::new(self.d_model, self.d_model).init(device),
            d_model: self.d_model,
        }
    }
}

/// Sinusoidal features of `1000·t` followed by `Linear → SiLU → Linear`.
#[derive(Module, Debug)]
pub struct TimeEmbedding<B: Backend> {
    /// First projection of the sinusoidal features.
    pub linear_in: Linear<B>,
    /// Second projection, after the SiLU.
    pub linear_out: Linear<B>,
    /// Width of the embedding.
    pub d_model: usize,
}

impl<B: Backend> TimeEmbedding<B> {
    /// Embeds times `[batch]` into `[batch, d_model]`.
    pub fn forward(&self, t: Tensor<B, 1>) -> Tensor<B, 2> {
        let features = sinusoidal_features(t, self.d_model);
        self.linear_out
            .forward(silu(self.linear_in.forward(features)))
    }
}

/// SiLU `x σ(x)` with `σ(x) = (1 + tanh(x/2)) / 2`: burn 0.21 computes `sigmoid` in f32 even
/// on f64 backends, and tanh is stable for every `x`.
fn silu<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 2> {
    let sigmoid = x
        .clone()
        .mul_scalar(0.5)
        .tanh()
        .mul_scalar(0.5)
        .add_scalar(0.5);
    x * sigmoid
}

/// `[cos(1000 t f_i), sin(1000 t f_i)]` with `f_i = exp(-ln(10000) i / half)`, `i < half`,
/// `half = width / 2`: shape `[batch, width]`.
pub(crate) fn sinusoidal_features<B: Backend>(t: Tensor<B, 1>, width: usize) -> Tensor<B, 2> {
    let half = width / 2;
    let frequencies = Tensor::<B, 1, Int>::arange(0..half as i64, &t.device())
        .float()
        .mul_scalar(-MAX_PERIOD.ln() / half as f64)
        .exp();
    let angles = t.mul_scalar(TIME_SCALE).unsqueeze_dim::<2>(1) * frequencies.unsqueeze_dim(0);
    Tensor::cat(vec![angles.clone().cos(), angles.sin()], 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    type TB = crate::tests::TestBackend;

    #[test]
    fn features_match_the_formula() {
        let device = Default::default();
        let times = [0.0, 1e-3, 0.37, 1.0];
        let width = 8;
        // from_data keeps f64 (from_floats would round the times through f32).
        let features = sinusoidal_features(Tensor::<TB, 1>::from_data(times, &device), width)
            .into_data()
            .to_vec::<f64>()
            .unwrap();
        let half = width / 2;
        for (row, &t) in times.iter().enumerate() {
            for i in 0..half {
                let angle = 1000.0 * t * (-(10000f64.ln()) * i as f64 / half as f64).exp();
                let cos = features[row * width + i];
                let sin = features[row * width + half + i];
                assert!((cos - angle.cos()).abs() < 1e-9, "t = {t}, i = {i}");
                assert!((sin - angle.sin()).abs() < 1e-9, "t = {t}, i = {i}");
            }
        }
    }

    #[test]
    fn silu_matches_the_definition() {
        let device = Default::default();
        let inputs: [f64; 7] = [-800.0, -20.0, -1.5, 0.0, 0.3, 4.0, 800.0];
        let x = Tensor::<TB, 1>::from_data(inputs, &device).reshape([1, 7]);
        let got = silu(x).into_data().to_vec::<f64>().unwrap();
        for (x, y) in inputs.iter().zip(got) {
            let expected = x / (1.0 + (-x).exp());
            assert!(
                (y - expected).abs() <= 1e-15 * (1.0 + expected.abs()),
                "silu({x}) = {y}"
            );
        }
    }

    #[test]
    fn embedding_has_model_width_and_depends_on_time() {
        let device = Default::default();
        let embedding = TimeEmbeddingConfig::new(16).init::<TB>(&device);
        let out = embedding.forward(Tensor::from_floats([0.1, 0.9], &device));
        assert_eq!(out.dims(), [2, 16]);
        let rows = out.into_data().to_vec::<f64>().unwrap();
        let difference: f64 = (0..16).map(|i| (rows[i] - rows[16 + i]).abs()).sum();
        assert!(difference > 1e-3, "{difference}");
    }
}
