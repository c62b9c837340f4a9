//! The FASTA reader, taxonomy, splits and nucleotide windows on the real 16S file in
//! `../shared/data/dna` (see `gtl_data::shared_data_dir`); each test skips with a printed
//! reason when the data is absent.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use gtl_data::{
    Ambiguity, FastaReader, Motif, NucleotideVocab, Placement, Splitter, TaxonFilter, rank,
    read_fasta,
};

fn fasta_path(test: &str) -> Option<PathBuf> {
    let path = gtl_data::shared_data_dir().map(|d| d.join("dna/rRNA16S.gold.fasta"));
    if !path.as_ref().is_some_and(|p| p.is_file()) {
        eprintln!(
            "{test}: skipped, no shared data (set GTL_SHARED_DATA or add ../shared/data/dna)"
        );
        return None;
    }
    path
}

#[test]
fn records_and_phyla_match_the_data_readme() {
    let Some(path) = fasta_path("records_and_phyla_match_the_data_readme") else {
        return;
    };
    let records = read_fasta(&path).unwrap();
    assert_eq!(records.len(), 5_181);
    let streamed = FastaReader::open(&path)
        .unwrap()
        .filter(|r| r.is_ok())
        .count();
    assert_eq!(streamed, 5_181, "streaming reader disagrees");
    let ids: HashSet<&str> = records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 5_181, "duplicate ids");
    for record in &records {
        assert!(
            (1_205..=1_655).contains(&record.sequence.len()),
            "{}",
            record.id
        );
        assert!(
            record.sequence.bytes().all(|b| b.is_ascii_uppercase()),
            "{}",
            record.id
        );
    }
    let mut phyla: HashMap<&str, usize> = HashMap::new();
    for record in &records {
        *phyla
            .entry(record.taxon(rank::PHYLUM).unwrap_or("?"))
            .or_default() += 1;
    }
    for (phylum, expected) in [
        ("Proteobacteria", 1_947),
        ("Firmicutes", 1_199),
        ("Actinobacteria", 1_190),
        ("Bacteroidetes", 374),
        ("Tenericutes", 163),
    ] {
        assert_eq!(phyla.get(phylum), Some(&expected), "{phylum}");
    }
    let source = TaxonFilter::new(
        rank::PHYLUM,
        ["Proteobacteria", "Firmicutes", "Actinobacteria"],
    )
    .unwrap();
    assert_eq!(records.iter().filter(|r| source.accepts(r)).count(), 4_336);
}

#[test]
fn splits_by_sequence_id_are_disjoint_complete_and_stable() {
    let Some(path) = fasta_path("splits_by_sequence_id") else {
        return;
    };
    let target = TaxonFilter::new(rank::PHYLUM, ["Bacteroidetes"]).unwrap();
    let records: Vec<_> = FastaReader::open(&path)
        .unwrap()
        .map(Result::unwrap)
        .filter(|r| target.accepts(r))
        .collect();
    let splitter = Splitter::new(7, 0.1, 0.1).unwrap();
    let parts = splitter.partition(records.iter().cloned());
    assert_eq!(
        parts,
        splitter.partition(records.iter().cloned()),
        "not stable"
    );
    let total = parts.train.len() + parts.validation.len() + parts.test.len();
    assert_eq!(total, 374);
    let ids: HashSet<&str> = parts
        .train
        .iter()
        .chain(&parts.validation)
        .chain(&parts.test)
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(ids.len(), 374, "a record is in two splits");
    let train_fraction = parts.train.len() as f64 / 374.0;
    assert!(
        (train_fraction - 0.8).abs() < 0.06,
        "train fraction {train_fraction}"
    );
}

#[test]
fn windows_of_128_bases_under_each_ambiguity_policy() {
    let Some(path) = fasta_path("windows_of_128_bases") else {
        return;
    };
    let records = read_fasta(&path).unwrap();
    let mut counts = Vec::new();
    for ambiguity in [
        Ambiguity::DropWindow,
        Ambiguity::Reserve,
        Ambiguity::Resample,
    ] {
        let vocab = NucleotideVocab::new(1, ambiguity).unwrap();
        let mut windows = 0;
        for record in &records {
            for window in vocab
                .windows(record, 128, &Placement::Stride(128), 3)
                .unwrap()
            {
                assert_eq!(window.tokens.len(), 128);
                assert!(
                    window
                        .tokens
                        .iter()
                        .all(|&t| (t as usize) < vocab.num_tokens())
                );
                if ambiguity == Ambiguity::DropWindow {
                    let bases = &record.sequence[window.offset..window.offset + 128];
                    assert_eq!(vocab.decode(&window.tokens).unwrap(), bases);
                }
                windows += 1;
            }
        }
        counts.push(windows);
    }
    eprintln!(
        "16S windows, L = 128, stride 128: drop {} / reserve {} / resample {}",
        counts[0], counts[1], counts[2]
    );
    assert_eq!(
        counts[1], counts[2],
        "reserve and resample keep every window"
    );
    let dropped = 1.0 - counts[0] as f64 / counts[1] as f64;
    assert!(
        (0.05..0.15).contains(&dropped),
        "dropped fraction {dropped}"
    );
}

/// Windows anchored after the V4 primer 515F: per phylum, the sequences holding the primer
/// (counted with Python's `re` on the same file, each IUPAC code as a character class), and
/// every window starting right after a match that no earlier position gives, checked here
/// base by base with an IUPAC table of the test's own.
#[test]
fn windows_anchored_after_the_515f_primer() {
    let Some(path) = fasta_path("windows_anchored_after_the_515f_primer") else {
        return;
    };
    const PRIMER: &str = "GTGCCAGCMGCCGCGGTAA";
    let matches_at = |sequence: &[u8], at: usize| {
        PRIMER.bytes().enumerate().all(|(i, code)| {
            let base = sequence[at + i];
            match code {
                b'M' => base == b'A' || base == b'C',
                _ => base == code,
            }
        })
    };
    let records = read_fasta(&path).unwrap();
    let placement = Placement::Anchored {
        motif: Motif::new(PRIMER).unwrap(),
        offset: 0,
    };
    let vocab = NucleotideVocab::default();
    let mut with_primer: HashMap<&str, usize> = HashMap::new();
    let mut windows: HashMap<&str, usize> = HashMap::new();
    for record in &records {
        let phylum = record.taxon(rank::PHYLUM).unwrap_or("?");
        let sequence = record.sequence.as_bytes();
        let first = (0..=sequence.len() - PRIMER.len()).find(|&at| matches_at(sequence, at));
        *with_primer.entry(phylum).or_default() += usize::from(first.is_some());
        let cut = vocab.windows(record, 128, &placement, 0).unwrap();
        assert!(cut.len() <= 1, "{}: one window per sequence", record.id);
        if let Some(window) = cut.first() {
            assert_eq!(Some(window.offset - PRIMER.len()), first, "{}", record.id);
            assert_eq!(
                vocab.decode(&window.tokens).unwrap(),
                record.sequence[window.offset..window.offset + 128]
            );
            *windows.entry(phylum).or_default() += 1;
        }
    }
    for (phylum, expected) in [
        ("Proteobacteria", 1_884),
        ("Firmicutes", 1_146),
        ("Actinobacteria", 1_131),
        ("Bacteroidetes", 324),
    ] {
        assert_eq!(with_primer[phylum], expected, "{phylum}");
        // Windows holding an ambiguity code are dropped; most are kept.
        let kept = windows[phylum] as f64 / expected as f64;
        eprintln!("{phylum}: {expected} sequences hold 515F, {kept:.3} of them give a window");
        assert!(kept > 0.9, "{phylum}: {kept}");
    }
}
