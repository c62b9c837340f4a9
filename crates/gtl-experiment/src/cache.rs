//! The one cache rule of every stage: a stage's folder is named by a hash of its key (what
//! its artefacts depend on, input files by their contents, and the format version), holds
//! that key in `key.txt`, and counts as finished only when `done.json` (written last,
//! atomically) parses and the key matches.

use std::path::{Path, PathBuf};

use gtl_models::training::write_atomically;
use serde::{Deserialize, Serialize};

use crate::{ExperimentError, Result};

/// Version of the stages' artefacts; part of every key, so the outputs of an older format
/// are never reused. Raise it whenever a stage's outputs change for the same key.
pub const FORMAT_VERSION: u32 = 1;

/// The record a finished stage leaves in `done.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Done {
    /// [`FORMAT_VERSION`] of the run that finished it.
    pub format: u32,
    /// The stage's label when it ran.
    pub label: String,
    /// Wall time of the run that finished it, in seconds.
    pub seconds: f64,
    /// The stage's own summary.
    pub summary: serde_json::Value,
}

/// The folder of a stage of kind `kind` with full key `key` under `root`.
pub fn stage_dir(root: &Path, kind: &str, key: &str) -> PathBuf {
    root.join(format!("{kind}-{:08x}", crc32fast::hash(key.as_bytes())))
}

/// The finished record in `dir` when it was written under `key`; `None` when the stage has
/// not finished (no record, another key, or a record of another format version).
pub fn finished(dir: &Path, key: &str) -> Result<Option<Done>> {
    let done = dir.join("done.json");
    if !done.is_file() {
        return Ok(None);
    }
    let stored = std::fs::read_to_string(dir.join("key.txt")).unwrap_or_default();
    if stored != key {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&done).map_err(|e| ExperimentError::io(&done, e))?;
    match serde_json::from_str::<Done>(&text) {
        Ok(record) if record.format == FORMAT_VERSION => Ok(Some(record)),
        Ok(_) => Ok(None),
        Err(e) => {
            tracing::warn!(
                "{}: not a finished-stage record ({e}); the stage runs again",
                done.display()
            );
            Ok(None)
        }
    }
}

/// Creates the stage's folder and records its key; a folder holding another key (a hash
/// collision, or a hand-edited folder) is refused rather than overwritten.
pub fn claim(dir: &Path, key: &str) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| ExperimentError::io(dir, e))?;
    let path = dir.join("key.txt");
    match std::fs::read_to_string(&path) {
        Ok(existing) if existing != key => Err(ExperimentError::Format {
            path,
            message: "holds a stage of other settings (key.txt differs): remove the folder to \
                      run it again"
                .into(),
        }),
        Ok(_) => Ok(()),
        Err(_) => Ok(write_atomically(&path, key.as_bytes())?),
    }
}

/// Marks the stage in `dir` finished.
pub fn mark_done(dir: &Path, done: &Done) -> Result<()> {
    let text = crate::error::to_json(done, "done.json")?;
    Ok(write_atomically(&dir.join("done.json"), text.as_bytes())?)
}

/// A fingerprint of a file's contents (its length and CRC-32) for cache keys: a key that
/// names a file changes when the file does.
pub fn file_fingerprint(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| ExperimentError::io(path, e))?;
    Ok(format!(
        "{} bytes, crc32 {:08x}",
        bytes.len(),
        crc32fast::hash(&bytes)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder counts as finished only with its own key and the current format; another
    /// key is refused, and a changed file changes its fingerprint.
    #[test]
    fn only_a_matching_key_and_format_count_as_finished() {
        let root = std::env::temp_dir().join(format!("gtl-cache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dir = stage_dir(&root, "denoiser", "key a");
        assert!(finished(&dir, "key a").unwrap().is_none());
        claim(&dir, "key a").unwrap();
        assert!(
            finished(&dir, "key a").unwrap().is_none(),
            "no done.json yet"
        );
        let done = Done {
            format: FORMAT_VERSION,
            label: "denoiser".into(),
            seconds: 1.5,
            summary: serde_json::json!({ "steps": 3 }),
        };
        mark_done(&dir, &done).unwrap();
        let found = finished(&dir, "key a").unwrap().unwrap();
        assert_eq!(found.summary["steps"], 3);
        assert!(finished(&dir, "key b").unwrap().is_none());
        assert!(claim(&dir, "key b").is_err());
        let old = Done {
            format: FORMAT_VERSION + 1,
            ..done
        };
        mark_done(&dir, &old).unwrap();
        assert!(finished(&dir, "key a").unwrap().is_none(), "another format");
        std::fs::write(dir.join("done.json"), "{ truncated").unwrap();
        assert!(
            finished(&dir, "key a").unwrap().is_none(),
            "a corrupt record"
        );

        let file = root.join("chain.json");
        std::fs::write(&file, "[1, 2]").unwrap();
        let before = file_fingerprint(&file).unwrap();
        std::fs::write(&file, "[1, 3]").unwrap();
        assert_ne!(before, file_fingerprint(&file).unwrap());
        let _ = std::fs::remove_dir_all(&root);
    }
}
