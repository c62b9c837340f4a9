//! Token datasets for gtl's discrete diffusion models: arXiv and plain-text corpora selected
//! by category prefix, FASTA sequences selected by taxonomy, deterministic hashed splits,
//! tokenizers and packing into windows of model ids.
//! Real tokens are ids `0..N` and the mask is id `N`, for text and DNA alike.
//!
//! ```
//! use gtl_data::{keep_fraction, Splitter, TextTokenizer};
//!
//! let texts = ["We bound the spectral gap.", "A survey of stellar winds.", "Graphs and groups."];
//! let parts = Splitter::new(42, 0.0, 0.34)?.partition(texts);
//! assert_eq!(parts.train.len() + parts.test.len(), 3);
//! let few = keep_fraction(&parts.train, 0.5, 42)?;
//! assert!(!few.is_empty());
//!
//! let tokenizer = TextTokenizer::train_bpe(&texts, 300)?;
//! let ids = tokenizer.encode(texts[0])?;
//! assert_eq!(tokenizer.decode(&ids)?, texts[0]);
//! assert_eq!(tokenizer.mask_id() as usize, tokenizer.num_tokens());
//! let windows = tokenizer.pack(texts, 8)?;
//! assert!(windows.iter().all(|w| w.tokens.len() == 8));
//! # Ok::<(), gtl_data::DataError>(())
//! ```

#![warn(missing_docs)]

mod corpus;
mod error;
mod fasta;
mod jsonl;
mod nucleotide;
mod pack;
mod snapshot;
mod split;
mod taxonomy;
#[cfg(test)]
mod test_util;
mod text;
mod tokenizer;

use std::path::{Path, PathBuf};

pub use corpus::{Document, Domain, category_has_prefix, normalize_whitespace};
pub use error::DataError;
pub use fasta::{FastaReader, FastaRecord, read_fasta};
pub use jsonl::{read_domain, read_jsonl, read_shards, shard_paths};
pub use nucleotide::{Ambiguity, DnaWindow, Motif, NucleotideVocab, Placement};
pub use pack::{Window, pack};
pub use snapshot::read_arxiv_snapshot;
pub use split::{
    HasId, Overlap, Partition, Split, Splitter, keep_fraction, move_overlap, stable_hash,
    stable_unit,
};
pub use taxonomy::{TaxonFilter, parse_taxonomy, rank};
pub use text::read_text_documents;
pub use tokenizer::TextTokenizer;

/// The directory of the project's shared data (`arxiv/`, `dna/`), if it exists: the
/// environment variable `GTL_SHARED_DATA` when set, otherwise `../shared/data` next to the
/// workspace this crate was built in. Tests and examples use it and skip when it is `None`.
pub fn shared_data_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("GTL_SHARED_DATA") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    };
    dir.canonicalize().ok().filter(|dir| dir.is_dir())
}
