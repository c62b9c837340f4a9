//! Errors of the classifier crate.

/// Errors raised by gtl-classifier.
#[derive(Debug, thiserror::Error)]
pub enum ClassifierError {
    /// An invalid parameter; the message names the key, the value and the allowed range.
    #[error("{0}")]
    Config(String),
}
