//! Memorisation and diversity of generated token sequences (any vocabulary).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

/// Memorisation and diversity of a sample set relative to a training set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SequenceStats {
    /// Share of samples that are an exact copy of a training sequence.
    pub memorised: f64,
    /// Distinct samples over samples.
    pub distinct_sequences: f64,
    /// The `n` of the n-gram statistics.
    pub ngram: usize,
    /// Distinct n-grams over n-grams in the samples (distinct-n).
    pub distinct_ngrams: f64,
    /// Share of the samples' n-grams that occur in the training set.
    pub ngram_overlap: f64,
}

impl SequenceStats {
    /// Scores `samples` against `train` with n-grams of length `ngram` (≥ 1). Empty inputs
    /// give zeros.
    pub fn compute(samples: &[Vec<u32>], train: &[Vec<u32>], ngram: usize) -> Self {
        assert!(ngram >= 1, "n-grams need n ≥ 1");
        let share = |count: usize, total: usize| {
            if total == 0 {
                0.0
            } else {
                count as f64 / total as f64
            }
        };
        let training: HashSet<&[u32]> = train.iter().map(Vec::as_slice).collect();
        let memorised = samples
            .iter()
            .filter(|s| training.contains(s.as_slice()))
            .count();
        let distinct: HashSet<&[u32]> = samples.iter().map(Vec::as_slice).collect();
        let training_ngrams: HashSet<&[u32]> =
            train.iter().flat_map(|s| s.windows(ngram)).collect();
        let ngrams: Vec<&[u32]> = samples.iter().flat_map(|s| s.windows(ngram)).collect();
        let distinct_ngrams: HashSet<&[u32]> = ngrams.iter().copied().collect();
        let overlapping = ngrams
            .iter()
            .filter(|g| training_ngrams.contains(*g))
            .count();
        SequenceStats {
            memorised: share(memorised, samples.len()),
            distinct_sequences: share(distinct.len(), samples.len()),
            ngram,
            distinct_ngrams: share(distinct_ngrams.len(), ngrams.len()),
            ngram_overlap: share(overlapping, ngrams.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_of_a_hand_made_set() {
        let train = vec![vec![0, 1, 2], vec![2, 2, 2]];
        let samples = vec![vec![0, 1, 2], vec![0, 1, 2], vec![1, 1, 1], vec![2, 2, 1]];
        let s = SequenceStats::compute(&samples, &train, 2);
        assert_eq!(s.memorised, 0.5);
        assert_eq!(s.distinct_sequences, 0.75);
        // Bigrams: 01 12 01 12 11 11 22 21 → distinct {01, 12, 11, 22, 21} = 5 of 8;
        // in training {01, 12, 22}: 01 12 01 12 22 = 5 of 8.
        assert_eq!(s.distinct_ngrams, 5.0 / 8.0);
        assert_eq!(s.ngram_overlap, 5.0 / 8.0);
        let empty = SequenceStats::compute(&[], &train, 3);
        assert_eq!(empty.memorised, 0.0);
    }
}
