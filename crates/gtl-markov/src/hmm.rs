//! Exact oracles for noisy sequences (MATH.md §6): `z_t` is a hidden-Markov observation of
//! the clean sequence `x_0` with emission `P_t(z^ℓ | x^ℓ)` given by a [`TokenKernel`].
//!
//! Messages are kept in log space. Each step's log-sum-exp `log Σ_v exp(m_v + log P[v][w])` is
//! computed as `max(m) + log Σ_v exp(m_v - max(m)) P[v][w]`: a matrix-vector product on the
//! probability scale (N² multiply-adds instead of N² exponentials). Where that sum is too
//! small to be exact in f64 (below 1e-250), the entry is recomputed term by term in log
//! space, so extreme chains and kernels stay exact. Cost O(L·N²) per sequence, with no
//! allocation inside the loop over positions.
//!
//! Every function here panics if the kernel's `num_states` differs from the chain's (or if two
//! chains differ in size): these are programming errors, not data errors. Kernels are assumed
//! valid (see [`TokenKernel::validate`]).

use rayon::prelude::*;

use crate::{MarkovChain, TokenKernel};

/// Probability sums below this are recomputed exactly in log space.
const SAFE_SUM: f64 = 1e-250;

/// The result of forward-backward on one observed sequence `z` of length L.
#[derive(Clone, Debug, PartialEq)]
pub struct Smoothed {
    /// `log p_t(z)`; `-inf` when `z` is impossible under the chain and kernel.
    pub log_evidence: f64,
    /// The exact denoiser, row-major L×N: `marginals[ℓ·N + v] = p(x_0^ℓ = v | z)`. When `z` is
    /// impossible every row is uniform (`1/N`), so the values stay finite.
    pub marginals: Vec<f64>,
    /// Number of clean states N (the row length of `marginals`).
    pub num_states: usize,
}

impl Smoothed {
    /// `p(x_0^position = · | z)`, a distribution over the N clean states.
    pub fn marginal(&self, position: usize) -> &[f64] {
        let n = self.num_states;
        &self.marginals[position * n..(position + 1) * n]
    }

    /// Sequence length L.
    pub fn len(&self) -> usize {
        self.marginals.len() / self.num_states.max(1)
    }

    /// Whether the observed sequence was empty.
    pub fn is_empty(&self) -> bool {
        self.marginals.is_empty()
    }
}

/// `log p_t(z)` by the forward algorithm.
///
/// # Panics
/// If `kernel.num_states != chain.num_states()`.
pub fn log_evidence(chain: &MarkovChain, kernel: &TokenKernel, z: &[u32]) -> f64 {
    check_kernel(chain, kernel);
    forward_evidence(chain, kernel, z, &mut Scratch::new(chain.num_states()))
}

/// Forward-backward: `log p_t(z)` and every posterior marginal `p(x_0^ℓ = v | z)`.
///
/// # Panics
/// If `kernel.num_states != chain.num_states()`.
pub fn smooth(chain: &MarkovChain, kernel: &TokenKernel, z: &[u32]) -> Smoothed {
    check_kernel(chain, kernel);
    smooth_with(chain, kernel, z, &mut Scratch::new(chain.num_states()))
}

/// `log h_t(z) = log q_t(z) - log p_t(z)`, the exact log density ratio of a noisy sequence
/// between the `target` chain `q` and the `source` chain `p` (MATH.md §5).
///
/// `+inf` when only the source rules `z` out, `-inf` when only the target does, and NaN when
/// both do (the ratio is undefined there).
///
/// # Panics
/// If the chains differ in size or the kernel's size differs from theirs.
pub fn log_h(source: &MarkovChain, target: &MarkovChain, kernel: &TokenKernel, z: &[u32]) -> f64 {
    check_pair(source, target, kernel);
    let mut scratch = Scratch::new(source.num_states());
    forward_evidence(target, kernel, z, &mut scratch)
        - forward_evidence(source, kernel, z, &mut scratch)
}

/// [`smooth`] on many sequences in parallel (rayon). `kernels` holds either one kernel shared
/// by every sequence or one kernel per sequence.
///
/// # Panics
/// If `kernels.len()` is neither 1 nor `sequences.len()`, or a kernel's size differs from
/// the chain's.
pub fn smooth_batch(
    chain: &MarkovChain,
    kernels: &[TokenKernel],
    sequences: &[&[u32]],
) -> Vec<Smoothed> {
    check_kernel_count(kernels, sequences.len());
    kernels
        .iter()
        .for_each(|kernel| check_kernel(chain, kernel));
    sequences
        .par_iter()
        .enumerate()
        .map_init(
            || Scratch::new(chain.num_states()),
            |scratch, (index, z)| smooth_with(chain, kernel_for(kernels, index), z, scratch),
        )
        .collect()
}

/// [`log_h`] on many sequences in parallel (rayon). `kernels` holds either one kernel shared
/// by every sequence or one kernel per sequence.
///
/// # Panics
/// If `kernels.len()` is neither 1 nor `sequences.len()`, or the sizes of the chains and
/// kernels differ.
pub fn log_h_batch(
    source: &MarkovChain,
    target: &MarkovChain,
    kernels: &[TokenKernel],
    sequences: &[&[u32]],
) -> Vec<f64> {
    check_kernel_count(kernels, sequences.len());
    kernels
        .iter()
        .for_each(|kernel| check_pair(source, target, kernel));
    sequences
        .par_iter()
        .enumerate()
        .map_init(
            || Scratch::new(source.num_states()),
            |scratch, (index, z)| {
                let kernel = kernel_for(kernels, index);
                forward_evidence(target, kernel, z, scratch)
                    - forward_evidence(source, kernel, z, scratch)
            },
        )
        .collect()
}

/// Buffers of length N reused across positions (and across sequences in the batch functions).
struct Scratch {
    message: Vec<f64>,
    next: Vec<f64>,
    weights: Vec<f64>,
}

impl Scratch {
    fn new(n: usize) -> Self {
        Self {
            message: vec![0.0; n],
            next: vec![0.0; n],
            weights: vec![0.0; n],
        }
    }
}

/// The kernel's three log-probabilities, computed once per sequence.
#[derive(Clone, Copy)]
struct LogEmission {
    mask: u32,
    log_stay: f64,
    log_jump: f64,
    log_to_mask: f64,
}

impl LogEmission {
    fn new(kernel: &TokenKernel) -> Self {
        Self {
            mask: kernel.mask(),
            log_stay: kernel.stay.ln(),
            log_jump: kernel.jump.ln(),
            log_to_mask: kernel.to_mask.ln(),
        }
    }

    /// Adds `log P(z | x)` to `message[x]` for every clean state x.
    fn add_to(&self, z: u32, message: &mut [f64]) {
        if z == self.mask {
            message.iter_mut().for_each(|m| *m += self.log_to_mask);
        } else if z > self.mask {
            message.fill(f64::NEG_INFINITY);
        } else {
            let kept = message[z as usize] + self.log_stay;
            message.iter_mut().for_each(|m| *m += self.log_jump);
            message[z as usize] = kept;
        }
    }
}

fn forward_evidence(chain: &MarkovChain, kernel: &TokenKernel, z: &[u32], s: &mut Scratch) -> f64 {
    let Some((&first, rest)) = z.split_first() else {
        return 0.0;
    };
    let emission = LogEmission::new(kernel);
    let Scratch {
        message,
        next,
        weights,
    } = s;
    initialise(chain, &emission, first, message);
    for &observed in rest {
        propagate_forward(chain, message, next, weights);
        emission.add_to(observed, next);
        std::mem::swap(message, next);
    }
    log_sum_exp(message)
}

fn smooth_with(chain: &MarkovChain, kernel: &TokenKernel, z: &[u32], s: &mut Scratch) -> Smoothed {
    let n = chain.num_states();
    let length = z.len();
    // Forward messages are stored in `marginals`, then turned into posteriors in place.
    let mut marginals = vec![0.0; length * n];
    if length == 0 {
        return Smoothed {
            log_evidence: 0.0,
            marginals,
            num_states: n,
        };
    }
    let emission = LogEmission::new(kernel);
    initialise(chain, &emission, z[0], &mut marginals[..n]);
    for position in 1..length {
        let (done, todo) = marginals.split_at_mut(position * n);
        let current = &mut todo[..n];
        propagate_forward(chain, &done[(position - 1) * n..], current, &mut s.weights);
        emission.add_to(z[position], current);
    }
    let log_evidence = log_sum_exp(&marginals[(length - 1) * n..]);
    if log_evidence == f64::NEG_INFINITY {
        marginals.fill(1.0 / n as f64);
        return Smoothed {
            log_evidence,
            marginals,
            num_states: n,
        };
    }
    let Scratch {
        message: backward,
        next: ahead,
        weights,
    } = s;
    backward.fill(0.0);
    for position in (0..length).rev() {
        if position + 1 < length {
            // ahead[w] = log P(z^{ℓ+1} | w) + β_{ℓ+1}[w]; then β_ℓ[v] = log Σ_w P[v][w] e^{ahead[w]}.
            ahead.copy_from_slice(backward);
            emission.add_to(z[position + 1], ahead);
            propagate_backward(chain, ahead, backward, weights);
        }
        posterior_in_place(&mut marginals[position * n..(position + 1) * n], backward);
    }
    Smoothed {
        log_evidence,
        marginals,
        num_states: n,
    }
}

/// `message[x] = log π(x) + log P(z^0 | x)`.
fn initialise(chain: &MarkovChain, emission: &LogEmission, z: u32, message: &mut [f64]) {
    for (m, p) in message.iter_mut().zip(chain.initial()) {
        *m = p.ln();
    }
    emission.add_to(z, message);
}

/// `out[w] = log Σ_v exp(message[v]) P[v][w]`.
fn propagate_forward(chain: &MarkovChain, message: &[f64], out: &mut [f64], weights: &mut [f64]) {
    let Some(shift) = shift_and_exponentiate(message, weights) else {
        out.fill(f64::NEG_INFINITY);
        return;
    };
    out.fill(0.0);
    for (v, &weight) in weights.iter().enumerate() {
        if weight > 0.0 {
            for (o, p) in out.iter_mut().zip(chain.transition_row(v)) {
                *o += weight * p;
            }
        }
    }
    for (w, o) in out.iter_mut().enumerate() {
        *o = if *o >= SAFE_SUM {
            shift + o.ln()
        } else {
            log_sum_exp_by(message.len(), |v| {
                message[v] + chain.transition_row(v)[w].ln()
            })
        };
    }
}

/// `out[v] = log Σ_w P[v][w] exp(ahead[w])`.
fn propagate_backward(chain: &MarkovChain, ahead: &[f64], out: &mut [f64], weights: &mut [f64]) {
    let Some(shift) = shift_and_exponentiate(ahead, weights) else {
        out.fill(f64::NEG_INFINITY);
        return;
    };
    for (v, o) in out.iter_mut().enumerate() {
        let row = chain.transition_row(v);
        let sum = dot(row, weights);
        *o = if sum >= SAFE_SUM {
            shift + sum.ln()
        } else {
            log_sum_exp_by(row.len(), |w| ahead[w] + row[w].ln())
        };
    }
}

/// Writes `exp(log_values - max)` into `weights` and returns the max, or `None` if every
/// value is `-inf`.
fn shift_and_exponentiate(log_values: &[f64], weights: &mut [f64]) -> Option<f64> {
    let shift = log_values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if shift == f64::NEG_INFINITY {
        return None;
    }
    for (weight, &value) in weights.iter_mut().zip(log_values) {
        *weight = (value - shift).exp();
    }
    Some(shift)
}

/// Overwrites `alpha` (forward log message) with the normalised posterior `∝ exp(alpha + beta)`.
fn posterior_in_place(alpha: &mut [f64], beta: &[f64]) {
    for (a, b) in alpha.iter_mut().zip(beta) {
        *a += b;
    }
    let shift = alpha.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut total = 0.0;
    for a in alpha.iter_mut() {
        *a = (*a - shift).exp();
        total += *a;
    }
    alpha.iter_mut().for_each(|a| *a /= total);
}

fn log_sum_exp(values: &[f64]) -> f64 {
    log_sum_exp_by(values.len(), |i| values[i])
}

/// `log Σ_i exp(term(i))`, shifted by the largest term; `-inf` if every term is `-inf`.
fn log_sum_exp_by(len: usize, term: impl Fn(usize) -> f64) -> f64 {
    let shift = (0..len).map(&term).fold(f64::NEG_INFINITY, f64::max);
    if shift == f64::NEG_INFINITY {
        return shift;
    }
    shift + (0..len).map(|i| (term(i) - shift).exp()).sum::<f64>().ln()
}

/// Dot product with four accumulators so the compiler can vectorise it.
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut partial = [0.0; 4];
    let chunks_a = a.chunks_exact(4);
    let chunks_b = b.chunks_exact(4);
    let tail: f64 = chunks_a
        .remainder()
        .iter()
        .zip(chunks_b.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in chunks_a.zip(chunks_b) {
        for k in 0..4 {
            partial[k] += x[k] * y[k];
        }
    }
    partial.iter().sum::<f64>() + tail
}

fn check_kernel(chain: &MarkovChain, kernel: &TokenKernel) {
    assert_eq!(
        kernel.num_states,
        chain.num_states(),
        "kernel.num_states = {}: must equal the chain's number of states {}",
        kernel.num_states,
        chain.num_states()
    );
}

fn check_pair(source: &MarkovChain, target: &MarkovChain, kernel: &TokenKernel) {
    assert_eq!(
        source.num_states(),
        target.num_states(),
        "source has {} states and target {}: must have the same number",
        source.num_states(),
        target.num_states()
    );
    check_kernel(source, kernel);
}

fn check_kernel_count(kernels: &[TokenKernel], sequences: usize) {
    assert!(
        kernels.len() == 1 || kernels.len() == sequences,
        "{} kernels for {sequences} sequences: must be 1 (shared) or one per sequence",
        kernels.len()
    );
}

fn kernel_for(kernels: &[TokenKernel], index: usize) -> &TokenKernel {
    if kernels.len() == 1 {
        &kernels[0]
    } else {
        &kernels[index]
    }
}

#[cfg(test)]
mod tests;
