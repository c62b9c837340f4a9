//! The exact density ratio of two Markov chains under a forward process, as a
//! [`RatioModel`]: `log h_t(z) = log q_t(z) - log p_t(z)` by the forward algorithm
//! (MATH.md §5, §6).

use burn::prelude::*;
use gtl_classifier::RatioModel;
use gtl_diffusion::{Process, ProcessKind};
use gtl_markov::hmm::log_h_batch;
use gtl_markov::{MarkovChain, TokenKernel};

use crate::{OracleError, emission_kernel};

/// The exact `log h_t(z_t)` between a `target` chain `q` and a `source` chain `p` corrupted
/// by `process`, computed on the host (rayon over the batch) with one emission kernel per row.
///
/// `+inf`/`-inf` where only one chain rules a sequence out, NaN where both do (see
/// [`gtl_markov::hmm::log_h`]); the output is f32 like every burn float tensor here.
#[derive(Clone, Debug)]
pub struct MarkovLogRatio {
    source: MarkovChain,
    target: MarkovChain,
    process: Process,
}

impl MarkovLogRatio {
    /// The exact ratio of `target` to `source` under `process`.
    pub fn new(
        source: MarkovChain,
        target: MarkovChain,
        process: Process,
    ) -> Result<Self, OracleError> {
        for chain in [&source, &target] {
            if chain.num_states() != process.num_tokens {
                return Err(OracleError::VocabularyMismatch {
                    chain: chain.num_states(),
                    process: process.num_tokens,
                });
            }
        }
        Ok(MarkovLogRatio {
            source,
            target,
            process,
        })
    }

    /// The source chain `p`.
    pub fn source(&self) -> &MarkovChain {
        &self.source
    }

    /// The target chain `q`.
    pub fn target(&self) -> &MarkovChain {
        &self.target
    }

    /// The clean log-ratio `log r(x_0) = log q(x_0) - log p(x_0)`.
    pub fn clean_log_ratio(&self, x0: &[u32]) -> f64 {
        self.target.log_likelihood(x0) - self.source.log_likelihood(x0)
    }

    /// `log h_t` of host sequences, each at its own time, in f64.
    ///
    /// # Panics
    /// If `times.len() != sequences.len()`.
    pub fn log_h(&self, sequences: &[&[u32]], times: &[f64]) -> Vec<f64> {
        assert_eq!(
            times.len(),
            sequences.len(),
            "one time per sequence expected"
        );
        let kernels: Vec<TokenKernel> = times
            .iter()
            .map(|&t| emission_kernel(self.process.num_tokens, self.process.kernel(t)))
            .collect();
        log_h_batch(&self.source, &self.target, &kernels, sequences)
    }
}

impl<B: Backend> RatioModel<B> for MarkovLogRatio {
    fn log_ratio(&self, tokens: Tensor<B, 2, Int>, t: Tensor<B, 1>) -> Tensor<B, 1> {
        let [batch, length] = tokens.dims();
        let device = tokens.device();
        let (ids, times) = crate::host_rows(tokens, t);
        let sequences: Vec<&[u32]> = ids.chunks(length).collect();
        let values: Vec<f32> = self
            .log_h(&sequences, &times)
            .into_iter()
            .map(|v| v as f32)
            .collect();
        Tensor::from_data(TensorData::new(values, [batch]), &device)
    }

    /// Masking does not depend on token values, so under the absorbing process `h_t(z)` is
    /// the ratio of the revealed tokens' marginal likelihoods at every `t` (MATH.md §5).
    fn time_conditioned(&self) -> bool {
        self.process.kind != ProcessKind::Absorbing
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::NdArray;
    use gtl_diffusion::Schedule;
    use gtl_diffusion::sampler::tokens_tensor;
    use gtl_markov::hmm::log_h;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    type TB = NdArray;

    const N: usize = 4;
    const LENGTH: usize = 7;

    fn oracle(kind: ProcessKind) -> MarkovLogRatio {
        let process = Process::new(kind, N, Schedule::default()).unwrap();
        MarkovLogRatio::new(
            MarkovChain::dirichlet(N, 1.0, 3).unwrap(),
            MarkovChain::diagonal(N, 0.7).unwrap(),
            process,
        )
        .unwrap()
    }

    /// `rows` clean sequences from the source, corrupted at `times` (one per row).
    fn noisy(oracle: &MarkovLogRatio, times: &[f64], seed: u64) -> Vec<u32> {
        let rows = times.len();
        let clean: Vec<u32> = oracle.source().sample_dataset(rows, LENGTH, seed).concat();
        let x0 = tokens_tensor::<TB>(&clean, rows, LENGTH, &Default::default());
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let z = oracle.process.corrupt(x0, times, &mut rng);
        gtl_diffusion::sampler::tensor_tokens(z)
    }

    fn via_trait(oracle: &MarkovLogRatio, z: &[u32], times: &[f64]) -> Vec<f64> {
        let device = Default::default();
        let rows = times.len();
        let t = Tensor::<TB, 1>::from_data(
            TensorData::new(times.iter().map(|&t| t as f32).collect(), [rows]),
            &device,
        );
        // Through the blanket `&R` impl, as a sampler holding a reference would call it.
        let model: &dyn RatioModel<TB> = &oracle;
        model
            .log_ratio(tokens_tensor::<TB>(z, rows, LENGTH, &device), t)
            .into_data()
            .to_vec::<f32>()
            .unwrap()
            .into_iter()
            .map(f64::from)
            .collect()
    }

    #[test]
    fn equals_the_forward_algorithm_for_every_process() {
        let kinds = [
            ProcessKind::Absorbing,
            ProcessKind::Uniform,
            ProcessKind::Roulette { mask_rate: 0.9 },
        ];
        for kind in kinds {
            let oracle = oracle(kind);
            let times: Vec<f64> = (0..12).map(|i| 0.05 + 0.08 * i as f64).collect();
            let z = noisy(&oracle, &times, 11);
            let got = via_trait(&oracle, &z, &times);
            for ((row, &t), value) in z.chunks(LENGTH).zip(&times).zip(got) {
                // The tensor holds f32 times: the kernel is taken at the f32-rounded time.
                let t = f64::from(t as f32);
                let kernel = emission_kernel(N, oracle.process.kernel(t));
                let exact = log_h(oracle.source(), oracle.target(), &kernel, row);
                assert!(
                    (value - exact).abs() <= 1e-5 * exact.abs().max(1.0),
                    "{kind:?} t = {t}: {value} vs log_h {exact} for {row:?}"
                );
            }
            assert_eq!(
                RatioModel::<TB>::time_conditioned(&oracle),
                kind != ProcessKind::Absorbing
            );
        }
    }

    #[test]
    fn absorbing_ratio_does_not_depend_on_t() {
        let oracle = oracle(ProcessKind::Absorbing);
        let z = noisy(&oracle, &[0.5; 20], 12);
        let sequences: Vec<&[u32]> = z.chunks(LENGTH).collect();
        let at = |t: f64| oracle.log_h(&sequences, &vec![t; sequences.len()]);
        let reference = at(0.5);
        for t in [0.01, 0.2, 0.9, 0.999] {
            for (value, expected) in at(t).iter().zip(&reference) {
                assert!(
                    (value - expected).abs() < 1e-12 * expected.abs().max(1.0),
                    "t = {t}: {value} vs {expected} at t = 0.5"
                );
            }
        }
    }

    #[test]
    fn clean_log_ratio_is_log_h_at_time_zero() {
        for kind in [ProcessKind::Absorbing, ProcessKind::Uniform] {
            let oracle = oracle(kind);
            let clean = oracle.target().sample_dataset(10, LENGTH, 13);
            let sequences: Vec<&[u32]> = clean.iter().map(Vec::as_slice).collect();
            let at_zero = oracle.log_h(&sequences, &[0.0; 10]);
            for (x0, value) in clean.iter().zip(at_zero) {
                let expected = oracle.clean_log_ratio(x0);
                assert!(
                    (value - expected).abs() < 1e-12 * expected.abs().max(1.0),
                    "{kind:?}: log h_0 = {value}, log r = {expected}"
                );
            }
        }
    }

    #[test]
    fn a_chain_of_another_size_is_refused() {
        let process = Process::new(ProcessKind::Absorbing, N, Schedule::default()).unwrap();
        let err = MarkovLogRatio::new(
            MarkovChain::diagonal(N, 0.5).unwrap(),
            MarkovChain::diagonal(N + 1, 0.5).unwrap(),
            process,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the chain has 5 states but the process has 4 real tokens"
        );
    }
}
