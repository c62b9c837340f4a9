//! Monte-Carlo NELBO and perplexity bound of a denoiser on clean data (MATH.md §3).

use burn::prelude::*;
use rand::Rng;

use crate::schedule::antithetic_times;
use crate::{Denoiser, Loss, Process, ProcessKind};

/// Per-sequence NELBO estimates (nats) of clean sequences `x0` (`[batch, length]`), averaged
/// over `repeats` antithetic draws of `t ~ U[t_min, 1]` (one corruption and one denoiser pass
/// each). Absorbing uses the MDLM integrand, uniform and roulette the score-entropy integrand;
/// the uniform process adds its prior term `KL(P_1(·|x_0) ‖ uniform)` per token. The part of
/// the time integral below `t_min` (the schedule's ε) is left out.
pub fn nelbo<B: Backend, R: Rng + ?Sized>(
    denoiser: &dyn Denoiser<B>,
    process: &Process,
    x0: Tensor<B, 2, Int>,
    repeats: usize,
    rng: &mut R,
) -> Vec<f64> {
    let [batch, length] = x0.dims();
    let device = x0.device();
    let t_min = process.schedule.min_training_time();
    let loss = match process.kind {
        ProcessKind::Absorbing => Loss::MdlmNelbo,
        _ => Loss::ScoreEntropy,
    };
    let mut total = vec![0.0; batch];
    for _ in 0..repeats {
        let t = antithetic_times(batch, t_min, rng.random());
        let z = process.corrupt(x0.clone(), &t, rng);
        let t_tensor = Tensor::<B, 1>::from_data(
            TensorData::new(t.iter().map(|&v| v as f32).collect::<Vec<_>>(), [batch]),
            &device,
        );
        let log_x0 = denoiser.log_probs(z.clone(), t_tensor);
        let values = loss.per_sequence(process, log_x0, x0.clone(), z, &t);
        let values: Vec<f32> = values
            .into_data()
            .convert::<f32>()
            .to_vec()
            .expect("f32 data");
        for (acc, v) in total.iter_mut().zip(values) {
            *acc += f64::from(v) * (1.0 - t_min) / repeats as f64;
        }
    }
    let prior = length as f64 * prior_kl(process);
    total.iter().map(|v| v + prior).collect()
}

/// Per-token `KL(P_1(·|x_0) ‖ prior)`: the uniform process's prior term; 0 for mask-absorbing
/// processes (their prior is all-mask and the schedule's ε of unmasked mass is ignored, as in MDLM).
pub fn prior_kl(process: &Process) -> f64 {
    match process.kind {
        ProcessKind::Uniform => {
            let k = process.kernel(1.0);
            let n = process.num_tokens as f64;
            k.stay * (n * k.stay).ln() + (n - 1.0) * k.jump * (n * k.jump).ln()
        }
        _ => 0.0,
    }
}

/// Perplexity bound `exp(mean NELBO / tokens)`.
pub fn perplexity(nelbos: &[f64], length: usize) -> f64 {
    let mean = nelbos.iter().sum::<f64>() / nelbos.len() as f64;
    (mean / length as f64).exp()
}
