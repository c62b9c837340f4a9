//! The DNA transfer task (the `[dna]` section): sequences of a FASTA file whose headers carry
//! a `;`-separated taxonomy, split into a source and a target domain by taxon names at one
//! rank, cut into windows of L bases (one token per base: A, C, G, T).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::{ExperimentError, Result};

/// A taxonomic rank of the headers' taxonomy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaxonRank {
    /// Bacteria, Archaea.
    Domain,
    /// Proteobacteria, Firmicutes, ...
    #[default]
    Phylum,
    /// Class.
    Class,
    /// Order.
    Order,
    /// Family.
    Family,
    /// Genus.
    Genus,
}

impl TaxonRank {
    /// Its index in the taxonomy (0: domain).
    pub fn index(self) -> usize {
        self as usize
    }
}

/// The DNA task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnaData {
    /// The FASTA file (relative to the working directory), taxonomy as the last tab-separated
    /// field of each header (`../shared/data/dna/rRNA16S.gold.fasta`).
    pub fasta: PathBuf,
    /// The rank the taxon names of `source` and `target` are read at.
    #[serde(default)]
    pub rank: TaxonRank,
    /// Taxa of the source domain (exact names at `rank`).
    pub source: Vec<String>,
    /// Taxa of the target domain.
    pub target: Vec<String>,
    /// Bases per window L (one token per base).
    pub length: usize,
    /// Offset in bases between consecutive training windows of a sequence, in 1..=length
    /// (held-out windows never overlap); required without `anchor`, refused with it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub stride: usize,
    /// Share of each domain's sequences held out for validation, in [0, 0.5).
    #[serde(default = "default_validation")]
    pub validation_fraction: f64,
    /// Share of each taxon's sequences held out for evaluation (the judge, the references and
    /// the NELBO), in (0, 0.5).
    #[serde(default = "default_test")]
    pub test_fraction: f64,
    /// Seed of the hashed splits.
    #[serde(default = "default_split_seed")]
    pub split_seed: u64,
    /// Target sequences a method sees, training and validation together (0: every one not held
    /// out for evaluation); the experiment sets it from `experiment.target_sizes`.
    #[serde(default)]
    pub target_size: usize,
    /// At most this many sequences per taxon, the first by hash (0: all); for seconds-long
    /// runs on a slice of the file.
    #[serde(default)]
    pub max_sequences: usize,
    /// At most this many windows in each validation and test set of the networks (evenly
    /// spread; 0: all).
    #[serde(default = "default_eval_windows")]
    pub eval_windows: usize,
    /// What a window with an IUPAC ambiguity code (N, Y, R, ...) becomes: "drop-window" (the
    /// window is skipped) or "resample" (each code is replaced by a base it allows, drawn from
    /// a generator seeded by `split_seed` and the record id).
    #[serde(default, skip_serializing_if = "AmbiguityPolicy::is_default")]
    pub ambiguity: AmbiguityPolicy,
    /// A motif in IUPAC codes that aligns the windows (e.g. the 16S primer 515F,
    /// `"GTGCCAGCMGCCGCGGTAA"`): each sequence gives one window, starting `anchor_offset` bases
    /// after the motif's first match, and sequences without a match give none; `stride` is
    /// then unused. Absent: windows `stride` bases apart over the whole sequence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor: Option<String>,
    /// Bases between the anchor's end and the window's start (needs `anchor`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub anchor_offset: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The experiment's choices of [`gtl_data::Ambiguity`]. gtl-data's third policy, a reserved
/// token, is not offered: it adds a fifth token that the judge, the k-mer spectra and GC
/// content would each have to account for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AmbiguityPolicy {
    /// Skip every window that holds an ambiguity code (no invented bases).
    #[default]
    DropWindow,
    /// Replace each code by a base it allows, drawn uniformly.
    Resample,
}

impl AmbiguityPolicy {
    fn is_default(&self) -> bool {
        *self == Self::DropWindow
    }
}

impl From<AmbiguityPolicy> for gtl_data::Ambiguity {
    fn from(policy: AmbiguityPolicy) -> Self {
        match policy {
            AmbiguityPolicy::DropWindow => gtl_data::Ambiguity::DropWindow,
            AmbiguityPolicy::Resample => gtl_data::Ambiguity::Resample,
        }
    }
}

fn default_validation() -> f64 {
    0.1
}

fn default_test() -> f64 {
    0.25
}

fn default_split_seed() -> u64 {
    42
}

fn default_eval_windows() -> usize {
    256
}

/// The smallest target size: one training and one validation sequence.
pub const MIN_TARGET_SEQUENCES: usize = 2;

impl DnaData {
    /// Range checks of the section's own keys.
    pub fn validate(&self) -> Result<()> {
        let fail = |message: String| Err(ExperimentError::Config(message));
        if self.source.is_empty() || self.target.is_empty() {
            return fail("dna.source and dna.target: name at least one taxon each".into());
        }
        if let Some(t) = self.target.iter().find(|t| self.source.contains(t)) {
            return fail(format!(
                "dna.target = {t:?}: also a source taxon; the domains must differ"
            ));
        }
        if self.length < 8 {
            return fail(format!(
                "dna.length = {}: must be at least 8 bases (the judge reads 8-mers)",
                self.length
            ));
        }
        match (&self.anchor, self.stride) {
            (None, 0) => {
                return fail(format!(
                    "dna.stride: missing; give the bases between training windows, in 1..={} \
                     (dna.length), or dna.anchor",
                    self.length
                ));
            }
            (None, stride) if stride > self.length => {
                return fail(format!(
                    "dna.stride = {stride}: must be in 1..={} (dna.length)",
                    self.length
                ));
            }
            (Some(_), stride) if stride > 0 => {
                return fail(format!(
                    "dna.stride = {stride}: unused with dna.anchor (one window per sequence); \
                     remove it"
                ));
            }
            _ => {}
        }
        if !(0.0..0.5).contains(&self.validation_fraction) {
            return fail(format!(
                "dna.validation_fraction = {}: must be in [0, 0.5)",
                self.validation_fraction
            ));
        }
        if !(self.test_fraction > 0.0 && self.test_fraction < 0.5) {
            return fail(format!(
                "dna.test_fraction = {}: must be in (0, 0.5)",
                self.test_fraction
            ));
        }
        match &self.anchor {
            Some(anchor) => {
                self.anchor_motif()?;
                if anchor.len() < 8 {
                    return fail(format!(
                        "dna.anchor = {anchor:?}: must be at least 8 bases (a shorter motif \
                         matches by chance)"
                    ));
                }
            }
            None if self.anchor_offset > 0 => {
                return fail(format!(
                    "dna.anchor_offset = {}: needs dna.anchor",
                    self.anchor_offset
                ));
            }
            None => {}
        }
        check_target_size("dna.target_size", self.target_size)
    }

    /// Where windows start: after `anchor` when it is set, otherwise every `stride` bases
    /// (`stride` is the caller's: training and held-out windows use different ones).
    pub fn placement(&self, stride: usize) -> Result<gtl_data::Placement> {
        Ok(match self.anchor_motif()? {
            Some(motif) => gtl_data::Placement::Anchored {
                motif,
                offset: self.anchor_offset,
            },
            None => gtl_data::Placement::Stride(stride),
        })
    }

    fn anchor_motif(&self) -> Result<Option<gtl_data::Motif>> {
        self.anchor
            .as_deref()
            .map(|anchor| {
                gtl_data::Motif::new(anchor)
                    .map_err(|e| ExperimentError::config(format!("dna.anchor = {anchor:?}: {e}")))
            })
            .transpose()
    }
}

/// Checks a target size in sequences (0: all).
pub fn check_target_size(key: &str, size: usize) -> Result<()> {
    if size == 1 {
        return Err(ExperimentError::config(format!(
            "{key} = {size}: must be 0 (every target sequence) or at least \
             {MIN_TARGET_SEQUENCES} (one training and one validation sequence)"
        )));
    }
    Ok(())
}
