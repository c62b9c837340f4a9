//! Training checkpoints: one self-checking file, written atomically.
//!
//! Layout: the magic `GTLCKPT1`, then four length-prefixed (u64, little endian) sections —
//! the run state as JSON, the model record, the optimiser record, the EMA record (empty when
//! there is no EMA) — then a CRC-32 of everything before it. A truncated or corrupted file is
//! refused with a clear error before anything is decoded, and the file is replaced only by
//! renaming a complete temporary file over it.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

const MAGIC: &[u8; 8] = b"GTLCKPT1";

/// Errors reading or writing checkpoints and run files.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a complete, intact checkpoint.
    #[error("{path}: not a valid gtl checkpoint ({reason}); it was left untouched")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// One row of `metrics.csv`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricsRow {
    /// 1-based optimiser step.
    pub step: usize,
    /// Training loss of the step.
    pub loss: f64,
    /// Learning rate used by the step.
    pub lr: f64,
    /// Validation metric, on steps where it was computed.
    pub validation: Option<f64>,
}

/// The exact position of a `ChaCha8Rng` stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RngState {
    seed: [u8; 32],
    stream: u64,
    word_pos: u128,
}

impl RngState {
    /// Captures the generator's position.
    pub fn capture(rng: &ChaCha8Rng) -> Self {
        RngState {
            seed: rng.get_seed(),
            stream: rng.get_stream(),
            word_pos: rng.get_word_pos(),
        }
    }

    /// A generator at exactly the captured position.
    pub fn restore(&self) -> ChaCha8Rng {
        use rand::SeedableRng;
        let mut rng = ChaCha8Rng::from_seed(self.seed);
        rng.set_stream(self.stream);
        rng.set_word_pos(self.word_pos);
        rng
    }
}

/// Everything of a run except the tensors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// Steps completed.
    pub step: usize,
    /// The run's generator after `step` steps.
    pub rng: RngState,
    /// Best validation metric so far.
    pub best_validation: Option<f64>,
    /// Validations since the best one.
    pub stale_validations: usize,
    /// Every completed step.
    pub history: Vec<MetricsRow>,
}

/// A decoded checkpoint file.
#[derive(Clone, Debug)]
pub struct CheckpointFile {
    /// Run state.
    pub state: RunState,
    /// Model record bytes.
    pub model: Vec<u8>,
    /// Optimiser record bytes.
    pub optimizer: Vec<u8>,
    /// EMA record bytes, if the run keeps an EMA.
    pub ema: Option<Vec<u8>>,
}

impl CheckpointFile {
    /// Writes the checkpoint atomically: a temporary file in the same directory, synced,
    /// then renamed over `path`.
    pub fn write(&self, path: &Path) -> Result<(), CheckpointError> {
        let state = serde_json::to_vec(&self.state).expect("run state serialises");
        let mut bytes = MAGIC.to_vec();
        for section in [
            &state,
            &self.model,
            &self.optimizer,
            self.ema.as_ref().unwrap_or(&Vec::new()),
        ] {
            bytes.extend_from_slice(&(section.len() as u64).to_le_bytes());
            bytes.extend_from_slice(section);
        }
        let crc = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        write_atomically(path, &bytes)
    }

    /// Reads and verifies a checkpoint.
    pub fn read(path: &Path) -> Result<Self, CheckpointError> {
        let bytes = fs::read(path).map_err(|source| CheckpointError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::decode(&bytes, path)
    }

    /// Verifies and decodes the bytes of a checkpoint file (`path` names it in errors).
    pub fn decode(bytes: &[u8], path: &Path) -> Result<Self, CheckpointError> {
        let corrupt = |reason: String| CheckpointError::Corrupt {
            path: path.to_path_buf(),
            reason,
        };
        if bytes.len() < MAGIC.len() + 4 || &bytes[..MAGIC.len()] != MAGIC {
            return Err(corrupt("missing header".into()));
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        let stored = u32::from_le_bytes(crc.try_into().expect("4 bytes"));
        if crc32fast::hash(body) != stored {
            return Err(corrupt("checksum mismatch: truncated or modified".into()));
        }
        let mut rest = &body[MAGIC.len()..];
        let mut sections = Vec::new();
        for name in ["state", "model", "optimizer", "ema"] {
            if rest.len() < 8 {
                return Err(corrupt(format!("section {name} missing")));
            }
            let (len, tail) = rest.split_at(8);
            let len = u64::from_le_bytes(len.try_into().expect("8 bytes")) as usize;
            if tail.len() < len {
                return Err(corrupt(format!("section {name} truncated")));
            }
            sections.push(tail[..len].to_vec());
            rest = &tail[len..];
        }
        let ema = sections.pop().filter(|s| !s.is_empty());
        let optimizer = sections.pop().expect("optimizer section");
        let model = sections.pop().expect("model section");
        let state =
            serde_json::from_slice(&sections[0]).map_err(|e| corrupt(format!("run state: {e}")))?;
        Ok(CheckpointFile {
            state,
            model,
            optimizer,
            ema,
        })
    }
}

/// Writes `bytes` to `path` through a synced temporary file and a rename.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let io = |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(io)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = fs::File::create(&tmp).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
        fault_point(name);
    }
    fs::rename(&tmp, path).map_err(io)
}

/// A pause for fault tests. With `GTL_FAULT_PAUSE=<file name>:<n>` in the environment, the
/// n-th [`write_atomically`] of a file with that name (counted over the process) stops after
/// its bytes are in `<file>.tmp` and before the rename: it prints
/// `gtl fault point: <file name> #<n>` on stderr and waits for the process to be killed.
/// Without the variable this is a no-op.
pub fn fault_point(name: &str) {
    use std::sync::Mutex;
    use std::sync::OnceLock;
    static PAUSE: OnceLock<Option<(String, usize)>> = OnceLock::new();
    static HITS: Mutex<usize> = Mutex::new(0);
    let pause = PAUSE.get_or_init(|| {
        let value = std::env::var("GTL_FAULT_PAUSE").ok()?;
        let (file, count) = value.rsplit_once(':')?;
        Some((file.to_string(), count.parse().ok()?))
    });
    let Some((file, count)) = pause else {
        return;
    };
    if file != name {
        return;
    }
    let mut hits = HITS.lock().unwrap_or_else(|e| e.into_inner());
    *hits += 1;
    if *hits == *count {
        eprintln!("gtl fault point: {name} #{count}");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;

    fn sample() -> CheckpointFile {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let _: u64 = rng.random();
        CheckpointFile {
            state: RunState {
                step: 7,
                rng: RngState::capture(&rng),
                best_validation: Some(0.5),
                stale_validations: 1,
                history: vec![MetricsRow {
                    step: 1,
                    loss: 2.0,
                    lr: 1e-3,
                    validation: None,
                }],
            },
            model: vec![1, 2, 3],
            optimizer: vec![4, 5],
            ema: None,
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("gtl-ckpt-{name}-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn round_trip_restores_the_generator_position() {
        let path = temp_dir("roundtrip").join("checkpoint.bin");
        let original = sample();
        original.write(&path).unwrap();
        let read = CheckpointFile::read(&path).unwrap();
        assert_eq!(read.state, original.state);
        assert_eq!(
            (read.model, read.optimizer, read.ema),
            (vec![1, 2, 3], vec![4, 5], None)
        );
        let mut a = original.state.rng.restore();
        let mut b = read.state.rng.restore();
        assert_eq!(a.random::<u64>(), b.random::<u64>());
    }

    #[test]
    fn truncated_or_flipped_files_are_refused() {
        let path = temp_dir("corrupt").join("checkpoint.bin");
        sample().write(&path).unwrap();
        let bytes = fs::read(&path).unwrap();
        fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        let err = CheckpointFile::read(&path).unwrap_err().to_string();
        assert!(err.contains("not a valid gtl checkpoint"), "{err}");
        let mut flipped = bytes.clone();
        flipped[20] ^= 0xff;
        fs::write(&path, &flipped).unwrap();
        assert!(
            CheckpointFile::read(&path)
                .unwrap_err()
                .to_string()
                .contains("checksum")
        );
        fs::write(&path, b"hello").unwrap();
        assert!(
            CheckpointFile::read(&path)
                .unwrap_err()
                .to_string()
                .contains("header")
        );
    }
}
