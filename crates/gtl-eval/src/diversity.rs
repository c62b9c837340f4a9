//! Diversity of generated samples (distinct-n, repetition inside a sample) and memorisation
//! (samples that share a long n-gram with the training data). Samples are token sequences of
//! any hashable type: word lists from [`crate::words`] or token ids.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hash, Hasher};

use crate::EvalError;
use crate::text::mix;

fn check_n(n: usize) -> Result<(), EvalError> {
    if n == 0 {
        return Err(EvalError::Input("n-grams need n ≥ 1".into()));
    }
    Ok(())
}

fn share(count: usize, total: usize) -> f64 {
    if total == 0 {
        0.0
    } else {
        count as f64 / total as f64
    }
}

/// Distinct-n: the number of distinct n-grams over all samples divided by the number of
/// n-grams (n-grams do not cross samples); 0 when there is none. Errors when `n = 0`.
pub fn distinct_n<T: Hash + Eq, S: AsRef<[T]>>(samples: &[S], n: usize) -> Result<f64, EvalError> {
    check_n(n)?;
    let mut seen: HashSet<&[T]> = HashSet::new();
    let mut total = 0;
    for window in samples.iter().flat_map(|s| s.as_ref().windows(n)) {
        total += 1;
        seen.insert(window);
    }
    Ok(share(seen.len(), total))
}

/// Repetition rate: the share of n-grams that repeat an n-gram seen earlier in the same
/// sample, pooled over samples (each sample's first occurrences are not repeats); 0 when
/// there is no n-gram. With n = 4 it measures the loops of degenerate text. Errors when
/// `n = 0`.
pub fn repetition_rate<T: Hash + Eq, S: AsRef<[T]>>(
    samples: &[S],
    n: usize,
) -> Result<f64, EvalError> {
    check_n(n)?;
    let (mut repeats, mut total) = (0, 0);
    for sample in samples {
        let mut seen: HashSet<&[T]> = HashSet::new();
        for window in sample.as_ref().windows(n) {
            total += 1;
            repeats += usize::from(!seen.insert(window));
        }
    }
    Ok(share(repeats, total))
}

/// A hasher for keys that are already well-mixed 64-bit hashes.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = bytes.iter().fold(self.0, |h, &b| mix(h ^ u64::from(b)));
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type HashKeyed<V> = HashMap<u64, V, BuildHasherDefault<PassThrough>>;

/// The Mersenne prime 2^61 − 1, the modulus of the rolling hash.
const MODULUS: u64 = (1 << 61) - 1;
/// The rolling hash's base (any fixed residue far from 0 and 1).
const BASE: u64 = 0x0d6e_8fed_2c3b_5a41 % MODULUS;

fn mul_mod(a: u64, b: u64) -> u64 {
    let t = u128::from(a) * u128::from(b);
    let r = (t as u64 & MODULUS) + (t >> 61) as u64;
    if r >= MODULUS { r - MODULUS } else { r }
}

/// Polynomial hashes of every window of length `n`, by a rolling update, in order.
fn rolling_hashes(tokens: &[u32], n: usize, base: u64) -> impl Iterator<Item = u64> + '_ {
    let top = (1..n).fold(1, |p, _| mul_mod(p, base)); // base^(n-1)
    let mut hash = 0u64;
    tokens.iter().enumerate().filter_map(move |(i, &t)| {
        if i >= n {
            let out = mul_mod(u64::from(tokens[i - n]) + 1, top);
            hash = (hash + MODULUS - out) % MODULUS;
        }
        hash = (mul_mod(hash, base) + u64::from(t) + 1) % MODULUS;
        (i + 1 >= n).then(|| mix(hash))
    })
}

/// Every length-n token window of a training set, indexed by a rolling hash and checked
/// exactly on lookup, for memorisation: whether a sample contains an n-gram that also
/// occurs in the training data (the GTL paper uses n = 50, [`NgramIndex::DEFAULT_N`]).
/// Building and querying take time linear in the number of tokens; the index keeps a copy of
/// the training tokens and one entry per distinct window, about 20 bytes per training token.
#[derive(Clone, Debug)]
pub struct NgramIndex {
    n: usize,
    base: u64,
    tokens: Vec<u32>,
    /// Window hash → start in `tokens` of the first window with that hash.
    first: HashKeyed<u32>,
    /// Starts of further windows that differ from `first`'s but share its hash.
    collisions: HashKeyed<Vec<u32>>,
}

impl NgramIndex {
    /// The n of the GTL paper's memorisation metric.
    pub const DEFAULT_N: usize = 50;

    /// Indexes the length-`n` windows of each training sequence (windows do not cross
    /// sequences). Errors when `n = 0` or the training set holds 2^32 tokens or more.
    pub fn new(train: &[Vec<u32>], n: usize) -> Result<Self, EvalError> {
        Self::with_base(train, n, BASE)
    }

    fn with_base(train: &[Vec<u32>], n: usize, base: u64) -> Result<Self, EvalError> {
        check_n(n)?;
        let size: usize = train.iter().map(Vec::len).sum();
        if u32::try_from(size).is_err() {
            return Err(EvalError::Input(format!(
                "an n-gram index holds under 2^32 tokens (got {size})"
            )));
        }
        let mut index = NgramIndex {
            n,
            base,
            tokens: Vec::with_capacity(size),
            first: HashKeyed::default(),
            collisions: HashKeyed::default(),
        };
        for sequence in train {
            let offset = index.tokens.len();
            index.tokens.extend_from_slice(sequence);
            for (i, hash) in rolling_hashes(sequence, n, base).enumerate() {
                let start = (offset + i) as u32;
                match index.first.get(&hash) {
                    None => {
                        index.first.insert(hash, start);
                    }
                    Some(&known) => {
                        let window = &sequence[i..i + n];
                        if !index.holds(hash, known, window) {
                            index.collisions.entry(hash).or_default().push(start);
                        }
                    }
                }
            }
        }
        Ok(index)
    }

    /// The n of the indexed n-grams.
    pub fn n(&self) -> usize {
        self.n
    }

    fn window(&self, start: u32) -> &[u32] {
        &self.tokens[start as usize..start as usize + self.n]
    }

    /// Whether `window` equals an indexed window of this hash (`first` is its first start).
    fn holds(&self, hash: u64, first: u32, window: &[u32]) -> bool {
        self.window(first) == window
            || self
                .collisions
                .get(&hash)
                .is_some_and(|starts| starts.iter().any(|&s| self.window(s) == window))
    }

    /// Whether `ngram` (of length n) occurs in the training data.
    pub fn contains(&self, ngram: &[u32]) -> bool {
        ngram.len() == self.n && self.shares_ngram(ngram)
    }

    /// Whether some length-n window of `sample` occurs in the training data.
    pub fn shares_ngram(&self, sample: &[u32]) -> bool {
        rolling_hashes(sample, self.n, self.base)
            .enumerate()
            .any(|(i, hash)| {
                self.first
                    .get(&hash)
                    .is_some_and(|&first| self.holds(hash, first, &sample[i..i + self.n]))
            })
    }

    /// The share of `samples` that share an n-gram with the training data; 0 when there is
    /// no sample.
    pub fn memorised_share(&self, samples: &[Vec<u32>]) -> f64 {
        let hits = samples.iter().filter(|s| self.shares_ngram(s)).count();
        share(hits, samples.len())
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    #[test]
    fn distinct_and_repeated_ngrams_of_a_hand_made_set() {
        let samples = [vec!["a", "b", "a", "b", "a"], vec!["a", "b"], vec![]];
        // Bigrams: ab ba ab ba | ab → distinct {ab, ba} = 2 of 5; repeats inside a sample:
        // the second ab and ba of the first sample = 2 of 5.
        assert_eq!(distinct_n(&samples, 2).unwrap(), 2.0 / 5.0);
        assert_eq!(repetition_rate(&samples, 2).unwrap(), 2.0 / 5.0);
        // Unigrams: 7, distinct {a, b}; repeats: the last three of the first sample (the
        // second sample starts afresh).
        assert_eq!(distinct_n(&samples, 1).unwrap(), 2.0 / 7.0);
        assert_eq!(repetition_rate(&samples, 1).unwrap(), 3.0 / 7.0);
        assert_eq!(distinct_n(&samples, 6).unwrap(), 0.0);
        assert!(distinct_n(&samples, 0).is_err());
        assert!(repetition_rate(&samples, 0).is_err());
    }

    /// Rolling hashes equal hashes computed from scratch on each window.
    #[test]
    fn rolling_hashes_match_direct_ones() {
        let tokens: Vec<u32> = (0..40).map(|i| (i * 7919) % 13).collect();
        for n in [1, 3, 8] {
            let direct: Vec<u64> = tokens
                .windows(n)
                .map(|w| {
                    let h = w
                        .iter()
                        .fold(0, |h, &t| (mul_mod(h, BASE) + u64::from(t) + 1) % MODULUS);
                    mix(h)
                })
                .collect();
            assert_eq!(rolling_hashes(&tokens, n, BASE).collect::<Vec<_>>(), direct);
        }
    }

    /// Against a brute-force scan of every training window, with the real hash and with a
    /// base of 1 (the hash of a window is then its token sum, so many windows collide and
    /// only the exact check tells them apart).
    #[test]
    fn memorisation_matches_a_brute_force_scan() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let mut draw = |count: usize, max_len: usize| -> Vec<Vec<u32>> {
            (0..count)
                .map(|_| {
                    let len = rng.random_range(0..max_len);
                    (0..len).map(|_| rng.random_range(0..3)).collect()
                })
                .collect()
        };
        let train = draw(20, 15);
        let samples = draw(300, 12);
        for n in [1, 3, 5, 7] {
            let brute = |s: &Vec<u32>| {
                s.windows(n)
                    .any(|w| train.iter().any(|t| t.windows(n).any(|u| u == w)))
            };
            let expected = samples.iter().filter(|s| brute(s)).count() as f64 / 300.0;
            for base in [BASE, 1] {
                let index = NgramIndex::with_base(&train, n, base).unwrap();
                for s in &samples {
                    assert_eq!(index.shares_ngram(s), brute(s), "n {n}, base {base}, {s:?}");
                }
                assert_eq!(index.memorised_share(&samples), expected);
            }
            if n == 5 {
                assert!(expected > 0.05 && expected < 0.95, "{expected}"); // not trivial
            }
        }
        let index = NgramIndex::new(&[vec![1, 2, 3]], 2).unwrap();
        assert!(index.contains(&[2, 3]) && !index.contains(&[3, 2]) && !index.contains(&[2]));
        assert!(NgramIndex::new(&[], 0).is_err());
    }
}
