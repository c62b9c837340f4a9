//! Data-parallel training on a tiny denoiser (f32 NdArray, every peer on the CPU device):
//! two workers on half batches follow one worker on whole batches, one device reproduces
//! `train` exactly, resume reproduces the uninterrupted run, early stopping ends every worker,
//! and failures (an indivisible batch, a non-finite loss, an error on one worker) end the run
//! with the right error instead of a hang.
#![cfg(feature = "data-parallel")]

mod common;

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use burn::module::{AutodiffModule, ModuleVisitor, Param};
use burn::prelude::*;
use gtl_models::DenoiserNet;
use gtl_models::training::{
    Objective, RunOptions, TrainError, Trained, TrainingConfig, train, train_data_parallel,
};
use rand_chacha::ChaCha8Rng;

use common::{TB, config, fresh_model, run_dir, setup, stopped_by_the_non_finite_guard};
/// Dropout masks are drawn per device, so only dropout-free runs can match.
const NO_DROPOUT: f64 = 0.0;
use gtl_models::objectives::DenoiserObjective;

type Run = Result<Trained<TB, DenoiserNet<TB>>, TrainError>;

/// burn's NdArray RNG and collective server are process-global: runs must not interleave.
static GLOBAL_RNG: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    GLOBAL_RNG.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Greatest |a - b| between two trainings' parameters for which they count as equal. Two
/// workers on half batches differ from one on the whole batch only in the order of f32 sums
/// (a mean of two 8-row means and of two gradients instead of one 16-row mean), a relative
/// ~1e-7 of each gradient, so each AdamW update (at most ~lr = 3e-3 in size) moves by a
/// small fraction of a percent of its size; a real fault (wrong rows, gradients not averaged,
/// copies drifting apart) moves parameters by O(lr) per step.
const TOLERANCE: f32 = 1e-6;

fn options(dir: &Path, resume: bool, stop_after: Option<usize>) -> RunOptions {
    RunOptions {
        dir: dir.to_path_buf(),
        resume,
        stop_after,
        label: "test".into(),
        observer: None,
    }
}

fn run_single(config: &TrainingConfig, dir: &Path) -> Run {
    let setup = setup();
    train(
        fresh_model(config.seed, NO_DROPOUT),
        &setup.objective(),
        config,
        &options(dir, false, None),
        &Default::default(),
    )
}

/// A data-parallel run on `workers` CPU peers, on a thread that must end within two
/// minutes (a hang fails the test instead of blocking it).
fn run_parallel(
    config: &TrainingConfig,
    dir: &Path,
    resume: bool,
    stop_after: Option<usize>,
    workers: usize,
) -> Run {
    let (config, options) = (config.clone(), options(dir, resume, stop_after));
    within_two_minutes(move || {
        let setup = setup();
        let devices = vec![Default::default(); workers];
        train_data_parallel(
            fresh_model(config.seed, NO_DROPOUT),
            &setup.objective(),
            &config,
            &options,
            &devices,
        )
    })
}

fn within_two_minutes<T: Send + 'static>(run: impl FnOnce() -> T + Send + 'static) -> T {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || sender.send(run()));
    match receiver.recv_timeout(Duration::from_secs(120)) {
        Ok(value) => value,
        Err(RecvTimeoutError::Timeout) => panic!("the data-parallel run hung"),
        Err(RecvTimeoutError::Disconnected) => panic!("the data-parallel run panicked"),
    }
}

/// Every float parameter, flattened, in visiting order.
fn parameters<B: Backend, M: Module<B>>(module: &M) -> Vec<Vec<f32>> {
    struct Values(Vec<Vec<f32>>);
    impl<B: Backend> ModuleVisitor<B> for Values {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            self.0
                .push(param.val().into_data().to_vec::<f32>().unwrap());
        }
    }
    let mut values = Values(Vec::new());
    module.visit(&mut values);
    values.0
}

/// Greatest |a - b| over all parameters (the modules must have the same architecture).
fn max_difference(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    assert_eq!(a.len(), b.len(), "parameter counts differ");
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| {
            assert_eq!(x.len(), y.len(), "parameter sizes differ");
            x.iter().zip(y).map(|(u, v)| (u - v).abs())
        })
        .fold(0.0, f32::max)
}

fn history_bits(trained: &Trained<TB, DenoiserNet<TB>>) -> Vec<(usize, u64, Option<u64>)> {
    trained
        .state
        .history
        .iter()
        .map(|r| (r.step, r.loss.to_bits(), r.validation.map(f64::to_bits)))
        .collect()
}

#[test]
fn two_workers_on_half_batches_follow_one_worker_on_whole_batches() {
    let _guard = serial();
    let config = config(6, 3e-3, 2);
    let single = run_single(&config, &run_dir("parallel", "single")).unwrap();
    let dir = run_dir("parallel", "two");
    let double = run_parallel(&config, &dir, false, None, 2).unwrap();

    let weights = max_difference(&parameters(&single.model), &parameters(&double.model));
    let ema = max_difference(
        &parameters(single.ema.as_ref().unwrap()),
        &parameters(double.ema.as_ref().unwrap()),
    );
    let moved = max_difference(
        &parameters(&fresh_model(config.seed, NO_DROPOUT)),
        &parameters(&single.model),
    );
    let losses = single
        .state
        .history
        .iter()
        .zip(&double.state.history)
        .map(|(a, b)| (a.loss - b.loss).abs())
        .fold(0.0, f64::max);
    println!(
        "1 worker x 16 rows vs 2 workers x 8 rows, 6 steps: max |parameter difference| = \
         {weights:e}, EMA {ema:e}, loss {losses:e} (parameters moved up to {moved:e})"
    );
    assert!(
        moved > 100.0 * TOLERANCE,
        "training moved the weights by only {moved}"
    );
    assert!(weights <= TOLERANCE, "parameters differ by {weights}");
    assert!(ema <= TOLERANCE, "EMA weights differ by {ema}");
    assert_eq!(double.state.history.len(), 6);
    assert!(losses <= 1e-6, "losses differ by {losses}");
    for file in ["checkpoint.bin", "metrics.csv", "best.mpk"] {
        assert!(dir.join(file).exists(), "{file} was not written");
    }
}

#[test]
fn one_device_gives_exactly_the_result_of_train() {
    let _guard = serial();
    let config = config(6, 3e-3, 2);
    let single = run_single(&config, &run_dir("parallel", "train")).unwrap();
    let parallel = run_parallel(&config, &run_dir("parallel", "one"), false, None, 1).unwrap();
    assert_eq!(history_bits(&parallel), history_bits(&single));
    assert_eq!(
        parameters(&parallel.model),
        parameters(&single.model),
        "weights differ"
    );
    assert_eq!(
        parameters(parallel.ema.as_ref().unwrap()),
        parameters(single.ema.as_ref().unwrap()),
        "EMA weights differ"
    );
}

#[test]
fn a_resumed_two_worker_run_reproduces_the_uninterrupted_one() {
    let _guard = serial();
    let config = config(6, 3e-3, 2);
    let whole = run_parallel(&config, &run_dir("parallel", "whole"), false, None, 2).unwrap();
    let split_dir = run_dir("parallel", "split");
    let first = run_parallel(&config, &split_dir, false, Some(3), 2).unwrap();
    assert_eq!(first.state.step, 3);
    let resumed = run_parallel(&config, &split_dir, true, None, 2).unwrap();
    assert_eq!(resumed.resumed_from, 3);
    assert_eq!(
        history_bits(&resumed),
        history_bits(&whole),
        "resumed history differs from the uninterrupted run"
    );
    assert_eq!(
        parameters(&resumed.model),
        parameters(&whole.model),
        "weights differ"
    );
    let metrics = std::fs::read_to_string(split_dir.join("metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 7, "header and 6 steps:\n{metrics}");
}

#[test]
fn early_stopping_ends_every_worker_at_the_step_train_stops() {
    let _guard = serial();
    let mut config = config(30, 1e-1, 2);
    config.validate_every = 1;
    config.patience = 1;
    config.ema_decay = 0.0;
    let single = run_single(&config, &run_dir("parallel", "early-single")).unwrap();
    assert!(
        single.stopped_early && single.state.step < config.steps,
        "this configuration must stop early (stopped at {})",
        single.state.step
    );
    let double = run_parallel(&config, &run_dir("parallel", "early-two"), false, None, 2).unwrap();
    assert!(double.stopped_early);
    assert_eq!(double.state.step, single.state.step);
}

#[test]
fn a_batch_that_does_not_split_evenly_is_refused() {
    let _guard = serial();
    let dir = run_dir("parallel", "uneven");
    let err = run_parallel(&config(4, 3e-3, 2), &dir, false, None, 3)
        .err()
        .expect("16 rows on 3 devices must be refused");
    assert!(matches!(err, TrainError::DataParallel { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "test: data-parallel training: batch_size = 16 is not divisible by the 3 devices: \
         every device must get the same number of rows"
    );
    assert!(!dir.exists(), "nothing is written before the run starts");
}

#[test]
fn an_absurd_learning_rate_stops_every_worker_with_the_non_finite_error() {
    let _guard = serial();
    let mut config = config(40, 1e30, 2);
    config.checkpoint_every = 1;
    config.grad_clip = 0.0;
    let err = run_parallel(&config, &run_dir("parallel", "nan"), false, None, 2)
        .err()
        .expect("lr = 1e30 must blow up");
    let (what, message) = stopped_by_the_non_finite_guard(err);
    assert_eq!(what, "loss", "{message}");
}

/// A denoiser objective that cannot compute the second half of a batch: worker 1 fails at
/// the first step while worker 0 waits for it in a collective operation.
struct FirstHalfOnly<'a>(DenoiserObjective<'a, TB>);

impl Objective<TB, DenoiserNet<TB>> for FirstHalfOnly<'_> {
    fn loss(
        &self,
        model: &DenoiserNet<TB>,
        batch_size: usize,
        rng: &mut ChaCha8Rng,
    ) -> Tensor<TB, 1> {
        self.0.loss(model, batch_size, rng)
    }

    fn loss_of_rows(
        &self,
        model: &DenoiserNet<TB>,
        batch_size: usize,
        rng: &mut ChaCha8Rng,
        rows: std::ops::Range<usize>,
        device: &burn::backend::ndarray::NdArrayDevice,
    ) -> Option<Tensor<TB, 1>> {
        if rows.start > 0 {
            // Let worker 0 reach the collective operation first.
            std::thread::sleep(Duration::from_millis(200));
            return None;
        }
        self.0.loss_of_rows(model, batch_size, rng, rows, device)
    }

    fn splits(&self) -> bool {
        true
    }

    fn validate(&self, model: &<DenoiserNet<TB> as AutodiffModule<TB>>::InnerModule) -> f64 {
        self.0.validate(model)
    }
}

#[test]
fn an_error_on_one_worker_ends_the_others() {
    let _guard = serial();
    let dir = run_dir("parallel", "one-fails");
    let err = within_two_minutes(move || {
        let setup = setup();
        let config = config(4, 3e-3, 2);
        train_data_parallel(
            fresh_model(config.seed, NO_DROPOUT),
            &FirstHalfOnly(setup.objective()),
            &config,
            &options(&dir, false, None),
            &[Default::default(), Default::default()],
        )
        .err()
        .expect("worker 1 cannot compute its rows")
    });
    assert_eq!(
        err.to_string(),
        "test: data-parallel training: the objective cannot compute the loss of a part of a \
         batch (Objective::loss_of_rows)"
    );
}

/// A denoiser objective that does not declare that it splits its batches.
struct WholeBatches<'a>(DenoiserObjective<'a, TB>);

impl Objective<TB, DenoiserNet<TB>> for WholeBatches<'_> {
    fn loss(
        &self,
        model: &DenoiserNet<TB>,
        batch_size: usize,
        rng: &mut ChaCha8Rng,
    ) -> Tensor<TB, 1> {
        self.0.loss(model, batch_size, rng)
    }

    fn validate(&self, model: &<DenoiserNet<TB> as AutodiffModule<TB>>::InnerModule) -> f64 {
        self.0.validate(model)
    }
}

#[test]
fn an_objective_that_does_not_split_is_refused_before_the_run_starts() {
    let _guard = serial();
    let dir = run_dir("parallel", "whole-batches");
    let setup = setup();
    let config = config(4, 3e-3, 2);
    let err = train_data_parallel(
        fresh_model(config.seed, NO_DROPOUT),
        &WholeBatches(setup.objective()),
        &config,
        &options(&dir, false, None),
        &[Default::default(), Default::default()],
    )
    .err()
    .expect("an objective without splits() cannot run on two devices");
    assert_eq!(
        err.to_string(),
        "test: data-parallel training: the objective cannot compute the loss of a part of a \
         batch (Objective::splits is false)"
    );
    assert!(!dir.exists(), "nothing is written before the run starts");
}

#[test]
fn a_file_error_on_worker_zero_ends_the_others() {
    let _guard = serial();
    // A file where the run directory should be: worker 0 cannot write `best.mpk` at step 2
    // while worker 1 waits for step 3.
    let dir = run_dir("parallel", "blocked");
    std::fs::write(&dir, b"not a directory").unwrap();
    let err = run_parallel(&config(6, 3e-3, 2), &dir, false, None, 2)
        .err()
        .expect("the run directory cannot be written");
    assert!(matches!(err, TrainError::Checkpoint(_)), "{err}");
    std::fs::remove_file(&dir).unwrap();
}
