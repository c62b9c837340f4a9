//! A validated first-order Markov chain: sampling, exact likelihood and a JSON file format.

use std::fs;
use std::io::Write;
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::MarkovError;

/// Tolerance on the sum of every distribution of a chain.
pub(crate) const SUM_TOLERANCE: f64 = 1e-9;

/// A Markov chain over the states `0..N`: initial distribution `π` and transition matrix `P`
/// with `P[i][j] = p(x^{ℓ+1} = j | x^ℓ = i)` (MATH.md §6).
///
/// Always valid: [`MarkovChain::new`] and deserialisation check the shape and that every
/// distribution is non-negative and sums to 1 within 1e-9. The JSON form is
/// `{"initial": [..], "transition": [[..], ..]}`. Families of chains (`diagonal`,
/// `dirichlet`, `mixture`, `with_extra_states`, `pad_states`) are associated functions too.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ChainFile")]
pub struct MarkovChain {
    initial: Vec<f64>,
    transition: Vec<Vec<f64>>,
}

/// The unvalidated JSON form, checked by `TryFrom` on the way in.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChainFile {
    initial: Vec<f64>,
    transition: Vec<Vec<f64>>,
}

impl TryFrom<ChainFile> for MarkovChain {
    type Error = MarkovError;

    fn try_from(file: ChainFile) -> Result<Self, MarkovError> {
        Self::new(file.initial, file.transition)
    }
}

impl MarkovChain {
    /// A chain from its initial distribution and row-stochastic transition matrix.
    ///
    /// Errors name the offending row and value: N must be at least 1, the matrix N×N, every
    /// entry finite and non-negative, and the initial distribution and each row must sum to 1
    /// within 1e-9.
    pub fn new(initial: Vec<f64>, transition: Vec<Vec<f64>>) -> Result<Self, MarkovError> {
        let n = initial.len();
        if n == 0 {
            return Err(MarkovError::NoStates);
        }
        if transition.len() != n {
            return Err(MarkovError::RowCount {
                rows: transition.len(),
                expected: n,
            });
        }
        check_distribution(&initial, || "initial".to_string())?;
        for (row, probs) in transition.iter().enumerate() {
            if probs.len() != n {
                return Err(MarkovError::RowLength {
                    row,
                    len: probs.len(),
                    expected: n,
                });
            }
            check_distribution(probs, || format!("transition row {row}"))?;
        }
        Ok(Self {
            initial,
            transition,
        })
    }

    /// Number of states N.
    pub fn num_states(&self) -> usize {
        self.initial.len()
    }

    /// The initial distribution `π` (length N).
    pub fn initial(&self) -> &[f64] {
        &self.initial
    }

    /// The transition matrix, one row per current state.
    pub fn transition(&self) -> &[Vec<f64>] {
        &self.transition
    }

    /// Row `state` of the transition matrix: the distribution of the next state.
    pub fn transition_row(&self, state: usize) -> &[f64] {
        &self.transition[state]
    }

    /// Reads a chain from a JSON file; IO, syntax and validation errors name the path.
    pub fn load_json(path: impl AsRef<Path>) -> Result<Self, MarkovError> {
        let path = path.as_ref();
        let text = fs::read_to_string(path).map_err(|source| MarkovError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse_json(&text, path)
    }

    /// Parses and validates the JSON text of a chain file (`path` names it in errors).
    pub fn parse_json(text: &str, path: &Path) -> Result<Self, MarkovError> {
        serde_json::from_str(text).map_err(|source| MarkovError::Json {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Writes the chain as JSON, atomically: a temporary file in the same directory is written,
    /// flushed and then renamed over `path`.
    pub fn save_json(&self, path: impl AsRef<Path>) -> Result<(), MarkovError> {
        let path = path.as_ref();
        let io_error = |source| MarkovError::Io {
            path: path.to_path_buf(),
            source,
        };
        let text = serde_json::to_string(self).map_err(|source| MarkovError::Json {
            path: path.to_path_buf(),
            source,
        })?;
        let file_name = path.file_name().ok_or_else(|| {
            io_error(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "path has no file name",
            ))
        })?;
        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(file_name);
        temp_name.push(format!(".{}.tmp", std::process::id()));
        let temp_path = path.with_file_name(temp_name);
        let write = || -> std::io::Result<()> {
            let mut file = fs::File::create(&temp_path)?;
            file.write_all(text.as_bytes())?;
            file.write_all(b"\n")?;
            file.sync_all()?;
            fs::rename(&temp_path, path)
        };
        write().map_err(|source| {
            // Best effort: the temporary file is garbage whether or not this succeeds.
            let _ = fs::remove_file(&temp_path);
            io_error(source)
        })
    }

    /// Draws one sequence of `length` states.
    pub fn sample<R: Rng + ?Sized>(&self, length: usize, rng: &mut R) -> Vec<u32> {
        let mut sequence = Vec::with_capacity(length);
        if length == 0 {
            return sequence;
        }
        let mut state = draw_categorical(&self.initial, rng.random());
        sequence.push(state as u32);
        for _ in 1..length {
            state = draw_categorical(&self.transition[state], rng.random());
            sequence.push(state as u32);
        }
        sequence
    }

    /// Draws `count` sequences of `length` states from a `ChaCha8Rng` seeded with `seed`
    /// (deterministic for a given seed).
    pub fn sample_dataset(&self, count: usize, length: usize, seed: u64) -> Vec<Vec<u32>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..count).map(|_| self.sample(length, &mut rng)).collect()
    }

    /// Exact `log p(x)`; `-inf` when the sequence has probability 0 (including a token
    /// outside `0..N`). The empty sequence has log-likelihood 0.
    pub fn log_likelihood(&self, sequence: &[u32]) -> f64 {
        let n = self.num_states();
        if sequence.iter().any(|&token| token as usize >= n) {
            return f64::NEG_INFINITY;
        }
        let Some((&first, _)) = sequence.split_first() else {
            return 0.0;
        };
        let transitions = sequence
            .windows(2)
            .map(|pair| self.transition[pair[0] as usize][pair[1] as usize].ln());
        self.initial[first as usize].ln() + transitions.sum::<f64>()
    }
}

/// Checks that `probs` is a finite, non-negative distribution summing to 1 within tolerance.
fn check_distribution(probs: &[f64], what: impl Fn() -> String) -> Result<(), MarkovError> {
    if let Some((index, &value)) = probs
        .iter()
        .enumerate()
        .find(|(_, p)| !p.is_finite() || **p < 0.0)
    {
        return Err(MarkovError::InvalidProbability {
            what: what(),
            index,
            value,
        });
    }
    let sum: f64 = probs.iter().sum();
    if (sum - 1.0).abs() > SUM_TOLERANCE {
        return Err(MarkovError::NotNormalized { what: what(), sum });
    }
    Ok(())
}

/// The index selected by inverse-CDF sampling with `u ∈ [0, 1)`; never a zero-probability
/// index. If rounding leaves `u` above the total mass, the last positive index is returned.
pub(crate) fn draw_categorical(probs: &[f64], u: f64) -> usize {
    let mut cumulative = 0.0;
    for (index, &p) in probs.iter().enumerate() {
        cumulative += p;
        if u < cumulative {
            return index;
        }
    }
    probs.iter().rposition(|&p| p > 0.0).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_state() -> MarkovChain {
        MarkovChain::new(vec![0.25, 0.75], vec![vec![0.5, 0.5], vec![0.125, 0.875]]).unwrap()
    }

    fn scratch_path(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("gtl-markov-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn validation_errors_name_the_row_and_value() {
        let bad_sum = MarkovChain::new(
            vec![0.5, 0.5, 0.0],
            vec![
                vec![1.0, 0.0, 0.0],
                vec![0.0, 1.0, 0.0],
                vec![0.5, 0.4, 0.03],
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(
            bad_sum.contains("transition row 2 sums to 0.93"),
            "{bad_sum}"
        );
        assert!(bad_sum.contains("within 1e-9"), "{bad_sum}");

        let negative = MarkovChain::new(vec![1.0, 0.0], vec![vec![1.0, 0.0], vec![1.5, -0.5]])
            .unwrap_err()
            .to_string();
        assert!(
            negative.contains("transition row 1 entry 1 = -0.5"),
            "{negative}"
        );

        let nan = MarkovChain::new(vec![f64::NAN, 1.0], vec![vec![1.0, 0.0], vec![0.0, 1.0]])
            .unwrap_err()
            .to_string();
        assert!(nan.contains("initial entry 0 = NaN"), "{nan}");

        let initial = MarkovChain::new(vec![0.5, 0.6], vec![vec![1.0, 0.0], vec![0.0, 1.0]])
            .unwrap_err()
            .to_string();
        assert!(initial.contains("initial sums to 1.1"), "{initial}");

        let ragged = MarkovChain::new(vec![0.5, 0.5], vec![vec![1.0, 0.0], vec![1.0]])
            .unwrap_err()
            .to_string();
        assert!(
            ragged.contains("transition row 1 has 1 entries: must have 2"),
            "{ragged}"
        );

        let rows = MarkovChain::new(vec![1.0], vec![vec![1.0], vec![1.0]]).unwrap_err();
        assert!(matches!(
            rows,
            MarkovError::RowCount {
                rows: 2,
                expected: 1
            }
        ));
        assert!(matches!(
            MarkovChain::new(vec![], vec![]),
            Err(MarkovError::NoStates)
        ));
    }

    #[test]
    fn json_round_trip_keeps_the_chain_and_format() {
        let chain = two_state();
        let text = serde_json::to_string(&chain).unwrap();
        assert_eq!(
            text,
            r#"{"initial":[0.25,0.75],"transition":[[0.5,0.5],[0.125,0.875]]}"#
        );
        let path = scratch_path("round_trip.json");
        chain.save_json(&path).unwrap();
        assert_eq!(MarkovChain::load_json(&path).unwrap(), chain);

        // Random entries: serde_json's default float parser is exact to within one ulp.
        let random = MarkovChain::dirichlet(5, 0.7, 3).unwrap();
        random.save_json(&path).unwrap();
        let loaded = MarkovChain::load_json(&path).unwrap();
        let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-15);
        assert!(close(loaded.initial(), random.initial()));
        for state in 0..5 {
            assert!(close(
                loaded.transition_row(state),
                random.transition_row(state)
            ));
        }
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    }

    #[test]
    fn malformed_or_invalid_json_is_an_error_naming_the_path() {
        let cases = [
            ("syntax.json", r#"{"initial": [1.0], "transition": [[1.0]"#),
            ("missing.json", r#"{"initial": [1.0]}"#),
            (
                "unknown.json",
                r#"{"initial": [1.0], "transition": [[1.0]], "x": 1}"#,
            ),
            (
                "strings.json",
                r#"{"initial": ["a"], "transition": [["b"]]}"#,
            ),
            (
                "invalid.json",
                r#"{"initial": [0.5, 0.5], "transition": [[0.5, 0.5], [0.9, 0.2]]}"#,
            ),
        ];
        for (name, text) in cases {
            let path = scratch_path(name);
            fs::write(&path, text).unwrap();
            let message = MarkovChain::load_json(&path).unwrap_err().to_string();
            assert!(message.contains(name), "{message}");
        }
        let invalid = MarkovChain::load_json(scratch_path("invalid.json"))
            .unwrap_err()
            .to_string();
        assert!(
            invalid.contains("transition row 1 sums to 1.1"),
            "{invalid}"
        );
        let missing = scratch_path("does-not-exist.json");
        let message = MarkovChain::load_json(&missing).unwrap_err().to_string();
        assert!(message.contains("does-not-exist.json"), "{message}");
    }

    #[test]
    fn log_likelihood_matches_hand_computation() {
        let chain = two_state();
        let by_hand = (0.75f64 * 0.125 * 0.5 * 0.5).ln();
        assert!((chain.log_likelihood(&[1, 0, 0, 1]) - by_hand).abs() < 1e-15);
        assert_eq!(chain.log_likelihood(&[]), 0.0);
        assert!((chain.log_likelihood(&[0]) - 0.25f64.ln()).abs() < 1e-15);
        assert_eq!(chain.log_likelihood(&[0, 2]), f64::NEG_INFINITY);
        let blocked =
            MarkovChain::new(vec![1.0, 0.0], vec![vec![0.0, 1.0], vec![1.0, 0.0]]).unwrap();
        assert_eq!(blocked.log_likelihood(&[0, 0]), f64::NEG_INFINITY);
        assert_eq!(blocked.log_likelihood(&[1]), f64::NEG_INFINITY);
        assert_eq!(blocked.log_likelihood(&[0, 1, 0]), 0.0);
    }

    #[test]
    fn sample_dataset_is_deterministic_per_seed() {
        let chain = MarkovChain::dirichlet(6, 1.0, 11).unwrap();
        let a = chain.sample_dataset(20, 30, 5);
        assert_eq!(a, chain.sample_dataset(20, 30, 5));
        assert_ne!(a, chain.sample_dataset(20, 30, 6));
        assert!(a.iter().all(|s| s.len() == 30 && s.iter().all(|&x| x < 6)));
        assert!(chain.sample_dataset(3, 0, 1).iter().all(Vec::is_empty));
    }

    #[test]
    fn categorical_draw_skips_zero_probability_states() {
        let probs = [0.0, 0.5, 0.0, 0.5, 0.0];
        assert_eq!(draw_categorical(&probs, 0.0), 1);
        assert_eq!(draw_categorical(&probs, 0.5), 3);
        assert_eq!(draw_categorical(&probs, 1.0), 3);
    }
}
