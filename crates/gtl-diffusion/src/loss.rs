//! Training losses for denoisers (MATH.md §3), per sequence and differentiable.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::posterior::{concrete_score, mask_positions, one_hot_real, rate_into_current};
use crate::{DiffusionError, Process, ProcessKind};

/// Which loss trains the denoiser.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Loss {
    /// MDLM NELBO: `σ(t)/expm1(σ̄(t)) · Σ_masked -log x_θ[x_0]` (absorbing only).
    MdlmNelbo,
    /// Plain cross-entropy on counted positions (masked for absorbing, all otherwise).
    Cedd,
    /// Cross-entropy weighted by `ln(e + 0.3/t)`.
    CeddStar,
    /// Score entropy with the concrete score derived from the denoiser; its expectation over
    /// `t` is the diffusion part of the NELBO for every process.
    ScoreEntropy,
}

impl Loss {
    /// Name used in configs and file names.
    pub fn name(&self) -> &'static str {
        match self {
            Loss::MdlmNelbo => "mdlm-nelbo",
            Loss::Cedd => "cedd",
            Loss::CeddStar => "cedd-star",
            Loss::ScoreEntropy => "score-entropy",
        }
    }

    /// Whether this loss is defined for the process.
    pub fn check(&self, process: &Process) -> Result<(), DiffusionError> {
        if *self == Loss::MdlmNelbo && process.kind != ProcessKind::Absorbing {
            return Err(DiffusionError::config(format!(
                "loss = \"mdlm-nelbo\" needs the absorbing process, got \"{}\" (use score-entropy, cedd or cedd-star)",
                process.kind.name()
            )));
        }
        Ok(())
    }

    /// Per-sequence loss `[batch]` for denoiser output `log_x0` (`[batch, length, N]`) on noisy
    /// tokens `z_t` corrupted from `x0` at times `t` (one per row).
    pub fn per_sequence<B: Backend>(
        &self,
        process: &Process,
        log_x0: Tensor<B, 3>,
        x0: Tensor<B, 2, Int>,
        z_t: Tensor<B, 2, Int>,
        t: &[f64],
    ) -> Tensor<B, 1> {
        let device = log_x0.device();
        let weights = |f: &dyn Fn(f64) -> f64| row_values::<B>(t.iter().map(|&t| f(t)), &device);
        match self {
            Loss::MdlmNelbo => {
                let w = weights(&|t| process.rate(t) / process.total_noise(t).exp_m1());
                cross_entropy_sum(process, log_x0, x0, z_t) * w
            }
            Loss::Cedd => cross_entropy_sum(process, log_x0, x0, z_t),
            Loss::CeddStar => {
                let w = weights(&|t| (std::f64::consts::E + 0.3 / t).ln());
                cross_entropy_sum(process, log_x0, x0, z_t) * w
            }
            Loss::ScoreEntropy => {
                let kernels: Vec<_> = t.iter().map(|&t| process.kernel(t)).collect();
                let score = concrete_score(process, log_x0.exp(), z_t.clone(), &kernels);
                score_entropy(process, score, x0, z_t, t)
            }
        }
    }
}

fn row_values<B: Backend>(values: impl Iterator<Item = f64>, device: &B::Device) -> Tensor<B, 1> {
    let values: Vec<f32> = values.map(|v| v as f32).collect();
    let n = values.len();
    Tensor::from_data(TensorData::new(values, [n]), device)
}

/// `Σ_counted -log x_θ[ℓ, x_0^ℓ]` per sequence; counted = masked positions for absorbing,
/// every position otherwise.
fn cross_entropy_sum<B: Backend>(
    process: &Process,
    log_x0: Tensor<B, 3>,
    x0: Tensor<B, 2, Int>,
    z_t: Tensor<B, 2, Int>,
) -> Tensor<B, 1> {
    let [batch, length, _] = log_x0.dims();
    let nll = log_x0
        .gather(2, x0.reshape([batch, length, 1]))
        .reshape([batch, length])
        .neg();
    let counted = match process.kind {
        ProcessKind::Absorbing => z_t.equal_elem(process.num_tokens as i64).float(),
        _ => Tensor::ones([batch, length], &nll.device()),
    };
    (nll * counted).sum_dim(1).reshape([batch])
}

/// Score entropy `σ(t) Σ_ℓ Σ_{y≠x} Q(x,y) (s_y - r_y log s_y + K(r_y))`, `K(r) = r log r - r`,
/// `r_y = P_t(y|x_0)/P_t(x|x_0)`, for a positive score over all states (`[batch, length, S]`;
/// only real `y` carry weight since `Q(x, mask) = 0`). Per sequence, `[batch]`.
pub fn score_entropy<B: Backend>(
    process: &Process,
    score: Tensor<B, 3>,
    x0: Tensor<B, 2, Int>,
    z_t: Tensor<B, 2, Int>,
    t: &[f64],
) -> Tensor<B, 1> {
    let n = process.num_tokens;
    let [batch, length, _] = score.dims();
    let device = score.device();
    let score = score.slice([0..batch, 0..length, 0..n]);
    let kernels: Vec<_> = t.iter().map(|&t| process.kernel(t)).collect();
    let col = |f: &dyn Fn(&crate::KernelEntries) -> f64| {
        row_values::<B>(kernels.iter().map(f), &device).reshape([batch, 1, 1])
    };
    let (stay, jump, to_mask) = (col(&|k| k.stay), col(&|k| k.jump), col(&|k| k.to_mask));

    let x_onehot = one_hot_real(z_t.clone(), n);
    let x0_onehot = one_hot_real(x0.clone(), n);
    let masked = mask_positions(process, &z_t).float();
    let at_clean = z_t.equal(x0).reshape([batch, length, 1]).float();

    let weight = rate_into_current(process, masked.clone(), x_onehot.clone());
    // r_y = P_t(y | x0) / P_t(x | x0).
    let numerator = x0_onehot * (stay.clone() - jump.clone()) + jump.clone();
    let denominator =
        masked.clone() * to_mask + (masked.neg() + 1.0) * (at_clean * (stay - jump.clone()) + jump);
    let r = numerator / denominator.clamp_min(1e-30);
    let log_s = score.clone().clamp_min(1e-30).log();
    let k_term = r.clone() * r.clone().clamp_min(1e-30).log() - r.clone();
    let terms = (score - r * log_s + k_term) * weight;
    let per_position = terms.mask_fill(x_onehot.bool(), 0.0).sum_dim(2);
    let sigma = row_values::<B>(t.iter().map(|&t| process.rate(t)), &device);
    per_position.sum_dim(1).reshape([batch]) * sigma
}
