//! The DNA task on the real 16S file (`../shared/data/dna`): the phylum judge beats chance by
//! a margin on held-out windows, and the CI-sized experiment runs every stage and reports.
//! Both skip, saying why, when the shared data is absent.

use std::path::PathBuf;
use std::sync::Arc;

use burn::backend::{Autodiff, NdArray};
use gtl_experiment::report::DnaEvaluator;
use gtl_experiment::{ExperimentConfig, LogObserver, RunOptions};

type TB = Autodiff<NdArray>;

/// A config of `configs/` with its FASTA path pointed at the shared data, or `None` (after
/// saying so) when the data is absent.
fn config_with_shared_data(text: &str, test: &str) -> Option<ExperimentConfig> {
    let Some(shared) = gtl_data::shared_data_dir().filter(|d| d.join("dna").is_dir()) else {
        eprintln!(
            "{test}: skipped: ../shared/data/dna is absent (set GTL_SHARED_DATA to run this test)"
        );
        return None;
    };
    let fasta = shared.join("dna/rRNA16S.gold.fasta");
    let text = text.replace(
        "fasta = \"../shared/data/dna/rRNA16S.gold.fasta\"",
        &format!("fasta = {:?}", fasta.display().to_string()),
    );
    Some(ExperimentConfig::parse(&text).unwrap())
}

/// The judge of the default config, trained on held-out sequences of the four phyla, on
/// held-out real windows of 128 bases (after the primer 515F) of other sequences: chance is
/// 0.25 (balanced).
#[test]
fn the_phylum_judge_beats_chance_on_held_out_windows_of_the_real_file() {
    let Some(config) = config_with_shared_data(
        include_str!("../../../configs/dna-16s.toml"),
        "the_phylum_judge_beats_chance",
    ) else {
        return;
    };
    let evaluator = DnaEvaluator::new(&config).unwrap();
    let reference = evaluator.reference().unwrap();
    eprintln!(
        "judge: {} training sequences, {} held-out windows of {} bases, accuracy {:.3}, \
         balanced accuracy {:.3}, labels {:?}, confusion {:?}",
        reference.judge_sequences,
        reference.judge_windows,
        config.length(),
        reference.judge_accuracy,
        reference.judge_balanced_accuracy,
        reference.labels,
        reference.confusion
    );
    assert_eq!(
        reference.labels,
        [
            "Actinobacteria",
            "Bacteroidetes",
            "Firmicutes",
            "Proteobacteria"
        ]
    );
    assert!(
        reference.judge_sequences > 500,
        "{}",
        reference.judge_sequences
    );
    // One window per scored held-out sequence that holds the primer 515F (about 2 in 5 of
    // the quarter held out, 93 % of them with the primer).
    assert!(reference.judge_windows > 300, "{}", reference.judge_windows);
    // Chance is 0.25; demand a wide margin.
    assert!(
        reference.judge_balanced_accuracy > 0.75,
        "balanced accuracy {}",
        reference.judge_balanced_accuracy
    );
    // Real held-out target windows go to the target; real source windows mostly do not.
    assert!(reference.target.target_share.mean > 0.75);
    assert!(reference.source.target_share.mean < 0.15);
    // Real windows share substrings with the target sequences (conserved regions), but
    // shorter than a window on average.
    assert!(reference.target.lcs.mean > 8.0 && reference.target.lcs.mean < 128.0);
}

#[test]
fn a_ci_sized_dna_experiment_runs_and_reports() {
    let Some(config) = config_with_shared_data(
        include_str!("../../../configs/dna-ci.toml"),
        "a_ci_sized_dna_experiment_runs_and_reports",
    ) else {
        return;
    };
    let runs: PathBuf =
        std::env::temp_dir().join(format!("gtl-experiment-dna-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&runs);
    let options = RunOptions {
        runs_dir: runs.clone(),
        workers: Some(2),
        observer: Arc::new(LogObserver),
    };
    let report = gtl_experiment::run::<TB>(&config, &options, &[Default::default()]).unwrap();
    let run_dir = runs.join(&config.name);
    assert_eq!(report.metrics.settings.len(), 2);
    let all = &report.metrics.settings[0];
    assert_eq!(all.label, "n=all");
    let reference = all.dna_reference.as_ref().expect("reference rows");
    assert_eq!(all.value, reference.target_sequences as f64);
    assert_eq!(report.metrics.settings[1].value, 5.0);
    assert_eq!(
        report.metrics.settings[1]
            .dna_reference
            .as_ref()
            .unwrap()
            .target_sequences,
        5
    );
    for setting in &report.metrics.settings {
        let reference = setting.dna_reference.as_ref().unwrap();
        assert!(reference.judge_balanced_accuracy > 0.25);
        assert_eq!(setting.methods.len(), config.experiment.methods.len());
        for m in &setting.methods {
            let d = m.dna.as_ref().expect("DNA scores");
            let p = d.target_share;
            assert!(
                0.0 <= p.low && p.low <= p.mean && p.mean <= p.high && p.high <= 1.0,
                "{p:?}"
            );
            assert_eq!(d.kmer_js.len(), 6);
            assert!(d.kmer_js.iter().all(|js| (0.0..=1.0).contains(js)));
            assert!(d.js6.low <= d.js6.mean && d.js6.mean <= d.js6.high);
            assert!((0.0..=1.0).contains(&d.gc_mean) && (0.0..=1.0).contains(&d.gc_ks));
            assert!(d.lcs_max <= config.length());
            assert!(m.scores.is_none() && m.text.is_none());
            assert_eq!(m.examples.len(), d.samples.min(3));
            for example in &m.examples {
                assert_eq!(example.len(), config.length());
                assert!(example.bytes().all(|b| b"ACGT".contains(&b)), "{example}");
            }
        }
        for name in ["source", "target-only", "full-finetune"] {
            let nelbo = setting.method(name).unwrap().nelbo_target;
            assert!(nelbo.is_some_and(|n| n > 0.0), "{name}: {nelbo:?}");
        }
        // Target-only searched its own learning rates ([finetune.target_only]); fine-tuning
        // trained once, with the shared section's rate.
        let trials = &setting.method("target-only").unwrap().trials;
        let rates: Vec<f64> = trials.iter().map(|t| t.learning_rate).collect();
        assert_eq!(rates, [1e-2, 3e-3]);
        assert_eq!(trials.iter().filter(|t| t.chosen).count(), 1);
        assert!(trials.iter().all(|t| t.steps <= 20));
        let trials = &setting.method("full-finetune").unwrap().trials;
        let rates: Vec<f64> = trials.iter().map(|t| t.learning_rate).collect();
        assert_eq!(rates, [config.finetune.training.learning_rate]);
    }
    let samples = std::fs::read_to_string(run_dir.join("samples/n_5/gtl.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = samples
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), config.guidance.samples);
    for line in &lines {
        let tokens: Vec<u32> = serde_json::from_value(line["tokens"].clone()).unwrap();
        assert_eq!(tokens.len(), config.length());
        let bases = gtl_experiment::dna::decode(&tokens);
        assert_eq!(line["text"].as_str().unwrap(), bases);
    }
    for file in [
        "report.md",
        "results.csv",
        "plots/target-share.png",
        "plots/kmer-js.png",
        "plots/lcs.png",
        "plots/judge-confusion.png",
    ] {
        assert!(run_dir.join(file).is_file(), "{file} missing");
    }
    let text = std::fs::read_to_string(run_dir.join("report.md")).unwrap();
    for section in [
        "## Results",
        "balanced accuracy",
        "## Targets",
        "## Samples",
        "real target (held out)",
        "one per sequence, starting 0 bases after the first match of GTGCCAGCMGCCGCGGTAA",
    ] {
        assert!(text.contains(section), "{section} missing from report.md");
    }
    let again = gtl_experiment::run::<TB>(&config, &options, &[Default::default()]).unwrap();
    assert!(again.metrics.stages.iter().all(|s| s.cached));
    assert_eq!(again.metrics.settings, report.metrics.settings);

    // The sweep (γ and top-n axes of dna-ci.toml) reports DNA cells, not Markov ones.
    let sweep = gtl_experiment::sweep::run::<TB>(&config, &options, &[Default::default()]).unwrap();
    let text = std::fs::read_to_string(sweep.run_dir.join("report.md")).unwrap();
    assert!(text.contains("target share (6-mer JS)"), "{text}");
    assert!(text.contains("phylum judge's target share"), "{text}");
    for markov in [
        "transition error",
        "Ratio error by setting",
        "overtakes GTL",
    ] {
        assert!(!text.contains(markov), "{markov} in a DNA sweep report");
    }
    let _ = std::fs::remove_dir_all(&runs);
}

/// `dna.ambiguity`: "drop-window" skips every window with an IUPAC code, "resample" keeps it
/// with a base the code allows. On the real file the second gives strictly more source
/// training windows (the file has ambiguity codes), the windows it shares with the first are
/// unchanged, every token is a base, and the two settings have different data keys.
#[test]
fn ambiguity_codes_are_dropped_or_resampled_as_configured() {
    let Some(dropped) = config_with_shared_data(
        include_str!("../../../configs/dna-16s.toml"),
        "ambiguity_codes_are_dropped_or_resampled",
    ) else {
        return;
    };
    let mut resampled = dropped.clone();
    if let Some(dna) = resampled.dna.as_mut() {
        dna.ambiguity = gtl_experiment::config::AmbiguityPolicy::Resample;
    }
    let a = gtl_experiment::data::TaskData::dna(&dropped).unwrap();
    let b = gtl_experiment::data::TaskData::dna(&resampled).unwrap();
    eprintln!(
        "source training windows: drop-window {}, resample {}",
        a.source_train.len(),
        b.source_train.len()
    );
    assert!(b.source_train.len() > a.source_train.len());
    assert!(b.source_train.iter().flatten().all(|&t| t < 4));
    let kept: std::collections::HashSet<&Vec<u32>> = b.source_train.iter().collect();
    assert!(a.source_train.iter().all(|w| kept.contains(w)));
    assert_ne!(
        gtl_experiment::keys::data(&dropped).unwrap(),
        gtl_experiment::keys::data(&resampled).unwrap()
    );
}
