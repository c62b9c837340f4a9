//! A streaming FASTA reader: one record per `>` header, sequences over any number of lines.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use crate::DataError;

/// One FASTA record with its sequence in upper case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FastaRecord {
    /// The first whitespace-separated word of the header; splits hash it.
    pub id: String,
    /// The whole header line without the leading `>` and trailing whitespace.
    pub header: String,
    /// The bases, upper case, `U` written as `T`: `ACGT` or IUPAC codes `RYSWKMBDHVN`.
    pub sequence: String,
}

/// Reads [`FastaRecord`]s one at a time from any buffered reader.
///
/// Blank lines are skipped anywhere. Errors name the file (or the name given to
/// [`FastaReader::new`]), the 1-based line and the record: a sequence line before the first
/// header, a header without an id, a record without sequence, a character that is not a base.
/// After an error the iterator ends.
pub struct FastaReader<R> {
    reader: R,
    name: PathBuf,
    line: String,
    line_number: usize,
    /// A header read while finishing the previous record: (line number, header text).
    pending_header: Option<(usize, String)>,
    done: bool,
}

impl FastaReader<BufReader<File>> {
    /// Opens a FASTA file for streaming.
    pub fn open(path: &Path) -> Result<Self, DataError> {
        let file = File::open(path).map_err(|e| DataError::io(path, e))?;
        Ok(Self::new(BufReader::new(file), path))
    }
}

impl<R: BufRead> FastaReader<R> {
    /// A reader over `reader`; `name` stands for the file in error messages.
    pub fn new(reader: R, name: impl Into<PathBuf>) -> Self {
        Self {
            reader,
            name: name.into(),
            line: String::new(),
            line_number: 0,
            pending_header: None,
            done: false,
        }
    }

    fn error(&self, line: usize, id: Option<&str>, message: String) -> DataError {
        DataError::MalformedFasta {
            path: self.name.clone(),
            line,
            id: id.map(str::to_string),
            message,
        }
    }

    /// Reads the next non-blank line into `self.line`; `false` at the end of the input.
    fn next_line(&mut self) -> Result<bool, DataError> {
        loop {
            self.line.clear();
            let read = self
                .reader
                .read_line(&mut self.line)
                .map_err(|e| DataError::io(&self.name, e))?;
            if read == 0 {
                return Ok(false);
            }
            self.line_number += 1;
            if !self.line.trim().is_empty() {
                return Ok(true);
            }
        }
    }

    fn read_record(&mut self) -> Result<Option<FastaRecord>, DataError> {
        let (header_line, header) = match self.pending_header.take() {
            Some(pending) => pending,
            None => {
                if !self.next_line()? {
                    return Ok(None);
                }
                let Some(header) = self.line.trim_end().strip_prefix('>') else {
                    return Err(self.error(
                        self.line_number,
                        None,
                        "sequence line before the first '>' header".into(),
                    ));
                };
                (self.line_number, header.trim().to_string())
            }
        };
        let Some(id) = header.split_whitespace().next().map(str::to_string) else {
            return Err(self.error(header_line, None, "header has no id after '>'".into()));
        };
        let mut sequence = String::new();
        while self.next_line()? {
            let line = self.line.trim_end();
            if let Some(next_header) = line.strip_prefix('>') {
                self.pending_header = Some((self.line_number, next_header.trim().to_string()));
                break;
            }
            for (column, c) in line.char_indices() {
                match normalize_base(c) {
                    Some(base) => sequence.push(base),
                    None if c.is_whitespace() => {}
                    None => {
                        let message = format!(
                            "character {c:?} in column {}: expected a base (ACGTU) or IUPAC code (RYSWKMBDHVN)",
                            column + 1
                        );
                        return Err(self.error(self.line_number, Some(&id), message));
                    }
                }
            }
        }
        if sequence.is_empty() {
            return Err(self.error(header_line, Some(&id), "record has no sequence".into()));
        }
        Ok(Some(FastaRecord {
            id,
            header,
            sequence,
        }))
    }
}

impl<R: BufRead> Iterator for FastaReader<R> {
    type Item = Result<FastaRecord, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let result = self.read_record().transpose();
        if !matches!(result, Some(Ok(_))) {
            self.done = true;
        }
        result
    }
}

/// Every record of a FASTA file, in file order.
pub fn read_fasta(path: &Path) -> Result<Vec<FastaRecord>, DataError> {
    FastaReader::open(path)?.collect()
}

/// Upper-cases a base and writes RNA's `U` as `T`; `None` if `c` is no nucleotide code.
fn normalize_base(c: char) -> Option<char> {
    match c.to_ascii_uppercase() {
        'U' => Some('T'),
        base @ ('A' | 'C' | 'G' | 'T' | 'R' | 'Y' | 'S' | 'W' | 'K' | 'M' | 'B' | 'D' | 'H'
        | 'V' | 'N') => Some(base),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn parse(text: &str) -> Result<Vec<FastaRecord>, DataError> {
        FastaReader::new(Cursor::new(text.to_string()), "mem.fasta").collect()
    }

    #[test]
    fn multi_line_mixed_case_records_with_blank_lines() {
        let text = "\n>seq1 first\tBacteria; Firmicutes\nACgt\nnnAC\n\n>seq2\r\nuuGG\r\n";
        let records = parse(text).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].id, "seq1");
        assert_eq!(records[0].header, "seq1 first\tBacteria; Firmicutes");
        assert_eq!(records[0].sequence, "ACGTNNAC");
        assert_eq!(records[1].id, "seq2");
        assert_eq!(
            records[1].sequence, "TTGG",
            "U must become T and CR be dropped"
        );
    }

    #[test]
    fn sequence_before_header_names_file_and_line() {
        let err = parse("\nACGT\n>a\nAC\n").unwrap_err().to_string();
        assert_eq!(
            err,
            "mem.fasta:2: sequence line before the first '>' header"
        );
    }

    #[test]
    fn record_without_sequence_names_its_header_line_and_id() {
        let err = parse(">a\nAC\n>empty desc\n\n>c\nGG\n")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "mem.fasta:3 (record empty): record has no sequence");
        let err = parse(">a\nAC\n>last\n").unwrap_err().to_string();
        assert_eq!(err, "mem.fasta:3 (record last): record has no sequence");
    }

    #[test]
    fn header_without_id_is_an_error() {
        let err = parse(">  \nAC\n").unwrap_err().to_string();
        assert_eq!(err, "mem.fasta:1: header has no id after '>'");
    }

    #[test]
    fn invalid_character_names_line_column_and_record() {
        let err = parse(">a\nAC\nAX-\n").unwrap_err().to_string();
        assert!(
            err.starts_with("mem.fasta:3 (record a): character 'X' in column 2"),
            "{err}"
        );
    }

    #[test]
    fn iterator_streams_and_stops_after_an_error() {
        let mut reader = FastaReader::new(Cursor::new(">a\nAC\n>b\n>c\nG\n"), "mem.fasta");
        assert_eq!(reader.next().unwrap().unwrap().id, "a");
        assert!(reader.next().unwrap().is_err());
        assert!(reader.next().is_none());
    }

    #[test]
    fn empty_input_has_no_records() {
        assert!(parse("").unwrap().is_empty());
        assert!(parse("\n\n").unwrap().is_empty());
    }
}
