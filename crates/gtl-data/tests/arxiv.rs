//! Readers, domains, splits, the tokenizer and packing on the real arXiv shards in
//! `../shared/data/arxiv` (see `gtl_data::shared_data_dir`); each test skips with a printed
//! reason when the data is absent.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

use gtl_data::{
    Document, Domain, Splitter, TextTokenizer, keep_fraction, move_overlap, read_domain,
    read_shards,
};

fn arxiv_dir(test: &str) -> Option<PathBuf> {
    let dir = gtl_data::shared_data_dir().map(|d| d.join("arxiv"));
    if !dir.as_ref().is_some_and(|d| d.is_dir()) {
        eprintln!(
            "{test}: skipped, no shared data (set GTL_SHARED_DATA or add ../shared/data/arxiv)"
        );
        return None;
    }
    dir
}

fn domain(dir: &std::path::Path, prefixes: &[&str]) -> Vec<Document> {
    read_domain(dir, &Domain::new(prefixes.iter().copied()).unwrap()).unwrap()
}

#[test]
fn shard_counts_match_the_data_readme() {
    let Some(dir) = arxiv_dir("shard_counts_match_the_data_readme") else {
        return;
    };
    for (prefix, expected) in [
        ("cs", 12_000),
        ("math", 2_371),
        ("physics", 279),
        ("astro-ph", 4_000),
    ] {
        let docs = read_shards(&dir, prefix).unwrap();
        assert_eq!(docs.len(), expected, "{prefix}");
        let ids: HashSet<&str> = docs.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids.len(), expected, "{prefix}: duplicate ids");
        assert!(
            docs.iter()
                .all(|d| !d.text.is_empty() && d.categories[0] == d.primary)
        );
        assert_eq!(
            domain(&dir, &[prefix]).len(),
            expected,
            "{prefix} as a domain"
        );
    }
    let source = domain(&dir, &["cs", "math"]);
    assert_eq!(source.len(), 14_371);
    assert!(
        source
            .iter()
            .all(|d| d.primary.starts_with("cs.") || d.primary.starts_with("math."))
    );
    let representation_theory = domain(&dir, &["math.RT"]);
    assert_eq!(representation_theory.len(), 1_278);
    let err = read_domain(&dir, &Domain::new(["hep-th"]).unwrap()).unwrap_err();
    assert!(err.to_string().contains("hep-th-NN.jsonl"), "{err}");
}

#[test]
fn splits_of_real_domains_are_disjoint_complete_stable_and_near_the_fractions() {
    let Some(dir) = arxiv_dir("splits_of_real_domains") else {
        return;
    };
    let source = domain(&dir, &["cs", "math"]);
    let splitter = Splitter::new(42, 0.1, 0.1).unwrap();
    let parts = splitter.partition(source.iter().cloned());
    assert_eq!(
        parts,
        splitter.partition(source.iter().cloned()),
        "not stable"
    );
    let n = source.len() as f64;
    for (name, len) in [
        ("validation", parts.validation.len()),
        ("test", parts.test.len()),
    ] {
        let fraction = len as f64 / n;
        assert!((fraction - 0.1).abs() < 0.01, "{name} fraction {fraction}");
    }
    let mut seen = HashSet::new();
    for doc in parts
        .train
        .iter()
        .chain(&parts.validation)
        .chain(&parts.test)
    {
        assert!(seen.insert(doc.id.as_str()), "{} in two splits", doc.id);
    }
    assert_eq!(seen.len(), source.len(), "a document was lost");

    // The paper's target side: 90/10 physics, r of the training part moved to the source,
    // keep fractions of the rest nested.
    let physics = domain(&dir, &["physics"]);
    let target = Splitter::new(42, 0.1, 0.0).unwrap().partition(physics);
    let overlap = move_overlap(target.train.clone(), 0.05, 42).unwrap();
    let expected_moved = (0.05 * target.train.len() as f64).round() as usize;
    assert_eq!(overlap.to_source.len(), expected_moved);
    let sizes: Vec<Vec<Document>> = [0.01, 0.05, 0.30, 1.0]
        .iter()
        .map(|&f| keep_fraction(&overlap.target, f, 42).unwrap())
        .collect();
    for pair in sizes.windows(2) {
        let larger: HashSet<&str> = pair[1].iter().map(|d| d.id.as_str()).collect();
        assert!(
            pair[0].iter().all(|d| larger.contains(d.id.as_str())),
            "not nested"
        );
        assert!(pair[0].len() < pair[1].len());
    }
    eprintln!(
        "physics: {} train ({} moved to source at r = 0.05), {} validation; keep 1/5/30/100%: {:?}",
        target.train.len(),
        overlap.to_source.len(),
        target.validation.len(),
        sizes.iter().map(Vec::len).collect::<Vec<_>>()
    );
}

/// Trains the 4,096-token BPE once and checks round trips and packing with it; prints the
/// training time and the window counts at L = 128.
#[test]
fn bpe_on_cs_and_math_round_trips_real_abstracts_and_packs_windows() {
    let Some(dir) = arxiv_dir("bpe_on_cs_and_math") else {
        return;
    };
    let splitter = Splitter::new(42, 0.1, 0.0).unwrap();
    let train = splitter.partition(domain(&dir, &["cs", "math"])).train;
    let texts: Vec<&str> = train.iter().map(|d| d.text.as_str()).collect();
    let started = Instant::now();
    let tokenizer = TextTokenizer::train_bpe(&texts, 4_096).unwrap();
    eprintln!(
        "BPE: {} real tokens trained on {} cs+math training abstracts ({:.1} MB) in {:.2} s",
        tokenizer.num_tokens(),
        texts.len(),
        texts.iter().map(|t| t.len()).sum::<usize>() as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    assert_eq!(tokenizer.num_tokens(), 4_096);
    assert_eq!(tokenizer.mask_id(), 4_096);

    for prefix in ["physics", "astro-ph"] {
        let docs = domain(&dir, &[prefix]);
        let texts: Vec<&str> = docs.iter().map(|d| d.text.as_str()).collect();
        let encoded = tokenizer.encode_all(&texts).unwrap();
        for (text, ids) in texts.iter().zip(&encoded) {
            assert!(ids.iter().all(|&id| id < tokenizer.mask_id()));
            assert_eq!(tokenizer.decode(ids).unwrap(), *text, "round trip failed");
        }
        let tokens: usize = encoded.iter().map(Vec::len).sum();
        let windows = tokenizer.pack(&texts, 128).unwrap();
        assert_eq!(
            windows.len(),
            (tokens + docs.len()) / 126,
            "{prefix}: window count"
        );
        for window in &windows {
            assert_eq!(window.tokens.len(), 128);
            assert_eq!(window.tokens[0], tokenizer.begin_id());
            assert_eq!(window.tokens[127], tokenizer.end_id());
        }
        let first = tokenizer.decode(&windows[0].tokens).unwrap();
        let start = &texts[0][..40];
        assert!(first.starts_with(&format!("[CLS]{start}")), "{first}");
        eprintln!(
            "{prefix}: {} documents, {tokens} tokens, {} windows of L = 128",
            docs.len(),
            windows.len()
        );
    }
}
