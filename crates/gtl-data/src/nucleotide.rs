//! Nucleotide vocabularies: bases or non-overlapping k-mers as model ids, a policy for IUPAC
//! ambiguity codes, and windows of L tokens cut from FASTA records.
//!
//! With k = 1 the ids are A = 0, C = 1, G = 2, T = 3; a k-mer is read as a base-4 number,
//! first base most significant (`AC` = 1, `CA` = 4), giving 4^k ids. The mask id is one past
//! the last real id, as everywhere in gtl.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{DataError, FastaRecord, stable_hash};

/// What to do with an IUPAC ambiguity code (`N`, `Y`, `R`, `W`, `S`, `K`, `M`, `B`, `D`, `H`,
/// `V`). The default is [`Ambiguity::DropWindow`]: no invented bases and no extra token; on
/// the 16S data it drops about 9% of stride-128 windows of L = 128.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Ambiguity {
    /// Skip every window that contains an ambiguity code.
    #[default]
    DropWindow,
    /// Map a base, or a k-mer containing one, to a reserved token with id 4^k (the vocabulary
    /// then has 4^k + 1 real tokens).
    Reserve,
    /// Replace each code by a base it allows, drawn uniformly with a generator seeded from the
    /// seed and the record id (`N` by any base, `Y` by C or T, ...).
    Resample,
}

/// A fixed base pattern in IUPAC codes, such as the 16S primer 515F `GTGCCAGCMGCCGCGGTAA`.
/// It matches where every base of the sequence is one its code allows; an ambiguity code in
/// the sequence matches nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Motif {
    pattern: String,
    /// Per position, a bit per allowed base (bit b: base id b).
    allowed: Vec<u8>,
}

impl Motif {
    /// The motif of an IUPAC pattern (case-insensitive, `U` as `T`); at least one code.
    pub fn new(pattern: &str) -> Result<Self, DataError> {
        if pattern.is_empty() {
            return Err(DataError::parameter(
                "motif",
                "\"\"",
                "at least one IUPAC code",
            ));
        }
        let allowed = pattern
            .chars()
            .enumerate()
            .map(|(position, c)| {
                let bases = allowed_bases(c).ok_or(DataError::InvalidBase { base: c, position })?;
                Ok(bases.iter().fold(0u8, |mask, &b| mask | (1 << b)))
            })
            .collect::<Result<_, DataError>>()?;
        Ok(Self {
            pattern: pattern.to_ascii_uppercase(),
            allowed,
        })
    }

    /// The pattern, upper case.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Its length in bases.
    pub fn len(&self) -> usize {
        self.allowed.len()
    }

    /// Always false: a motif has at least one base.
    pub fn is_empty(&self) -> bool {
        self.allowed.is_empty()
    }

    /// The offset of its first match in `sequence` (upper or lower case), if any.
    pub fn find(&self, sequence: &str) -> Option<usize> {
        let bases: Vec<u8> = sequence
            .chars()
            .map(|c| match allowed_bases(c) {
                Some([single]) => 1 << single,
                _ => 0,
            })
            .collect();
        bases
            .windows(self.len())
            .position(|at| at.iter().zip(&self.allowed).all(|(b, a)| b & a != 0))
    }
}

/// Where windows start in a sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Windows at offsets 0, s, 2s, ... (in bases) while they fit; s ≥ 1.
    Stride(usize),
    /// This many windows per record at offsets drawn uniformly from those that fit, by a
    /// generator seeded from the seed and the record id.
    RandomCrops(usize),
    /// One window starting `offset` bases after the end of the motif's first match (none
    /// when the motif is absent or the window would run past the sequence): windows of
    /// different records then cover the same region of an aligned gene, such as the V4
    /// region of 16S after the primer 515F.
    Anchored {
        /// The motif that marks the region.
        motif: Motif,
        /// Bases between the motif's end and the window's start.
        offset: usize,
    },
}

/// A window of tokens cut from one record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnaWindow {
    /// The record it came from.
    pub record_id: String,
    /// Offset of its first base in the record's sequence.
    pub offset: usize,
    /// Exactly L model ids.
    pub tokens: Vec<u32>,
}

/// Bases or k-mers as model ids `0..num_tokens()`, with an [`Ambiguity`] policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NucleotideVocab {
    k: usize,
    ambiguity: Ambiguity,
}

impl Default for NucleotideVocab {
    /// Single bases (k = 1) with the default ambiguity policy.
    fn default() -> Self {
        Self {
            k: 1,
            ambiguity: Ambiguity::default(),
        }
    }
}

/// Largest k: 4^8 = 65,536 k-mer tokens.
const MAX_K: usize = 8;

impl NucleotideVocab {
    /// Non-overlapping k-mers for `k` in `1..=8` (k = 1: single bases).
    pub fn new(k: usize, ambiguity: Ambiguity) -> Result<Self, DataError> {
        if !(1..=MAX_K).contains(&k) {
            return Err(DataError::parameter("k", k, "in 1..=8"));
        }
        Ok(Self { k, ambiguity })
    }

    /// Bases per token.
    pub fn k(&self) -> usize {
        self.k
    }

    /// The ambiguity policy.
    pub fn ambiguity(&self) -> Ambiguity {
        self.ambiguity
    }

    /// Number N of real tokens: 4^k, plus one with [`Ambiguity::Reserve`].
    pub fn num_tokens(&self) -> usize {
        let kmers = 1usize << (2 * self.k);
        kmers + usize::from(self.ambiguity == Ambiguity::Reserve)
    }

    /// The mask id N.
    pub fn mask_id(&self) -> u32 {
        self.num_tokens() as u32
    }

    /// The reserved id 4^k for ambiguous k-mers, with [`Ambiguity::Reserve`] only.
    pub fn reserved_id(&self) -> Option<u32> {
        (self.ambiguity == Ambiguity::Reserve).then(|| 1u32 << (2 * self.k))
    }

    /// The ids of a whole base string (upper or lower case) in non-overlapping k-mers; a
    /// trailing partial k-mer is dropped. `None` under [`Ambiguity::DropWindow`] if the string
    /// holds an ambiguity code; `rng` is used only by [`Ambiguity::Resample`].
    pub fn encode<R: Rng>(&self, bases: &str, rng: &mut R) -> Result<Option<Vec<u32>>, DataError> {
        let resolved = self.resolve(bases, rng)?;
        Ok(self.tokens(&resolved))
    }

    /// The base string of model ids: k bases per token, `N`×k for the reserved id and `?`×k
    /// for the mask.
    pub fn decode(&self, ids: &[u32]) -> Result<String, DataError> {
        let mut out = String::with_capacity(ids.len() * self.k);
        for &id in ids {
            let repeat = |c: char| std::iter::repeat_n(c, self.k);
            if id == self.mask_id() {
                out.extend(repeat('?'));
            } else if Some(id) == self.reserved_id() {
                out.extend(repeat('N'));
            } else if (id as usize) < (1 << (2 * self.k)) {
                for position in (0..self.k).rev() {
                    out.push(BASES[((id >> (2 * position)) & 3) as usize] as char);
                }
            } else {
                return Err(DataError::TokenOutOfRange {
                    id,
                    limit: self.num_tokens() + 1,
                });
            }
        }
        Ok(out)
    }

    /// Windows of exactly `length` tokens (`length`·k bases) from one record.
    ///
    /// Records shorter than a window give none; under [`Ambiguity::DropWindow`] windows that
    /// hold an ambiguity code are skipped, so random crops may give fewer than asked. The same
    /// record, seed and arguments always give the same windows, whatever the record order.
    pub fn windows(
        &self,
        record: &FastaRecord,
        length: usize,
        placement: &Placement,
        seed: u64,
    ) -> Result<Vec<DnaWindow>, DataError> {
        if length == 0 {
            return Err(DataError::parameter("window length", length, "at least 1"));
        }
        let mut resample_rng = ChaCha8Rng::seed_from_u64(stable_hash(seed, "resample", &record.id));
        let resolved = self.resolve(&record.sequence, &mut resample_rng)?;
        let span = length * self.k;
        if resolved.len() < span {
            return Ok(Vec::new());
        }
        let last_start = resolved.len() - span;
        let offsets: Vec<usize> = match placement {
            Placement::Stride(0) => {
                return Err(DataError::parameter("stride", 0, "at least 1"));
            }
            Placement::Stride(stride) => (0..=last_start).step_by(*stride).collect(),
            Placement::RandomCrops(count) => {
                let mut rng = ChaCha8Rng::seed_from_u64(stable_hash(seed, "crop", &record.id));
                (0..*count)
                    .map(|_| rng.random_range(0..=last_start))
                    .collect()
            }
            Placement::Anchored { motif, offset } => motif
                .find(&record.sequence)
                .map(|start| start + motif.len() + offset)
                .filter(|&start| start <= last_start)
                .into_iter()
                .collect(),
        };
        Ok(offsets
            .into_iter()
            .filter_map(|offset| {
                let tokens = self.tokens(&resolved[offset..offset + span])?;
                Some(DnaWindow {
                    record_id: record.id.clone(),
                    offset,
                    tokens,
                })
            })
            .collect())
    }

    /// Base indices 0..4, `None` for an ambiguity code kept as such; codes are resampled here
    /// under [`Ambiguity::Resample`].
    fn resolve<R: Rng>(&self, bases: &str, rng: &mut R) -> Result<Vec<Option<u8>>, DataError> {
        bases
            .chars()
            .enumerate()
            .map(|(position, c)| {
                let allowed =
                    allowed_bases(c).ok_or(DataError::InvalidBase { base: c, position })?;
                Ok(match allowed {
                    [single] => Some(*single),
                    _ if self.ambiguity == Ambiguity::Resample => {
                        Some(allowed[rng.random_range(0..allowed.len())])
                    }
                    _ => None,
                })
            })
            .collect()
    }

    /// The k-mer ids of resolved bases; `None` if an ambiguity code must drop them.
    fn tokens(&self, resolved: &[Option<u8>]) -> Option<Vec<u32>> {
        resolved
            .chunks_exact(self.k)
            .map(|kmer| {
                let index = kmer
                    .iter()
                    .try_fold(0u32, |acc, base| Some(acc * 4 + u32::from((*base)?)));
                match (index, self.reserved_id()) {
                    (Some(index), _) => Some(index),
                    (None, Some(reserved)) => Some(reserved),
                    (None, None) => None,
                }
            })
            .collect()
    }
}

/// The bases in id order.
const BASES: [u8; 4] = *b"ACGT";

/// The base indices a nucleotide or IUPAC code stands for (case-insensitive, `U` as `T`).
fn allowed_bases(c: char) -> Option<&'static [u8]> {
    Some(match c.to_ascii_uppercase() {
        'A' => &[0],
        'C' => &[1],
        'G' => &[2],
        'T' | 'U' => &[3],
        'R' => &[0, 2],
        'Y' => &[1, 3],
        'S' => &[1, 2],
        'W' => &[0, 3],
        'K' => &[2, 3],
        'M' => &[0, 1],
        'B' => &[1, 2, 3],
        'D' => &[0, 2, 3],
        'H' => &[0, 1, 3],
        'V' => &[0, 1, 2],
        'N' => &[0, 1, 2, 3],
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(sequence: &str) -> FastaRecord {
        FastaRecord {
            id: "r1".into(),
            header: "r1".into(),
            sequence: sequence.into(),
        }
    }

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(5)
    }

    #[test]
    fn bases_and_kmers_round_trip() {
        let bases = NucleotideVocab::default();
        assert_eq!(bases.num_tokens(), 4);
        assert_eq!(bases.mask_id(), 4);
        let ids = bases.encode("acgT", &mut rng()).unwrap().unwrap();
        assert_eq!(ids, [0, 1, 2, 3]);
        assert_eq!(bases.decode(&ids).unwrap(), "ACGT");
        let kmers = NucleotideVocab::new(3, Ambiguity::DropWindow).unwrap();
        assert_eq!(kmers.num_tokens(), 64);
        let ids = kmers.encode("AACCATTTGA", &mut rng()).unwrap().unwrap();
        assert_eq!(
            ids,
            [1, 19, 62],
            "AAC = 1, CAT = 19, TTG = 62; trailing A dropped"
        );
        assert_eq!(kmers.decode(&ids).unwrap(), "AACCATTTG");
        assert_eq!(kmers.decode(&[64]).unwrap(), "???");
        assert!(kmers.decode(&[65]).is_err());
        assert!(NucleotideVocab::new(0, Ambiguity::Reserve).is_err());
        assert!(NucleotideVocab::new(9, Ambiguity::Reserve).is_err());
    }

    #[test]
    fn reserve_maps_ambiguous_kmers_to_one_extra_token() {
        let vocab = NucleotideVocab::new(2, Ambiguity::Reserve).unwrap();
        assert_eq!(
            (vocab.num_tokens(), vocab.reserved_id(), vocab.mask_id()),
            (17, Some(16), 17)
        );
        let ids = vocab.encode("ACNTGG", &mut rng()).unwrap().unwrap();
        assert_eq!(ids, [1, 16, 10]);
        assert_eq!(vocab.decode(&ids).unwrap(), "ACNNGG");
    }

    #[test]
    fn drop_window_skips_exactly_the_windows_with_a_code() {
        let vocab = NucleotideVocab::default();
        assert_eq!(vocab.encode("ACYT", &mut rng()).unwrap(), None);
        let windows = vocab
            .windows(&record("ACGTACGTRACGTACG"), 4, &Placement::Stride(4), 0)
            .unwrap();
        let offsets: Vec<usize> = windows.iter().map(|w| w.offset).collect();
        assert_eq!(offsets, [0, 4, 12], "the window at 8 holds R");
    }

    #[test]
    fn resample_draws_only_allowed_bases_deterministically() {
        let vocab = NucleotideVocab::new(1, Ambiguity::Resample).unwrap();
        let sequence = "Y".repeat(200) + &"N".repeat(400);
        let first = vocab
            .windows(&record(&sequence), 600, &Placement::Stride(1), 9)
            .unwrap();
        let again = vocab
            .windows(&record(&sequence), 600, &Placement::Stride(1), 9)
            .unwrap();
        assert_eq!(
            first, again,
            "same seed and record must give the same bases"
        );
        let tokens = &first[0].tokens;
        assert!(
            tokens[..200].iter().all(|&t| t == 1 || t == 3),
            "Y is C or T"
        );
        for base in 0..4 {
            assert!(tokens[200..].contains(&base), "N never became base {base}");
        }
        let other = vocab
            .windows(&record(&sequence), 600, &Placement::Stride(1), 10)
            .unwrap();
        assert_ne!(first, other, "the seed must matter");
    }

    #[test]
    fn stride_and_random_crops_give_full_windows() {
        let vocab = NucleotideVocab::new(2, Ambiguity::DropWindow).unwrap();
        let seq = record(&"ACGTTGCA".repeat(5)); // 40 bases
        let strided = vocab.windows(&seq, 4, &Placement::Stride(8), 0).unwrap();
        let offsets: Vec<usize> = strided.iter().map(|w| w.offset).collect();
        assert_eq!(offsets, [0, 8, 16, 24, 32]);
        assert!(
            strided
                .iter()
                .all(|w| w.tokens.len() == 4 && w.record_id == "r1")
        );
        let crops = vocab
            .windows(&seq, 4, &Placement::RandomCrops(50), 1)
            .unwrap();
        assert_eq!(crops.len(), 50);
        assert!(crops.iter().all(|w| w.offset <= 32 && w.tokens.len() == 4));
        assert_eq!(
            crops,
            vocab
                .windows(&seq, 4, &Placement::RandomCrops(50), 1)
                .unwrap()
        );
        let seq_text = &seq.sequence;
        let w = &crops[7];
        assert_eq!(
            vocab.decode(&w.tokens).unwrap(),
            seq_text[w.offset..w.offset + 8]
        );
        assert!(
            vocab
                .windows(&seq, 21, &Placement::Stride(1), 0)
                .unwrap()
                .is_empty()
        );
        assert!(vocab.windows(&seq, 4, &Placement::Stride(0), 0).is_err());
    }

    #[test]
    fn anchored_windows_start_after_the_motifs_first_match() {
        let vocab = NucleotideVocab::default();
        // GCMG matches GCAG (M = A or C) at 6; the later GCCG is a second match.
        let seq = record("TTTTTTGCAGACGTACGTGCCGTT");
        let motif = Motif::new("gcmg").unwrap();
        assert_eq!((motif.pattern(), motif.len()), ("GCMG", 4));
        assert_eq!(motif.find(&seq.sequence), Some(6));
        let anchored = |offset, length| {
            let placement = Placement::Anchored {
                motif: motif.clone(),
                offset,
            };
            vocab.windows(&seq, length, &placement, 0).unwrap()
        };
        let windows = anchored(2, 4);
        assert_eq!(windows.len(), 1);
        assert_eq!(windows[0].offset, 12);
        assert_eq!(vocab.decode(&windows[0].tokens).unwrap(), "GTAC");
        assert_eq!(
            anchored(0, 14)[0].offset,
            10,
            "a window ending at the last base fits"
        );
        assert!(anchored(0, 15).is_empty(), "one base too long");
        // An ambiguity code in the sequence matches nothing, even N against N.
        assert_eq!(Motif::new("NCAG").unwrap().find("NCAGT"), None);
        assert_eq!(Motif::new("ACGT").unwrap().find("AAAA"), None);
        assert!(Motif::new("").is_err());
        let err = Motif::new("ACXT").unwrap_err().to_string();
        assert!(err.starts_with("base 'X' at position 2"), "{err}");
    }

    #[test]
    fn invalid_base_names_character_and_position() {
        let err = NucleotideVocab::default()
            .encode("ACX", &mut rng())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("base 'X' at position 2"), "{err}");
    }
}
