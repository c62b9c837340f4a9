//! Files of samples: JSONL with one sequence of token ids per line, written atomically
//! (atomic writes are gtl-models' `write_atomically`, the one place that does them).

use std::path::Path;

use gtl_models::training::write_atomically;
use serde::{Deserialize, Serialize};

use crate::{ExperimentError, Result};

/// One line of a samples file: token ids, and the decoded text where the task has a
/// tokenizer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SampleLine {
    /// A bare JSON array of token ids.
    Tokens(Vec<u32>),
    /// `{"tokens": [...], "text": "..."}`.
    Decoded {
        /// Token ids.
        tokens: Vec<u32>,
        /// The decoded text or sequence.
        #[serde(default)]
        text: Option<String>,
    },
}

impl SampleLine {
    /// The token ids.
    pub fn tokens(&self) -> &[u32] {
        match self {
            SampleLine::Tokens(tokens) | SampleLine::Decoded { tokens, .. } => tokens,
        }
    }
}

/// Writes token sequences as JSONL (one JSON array per line), atomically.
pub fn write_jsonl(path: &Path, sequences: &[Vec<u32>]) -> Result<()> {
    let mut text = String::with_capacity(sequences.len() * 64);
    for sequence in sequences {
        text.push_str(&serde_json::to_string(sequence).map_err(|e| {
            ExperimentError::Serialise {
                what: path.display().to_string(),
                message: e.to_string(),
            }
        })?);
        text.push('\n');
    }
    Ok(write_atomically(path, text.as_bytes())?)
}

/// Writes token sequences with their decoded texts as JSONL objects
/// (`{"tokens": [...], "text": "..."}`), atomically.
pub fn write_decoded_jsonl(path: &Path, sequences: &[Vec<u32>], texts: &[String]) -> Result<()> {
    let mut text = String::new();
    for (tokens, decoded) in sequences.iter().zip(texts) {
        let line = SampleLine::Decoded {
            tokens: tokens.clone(),
            text: Some(decoded.clone()),
        };
        text.push_str(
            &serde_json::to_string(&line).map_err(|e| ExperimentError::Serialise {
                what: path.display().to_string(),
                message: e.to_string(),
            })?,
        );
        text.push('\n');
    }
    Ok(write_atomically(path, text.as_bytes())?)
}

/// Reads a samples file: each non-empty line a JSON array of token ids or an object with a
/// `tokens` array. Every sequence must have `length` tokens (when given) and every id must
/// be below `num_tokens` (when given); errors name the file and the line.
pub fn read_samples(
    path: &Path,
    length: Option<usize>,
    num_tokens: Option<usize>,
) -> Result<Vec<Vec<u32>>> {
    let text = std::fs::read_to_string(path).map_err(|e| ExperimentError::io(path, e))?;
    parse_samples(&text, path, length, num_tokens)
}

/// [`read_samples`] of a file's text (`path` names it in errors).
pub fn parse_samples(
    text: &str,
    path: &Path,
    length: Option<usize>,
    num_tokens: Option<usize>,
) -> Result<Vec<Vec<u32>>> {
    let mut sequences = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let fail = |message: String| ExperimentError::Format {
            path: path.to_path_buf(),
            message: format!("line {}: {message}", index + 1),
        };
        let parsed: SampleLine = serde_json::from_str(line).map_err(|_| {
            fail("not a JSON array of token ids nor an object with a \"tokens\" array".into())
        })?;
        let tokens = parsed.tokens();
        if let Some(length) = length
            && tokens.len() != length
        {
            return Err(fail(format!(
                "{} tokens, the run's sequences have {length}",
                tokens.len()
            )));
        }
        if let Some(limit) = num_tokens
            && let Some(bad) = tokens.iter().find(|&&t| t as usize >= limit)
        {
            return Err(fail(format!(
                "token {bad} is out of range: the run's tokens are 0..{limit}"
            )));
        }
        sequences.push(tokens.to_vec());
    }
    Ok(sequences)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Arrays and objects both read back; a short line, an out-of-range token and a broken
    /// line are refused with their line number.
    #[test]
    fn samples_round_trip_and_bad_lines_are_named() {
        let dir = std::env::temp_dir().join(format!("gtl-io-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("samples.jsonl");
        let sequences = vec![vec![0, 1, 2], vec![2, 2, 0]];
        write_jsonl(&path, &sequences).unwrap();
        assert_eq!(read_samples(&path, Some(3), Some(3)).unwrap(), sequences);
        let mixed = dir.join("mixed.jsonl");
        std::fs::write(
            &mixed,
            "[0,1,2]\n\n{\"tokens\": [1,1,1], \"text\": \"bbb\"}\n",
        )
        .unwrap();
        assert_eq!(
            read_samples(&mixed, Some(3), Some(3)).unwrap(),
            vec![vec![0, 1, 2], vec![1, 1, 1]]
        );
        for (text, expected) in [
            ("[0,1,2]\n[0,1]\n", "line 2: 2 tokens"),
            ("[0,1,2]\n[0,1,7]\n", "line 2: token 7 is out of range"),
            ("[0,1,2]\n[0,1,2]\n{oops\n", "line 3: not a JSON array"),
        ] {
            std::fs::write(&mixed, text).unwrap();
            let err = read_samples(&mixed, Some(3), Some(3))
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{err}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
