//! The JSONL shard format: `PREFIX-NN.jsonl` files of one JSON document per line.
//!
//! Each line holds `id`, `primary`, `categories` (an array, primary first), `title` and
//! `abstract`. `primary` may be left out (the first category is taken), `categories` may be
//! left out (`[primary]`), `title` may be left out (empty). Blank lines are skipped.

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{DataError, Document, Domain, normalize_whitespace};

/// One line of a shard as written on disk.
#[derive(Deserialize)]
struct ShardLine {
    id: String,
    #[serde(default)]
    primary: Option<String>,
    #[serde(default)]
    categories: Vec<String>,
    #[serde(default)]
    title: String,
    #[serde(rename = "abstract")]
    text: String,
}

/// The shards `PREFIX-NN.jsonl` of `prefix` in `dir`, ordered by their number `NN`.
///
/// `NN` is one or more digits, so `math-ph-00.jsonl` is not a shard of `math`. Errors if the
/// directory is missing or holds no shard for the prefix.
pub fn shard_paths(dir: &Path, prefix: &str) -> Result<Vec<PathBuf>, DataError> {
    if !dir.is_dir() {
        return Err(DataError::MissingDirectory {
            path: dir.to_path_buf(),
        });
    }
    let entries = fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    let mut shards = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| DataError::io(dir, e))?.path();
        let number = path
            .file_name()
            .and_then(|name| name.to_str())
            .and_then(|name| name.strip_prefix(prefix)?.strip_prefix('-'))
            .and_then(|rest| rest.strip_suffix(".jsonl"))
            .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|digits| digits.parse::<u64>().ok());
        if let Some(number) = number {
            shards.push((number, path));
        }
    }
    if shards.is_empty() {
        return Err(DataError::NoShards {
            dir: dir.to_path_buf(),
            prefix: prefix.to_string(),
        });
    }
    shards.sort();
    Ok(shards.into_iter().map(|(_, path)| path).collect())
}

/// Every document of one JSONL file, in file order.
///
/// A line that is not a JSON object with the fields above, or that has neither `primary`
/// nor `categories`, is an error naming the file and the line.
pub fn read_jsonl(path: &Path) -> Result<Vec<Document>, DataError> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut documents = Vec::new();
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| DataError::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let malformed = |message: String| DataError::MalformedLine {
            path: path.to_path_buf(),
            line: index + 1,
            message,
        };
        let parsed: ShardLine =
            serde_json::from_str(&line).map_err(|e| malformed(e.to_string()))?;
        let mut categories = parsed.categories;
        let primary = match parsed.primary {
            Some(primary) => primary,
            None => categories
                .first()
                .cloned()
                .ok_or_else(|| malformed("neither `primary` nor `categories` given".into()))?,
        };
        if categories.is_empty() {
            categories.push(primary.clone());
        }
        documents.push(Document {
            id: parsed.id,
            primary,
            categories,
            title: normalize_whitespace(&parsed.title),
            text: normalize_whitespace(&parsed.text),
        });
    }
    Ok(documents)
}

/// Every document of every shard of `prefix` in `dir`, shards in order, no filtering.
pub fn read_shards(dir: &Path, prefix: &str) -> Result<Vec<Document>, DataError> {
    let mut documents = Vec::new();
    for path in shard_paths(dir, prefix)? {
        documents.extend(read_jsonl(&path)?);
    }
    Ok(documents)
}

/// The documents of `dir` whose primary category is in `domain`.
///
/// Each prefix is looked up in the shards of its archive (the part before the first `.`:
/// `cs.CV` reads `cs-NN.jsonl`); every archive is read once, in the order its first prefix
/// appears. Errors if an archive has no shard or if no document is in the domain.
pub fn read_domain(dir: &Path, domain: &Domain) -> Result<Vec<Document>, DataError> {
    let mut archives: Vec<&str> = Vec::new();
    for prefix in domain.prefixes() {
        let archive = prefix.split('.').next().unwrap_or(prefix);
        if !archives.contains(&archive) {
            archives.push(archive);
        }
    }
    let mut documents = Vec::new();
    for archive in archives {
        documents.extend(
            read_shards(dir, archive)?
                .into_iter()
                .filter(|doc| domain.accepts(doc)),
        );
    }
    if documents.is_empty() {
        return Err(DataError::EmptyDomain {
            domain: domain.to_string(),
            source_name: dir.display().to_string(),
        });
    }
    Ok(documents)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::ScratchDir;

    fn line(id: &str, primary: &str, text: &str) -> String {
        format!(
            r#"{{"id": "{id}", "primary": "{primary}", "categories": ["{primary}"], "title": "T", "abstract": "{text}"}}"#
        )
    }

    #[test]
    fn shards_are_ordered_by_number_and_exclude_other_archives() {
        let dir = ScratchDir::new("shards-order");
        for name in [
            "math-10.jsonl",
            "math-2.jsonl",
            "math-ph-00.jsonl",
            "math-x.jsonl",
        ] {
            dir.write(name, "");
        }
        let names: Vec<String> = shard_paths(dir.path(), "math")
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["math-2.jsonl", "math-10.jsonl"]);
    }

    #[test]
    fn missing_directory_and_missing_prefix_are_errors() {
        let dir = ScratchDir::new("shards-missing");
        let absent = dir.path().join("nope");
        let err = read_shards(&absent, "cs").unwrap_err();
        assert!(matches!(err, DataError::MissingDirectory { .. }), "{err}");
        dir.write("cs-00.jsonl", &line("1", "cs.LG", "a"));
        let err = read_shards(dir.path(), "physics").unwrap_err();
        assert!(matches!(err, DataError::NoShards { .. }), "{err}");
        assert!(err.to_string().contains("physics-NN.jsonl"), "{err}");
    }

    #[test]
    fn malformed_line_names_file_and_line() {
        let dir = ScratchDir::new("shards-malformed");
        let text = format!("{}\n\n{{\"id\": \"2\"}}\n", line("1", "cs.LG", "a"));
        let path = dir.write("cs-00.jsonl", &text);
        let err = read_jsonl(&path).unwrap_err().to_string();
        assert!(err.contains("cs-00.jsonl:3:"), "{err}");
        assert!(err.contains("abstract"), "{err}");
    }

    #[test]
    fn primary_falls_back_to_first_category_and_text_is_normalised() {
        let dir = ScratchDir::new("shards-fallback");
        let path = dir.write(
            "x-0.jsonl",
            r#"{"id": "9", "categories": ["hep-th", "math-ph"], "abstract": " a\n b "}"#,
        );
        let docs = read_jsonl(&path).unwrap();
        assert_eq!(docs[0].primary, "hep-th");
        assert_eq!(docs[0].text, "a b");
        let path = dir.write("y-0.jsonl", r#"{"id": "9", "abstract": "a"}"#);
        let err = read_jsonl(&path).unwrap_err().to_string();
        assert!(err.contains("y-0.jsonl:1: neither"), "{err}");
    }

    #[test]
    fn domain_reads_each_archive_once_and_filters_by_primary() {
        let dir = ScratchDir::new("shards-domain");
        let cs = [line("1", "cs.LG", "a"), line("2", "cs.CV", "b")].join("\n");
        dir.write("cs-00.jsonl", &cs);
        dir.write("math-00.jsonl", &line("3", "math-ph", "c"));
        let domain = Domain::new(["cs.CV", "cs.LG"]).unwrap();
        let ids: Vec<String> = read_domain(dir.path(), &domain)
            .unwrap()
            .into_iter()
            .map(|d| d.id)
            .collect();
        assert_eq!(ids, ["1", "2"]);
        let err = read_domain(dir.path(), &Domain::new(["math"]).unwrap()).unwrap_err();
        assert!(matches!(err, DataError::EmptyDomain { .. }), "{err}");
        assert!(err.to_string().contains("[math]"), "{err}");
    }
}
