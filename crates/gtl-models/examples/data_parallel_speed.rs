//! Seconds per training step of one worker (`train`) against `K` data-parallel workers
//! (`train_data_parallel`) on the CPU (NdArray, every worker on the CPU device), run
//! alternately so that a change in the machine's load hits both alike:
//!
//! ```text
//! cargo run -p gtl-models --features data-parallel --example data_parallel_speed -- \
//!     [preset=tiny] [batch=256] [steps=12] [workers=2] [rounds=2]
//! ```
//!
//! The synthetic denoiser task of `docs/training.md` (N = 5, L = 20); the time per step is
//! measured from the end of step 2 to the end of step `steps - 1`, leaving out the first
//! steps (allocation) and the last (validation, files).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use burn::backend::{Autodiff, NdArray};
use burn::prelude::*;
use gtl_diffusion::{Loss, Process, ProcessKind, Schedule};
use gtl_markov::MarkovChain;
use gtl_models::objectives::DenoiserObjective;
use gtl_models::training::{
    RunOptions, TrainingConfig, TrainingObserver, TrainingProgress, train, train_data_parallel,
};
use gtl_models::{DenoiserNet, DenoiserNetConfig, TrunkConfig};

type TB = Autodiff<NdArray>;

/// Records when each step ends.
#[derive(Default)]
struct Clock(Arc<Mutex<Vec<Instant>>>);

impl TrainingObserver for Clock {
    fn start(&self, _: &str, _: usize, _: usize) -> Box<dyn TrainingProgress> {
        self.0.lock().unwrap().clear();
        Box::new(Ticks(self.0.clone()))
    }
}

struct Ticks(Arc<Mutex<Vec<Instant>>>);

impl TrainingProgress for Ticks {
    fn step(&mut self, _: usize, _: f64) {
        self.0.lock().unwrap().push(Instant::now());
    }
    fn finish(&mut self) {}
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or(default.into());
    let preset = arg(0, "tiny");
    let number = |i: usize, default: &str| -> usize { arg(i, default).parse().expect("a number") };
    let (batch, steps, workers, rounds) = (
        number(1, "256"),
        number(2, "12"),
        number(3, "2"),
        number(4, "2"),
    );
    assert!(steps >= 4, "steps must be at least 4");
    let (vocab, length) = (5, 20);
    let chain = MarkovChain::diagonal(vocab, 0.8).unwrap();
    let (train_data, validation) = (
        chain.sample_dataset(4096, length, 1),
        chain.sample_dataset(64, length, 2),
    );
    let device = Default::default();
    let objective = DenoiserObjective::<TB> {
        process: Process::new(ProcessKind::Absorbing, vocab, Schedule::default()).unwrap(),
        loss: Loss::MdlmNelbo,
        train: &train_data,
        validation: &validation,
        device,
    };
    let config = TrainingConfig {
        steps,
        batch_size: batch,
        learning_rate: 3e-4,
        warmup_steps: 2,
        validate_every: steps,
        checkpoint_every: steps,
        seed: 1,
        ..TrainingConfig::default()
    };
    let model = || -> DenoiserNet<TB> {
        TB::seed(&device, 1);
        let trunk = TrunkConfig::preset(&preset, vocab + 1, length).unwrap();
        DenoiserNetConfig::new(trunk, vocab, true).init(&device)
    };
    let clock = Arc::new(Clock::default());
    let ticks = clock.0.clone();
    let options = |name: &str| RunOptions {
        dir: std::env::temp_dir().join(format!("gtl-dp-speed-{name}-{}", std::process::id())),
        resume: false,
        stop_after: None,
        label: name.into(),
        observer: Some(clock.clone()),
    };
    let seconds_per_step = || {
        let ticks = ticks.lock().unwrap();
        (ticks[steps - 2] - ticks[1]).as_secs_f64() / (steps - 3) as f64
    };
    println!("preset {preset}, batch {batch}, L {length}, {steps} steps, {workers} workers");
    for round in 1..=rounds {
        train(model(), &objective, &config, &options("one"), &device).unwrap();
        let one = seconds_per_step();
        let devices = vec![device; workers];
        train_data_parallel(model(), &objective, &config, &options("many"), &devices).unwrap();
        let many = seconds_per_step();
        println!(
            "round {round}: 1 worker {one:.4} s/step, {workers} workers {many:.4} s/step \
             (speed-up {:.2}x)",
            one / many
        );
    }
}
