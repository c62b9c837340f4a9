//! Guided samplers for transfer (MATH.md §5): a frozen source [`Denoiser`] and a
//! [`RatioModel`] estimating `log h_t = log q_t / p_t` sample the TARGET distribution.
//!
//! - [`ExactGuidance`]: multi-position steps; every position that may change and every real
//!   token is scored by the ratio model (`O(L·N)` ratio evaluations per step).
//! - [`ScheduledGtl`]: one position per step chosen by an order rule (random, denoiser
//!   confidence or a learned [`Planner`]), candidates restricted to the denoiser's top-n
//!   tokens (`n` ratio evaluations per step; `n = N` is exact guidance of that position).
//! - [`fit_gamma`]: chooses γ by the held-out log-likelihood of the guided one-position
//!   conditional on target sequences.
//! - [`Scorer::Taylor`]: a first-order estimate of every substitution from one forward and one
//!   backward pass of the ratio network on a one-hot input ([`OneHotGradient`]).
//!
//! With the exact Markov denoiser and exact `log h` (gtl-oracle), `γ = 1` and `n = N`, the
//! scheduled sampler draws exactly from the target chain (the exactness theorem of MATH.md §5;
//! tested by enumeration in `tests/exactness.rs`).

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
pub use gamma_fit::{GammaBin, GammaFit, best_on_grid, fit_gamma};
pub use planner::{Planner, PositionRule};
pub use planner_training::{OrderAccuracy, PlannerObjective, order_accuracy};
pub use scheduled::ScheduledGtl;
pub use scorer::{Scorer, TaylorRatio};

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
