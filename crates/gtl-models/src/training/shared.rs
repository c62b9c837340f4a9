//! Process-wide state that concurrent training runs share: the backend's random generator
//! (burn seeds one generator per backend, not per run).

use std::sync::Mutex;

use burn::prelude::*;

static BACKEND_SEED: Mutex<()> = Mutex::new(());

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
