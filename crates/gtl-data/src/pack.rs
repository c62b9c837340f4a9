//! Packing of tokenised documents into windows of exactly L model ids, as the reference
//! implementation does for arXiv abstracts.
//!
//! The documents' ids are concatenated, each document followed by the end token; the stream
//! is cut into blocks of L − 2 ids and each block is wrapped as `begin … end`. The final
//! partial block is dropped, so up to L − 3 ids at the end of the stream are not used.

use std::ops::Range;

use crate::{DataError, TextTokenizer};

/// One packed window and the documents it was cut from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    /// Exactly L model ids: begin, L − 2 ids of the stream, end.
    pub tokens: Vec<u32>,
    /// Indices (into the packed list) of the documents whose ids, or trailing end token,
    /// appear in the window.
    pub documents: Range<usize>,
}

/// Packs `documents` (model ids, without begin or end) into windows of `length` ids.
///
/// `length` must be at least 3. See the module documentation for the layout.
pub fn pack(
    documents: &[Vec<u32>],
    length: usize,
    begin: u32,
    end: u32,
) -> Result<Vec<Window>, DataError> {
    if length < 3 {
        return Err(DataError::parameter(
            "window length",
            length,
            "at least 3 (begin, one token, end)",
        ));
    }
    let body = length - 2;
    let mut windows = Vec::new();
    let mut block = Vec::with_capacity(length);
    let mut first_document = 0;
    for (index, document) in documents.iter().enumerate() {
        for &id in document.iter().chain(std::iter::once(&end)) {
            if block.is_empty() {
                block.push(begin);
                first_document = index;
            }
            block.push(id);
            if block.len() == body + 1 {
                block.push(end);
                windows.push(Window {
                    tokens: std::mem::replace(&mut block, Vec::with_capacity(length)),
                    documents: first_document..index + 1,
                });
            }
        }
    }
    Ok(windows)
}

impl TextTokenizer {
    /// Encodes `texts` and packs them into windows of `length` model ids with this
    /// tokenizer's begin and end tokens; decode a window with [`TextTokenizer::decode`].
    pub fn pack<S: AsRef<str>>(
        &self,
        texts: impl IntoIterator<Item = S>,
        length: usize,
    ) -> Result<Vec<Window>, DataError> {
        let documents = self.encode_all(texts)?;
        pack(&documents, length, self.begin_id(), self.end_id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEGIN: u32 = 100;
    const END: u32 = 101;

    #[test]
    fn windows_have_length_l_with_begin_and_end_and_drop_the_tail() {
        let documents = vec![vec![1, 2, 3], vec![4, 5], vec![6, 7, 8, 9]];
        // Stream: 1 2 3 E 4 5 E 6 7 8 9 E (12 ids) in blocks of 3; all 4 blocks are full.
        let windows = pack(&documents, 5, BEGIN, END).unwrap();
        let tokens: Vec<&[u32]> = windows.iter().map(|w| w.tokens.as_slice()).collect();
        assert_eq!(
            tokens,
            [
                &[BEGIN, 1, 2, 3, END][..],
                &[BEGIN, END, 4, 5, END],
                &[BEGIN, END, 6, 7, END],
                &[BEGIN, 8, 9, END, END],
            ]
        );
        let sources: Vec<Range<usize>> = windows.iter().map(|w| w.documents.clone()).collect();
        assert_eq!(sources, [0..1, 0..2, 1..3, 2..3]);
        let shorter = pack(&documents, 6, BEGIN, END).unwrap();
        assert_eq!(shorter.len(), 3, "12 ids in blocks of 4, nothing left over");
        let tail = pack(&documents, 7, BEGIN, END).unwrap();
        assert_eq!(
            tail.len(),
            2,
            "12 ids in blocks of 5: the last 2 ids are dropped"
        );
        assert!(tail.iter().all(|w| w.tokens.len() == 7));
    }

    #[test]
    fn too_short_length_and_too_little_text() {
        assert!(pack(&[vec![1]], 2, BEGIN, END).is_err());
        assert!(pack(&[vec![1, 2]], 10, BEGIN, END).unwrap().is_empty());
        assert!(pack(&[], 10, BEGIN, END).unwrap().is_empty());
    }
}
