//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong when building, loading or measuring against a Markov chain.
///
/// Every message names the offending value and what was expected of it.
#[derive(Debug, thiserror::Error)]
pub enum MarkovError {
    /// The chain has no states.
    #[error("chain has 0 states: must have at least 1")]
    NoStates,

    /// The transition matrix does not have one row per state.
    #[error("transition matrix has {rows} rows: must have {expected} (one per initial entry)")]
    RowCount {
        /// Rows found.
        rows: usize,
        /// Rows expected (the length of the initial distribution).
        expected: usize,
    },

    /// A transition row has the wrong length.
    #[error("transition row {row} has {len} entries: must have {expected}")]
    RowLength {
        /// Index of the row.
        row: usize,
        /// Entries found.
        len: usize,
        /// Entries expected (the number of states).
        expected: usize,
    },

    /// A probability is negative, infinite or NaN.
    #[error("{what} entry {index} = {value}: must be finite and >= 0")]
    InvalidProbability {
        /// Which vector: `initial` or `transition row i`.
        what: String,
        /// Index of the entry.
        index: usize,
        /// The offending value.
        value: f64,
    },

    /// A distribution does not sum to one.
    #[error("{what} sums to {sum}: must sum to 1 within 1e-9")]
    NotNormalized {
        /// Which vector: `initial`, `transition row i` or `kernel column`.
        what: String,
        /// Its sum.
        sum: f64,
    },

    /// A numeric argument is out of its domain.
    #[error("{name} = {value}: must be {expected}")]
    InvalidParameter {
        /// Name of the argument.
        name: &'static str,
        /// The offending value.
        value: f64,
        /// The domain it must lie in, in words.
        expected: &'static str,
    },

    /// Two chains that must share a state space do not.
    #[error("chains have {left} and {right} states: must have the same number")]
    StateCountMismatch {
        /// States of the first chain.
        left: usize,
        /// States of the second chain.
        right: usize,
    },

    /// Exhaustive enumeration was asked for a space that is too large.
    #[error("enumerating {num_states}^{length} sequences: must be at most 10^6 (N^L <= 1000000)")]
    TooManySequences {
        /// Number of states N.
        num_states: usize,
        /// Sequence length L.
        length: usize,
    },

    /// A statistic was asked of an empty sample.
    #[error("{what} of 0 samples: must have at least 1 sample")]
    NoSamples {
        /// The statistic.
        what: &'static str,
    },

    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// A file is not a valid chain in JSON.
    #[error("{}: invalid chain JSON: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The underlying error (it carries validation failures too).
        source: serde_json::Error,
    },
}

impl MarkovError {
    /// An `InvalidParameter` error.
    pub(crate) fn parameter(name: &'static str, value: f64, expected: &'static str) -> Self {
        Self::InvalidParameter {
            name,
            value,
            expected,
        }
    }
}
