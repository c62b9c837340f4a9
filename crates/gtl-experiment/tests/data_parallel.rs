//! The runner's data-parallel path (feature `data-parallel`): stages given two CPU devices
//! train the denoiser and the ratio network data-parallel and reach what one device reaches,
//! and a batch that cannot be split evenly is refused with the stage's label.

use std::path::PathBuf;

use burn::backend::{Autodiff, NdArray};
use gtl_experiment::run::{StageRecord, train};
use gtl_experiment::stage::{DenoiserSummary, RatioSummary};
use gtl_experiment::{ExperimentConfig, RunOptions, StageName};

type TB = Autodiff<NdArray>;

const TINY: &str = include_str!("../../../configs/markov-tiny.toml");

/// markov-tiny with short runs: 60 denoiser steps, 40 classifier and ratio steps.
fn short_config(extra: &str) -> ExperimentConfig {
    let text = TINY
        .replacen("steps = 400", "steps = 60", 1)
        .replace("steps = 300", "steps = 40");
    ExperimentConfig::parse(&format!("{text}{extra}")).unwrap()
}

fn runs_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gtl-parallel-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn run(
    config: &ExperimentConfig,
    stage: StageName,
    runs: &PathBuf,
    devices: usize,
) -> gtl_experiment::Result<Vec<StageRecord>> {
    let options = RunOptions {
        workers: Some(1),
        ..RunOptions::new(runs)
    };
    train::<TB>(config, stage, &options, &vec![Default::default(); devices])
}

fn summary<T: serde::de::DeserializeOwned>(record: &StageRecord) -> T {
    serde_json::from_value(record.outcome.as_ref().unwrap().done.summary.clone()).unwrap()
}

/// One device against two, same seeds: the sums of the gradients differ only in f32
/// rounding order (gtl-models' test bounds the parameters after several steps by 1e-6), so
/// the stages' held-out metrics agree to 1e-4 after 60 and 40 steps.
#[test]
fn two_devices_train_the_denoiser_and_the_ratio_network_as_one_does() {
    let config = short_config("");
    let (one, two) = (runs_dir("one"), runs_dir("two"));
    let denoiser = |runs: &PathBuf, devices| {
        summary::<DenoiserSummary>(&run(&config, StageName::Denoiser, runs, devices).unwrap()[0])
    };
    let (a, b) = (denoiser(&one, 1), denoiser(&two, 2));
    eprintln!(
        "denoiser NELBO/token: one device {}, two {}",
        a.nelbo_model, b.nelbo_model
    );
    assert_eq!(a.steps, b.steps);
    assert!((a.nelbo_model - b.nelbo_model).abs() < 1e-4);
    assert!(
        a.nelbo_model < a.nelbo_unigram.unwrap() + 0.5,
        "the run trains"
    );
    let ratio = |runs: &PathBuf, devices| {
        summary::<RatioSummary>(&run(&config, StageName::Ratio, runs, devices).unwrap()[0])
    };
    let (a, b) = (ratio(&one, 1), ratio(&two, 2));
    let (a, b) = (a.mse_source.unwrap(), b.mse_source.unwrap());
    eprintln!("ratio MSE against log h_t on source: one device {a}, two {b}");
    assert!((a - b).abs() < 1e-4 * a.max(1.0));
    let _ = std::fs::remove_dir_all(&one);
    let _ = std::fs::remove_dir_all(&two);
}

/// 63 rows cannot be split over two devices: the denoiser and the ratio network (the
/// stages that train data-parallel) refuse it by name; the classifiers, whose objectives do
/// not split, train on the first device.
#[test]
fn a_batch_that_does_not_split_over_the_devices_is_refused_by_the_stage() {
    let odd_denoiser = TINY.replacen("batch_size = 64", "batch_size = 63", 1);
    let config = ExperimentConfig::parse(&odd_denoiser).unwrap();
    let runs = runs_dir("odd");
    let err = run(&config, StageName::Denoiser, &runs, 2).unwrap_err();
    assert!(
        err.to_string().contains(
            "denoiser: data-parallel training: batch_size = 63 is not divisible by the 2 devices"
        ),
        "{err}"
    );
    let mut config = short_config("");
    config.ratio.training.batch_size = 63;
    let err = run(&config, StageName::Ratio, &runs, 2).unwrap_err();
    assert!(
        err.to_string()
            .contains("ratio network: data-parallel training: batch_size = 63 is not divisible"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&runs);
}
