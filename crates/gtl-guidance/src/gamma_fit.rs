//! Choosing γ on held-out target data: the guided one-position conditional that scheduled
//! GTL samples from, `q_γ(x^ℓ = v | z) ∝ p_θ(v | z) · r(z^{ℓ←v}, s)^γ` (MATH.md §5), scored
//! at the true token of held-out target sequences under random masks.

use burn::prelude::*;
use gtl_diffusion::sampler::{SamplerStats, gather_positions, tokens_tensor};
use gtl_diffusion::{Denoiser, Process, ProcessKind};
use rand::seq::index::sample;
use rand::{Rng, RngCore};
use serde::Serialize;

use crate::{GuidanceError, Scorer};

/// Rows of noisy sequences scored per denoiser call.
const CHUNK: usize = 512;

/// The held-out score of each γ of a grid.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GammaFit {
    /// The grid.
    pub gammas: Vec<f64>,
    /// Mean log-probability of the true token under `q_γ`, per γ (higher is better).
    pub log_likelihood: Vec<f64>,
    /// The γ with the highest score.
    pub best: f64,
    /// Masked sequences scored.
    pub rows: usize,
}

/// Scores every γ of `gammas` on `sequences` (clean target sequences of one length): each is
/// masked `draws` times like a state of one-position sampling (a uniform number `k ∈ 1..=L`
/// of uniformly chosen masked positions) and one masked position `ℓ` is scored over all `N`
/// tokens, the denoiser at the time of `k` masks and the ratio at that of `k - 1`.
#[allow(clippy::too_many_arguments)]
pub fn fit_gamma<B: Backend>(
    denoiser: &dyn Denoiser<B>,
    scorer: Scorer<'_, B>,
    process: &Process,
    sequences: &[Vec<u32>],
    draws: usize,
    gammas: &[f64],
    device: &B::Device,
    rng: &mut dyn RngCore,
) -> Result<GammaFit, GuidanceError> {
    if process.kind != ProcessKind::Absorbing {
        return Err(GuidanceError::Config(
            "fitting γ scores one-position conditionals and needs the absorbing process".into(),
        ));
    }
    if sequences.is_empty() || draws == 0 || gammas.is_empty() {
        return Err(GuidanceError::Config(
            "fitting γ needs held-out sequences, at least one draw and a non-empty grid".into(),
        ));
    }
    scorer.validate()?;
    let n = process.num_tokens;
    let length = sequences[0].len();
    let mask = n as u32;
    let mut tokens = Vec::new();
    let mut positions = Vec::new();
    let mut truth = Vec::new();
    let mut masked_counts = Vec::new();
    for sequence in sequences {
        for _ in 0..draws {
            let k = rng.random_range(1..=length);
            let chosen = sample(rng, length, k).into_vec();
            let mut z = sequence.clone();
            for &p in &chosen {
                z[p] = mask;
            }
            positions.push(chosen[rng.random_range(0..k)]);
            truth.push(sequence[*positions.last().expect("pushed")] as usize);
            tokens.extend(z);
            masked_counts.push(k);
        }
    }
    let rows = positions.len();
    let mut scores = vec![0.0; gammas.len()];
    let mut stats = SamplerStats::default();
    for start in (0..rows).step_by(CHUNK) {
        let end = (start + CHUNK).min(rows);
        let count = end - start;
        let z = tokens_tensor::<B>(&tokens[start * length..end * length], count, length, device);
        let fraction = |k: usize| process.time_for_mask_fraction(k as f64 / length as f64);
        let t: Vec<f32> = masked_counts[start..end]
            .iter()
            .map(|&k| fraction(k) as f32)
            .collect();
        let s: Vec<f64> = masked_counts[start..end]
            .iter()
            .map(|&k| fraction(k - 1))
            .collect();
        let t = Tensor::<B, 1>::from_data(TensorData::new(t, [count]), device);
        let log_x0 = denoiser.log_probs(z.clone(), t);
        let log_p = gather_positions(log_x0, &positions[start..end], device).reshape([count, n]);
        let values = Tensor::<B, 1, Int>::arange(0..n as i64, device)
            .reshape([1, n])
            .expand([count, n]);
        let local: Vec<usize> = (0..count).collect();
        let log_r = scorer.score(z, &local, &positions[start..end], &s, values, &mut stats);
        let log_p = host(log_p);
        let log_r = host(log_r);
        for row in 0..count {
            let p = &log_p[row * n..(row + 1) * n];
            let r = &log_r[row * n..(row + 1) * n];
            let target = truth[start + row];
            for (score, &gamma) in scores.iter_mut().zip(gammas) {
                let logits: Vec<f64> = p.iter().zip(r).map(|(p, r)| p + gamma * r).collect();
                let top = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let norm = top + logits.iter().map(|l| (l - top).exp()).sum::<f64>().ln();
                *score += logits[target] - norm;
            }
        }
    }
    let log_likelihood: Vec<f64> = scores.iter().map(|s| s / rows as f64).collect();
    let best = gammas[log_likelihood
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| i)
        .expect("a non-empty grid")];
    Ok(GammaFit {
        gammas: gammas.to_vec(),
        log_likelihood,
        best,
        rows,
    })
}

fn host<B: Backend>(tensor: Tensor<B, 2>) -> Vec<f64> {
    tensor
        .into_data()
        .convert::<f64>()
        .to_vec()
        .expect("a float tensor")
}
