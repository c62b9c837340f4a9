//! Exact Markov-chain components behind gtl's model traits: the forward-backward posterior of
//! a chain is an exact [`Denoiser`] for any per-token process, so every sampler can be checked
//! against a known target distribution.
//!
//! ```
//! use burn::backend::NdArray;
//! use burn::prelude::*;
//! use gtl_diffusion::{Denoiser, Process, ProcessKind, Schedule};
//! use gtl_markov::MarkovChain;
//! use gtl_oracle::MarkovDenoiser;
//!
//! let chain = MarkovChain::diagonal(3, 0.8).unwrap();
//! let process = Process::new(ProcessKind::Absorbing, 3, Schedule::default()).unwrap();
//! let denoiser = MarkovDenoiser::new(chain, process).unwrap();
//! let device = Default::default();
//! let z = Tensor::<NdArray, 2, Int>::from_ints([[0, 3, 3]], &device); // 3 is the mask
//! let probs = denoiser.log_probs(z, Tensor::from_floats([0.5], &device)).exp();
//! // Next to a revealed 0 the chain stays at 0 with probability 0.8.
//! let p = probs.into_data().to_vec::<f32>().unwrap();
//! assert!((p[3] - 0.8).abs() < 1e-5);
//! ```

use burn::prelude::*;
use gtl_diffusion::{Denoiser, KernelEntries, Process};
use gtl_markov::hmm::smooth_batch;
use gtl_markov::{MarkovChain, TokenKernel};

mod ratio;
mod ratio_error;
pub use ratio::MarkovLogRatio;
pub use ratio_error::ratio_error;

/// Errors of the oracle adapters.
#[derive(Debug, thiserror::Error)]
pub enum OracleError {
    /// The chain and the process disagree on the vocabulary.
    #[error("the chain has {chain} states but the process has {process} real tokens")]
    VocabularyMismatch {
        /// States of the chain.
        chain: usize,
        /// Real tokens of the process.
        process: usize,
    },
    /// The target allows something the source rules out: `q/p` is infinite there.
    #[error(
        "the source chain gives probability 0 to {what}, which the target chain gives {target:.4}: \
         the density ratio q/p is infinite there, so exact ratio guidance is undefined (give the \
         source chain some mass there, or guide with a learned ratio network)"
    )]
    NoSourceSupport {
        /// What lacks source support, e.g. "the transition 2 → 4".
        what: String,
        /// Its probability under the target chain.
        target: f64,
    },
}

/// Converts a kernel of `gtl-diffusion` into the emission kernel of `gtl-markov`.
pub fn emission_kernel(num_tokens: usize, entries: KernelEntries) -> TokenKernel {
    TokenKernel {
        num_states: num_tokens,
        stay: entries.stay,
        jump: entries.jump,
        to_mask: entries.to_mask,
    }
}

/// Downloads noisy tokens (row-major ids) and their times for a host-side oracle.
pub(crate) fn host_rows<B: Backend>(
    tokens: Tensor<B, 2, Int>,
    t: Tensor<B, 1>,
) -> (Vec<u32>, Vec<f64>) {
    let ids = gtl_diffusion::sampler::tensor_tokens(tokens);
    let times = t
        .into_data()
        .convert::<f64>()
        .to_vec()
        .expect("float times");
    (ids, times)
}

/// The exact denoiser `p(x_0^ℓ = v | z_t)` of a Markov chain under a forward process,
/// computed by forward-backward on the host (rayon over the batch).
#[derive(Clone, Debug)]
pub struct MarkovDenoiser {
    chain: MarkovChain,
    process: Process,
}

impl MarkovDenoiser {
    /// An exact denoiser for `chain` corrupted by `process`.
    pub fn new(chain: MarkovChain, process: Process) -> Result<Self, OracleError> {
        if chain.num_states() != process.num_tokens {
            return Err(OracleError::VocabularyMismatch {
                chain: chain.num_states(),
                process: process.num_tokens,
            });
        }
        Ok(MarkovDenoiser { chain, process })
    }

    /// The chain.
    pub fn chain(&self) -> &MarkovChain {
        &self.chain
    }
}

impl<B: Backend> Denoiser<B> for MarkovDenoiser {
    fn num_tokens(&self) -> usize {
        self.process.num_tokens
    }

    fn log_probs(&self, tokens: Tensor<B, 2, Int>, t: Tensor<B, 1>) -> Tensor<B, 3> {
        let [batch, length] = tokens.dims();
        let device = tokens.device();
        let n = self.process.num_tokens;
        let (ids, times) = host_rows(tokens, t);
        let kernels: Vec<TokenKernel> = times
            .iter()
            .map(|&t| emission_kernel(n, self.process.kernel(t)))
            .collect();
        let sequences: Vec<&[u32]> = ids.chunks(length).collect();
        let smoothed = smooth_batch(&self.chain, &kernels, &sequences);
        let mut values = Vec::with_capacity(batch * length * n);
        for posterior in &smoothed {
            values.extend(posterior.marginals.iter().map(|&p| {
                if p > 0.0 {
                    p.ln() as f32
                } else {
                    f32::NEG_INFINITY
                }
            }));
        }
        Tensor::from_data(TensorData::new(values, [batch, length, n]), &device)
    }

    /// Masking does not depend on token values, so under the absorbing process the posterior
    /// given `z_t` is the same at every `t`.
    fn time_conditioned(&self) -> bool {
        self.process.kind != gtl_diffusion::ProcessKind::Absorbing
    }
}

#[cfg(test)]
mod tests;
