//! Discrete diffusion on burn: noise schedules, the absorbing, uniform and roulette forward
//! processes with closed-form kernels, posteriors, concrete scores, training losses, a NELBO
//! estimator and the unguided samplers, all generic over the burn backend.
//!
//! ```
//! use gtl_diffusion::{Process, ProcessKind, Schedule};
//!
//! let process = Process::new(ProcessKind::Absorbing, 5, Schedule::default()).unwrap();
//! // Under the log-linear schedule a token is masked with probability (1 - ε) t.
//! let kernel = process.kernel(0.5);
//! assert!((kernel.to_mask - 0.4995).abs() < 1e-12);
//! assert_eq!(process.mask_token(), Some(5));
//! ```

mod denoiser;
mod error;
mod loss;
mod nelbo;
mod posterior;
mod process;
pub mod sampler;
mod schedule;

pub use denoiser::Denoiser;
pub use error::DiffusionError;
pub use loss::{Loss, score_entropy};
pub use nelbo::{nelbo, perplexity, prior_kl};
pub use posterior::{concrete_score, model_posterior, one_hot_real};
pub use process::{KernelEntries, Process, ProcessKind};
pub use schedule::{Schedule, antithetic_times, time_grid};

#[cfg(test)]
mod tests;
