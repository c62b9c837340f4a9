//! Cost of one guided sample (L = 16, 8 sequences per call) against the vocabulary size, with
//! an untrained tiny denoiser and ratio network on NdArray: unguided one-position sampling,
//! scheduled GTL with n = 16, Taylor guidance, and (N = 64 only) exact guidance.
//! `cargo xtask bench guidance` runs the full sweep and fits slopes.

use burn::backend::{Autodiff, NdArray};
use burn::module::AutodiffModule;
use burn::prelude::*;
use criterion::{Criterion, criterion_group, criterion_main};
use gtl_diffusion::sampler::{OnePosition, Order, Sampler};
use gtl_diffusion::{Process, ProcessKind, Schedule};
use gtl_guidance::{
    ExactGuidance, GammaSchedule, Guide, GuidedSampler, PositionRule, ScheduledGtl, Scorer,
    TaylorRatio,
};
use gtl_models::{DenoiserNetConfig, ScalarNetConfig, TrunkConfig};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

type Inner = NdArray;
type AB = Autodiff<Inner>;

const LENGTH: usize = 16;
const ROWS: usize = 8;

fn bench_guidance(c: &mut Criterion) {
    let device = Default::default();
    let mut group = c.benchmark_group("guided_sample");
    group.sample_size(10);
    for vocab in [64usize, 1024] {
        let process = Process::new(ProcessKind::Absorbing, vocab, Schedule::default()).unwrap();
        let trunk = TrunkConfig::preset("tiny", vocab + 1, LENGTH).unwrap();
        AB::seed(&device, 0);
        let denoiser = DenoiserNetConfig::new(trunk.clone(), vocab, true).init::<Inner>(&device);
        let ratio_ad = ScalarNetConfig::new(trunk).init::<AB>(&device);
        let ratio = ratio_ad.valid();
        let taylor = TaylorRatio { net: ratio_ad };
        let exact = Scorer::Exact {
            ratio: &ratio,
            chunk_rows: 4096,
        };
        let gtl = |top_n| ScheduledGtl::<Inner> {
            order: PositionRule::Random,
            top_n,
            tail: Default::default(),
            gamma: GammaSchedule::Constant(1.0),
            batch_size: ROWS,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        group.bench_function(format!("unguided/N={vocab}"), |b| {
            let sampler = OnePosition {
                order: Order::Random,
                batch_size: ROWS,
            };
            b.iter(|| {
                Sampler::<Inner>::sample(
                    &sampler, &denoiser, &process, ROWS, LENGTH, &device, &mut rng,
                )
                .unwrap()
            })
        });
        group.bench_function(format!("gtl-n16/N={vocab}"), |b| {
            let sampler = gtl(Some(16));
            b.iter(|| {
                sampler
                    .sample(
                        Guide {
                            denoiser: &denoiser,
                            scorer: exact,
                            process: &process,
                        },
                        ROWS,
                        LENGTH,
                        &device,
                        &mut rng,
                    )
                    .unwrap()
            })
        });
        group.bench_function(format!("taylor/N={vocab}"), |b| {
            let sampler = gtl(None);
            b.iter(|| {
                sampler
                    .sample(
                        Guide {
                            denoiser: &denoiser,
                            scorer: Scorer::Taylor(&taylor),
                            process: &process,
                        },
                        ROWS,
                        LENGTH,
                        &device,
                        &mut rng,
                    )
                    .unwrap()
            })
        });
        if vocab == 64 {
            group.bench_function(format!("exact/N={vocab}"), |b| {
                let sampler = ExactGuidance {
                    steps: LENGTH,
                    t_end: 1e-5,
                    gamma: GammaSchedule::Constant(1.0),
                    batch_size: ROWS,
                };
                b.iter(|| {
                    sampler
                        .sample(
                            Guide {
                                denoiser: &denoiser,
                                scorer: exact,
                                process: &process,
                            },
                            ROWS,
                            LENGTH,
                            &device,
                            &mut rng,
                        )
                        .unwrap()
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench_guidance);
criterion_main!(benches);
