//! Taxonomy in FASTA headers and selection of records by taxon.
//!
//! The taxonomy is the last tab-separated field of the header, ranks separated by `;`:
//! `Bacteria; Proteobacteria; Gammaproteobacteria; ...`. Rank 0 is the domain, 1 the phylum,
//! then class, order, family and genus (see [`rank`]).

use crate::{DataError, FastaRecord};

/// Indices of the usual taxonomic ranks, for [`FastaRecord::taxon`] and [`TaxonFilter`].
pub mod rank {
    /// Domain (Bacteria, Archaea).
    pub const DOMAIN: usize = 0;
    /// Phylum (Proteobacteria, Firmicutes, ...).
    pub const PHYLUM: usize = 1;
    /// Class.
    pub const CLASS: usize = 2;
    /// Order.
    pub const ORDER: usize = 3;
    /// Family.
    pub const FAMILY: usize = 4;
    /// Genus.
    pub const GENUS: usize = 5;
}

/// The ranks of a header's taxonomy, trimmed, empty ranks dropped; empty if the header has
/// no tab (the first field is the id and description, never a taxonomy).
pub fn parse_taxonomy(header: &str) -> Vec<&str> {
    match header.rsplit_once('\t') {
        Some((_, field)) => field
            .split(';')
            .map(str::trim)
            .filter(|rank| !rank.is_empty())
            .collect(),
        None => Vec::new(),
    }
}

impl FastaRecord {
    /// The ranks of the record's taxonomy (see [`parse_taxonomy`]).
    pub fn taxonomy(&self) -> Vec<&str> {
        parse_taxonomy(&self.header)
    }

    /// The taxon at `rank` (0 = domain, 1 = phylum, ...), if the taxonomy is that deep.
    pub fn taxon(&self, rank: usize) -> Option<&str> {
        self.taxonomy().get(rank).copied()
    }
}

/// Accepts the records whose taxon at one rank is one of a list of names (exact match).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaxonFilter {
    rank: usize,
    names: Vec<String>,
}

impl TaxonFilter {
    /// A filter for `names` at `rank`, e.g. `TaxonFilter::new(rank::PHYLUM, ["Bacteroidetes"])`.
    pub fn new<S: Into<String>>(
        rank: usize,
        names: impl IntoIterator<Item = S>,
    ) -> Result<Self, DataError> {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        if names.is_empty() {
            return Err(DataError::parameter(
                "taxon names",
                "[]",
                "at least one name",
            ));
        }
        Ok(Self { rank, names })
    }

    /// Whether the record's taxon at the filter's rank is one of its names.
    pub fn accepts(&self, record: &FastaRecord) -> bool {
        record
            .taxon(self.rank)
            .is_some_and(|taxon| self.names.iter().any(|name| name == taxon))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(header: &str) -> FastaRecord {
        FastaRecord {
            id: header.split_whitespace().next().unwrap_or("").to_string(),
            header: header.to_string(),
            sequence: "ACGT".to_string(),
        }
    }

    #[test]
    fn taxonomy_is_the_last_tab_field_split_on_semicolons() {
        let r = record("S1 Foo bar; strain 3\tBacteria; Bacteroidetes ;Flavobacteria;; ");
        assert_eq!(r.taxonomy(), ["Bacteria", "Bacteroidetes", "Flavobacteria"]);
        assert_eq!(r.taxon(rank::DOMAIN), Some("Bacteria"));
        assert_eq!(r.taxon(rank::PHYLUM), Some("Bacteroidetes"));
        assert_eq!(r.taxon(rank::GENUS), None);
        assert!(
            record("S2 Foo; bar").taxonomy().is_empty(),
            "no tab, no taxonomy"
        );
    }

    #[test]
    fn filter_matches_names_at_its_rank_only() {
        let filter = TaxonFilter::new(rank::PHYLUM, ["Firmicutes", "Bacteroidetes"]).unwrap();
        assert!(filter.accepts(&record("a\tBacteria; Firmicutes; Bacilli")));
        assert!(!filter.accepts(&record("a\tFirmicutes; Bacteria")));
        assert!(!filter.accepts(&record("a\tBacteria")));
        assert!(TaxonFilter::new(rank::PHYLUM, Vec::<String>::new()).is_err());
    }
}
