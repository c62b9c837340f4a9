//! The DNA task's data: the FASTA file read once per process, its records selected by taxon,
//! split by hashed sequence id into train/validation/test per domain, the target cut to
//! `dna.target_size` sequences, and windows of L bases (one token per base).

use std::path::Path;
use std::sync::Arc;

use gtl_data::{
    Ambiguity, FastaReader, FastaRecord, NucleotideVocab, Splitter, TaxonFilter, stable_hash,
};

use crate::config::DnaData;
use crate::memo::Memo;
use crate::{ExperimentError, Result};

/// Records of both domains, split.
#[derive(Clone, Debug, Default)]
pub struct DnaRecords {
    /// Source training sequences.
    pub source_train: Vec<FastaRecord>,
    /// Source validation sequences.
    pub source_validation: Vec<FastaRecord>,
    /// Source sequences held out from every method.
    pub source_test: Vec<FastaRecord>,
    /// The target training sequences of `dna.target_size`.
    pub target_train: Vec<FastaRecord>,
    /// The target validation sequences of `dna.target_size`.
    pub target_validation: Vec<FastaRecord>,
    /// Target sequences held out from every method.
    pub target_test: Vec<FastaRecord>,
}

/// The vocabulary: single bases A, C, G, T = 0..3, the mask 4 (no token for ambiguity codes:
/// [`windows`] drops or resamples them as `dna.ambiguity` says).
pub fn vocab() -> NucleotideVocab {
    NucleotideVocab::new(1, Ambiguity::DropWindow).expect("k = 1 is valid")
}

fn data_error(e: gtl_data::DataError) -> ExperimentError {
    ExperimentError::config(e.to_string())
}

/// Every record of `path` (memoised per process and path).
fn all_records(path: &Path) -> Result<Arc<Vec<FastaRecord>>> {
    static RECORDS: Memo<std::path::PathBuf, Arc<Vec<FastaRecord>>> = Memo::new();
    RECORDS.get_or_try(path.to_path_buf(), || {
        let reader = FastaReader::open(path).map_err(data_error)?;
        let records = reader.collect::<std::result::Result<Vec<_>, _>>();
        Ok(Arc::new(records.map_err(data_error)?))
    })
}

/// The records of each of `taxa` at the section's rank (at most `max_sequences` per taxon,
/// the first by hash; 0: all), taxon by taxon.
fn read_taxa(spec: &DnaData, taxa: &[String]) -> Result<Vec<FastaRecord>> {
    let records = all_records(&spec.fasta)?;
    let mut selected = Vec::new();
    for taxon in taxa {
        let filter = TaxonFilter::new(spec.rank.index(), [taxon.clone()]).map_err(data_error)?;
        let mut of_taxon: Vec<FastaRecord> = records
            .iter()
            .filter(|r| filter.accepts(r))
            .cloned()
            .collect();
        if of_taxon.is_empty() {
            return Err(ExperimentError::config(format!(
                "{}: no sequence of the taxon {taxon:?} at rank {:?}",
                spec.fasta.display(),
                spec.rank
            )));
        }
        if spec.max_sequences > 0 && of_taxon.len() > spec.max_sequences {
            of_taxon.sort_by_key(|r| stable_hash(spec.split_seed, "max-sequences", &r.id));
            of_taxon.truncate(spec.max_sequences);
        }
        selected.extend(of_taxon);
    }
    Ok(selected)
}

/// Reads and splits the records of `spec` (memoised per process: every stage shares one
/// copy).
pub fn records(spec: &DnaData) -> Result<Arc<DnaRecords>> {
    static RECORDS: Memo<String, Arc<DnaRecords>> = Memo::new();
    RECORDS.get_or_try(format!("{spec:?}"), || read_records(spec))
}

fn read_records(spec: &DnaData) -> Result<Arc<DnaRecords>> {
    let splitter = Splitter::new(
        spec.split_seed,
        spec.validation_fraction,
        spec.test_fraction,
    )
    .map_err(data_error)?;
    let source = splitter.partition(read_taxa(spec, &spec.source)?);
    let target = splitter.partition(read_taxa(spec, &spec.target)?);
    // Every target sequence not held out, in hash order: size n takes the first n, so the
    // target sets of smaller sizes are subsets of larger ones.
    let mut pool = target.train;
    pool.extend(target.validation);
    pool.sort_by_key(|r| stable_hash(spec.split_seed, "target-size", &r.id));
    if spec.target_size > pool.len() {
        return Err(ExperimentError::config(format!(
            "dna.target_size = {}: only {} target sequences are not held out for evaluation",
            spec.target_size,
            pool.len()
        )));
    }
    if spec.target_size > 0 {
        pool.truncate(spec.target_size);
    }
    let held_out = ((pool.len() as f64 * spec.validation_fraction).round() as usize).max(1);
    let target_validation = pool.split_off(pool.len().saturating_sub(held_out));
    let records = DnaRecords {
        source_train: source.train,
        source_validation: source.validation,
        source_test: source.test,
        target_train: pool,
        target_validation,
        target_test: target.test,
    };
    for (name, split) in [
        ("source training", &records.source_train),
        ("source validation", &records.source_validation),
        ("target training", &records.target_train),
        ("target validation", &records.target_validation),
        ("target test", &records.target_test),
    ] {
        if split.is_empty() {
            return Err(ExperimentError::config(format!(
                "dna: the {name} split has no sequence (more sequences, larger fractions or a \
                 larger dna.target_size)"
            )));
        }
    }
    Ok(Arc::new(records))
}

/// The windows of `spec.length` bases of `records`, `stride` bases apart or one per record
/// after `spec.anchor`, as token ids, with `spec.ambiguity`'s handling of IUPAC codes.
pub fn windows(records: &[FastaRecord], spec: &DnaData, stride: usize) -> Result<Vec<Vec<u32>>> {
    let vocab = NucleotideVocab::new(1, spec.ambiguity.into()).map_err(data_error)?;
    let placement = spec.placement(stride)?;
    let mut windows = Vec::new();
    for record in records {
        let cut = vocab
            .windows(record, spec.length, &placement, spec.split_seed)
            .map_err(data_error)?;
        windows.extend(cut.into_iter().map(|w| w.tokens));
    }
    Ok(windows)
}

/// The bases of token ids (`?` for a mask).
pub fn decode(tokens: &[u32]) -> String {
    vocab().decode(tokens).unwrap_or_default()
}

/// The FASTA file with its fingerprint, for cache keys.
pub fn fasta_fingerprint(spec: &DnaData) -> Result<String> {
    Ok(format!(
        "{} ({})",
        spec.fasta.display(),
        crate::text::cached_fingerprint(&spec.fasta)?
    ))
}
