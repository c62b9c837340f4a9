//! Tests of the process mathematics against independent dense computations.

// Dense-matrix reference code reads best with explicit indices.
#![allow(clippy::needless_range_loop)]

use burn::backend::NdArray;
use burn::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::sampler::{euler_probs, tweedie_probs};
use crate::*;

type TB = NdArray;

/// Dense `S×S` matrix, `m[z][x]`.
type Dense = Vec<Vec<f64>>;

fn processes(n: usize) -> Vec<Process> {
    processes_with(n, Schedule::default())
}

fn processes_with(n: usize, schedule: Schedule) -> Vec<Process> {
    [
        ProcessKind::Absorbing,
        ProcessKind::Uniform,
        ProcessKind::Roulette { mask_rate: 0.7 },
    ]
    .into_iter()
    .map(|kind| Process::new(kind, n, schedule).unwrap())
    .collect()
}

/// Every process under the log-linear and the geometric schedule (σ̄(0) > 0 for the latter).
fn processes_all_schedules(n: usize) -> Vec<Process> {
    let mut all = processes(n);
    all.extend(processes_with(n, Schedule::geometric()));
    all
}

/// The rate matrix as a dense matrix built from its definition (MATH.md §2), not from the
/// closed-form kernels.
fn dense_rate(process: &Process) -> Dense {
    let n = process.num_tokens;
    let s = process.num_states();
    let mut q = vec![vec![0.0; s]; s];
    for x in 0..n {
        match process.kind {
            ProcessKind::Absorbing => {
                q[n][x] = 1.0;
                q[x][x] = -1.0;
            }
            ProcessKind::Uniform => {
                for z in 0..n {
                    q[z][x] = 1.0 / n as f64 - f64::from(u8::from(z == x));
                }
            }
            ProcessKind::Roulette { mask_rate } => {
                for z in 0..n {
                    q[z][x] = (1.0 - mask_rate) * (1.0 / n as f64 - f64::from(u8::from(z == x)));
                }
                q[n][x] = mask_rate;
                q[x][x] -= mask_rate;
            }
        }
    }
    q
}

fn matmul(a: &Dense, b: &Dense) -> Dense {
    let s = a.len();
    (0..s)
        .map(|i| {
            (0..s)
                .map(|j| (0..s).map(|k| a[i][k] * b[k][j]).sum())
                .collect()
        })
        .collect()
}

/// `exp(τ Q)` by scaling and squaring of a Taylor series.
fn expm(q: &Dense, tau: f64) -> Dense {
    let s = q.len();
    let norm: f64 = q.iter().flatten().map(|v| v.abs()).sum::<f64>() * tau.abs();
    let squarings = (norm.max(1.0).log2().ceil() as i32 + 4).max(0);
    let scale = tau / 2f64.powi(squarings);
    let a: Dense = q
        .iter()
        .map(|r| r.iter().map(|v| v * scale).collect())
        .collect();
    let mut result: Dense = (0..s)
        .map(|i| (0..s).map(|j| f64::from(u8::from(i == j))).collect())
        .collect();
    let mut term = result.clone();
    for k in 1..30 {
        term = matmul(&term, &a)
            .into_iter()
            .map(|r| r.into_iter().map(|v| v / k as f64).collect())
            .collect();
        for i in 0..s {
            for j in 0..s {
                result[i][j] += term[i][j];
            }
        }
    }
    for _ in 0..squarings {
        result = matmul(&result, &result);
    }
    result
}

fn closed_form(process: &Process, sigma_bar: f64) -> Dense {
    let s = process.num_states();
    let k = process.kernel_at_noise(sigma_bar);
    (0..s)
        .map(|z| (0..s).map(|x| k.entry(z, x, process.num_tokens)).collect())
        .collect()
}

#[test]
fn kernels_match_the_dense_matrix_exponential() {
    for n in [2, 3, 5] {
        for process in processes(n) {
            let q = dense_rate(&process);
            for &sigma_bar in &[1e-3, 0.1, 0.7, 2.5, 8.0] {
                let dense = expm(&q, sigma_bar);
                let closed = closed_form(&process, sigma_bar);
                for z in 0..q.len() {
                    for x in 0..q.len() {
                        assert!(
                            (dense[z][x] - closed[z][x]).abs() < 1e-10,
                            "{:?} N={n} σ̄={sigma_bar} entry ({z},{x}): {} vs {}",
                            process.kind,
                            dense[z][x],
                            closed[z][x]
                        );
                    }
                }
                for x in 0..q.len() {
                    let column: f64 = (0..q.len()).map(|z| closed[z][x]).sum();
                    assert!((column - 1.0).abs() < 1e-12, "column {x} sums to {column}");
                }
                let product = matmul(&closed, &closed_form(&process, -sigma_bar));
                for (i, row) in product.iter().enumerate() {
                    for (j, v) in row.iter().enumerate() {
                        let identity = f64::from(u8::from(i == j));
                        assert!(
                            (v - identity).abs() < 1e-8,
                            "exp(τQ)exp(-τQ) [{i},{j}] = {v}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn rate_matrix_entries_match_the_dense_rates() {
    for process in processes(4) {
        let q = dense_rate(&process);
        let r = process.rate_matrix();
        // Real columns only: `entry` gives the kernel convention δ_mask for the mask column,
        // whereas the rate matrix's mask column is zero.
        for z in 0..q.len() {
            for x in 0..4 {
                assert!(
                    (q[z][x] - r.entry(z, x, 4)).abs() < 1e-12,
                    "{:?} ({z},{x})",
                    process.kind
                );
            }
        }
    }
}

#[test]
fn roulette_mask_probability_follows_the_schedule() {
    let process = Process::new(
        ProcessKind::Roulette { mask_rate: 0.4 },
        6,
        Schedule::default(),
    )
    .unwrap();
    for &t in &[0.1, 0.5, 0.9] {
        assert!((process.kernel(t).to_mask - (1.0 - 1e-3) * t).abs() < 1e-12);
    }
}

/// Random normalised denoiser probabilities `[batch, length, N]` and noisy tokens.
fn random_inputs(
    process: &Process,
    batch: usize,
    length: usize,
    seed: u64,
) -> (Vec<f64>, Vec<u32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = process.num_tokens;
    let mut probs = Vec::new();
    for _ in 0..batch * length {
        let row: Vec<f64> = (0..n).map(|_| rng.random::<f64>() + 0.05).collect();
        let total: f64 = row.iter().sum();
        probs.extend(row.iter().map(|v| v / total));
    }
    let tokens = (0..batch * length)
        .map(|_| rng.random_range(0..process.num_states() as u32))
        .collect();
    (probs, tokens)
}

fn to_tensors(
    probs: &[f64],
    tokens: &[u32],
    batch: usize,
    length: usize,
    n: usize,
) -> (Tensor<TB, 3>, Tensor<TB, 2, Int>) {
    let device = Default::default();
    let p: Vec<f32> = probs.iter().map(|&v| v as f32).collect();
    let z: Vec<i64> = tokens.iter().map(|&v| i64::from(v)).collect();
    (
        Tensor::from_data(TensorData::new(p, [batch, length, n]), &device),
        Tensor::from_data(TensorData::new(z, [batch, length]), &device),
    )
}

fn host(t: Tensor<TB, 3>) -> Vec<f64> {
    t.into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .unwrap()
        .into_iter()
        .map(f64::from)
        .collect()
}

#[test]
fn model_posterior_equals_brute_force_bayes() {
    let (batch, length) = (3, 6);
    for n in [3, 5] {
        for process in processes_all_schedules(n) {
            let (probs, tokens) = random_inputs(&process, batch, length, 7);
            let q = dense_rate(&process);
            let states = process.num_states();
            for &(t, s) in &[(0.9, 0.6), (0.3, 0.29), (0.5, 0.0)] {
                // s = 0 is the clean sequence, whatever σ̄(0) the schedule has.
                let noise_s = if s > 0.0 { process.total_noise(s) } else { 0.0 };
                let (p_t, p_s, p_st) = (
                    expm(&q, process.total_noise(t)),
                    expm(&q, noise_s),
                    expm(&q, process.total_noise(t) - noise_s),
                );
                let (x0, z) = to_tensors(&probs, &tokens, batch, length, n);
                let got = host(model_posterior(&process, x0.log(), z, t, s));
                for pos in 0..batch * length {
                    let x = tokens[pos] as usize;
                    let xt = &probs[pos * n..(pos + 1) * n];
                    if process.kind == ProcessKind::Absorbing && x < n {
                        // Unmasked tokens never change under absorbing: a copy.
                        for y in 0..states {
                            assert_eq!(got[pos * states + y], f64::from(u8::from(y == x)));
                        }
                        continue;
                    }
                    let mut expected: Vec<f64> = (0..states)
                        .map(|y| {
                            (0..n)
                                .map(|h| xt[h] * p_st[x][y] * p_s[y][h] / p_t[x][h])
                                .sum::<f64>()
                        })
                        .collect();
                    let total: f64 = expected.iter().sum();
                    assert!(
                        (total - 1.0).abs() < 1e-9,
                        "Bayes posterior sums to {total}"
                    );
                    expected.iter_mut().for_each(|v| *v /= total);
                    let got_row = &got[pos * states..(pos + 1) * states];
                    let row_sum: f64 = got_row.iter().sum();
                    assert!((row_sum - 1.0).abs() < 1e-5, "posterior sums to {row_sum}");
                    for y in 0..states {
                        assert!(
                            (got_row[y] - expected[y]).abs() < 2e-5,
                            "{:?} {:?} t={t} s={s} z={x} y={y}: {} vs {}",
                            process.kind,
                            process.schedule,
                            got_row[y],
                            expected[y]
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn concrete_score_equals_its_definition() {
    let (batch, length, n) = (2, 5, 4);
    for process in processes(n) {
        let (probs, tokens) = random_inputs(&process, batch, length, 11);
        let q = dense_rate(&process);
        let t = 0.4;
        let p_t = expm(&q, process.total_noise(t));
        let (x0, z) = to_tensors(&probs, &tokens, batch, length, n);
        let got = host(concrete_score(&process, x0, z, &[process.kernel(t)]));
        let states = process.num_states();
        for pos in 0..batch * length {
            let x = tokens[pos] as usize;
            if process.kind == ProcessKind::Absorbing && x < n {
                continue;
            }
            let xt = &probs[pos * n..(pos + 1) * n];
            for y in 0..states {
                let expected: f64 = (0..n).map(|h| p_t[y][h] / p_t[x][h] * xt[h]).sum();
                let g = got[pos * states + y];
                assert!(
                    (g - expected).abs() < 1e-4 * expected.abs().max(1.0),
                    "{:?} z={x} y={y}: {g} vs {expected}",
                    process.kind
                );
            }
        }
    }
}

#[test]
fn tweedie_step_equals_the_model_posterior() {
    // With scores derived from a denoiser, [exp(-ΔQ) s]_y exp(ΔQ)(x, y) is Bayes' posterior.
    let (batch, length, n) = (2, 6, 4);
    for process in processes(n) {
        let (probs, tokens) = random_inputs(&process, batch, length, 3);
        let (t, s) = (0.6, 0.45);
        let (x0, z) = to_tensors(&probs, &tokens, batch, length, n);
        let score = concrete_score(&process, x0.clone(), z.clone(), &[process.kernel(t)]);
        let tweedie = tweedie_probs(&process, score, z.clone(), t, s);
        let norm = tweedie.clone().sum_dim(2);
        let tweedie = host(tweedie / norm);
        let posterior = host(model_posterior(&process, x0.log(), z, t, s));
        for (a, b) in tweedie.iter().zip(&posterior) {
            assert!(
                (a - b).abs() < 1e-4,
                "{:?}: tweedie {a} vs posterior {b}",
                process.kind
            );
        }
    }
}

#[test]
fn euler_step_is_a_first_order_posterior() {
    // For a small step the Euler transition matches the posterior to O(Δt²).
    let (batch, length, n) = (2, 4, 3);
    for process in processes(n) {
        let (probs, tokens) = random_inputs(&process, batch, length, 5);
        let (t, s) = (0.5, 0.499);
        let (x0, z) = to_tensors(&probs, &tokens, batch, length, n);
        let score = concrete_score(&process, x0.clone(), z.clone(), &[process.kernel(t)]);
        let euler = host(euler_probs(&process, score, z.clone(), t, s));
        let posterior = host(model_posterior(&process, x0.log(), z, t, s));
        for (a, b) in euler.iter().zip(&posterior) {
            assert!(
                (a - b).abs() < 1e-4,
                "{:?}: euler {a} vs posterior {b}",
                process.kind
            );
        }
    }
}

#[test]
fn score_entropy_with_the_mdlm_score_equals_the_mdlm_integrand() {
    let n = 5;
    let process = Process::new(ProcessKind::Absorbing, n, Schedule::default()).unwrap();
    let (batch, length) = (4, 8);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let (probs, _) = random_inputs(&process, batch, length, 2);
    let clean: Vec<u32> = (0..batch * length)
        .map(|_| rng.random_range(0..n as u32))
        .collect();
    let t = [0.2, 0.5, 0.7, 0.95];
    let device = Default::default();
    let x0 = super::sampler::tokens_tensor::<TB>(&clean, batch, length, &device);
    let z = process.corrupt(x0.clone(), &t, &mut rng);
    let (log_x0, _) = to_tensors(&probs, &clean, batch, length, n);
    let log_x0 = log_x0.log();
    let mdlm = Loss::MdlmNelbo.per_sequence(&process, log_x0.clone(), x0.clone(), z.clone(), &t);
    let se = Loss::ScoreEntropy.per_sequence(&process, log_x0, x0, z, &t);
    let (mdlm, se) = (
        mdlm.into_data().to_vec::<f32>().unwrap(),
        se.into_data().to_vec::<f32>().unwrap(),
    );
    for (a, b) in mdlm.iter().zip(&se) {
        assert!(
            (a - b).abs() < 1e-3 * a.abs().max(1.0),
            "MDLM {a} vs score entropy {b}"
        );
    }
    assert!(
        mdlm.iter().any(|&v| v > 0.0),
        "some positions must be masked"
    );
}

#[test]
fn score_entropy_vanishes_at_the_true_conditional_ratio() {
    // With s_y = r_y = P_t(y|x0)/P_t(x|x0), every term s - r log s + r log r - r is zero.
    let n = 4;
    for process in processes(n) {
        let (batch, length) = (3, 6);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let clean: Vec<u32> = (0..batch * length)
            .map(|_| rng.random_range(0..n as u32))
            .collect();
        let t = [0.3, 0.6, 0.9];
        let device = Default::default();
        let x0 = super::sampler::tokens_tensor::<TB>(&clean, batch, length, &device);
        let z = process.corrupt(x0.clone(), &t, &mut rng);
        let z_host = super::sampler::tensor_tokens(z.clone());
        let states = process.num_states();
        let mut ratio = Vec::new();
        for (pos, (&x, &c)) in z_host.iter().zip(&clean).enumerate() {
            let k = process.kernel(t[pos / length]);
            for y in 0..states {
                ratio.push((k.entry(y, c as usize, n) / k.entry(x as usize, c as usize, n)) as f32);
            }
        }
        let score =
            Tensor::<TB, 3>::from_data(TensorData::new(ratio, [batch, length, states]), &device);
        let loss = score_entropy(&process, score, x0, z, &t)
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        for v in loss {
            assert!(
                v.abs() < 1e-4,
                "{:?}: score entropy {v} at the optimum",
                process.kind
            );
        }
    }
}

#[test]
fn corruption_frequencies_match_the_kernel() {
    let n = 4;
    let (batch, length) = (50, 400);
    for process in processes(n) {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let t = 0.6;
        let clean = vec![1u32; batch * length];
        let device = Default::default();
        let x0 = super::sampler::tokens_tensor::<TB>(&clean, batch, length, &device);
        let z = super::sampler::tensor_tokens(process.corrupt(x0, &vec![t; batch], &mut rng));
        let kernel = process.kernel(t);
        let total = (batch * length) as f64;
        for state in 0..process.num_states() {
            let p = kernel.entry(state, 1, n);
            let freq = z.iter().filter(|&&v| v as usize == state).count() as f64 / total;
            // Five standard errors of a binomial proportion.
            let tolerance = 5.0 * (p * (1.0 - p) / total).sqrt() + 1e-12;
            assert!(
                (freq - p).abs() <= tolerance,
                "{:?} state {state}: {freq} vs {p}",
                process.kind
            );
        }
    }
}

#[test]
fn categorical_draws_follow_the_probabilities_and_skip_zero_mass() {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let device = Default::default();
    let p = [0.5f32, 0.0, 0.3, 0.2, 0.0];
    let rows = 20_000;
    let data: Vec<f32> = (0..rows).flat_map(|_| p).collect();
    let probs = Tensor::<TB, 3>::from_data(TensorData::new(data, [rows, 1, 5]), &device);
    let draws = super::sampler::draw_categorical(probs, &mut rng).unwrap();
    for (k, &pk) in p.iter().enumerate() {
        let freq = draws.iter().filter(|&&d| d as usize == k).count() as f64 / rows as f64;
        let pk = f64::from(pk);
        let tolerance = 5.0 * (pk * (1.0 - pk) / rows as f64).sqrt();
        assert!(
            (freq - pk).abs() <= tolerance,
            "category {k}: {freq} vs {pk}"
        );
    }
}

#[test]
fn categorical_draws_refuse_nan_infinite_and_zero_mass() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let device = Default::default();
    for (bad, expected) in [(f32::NAN, "NaN"), (f32::INFINITY, "inf"), (0.0, "0")] {
        // Row 1, position 2 is the broken one; the other entries are valid.
        let mut data = vec![0.25f32; 2 * 3 * 4];
        let at = (3 + 2) * 4;
        if bad == 0.0 {
            data[at..at + 4].fill(0.0);
        } else {
            data[at + 1] = bad;
        }
        let probs = Tensor::<TB, 3>::from_data(TensorData::new(data, [2, 3, 4]), &device);
        let err = super::sampler::draw_categorical(probs, &mut rng).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("row 1, position 2") && message.contains(expected),
            "{message}"
        );
    }
}

/// Not time-conditioned, token 0 impossible (log-probability -inf), the rest uniform.
struct NeverZero {
    n: usize,
}

impl Denoiser<TB> for NeverZero {
    fn num_tokens(&self) -> usize {
        self.n
    }

    fn log_probs(&self, tokens: Tensor<TB, 2, Int>, _t: Tensor<TB, 1>) -> Tensor<TB, 3> {
        let [batch, length] = tokens.dims();
        let uniform = -((self.n - 1) as f32).ln();
        let mut row = vec![uniform; self.n];
        row[0] = f32::NEG_INFINITY;
        let data: Vec<f32> = (0..batch * length).flat_map(|_| row.clone()).collect();
        Tensor::from_data(
            TensorData::new(data, [batch, length, self.n]),
            &tokens.device(),
        )
    }

    fn time_conditioned(&self) -> bool {
        false
    }
}

/// The ancestral sampler re-uses the predictions of rows that did not change; a -inf
/// log-probability in a re-used row must stay -inf (a zero-probability token is never drawn)
/// rather than turn into NaN.
#[test]
fn ancestral_cache_keeps_impossible_tokens_impossible() {
    use crate::sampler::{Ancestral, Sampler};
    let process = Process::new(ProcessKind::Absorbing, 4, Schedule::default()).unwrap();
    let denoiser = NeverZero { n: 4 };
    let sampler = Ancestral {
        steps: 64,
        t_end: 1e-5,
        batch_size: 16,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let samples = Sampler::<TB>::sample(
        &sampler,
        &denoiser,
        &process,
        16,
        8,
        &Default::default(),
        &mut rng,
    )
    .unwrap();
    assert!(
        samples.stats.denoised_rows < 16 * 65,
        "the cache was not used"
    );
    for row in &samples.tokens {
        assert!(row.iter().all(|&t| (1..4).contains(&t)), "{row:?}");
    }
}
