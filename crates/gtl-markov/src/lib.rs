//! Markov chains with exact oracles for discrete diffusion: sampling and likelihoods, the
//! exact denoiser and density ratio of noisy sequences by forward-backward, and metrics.
//! It is plain Rust on `f64`, the ground truth that the learned networks and samplers of the
//! other gtl crates are tested against (MATH.md §6, §7).
//!
//! ```
//! use gtl_markov::{hmm, MarkovChain, TokenKernel};
//!
//! let source = MarkovChain::diagonal(4, 0.1)?;
//! let target = MarkovChain::diagonal(4, 0.8)?;
//! let kernel = TokenKernel::absorbing(4, 0.7);
//! let z = [0, 4, 4, 2]; // 4 is the mask
//! let denoised = hmm::smooth(&source, &kernel, &z);
//! assert!((denoised.marginal(1).iter().sum::<f64>() - 1.0).abs() < 1e-12);
//! let log_ratio = hmm::log_h(&source, &target, &kernel, &z);
//! assert!(log_ratio.is_finite());
//! # Ok::<(), gtl_markov::MarkovError>(())
//! ```

mod chain;
mod error;
mod families;
pub mod hmm;
mod kernel;
pub mod metrics;

pub use chain::MarkovChain;
pub use error::MarkovError;
pub use hmm::Smoothed;
pub use kernel::TokenKernel;
