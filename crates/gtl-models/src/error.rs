//! Errors of the models crate.

/// Errors raised by gtl-models.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// An invalid parameter; the message names the key, the value and the allowed range.
    #[error("{0}")]
    Config(String),
}
