//! Hashed TF-IDF features of texts, randomly projected to a few hundred dimensions: the
//! feature map of "MAUVE on hashed TF-IDF features" ([`crate::hashed_tfidf_mauve`]).
//!
//! A text's word n-grams (n = 1..=max_n, words by [`crate::words`]) are hashed into
//! `2^buckets_log2` buckets; bucket b weighs `count(b) · idf(b)` with the smoothed
//! `idf(b) = ln((1 + N) / (1 + df(b))) + 1` over the N texts of the fitting corpus. That
//! sparse vector is multiplied by a fixed Gaussian matrix and scaled to unit length. The
//! matrix is never stored: entry (b, j) is one of 65,536 standard normal values drawn once
//! from the seed (Box–Muller) and picked by a hash of (seed, b, j), so the entries are
//! independent draws from a fixed sample of N(0, 1), at the cost of a table lookup each. By
//! the Johnson–Lindenstrauss lemma, cosines between texts survive the projection up to
//! O(1/√dims). The features describe word choice, not meaning: MAUVE on them is not
//! comparable with MAUVE on a language model's embeddings.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::EvalError;
use crate::text::{bucket_counts, mix};

/// The feature map's parameters.
#[derive(Clone, Debug)]
pub struct TfidfConfig {
    /// The longest word n-gram; default 2.
    pub max_n: usize,
    /// Hash buckets as a power of two, in 1..=30; default 18.
    pub buckets_log2: u32,
    /// Dimension after projection; default 256.
    pub dims: usize,
    /// Seed of the projection matrix; default 0.
    pub seed: u64,
}

impl Default for TfidfConfig {
    fn default() -> Self {
        TfidfConfig {
            max_n: 2,
            buckets_log2: 18,
            dims: 256,
            seed: 0,
        }
    }
}

/// The hashed TF-IDF feature map, with its IDF weights fitted on a corpus.
#[derive(Clone, Debug)]
pub struct HashedTfidf {
    config: TfidfConfig,
    idf: Vec<f32>,
    normals: Vec<f32>,
}

/// The number of tabulated normal values (indexed by 16 hash bits).
const NORMALS: usize = 1 << 16;

/// `NORMALS` standard normal values drawn by Box–Muller from `seed`.
fn normal_table(seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut table = Vec::with_capacity(NORMALS);
    while table.len() < NORMALS {
        let u1 = 1.0 - rng.random::<f64>(); // (0, 1]
        let radius = (-2.0 * u1.ln()).sqrt();
        let (sin, cos) = (std::f64::consts::TAU * rng.random::<f64>()).sin_cos();
        table.extend([(radius * cos) as f32, (radius * sin) as f32]);
    }
    table
}

/// Adds `weight` times the projection row of `bucket` to `out`: entry j is the table value
/// picked by 16 bits of a hash of (seed, bucket, j / 4).
fn add_projection_row(out: &mut [f32], normals: &[f32], seed: u64, bucket: u32, weight: f32) {
    let row = mix(seed ^ mix(u64::from(bucket) + 1));
    for (j, quad) in out.chunks_mut(4).enumerate() {
        let h = mix(row.wrapping_add(j as u64));
        for (i, v) in quad.iter_mut().enumerate() {
            *v += weight * normals[((h >> (16 * i)) & 0xffff) as usize];
        }
    }
}

impl HashedTfidf {
    /// Fits the IDF weights on `corpus`. Errors when the corpus is empty or the configuration
    /// is out of range.
    pub fn fit<S: AsRef<str>>(corpus: &[S], config: &TfidfConfig) -> Result<Self, EvalError> {
        if corpus.is_empty() {
            return Err(EvalError::Input("no text to fit TF-IDF weights on".into()));
        }
        if config.max_n == 0 || config.dims == 0 || !(1..=30).contains(&config.buckets_log2) {
            return Err(EvalError::Input(format!(
                "tfidf: max_n = {}, dims = {}, buckets_log2 = {}: need max_n ≥ 1, dims ≥ 1 and \
                 buckets_log2 in 1..=30",
                config.max_n, config.dims, config.buckets_log2
            )));
        }
        let mut df = vec![0u32; 1 << config.buckets_log2];
        for text in corpus {
            for (b, _) in bucket_counts(text.as_ref(), config.max_n, config.buckets_log2) {
                df[b as usize] += 1;
            }
        }
        let n = corpus.len() as f64;
        let idf = df
            .iter()
            .map(|&d| (((1.0 + n) / (1.0 + f64::from(d))).ln() + 1.0) as f32)
            .collect();
        Ok(HashedTfidf {
            config: config.clone(),
            idf,
            normals: normal_table(config.seed),
        })
    }

    /// The unit-length feature vector of `text` (all zeros when it has no word).
    pub fn embed(&self, text: &str) -> Vec<f32> {
        let c = &self.config;
        let mut out = vec![0f32; c.dims];
        for (b, count) in bucket_counts(text, c.max_n, c.buckets_log2) {
            let weight = count as f32 * self.idf[b as usize];
            add_projection_row(&mut out, &self.normals, c.seed, b, weight);
        }
        let norm = out.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            out.iter_mut().for_each(|v| *v /= norm);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The projection's entries are standard normal: over 64 buckets × 256 coordinates the
    /// sample mean is within 4 standard errors of 0 (4 / √16384 ≈ 0.031), the variance
    /// within 0.05 of 1 (4 standard errors of a sample variance, √(2/16384) ≈ 0.011, plus
    /// slack), and the share beyond ±1.96 within 0.01 of 0.05.
    #[test]
    fn projection_entries_are_standard_normal() {
        let normals = normal_table(9);
        let mut values = Vec::new();
        for bucket in 0..64 {
            let mut row = vec![0f32; 256];
            add_projection_row(&mut row, &normals, 9, bucket, 1.0);
            values.extend(row.into_iter().map(f64::from));
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        let tails = values.iter().filter(|v| v.abs() > 1.96).count() as f64 / n;
        assert!(mean.abs() < 0.031, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "variance {var}");
        assert!((tails - 0.05).abs() < 0.01, "tails {tails}");
    }

    /// Features are unit vectors whose cosines match those of the exact TF-IDF vectors,
    /// computed here from n-gram strings without hashing, within 0.3: a projected cosine
    /// errs by about √((1 + ρ²) / 256) ≤ 0.09, so 0.3 is over three standard deviations.
    #[test]
    fn cosines_survive_the_projection() {
        use std::collections::HashMap;
        let corpus = [
            "the cat sat on the mat",
            "the cat sat on a mat today",
            "stock prices fell sharply in early trading",
            "the stock of cat food fell",
            "",
        ];
        let map = HashedTfidf::fit(&corpus, &TfidfConfig::default()).unwrap();
        let f: Vec<Vec<f32>> = corpus.iter().map(|t| map.embed(t)).collect();
        let grams = |t: &str| {
            let w = crate::words(t);
            let mut g: HashMap<String, f64> = HashMap::new();
            for n in 1..=2 {
                for win in w.windows(n) {
                    *g.entry(win.join(" ")).or_default() += 1.0;
                }
            }
            g
        };
        let counts: Vec<HashMap<String, f64>> = corpus.iter().map(|t| grams(t)).collect();
        let idf = |g: &str| {
            let df = counts.iter().filter(|c| c.contains_key(g)).count() as f64;
            (6.0 / (1.0 + df)).ln() + 1.0
        };
        let tfidf: Vec<HashMap<&str, f64>> = counts
            .iter()
            .map(|c| c.iter().map(|(g, n)| (g.as_str(), n * idf(g))).collect())
            .collect();
        let cosine = |a: &HashMap<&str, f64>, b: &HashMap<&str, f64>| {
            let dot: f64 = a.iter().map(|(g, v)| v * b.get(g).unwrap_or(&0.0)).sum();
            let norm = |m: &HashMap<&str, f64>| m.values().map(|v| v * v).sum::<f64>().sqrt();
            dot / (norm(a) * norm(b))
        };
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        for i in 0..4 {
            assert!((dot(&f[i], &f[i]) - 1.0).abs() < 1e-5);
            for j in 0..i {
                let exact = cosine(&tfidf[i], &tfidf[j]);
                let projected = f64::from(dot(&f[i], &f[j]));
                assert!(
                    (projected - exact).abs() < 0.3,
                    "{i} {j}: {projected} vs {exact}"
                );
            }
        }
        assert!(f[4].iter().all(|&v| v == 0.0));
        assert_eq!(map.embed(corpus[0]), f[0]);
        assert!(HashedTfidf::fit(&[] as &[&str], &TfidfConfig::default()).is_err());
    }
}
