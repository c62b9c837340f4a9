//! Evaluation of generated sequences and of ratio estimates (MATH.md §7). Everything here
//! scores samples after the fact, whichever method produced them:
//!
//! - [`MarkovScores`]: transition-matrix error and mean diagonal, per-token NLL under the
//!   target and source chains, and (where `N^L ≤ 10^6`) the enumerated total variation and a
//!   chi-square p-value against the target;
//! - [`SequenceStats`]: memorisation (samples that copy a training sequence), distinct
//!   sequences, distinct n-grams and n-gram overlap with the training set;
//! - [`NgramModel`]: a Witten–Bell smoothed n-gram model of token sequences, for the
//!   "reverse" likelihood of real sequences under a model of generated ones;
//! - [`ErrorBin`], [`bin_errors`]: the error of a `log h_t` estimate against the exact one, by t;
//! - [`Table`]: result tables written as CSV and rendered as Markdown;
//! - [`words`]: the word tokens of a text, as every text metric here splits it;
//! - [`DomainJudge`]: a logistic-regression judge of source against target text on hashed
//!   word unigrams and bigrams, for the mean P(target) of samples;
//! - [`KneserNey`]: an interpolated Kneser–Ney word n-gram model, the reference model of
//!   generative perplexity;
//! - [`mauve`], [`mauve_of_histograms`], [`hashed_tfidf_mauve`]: MAUVE of two sets of
//!   feature vectors, and "MAUVE on hashed TF-IDF features" of two sets of texts
//!   ([`HashedTfidf`], not comparable with MAUVE on language-model features);
//! - [`distinct_n`], [`repetition_rate`]: diversity of samples of words or token ids;
//! - [`NgramIndex`]: memorisation, the share of samples that share a long n-gram (the GTL
//!   paper: 50 tokens) with the training data, by rolling hashes checked exactly;
//! - [`bootstrap_mean`]: a percentile bootstrap interval of a mean, such as the mean
//!   P(target); [`ks_statistic`]: the two-sample Kolmogorov–Smirnov statistic;
//! - [`KmerSpectrum`], [`gc_content`]: k-mer spectra of sets of DNA sequences with their
//!   Jensen–Shannon divergence, and the GC content of a sequence;
//! - [`RdpClassifier`]: the RDP naive Bayesian classifier of DNA (k-mer presence, bootstrap
//!   confidence, a [`ConfusionMatrix`] of held-out sequences);
//! - [`SuffixAutomaton`]: the longest common substring of a query with a training set, in
//!   time linear in the query.
//! - `plot` (cargo feature `plot`): PNG line plots, bar charts and heatmaps of the results.
//!
//! ```
//! use gtl_eval::{MarkovScores, SequenceStats};
//! use gtl_markov::MarkovChain;
//!
//! let target = MarkovChain::diagonal(3, 0.8).unwrap();
//! let source = MarkovChain::diagonal(3, 0.2).unwrap();
//! let samples = target.sample_dataset(500, 6, 1);
//! let scores = MarkovScores::compute(&samples, &target, &source, 6).unwrap();
//! assert!((scores.mean_diagonal - 0.8).abs() < 0.05);
//! assert!(scores.tv.is_some()); // 3^6 sequences can be enumerated
//! let stats = SequenceStats::compute(&samples, &samples[..10], 2);
//! assert!(stats.memorised >= 10.0 / 500.0);
//! ```

#![warn(missing_docs)]

mod diversity;
mod judge;
mod kmeans;
mod kmer;
mod kneser_ney;
mod lbfgs;
mod markov;
mod mauve;
mod ngram;
#[cfg(feature = "plot")]
pub mod plot;
mod ratio_error;
mod rdp;
mod sequences;
mod stats;
mod suffix_automaton;
mod table;
mod text;
mod tfidf;

pub use diversity::{NgramIndex, distinct_n, repetition_rate};
pub use judge::{DomainJudge, JudgeConfig};
pub use kmer::{KmerSpectrum, MAX_SPECTRUM_K, gc_content};
pub use kneser_ney::{KneserNey, KneserNeyConfig};
pub use markov::MarkovScores;
pub use mauve::{Mauve, MauveConfig, hashed_tfidf_mauve, mauve, mauve_of_histograms};
pub use ngram::NgramModel;
pub use ratio_error::{ERROR_COLUMNS, ErrorBin, bin_errors, read_error_csv, write_error_csv};
pub use rdp::{Assignment, ConfusionMatrix, RdpClassifier, RdpConfig};
pub use sequences::SequenceStats;
pub use stats::{MeanInterval, bootstrap_mean, ks_statistic, t_interval};
pub use suffix_automaton::SuffixAutomaton;
pub use table::{Cell, Table};
pub use text::words;
pub use tfidf::{HashedTfidf, TfidfConfig};

/// Errors of the evaluation functions.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A scored set was empty or malformed.
    #[error("{0}")]
    Input(String),
    /// An error of the Markov metrics.
    #[error(transparent)]
    Markov(#[from] gtl_markov::MarkovError),
    /// A table could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// A CSV record could not be written.
    #[error(transparent)]
    Csv(#[from] csv::Error),
}
