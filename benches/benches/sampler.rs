//! Cost of one reverse step: the model posterior (ancestral), the concrete score with a
//! Tweedie step, and the categorical draw, for a batch of 256 sequences.

use burn::backend::{Flex, NdArray};
use burn::prelude::*;
use criterion::{Criterion, criterion_group, criterion_main};
use gtl_diffusion::sampler::{draw_categorical, tweedie_probs};
use gtl_diffusion::{Process, ProcessKind, Schedule, concrete_score, model_posterior};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const BATCH: usize = 256;

/// Random log-probabilities `[BATCH, length, n]` and noisy tokens (half masked).
fn inputs<B: Backend>(
    process: &Process,
    length: usize,
    device: &B::Device,
) -> (Tensor<B, 3>, Tensor<B, 2, Int>) {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let n = process.num_tokens;
    let logits: Vec<f32> = (0..BATCH * length * n)
        .map(|_| rng.random::<f32>() * 4.0)
        .collect();
    let log_x0 = burn::tensor::activation::log_softmax(
        Tensor::<B, 3>::from_data(TensorData::new(logits, [BATCH, length, n]), device),
        2,
    );
    let tokens: Vec<i64> = (0..BATCH * length)
        .map(|_| {
            if rng.random::<bool>() && process.has_mask() {
                n as i64
            } else {
                rng.random_range(0..n as i64)
            }
        })
        .collect();
    (
        log_x0,
        Tensor::from_data(TensorData::new(tokens, [BATCH, length]), device),
    )
}

fn bench_backend<B: Backend>(c: &mut Criterion, name: &str) {
    let device = B::Device::default();
    for (n, length) in [(5, 20), (1024, 128)] {
        for kind in [
            ProcessKind::Absorbing,
            ProcessKind::Roulette { mask_rate: 0.95 },
        ] {
            let process = Process::new(kind, n, Schedule::default()).unwrap();
            let (log_x0, z) = inputs::<B>(&process, length, &device);
            let label = format!("{name}/{}/N{n}-L{length}", kind.name());
            c.bench_function(&format!("ancestral_step/{label}"), |b| {
                let mut rng = ChaCha8Rng::seed_from_u64(1);
                b.iter(|| {
                    let probs = model_posterior(&process, log_x0.clone(), z.clone(), 0.5, 0.49);
                    draw_categorical(probs, &mut rng)
                })
            });
            c.bench_function(&format!("tweedie_step/{label}"), |b| {
                let mut rng = ChaCha8Rng::seed_from_u64(1);
                b.iter(|| {
                    let score = concrete_score(
                        &process,
                        log_x0.clone().exp(),
                        z.clone(),
                        &[process.kernel(0.5)],
                    );
                    draw_categorical(
                        tweedie_probs(&process, score, z.clone(), 0.5, 0.49),
                        &mut rng,
                    )
                })
            });
        }
    }
}

fn benches(c: &mut Criterion) {
    bench_backend::<NdArray>(c, "ndarray");
    bench_backend::<Flex>(c, "flex");
}

criterion_group! {
    name = sampler;
    config = Criterion::default().sample_size(20);
    targets = benches
}
criterion_main!(sampler);
