//! Deterministic splits by a stable hash of (seed, id): train/validation/test, the overlap
//! fraction r moved from target to source, and nested target keep-fraction subsets.
//!
//! The hash is FNV-1a (64 bit) over the seed's little-endian bytes, a purpose tag and the
//! id, followed by the SplitMix64 finaliser. It is fixed here, so a split does not depend on
//! the platform, the Rust version or std's randomly keyed hasher.

use crate::{DataError, Document, FastaRecord};

/// Anything with a stable identifier that splits hash: documents, FASTA records, strings.
pub trait HasId {
    /// The identifier (arXiv id, sequence id).
    fn id(&self) -> &str;
}

impl HasId for Document {
    fn id(&self) -> &str {
        &self.id
    }
}

impl HasId for FastaRecord {
    fn id(&self) -> &str {
        &self.id
    }
}

impl HasId for String {
    fn id(&self) -> &str {
        self
    }
}

impl HasId for &str {
    fn id(&self) -> &str {
        self
    }
}

/// The stable 64-bit hash of `(seed, tag, id)`; `tag` keeps the uses of one seed independent.
pub fn stable_hash(seed: u64, tag: &str, id: &str) -> u64 {
    const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = FNV_OFFSET;
    // 0xff never occurs in UTF-8, so it separates tag from id unambiguously.
    let bytes = seed
        .to_le_bytes()
        .into_iter()
        .chain(tag.bytes())
        .chain([0xff])
        .chain(id.bytes());
    for byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    // SplitMix64 finaliser: FNV's low bits mix poorly on short, similar ids.
    hash = (hash ^ (hash >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash = (hash ^ (hash >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}

/// [`stable_hash`] mapped to a uniform number in `[0, 1)` (its top 53 bits).
pub fn stable_unit(seed: u64, tag: &str, id: &str) -> f64 {
    (stable_hash(seed, tag, id) >> 11) as f64 / (1u64 << 53) as f64
}

/// Which part of a corpus an item belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    /// Training data.
    Train,
    /// Held out for model selection and early stopping.
    Validation,
    /// Held out for the final evaluation.
    Test,
}

/// A corpus divided into its three splits, each in input order.
#[derive(Clone, Debug, PartialEq)]
pub struct Partition<T> {
    /// Training items.
    pub train: Vec<T>,
    /// Validation items.
    pub validation: Vec<T>,
    /// Test items.
    pub test: Vec<T>,
}

/// Assigns each id to a split by its own hash alone, so an item keeps its split when the
/// corpus grows or is reordered; the split sizes are therefore binomial around the requested
/// fractions, not exact.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Splitter {
    seed: u64,
    validation: f64,
    test: f64,
}

impl Splitter {
    /// Fractions `validation` and `test` in `[0, 1]` with sum at most 1; train gets the rest.
    /// The reference paper's 90/10 train/test (test used as validation) is
    /// `Splitter::new(42, 0.1, 0.0)`.
    pub fn new(seed: u64, validation: f64, test: f64) -> Result<Self, DataError> {
        for (name, value) in [("validation", validation), ("test", test)] {
            if !(0.0..=1.0).contains(&value) {
                return Err(DataError::parameter(name, value, "in [0, 1]"));
            }
        }
        if validation + test > 1.0 {
            return Err(DataError::parameter(
                "validation + test",
                validation + test,
                "at most 1",
            ));
        }
        Ok(Self {
            seed,
            validation,
            test,
        })
    }

    /// The split of one id.
    pub fn split_of(&self, id: &str) -> Split {
        let u = stable_unit(self.seed, "split", id);
        if u < self.test {
            Split::Test
        } else if u < self.test + self.validation {
            Split::Validation
        } else {
            Split::Train
        }
    }

    /// Divides `items` into train, validation and test by [`Splitter::split_of`].
    pub fn partition<T: HasId>(&self, items: impl IntoIterator<Item = T>) -> Partition<T> {
        let mut partition = Partition {
            train: Vec::new(),
            validation: Vec::new(),
            test: Vec::new(),
        };
        for item in items {
            match self.split_of(item.id()) {
                Split::Train => partition.train.push(item),
                Split::Validation => partition.validation.push(item),
                Split::Test => partition.test.push(item),
            }
        }
        partition
    }
}

/// Target training items divided by the overlap fraction r: `to_source` joins the source
/// training set, `target` stays target. Both keep the input order.
#[derive(Clone, Debug, PartialEq)]
pub struct Overlap<T> {
    /// The round(r·n) items moved into the source training set.
    pub to_source: Vec<T>,
    /// The remaining target training items.
    pub target: Vec<T>,
}

/// Moves a fraction `r` in `[0, 1]` of the target training items into the source (the
/// reference paper's overlap control, r ∈ {0, 0.05, 0.25}).
///
/// Exactly round(r·n) items move: those first in the order of their hash under `seed`. The
/// moved set does not depend on any keep fraction, so one source model serves every target
/// size; apply [`keep_fraction`] to `target` afterwards.
pub fn move_overlap<T: HasId>(
    target_train: Vec<T>,
    r: f64,
    seed: u64,
) -> Result<Overlap<T>, DataError> {
    if !(0.0..=1.0).contains(&r) {
        return Err(DataError::parameter("overlap r", r, "in [0, 1]"));
    }
    let count = (r * target_train.len() as f64).round() as usize;
    let chosen = first_by_hash(&target_train, count, seed, "overlap");
    let mut overlap = Overlap {
        to_source: Vec::with_capacity(count),
        target: Vec::with_capacity(target_train.len() - count),
    };
    for (item, moved) in target_train.into_iter().zip(chosen) {
        if moved {
            overlap.to_source.push(item);
        } else {
            overlap.target.push(item);
        }
    }
    Ok(overlap)
}

/// The subset of `items` kept at keep fraction `fraction` in `[0, 1]`, in input order.
///
/// Items are ranked by their hash under `seed` and the first round(fraction·n) are kept, at
/// least one when `fraction > 0` and `items` is not empty. The ranking does not depend on the
/// fraction, so subsets are nested: the 1% set lies inside the 5% set inside the 30% set.
pub fn keep_fraction<T: HasId + Clone>(
    items: &[T],
    fraction: f64,
    seed: u64,
) -> Result<Vec<T>, DataError> {
    if !(0.0..=1.0).contains(&fraction) {
        return Err(DataError::parameter("keep fraction", fraction, "in [0, 1]"));
    }
    let mut count = (fraction * items.len() as f64).round() as usize;
    if fraction > 0.0 && !items.is_empty() {
        count = count.max(1);
    }
    let chosen = first_by_hash(items, count, seed, "keep");
    Ok(items
        .iter()
        .zip(chosen)
        .filter(|&(_, kept)| kept)
        .map(|(item, _)| item.clone())
        .collect())
}

/// Marks the `count` items that come first when ordered by `(hash, id, index)`.
fn first_by_hash<T: HasId>(items: &[T], count: usize, seed: u64, tag: &str) -> Vec<bool> {
    let mut order: Vec<(u64, &str, usize)> = items
        .iter()
        .enumerate()
        .map(|(index, item)| (stable_hash(seed, tag, item.id()), item.id(), index))
        .collect();
    order.sort_unstable();
    let mut chosen = vec![false; items.len()];
    for &(_, _, index) in order.iter().take(count) {
        chosen[index] = true;
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("2501.{i:05}")).collect()
    }

    #[test]
    fn hash_is_pinned_so_splits_never_change_silently() {
        // Any change to the hash would reshuffle every published split.
        assert_eq!(
            stable_hash(42, "split", "2501.00001"),
            0xE801_2915_93E8_24D3
        );
        assert_ne!(stable_hash(42, "split", "a"), stable_hash(43, "split", "a"));
        assert_ne!(stable_hash(42, "split", "a"), stable_hash(42, "keep", "a"));
        assert_ne!(stable_hash(0, "ab", "c"), stable_hash(0, "a", "bc"));
    }

    #[test]
    fn partition_is_disjoint_complete_stable_and_near_the_fractions() {
        let items = ids(20_000);
        let splitter = Splitter::new(7, 0.1, 0.2).unwrap();
        let parts = splitter.partition(items.clone());
        assert_eq!(
            parts,
            splitter.partition(items.clone()),
            "not stable across calls"
        );
        let n = items.len() as f64;
        assert!((parts.validation.len() as f64 / n - 0.1).abs() < 0.01);
        assert!((parts.test.len() as f64 / n - 0.2).abs() < 0.01);
        let mut seen = HashSet::new();
        for id in parts
            .train
            .iter()
            .chain(&parts.validation)
            .chain(&parts.test)
        {
            assert!(seen.insert(id.clone()), "{id} in two splits");
        }
        assert_eq!(seen.len(), items.len(), "an item was lost");
        let reversed = splitter.partition(items.iter().rev().cloned());
        assert_eq!(
            reversed.test.len(),
            parts.test.len(),
            "split depends on order"
        );
    }

    #[test]
    fn splitter_rejects_bad_fractions() {
        let err = Splitter::new(0, 0.6, 0.5).unwrap_err().to_string();
        assert_eq!(err, "validation + test = 1.1: must be at most 1");
        assert!(Splitter::new(0, -0.1, 0.0).is_err());
        assert!(Splitter::new(0, f64::NAN, 0.0).is_err());
    }

    #[test]
    fn keep_fractions_are_nested_and_exact() {
        let items = ids(1_000);
        let one = keep_fraction(&items, 0.01, 3).unwrap();
        let five = keep_fraction(&items, 0.05, 3).unwrap();
        let thirty = keep_fraction(&items, 0.30, 3).unwrap();
        assert_eq!((one.len(), five.len(), thirty.len()), (10, 50, 300));
        let five_set: HashSet<_> = five.iter().collect();
        let thirty_set: HashSet<_> = thirty.iter().collect();
        assert!(
            one.iter().all(|id| five_set.contains(id)),
            "1% not inside 5%"
        );
        assert!(
            five.iter().all(|id| thirty_set.contains(id)),
            "5% not inside 30%"
        );
        assert_eq!(keep_fraction(&items[..20], 0.01, 3).unwrap().len(), 1);
        assert!(keep_fraction(&items, 0.0, 3).unwrap().is_empty());
        assert_eq!(keep_fraction(&items, 1.0, 3).unwrap(), items);
        assert!(keep_fraction(&items, 1.5, 3).is_err());
    }

    #[test]
    fn overlap_moves_round_r_n_items_and_keeps_the_rest() {
        let items = ids(251);
        let overlap = move_overlap(items.clone(), 0.05, 42).unwrap();
        assert_eq!(overlap.to_source.len(), 13);
        assert_eq!(overlap.target.len(), 238);
        let moved: HashSet<_> = overlap.to_source.iter().collect();
        assert!(overlap.target.iter().all(|id| !moved.contains(id)));
        let bigger = move_overlap(items.clone(), 0.25, 42).unwrap();
        assert!(
            overlap
                .to_source
                .iter()
                .all(|id| bigger.to_source.contains(id))
        );
        assert!(
            move_overlap(items.clone(), 0.0, 42)
                .unwrap()
                .to_source
                .is_empty()
        );
        assert!(move_overlap(items, -0.1, 42).is_err());
    }
}
