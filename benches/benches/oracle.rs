//! Forward-backward oracle throughput: one sequence at (N, L) = (5, 20) and (64, 128), and a
//! rayon batch of 256 sequences at (5, 20). Observations are exact chain samples corrupted by
//! the absorbing kernel at σ̄ = 0.7 (about half the tokens masked).

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use gtl_markov::{MarkovChain, TokenKernel, hmm};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const SIGMA_BAR: f64 = 0.7;

/// `count` noisy observations of length `length` from a Dirichlet chain over `n` states.
fn noisy_sequences(
    n: usize,
    length: usize,
    count: usize,
) -> (MarkovChain, TokenKernel, Vec<Vec<u32>>) {
    let chain = MarkovChain::dirichlet(n, 1.0, 1).expect("valid Dirichlet chain");
    let kernel = TokenKernel::absorbing(n, SIGMA_BAR);
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let observations = chain
        .sample_dataset(count, length, 3)
        .into_iter()
        .map(|clean| {
            clean
                .into_iter()
                .map(|x| {
                    if rng.random::<f64>() < kernel.to_mask {
                        kernel.mask()
                    } else {
                        x
                    }
                })
                .collect()
        })
        .collect();
    (chain, kernel, observations)
}

fn smooth(c: &mut Criterion) {
    let mut group = c.benchmark_group("smooth");
    for (n, length) in [(5, 20), (64, 128)] {
        let (chain, kernel, observations) = noisy_sequences(n, length, 1);
        let z = &observations[0];
        group.throughput(Throughput::Elements(length as u64));
        group.bench_with_input(
            BenchmarkId::new("N,L", format!("{n},{length}")),
            z,
            |b, z| b.iter(|| hmm::smooth(&chain, &kernel, black_box(z))),
        );
    }
    group.finish();
}

fn smooth_batch(c: &mut Criterion) {
    let (chain, kernel, observations) = noisy_sequences(5, 20, 256);
    let views: Vec<&[u32]> = observations.iter().map(Vec::as_slice).collect();
    let mut group = c.benchmark_group("smooth_batch");
    group.throughput(Throughput::Elements(views.len() as u64));
    group.bench_function("256x(N=5,L=20)", |b| {
        b.iter(|| hmm::smooth_batch(&chain, &[kernel], black_box(&views)))
    });
    group.finish();
}

criterion_group!(benches, smooth, smooth_batch);
criterion_main!(benches);
