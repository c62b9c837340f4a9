//! Token datasets for gtl's discrete diffusion models, starting with text corpora: arXiv
//! abstracts from JSONL shards or the metadata snapshot, and plain text files.
//! Domains select documents by the prefix of their primary category.
//!
//! ```
//! use gtl_data::{normalize_whitespace, Domain};
//!
//! let domain = Domain::new(["cs", "math"])?;
//! assert!(domain.matches("math.RT") && !domain.matches("math-ph"));
//! assert_eq!(normalize_whitespace(" We study\n  graphs. "), "We study graphs.");
//! # Ok::<(), gtl_data::DataError>(())
//! ```

#![warn(missing_docs)]

mod corpus;
mod error;
mod jsonl;
mod snapshot;
#[cfg(test)]
mod test_util;
mod text;

use std::path::{Path, PathBuf};

pub use corpus::{Document, Domain, category_has_prefix, normalize_whitespace};
pub use error::DataError;
pub use jsonl::{read_domain, read_jsonl, read_shards, shard_paths};
pub use snapshot::read_arxiv_snapshot;
pub use text::read_text_documents;

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
