//! Errors of the diffusion crate.

/// Errors raised by gtl-diffusion.
#[derive(Debug, thiserror::Error)]
pub enum DiffusionError {
    /// An invalid parameter; the message names the key, the value and the allowed range.
    #[error("{0}")]
    Config(String),
    /// Probabilities a sampler cannot draw from: a row whose total mass is NaN, infinite or
    /// zero (for example from an infinite or NaN log-ratio in a guided sampler).
    #[error(
        "cannot draw from the probabilities at row {row}, position {position}: their total is \
         {total} (expected finite and > 0); the scores behind them are NaN or infinite"
    )]
    InvalidProbabilities {
        /// Row of the batch.
        row: usize,
        /// Position in the sequence.
        position: usize,
        /// The row's total mass as computed.
        total: f64,
    },
}

impl DiffusionError {
    pub(crate) fn config(message: String) -> Self {
        DiffusionError::Config(message)
    }
}
