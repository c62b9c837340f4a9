//! Shared set-up of the integration tests: Markov-chain data, exact log-ratios computed from
//! the chains (gtl-oracle depends on this crate, so the few lines are repeated here), and
//! statistics. Every test binary uses f32 NdArray.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Mutex;

use burn::backend::{Autodiff, NdArray};
use burn::prelude::*;
use gtl_classifier::RatioModel;
use gtl_diffusion::Process;
use gtl_diffusion::sampler::tensor_tokens;
use gtl_markov::{MarkovChain, TokenKernel, hmm};
use gtl_models::training::TrainingConfig;

pub type Inner = NdArray<f32>;
pub type TB = Autodiff<Inner>;

/// burn's NdArray RNG is process-global: runs that seed it must not interleave.
pub static GLOBAL_RNG: Mutex<()> = Mutex::new(());

/// A fresh run directory under the system temp dir.
pub fn run_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gtl-classifier-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A short run: warm-up, cosine decay, validation and a checkpoint only at the end.
pub fn training(steps: usize, batch_size: usize, learning_rate: f64, seed: u64) -> TrainingConfig {
    TrainingConfig {
        steps,
        batch_size,
        learning_rate,
        warmup_steps: steps / 10,
        min_lr_ratio: 0.1,
        validate_every: steps,
        checkpoint_every: steps,
        log_every: steps,
        seed,
        ..TrainingConfig::default()
    }
}

/// The exact clean log-ratio `log r(x_0) = log q(x_0) - log p(x_0)` of two chains, as a
/// ratio model that ignores `t` (a stand-in for a perfect clean classifier).
pub struct ExactCleanLogRatio {
    pub source: MarkovChain,
    pub target: MarkovChain,
}

impl ExactCleanLogRatio {
    pub fn log_r(&self, x0: &[u32]) -> f64 {
        self.target.log_likelihood(x0) - self.source.log_likelihood(x0)
    }
}

impl<B: Backend> RatioModel<B> for ExactCleanLogRatio {
    fn log_ratio(&self, tokens: Tensor<B, 2, Int>, _t: Tensor<B, 1>) -> Tensor<B, 1> {
        let [batch, length] = tokens.dims();
        let device = tokens.device();
        let ids = tensor_tokens(tokens);
        let values: Vec<f32> = ids.chunks(length).map(|x| self.log_r(x) as f32).collect();
        Tensor::from_data(TensorData::new(values, [batch]), &device)
    }

    fn time_conditioned(&self) -> bool {
        false
    }
}

/// The emission kernel of `process` at time `t`.
pub fn kernel_at(process: &Process, t: f64) -> TokenKernel {
    let entries = process.kernel(t);
    TokenKernel {
        num_states: process.num_tokens,
        stay: entries.stay,
        jump: entries.jump,
        to_mask: entries.to_mask,
    }
}

/// Exact `log h_t(z)` of every noisy sequence at its time.
pub fn exact_log_h(
    source: &MarkovChain,
    target: &MarkovChain,
    process: &Process,
    z: &[Vec<u32>],
    t: &[f64],
) -> Vec<f64> {
    let kernels: Vec<TokenKernel> = t.iter().map(|&t| kernel_at(process, t)).collect();
    let rows: Vec<&[u32]> = z.iter().map(Vec::as_slice).collect();
    hmm::log_h_batch(source, target, &kernels, &rows)
}

/// Exact `E_p[log r(x_0) | z]`, the optimum of the log-r regression, from the source chain's
/// single and pairwise posteriors (scaled forward-backward on the probability scale).
pub fn exact_conditional_log_r(
    source: &MarkovChain,
    target: &MarkovChain,
    kernel: &TokenKernel,
    z: &[u32],
) -> f64 {
    let n = source.num_states();
    let length = z.len();
    let normalise = |v: &mut Vec<f64>| {
        let total: f64 = v.iter().sum();
        v.iter_mut().for_each(|x| *x /= total);
    };
    let emission = |l: usize, x: usize| kernel.prob(z[l], x as u32);
    let mut alpha = vec![vec![0.0; n]; length];
    alpha[0] = (0..n)
        .map(|x| source.initial()[x] * emission(0, x))
        .collect();
    normalise(&mut alpha[0]);
    for l in 1..length {
        for w in 0..n {
            let into: f64 = (0..n)
                .map(|v| alpha[l - 1][v] * source.transition()[v][w])
                .sum();
            alpha[l][w] = into * emission(l, w);
        }
        normalise(&mut alpha[l]);
    }
    let mut beta = vec![vec![1.0; n]; length];
    for l in (0..length - 1).rev() {
        for v in 0..n {
            beta[l][v] = (0..n)
                .map(|w| source.transition()[v][w] * emission(l + 1, w) * beta[l + 1][w])
                .sum();
        }
        normalise(&mut beta[l]);
    }
    let mut first: Vec<f64> = (0..n).map(|x| alpha[0][x] * beta[0][x]).collect();
    normalise(&mut first);
    let mut expected: f64 = (0..n)
        .filter(|&x| first[x] > 0.0)
        .map(|x| first[x] * (target.initial()[x] / source.initial()[x]).ln())
        .sum();
    for l in 0..length - 1 {
        let mut pair = vec![0.0; n * n];
        for v in 0..n {
            for w in 0..n {
                pair[v * n + w] =
                    alpha[l][v] * source.transition()[v][w] * emission(l + 1, w) * beta[l + 1][w];
            }
        }
        normalise(&mut pair);
        for v in 0..n {
            for w in 0..n {
                if pair[v * n + w] > 0.0 {
                    let log_ratio = (target.transition()[v][w] / source.transition()[v][w]).ln();
                    expected += pair[v * n + w] * log_ratio;
                }
            }
        }
    }
    expected
}

pub fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

pub fn mean_squared_difference(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>() / a.len() as f64
}

/// Pearson correlation of two samples.
pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let (ma, mb) = (mean(a), mean(b));
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

/// The exact noisy `log h_t(z)` of two chains under a process, as a ratio model (what
/// `gtl_oracle::MarkovLogRatio` computes).
pub struct ExactNoisyLogRatio {
    pub source: MarkovChain,
    pub target: MarkovChain,
    pub process: Process,
}

impl<B: Backend> RatioModel<B> for ExactNoisyLogRatio {
    fn log_ratio(&self, tokens: Tensor<B, 2, Int>, t: Tensor<B, 1>) -> Tensor<B, 1> {
        let [batch, length] = tokens.dims();
        let device = tokens.device();
        let ids = tensor_tokens(tokens);
        let z: Vec<Vec<u32>> = ids.chunks(length).map(<[u32]>::to_vec).collect();
        let t: Vec<f64> = t.into_data().convert::<f64>().to_vec().unwrap();
        let values: Vec<f32> = exact_log_h(&self.source, &self.target, &self.process, &z, &t)
            .into_iter()
            .map(|v| v as f32)
            .collect();
        Tensor::from_data(TensorData::new(values, [batch]), &device)
    }
}
