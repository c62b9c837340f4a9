//! k-mers of DNA: every overlapping word of k bases as an integer in `0..4^k` (A, C, G, T =
//! 0..3, the first base in the highest bits; a window holding any other byte, such as N, is
//! skipped; case is ignored), the k-mer spectrum of a set of sequences with the
//! Jensen–Shannon divergence between two spectra, and GC content.

use crate::EvalError;

/// The largest k of a [`KmerSpectrum`] (4^12 counts take 128 MiB).
pub const MAX_SPECTRUM_K: usize = 12;

/// The 2-bit code of a base, or `None` for anything but A, C, G, T (either case).
pub(crate) fn base_code(base: u8) -> Option<u32> {
    match base {
        b'A' | b'a' => Some(0),
        b'C' | b'c' => Some(1),
        b'G' | b'g' => Some(2),
        b'T' | b't' => Some(3),
        _ => None,
    }
}

/// The codes of every overlapping k-mer of `sequence` made only of A, C, G, T, in order
/// (`1 ≤ k ≤ 16`, checked by the caller).
pub(crate) fn kmer_codes(sequence: &[u8], k: usize) -> impl Iterator<Item = u32> + '_ {
    let mask = if k >= 16 {
        u32::MAX
    } else {
        (1u32 << (2 * k)) - 1
    };
    let (mut code, mut run) = (0u32, 0usize);
    sequence.iter().filter_map(move |&b| match base_code(b) {
        Some(c) => {
            code = ((code << 2) | c) & mask;
            run += 1;
            (run >= k).then_some(code)
        }
        None => {
            run = 0;
            None
        }
    })
}

/// The GC content of a sequence: the share of G and C among its A, C, G, T bases (other
/// bytes are ignored); `None` when it has none.
pub fn gc_content(sequence: &[u8]) -> Option<f64> {
    let (mut gc, mut acgt) = (0usize, 0usize);
    for code in sequence.iter().filter_map(|&b| base_code(b)) {
        acgt += 1;
        gc += usize::from(code == 1 || code == 2);
    }
    (acgt > 0).then(|| gc as f64 / acgt as f64)
}

/// Counts of the 4^k words over all overlapping k-mers of a set of sequences.
#[derive(Clone, Debug, PartialEq)]
pub struct KmerSpectrum {
    k: usize,
    counts: Vec<u64>,
    total: u64,
}

impl KmerSpectrum {
    /// Counts the k-mers of `sequences`. Errors unless `1 ≤ k ≤` [`MAX_SPECTRUM_K`].
    pub fn new<S: AsRef<[u8]>>(sequences: &[S], k: usize) -> Result<Self, EvalError> {
        if !(1..=MAX_SPECTRUM_K).contains(&k) {
            return Err(EvalError::Input(format!(
                "k-mer spectrum k = {k}: must be in 1..={MAX_SPECTRUM_K}"
            )));
        }
        let mut counts = vec![0u64; 1 << (2 * k)];
        for sequence in sequences {
            for code in kmer_codes(sequence.as_ref(), k) {
                counts[code as usize] += 1;
            }
        }
        let total = counts.iter().sum();
        Ok(KmerSpectrum { k, counts, total })
    }

    /// The word length k.
    pub fn k(&self) -> usize {
        self.k
    }

    /// The number of k-mers counted.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The count of each word, indexed by its code.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// The frequency of each word (all zeros when nothing was counted).
    pub fn frequencies(&self) -> Vec<f64> {
        let total = self.total.max(1) as f64;
        self.counts.iter().map(|&c| c as f64 / total).collect()
    }

    /// The Jensen–Shannon divergence in bits between the two spectra's frequencies, in
    /// [0, 1]: 0 for equal spectra, 1 for disjoint ones. Errors when k differs or a
    /// spectrum is empty.
    pub fn jensen_shannon(&self, other: &KmerSpectrum) -> Result<f64, EvalError> {
        if self.k != other.k || self.total == 0 || other.total == 0 {
            return Err(EvalError::Input(format!(
                "Jensen–Shannon divergence of spectra with k = {} and {} and {} and {} k-mers: \
                 need one k and k-mers in both",
                self.k, other.k, self.total, other.total
            )));
        }
        // ½ Σ p log₂(2p / (p + q)) + ½ Σ q log₂(2q / (p + q)).
        let half_kl = |a: f64, b: f64| {
            if a > 0.0 {
                0.5 * a * (2.0 * a / (a + b)).log2()
            } else {
                0.0
            }
        };
        let js: f64 = self
            .frequencies()
            .iter()
            .zip(other.frequencies())
            .map(|(&p, q)| half_kl(p, q) + half_kl(q, p))
            .sum();
        Ok(js.clamp(0.0, 1.0))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// Spectra of random sequences with N's and lower case match a count of the k-mer
    /// strings themselves.
    #[test]
    fn spectrum_matches_counting_strings() {
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        let alphabet = b"ACGTacgtN";
        let sequences: Vec<Vec<u8>> = (0..30)
            .map(|_| {
                let len = rng.random_range(0..60);
                (0..len).map(|_| alphabet[rng.random_range(0..9)]).collect()
            })
            .collect();
        for k in 1..=6 {
            let mut by_string: HashMap<Vec<u8>, u64> = HashMap::new();
            for s in &sequences {
                for w in s.windows(k).filter(|w| !w.contains(&b'N')) {
                    *by_string.entry(w.to_ascii_uppercase()).or_default() += 1;
                }
            }
            let spectrum = KmerSpectrum::new(&sequences, k).unwrap();
            assert_eq!(spectrum.total(), by_string.values().sum::<u64>());
            for (word, &count) in &by_string {
                let code = word.iter().fold(0usize, |c, &b| {
                    4 * c + b"ACGT".iter().position(|&x| x == b).unwrap()
                });
                assert_eq!(spectrum.counts()[code], count, "k {k}, {word:?}");
            }
        }
        assert!(KmerSpectrum::new(&sequences, 0).is_err());
        assert!(KmerSpectrum::new(&sequences, MAX_SPECTRUM_K + 1).is_err());
    }

    #[test]
    fn jensen_shannon_of_hand_made_spectra() {
        let spectrum = |s: &str| KmerSpectrum::new(&[s], 1).unwrap();
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        // P = (1, 0), Q = (½, ½) on {A, C}: M = (¾, ¼);
        // JS = ½ log₂(4/3) + ¼ log₂(2/3) + ¼ log₂ 2.
        let hand = 0.5 * (4.0f64 / 3.0).log2() + 0.25 * (2.0f64 / 3.0).log2() + 0.25;
        let js = spectrum("AAAA").jensen_shannon(&spectrum("ACNac")).unwrap();
        assert!(close(js, hand), "{js} vs {hand}");
        let back = spectrum("ACNac").jensen_shannon(&spectrum("AAAA")).unwrap();
        assert!(close(js, back));
        assert!(close(
            spectrum("ACGT").jensen_shannon(&spectrum("TGCA")).unwrap(),
            0.0
        ));
        assert!(close(
            spectrum("AAC").jensen_shannon(&spectrum("GGT")).unwrap(),
            1.0
        ));
        assert!(spectrum("A").jensen_shannon(&spectrum("N")).is_err());
        let two = KmerSpectrum::new(&["ACGT"], 2).unwrap();
        assert!(spectrum("A").jensen_shannon(&two).is_err());
    }

    #[test]
    fn gc_content_ignores_other_bytes() {
        assert_eq!(gc_content(b"GCgcAT"), Some(4.0 / 6.0));
        assert_eq!(gc_content(b"ANNT-"), Some(0.0));
        assert_eq!(gc_content(b"NN"), None);
        assert_eq!(kmer_codes(b"ACGTNAC", 2).collect::<Vec<_>>(), [1, 6, 11, 1]);
    }
}
