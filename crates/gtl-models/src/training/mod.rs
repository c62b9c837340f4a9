//! The training loop shared by every network (STYLE.md: a plain function, not a framework).
//!
//! Each step: draw a batch and a loss from the [`Objective`], backward, AdamW with a
//! warm-up + cosine learning rate and per-tensor gradient clipping, EMA update. Validation
//! every `validate_every` steps with early stopping; a checkpoint (model, optimiser, EMA,
//! step, RNG position, history) every `checkpoint_every` steps and at the end, so `resume`
//! continues exactly where the run stopped. A non-finite loss stops the run and leaves the
//! last good checkpoint untouched.
//!
//! With the `data-parallel` feature, [`train_data_parallel`] runs the same loop on several
//! devices, each on a share of every batch, gradients averaged by burn's collective all-reduce.

mod checkpoint;
mod config;
mod ema;
mod ledger;
#[cfg(feature = "data-parallel")]
mod parallel;
mod shared;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::module::AutodiffModule;
use burn::optim::{GradientsParams, Optimizer};
use burn::prelude::*;
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Recorder};
use burn::tensor::backend::AutodiffBackend;
use rand_chacha::ChaCha8Rng;

pub use checkpoint::{
    CheckpointError, CheckpointFile, MetricsRow, RngState, RunState, fault_point, write_atomically,
};
pub use config::TrainingConfig;
pub use ema::blend_into;
#[cfg(feature = "data-parallel")]
pub use parallel::train_data_parallel;
pub use shared::seeded;

use ledger::{Ledger, Opening, adamw, load_optimizer, seed_step};

/// What a training run optimises.
pub trait Objective<B: AutodiffBackend, M: AutodiffModule<B>> {
    /// Mean loss of a fresh training batch (a one-element tensor), drawn with `rng`.
    fn loss(&self, model: &M, batch_size: usize, rng: &mut ChaCha8Rng) -> Tensor<B, 1>;

    /// The loss of the rows `rows` of the batch that [`loss`](Self::loss) would draw with
    /// `rng`, computed on `device` (where `model` lives): `rng` advances exactly as in `loss`,
    /// and the value is scaled so that the mean over equal parts of the batch is the whole
    /// batch's loss. `None` when the objective cannot split its batches; the default computes
    /// the whole batch only (`rows = 0..batch_size`). Data-parallel training gives each device
    /// one part.
    fn loss_of_rows(
        &self,
        model: &M,
        batch_size: usize,
        rng: &mut ChaCha8Rng,
        rows: Range<usize>,
        device: &B::Device,
    ) -> Option<Tensor<B, 1>> {
        let _ = device;
        (rows == (0..batch_size)).then(|| self.loss(model, batch_size, rng))
    }

    /// Whether [`loss_of_rows`](Self::loss_of_rows) computes any part of a batch (and so
    /// whether data-parallel training can use this objective). `false` by default.
    fn splits(&self) -> bool {
        false
    }

    /// Validation metric of the weights (lower is better), deterministic.
    fn validate(&self, model: &M::InnerModule) -> f64;
}

/// Panics unless `rows` is a non-empty part of the batch `0..batch_size`: the contract of
/// [`Objective::loss_of_rows`], checked by every objective that splits its batches.
pub fn assert_rows_of_batch(rows: &Range<usize>, batch_size: usize) {
    assert!(
        rows.start < rows.end && rows.end <= batch_size,
        "loss_of_rows: rows {rows:?} must be a non-empty part of the batch 0..{batch_size}"
    );
}

/// Receives the progress of training runs (a progress display, say); without one, a run
/// logs a line every `log_every` steps through `tracing`.
pub trait TrainingObserver: Send + Sync {
    /// A run labelled `label` of `total` steps starts after step `first` (0, or where it
    /// resumed); the returned value receives its steps.
    fn start(&self, label: &str, total: usize, first: usize) -> Box<dyn TrainingProgress>;
}

/// The progress of one training run.
pub trait TrainingProgress: Send {
    /// Step `step` (1-based) ended with training loss `loss`.
    fn step(&mut self, step: usize, loss: f64);
    /// The run ended, finished or not.
    fn finish(&mut self);
}

/// Where and how a run executes.
#[derive(Clone)]
pub struct RunOptions {
    /// Directory of `checkpoint.bin`, `metrics.csv`, `best.mpk` and `model.mpk`.
    pub dir: PathBuf,
    /// Continue from `checkpoint.bin` when it exists.
    pub resume: bool,
    /// Stop (with a checkpoint) after this many steps in total, e.g. to split a run.
    pub stop_after: Option<usize>,
    /// Label of progress reports and log lines.
    pub label: String,
    /// Where progress goes; `None` logs a line every `log_every` steps.
    pub observer: Option<Arc<dyn TrainingObserver>>,
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("dir", &self.dir)
            .field("resume", &self.resume)
            .field("stop_after", &self.stop_after)
            .field("label", &self.label)
            .field("observer", &self.observer.is_some())
            .finish()
    }
}

/// Errors of a training run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A checkpoint or run file could not be read or written.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// A record could not be decoded into the model or optimiser.
    #[error("{path}: the checkpoint does not fit this model ({reason})")]
    Record {
        /// The file.
        path: PathBuf,
        /// What burn reported.
        reason: String,
    },
    /// The loss or the validation metric was NaN or infinite.
    #[error(
        "{label}: {what} is {value} at step {step}: training stopped; {}",
        last_checkpoint.as_ref().map_or("no checkpoint was written yet".to_string(), |p| format!("the last good checkpoint is {}", p.display()))
    )]
    NonFinite {
        /// The run.
        label: String,
        /// "loss" or "validation metric".
        what: &'static str,
        /// The value.
        value: f64,
        /// 1-based step.
        step: usize,
        /// The checkpoint kept, if any.
        last_checkpoint: Option<PathBuf>,
    },
    /// A data-parallel run could not start, or its workers could not keep in step.
    #[error("{label}: data-parallel training: {reason}")]
    DataParallel {
        /// The run.
        label: String,
        /// What went wrong.
        reason: String,
    },
}

/// The outcome of a run.
pub struct Trained<B: AutodiffBackend, M: AutodiffModule<B>> {
    /// Weights after the last step.
    pub model: M,
    /// EMA weights, when the run keeps an EMA.
    pub ema: Option<M::InnerModule>,
    /// Steps, history, best validation.
    pub state: RunState,
    /// Whether early stopping ended the run.
    pub stopped_early: bool,
    /// Step the run was resumed from (0 for a fresh run).
    pub resumed_from: usize,
}

impl<B: AutodiffBackend, M: AutodiffModule<B>> Trained<B, M> {
    /// The weights used downstream: the EMA when there is one, else the last weights.
    pub fn inference_model(&self) -> M::InnerModule {
        self.ema.clone().unwrap_or_else(|| self.model.valid())
    }
}

type Bytes = NamedMpkBytesRecorder<FullPrecisionSettings>;

/// Encodes a module's weights.
pub fn module_bytes<B: Backend, M: Module<B>>(module: &M) -> Vec<u8> {
    Bytes::new()
        .record(module.clone().into_record(), ())
        .expect("records serialise")
}

/// Loads weights encoded by [`module_bytes`] into `module`.
pub fn load_module_bytes<B: Backend, M: Module<B>>(
    module: M,
    bytes: Vec<u8>,
    device: &B::Device,
    path: &Path,
) -> Result<M, TrainError> {
    let expected = parameter_shapes(&module);
    // burn's decoder panics on some corrupt files (an invalid parameter id, data that does
    // not fill its shape; found by `cargo xtask fuzz`): those become errors here too.
    let loaded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Bytes::new()
            .load(bytes, device)
            .map(|record| module.load_record(record))
    }))
    .map_err(|panic| TrainError::Record {
        path: path.to_path_buf(),
        reason: format!(
            "corrupt weights: {}",
            panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("the decoder failed")
        ),
    })?
    .map_err(|e| TrainError::Record {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let found = parameter_shapes(&loaded);
    // burn replaces each tensor by the record's without checking its shape.
    if let Some((index, (want, got))) = expected
        .iter()
        .zip(&found)
        .enumerate()
        .find(|(_, (want, got))| want != got)
    {
        return Err(TrainError::Record {
            path: path.to_path_buf(),
            reason: format!(
                "parameter {index} has shape {got:?} in the file but {want:?} in the model: the \
                 file was written for a network of another size"
            ),
        });
    }
    if expected.len() != found.len() {
        return Err(TrainError::Record {
            path: path.to_path_buf(),
            reason: format!(
                "the file holds {} parameters, the model {}",
                found.len(),
                expected.len()
            ),
        });
    }
    Ok(loaded)
}

/// The shape of every parameter of `module`, in visiting order.
pub fn parameter_shapes<B: Backend, M: Module<B>>(module: &M) -> Vec<Vec<usize>> {
    struct Shapes(Vec<Vec<usize>>);
    impl<B: Backend> burn::module::ModuleVisitor<B> for Shapes {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<B, D>>) {
            self.0.push(param.val().dims().to_vec());
        }
        fn visit_int<const D: usize>(&mut self, param: &burn::module::Param<Tensor<B, D, Int>>) {
            self.0.push(param.val().dims().to_vec());
        }
        fn visit_bool<const D: usize>(&mut self, param: &burn::module::Param<Tensor<B, D, Bool>>) {
            self.0.push(param.val().dims().to_vec());
        }
    }
    let mut shapes = Shapes(Vec::new());
    module.visit(&mut shapes);
    shapes.0
}

/// Loads a model file written by a run (`model.mpk`, `best.mpk`).
pub fn load_model_file<B: Backend, M: Module<B>>(
    module: M,
    path: &Path,
    device: &B::Device,
) -> Result<M, TrainError> {
    let bytes = std::fs::read(path).map_err(|source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    load_module_bytes(module, bytes, device, path)
}

/// Trains `model` (freshly initialised by the caller) to minimise `objective`.
pub fn train<B, M, O>(
    model: M,
    objective: &O,
    config: &TrainingConfig,
    options: &RunOptions,
    device: &B::Device,
) -> Result<Trained<B, M>, TrainError>
where
    B: AutodiffBackend,
    M: AutodiffModule<B> + Clone,
    O: Objective<B, M>,
{
    let Opening {
        mut ledger,
        mut model,
        optimizer: saved,
    } = Ledger::open(model, config, options, device)?;
    let mut optimizer = adamw::<B, M>(config);
    if let Some(bytes) = saved {
        match load_optimizer(optimizer, bytes, device, &ledger.checkpoint_path) {
            Ok(loaded) => optimizer = loaded,
            Err(error) => {
                ledger.close_progress();
                return Err(error);
            }
        }
    }
    let mut rng = ledger.state.rng.restore();
    while ledger.state.step < ledger.end {
        let step = ledger.state.step + 1;
        seed_step::<B>(device, config.seed, step);
        let lr = config.learning_rate_at(ledger.state.step);
        let loss = objective.loss(&model, config.batch_size, &mut rng);
        let value = f64::from(loss.clone().into_scalar().elem::<f32>());
        if !value.is_finite() {
            return Err(ledger.non_finite("loss", value, step));
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optimizer.step(lr, model, grads);
        if ledger.record(objective, step, value, lr, &model, &optimizer, &rng)? {
            break;
        }
    }
    Ok(ledger.finish(model))
}

/// Writes `metrics.csv` (step, loss, lr, validation) atomically.
pub fn write_metrics(path: &Path, history: &[MetricsRow]) -> Result<(), TrainError> {
    let mut text = String::from("step,loss,lr,validation\n");
    for row in history {
        let validation = row.validation.map_or(String::new(), |v| format!("{v:.6}"));
        text.push_str(&format!(
            "{},{:.6},{:.6e},{}\n",
            row.step, row.loss, row.lr, validation
        ));
    }
    write_atomically(path, text.as_bytes())?;
    Ok(())
}
