//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong when reading corpora, splitting, tokenising or packing.
///
/// Every message names the offending file, line or value and what was expected of it.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// A corpus directory does not exist.
    #[error(
        "corpus directory {path} does not exist: expected a directory of PREFIX-NN.jsonl shards"
    )]
    MissingDirectory {
        /// The directory asked for.
        path: PathBuf,
    },

    /// A directory holds no shard for an archive prefix.
    #[error("{dir} has no shard for prefix {prefix:?}: expected files named {prefix}-NN.jsonl")]
    NoShards {
        /// The directory searched.
        dir: PathBuf,
        /// The archive prefix, e.g. `math`.
        prefix: String,
    },

    /// No document of a corpus has a primary category in the domain.
    #[error(
        "domain {domain} is empty in {source_name}: no document has a primary category with one of these prefixes"
    )]
    EmptyDomain {
        /// The domain's prefixes, e.g. `[cs, math]`.
        domain: String,
        /// Where the documents came from (a directory or file).
        source_name: String,
    },

    /// A line of a JSONL file could not be parsed into a document.
    #[error("{path}:{line}: {message}")]
    MalformedLine {
        /// The file.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// What is wrong with the line.
        message: String,
    },

    /// A FASTA file is not well formed; `id` names the record when there is one.
    #[error("{path}:{line}{}: {message}", id.as_ref().map(|id| format!(" (record {id})")).unwrap_or_default())]
    MalformedFasta {
        /// The file (or the name given to an in-memory reader).
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// The record the line belongs to, if any.
        id: Option<String>,
        /// What is wrong.
        message: String,
    },

    /// A numeric argument is out of its domain.
    #[error("{name} = {value}: must be {expected}")]
    InvalidParameter {
        /// Name of the argument.
        name: &'static str,
        /// The offending value, formatted.
        value: String,
        /// The domain it must lie in, in words.
        expected: &'static str,
    },

    /// A tokenizer lacks a special token the models need.
    #[error("tokenizer {source_name} has no {role} token: expected one of {expected}")]
    MissingSpecialToken {
        /// The tokenizer file (or `trained BPE`).
        source_name: String,
        /// `mask`, `begin` or `end`.
        role: &'static str,
        /// The accepted token strings, e.g. `[MASK], <mask>`.
        expected: String,
    },

    /// The `tokenizers` crate reported an error.
    #[error("tokenizer {source_name}: {message}")]
    Tokenizer {
        /// The tokenizer file (or `trained BPE`).
        source_name: String,
        /// The error it reported.
        message: String,
    },

    /// A token id is not in the vocabulary.
    #[error("token id {id} is out of range: must be < {limit} (real tokens and the mask)")]
    TokenOutOfRange {
        /// The offending id.
        id: u32,
        /// One past the largest valid id.
        limit: usize,
    },

    /// A base is not a nucleotide or IUPAC ambiguity code.
    #[error(
        "base {base:?} at position {position}: must be one of ACGT or an IUPAC code (RYSWKMBDHVN)"
    )]
    InvalidBase {
        /// The offending character.
        base: char,
        /// Its 0-based position in the sequence.
        position: usize,
    },
}

impl DataError {
    /// A [`DataError::InvalidParameter`] from any displayable value.
    pub(crate) fn parameter(
        name: &'static str,
        value: impl std::fmt::Display,
        expected: &'static str,
    ) -> Self {
        Self::InvalidParameter {
            name,
            value: value.to_string(),
            expected,
        }
    }

    /// A [`DataError::Io`] for `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
