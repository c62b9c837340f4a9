//! What the training-loop tests share: a tiny Markov data set, its denoiser objective and
//! scratch run folders.

use std::path::PathBuf;

use burn::backend::{Autodiff, NdArray};
use gtl_diffusion::{Loss, Process, ProcessKind, Schedule};
use gtl_markov::MarkovChain;
use gtl_models::objectives::DenoiserObjective;

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
