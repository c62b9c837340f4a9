//! Training the planner (MATH.md §5, scheduled GTL): a [`PositionNet`] learns, at every
//! masked position of a noised source sequence, whether the frozen denoiser's most likely
//! token there is the true one (BCE on masked positions). Revealing the highest-scoring
//! masked position first then reveals where the denoiser is most often right.

use burn::module::AutodiffModule;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use gtl_diffusion::sampler::tensor_tokens;
use gtl_diffusion::{Denoiser, Process, ProcessKind, antithetic_times};
use gtl_models::PositionNet;
use gtl_models::objectives::sample_batch;
use gtl_models::training::Objective;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{GuidanceError, Planner};

/// Seed of the fixed corruption of the planner's validation and evaluation.
const EVALUATION_SEED: u64 = 0x91a2_2e75;

/// Trains a [`PositionNet`] planner against a frozen denoiser (absorbing process).
pub struct PlannerObjective<'a, B: AutodiffBackend> {
    /// The frozen source denoiser, on the inner backend.
    pub denoiser: &'a dyn Denoiser<B::InnerBackend>,
    /// The forward process (absorbing).
    pub process: Process,
    /// Clean training sequences.
    pub train: &'a [Vec<u32>],
    /// Clean held-out sequences.
    pub validation: &'a [Vec<u32>],
    /// Device of the tensors.
    pub device: B::Device,
}

impl<'a, B: AutodiffBackend> PlannerObjective<'a, B> {
    /// Checks that the process is absorbing (the planner chooses masked positions).
    pub fn new(
        denoiser: &'a dyn Denoiser<B::InnerBackend>,
        process: Process,
        train: &'a [Vec<u32>],
        validation: &'a [Vec<u32>],
        device: B::Device,
    ) -> Result<Self, GuidanceError> {
        if process.kind != ProcessKind::Absorbing {
            return Err(GuidanceError::Config(format!(
                "the planner chooses masked positions: it needs the absorbing process, got \"{}\"",
                process.kind.name()
            )));
        }
        Ok(PlannerObjective {
            denoiser,
            process,
            train,
            validation,
            device,
        })
    }
}

/// A noised batch with the planner's labels: `[rows, length]` tokens, times, whether each
/// position is masked and whether the denoiser's argmax there equals the clean token.
struct Labelled<B: Backend> {
    z: Tensor<B, 2, Int>,
    t: Tensor<B, 1>,
    masked: Tensor<B, 2>,
    correct: Tensor<B, 2>,
}

fn labelled<B: Backend>(
    denoiser: &dyn Denoiser<B>,
    process: &Process,
    x0: Tensor<B, 2, Int>,
    rng: &mut ChaCha8Rng,
) -> Labelled<B> {
    let [rows, length] = x0.dims();
    let device = x0.device();
    let times = antithetic_times(rows, process.schedule.min_training_time(), rng.random());
    let z = process.corrupt(x0.clone(), &times, rng);
    let t = Tensor::from_data(
        TensorData::new(times.iter().map(|&t| t as f32).collect(), [rows]),
        &device,
    );
    let guess = denoiser
        .log_probs(z.clone(), t.clone())
        .argmax(2)
        .reshape([rows, length]);
    let mask = process.num_tokens as i64;
    Labelled {
        masked: z.clone().equal_elem(mask).float(),
        correct: guess.equal(x0).float(),
        z,
        t,
    }
}

/// Mean BCE with logits over masked positions.
fn masked_bce<B: Backend>(logits: Tensor<B, 2>, batch: &Labelled<B>) -> Tensor<B, 1> {
    // softplus(x) - y·x, stable for large |x|.
    let softplus =
        logits.clone().clamp_min(0.0) + logits.clone().abs().neg().exp().add_scalar(1.0).log();
    let per_position = softplus - logits * batch.correct.clone();
    let count = batch.masked.clone().sum().clamp_min(1.0);
    (per_position * batch.masked.clone()).sum() / count
}

impl<B: AutodiffBackend> Objective<B, PositionNet<B>> for PlannerObjective<'_, B> {
    fn loss(
        &self,
        model: &PositionNet<B>,
        batch_size: usize,
        rng: &mut ChaCha8Rng,
    ) -> Tensor<B, 1> {
        let x0 = sample_batch::<B::InnerBackend, _>(self.train, batch_size, rng, &self.device);
        let batch = labelled(self.denoiser, &self.process, x0, rng);
        let logits = model.forward(
            Tensor::from_inner(batch.z.clone()),
            Tensor::from_inner(batch.t.clone()),
        );
        let batch = Labelled {
            z: Tensor::from_inner(batch.z),
            t: Tensor::from_inner(batch.t),
            masked: Tensor::from_inner(batch.masked),
            correct: Tensor::from_inner(batch.correct),
        };
        masked_bce(logits, &batch)
    }

    fn validate(&self, model: &<PositionNet<B> as AutodiffModule<B>>::InnerModule) -> f64 {
        let mut rng = ChaCha8Rng::seed_from_u64(EVALUATION_SEED);
        let x0 =
            gtl_models::objectives::all_tokens::<B::InnerBackend>(self.validation, &self.device);
        let batch = labelled(self.denoiser, &self.process, x0, &mut rng);
        let logits = model.forward(batch.z.clone(), batch.t.clone());
        f64::from(masked_bce(logits, &batch).into_scalar().elem::<f32>())
    }
}

/// How often the denoiser's argmax is right at the position an order rule picks, on noised
/// held-out sequences (rows without a masked position are skipped).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OrderAccuracy {
    /// At the planner's choice.
    pub planner: f64,
    /// At the denoiser's most confident masked position (max-prob).
    pub confidence: f64,
    /// Expected over a uniformly random masked position.
    pub random: f64,
    /// Rows scored.
    pub rows: usize,
}

/// Scores `planner` against confidence and random order on `data` (absorbing process).
pub fn order_accuracy<B: Backend>(
    planner: &dyn Planner<B>,
    denoiser: &dyn Denoiser<B>,
    process: &Process,
    data: &[Vec<u32>],
    device: &B::Device,
) -> OrderAccuracy {
    let mut rng = ChaCha8Rng::seed_from_u64(EVALUATION_SEED ^ 1);
    let x0 = gtl_models::objectives::all_tokens::<B>(data, device);
    let [rows, length] = x0.dims();
    let batch = labelled(denoiser, process, x0, &mut rng);
    let log_x0 = denoiser.log_probs(batch.z.clone(), batch.t.clone());
    let unmasked = batch.masked.clone().equal_elem(0.0);
    let confidence_score = log_x0.max_dim(2).reshape([rows, length]);
    let planner_score = planner.position_scores(batch.z.clone(), batch.t.clone());
    let pick = |score: Tensor<B, 2>| -> Vec<u32> {
        tensor_tokens(
            score
                .mask_fill(unmasked.clone(), f32::NEG_INFINITY)
                .argmax(1),
        )
    };
    let (by_planner, by_confidence) = (pick(planner_score), pick(confidence_score));
    let masked: Vec<f32> = batch.masked.into_data().to_vec().expect("f32 data");
    let correct: Vec<f32> = batch.correct.into_data().to_vec().expect("f32 data");
    let (mut planner_hits, mut confidence_hits, mut random, mut scored) = (0.0, 0.0, 0.0, 0);
    for r in 0..rows {
        let row = r * length..(r + 1) * length;
        let count: f32 = masked[row.clone()].iter().sum();
        if count == 0.0 {
            continue;
        }
        scored += 1;
        planner_hits += f64::from(correct[r * length + by_planner[r] as usize]);
        confidence_hits += f64::from(correct[r * length + by_confidence[r] as usize]);
        let hits: f32 = row.map(|i| masked[i] * correct[i]).sum();
        random += f64::from(hits / count);
    }
    let n = scored.max(1) as f64;
    OrderAccuracy {
        planner: planner_hits / n,
        confidence: confidence_hits / n,
        random: random / n,
        rows: scored,
    }
}
