//! Shared set-up: chain pairs, exact components, and a ratio model linear in the one-hot input.

#![allow(dead_code)]

use burn::backend::NdArray;
use burn::prelude::*;
use gtl_diffusion::{Process, ProcessKind, Schedule};
use gtl_guidance::{OneHotGradient, RatioModel};
use gtl_markov::MarkovChain;
use gtl_markov::metrics::{total_variation, tv_null_quantile};
use gtl_oracle::{MarkovDenoiser, MarkovLogRatio};

pub type TB = NdArray;

pub const N: usize = 3;
pub const LENGTH: usize = 5;
pub const SAMPLES: usize = 4000;

/// (name, source, target) chain pairs over N = 3 states; the last has poor overlap: the
/// target spends ~40 % of its transitions in state 2, which the source enters with
/// probability ~1.7 %.
pub fn chain_pairs() -> Vec<(&'static str, MarkovChain, MarkovChain)> {
    let base = MarkovChain::dirichlet(2, 1.0, 3).unwrap();
    let poor_source = MarkovChain::mixture(
        &base.pad_states(N).unwrap(),
        &MarkovChain::diagonal(N, 1.0 / 3.0).unwrap(),
        0.05,
    )
    .unwrap();
    vec![
        (
            "dirichlet-1 → dirichlet-2",
            MarkovChain::dirichlet(N, 1.0, 1).unwrap(),
            MarkovChain::dirichlet(N, 1.0, 2).unwrap(),
        ),
        (
            "diagonal-0.2 → diagonal-0.8",
            MarkovChain::diagonal(N, 0.2).unwrap(),
            MarkovChain::diagonal(N, 0.8).unwrap(),
        ),
        (
            "poor overlap",
            poor_source,
            base.with_extra_states(1, 0.4).unwrap(),
        ),
    ]
}

pub fn process(kind: ProcessKind) -> Process {
    Process::new(kind, N, Schedule::default()).unwrap()
}

/// The exact source denoiser and the exact log h_t of the pair.
pub fn oracles(
    source: &MarkovChain,
    target: &MarkovChain,
    process: Process,
) -> (MarkovDenoiser, MarkovLogRatio) {
    (
        MarkovDenoiser::new(source.clone(), process).unwrap(),
        MarkovLogRatio::new(source.clone(), target.clone(), process).unwrap(),
    )
}

/// TV of `samples` against `chain` and the 99th percentile of exact-sample TV at that size.
pub fn tv_and_null(samples: &[Vec<u32>], chain: &MarkovChain, seed: u64) -> (f64, f64) {
    let tv = total_variation(samples, chain, LENGTH).unwrap();
    let null = tv_null_quantile(chain, LENGTH, samples.len(), 400, 0.99, seed).unwrap();
    (tv, null)
}

/// `log r(z) = Σ_ℓ W[ℓ][z_ℓ]`: linear in the one-hot input, so first-order (Taylor)
/// substitution scores are exact.
pub struct LinearRatio {
    /// `[length][vocab]` weights.
    pub weights: Vec<Vec<f32>>,
}

impl LinearRatio {
    fn weight_tensor<B: Backend>(&self, device: &B::Device) -> Tensor<B, 2> {
        let (length, vocab) = (self.weights.len(), self.weights[0].len());
        let flat: Vec<f32> = self.weights.iter().flatten().copied().collect();
        Tensor::from_data(TensorData::new(flat, [length, vocab]), device)
    }
}

impl<B: Backend> RatioModel<B> for LinearRatio {
    fn log_ratio(&self, tokens: Tensor<B, 2, Int>, _t: Tensor<B, 1>) -> Tensor<B, 1> {
        let [rows, length] = tokens.dims();
        let vocab = self.weights[0].len();
        let w = self.weight_tensor::<B>(&tokens.device()).unsqueeze::<3>();
        (tokens.one_hot(vocab).float() * w.expand([rows, length, vocab]))
            .sum_dim(2)
            .sum_dim(1)
            .reshape([rows])
    }

    fn time_conditioned(&self) -> bool {
        false
    }
}

impl<B: Backend> OneHotGradient<B> for LinearRatio {
    fn one_hot_gradient(&self, tokens: Tensor<B, 2, Int>, _t: Tensor<B, 1>) -> Tensor<B, 3> {
        let [rows, length] = tokens.dims();
        let vocab = self.weights[0].len();
        self.weight_tensor::<B>(&tokens.device())
            .unsqueeze::<3>()
            .expand([rows, length, vocab])
    }
}
