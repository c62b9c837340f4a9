//! The text task's data: the corpus read once per process, split by hashed id into
//! train/validation/test per domain, the overlap fraction r moved into the source, the target
//! keep fraction, and the windows of the tokenizer's model ids.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use gtl_data::{
    Document, Domain, Splitter, TextTokenizer, keep_fraction, move_overlap, read_arxiv_snapshot,
    read_domain, shard_paths, stable_hash,
};

use crate::cache::file_fingerprint;
use crate::config::{CorpusSpec, TextData, TokenizerSpec};
use crate::memo::Memo;
use crate::{ExperimentError, Result};

/// Documents of both domains, split.
#[derive(Clone, Debug, Default)]
pub struct TextDocuments {
    /// Source training documents, with the target documents the overlap moved in.
    pub source_train: Vec<Document>,
    /// Source validation documents.
    pub source_validation: Vec<Document>,
    /// Source test documents.
    pub source_test: Vec<Document>,
    /// Target training documents kept at the target fraction.
    pub target_train: Vec<Document>,
    /// Target validation documents kept at the target fraction.
    pub target_validation: Vec<Document>,
    /// Target test documents (held out from every method).
    pub target_test: Vec<Document>,
    /// Further target-side documents no method trains on (`text.held_out_target`).
    pub held_out_target: Vec<Document>,
}

fn data_error(e: gtl_data::DataError) -> ExperimentError {
    ExperimentError::config(e.to_string())
}

/// The documents of `prefixes` (at most `max` per prefix, the first by hash; 0: all).
fn read_prefixes(corpus: &CorpusSpec, prefixes: &[String], max: usize) -> Result<Vec<Document>> {
    let mut documents = Vec::new();
    for prefix in prefixes {
        let domain = Domain::new([prefix.clone()]).map_err(data_error)?;
        let mut docs = match corpus {
            CorpusSpec::Shards { dir } => read_domain(dir, &domain).map_err(data_error)?,
            CorpusSpec::Snapshot { path } => {
                let docs =
                    read_arxiv_snapshot(path, |doc| domain.accepts(doc)).map_err(data_error)?;
                if docs.is_empty() {
                    return Err(ExperimentError::config(format!(
                        "{}: no document of the domain {prefix:?}",
                        path.display()
                    )));
                }
                docs
            }
        };
        if max > 0 && docs.len() > max {
            docs.sort_by_key(|d| stable_hash(0, "max-documents", &d.id));
            docs.truncate(max);
        }
        documents.extend(docs);
    }
    Ok(documents)
}

/// Reads and splits the documents of `text` (memoised per process: every stage of a run
/// shares one copy).
pub fn documents(text: &TextData) -> Result<Arc<TextDocuments>> {
    static DOCUMENTS: Memo<String, Arc<TextDocuments>> = Memo::new();
    DOCUMENTS.get_or_try(format!("{text:?}"), || read_documents(text))
}

fn read_documents(text: &TextData) -> Result<Arc<TextDocuments>> {
    let splitter = Splitter::new(
        text.split_seed,
        text.validation_fraction,
        text.test_fraction,
    )
    .map_err(data_error)?;
    let source = splitter.partition(read_prefixes(
        &text.corpus,
        &text.source,
        text.max_documents,
    )?);
    let target = splitter.partition(read_prefixes(
        &text.corpus,
        &text.target,
        text.max_documents,
    )?);
    let overlap = move_overlap(target.train, text.overlap, text.split_seed).map_err(data_error)?;
    let keep = |docs: &[Document]| {
        keep_fraction(docs, text.target_fraction, text.split_seed).map_err(data_error)
    };
    let mut source_train = source.train;
    source_train.extend(overlap.to_source);
    let held_out_target = if text.held_out_target.is_empty() {
        Vec::new()
    } else {
        read_prefixes(&text.corpus, &text.held_out_target, text.max_documents)?
    };
    let documents = Arc::new(TextDocuments {
        source_train,
        source_validation: source.validation,
        source_test: source.test,
        target_train: keep(&overlap.target)?,
        target_validation: keep(&target.validation)?,
        target_test: target.test,
        held_out_target,
    });
    for (name, docs) in [
        ("source training", &documents.source_train),
        ("target training", &documents.target_train),
        ("target test", &documents.target_test),
    ] {
        if docs.is_empty() {
            return Err(ExperimentError::config(format!(
                "text: the {name} split has no document (more documents, or larger fractions)"
            )));
        }
    }
    Ok(documents)
}

/// The texts a tokenizer is trained on: the source training documents.
pub fn tokenizer_texts(docs: &TextDocuments) -> Vec<&str> {
    docs.source_train.iter().map(|d| d.text.as_str()).collect()
}

/// Real tokens N of a tokenizer spec (loads a `tokenizer.json`, memoised).
pub fn num_tokens(spec: &TokenizerSpec) -> Result<usize> {
    match spec {
        TokenizerSpec::Bpe { vocab_size } => Ok(*vocab_size),
        TokenizerSpec::File { path } => Ok(load_tokenizer(path)?.num_tokens()),
    }
}

/// A `tokenizer.json`, loaded once per process and file contents.
pub fn load_tokenizer(path: &Path) -> Result<Arc<TextTokenizer>> {
    static TOKENIZERS: Memo<(PathBuf, String), Arc<TextTokenizer>> = Memo::new();
    let key = (path.to_path_buf(), file_fingerprint(path)?);
    TOKENIZERS.get_or_try(key, || {
        let tokenizer = TextTokenizer::from_file(path)
            .map_err(|e| ExperimentError::config(format!("text.tokenizer: {e}")))?;
        Ok(Arc::new(tokenizer))
    })
}

/// The corpus files of `text`'s domains with their fingerprints, for cache keys (memoised
/// per file size and modification time).
pub fn corpus_fingerprint(text: &TextData) -> Result<String> {
    let mut prefixes: Vec<&String> = text
        .source
        .iter()
        .chain(&text.target)
        .chain(&text.held_out_target)
        .collect();
    prefixes.sort();
    prefixes.dedup();
    let files: Vec<PathBuf> = match &text.corpus {
        CorpusSpec::Shards { dir } => {
            let mut files = Vec::new();
            for prefix in prefixes {
                let archive = prefix.split('.').next().unwrap_or(prefix);
                files.extend(shard_paths(dir, archive).map_err(data_error)?);
            }
            files.sort();
            files.dedup();
            files
        }
        CorpusSpec::Snapshot { path } => vec![path.clone()],
    };
    let mut text_key = String::new();
    for file in files {
        text_key.push_str(&format!(
            "{} ({})\n",
            file.display(),
            cached_fingerprint(&file)?
        ));
    }
    Ok(text_key)
}

pub(crate) fn cached_fingerprint(path: &Path) -> Result<String> {
    type Stamp = (PathBuf, u64, Option<std::time::SystemTime>);
    static FINGERPRINTS: Memo<Stamp, String> = Memo::new();
    let meta = std::fs::metadata(path).map_err(|e| ExperimentError::io(path, e))?;
    let stamp = (path.to_path_buf(), meta.len(), meta.modified().ok());
    FINGERPRINTS.get_or_try(stamp, || file_fingerprint(path))
}

/// Packs `docs` into windows of `length` model ids.
pub fn windows(
    tokenizer: &TextTokenizer,
    docs: &[Document],
    length: usize,
) -> Result<Vec<Vec<u32>>> {
    Ok(tokenizer
        .pack(docs.iter().map(|d| d.text.as_str()), length)
        .map_err(data_error)?
        .into_iter()
        .map(|w| w.tokens)
        .collect())
}

/// Decodes model ids to text without the begin, end and mask tokens (documents that share a
/// window are separated by a blank line).
pub fn decode_plain(tokenizer: &TextTokenizer, tokens: &[u32]) -> String {
    let (begin, end, mask) = (
        tokenizer.begin_id(),
        tokenizer.end_id(),
        tokenizer.mask_id(),
    );
    let mut pieces = Vec::new();
    for part in tokens.split(|&t| t == end) {
        let ids: Vec<u32> = part
            .iter()
            .copied()
            .filter(|&t| t != begin && t != mask)
            .collect();
        if !ids.is_empty() {
            pieces.push(tokenizer.decode(&ids).unwrap_or_default());
        }
    }
    pieces.join("\n\n")
}
