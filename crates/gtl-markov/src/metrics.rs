//! Sample-quality metrics against a known chain (MATH.md §7): transition-matrix error,
//! per-token NLL and, where `N^L ≤ 10^6`, exact total variation and a chi-square test against
//! the enumerated sequence distribution.
//!
//! A sample that is not a sequence of the stated length over `0..N` has probability 0 under
//! the chain: it counts as mass outside the support in [`total_variation`] and makes the
//! [`chi_square`] statistic infinite.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use statrs::distribution::{ChiSquared, ContinuousCDF};

use crate::{MarkovChain, MarkovError};

/// Largest number of sequences `N^L` that may be enumerated.
pub const MAX_ENUMERATED: usize = 1_000_000;

/// Minimum expected count of a chi-square bin; smaller cells are pooled.
const MIN_EXPECTED: f64 = 5.0;

/// Empirical vs true transition matrix (the reference paper's metric).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TransitionError {
    /// Mean absolute error over all N² entries.
    pub mean_abs: f64,
    /// Largest absolute error over all N² entries.
    pub max_abs: f64,
    /// Mean diagonal entry of the EMPIRICAL matrix.
    pub mean_diagonal: f64,
}

/// Result of a Pearson goodness-of-fit test.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChiSquare {
    /// `Σ (observed - expected)² / expected` over the bins.
    pub statistic: f64,
    /// Degrees of freedom: number of bins minus 1.
    pub dof: usize,
    /// `P(χ²_dof ≥ statistic)`.
    pub p_value: f64,
}

/// Row-normalised bigram counts over `0..n`. A row whose state is never followed by another
/// token is uniform (`1/n`); bigrams touching a token `≥ n` are skipped.
pub fn empirical_transition(samples: &[Vec<u32>], n: usize) -> Vec<Vec<f64>> {
    let mut counts = vec![vec![0u64; n]; n];
    for pair in samples.iter().flat_map(|sample| sample.windows(2)) {
        let (from, to) = (pair[0] as usize, pair[1] as usize);
        if from < n && to < n {
            counts[from][to] += 1;
        }
    }
    counts
        .into_iter()
        .map(|row| {
            let total: u64 = row.iter().sum();
            if total == 0 {
                vec![1.0 / n as f64; n]
            } else {
                row.into_iter().map(|c| c as f64 / total as f64).collect()
            }
        })
        .collect()
}

/// Compares [`empirical_transition`] of the samples with the chain's transition matrix.
pub fn transition_error(samples: &[Vec<u32>], chain: &MarkovChain) -> TransitionError {
    let n = chain.num_states();
    let empirical = empirical_transition(samples, n);
    let errors = empirical
        .iter()
        .zip(chain.transition())
        .flat_map(|(e, t)| e.iter().zip(t).map(|(a, b)| (a - b).abs()));
    let (sum, max) = errors.fold((0.0, 0.0f64), |(s, m), e| (s + e, m.max(e)));
    let diagonal: f64 = (0..n).map(|i| empirical[i][i]).sum();
    TransitionError {
        mean_abs: sum / (n * n) as f64,
        max_abs: max,
        mean_diagonal: diagonal / n as f64,
    }
}

/// Mean over all tokens of `-log p(x)`, i.e. `-Σ log p(sample) / Σ len(sample)`; `+inf` if
/// any sample is impossible under the chain, NaN if there are no tokens.
pub fn per_token_nll(samples: &[Vec<u32>], chain: &MarkovChain) -> f64 {
    let tokens: usize = samples.iter().map(Vec::len).sum();
    let log_likelihood: f64 = samples.iter().map(|s| chain.log_likelihood(s)).sum();
    -log_likelihood / tokens as f64
}

/// The probability of every sequence of `length` states, indexed by [`sequence_index`].
/// Errors if `N^length > 10^6`.
pub fn enumerate_probabilities(
    chain: &MarkovChain,
    length: usize,
) -> Result<Vec<f64>, MarkovError> {
    let n = chain.num_states();
    u32::try_from(length)
        .ok()
        .and_then(|l| n.checked_pow(l))
        .filter(|&count| count <= MAX_ENUMERATED)
        .ok_or(MarkovError::TooManySequences {
            num_states: n,
            length,
        })?;
    if length == 0 {
        return Ok(vec![1.0]);
    }
    let mut probs = chain.initial().to_vec();
    for _ in 1..length {
        // Appending state w to prefix `index` gives index·N + w; its last state is index mod N.
        probs = probs
            .iter()
            .enumerate()
            .flat_map(|(index, &p)| chain.transition_row(index % n).iter().map(move |t| p * t))
            .collect();
    }
    Ok(probs)
}

/// The base-`n` number of a sequence, position 0 most significant.
///
/// # Panics
/// If a token is `≥ n`. The result is meaningful only while `n^len` fits in `usize`.
pub fn sequence_index(sequence: &[u32], n: usize) -> usize {
    sequence.iter().fold(0, |index, &token| {
        assert!((token as usize) < n, "token {token}: must be < {n}");
        index * n + token as usize
    })
}

/// Exact total variation `½ Σ_x |empirical(x) - p(x)|` between the samples and the chain's
/// distribution over sequences of `length` (`N^length ≤ 10^6`). Samples of another length
/// or with tokens `≥ N` are mass outside the support.
pub fn total_variation(
    samples: &[Vec<u32>],
    chain: &MarkovChain,
    length: usize,
) -> Result<f64, MarkovError> {
    let probs = enumerate_probabilities(chain, length)?;
    if samples.is_empty() {
        return Err(MarkovError::NoSamples {
            what: "total variation",
        });
    }
    let n = chain.num_states();
    let mut indices: Vec<Option<usize>> =
        samples.iter().map(|s| valid_index(s, n, length)).collect();
    Ok(tv_of_indices(&probs, &mut indices))
}

/// Pearson chi-square goodness-of-fit of the samples against the chain's distribution over
/// sequences of `length` (`N^length ≤ 10^6`).
///
/// Pooling rule: the cells with positive probability are sorted by expected count; all cells
/// with expected count below 5 are merged into one bin, and while that bin's expected count is
/// still below 5 the next-smallest cell is merged into it too. Cells of probability 0 are not
/// bins: if any sample falls in one (or is not a valid sequence), the statistic is `+inf` and
/// the p-value 0. With a single bin the p-value is 1.
pub fn chi_square(
    samples: &[Vec<u32>],
    chain: &MarkovChain,
    length: usize,
) -> Result<ChiSquare, MarkovError> {
    let probs = enumerate_probabilities(chain, length)?;
    if samples.is_empty() {
        return Err(MarkovError::NoSamples { what: "chi-square" });
    }
    let n = chain.num_states();
    let mut observed = vec![0u64; probs.len()];
    let mut outside_support = false;
    for sample in samples {
        match valid_index(sample, n, length) {
            Some(index) if probs[index] > 0.0 => observed[index] += 1,
            _ => outside_support = true,
        }
    }
    let total = samples.len() as f64;
    // (expected, observed) for every cell of positive probability, smallest expected first.
    let mut cells: Vec<(f64, f64)> = probs
        .iter()
        .zip(&observed)
        .filter(|(p, _)| **p > 0.0)
        .map(|(p, &o)| (p * total, o as f64))
        .collect();
    cells.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut split = cells.partition_point(|c| c.0 < MIN_EXPECTED);
    let mut pool = cells[..split]
        .iter()
        .fold((0.0, 0.0), |acc, c| (acc.0 + c.0, acc.1 + c.1));
    while split > 0 && pool.0 < MIN_EXPECTED && split < cells.len() {
        pool = (pool.0 + cells[split].0, pool.1 + cells[split].1);
        split += 1;
    }
    let pooled = (split > 0).then_some(pool);
    let bins = cells[split..].iter().copied().chain(pooled);
    let dof = cells.len() - split + usize::from(split > 0) - 1;
    let statistic = if outside_support {
        f64::INFINITY
    } else {
        bins.map(|(e, o)| (o - e) * (o - e) / e).sum()
    };
    let p_value = if statistic == f64::INFINITY {
        0.0
    } else if dof == 0 {
        1.0
    } else {
        ChiSquared::new(dof as f64)
            .expect("dof >= 1 is a valid chi-square parameter")
            .sf(statistic)
    };
    Ok(ChiSquare {
        statistic,
        dof,
        p_value,
    })
}

/// The `quantile` of the total variation between `num_samples` exact samples of the chain
/// (sequences of `length`) and its exact distribution, estimated over `replicates`
/// independent replicates. Replicate `r` uses a `ChaCha8Rng` seeded with `seed` on stream `r`,
/// so the result does not depend on the thread count. The quantile interpolates linearly
/// between order statistics (`(R - 1)·q`, "type 7").
pub fn tv_null_quantile(
    chain: &MarkovChain,
    length: usize,
    num_samples: usize,
    replicates: usize,
    quantile: f64,
    seed: u64,
) -> Result<f64, MarkovError> {
    if !(0.0..=1.0).contains(&quantile) {
        return Err(MarkovError::parameter("quantile", quantile, "in [0, 1]"));
    }
    if num_samples == 0 {
        return Err(MarkovError::NoSamples {
            what: "total variation",
        });
    }
    if replicates == 0 {
        return Err(MarkovError::parameter("replicates", 0.0, "at least 1"));
    }
    let probs = enumerate_probabilities(chain, length)?;
    let cumulative: Vec<f64> = probs
        .iter()
        .scan(0.0, |sum, p| {
            *sum += p;
            Some(*sum)
        })
        .collect();
    let last_possible = probs.iter().rposition(|&p| p > 0.0).unwrap_or(0);
    let mut distances: Vec<f64> = (0..replicates)
        .into_par_iter()
        .map(|replicate| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(replicate as u64);
            let mut indices: Vec<Option<usize>> = (0..num_samples)
                .map(|_| {
                    let u: f64 = rng.random();
                    Some(cumulative.partition_point(|&c| c <= u).min(last_possible))
                })
                .collect();
            tv_of_indices(&probs, &mut indices)
        })
        .collect();
    distances.sort_by(f64::total_cmp);
    let position = (replicates - 1) as f64 * quantile;
    let below = position.floor() as usize;
    let above = (below + 1).min(replicates - 1);
    let fraction = position - below as f64;
    Ok(distances[below] + fraction * (distances[above] - distances[below]))
}

/// The index of a sequence of exactly `length` tokens in `0..n`, else `None`.
fn valid_index(sequence: &[u32], n: usize, length: usize) -> Option<usize> {
    let valid = sequence.len() == length && sequence.iter().all(|&t| (t as usize) < n);
    valid.then(|| sequence_index(sequence, n))
}

/// TV between the empirical distribution of `indices` (`None` = outside the support) and
/// `probs`, in O(S log S) for S samples: unobserved cells contribute `1 - Σ_observed p`.
fn tv_of_indices(probs: &[f64], indices: &mut [Option<usize>]) -> f64 {
    indices.sort_unstable();
    let total = indices.len() as f64;
    let mut sum_abs = 0.0;
    let mut observed_mass = 0.0;
    for run in indices.chunk_by(|a, b| a == b) {
        let frequency = run.len() as f64 / total;
        match run[0] {
            Some(index) => {
                sum_abs += (frequency - probs[index]).abs();
                observed_mass += probs[index];
            }
            None => sum_abs += frequency,
        }
    }
    0.5 * (sum_abs + (1.0 - observed_mass).max(0.0))
}

#[cfg(test)]
mod tests;
