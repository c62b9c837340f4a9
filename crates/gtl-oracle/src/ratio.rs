//! The exact density ratio of two Markov chains under a forward process, as a
//! [`RatioModel`]: `log h_t(z) = log q_t(z) - log p_t(z)` by the forward algorithm
//! (MATH.md §5, §6).

use burn::prelude::*;
use gtl_classifier::{OneHotGradient, RatioModel};
use gtl_diffusion::{Process, ProcessKind};
use gtl_markov::hmm::{log_h_batch, smooth};
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

    /// Checks that every initial state and transition the target chain can use has positive
    /// source probability (the transitions out of states the target reaches from its initial
    /// states), so `log h_t` is finite wherever the target has mass.
    ///
    /// # Errors
    /// [`OracleError::NoSourceSupport`] naming the first state or transition that lacks it.
    pub fn require_source_support(&self) -> Result<(), OracleError> {
        let (p, q) = (&self.source, &self.target);
        let n = q.num_states();
        let gap = |what: String, target: f64| OracleError::NoSourceSupport { what, target };
        let mut reached = vec![false; n];
        let mut frontier = Vec::new();
        for (state, (&qi, &pi)) in q.initial().iter().zip(p.initial()).enumerate() {
            if qi > 0.0 {
                if pi <= 0.0 {
                    return Err(gap(format!("the initial state {state}"), qi));
                }
                reached[state] = true;
                frontier.push(state);
            }
        }
        while let Some(from) = frontier.pop() {
            let (q_row, p_row) = (q.transition_row(from), p.transition_row(from));
            for (to, (&qj, &pj)) in q_row.iter().zip(p_row).enumerate() {
                if qj > 0.0 {
                    if pj <= 0.0 {
                        return Err(gap(format!("the transition {from} → {to}"), qj));
                    }
                    if !reached[to] {
                        reached[to] = true;
                        frontier.push(to);
                    }
                }
            }
        }
        Ok(())
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

impl MarkovLogRatio {
    /// `∂ log h_t / ∂ w[ℓ, v]` at `w = one_hot(z)` of the multilinear extension
    /// `p_t(w) = Σ_x p(x) Π_ℓ Σ_v w[ℓ, v] K_t(v | x^ℓ)` (and likewise `q_t`), row-major
    /// `[length × vocab]` with vocab = the process's states (mask included). Per chain,
    /// `∂ log p_t / ∂ w[ℓ, v] = Σ_x c(x) K_t(v | x) / Σ_x c(x) K_t(z^ℓ | x)` with `c` the
    /// cavity marginal `p(x^ℓ | z^{-ℓ})`: the smoothed marginal divided by the emission where
    /// every emission of `z^ℓ` is positive, else the marginal at `ℓ` with `ℓ` re-masked (the
    /// mask's emission is the same for every token). Uniform at `t = 0` has neither; its
    /// gradient is then taken over the tokens that can emit `z^ℓ`.
    pub fn one_hot_gradient_host(&self, z: &[u32], t: f64) -> Vec<f64> {
        let kernel = emission_kernel(self.process.num_tokens, self.process.kernel(t));
        let vocab = self.process.num_states();
        let n = self.process.num_tokens;
        let mask = self.process.mask_token().map(|m| m as u32);
        let mut gradient = vec![0.0; z.len() * vocab];
        for (chain, sign) in [(&self.target, 1.0), (&self.source, -1.0)] {
            let smoothed = smooth(chain, &kernel, z);
            for (l, &observed) in z.iter().enumerate() {
                let emits = |x: usize| kernel.prob(observed, x as u32);
                let cavity: Vec<f64> = match mask {
                    Some(mask) if (0..n).any(|x| emits(x) == 0.0) => {
                        let mut masked = z.to_vec();
                        masked[l] = mask;
                        smooth(chain, &kernel, &masked).marginal(l).to_vec()
                    }
                    _ => (0..n)
                        .map(|x| {
                            let e = emits(x);
                            if e > 0.0 {
                                smoothed.marginal(l)[x] / e
                            } else {
                                0.0
                            }
                        })
                        .collect(),
                };
                let evidence: f64 = (0..n).map(|x| cavity[x] * emits(x)).sum();
                for v in 0..vocab {
                    let into: f64 = (0..n)
                        .map(|x| cavity[x] * kernel.prob(v as u32, x as u32))
                        .sum();
                    gradient[l * vocab + v] += sign * into / evidence;
                }
            }
        }
        gradient
    }
}

impl<B: Backend> OneHotGradient<B> for MarkovLogRatio {
    fn one_hot_gradient(&self, tokens: Tensor<B, 2, Int>, t: Tensor<B, 1>) -> Tensor<B, 3> {
        let [batch, length] = tokens.dims();
        let device = tokens.device();
        let vocab = self.process.num_states();
        let (ids, times) = crate::host_rows(tokens, t);
        let values: Vec<f32> = ids
            .chunks(length)
            .zip(times)
            .flat_map(|(z, t)| self.one_hot_gradient_host(z, t))
            .map(|g| g as f32)
            .collect();
        Tensor::from_data(TensorData::new(values, [batch, length, vocab]), &device)
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

    /// The support check names the first initial state or transition that the target uses and
    /// the source rules out, and ignores gaps in rows the target never reaches.
    #[test]
    fn source_support_gaps_are_named() {
        let process = Process::new(ProcessKind::Absorbing, 3, Schedule::default()).unwrap();
        let chain =
            |initial: Vec<f64>, rows: Vec<Vec<f64>>| MarkovChain::new(initial, rows).unwrap();
        let full = chain(
            vec![0.5, 0.5, 0.0],
            vec![
                vec![0.5, 0.5, 0.0],
                vec![0.5, 0.5, 0.0],
                vec![0.0, 0.0, 1.0],
            ],
        );
        let check = |source: &MarkovChain, target: &MarkovChain| {
            MarkovLogRatio::new(source.clone(), target.clone(), process)
                .unwrap()
                .require_source_support()
        };
        // State 2 is unreachable under the target: the source's gaps there do not matter.
        check(&full, &full).unwrap();
        let reaches_two = chain(
            vec![0.5, 0.5, 0.0],
            vec![
                vec![0.5, 0.25, 0.25],
                vec![0.5, 0.5, 0.0],
                vec![0.0, 0.0, 1.0],
            ],
        );
        let err = check(&full, &reaches_two).unwrap_err().to_string();
        assert!(
            err.contains("transition 0 → 2") && err.contains("0.25"),
            "{err}"
        );
        let starts_at_two = chain(vec![0.5, 0.25, 0.25], full.transition().to_vec());
        let err = check(&full, &starts_at_two).unwrap_err().to_string();
        assert!(err.contains("initial state 2"), "{err}");
        // The exact log h is indeed infinite there.
        let oracle = MarkovLogRatio::new(full.clone(), reaches_two.clone(), process).unwrap();
        let value = oracle.log_h(&[&[0, 2]], &[0.0])[0];
        assert_eq!(value, f64::INFINITY);
    }

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

    /// `log p_t(w)` of the multilinear extension by brute-force enumeration over x.
    fn soft_log_evidence(chain: &MarkovChain, kernel: &TokenKernel, w: &[Vec<f64>]) -> f64 {
        let n = chain.num_states();
        let length = w.len();
        let mut total = 0.0;
        for index in 0..n.pow(length as u32) {
            let x: Vec<u32> = (0..length)
                .map(|l| ((index / n.pow(l as u32)) % n) as u32)
                .collect();
            let emission: f64 = x
                .iter()
                .zip(w)
                .map(|(&x, row)| {
                    row.iter()
                        .enumerate()
                        .map(|(v, &weight)| weight * kernel.prob(v as u32, x))
                        .sum::<f64>()
                })
                .product();
            total += chain.log_likelihood(&x).exp() * emission;
        }
        total.ln()
    }

    #[test]
    fn one_hot_gradient_matches_finite_differences_of_the_multilinear_extension() {
        let (n, length) = (3, 4);
        for kind in [
            ProcessKind::Absorbing,
            ProcessKind::Uniform,
            ProcessKind::Roulette { mask_rate: 0.8 },
        ] {
            let process = Process::new(kind, n, Schedule::default()).unwrap();
            let oracle = MarkovLogRatio::new(
                MarkovChain::dirichlet(n, 1.0, 5).unwrap(),
                MarkovChain::diagonal(n, 0.7).unwrap(),
                process,
            )
            .unwrap();
            let vocab = process.num_states();
            let t = 0.45;
            let kernel = emission_kernel(n, process.kernel(t));
            let z: Vec<u32> = (0..length).map(|l| ((l * 2) % vocab) as u32).collect();
            let one_hot: Vec<Vec<f64>> = z
                .iter()
                .map(|&v| {
                    (0..vocab)
                        .map(|u| f64::from(u8::from(u == v as usize)))
                        .collect()
                })
                .collect();
            let log_h = |w: &[Vec<f64>]| {
                soft_log_evidence(oracle.target(), &kernel, w)
                    - soft_log_evidence(oracle.source(), &kernel, w)
            };
            let gradient = oracle.one_hot_gradient_host(&z, t);
            let step = 1e-6;
            for l in 0..length {
                for v in 0..vocab {
                    let (mut plus, mut minus) = (one_hot.clone(), one_hot.clone());
                    plus[l][v] += step;
                    minus[l][v] -= step;
                    let difference = (log_h(&plus) - log_h(&minus)) / (2.0 * step);
                    let analytic = gradient[l * vocab + v];
                    assert!(
                        (difference - analytic).abs() < 1e-6 * (1.0 + analytic.abs()),
                        "{kind:?} ({l}, {v}): finite difference {difference}, analytic {analytic}"
                    );
                }
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
