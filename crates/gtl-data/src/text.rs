//! Plain text files as corpora: one document per paragraph.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::{DataError, Document, normalize_whitespace};

/// The paragraphs of a UTF-8 text file as documents of category `category`.
///
/// Documents are separated by one or more blank (empty or whitespace-only) lines; the lines
/// of a document are joined and its whitespace normalised. The id of the `i`-th document
/// (from 0) is `FILE_NAME#i`, e.g. `notes.txt#3`; the title is empty and `categories` is
/// `[category]`. A file without text gives no documents.
pub fn read_text_documents(path: &Path, category: &str) -> Result<Vec<Document>, DataError> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let mut documents = Vec::new();
    let mut paragraph = String::new();
    let flush = |paragraph: &mut String, documents: &mut Vec<Document>| {
        let text = normalize_whitespace(paragraph);
        paragraph.clear();
        if !text.is_empty() {
            documents.push(Document {
                id: format!("{name}#{}", documents.len()),
                primary: category.to_string(),
                categories: vec![category.to_string()],
                title: String::new(),
                text,
            });
        }
    };
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|e| DataError::io(path, e))?;
        if line.trim().is_empty() {
            flush(&mut paragraph, &mut documents);
        } else {
            paragraph.push_str(&line);
            paragraph.push('\n');
        }
    }
    flush(&mut paragraph, &mut documents);
    Ok(documents)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::ScratchDir;

    #[test]
    fn blank_lines_separate_documents() {
        let dir = ScratchDir::new("text-paragraphs");
        let path = dir.write(
            "notes.txt",
            "\n\nFirst line\nof one.\n  \t\n\n\nSecond.\n\nThird\n  continued",
        );
        let docs = read_text_documents(&path, "misc").unwrap();
        let texts: Vec<&str> = docs.iter().map(|d| d.text.as_str()).collect();
        assert_eq!(texts, ["First line of one.", "Second.", "Third continued"]);
        assert_eq!(docs[2].id, "notes.txt#2");
        assert_eq!(docs[0].primary, "misc");
    }

    #[test]
    fn missing_file_names_the_path() {
        let dir = ScratchDir::new("text-missing");
        let err = read_text_documents(&dir.path().join("absent.txt"), "x")
            .unwrap_err()
            .to_string();
        assert!(err.contains("absent.txt"), "{err}");
    }
}
