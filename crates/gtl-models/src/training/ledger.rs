//! The part of a training run that does not depend on how its gradients are computed:
//! resuming from `checkpoint.bin`, the EMA, validation and early stopping, progress, metrics
//! and checkpoints. [`train`](super::train) and the data-parallel loop share it.

use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{AdamW, AdamWConfig, Optimizer};
use burn::prelude::*;
use burn::record::Recorder;
use burn::tensor::backend::AutodiffBackend;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{
    Bytes, CheckpointFile, MetricsRow, Objective, RngState, RunOptions, RunState, TrainError,
    Trained, TrainingConfig, TrainingProgress, blend_into, load_module_bytes, module_bytes, seeded,
    write_atomically, write_metrics,
};

/// The optimiser of every run: AdamW with per-tensor gradient clipping.
pub(super) type Adam<B, M> = OptimizerAdaptor<AdamW, M, B>;

/// A fresh optimiser for `config`.
pub(super) fn adamw<B: AutodiffBackend, M: AutodiffModule<B>>(
    config: &TrainingConfig,
) -> Adam<B, M> {
    AdamWConfig::new()
        .with_weight_decay(config.weight_decay as f32)
        .with_grad_clipping((config.grad_clip > 0.0).then_some(
            burn::grad_clipping::GradientClippingConfig::Norm(config.grad_clip as f32),
        ))
        .init::<B, M>()
}

/// Loads an optimiser state saved in a checkpoint (`path`) onto `device`.
pub(super) fn load_optimizer<B: AutodiffBackend, M: AutodiffModule<B>>(
    optimizer: Adam<B, M>,
    bytes: Vec<u8>,
    device: &B::Device,
    path: &Path,
) -> Result<Adam<B, M>, TrainError> {
    let record = Bytes::new()
        .load(bytes, device)
        .map_err(|e| TrainError::Record {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    Ok(optimizer.load_record(record))
}

/// The backend seed of step `step` (1-based) of a run seeded with `seed`.
pub(super) fn step_seed(seed: u64, step: usize) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(step as u64)
}

/// Seeds the backend for step `step`: dropout masks do not depend on where a run resumed.
pub(super) fn seed_step<B: Backend>(device: &B::Device, seed: u64, step: usize) {
    seeded::<B, _>(device, step_seed(seed, step), || ());
}

/// A run's starting point.
pub(super) struct Opening<'a, B: AutodiffBackend, M: AutodiffModule<B>> {
    /// The run's books.
    pub ledger: Ledger<'a, B, M>,
    /// The weights to start from: the caller's, or the checkpoint's.
    pub model: M,
    /// The saved optimiser state when resuming, still encoded so that each device can
    /// decode its own copy with [`load_optimizer`].
    pub optimizer: Option<Vec<u8>>,
}

/// The books of one run: its state, EMA, progress and files.
pub(super) struct Ledger<'a, B: AutodiffBackend, M: AutodiffModule<B>> {
    config: &'a TrainingConfig,
    options: &'a RunOptions,
    pub checkpoint_path: PathBuf,
    ema: Option<M::InnerModule>,
    pub state: RunState,
    last_checkpoint: Option<PathBuf>,
    progress: Option<Box<dyn TrainingProgress>>,
    /// The step after which the run stops (`steps`, or `stop_after` when smaller).
    pub end: usize,
    stopped_early: bool,
    resumed_from: usize,
    backend: PhantomData<B>,
}

impl<'a, B: AutodiffBackend, M: AutodiffModule<B>> Ledger<'a, B, M> {
    /// Starts a run: a fresh state, or the checkpoint's (weights and EMA loaded onto
    /// `device`) when `options.resume` and `checkpoint.bin` exists.
    pub fn open(
        model: M,
        config: &'a TrainingConfig,
        options: &'a RunOptions,
        device: &B::Device,
    ) -> Result<Opening<'a, B, M>, TrainError> {
        let checkpoint_path = options.dir.join("checkpoint.bin");
        let mut model = model;
        let mut ema = (config.ema_decay > 0.0).then(|| model.valid());
        let mut state = RunState {
            step: 0,
            rng: RngState::capture(&ChaCha8Rng::seed_from_u64(config.seed)),
            best_validation: None,
            stale_validations: 0,
            history: Vec::new(),
        };
        let mut last_checkpoint = None;
        let mut optimizer = None;
        if options.resume && checkpoint_path.exists() {
            let file = CheckpointFile::read(&checkpoint_path)?;
            model = load_module_bytes(model, file.model, device, &checkpoint_path)?;
            optimizer = Some(file.optimizer);
            if let (Some(current), Some(bytes)) = (ema.take(), file.ema) {
                ema = Some(load_module_bytes(current, bytes, device, &checkpoint_path)?);
            }
            state = file.state;
            last_checkpoint = Some(checkpoint_path.clone());
            tracing::info!(label = %options.label, step = state.step, "resumed from {}", checkpoint_path.display());
        }
        let end = options
            .stop_after
            .map_or(config.steps, |s| s.min(config.steps));
        let progress = options
            .observer
            .as_ref()
            .map(|observer| observer.start(&options.label, config.steps, state.step));
        Ok(Opening {
            ledger: Ledger {
                config,
                options,
                checkpoint_path,
                ema,
                resumed_from: state.step,
                state,
                last_checkpoint,
                progress,
                end,
                stopped_early: false,
                backend: PhantomData,
            },
            model,
            optimizer,
        })
    }

    /// The error of a non-finite `what` ("loss", "validation metric") at `step`; ends the
    /// progress report.
    pub fn non_finite(&mut self, what: &'static str, value: f64, step: usize) -> TrainError {
        self.close_progress();
        TrainError::NonFinite {
            label: self.options.label.clone(),
            what,
            value,
            step,
            last_checkpoint: self.last_checkpoint.clone(),
        }
    }

    /// Ends the progress report (once).
    pub fn close_progress(&mut self) {
        if let Some(mut progress) = self.progress.take() {
            progress.finish();
        }
    }

    /// Books step `step` (training loss `loss`, learning rate `lr`) after its optimiser
    /// step: EMA, validation, `best.mpk`, progress, history, and a checkpoint when due.
    /// `rng` is the batch generator after the step. Returns whether early stopping ends the
    /// run.
    #[allow(clippy::too_many_arguments)]
    pub fn record<O: Objective<B, M>>(
        &mut self,
        objective: &O,
        step: usize,
        loss: f64,
        lr: f64,
        model: &M,
        optimizer: &Adam<B, M>,
        rng: &ChaCha8Rng,
    ) -> Result<bool, TrainError> {
        let (config, options) = (self.config, self.options);
        if let Some(average) = self.ema.take() {
            self.ema = Some(blend_into(average, &model.valid(), config.ema_decay));
        }
        self.state.step = step;
        let mut row = MetricsRow {
            step,
            loss,
            lr,
            validation: None,
        };
        if step.is_multiple_of(config.validate_every) || step == config.steps {
            let weights = self.ema.clone().unwrap_or_else(|| model.valid());
            let metric = objective.validate(&weights);
            if !metric.is_finite() {
                return Err(self.non_finite("validation metric", metric, step));
            }
            row.validation = Some(metric);
            if self.state.best_validation.is_none_or(|best| metric < best) {
                self.state.best_validation = Some(metric);
                self.state.stale_validations = 0;
                write_atomically(&options.dir.join("best.mpk"), &module_bytes(&weights))?;
            } else {
                self.state.stale_validations += 1;
                self.stopped_early =
                    config.patience > 0 && self.state.stale_validations >= config.patience;
            }
            tracing::debug!(label = %options.label, step, metric, "validation");
        }
        match self.progress.as_mut() {
            Some(p) => p.step(step, loss),
            None if step.is_multiple_of(config.log_every) => {
                tracing::info!(label = %options.label, step, loss, lr, validation = ?row.validation, "training");
            }
            None => {}
        }
        self.state.history.push(row);
        self.state.rng = RngState::capture(rng);
        if step.is_multiple_of(config.checkpoint_every) || step == self.end || self.stopped_early {
            save_checkpoint(
                &self.checkpoint_path,
                model,
                optimizer,
                self.ema.as_ref(),
                &self.state,
            )?;
            write_metrics(&options.dir.join("metrics.csv"), &self.state.history)?;
            self.last_checkpoint = Some(self.checkpoint_path.clone());
        }
        if self.stopped_early {
            tracing::info!(label = %options.label, step, "early stopping: no improvement in {} validations", config.patience);
        }
        Ok(self.stopped_early)
    }

    /// The outcome of the run, `model` being the weights after its last step.
    pub fn finish(mut self, model: M) -> Trained<B, M> {
        self.close_progress();
        Trained {
            model,
            ema: self.ema,
            state: self.state,
            stopped_early: self.stopped_early,
            resumed_from: self.resumed_from,
        }
    }
}

fn save_checkpoint<B, M, Opt>(
    path: &Path,
    model: &M,
    optimizer: &Opt,
    ema: Option<&M::InnerModule>,
    state: &RunState,
) -> Result<(), TrainError>
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
    Opt: Optimizer<M, B>,
{
    let optimizer = Bytes::new()
        .record(optimizer.to_record(), ())
        .expect("optimiser records serialise");
    CheckpointFile {
        state: state.clone(),
        model: module_bytes(model),
        optimizer,
        ema: ema.map(module_bytes),
    }
    .write(path)?;
    Ok(())
}
