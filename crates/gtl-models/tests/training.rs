//! The shared training loop on a tiny denoiser (f32 NdArray): resume reproduces the
//! uninterrupted run exactly, corrupt checkpoints are refused without being overwritten, and
//! an absurd learning rate trips the non-finite guard while the last checkpoint survives.

mod common;

use std::path::Path;
use std::sync::Mutex;

use gtl_models::DenoiserNet;
use gtl_models::training::{RunOptions, TrainError, TrainingConfig, train};

use common::{Setup, TB, config, fresh_model, run_dir, setup, stopped_by_the_non_finite_guard};

/// burn's NdArray RNG is process-global: runs that seed it must not interleave.
static GLOBAL_RNG: Mutex<()> = Mutex::new(());

fn run(
    setup: &Setup,
    config: &TrainingConfig,
    dir: &Path,
    resume: bool,
    stop_after: Option<usize>,
) -> Result<gtl_models::training::Trained<TB, DenoiserNet<TB>>, TrainError> {
    let objective = setup.objective();
    let options = RunOptions {
        dir: dir.to_path_buf(),
        resume,
        stop_after,
        label: "test".into(),
        observer: None,
    };
    train(
        fresh_model(config.seed, 0.1),
        &objective,
        config,
        &options,
        &Default::default(),
    )
}

#[test]
fn resume_reproduces_the_uninterrupted_run_exactly() {
    let _guard = GLOBAL_RNG.lock().unwrap();
    let setup = setup();
    let config = config(12, 3e-3, 4);
    let whole = run(&setup, &config, &run_dir("train", "whole"), false, None).unwrap();
    let split_dir = run_dir("train", "split");
    let first = run(&setup, &config, &split_dir, false, Some(6)).unwrap();
    assert_eq!(first.state.step, 6);
    let resumed = run(&setup, &config, &split_dir, true, None).unwrap();
    let losses = |t: &gtl_models::training::Trained<TB, DenoiserNet<TB>>| {
        t.state
            .history
            .iter()
            .map(|r| (r.step, r.loss.to_bits(), r.validation.map(f64::to_bits)))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        losses(&resumed),
        losses(&whole),
        "resumed history differs from the uninterrupted run"
    );
    assert!(
        whole.state.history[0].loss > whole.state.history[11].loss,
        "the loss should fall"
    );
    let metrics = std::fs::read_to_string(split_dir.join("metrics.csv")).unwrap();
    assert_eq!(
        metrics.lines().count(),
        13,
        "header and 12 steps:\n{metrics}"
    );
}

#[test]
fn a_corrupt_checkpoint_is_refused_and_left_untouched() {
    let _guard = GLOBAL_RNG.lock().unwrap();
    let setup = setup();
    let config = config(8, 3e-3, 4);
    let dir = run_dir("train", "corrupt");
    run(&setup, &config, &dir, false, Some(4)).unwrap();
    let path = dir.join("checkpoint.bin");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = run(&setup, &config, &dir, true, None)
        .err()
        .expect("a truncated checkpoint must be refused");
    assert!(
        err.to_string().contains("not a valid gtl checkpoint"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes[..bytes.len() / 2],
        "the file was modified"
    );
}

#[test]
fn an_absurd_learning_rate_trips_the_non_finite_guard() {
    let _guard = GLOBAL_RNG.lock().unwrap();
    let setup = setup();
    let mut config = config(40, 1e30, 4);
    config.checkpoint_every = 1;
    config.grad_clip = 0.0;
    let dir = run_dir("train", "nan");
    let err = run(&setup, &config, &dir, false, None)
        .err()
        .expect("lr = 1e30 must blow up");
    stopped_by_the_non_finite_guard(err);
}
