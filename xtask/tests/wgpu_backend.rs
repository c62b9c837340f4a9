//! The wgpu backend against the CPU (`cargo test -p xtask --features wgpu --test wgpu_backend`;
//! CI runs it on Mesa's software Vulkan driver, lavapipe). Skips, saying why, when the
//! machine has no Vulkan driver.
//!
//! - Training: the same tiny denoiser (weights copied from NdArray), the same batches and the
//!   same corruption (host-seeded) train for 20 steps on both backends; every step's loss
//!   must agree within 1e-4 relative (f32 kernels that sum in another order drift apart a
//!   little over the steps; measured on lavapipe: 1.7e-7, docs/backends.md).
//! - Sampling: scheduled GTL with the exact components on wgpu must sample the target chain,
//!   checked by enumeration (`cargo xtask oracle-sample`, the same check CI runs on NdArray).
#![cfg(feature = "wgpu")]

mod common;

use std::path::{Path, PathBuf};

use burn::backend::wgpu::WgpuDevice;
use burn::backend::{Autodiff, NdArray, Wgpu};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use gtl_diffusion::{Loss, Process, ProcessKind, Schedule};
use gtl_markov::MarkovChain;
use gtl_models::objectives::DenoiserObjective;
use gtl_models::training::{RunOptions, TrainingConfig, load_module_bytes, module_bytes, train};
use gtl_models::{DenoiserNet, DenoiserNetConfig, TrunkConfig};

use common::xtask;

/// Where Vulkan loaders look for drivers (the ICD manifests).
const ICD_DIRS: [&str; 3] = [
    "/usr/share/vulkan/icd.d",
    "/etc/vulkan/icd.d",
    "/usr/local/share/vulkan/icd.d",
];

/// Whether a Vulkan driver is installed; prints why the test is skipped when not.
fn vulkan_driver() -> bool {
    let found = ICD_DIRS.iter().any(|dir| {
        std::fs::read_dir(dir).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| e.path().extension().is_some_and(|x| x == "json"))
        })
    });
    if !found {
        eprintln!(
            "skipped: no Vulkan driver (no ICD manifest in {}); on Debian: apt-get install mesa-vulkan-drivers libvulkan1",
            ICD_DIRS.join(", ")
        );
    }
    found
}

fn scratch(name: &str) -> PathBuf {
    common::scratch("wgpu", name)
}

/// Trains `model` for 20 steps and returns every step's loss.
fn losses<B: AutodiffBackend>(model: DenoiserNet<B>, device: &B::Device, dir: &Path) -> Vec<f64> {
    let chain = MarkovChain::diagonal(5, 0.8).unwrap();
    let train_data = chain.sample_dataset(256, 8, 1);
    let validation = chain.sample_dataset(32, 8, 2);
    let objective = DenoiserObjective::<B> {
        process: Process::new(ProcessKind::Absorbing, 5, Schedule::default()).unwrap(),
        loss: Loss::MdlmNelbo,
        train: &train_data,
        validation: &validation,
        device: device.clone(),
    };
    let config = TrainingConfig {
        steps: 20,
        batch_size: 32,
        learning_rate: 3e-3,
        warmup_steps: 2,
        validate_every: 10,
        checkpoint_every: 20,
        log_every: 20,
        seed: 3,
        ..TrainingConfig::default()
    };
    let options = RunOptions {
        dir: dir.to_path_buf(),
        resume: false,
        stop_after: None,
        label: "wgpu-test".into(),
        observer: None,
    };
    let trained = train(model, &objective, &config, &options, device).unwrap();
    trained.state.history.iter().map(|row| row.loss).collect()
}

#[test]
fn training_steps_on_wgpu_match_ndarray() {
    if !vulkan_driver() {
        return;
    }
    let dir = scratch("train");
    let cpu = Default::default();
    type Cpu = Autodiff<NdArray>;
    Cpu::seed(&cpu, 11);
    let trunk = TrunkConfig::preset("tiny", 6, 8).unwrap();
    let config = DenoiserNetConfig::new(trunk, 5, true);
    let on_cpu: DenoiserNet<Cpu> = config.init(&cpu);
    let gpu = WgpuDevice::default();
    let on_gpu: DenoiserNet<Autodiff<Wgpu>> = load_module_bytes(
        config.init(&gpu),
        module_bytes(&on_cpu),
        &gpu,
        Path::new("(copied weights)"),
    )
    .unwrap();
    let expected = losses(on_cpu, &cpu, &dir.join("cpu"));
    let actual = losses(on_gpu, &gpu, &dir.join("gpu"));
    std::fs::remove_dir_all(&dir).ok();
    let worst = expected
        .iter()
        .zip(&actual)
        .map(|(e, a)| ((e - a) / e).abs())
        .fold(0.0, f64::max);
    println!(
        "ndarray losses {expected:.5?}\nwgpu losses    {actual:.5?}\nlargest relative difference {worst:.2e}"
    );
    assert_eq!(actual.len(), 20);
    assert!(worst < 1e-4, "losses differ by {worst:.2e} (relative)");
    // The run must train, or agreement says nothing: the last loss is well below the first.
    assert!(expected[19] < 0.8 * expected[0], "{expected:?}");
}

#[test]
fn exact_scheduled_gtl_on_wgpu_samples_the_target_chain() {
    if !vulkan_driver() {
        return;
    }
    let dir = scratch("sample");
    for (name, diag) in [("source.json", "0.2"), ("target.json", "0.8")] {
        xtask(
            &dir,
            &[
                "markov-chain",
                "--family",
                "diagonal",
                "--states",
                "3",
                "--diag",
                diag,
                "--out",
                name,
            ],
        );
    }
    let report = xtask(
        &dir,
        &[
            "oracle-sample",
            "--chain",
            "source.json",
            "--target-chain",
            "target.json",
            "--guidance",
            "gtl",
            "--length",
            "5",
            "--samples",
            "2000",
            "--seed",
            "2",
            "--out",
            "guided.jsonl",
            "--backend",
            "wgpu",
        ],
    );
    std::fs::remove_dir_all(&dir).ok();
    println!("{report}");
    assert!(report.contains("consistent"), "{report}");
}
