//! Sampler exactness and NELBO against the exact Markov distribution (enumeration).

use burn::backend::NdArray;
use gtl_diffusion::sampler::{Confidence, Order, SamplerConfig, SamplerKind, tokens_tensor};
use gtl_diffusion::{Process, ProcessKind, Schedule, nelbo};
use gtl_markov::MarkovChain;
use gtl_markov::metrics::{total_variation, tv_null_quantile};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::MarkovDenoiser;

type TB = NdArray;

const LENGTH: usize = 5;
const SAMPLES: usize = 4000;

fn chains() -> Vec<(&'static str, MarkovChain)> {
    vec![
        ("dirichlet-1", MarkovChain::dirichlet(3, 1.0, 1).unwrap()),
        ("dirichlet-2", MarkovChain::dirichlet(3, 1.0, 2).unwrap()),
        ("diagonal-0.8", MarkovChain::diagonal(3, 0.8).unwrap()),
    ]
}

fn process(kind: ProcessKind) -> Process {
    Process::new(kind, 3, Schedule::default()).unwrap()
}

/// TV of the sampler's samples and the 99th percentile of exact-sample TV at the same size.
fn tv_and_null(
    chain: &MarkovChain,
    process: Process,
    config: SamplerConfig,
    seed: u64,
) -> (f64, f64) {
    let denoiser = MarkovDenoiser::new(chain.clone(), process).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let samples = config
        .build::<TB>()
        .sample(
            &denoiser,
            &process,
            SAMPLES,
            LENGTH,
            &Default::default(),
            &mut rng,
        )
        .unwrap();
    let tv = total_variation(&samples.tokens, chain, LENGTH).unwrap();
    let null = tv_null_quantile(chain, LENGTH, SAMPLES, 400, 0.99, seed + 1).unwrap();
    eprintln!(
        "{:?} {:?} steps={}: TV {tv:.4}, null q99 {null:.4}",
        process.kind, config.kind, config.steps
    );
    (tv, null)
}

fn config(kind: SamplerKind, steps: usize, order: Order) -> SamplerConfig {
    SamplerConfig {
        kind,
        steps,
        order,
        batch_size: 1000,
        ..SamplerConfig::default()
    }
}

#[test]
fn one_position_and_ancestral_sampling_are_exact_with_the_exact_denoiser() {
    let absorbing = process(ProcessKind::Absorbing);
    let samplers = [
        (
            "one-position random",
            config(SamplerKind::OnePosition, 0, Order::Random),
        ),
        (
            "one-position confidence",
            config(
                SamplerKind::OnePosition,
                0,
                Order::Confidence(Confidence::MaxProb),
            ),
        ),
        (
            "ancestral 512 steps",
            config(SamplerKind::Ancestral, 512, Order::Random),
        ),
    ];
    for (c, (chain_name, chain)) in chains().iter().enumerate() {
        for (s, (name, sampler)) in samplers.iter().enumerate() {
            let (tv, null) = tv_and_null(chain, absorbing, *sampler, 100 * c as u64 + s as u64);
            assert!(
                tv <= null,
                "{name} on {chain_name}: TV {tv:.4} above the exact-sampling 99th percentile {null:.4}"
            );
        }
    }
}

#[test]
fn one_step_ancestral_sampling_is_detectably_inexact() {
    // Revealing every position in one step samples the product of the marginals: the
    // enumeration check must notice, or the exactness test above proves nothing.
    let (_, chain) = &chains()[2];
    let (tv, null) = tv_and_null(
        chain,
        process(ProcessKind::Absorbing),
        config(SamplerKind::Ancestral, 1, Order::Random),
        5,
    );
    assert!(tv > 2.0 * null, "one-step TV {tv:.4} vs null {null:.4}");
}

#[test]
fn tau_leaping_converges_with_the_number_of_steps() {
    // docs/samplers.md: TV falls from ~0.5-0.67 at one step to the exact-sampling level at
    // 32-128 steps. Assert the trend on a coarse grid and that 128 steps are indistinguishable
    // from exact sampling at the 99th percentile.
    let cases = [
        (ProcessKind::Uniform, SamplerKind::Euler, 1),
        (ProcessKind::Uniform, SamplerKind::Tweedie, 2),
        (
            ProcessKind::Roulette { mask_rate: 0.95 },
            SamplerKind::Euler,
            2,
        ),
        (
            ProcessKind::Roulette { mask_rate: 0.95 },
            SamplerKind::Tweedie,
            1,
        ),
    ];
    for (kind, sampler, chain_seed) in cases {
        let chain = MarkovChain::dirichlet(3, 1.0, chain_seed).unwrap();
        let tvs: Vec<(usize, f64, f64)> = [1, 4, 16, 128]
            .into_iter()
            .map(|steps| {
                let (tv, null) = tv_and_null(
                    &chain,
                    process(kind),
                    config(sampler, steps, Order::Random),
                    steps as u64,
                );
                (steps, tv, null)
            })
            .collect();
        for pair in tvs.windows(2) {
            let ((s0, tv0, _), (s1, tv1, null)) = (pair[0], pair[1]);
            // A decrease larger than the sampling noise, unless both are already at noise level.
            assert!(
                tv1 < tv0 || tv0 <= null,
                "{kind:?} {sampler:?}: TV {tv1:.4} at {s1} steps is not below {tv0:.4} at {s0} steps"
            );
        }
        let (_, tv1, null1) = tvs[0];
        assert!(
            tv1 > 3.0 * null1,
            "{kind:?} {sampler:?}: one step should be far from exact ({tv1:.4})"
        );
        let (_, tv, null) = tvs[3];
        assert!(
            tv <= null,
            "{kind:?} {sampler:?}: TV {tv:.4} at 128 steps above null q99 {null:.4}"
        );
    }
}

/// Mean and standard error of per-sequence values.
fn mean_and_error(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}

#[test]
fn nelbo_of_the_exact_denoiser_is_tight_for_absorbing_and_an_upper_bound_otherwise() {
    // With exact conditionals every reveal order gives the exact likelihood, so the absorbing
    // NELBO is tight: E[NELBO - NLL] = 0 up to the left-out [0, ε] part of the time integral.
    let chain = MarkovChain::dirichlet(3, 1.0, 1).unwrap();
    let length = 8;
    let data = chain.sample_dataset(2000, length, 3);
    let device = Default::default();
    let flat: Vec<u32> = data.iter().flatten().copied().collect();
    let x0 = tokens_tensor::<TB>(&flat, data.len(), length, &device);
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    for (kind, tight) in [
        (ProcessKind::Absorbing, true),
        (ProcessKind::Uniform, false),
        (ProcessKind::Roulette { mask_rate: 0.95 }, false),
    ] {
        let p = process(kind);
        let denoiser = MarkovDenoiser::new(chain.clone(), p).unwrap();
        let bounds = nelbo::<TB, _>(&denoiser, &p, x0.clone(), 4, &mut rng);
        let gaps: Vec<f64> = bounds
            .iter()
            .zip(&data)
            .map(|(b, x)| b + chain.log_likelihood(x))
            .collect();
        let (gap, error) = mean_and_error(&gaps);
        eprintln!(
            "{kind:?}: mean NELBO - NLL = {gap:.4} ± {error:.4} nats per sequence (L = {length})"
        );
        if tight {
            assert!(
                gap.abs() < 4.0 * error + 0.01,
                "{kind:?}: NELBO - NLL = {gap:.4} ± {error:.4}"
            );
        } else {
            assert!(
                gap > -4.0 * error,
                "{kind:?}: NELBO below NLL: {gap:.4} ± {error:.4}"
            );
        }
        // A denoiser of the wrong chain must pay for it.
        let wrong = MarkovDenoiser::new(MarkovChain::diagonal(3, 0.1).unwrap(), p).unwrap();
        let worse = nelbo::<TB, _>(&wrong, &p, x0.clone(), 4, &mut rng);
        let (wrong_gap, wrong_error) = mean_and_error(
            &worse
                .iter()
                .zip(&data)
                .map(|(b, x)| b + chain.log_likelihood(x))
                .collect::<Vec<_>>(),
        );
        assert!(
            wrong_gap > gap + 4.0 * (error + wrong_error),
            "{kind:?}: wrong chain gap {wrong_gap:.4} vs {gap:.4}"
        );
    }
}
