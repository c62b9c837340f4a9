//! Forward-backward against brute-force enumeration, and the edge cases.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;

const N: usize = 3;
const L: usize = 5;
const TOLERANCE: f64 = 1e-10;

/// Every sequence in `0..n` of length `l`.
fn all_sequences(n: usize, l: usize) -> Vec<Vec<u32>> {
    let count = n.pow(l as u32);
    (0..count)
        .map(|mut index| {
            let mut sequence = vec![0; l];
            for slot in sequence.iter_mut().rev() {
                *slot = (index % n) as u32;
                index /= n;
            }
            sequence
        })
        .collect()
}

/// `(log p(z), p(x^ℓ = v | z))` by summing `p(x) Π_ℓ P(z^ℓ | x^ℓ)` over every clean `x`.
fn brute_force(chain: &MarkovChain, kernel: &TokenKernel, z: &[u32]) -> (f64, Vec<f64>) {
    let n = chain.num_states();
    let mut evidence = 0.0;
    let mut marginals = vec![0.0; z.len() * n];
    for x in all_sequences(n, z.len()) {
        let emission: f64 = z
            .iter()
            .zip(&x)
            .map(|(&zl, &xl)| kernel.prob(zl, xl))
            .product();
        let joint = chain.log_likelihood(&x).exp() * emission;
        evidence += joint;
        for (position, &xl) in x.iter().enumerate() {
            marginals[position * n + xl as usize] += joint;
        }
    }
    marginals.iter_mut().for_each(|m| *m /= evidence);
    (evidence.ln(), marginals)
}

fn kernels(sigma_bar: f64) -> [TokenKernel; 3] {
    [
        TokenKernel::absorbing(N, sigma_bar),
        TokenKernel::uniform(N, sigma_bar),
        TokenKernel::roulette(N, sigma_bar, 0.7),
    ]
}

/// Random observations: symbols in `0..=N` where the kernel can produce the mask, plus the
/// all-mask and the all-clean extremes.
fn observations(kernel: &TokenKernel, rng: &mut ChaCha8Rng) -> Vec<Vec<u32>> {
    let top = if kernel.to_mask > 0.0 {
        N as u32 + 1
    } else {
        N as u32
    };
    let mut all: Vec<Vec<u32>> = (0..12)
        .map(|_| (0..L).map(|_| rng.random_range(0..top)).collect())
        .collect();
    all.push(vec![0, 1, 2, 2, 0]);
    if kernel.to_mask > 0.0 {
        all.push(vec![N as u32; L]);
    }
    all
}

#[test]
fn forward_backward_matches_enumeration() {
    let source = MarkovChain::dirichlet(N, 1.0, 1).unwrap();
    let target = MarkovChain::dirichlet(N, 0.5, 2).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut checked = 0;
    for sigma_bar in [0.05, 0.7, 3.0] {
        for kernel in kernels(sigma_bar) {
            for z in observations(&kernel, &mut rng) {
                let (expected_evidence, expected_marginals) = brute_force(&source, &kernel, &z);
                let smoothed = smooth(&source, &kernel, &z);
                assert!(
                    (smoothed.log_evidence - expected_evidence).abs() < TOLERANCE,
                    "{kernel:?} {z:?}: {} vs {expected_evidence}",
                    smoothed.log_evidence
                );
                assert!((log_evidence(&source, &kernel, &z) - expected_evidence).abs() < TOLERANCE);
                for (got, want) in smoothed.marginals.iter().zip(&expected_marginals) {
                    assert!(
                        (got - want).abs() < TOLERANCE,
                        "{kernel:?} {z:?}: {got} vs {want}"
                    );
                }
                let (target_evidence, _) = brute_force(&target, &kernel, &z);
                let ratio = log_h(&source, &target, &kernel, &z);
                assert!((ratio - (target_evidence - expected_evidence)).abs() < TOLERANCE);
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 3 * (14 + 13 + 14));
}

#[test]
fn absorbing_log_h_does_not_depend_on_the_noise_level() {
    // MATH.md §5: h_t(z) = q(z_obs) / p(z_obs) for the absorbing process.
    let source = MarkovChain::dirichlet(4, 1.0, 3).unwrap();
    let target = MarkovChain::diagonal(4, 0.8).unwrap();
    let z = [0, 4, 4, 2, 4, 3, 3, 4];
    let low = log_h(&source, &target, &TokenKernel::absorbing(4, 0.1), &z);
    let high = log_h(&source, &target, &TokenKernel::absorbing(4, 5.0), &z);
    assert!((low - high).abs() < 1e-12, "{low} vs {high}");
}

#[test]
fn unmasked_absorbing_evidence_is_the_likelihood() {
    let chain = MarkovChain::dirichlet(6, 0.3, 8).unwrap();
    let kernel = TokenKernel::absorbing(6, 0.4);
    for z in chain.sample_dataset(5, 200, 1) {
        let expected = chain.log_likelihood(&z) + 200.0 * kernel.stay.ln();
        assert!((log_evidence(&chain, &kernel, &z) - expected).abs() < 1e-9);
        let smoothed = smooth(&chain, &kernel, &z);
        for (position, &token) in z.iter().enumerate() {
            assert!((smoothed.marginal(position)[token as usize] - 1.0).abs() < 1e-12);
        }
    }
}

#[test]
fn extreme_probabilities_stay_exact() {
    // Subnormal transition probabilities: on the probability scale their weighted sums lose
    // most of their digits, so these entries must take the exact log-space path.
    let (small, smaller) = (3e-320, 7e-321);
    let chain = MarkovChain::new(
        vec![0.5, 0.5, 0.0, 0.0, 0.0],
        vec![
            vec![1.0, 0.0, small, smaller, 0.0],
            vec![0.0, 1.0, smaller, small, 0.0],
            vec![0.0, 0.0, 0.25, 0.0, 0.75],
            vec![0.0, 0.0, 0.0, 0.75, 0.25],
            vec![0.2; 5],
        ],
    )
    .unwrap();
    let kernel = TokenKernel::absorbing(5, 0.3);
    // Both masked positions must route through states 2 or 3 to reach the revealed 4.
    let z = [5, 5, 4];
    let (log_small, log_smaller) = (f64::ln(small), f64::ln(smaller));
    let log_sum = log_small + (log_smaller - log_small).exp().ln_1p();
    let expected = 0.5f64.ln() + log_sum + 2.0 * kernel.to_mask.ln() + kernel.stay.ln();
    let smoothed = smooth(&chain, &kernel, &z);
    assert!(
        (smoothed.log_evidence - expected).abs() < 1e-12,
        "{} vs {expected}",
        smoothed.log_evidence
    );
    assert!((log_evidence(&chain, &kernel, &z) - expected).abs() < 1e-12);
    let ratio = (log_smaller - log_small).exp();
    let first = smoothed.marginal(0);
    assert!(
        (first[0] - (0.75 + 0.25 * ratio) / (1.0 + ratio)).abs() < 1e-12,
        "{first:?}"
    );
    assert!(
        (first[1] - (0.25 + 0.75 * ratio) / (1.0 + ratio)).abs() < 1e-12,
        "{first:?}"
    );
    let middle = smoothed.marginal(1);
    assert!(
        (middle[2] - 0.75).abs() < 1e-12 && (middle[3] - 0.25).abs() < 1e-12,
        "{middle:?}"
    );

    // A long run of tiny steps: evidence far below the smallest f64, still exact in log space.
    let tiny = 1e-300;
    let chain = MarkovChain::new(vec![0.5, 0.5], vec![vec![1.0, tiny], vec![tiny, 1.0]]).unwrap();
    let kernel = TokenKernel::absorbing(2, 0.3);
    let switching = [0, 1, 0, 1, 0, 1];
    let expected = chain.log_likelihood(&switching) + 6.0 * kernel.stay.ln();
    assert!(expected < -3000.0);
    assert!((log_evidence(&chain, &kernel, &switching) - expected).abs() < 1e-9);
}

#[test]
fn impossible_observations_give_minus_infinity_and_uniform_marginals() {
    let chain = MarkovChain::dirichlet(N, 1.0, 4).unwrap();
    let uniform = TokenKernel::uniform(N, 0.5);
    let smoothed = smooth(&chain, &uniform, &[0, 3, 1]);
    assert_eq!(smoothed.log_evidence, f64::NEG_INFINITY);
    assert!(smoothed.marginals.iter().all(|&m| m == 1.0 / 3.0));

    let identity = MarkovChain::diagonal(N, 1.0).unwrap();
    let absorbing = TokenKernel::absorbing(N, 0.5);
    let z = [0, 3, 1];
    assert_eq!(brute_force(&identity, &absorbing, &z).0, f64::NEG_INFINITY);
    assert_eq!(log_evidence(&identity, &absorbing, &z), f64::NEG_INFINITY);
    assert_eq!(log_evidence(&chain, &absorbing, &[0, 7]), f64::NEG_INFINITY);
    assert_eq!(log_h(&identity, &chain, &absorbing, &z), f64::INFINITY);
    assert_eq!(log_h(&chain, &identity, &absorbing, &z), f64::NEG_INFINITY);
    assert!(log_h(&identity, &identity, &absorbing, &z).is_nan());

    let empty = smooth(&chain, &absorbing, &[]);
    assert_eq!(empty.log_evidence, 0.0);
    assert!(empty.is_empty());
}

#[test]
fn batches_match_single_calls() {
    let source = MarkovChain::dirichlet(5, 1.0, 5).unwrap();
    let target = MarkovChain::diagonal(5, 0.8).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let sequences: Vec<Vec<u32>> = (0..17)
        .map(|_| (0..9).map(|_| rng.random_range(0..=5)).collect())
        .collect();
    let views: Vec<&[u32]> = sequences.iter().map(Vec::as_slice).collect();
    let per_sequence: Vec<TokenKernel> = (0..17)
        .map(|i| TokenKernel::roulette(5, 0.1 + 0.2 * i as f64, 0.9))
        .collect();
    let shared = [TokenKernel::absorbing(5, 0.7)];

    let batch = smooth_batch(&source, &shared, &views);
    for (smoothed, z) in batch.iter().zip(&views) {
        assert_eq!(*smoothed, smooth(&source, &shared[0], z));
    }
    let batch = smooth_batch(&source, &per_sequence, &views);
    for ((smoothed, z), kernel) in batch.iter().zip(&views).zip(&per_sequence) {
        assert_eq!(*smoothed, smooth(&source, kernel, z));
    }
    let ratios = log_h_batch(&source, &target, &per_sequence, &views);
    for ((ratio, z), kernel) in ratios.iter().zip(&views).zip(&per_sequence) {
        assert_eq!(*ratio, log_h(&source, &target, kernel, z));
    }
    assert!(smooth_batch(&source, &shared, &[]).is_empty());
}

#[test]
#[should_panic(expected = "2 kernels for 3 sequences: must be 1 (shared) or one per sequence")]
fn batch_rejects_a_wrong_number_of_kernels() {
    let chain = MarkovChain::diagonal(2, 0.5).unwrap();
    let kernels = [TokenKernel::absorbing(2, 0.1); 2];
    let _ = smooth_batch(&chain, &kernels, &[&[0], &[1], &[2]]);
}

#[test]
#[should_panic(expected = "kernel.num_states = 3: must equal the chain's number of states 2")]
fn kernel_size_must_match_the_chain() {
    let chain = MarkovChain::diagonal(2, 0.5).unwrap();
    let _ = log_evidence(&chain, &TokenKernel::absorbing(3, 0.1), &[0]);
}
