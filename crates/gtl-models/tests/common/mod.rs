//! What the training-loop tests share: a tiny Markov data set, its denoiser objective and
//! scratch run folders.

use std::path::PathBuf;

use burn::backend::{Autodiff, NdArray};
use burn::prelude::*;
use gtl_diffusion::{Loss, Process, ProcessKind, Schedule};
use gtl_markov::MarkovChain;
use gtl_models::objectives::DenoiserObjective;
use gtl_models::training::{CheckpointFile, TrainError, TrainingConfig};
use gtl_models::{DenoiserNet, DenoiserNetConfig, TrunkConfig};

/// The test backend.
pub type TB = Autodiff<NdArray>;

/// An empty scratch folder `gtl-<group>-<name>-<pid>` (not created).
pub fn run_dir(group: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gtl-{group}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The absorbing process over 5 tokens and sequences of length 8 from a sticky chain.
pub struct Setup {
    pub process: Process,
    pub train: Vec<Vec<u32>>,
    pub validation: Vec<Vec<u32>>,
}

pub fn setup() -> Setup {
    let chain = MarkovChain::diagonal(5, 0.8).unwrap();
    Setup {
        process: Process::new(ProcessKind::Absorbing, 5, Schedule::default()).unwrap(),
        train: chain.sample_dataset(256, 8, 1),
        validation: chain.sample_dataset(64, 8, 2),
    }
}

impl Setup {
    /// The MDLM objective on the CPU device.
    pub fn objective(&self) -> DenoiserObjective<'_, TB> {
        DenoiserObjective::<TB> {
            process: self.process,
            loss: Loss::MdlmNelbo,
            train: &self.train,
            validation: &self.validation,
            device: Default::default(),
        }
    }
}

/// A tiny SUBS denoiser for [`setup`]'s data, initialised from `seed`, with `dropout`.
pub fn fresh_model(seed: u64, dropout: f64) -> DenoiserNet<TB> {
    let device = Default::default();
    TB::seed(&device, seed);
    let trunk = TrunkConfig::preset("tiny", 6, 8)
        .unwrap()
        .with_dropout(dropout);
    DenoiserNetConfig::new(trunk, 5, true).init(&device)
}

/// A short run: batch 16, EMA 0.9, a checkpoint every 4 steps, validation every
/// `validate_every`.
pub fn config(steps: usize, learning_rate: f64, validate_every: usize) -> TrainingConfig {
    TrainingConfig {
        steps,
        batch_size: 16,
        learning_rate,
        warmup_steps: 2,
        ema_decay: 0.9,
        validate_every,
        checkpoint_every: 4,
        log_every: 4,
        seed: 7,
        ..TrainingConfig::default()
    }
}

/// Checks that `err` is the non-finite guard's, at step ≥ 2 and named in the message, and
/// that the checkpoint it kept is the step before, with finite losses only (runs that write
/// a checkpoint every step). Returns what was non-finite and the message.
pub fn stopped_by_the_non_finite_guard(err: TrainError) -> (&'static str, String) {
    let message = err.to_string();
    let TrainError::NonFinite {
        what,
        step,
        last_checkpoint,
        ..
    } = err
    else {
        panic!("expected the non-finite guard, got: {message}");
    };
    assert!(message.contains(&format!("at step {step}")), "{message}");
    assert!(step >= 2, "the first step starts from finite weights");
    let kept = last_checkpoint.expect("checkpoints were written every step");
    let file = CheckpointFile::read(&kept).unwrap();
    assert_eq!(
        file.state.step,
        step - 1,
        "the last good checkpoint is the step before"
    );
    assert!(file.state.history.iter().all(|r| r.loss.is_finite()));
    (what, message)
}
