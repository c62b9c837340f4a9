//! The three forward processes and their closed-form per-token kernels (MATH.md §2).
//!
//! A kernel is never stored as an N×N matrix: every process has the structure
//! "stay / jump to each other real token / jump to the mask", so three numbers describe it.

use burn::prelude::*;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::{DiffusionError, Schedule};

/// The three distinct entries of a per-token matrix over `N` real states and the mask state `N`:
/// `M(x, x) = stay`, `M(y, x) = jump` for real `y ≠ x`, `M(mask, x) = to_mask`, and the
/// mask column is `δ_mask` (the mask is absorbing). Used for kernels `exp(σ̄ Q)` (including
/// negative σ̄, whose entries may be negative) and for the rate matrix `Q` itself.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KernelEntries {
    /// Diagonal entry for a real token.
    pub stay: f64,
    /// Entry for each other real token.
    pub jump: f64,
    /// Entry for the mask state (0 for processes without a mask).
    pub to_mask: f64,
}

impl KernelEntries {
    /// The identity kernel.
    pub const IDENTITY: KernelEntries = KernelEntries {
        stay: 1.0,
        jump: 0.0,
        to_mask: 0.0,
    };

    /// Entry `M(z, x)` for states `z, x ∈ 0..=N` (`N` is the mask), with the kernel's mask
    /// column `δ_mask` (a rate matrix's mask column is zero instead).
    pub fn entry(&self, z: usize, x: usize, num_tokens: usize) -> f64 {
        match (z == num_tokens, x == num_tokens) {
            (_, true) => f64::from(u8::from(z == x)),
            (true, false) => self.to_mask,
            (false, false) if z == x => self.stay,
            (false, false) => self.jump,
        }
    }
}

/// Which forward process corrupts the tokens.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ProcessKind {
    /// Masked diffusion: tokens jump to the mask state and stay there.
    Absorbing,
    /// Tokens are resampled uniformly over the real vocabulary; no mask state.
    Uniform,
    /// Roulette (PBRC): uniform resampling until absorbed by the mask, `Q = (1-p_m) Q_unif + p_m Q_abs`.
    Roulette {
        /// Share `p_m ∈ (0, 1]` of the rate that goes to the mask.
        mask_rate: f64,
    },
}

impl ProcessKind {
    /// Name used on the command line and in file names.
    pub fn name(&self) -> &'static str {
        match self {
            ProcessKind::Absorbing => "absorbing",
            ProcessKind::Uniform => "uniform",
            ProcessKind::Roulette { .. } => "roulette",
        }
    }
}

/// A forward process over `num_tokens` real tokens with a noise schedule.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Process {
    /// The kind of corruption.
    pub kind: ProcessKind,
    /// Number of real tokens `N` (the mask, where there is one, is token `N`).
    pub num_tokens: usize,
    /// The noise schedule.
    pub schedule: Schedule,
}

impl Process {
    /// A validated process.
    pub fn new(
        kind: ProcessKind,
        num_tokens: usize,
        schedule: Schedule,
    ) -> Result<Self, DiffusionError> {
        let process = Process {
            kind,
            num_tokens,
            schedule,
        };
        process.validate()?;
        Ok(process)
    }

    /// Checks every parameter; errors name the key and the allowed range.
    pub fn validate(&self) -> Result<(), DiffusionError> {
        if self.num_tokens < 2 {
            return Err(DiffusionError::config(format!(
                "process.num_tokens = {}: must be at least 2",
                self.num_tokens
            )));
        }
        if let ProcessKind::Roulette { mask_rate } = self.kind
            && !(mask_rate > 0.0 && mask_rate <= 1.0)
        {
            return Err(DiffusionError::config(format!(
                "process.mask_rate = {mask_rate}: must be in (0, 1]"
            )));
        }
        self.schedule.validate()
    }

    /// Whether the process has a mask state (absorbing and roulette).
    pub fn has_mask(&self) -> bool {
        !matches!(self.kind, ProcessKind::Uniform)
    }

    /// The mask token id `N`, if the process has one.
    pub fn mask_token(&self) -> Option<usize> {
        self.has_mask().then_some(self.num_tokens)
    }

    /// Number of states a noisy token can take: `N + 1` with a mask, `N` without.
    pub fn num_states(&self) -> usize {
        self.num_tokens + usize::from(self.has_mask())
    }

    /// Total noise of the kernel at time `t`; the roulette schedule is rescaled by `1/p_m`
    /// so that the mask probability follows the schedule exactly.
    pub fn total_noise(&self, t: f64) -> f64 {
        self.schedule.total_noise(t) / self.noise_scale()
    }

    /// Rate of [`Process::total_noise`].
    pub fn rate(&self, t: f64) -> f64 {
        self.schedule.rate(t) / self.noise_scale()
    }

    fn noise_scale(&self) -> f64 {
        match self.kind {
            ProcessKind::Roulette { mask_rate } => mask_rate,
            _ => 1.0,
        }
    }

    /// Entries of the rate matrix `Q` (MATH.md §2).
    pub fn rate_matrix(&self) -> KernelEntries {
        let n = self.num_tokens as f64;
        match self.kind {
            ProcessKind::Absorbing => KernelEntries {
                stay: -1.0,
                jump: 0.0,
                to_mask: 1.0,
            },
            ProcessKind::Uniform => KernelEntries {
                stay: 1.0 / n - 1.0,
                jump: 1.0 / n,
                to_mask: 0.0,
            },
            ProcessKind::Roulette { mask_rate } => {
                let g = 1.0 - mask_rate;
                KernelEntries {
                    stay: g / n - 1.0,
                    jump: g / n,
                    to_mask: mask_rate,
                }
            }
        }
    }

    /// The kernel `exp(σ̄ Q)` in closed form; `σ̄ < 0` gives the inverse `exp(-|σ̄| Q)`.
    pub fn kernel_at_noise(&self, sigma_bar: f64) -> KernelEntries {
        let n = self.num_tokens as f64;
        match self.kind {
            ProcessKind::Absorbing => KernelEntries {
                stay: (-sigma_bar).exp(),
                jump: 0.0,
                to_mask: -(-sigma_bar).exp_m1(),
            },
            ProcessKind::Uniform => {
                let moved = -(-sigma_bar).exp_m1();
                KernelEntries {
                    stay: (-sigma_bar).exp() + moved / n,
                    jump: moved / n,
                    to_mask: 0.0,
                }
            }
            ProcessKind::Roulette { mask_rate } => {
                let g = 1.0 - mask_rate;
                let unmasked = (-mask_rate * sigma_bar).exp();
                let jump = unmasked * -(-g * sigma_bar).exp_m1() / n;
                KernelEntries {
                    stay: (-sigma_bar).exp() + jump,
                    jump,
                    to_mask: -(-mask_rate * sigma_bar).exp_m1(),
                }
            }
        }
    }

    /// The kernel `P_t(z | x_0)` at time `t`.
    pub fn kernel(&self, t: f64) -> KernelEntries {
        self.kernel_at_noise(self.total_noise(t))
    }

    /// The kernel `P_{s→t}` from time `s` to a later time `t`.
    pub fn transition(&self, s: f64, t: f64) -> KernelEntries {
        self.kernel_at_noise(self.total_noise(t) - self.total_noise(s))
    }

    /// The time at which a token is masked with probability `fraction` (absorbing and roulette),
    /// found by bisection on the monotone schedule.
    pub fn time_for_mask_fraction(&self, fraction: f64) -> f64 {
        let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
        if self.kernel(hi).to_mask <= fraction {
            return hi;
        }
        for _ in 0..60 {
            let mid = 0.5 * (lo + hi);
            if self.kernel(mid).to_mask < fraction {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        0.5 * (lo + hi)
    }

    /// The stationary (t = 1) sequence a sampler starts from: all masks, or uniform tokens.
    pub fn limit_tokens<R: Rng + ?Sized>(&self, count: usize, rng: &mut R) -> Vec<u32> {
        match self.mask_token() {
            Some(mask) => vec![mask as u32; count],
            None => (0..count)
                .map(|_| rng.random_range(0..self.num_tokens as u32))
                .collect(),
        }
    }

    /// Corrupts clean tokens `x0` (`[batch, length]`) to times `t` (one per row), drawing all
    /// randomness from `rng` on the host (so the same seed gives the same corruption on every
    /// backend) and applying it with tensor ops.
    pub fn corrupt<B: Backend, R: Rng + ?Sized>(
        &self,
        x0: Tensor<B, 2, Int>,
        t: &[f64],
        rng: &mut R,
    ) -> Tensor<B, 2, Int> {
        let [batch, length] = x0.dims();
        assert_eq!(t.len(), batch, "corrupt: one time per row expected");
        let device = x0.device();
        let kernels: Vec<KernelEntries> = t.iter().map(|&t| self.kernel(t)).collect();
        let count = batch * length;
        // Per token: one uniform for "masked", one for "resampled", and the resampled token.
        let mut masked = Vec::with_capacity(count);
        let mut resampled = Vec::with_capacity(count);
        let mut tokens = Vec::with_capacity(count);
        for kernel in &kernels {
            let p_resample = self.resample_probability(kernel);
            for _ in 0..length {
                masked.push(rng.random::<f64>() < kernel.to_mask);
                resampled.push(rng.random::<f64>() < p_resample);
                tokens.push(rng.random_range(0..self.num_tokens as i64));
            }
        }
        let masked =
            Tensor::<B, 2, Bool>::from_data(TensorData::new(masked, [batch, length]), &device);
        let resampled =
            Tensor::<B, 2, Bool>::from_data(TensorData::new(resampled, [batch, length]), &device);
        let tokens =
            Tensor::<B, 2, Int>::from_data(TensorData::new(tokens, [batch, length]), &device);
        let mut z = x0.mask_where(resampled, tokens);
        if let Some(mask) = self.mask_token() {
            z = z.mask_fill(masked, mask as i64);
        }
        z
    }

    /// Probability that an unmasked token is replaced by a uniform draw (which may redraw itself).
    fn resample_probability(&self, kernel: &KernelEntries) -> f64 {
        let n = self.num_tokens as f64;
        // Uniform draws land on each token with prob `p/N`, so `jump = p/N` given "not masked".
        match self.kind {
            ProcessKind::Absorbing => 0.0,
            _ => n * kernel.jump / (1.0 - kernel.to_mask),
        }
    }
}
