//! Process-wide state that concurrent training runs share: the backend's random generator
//! (burn seeds one generator per backend, not per run) and the terminal's progress bars.

use std::sync::{Mutex, OnceLock};

use burn::prelude::*;
use indicatif::{MultiProgress, ProgressBar};

static BACKEND_SEED: Mutex<()> = Mutex::new(());
static PROGRESS: OnceLock<MultiProgress> = OnceLock::new();

/// Seeds the backend's generator with `seed` and runs `draw` (e.g. a network's
/// initialisation) before any other thread can reseed it, so runs on several threads draw
/// the same weights as they would alone. Dropout draws during training are not covered:
/// runs with dropout are reproducible only one at a time.
pub fn seeded<B: Backend, T>(device: &B::Device, seed: u64, draw: impl FnOnce() -> T) -> T {
    let _guard = BACKEND_SEED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    B::seed(device, seed);
    draw()
}

/// Draws every later training run's progress bar inside `multi`, so bars of runs on several
/// threads stack instead of overwriting each other. The first call wins.
pub fn show_progress_in(multi: MultiProgress) {
    let _ = PROGRESS.set(multi);
}

pub(crate) fn add_bar(bar: ProgressBar) -> ProgressBar {
    match PROGRESS.get() {
        Some(multi) => multi.add(bar),
        None => bar,
    }
}
