//! Times the text and DNA metrics on synthetic data of realistic size:
//! `cargo run --release -p gtl-eval --example metric_timings`.

use std::time::Instant;

use gtl_eval::{
    DomainJudge, HashedTfidf, JudgeConfig, KmerSpectrum, KneserNey, KneserNeyConfig, MauveConfig,
    NgramIndex, RdpClassifier, RdpConfig, SuffixAutomaton, TfidfConfig, bootstrap_mean, distinct_n,
    hashed_tfidf_mauve, mauve, words,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `n` texts of `len` words drawn from a Zipf-like law over `vocab` words; a share
/// `shifted` of the words come from the law moved by 7 ranks, so that two domains differ in
/// some of their frequent words.
fn texts(rng: &mut ChaCha8Rng, n: usize, len: usize, vocab: u32, shifted: f64) -> Vec<String> {
    (0..n)
        .map(|_| {
            (0..len)
                .map(|_| {
                    let u: f64 = rng.random();
                    let rank = (vocab as f64).powf(u) as u32; // log-uniform rank ≈ Zipf
                    let shift = if rng.random::<f64>() < shifted { 7 } else { 0 };
                    format!("w{}", (rank + shift) % vocab)
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// `n` DNA sequences of `len` bases: copies of one of `taxa` random ancestors with 10 % of
/// bases substituted; returns the sequences and their labels.
fn dna(rng: &mut ChaCha8Rng, n: usize, len: usize, taxa: usize) -> (Vec<Vec<u8>>, Vec<String>) {
    let mut ancestor_rng = ChaCha8Rng::seed_from_u64(99);
    let ancestors: Vec<Vec<u8>> = (0..taxa)
        .map(|_| {
            (0..len)
                .map(|_| b"ACGT"[ancestor_rng.random_range(0..4)])
                .collect()
        })
        .collect();
    (0..n)
        .map(|i| {
            let t = i % taxa;
            let sequence = ancestors[t]
                .iter()
                .map(|&b| {
                    if rng.random::<f64>() < 0.1 {
                        b"ACGT"[rng.random_range(0..4)]
                    } else {
                        b
                    }
                })
                .collect();
            (sequence, format!("taxon{t}"))
        })
        .unzip()
}

fn time<T>(label: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    println!("{label}: {:.2} s", start.elapsed().as_secs_f64());
    out
}

fn main() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let source = texts(&mut rng, 5000, 200, 20_000, 0.0);
    let target = texts(&mut rng, 5000, 200, 20_000, 0.2);
    let judge = time("judge fit, 5,000 + 5,000 texts of 200 words", || {
        DomainJudge::fit(&source, &target, &JudgeConfig::default()).unwrap()
    });
    println!("  iterations {}", judge.iterations());
    let held_s = texts(&mut rng, 1000, 200, 20_000, 0.0);
    let held_t = texts(&mut rng, 1000, 200, 20_000, 0.2);
    let accuracy = time("judge accuracy, 2,000 texts", || {
        judge.accuracy(&held_s, &held_t).unwrap()
    });
    println!("  accuracy {accuracy:.3}");
    let model = time("Kneser–Ney order 3 fit, 10,000 texts", || {
        KneserNey::fit(
            &[source.clone(), target.clone()].concat(),
            &KneserNeyConfig::default(),
        )
        .unwrap()
    });
    let ppl = time("perplexity of 2,000 texts", || {
        model.perplexity(&held_s).unwrap()
    });
    println!("  perplexity {ppl:.1}");
    let features = time("hashed TF-IDF fit and embed, 2,000 texts", || {
        let both = [held_s.clone(), held_t.clone()].concat();
        let map = HashedTfidf::fit(&both, &TfidfConfig::default()).unwrap();
        both.iter().map(|t| map.embed(t)).collect::<Vec<_>>()
    });
    time(
        "MAUVE of those features (k = 100, 5 seeds × 5 restarts)",
        || {
            mauve(
                &features[..1000],
                &features[1000..],
                &MauveConfig::default(),
            )
            .unwrap()
        },
    );
    let score = time("hashed TF-IDF MAUVE, 1,000 vs 1,000 texts", || {
        hashed_tfidf_mauve(
            &held_s,
            &held_t,
            &TfidfConfig::default(),
            &MauveConfig::default(),
        )
        .unwrap()
    });
    println!("  MAUVE {:.3} (per seed {:?})", score.score, score.per_seed);

    let p_target: Vec<f64> = held_t.iter().map(|t| judge.p_target(t)).collect();
    let ci = time(
        "bootstrap of mean P(target), 1,000 values × 1,000 resamples",
        || bootstrap_mean(&p_target, 1000, 0.95, 0).unwrap(),
    );
    println!("  {ci:?}");
    let tokenised: Vec<Vec<String>> = held_s.iter().map(|t| words(t)).collect();
    let d3 = time("distinct-3 of 1,000 texts", || {
        distinct_n(&tokenised, 3).unwrap()
    });
    println!("  distinct-3 {d3:.3}");

    // Token ids: a 2,000,000-token training stream, 1,000 samples of 1,024 tokens.
    let train_ids: Vec<Vec<u32>> = (0..2000)
        .map(|_| (0..1000).map(|_| rng.random_range(0..50_000)).collect())
        .collect();
    let index = time("n-gram index, n = 50, 2,000,000 training tokens", || {
        NgramIndex::new(&train_ids, NgramIndex::DEFAULT_N).unwrap()
    });
    let samples: Vec<Vec<u32>> = (0..1000)
        .map(|i| {
            let mut s: Vec<u32> = (0..1024).map(|_| rng.random_range(0..50_000)).collect();
            if i % 10 == 0 {
                s[100..200].copy_from_slice(&train_ids[i][300..400]); // copied passages
            }
            s
        })
        .collect();
    let share = time("memorised share of 1,000 samples of 1,024 tokens", || {
        index.memorised_share(&samples)
    });
    println!("  memorised {share:.3}");

    // DNA: 1,000 training and 1,000 held-out sequences of 1,500 bases, 20 taxa.
    let (train, train_labels) = dna(&mut rng, 1000, 1500, 20);
    let (test, test_labels) = dna(&mut rng, 1000, 1500, 20);
    let rdp = time("RDP fit, 1,000 sequences of 1,500 bases, k = 8", || {
        RdpClassifier::fit(&train, &train_labels, &RdpConfig::default()).unwrap()
    });
    let matrix = time("RDP evaluate (no bootstrap), 1,000 sequences", || {
        rdp.evaluate(&test, &test_labels).unwrap()
    });
    println!("  accuracy {:.3}", matrix.accuracy());
    let confidence = time("RDP classify with 100 bootstraps, 1,000 sequences", || {
        test.iter()
            .filter_map(|s| rdp.classify(s))
            .map(|a| a.confidence)
            .sum::<f64>()
            / 1000.0
    });
    println!("  mean confidence {confidence:.3}");
    time(
        "k-mer spectra k = 1..=6 and JS, 1,000 vs 1,000 sequences",
        || {
            for k in 1..=6 {
                let js = KmerSpectrum::new(&train, k)
                    .unwrap()
                    .jensen_shannon(&KmerSpectrum::new(&test, k).unwrap())
                    .unwrap();
                println!("  k = {k}: JS {js:.5}");
            }
        },
    );
    let automaton = time("suffix automaton of 300 sequences of 1,500 bases", || {
        SuffixAutomaton::new(&train[..300]).unwrap()
    });
    let longest = time("LCS of 1,000 queries of 1,500 bases", || {
        test.iter()
            .map(|q| automaton.longest_common_substring(q))
            .max()
            .unwrap_or(0)
    });
    println!("  longest {longest}, states {}", automaton.states());
    let token_automaton = time(
        "suffix automaton of 300 token sequences of 1,000 ids",
        || SuffixAutomaton::new(&train_ids[..300]).unwrap(),
    );
    let longest = time("LCS of 1,000 token samples of 1,024 ids", || {
        samples
            .iter()
            .map(|q| token_automaton.longest_common_substring(q))
            .max()
            .unwrap_or(0)
    });
    println!("  longest {longest}");
}
