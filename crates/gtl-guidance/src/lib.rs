//! Guided samplers for transfer (MATH.md §5): a frozen source [`Denoiser`] and a
//! [`RatioModel`] estimating `log h_t = log q_t / p_t` sample the TARGET distribution.
//!
//! - [`ExactGuidance`]: multi-position steps; every position that may change and every real
//!   token is scored by the ratio model (`O(L·N)` ratio evaluations per step).
//! - [`ScheduledGtl`]: one position per step chosen by an order rule (random, denoiser
//!   confidence or a learned [`Planner`]), candidates restricted to the denoiser's top-n
//!   tokens (`n` ratio evaluations per step; `n = N` is exact guidance of that position).
//! - [`GammaFitter`]: chooses γ by the held-out log-likelihood of the guided one-position
//!   conditional on target sequences.
//! - [`Scorer::Taylor`]: a first-order estimate of every substitution from one forward and one
//!   backward pass of the ratio network on a one-hot input ([`OneHotGradient`]).
//!
//! With the exact Markov denoiser and exact `log h` (gtl-oracle), `γ = 1` and `n = N`, the
//! scheduled sampler draws exactly from the target chain (the exactness theorem of MATH.md §5;
//! tested by enumeration in `tests/exactness.rs`).
//!
//! ```
//! use burn::backend::NdArray;
//! use gtl_diffusion::{Process, ProcessKind, Schedule};
//! use gtl_guidance::{GammaSchedule, Guide, GuidedSampler, PositionRule, ScheduledGtl, Scorer};
//! use gtl_markov::MarkovChain;
//! use gtl_oracle::{MarkovDenoiser, MarkovLogRatio};
//! use rand::SeedableRng;
//!
//! // A source chain that rarely stays put, a target that mostly does (N = 3 states).
//! let source = MarkovChain::diagonal(3, 0.2).unwrap();
//! let target = MarkovChain::diagonal(3, 0.9).unwrap();
//! let process = Process::new(ProcessKind::Absorbing, 3, Schedule::default()).unwrap();
//! let denoiser = MarkovDenoiser::new(source.clone(), process).unwrap();
//! let exact_log_h = MarkovLogRatio::new(source, target, process).unwrap();
//! let guide = Guide {
//!     denoiser: &denoiser,
//!     scorer: Scorer::Exact { ratio: &exact_log_h, chunk_rows: 4096 },
//!     process: &process,
//! };
//! let sampler = ScheduledGtl::<NdArray> {
//!     order: PositionRule::Random,
//!     top_n: None, // every token is a candidate: exact with γ = 1
//!     tail: Default::default(),
//!     gamma: GammaSchedule::Constant(1.0),
//!     batch_size: 500,
//! };
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
//! let samples = sampler.sample(guide, 500, 8, &Default::default(), &mut rng).unwrap();
//! // The guided samples stay put as often as the target chain (0.9), not the source (0.2).
//! let (stays, moves) = samples.tokens.iter().flat_map(|s| s.windows(2)).fold(
//!     (0.0, 0.0),
//!     |(stay, all), w| (stay + f64::from(u8::from(w[0] == w[1])), all + 1.0),
//! );
//! assert!((stays / moves - 0.9).abs() < 0.03);
//! // Scheduled GTL scores N = 3 candidates at each of the L = 8 steps.
//! assert_eq!(samples.stats.ratio_rows, 500 * 8 * 3);
//! ```

#![warn(missing_docs)]

mod exact;
mod gamma;
mod gamma_fit;
mod planner;
mod planner_training;
mod scheduled;
mod scorer;

pub use exact::ExactGuidance;
pub use gamma::GammaSchedule;
pub use gamma_fit::{GammaBin, GammaFit, GammaFitter, best_on_grid};
pub use planner::{Planner, PositionRule};
pub use planner_training::{OrderAccuracy, PlannerObjective, order_accuracy};
pub use scheduled::{CandidateTail, ScheduledGtl};
pub use scorer::{Scorer, TaylorRatio};

use burn::prelude::*;
use gtl_diffusion::Process;
use gtl_diffusion::sampler::Samples;
use rand::RngCore;

/// What a guided sampler combines: the frozen source denoiser, how candidate substitutions
/// are scored by a ratio model, and the forward process both were trained under.
pub struct Guide<'a, B: Backend> {
    /// The source denoiser.
    pub denoiser: &'a dyn Denoiser<B>,
    /// The ratio scores of candidates.
    pub scorer: Scorer<'a, B>,
    /// The forward process.
    pub process: &'a Process,
}

impl<B: Backend> Clone for Guide<'_, B> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<B: Backend> Copy for Guide<'_, B> {}

/// A sampler of the target distribution from a [`Guide`], in the style of
/// [`gtl_diffusion::sampler::Sampler`].
pub trait GuidedSampler<B: Backend> {
    /// Draws `count` sequences of `length` tokens, in batches, all randomness from `rng`.
    fn sample(
        &self,
        guide: Guide<'_, B>,
        count: usize,
        length: usize,
        device: &B::Device,
        rng: &mut dyn RngCore,
    ) -> Result<Samples, GuidanceError>;
}

/// Errors of the guided samplers.
#[derive(Debug, thiserror::Error)]
pub enum GuidanceError {
    /// An invalid setting; the message names the key and the allowed range.
    #[error("{0}")]
    Config(String),
    /// An error of the underlying diffusion process or sampler.
    #[error(transparent)]
    Diffusion(#[from] gtl_diffusion::DiffusionError),
}

#[doc(no_inline)]
pub use gtl_classifier::{OneHotGradient, RatioModel};
#[doc(no_inline)]
pub use gtl_diffusion::Denoiser;
