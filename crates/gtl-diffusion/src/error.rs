//! Errors of the diffusion crate.

/// Errors raised by gtl-diffusion.
#[derive(Debug, thiserror::Error)]
pub enum DiffusionError {
    /// An invalid parameter; the message names the key, the value and the allowed range.
    #[error("{0}")]
    Config(String),
}

impl DiffusionError {
    pub(crate) fn config(message: String) -> Self {
        DiffusionError::Config(message)
    }
}
