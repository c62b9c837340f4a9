//! The arXiv metadata snapshot (`arxiv-metadata-oai-snapshot.json`), read as a stream.
//!
//! The file holds one JSON object per line with, among many other fields, `id`, `title`,
//! `categories` (ONE space-separated string, primary first) and `abstract`. The real file is
//! about 4 GB, so it is read line by line and only the documents a filter accepts are kept.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::Deserialize;

use crate::{DataError, Document, normalize_whitespace};

/// The fields of one snapshot line that a [`Document`] needs; the rest are skipped.
#[derive(Deserialize)]
struct SnapshotLine {
    id: String,
    categories: String,
    #[serde(default)]
    title: String,
    #[serde(rename = "abstract")]
    text: String,
}

/// The documents of a metadata snapshot that `keep` accepts, in file order.
///
/// The filter sees the finished document (whitespace already normalised), e.g.
/// `|doc| domain.accepts(doc)`. Blank lines are skipped; a line without `id`, `categories`
/// or `abstract`, or with no category, is an error naming the file and the line. The result
/// may be empty.
pub fn read_arxiv_snapshot(
    path: &Path,
    mut keep: impl FnMut(&Document) -> bool,
) -> Result<Vec<Document>, DataError> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut line = String::new();
    let mut documents = Vec::new();
    let mut number = 0;
    loop {
        line.clear();
        if reader
            .read_line(&mut line)
            .map_err(|e| DataError::io(path, e))?
            == 0
        {
            break;
        }
        number += 1;
        if line.trim().is_empty() {
            continue;
        }
        let malformed = |message: String| DataError::MalformedLine {
            path: path.to_path_buf(),
            line: number,
            message,
        };
        let parsed: SnapshotLine =
            serde_json::from_str(&line).map_err(|e| malformed(e.to_string()))?;
        let categories: Vec<String> = parsed
            .categories
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let Some(primary) = categories.first().cloned() else {
            return Err(malformed("`categories` is empty".into()));
        };
        let document = Document {
            id: parsed.id,
            primary,
            categories,
            title: normalize_whitespace(&parsed.title),
            text: normalize_whitespace(&parsed.text),
        };
        if keep(&document) {
            documents.push(document);
        }
    }
    Ok(documents)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Domain;
    use crate::test_util::ScratchDir;

    const SNAPSHOT: &str = r#"{"id": "0704.0001", "submitter": "A", "title": "Two\n  words", "categories": "hep-ph", "abstract": "  A calculation\n of things.\n", "versions": [{"version": "v1"}]}
{"id": "0704.0002", "title": "G", "categories": "math.CO cs.CG", "abstract": "Graphs."}

{"id": "0704.0046", "title": "M", "categories": "math-ph math.MP", "abstract": "Operators."}
"#;

    #[test]
    fn keeps_only_accepted_documents_with_split_categories() {
        let dir = ScratchDir::new("snapshot-ok");
        let path = dir.write("snapshot.json", SNAPSHOT);
        let domain = Domain::new(["math"]).unwrap();
        let docs = read_arxiv_snapshot(&path, |d| domain.accepts(d)).unwrap();
        assert_eq!(docs.len(), 1, "math-ph must not match the math prefix");
        assert_eq!(docs[0].id, "0704.0002");
        assert_eq!(docs[0].primary, "math.CO");
        assert_eq!(docs[0].categories, ["math.CO", "cs.CG"]);
        let all = read_arxiv_snapshot(&path, |_| true).unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].title, "Two words");
        assert_eq!(all[0].text, "A calculation of things.");
    }

    #[test]
    fn malformed_lines_name_file_and_line() {
        let dir = ScratchDir::new("snapshot-bad");
        let path = dir.write(
            "snapshot.json",
            "{\"id\": \"1\", \"categories\": \"cs.AI\", \"abstract\": \"a\"}\n{\"id\": \"2\", \"categories\": \" \", \"abstract\": \"a\"}\n",
        );
        let err = read_arxiv_snapshot(&path, |_| true)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("snapshot.json:2: `categories` is empty"),
            "{err}"
        );
        let path = dir.write("cut.json", "{\"id\": \"1\", \"categ");
        let err = read_arxiv_snapshot(&path, |_| true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("cut.json:1:"), "{err}");
    }
}
