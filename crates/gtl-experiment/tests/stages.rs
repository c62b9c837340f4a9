//! Single stages of configs/markov-tiny.toml through `run::train`: the denoiser against the
//! exact oracle, the classifiers and the ratio network, the fine-tuning baselines, LoRA's
//! seeded adapters, and cache keys that follow the contents of a chain file.

use std::path::PathBuf;
use std::sync::Arc;

use burn::backend::{Autodiff, NdArray};
use burn::tensor::backend::Backend;
use gtl_experiment::config::{ChainSpec, HeadStart};
use gtl_experiment::nets::denoiser_net;
use gtl_experiment::run::{Setting, StageRecord, plan, stages_dir, train};
use gtl_experiment::stage::{
    BaselineStage, BaselineSummary, ClassifierSummary, DenoiserSummary, Graph, RatioSummary,
    TIME_BINS,
};
use gtl_experiment::{ExperimentConfig, Method, RunOptions, StageName};
use gtl_models::DenoiserNet;

type TB = Autodiff<NdArray>;

const TINY: &str = include_str!("../../../configs/markov-tiny.toml");

fn temp_runs(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gtl-stages-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn summary<T: serde::de::DeserializeOwned>(record: &StageRecord) -> T {
    serde_json::from_value(record.outcome.as_ref().unwrap().done.summary.clone()).unwrap()
}

fn train_stage(config: &ExperimentConfig, stage: StageName, runs: &PathBuf) -> Vec<StageRecord> {
    let options = RunOptions {
        workers: Some(2),
        ..RunOptions::new(runs)
    };
    train::<TB>(config, stage, &options, &[Default::default()]).unwrap()
}

/// A seconds-long run of the tiny denoiser on a structured chain (diagonal 0.8, where the
/// unigram baseline is far from the exact NLL): the NELBO per token must fall below the
/// unigram baseline's and come within a measured margin of the exact oracle's.
#[test]
fn a_short_denoiser_run_beats_unigram_and_nears_the_oracle() {
    let text = TINY.replacen("diag = 0.1", "diag = 0.8", 1);
    check_short_run(&text, "absorbing", GAP_BOUND);
}

/// The same under roulette noise with score entropy (guards against copying unmasked
/// tokens, which is only right for the absorbing process).
#[test]
fn a_short_roulette_run_beats_unigram_and_nears_the_oracle() {
    let text = TINY
        .replacen("diag = 0.1", "diag = 0.8", 1)
        .replace("kind = \"absorbing\"", "kind = \"roulette\"")
        .replace("loss = \"mdlm-nelbo\"", "loss = \"score-entropy\"");
    check_short_run(&text, "roulette", ROULETTE_GAP_BOUND);
}

fn check_short_run(text: &str, name: &str, gap_bound: f64) {
    let config = ExperimentConfig::parse(text).unwrap();
    let runs = temp_runs(&format!("nelbo-{name}"));
    let records = train_stage(&config, StageName::Denoiser, &runs);
    let summary: DenoiserSummary = summary(&records[0]);
    let (oracle, unigram) = (
        summary.nelbo_oracle.unwrap(),
        summary.nelbo_unigram.unwrap(),
    );
    eprintln!(
        "{name}: NELBO/token: model {:.4}, oracle {oracle:.4}, unigram {unigram:.4}; exact NLL {:?}",
        summary.nelbo_model, summary.exact_nll_per_token
    );
    for file in [
        "key.txt",
        "done.json",
        "checkpoint.bin",
        "metrics.csv",
        "model.mpk",
    ] {
        assert!(records[0].dir.join(file).is_file(), "{file} missing");
    }
    let headroom = unigram - oracle;
    assert!(
        headroom > 0.5,
        "the benchmark should leave room: {headroom}"
    );
    assert!(
        summary.nelbo_model < unigram - 0.5 * headroom,
        "{name}: model {} vs unigram {unigram}",
        summary.nelbo_model,
    );
    let gap = summary.gap_to_oracle.unwrap();
    assert!(gap < gap_bound, "{name}: gap to the oracle {gap}");
    let _ = std::fs::remove_dir_all(&runs);
}

/// The measured gap of the absorbing run (0.049 nats/token), doubled.
const GAP_BOUND: f64 = 0.1;

/// The measured gap of the roulette run (0.071 nats/token), doubled.
const ROULETTE_GAP_BOUND: f64 = 0.15;

/// The classifier and ratio stages on a few steps: artefacts, finite scores, one error row
/// per t-bin and domain.
#[test]
fn classifier_then_ratio_stage_write_their_artefacts() {
    let text = TINY.replace("steps = 300", "steps = 40");
    let config = ExperimentConfig::parse(&text).unwrap();
    let runs = temp_runs("ratio-stages");
    let records = train_stage(&config, StageName::Ratio, &runs);
    let ratio: RatioSummary = summary(&records[0]);
    assert!(ratio.mse_source.unwrap().is_finite() && ratio.mse_target.unwrap().is_finite());
    assert!(ratio.training.is_some(), "log-r trains a ratio network");
    let classifier = &train_stage(&config, StageName::Classifier, &runs)[0];
    let scores: ClassifierSummary = summary(classifier);
    assert!(classifier.outcome.as_ref().unwrap().cached);
    assert!(scores.clean_scores.unwrap().accuracy.is_finite());
    assert!(scores.noisy_mse_target.unwrap().is_finite());
    for (dir, file) in [
        (&classifier.dir, "clean/model.mpk"),
        (&classifier.dir, "noisy/model.mpk"),
        (&classifier.dir, "noisy_error.csv"),
        (&records[0].dir, "model.mpk"),
        (&records[0].dir, "ratio_error.csv"),
    ] {
        assert!(dir.join(file).is_file(), "{file} missing");
    }
    let csv = std::fs::read_to_string(records[0].dir.join("ratio_error.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 2 * (TIME_BINS + 1));
    let _ = std::fs::remove_dir_all(&runs);
}

/// The four baselines train from the denoiser stage's output, report what they train, and
/// are scored on the target test set.
#[test]
fn the_finetune_stage_trains_four_baselines() {
    let text = TINY
        .replacen("steps = 400", "steps = 60", 1)
        .replace("steps = 200", "steps = 60");
    let config = ExperimentConfig::parse(&text).unwrap();
    let runs = temp_runs("finetune");
    let records = train_stage(&config, StageName::Finetune, &runs);
    let names: Vec<String> = records
        .iter()
        .map(|r| summary::<BaselineSummary>(r).method)
        .collect();
    assert_eq!(
        names,
        [
            "target-only",
            "full-finetune",
            "last-1-blocks",
            "lora-rank-4"
        ]
    );
    let baselines: Vec<BaselineSummary> = records.iter().map(summary).collect();
    let [scratch, full, last, lora] = [0, 1, 2, 3].map(|i| &baselines[i]);
    assert_eq!(scratch.parameters, full.parameters);
    assert_eq!(full.parameters.trainable, full.parameters.total);
    assert!(last.parameters.trainable < last.parameters.total);
    assert!(lora.parameters.trainable < last.parameters.trainable);
    assert!(lora.parameters.total > full.parameters.total);
    for (record, baseline) in records.iter().zip(&baselines) {
        assert!(baseline.nelbo_target.is_finite());
        assert!(record.dir.join("model.mpk").is_file());
    }
    let _ = std::fs::remove_dir_all(&runs);
}

/// A search over learning rates and head starts: every baseline trains each setting that
/// applies to it, in order, in its own folder; the kept model is, byte for byte, the trial
/// with the lowest validation NELBO, and the summary names that trial's setting.
#[test]
fn a_baseline_search_keeps_the_trial_with_the_lowest_validation_nelbo() {
    let text = TINY
        .replacen("steps = 400", "steps = 60", 1)
        .replace("steps = 200", "steps = 60")
        .replace(
            "[finetune]\n",
            "[finetune]\nlearning_rates = [1e-5, 3e-3]\nheads = [\"source\", \"fresh\"]\n",
        );
    let config = ExperimentConfig::parse(&text).unwrap();
    let runs = temp_runs("finetune-search");
    let records = train_stage(&config, StageName::Finetune, &runs);
    let (source, fresh) = (HeadStart::Source, HeadStart::Fresh);
    for record in &records {
        let baseline: BaselineSummary = summary(record);
        let settings: Vec<(f64, HeadStart)> = baseline
            .trials
            .iter()
            .map(|t| (t.learning_rate, t.head))
            .collect();
        let expected: Vec<(f64, HeadStart)> = match baseline.method.as_str() {
            "target-only" => vec![(1e-5, fresh), (3e-3, fresh)],
            _ => vec![(1e-5, source), (1e-5, fresh), (3e-3, source), (3e-3, fresh)],
        };
        assert_eq!(settings, expected, "{}", baseline.method);
        let chosen: Vec<usize> = (0..baseline.trials.len())
            .filter(|&i| baseline.trials[i].chosen)
            .collect();
        assert_eq!(chosen.len(), 1, "{}", baseline.method);
        let kept = &baseline.trials[chosen[0]];
        for t in &baseline.trials {
            assert!(kept.validation_nelbo.unwrap() <= t.validation_nelbo.unwrap());
        }
        assert_eq!(
            (baseline.learning_rate, baseline.head),
            (kept.learning_rate, kept.head)
        );
        let trial_dir = record.dir.join("trials").join(format!(
            "lr-{:e}-{}-head",
            kept.learning_rate,
            kept.head.name()
        ));
        assert_eq!(
            std::fs::read(record.dir.join("model.mpk")).unwrap(),
            std::fs::read(trial_dir.join("best.mpk")).unwrap(),
            "{}",
            baseline.method
        );
    }
    let _ = std::fs::remove_dir_all(&runs);
}

/// A fresh head replaces exactly the final norm and the output layer of the source denoiser.
#[test]
fn a_fresh_head_replaces_only_the_final_norm_and_the_output_layer() {
    let config = ExperimentConfig::parse(TINY).unwrap();
    let device = Default::default();
    let source = denoiser_net(&config).unwrap().init::<TB>(&device);
    let stage = BaselineStage {
        config: Arc::new(config),
        method: Method::FullFinetune,
        denoiser: None,
        corpus: None,
        tag: String::new(),
    };
    let values = |t: burn::tensor::Tensor<TB, 2>| t.into_data().to_vec::<f32>().unwrap();
    let start = |head| stage.initial_model(Some(&source), head, &device).unwrap();
    let (kept, fresh) = (start(HeadStart::Source), start(HeadStart::Fresh));
    assert_eq!(
        values(kept.head.weight.val()),
        values(source.head.weight.val())
    );
    assert_ne!(
        values(fresh.head.weight.val()),
        values(source.head.weight.val())
    );
    let block_weights =
        |model: &DenoiserNet<TB>| values(model.trunk.blocks[0].attention.query.weight.val());
    assert_eq!(block_weights(&fresh), block_weights(&source));
    assert_eq!(
        values(fresh.trunk.token_embedding.weight.val()),
        values(source.trunk.token_embedding.weight.val())
    );
}

/// Under LoRA a fresh head and final norm train next to the adapters; the rest of the source
/// network stays frozen, and with the source head only the adapters train.
#[test]
fn lora_with_a_fresh_head_trains_the_adapters_the_final_norm_and_the_head() {
    let config = ExperimentConfig::parse(TINY).unwrap();
    let device = Default::default();
    let source = denoiser_net(&config).unwrap().init::<TB>(&device);
    let stage = BaselineStage {
        config: Arc::new(config),
        method: Method::Lora,
        denoiser: None,
        corpus: None,
        tag: String::new(),
    };
    let start = |head| stage.initial_model(Some(&source), head, &device).unwrap();
    let (kept, fresh) = (start(HeadStart::Source), start(HeadStart::Fresh));
    let trainable = |model: &DenoiserNet<TB>| gtl_finetune::count_params(model).trainable;
    let head_and_norm = gtl_finetune::count_params(&source.head).total
        + gtl_finetune::count_params(&source.trunk.final_norm).total;
    assert!(trainable(&kept) > 0);
    assert_eq!(trainable(&fresh), trainable(&kept) + head_and_norm);
    assert!(fresh.head.weight.val().is_require_grad());
    assert!(!fresh.trunk.token_embedding.weight.val().is_require_grad());
    assert!(
        !fresh.trunk.blocks[0]
            .attention
            .query
            .weight
            .val()
            .is_require_grad()
    );
    let values = |t: burn::tensor::Tensor<TB, 2>| t.into_data().to_vec::<f32>().unwrap();
    assert_ne!(
        values(fresh.head.weight.val()),
        values(source.head.weight.val())
    );
}

/// The adapters LoRA starts from do not depend on the backend generator's state before the
/// baseline is set up (they did when they were drawn unseeded, and LoRA's results changed
/// between runs of the same configuration), and another seed draws other ones.
#[test]
fn lora_starts_from_the_same_adapters_whatever_ran_before() {
    let config = ExperimentConfig::parse(TINY).unwrap();
    let device = Default::default();
    let source = denoiser_net(&config).unwrap().init::<TB>(&device);
    let down_factors = |model: DenoiserNet<TB>| -> Vec<f32> {
        let block = &model.trunk.blocks[0];
        let attention = block.attention.adapters.as_ref().unwrap();
        let mlp = block.mlp_adapters.as_ref().unwrap();
        [
            &attention.query,
            &attention.key,
            &attention.value,
            &attention.output,
            &mlp.mlp_in,
            &mlp.mlp_out,
        ]
        .iter()
        .flat_map(|adapter| adapter.down.val().into_data().to_vec::<f32>().unwrap())
        .collect()
    };
    let adapters = |config: &ExperimentConfig, prior_seed: u64| {
        <TB as Backend>::seed(&device, prior_seed);
        let stage = BaselineStage {
            config: Arc::new(config.clone()),
            method: Method::Lora,
            denoiser: None,
            corpus: None,
            tag: String::new(),
        };
        down_factors(
            stage
                .initial_model(Some(&source), HeadStart::Source, &device)
                .unwrap(),
        )
    };
    let first = adapters(&config, 1);
    assert!(first.iter().any(|&v| v != 0.0));
    assert_eq!(first, adapters(&config, 2));
    let mut other = config.clone();
    other.finetune.training.seed += 1;
    assert_ne!(first, adapters(&other, 1));
}

/// A chain given as a file enters the keys by its contents: editing the file moves every
/// stage that reads the chain to a new folder; the target file leaves the source stages
/// where they were.
#[test]
fn editing_a_chain_file_changes_the_keys_of_the_stages_that_read_it() {
    let dir = temp_runs("chain-file");
    std::fs::create_dir_all(&dir).unwrap();
    let source = dir.join("source.json");
    let target = dir.join("target.json");
    let write = |path: &PathBuf, diag: f64| {
        gtl_markov::MarkovChain::diagonal(5, diag)
            .unwrap()
            .save_json(path)
            .unwrap();
    };
    write(&source, 0.1);
    write(&target, 0.8);
    let mut config = ExperimentConfig::parse(TINY).unwrap();
    config.markov_mut().source = ChainSpec::File {
        path: source.clone(),
    };
    config.markov_mut().target = ChainSpec::File {
        path: target.clone(),
    };
    let dirs = || {
        let setting = Setting::target_size(&config, 200, &Method::ALL);
        let mut graph = Graph::<TB>::new(&stages_dir(&dir));
        let stages = plan(&mut graph, &[setting]).unwrap().remove(0);
        let classifier = graph.dir(stages.classifier).to_path_buf();
        (graph.dir(stages.denoiser).to_path_buf(), classifier)
    };
    let (denoiser, classifier) = dirs();
    write(&target, 0.7);
    let (denoiser_after_target, classifier_after_target) = dirs();
    assert_eq!(denoiser, denoiser_after_target);
    assert_ne!(classifier, classifier_after_target);
    write(&source, 0.2);
    let (denoiser_after_source, _) = dirs();
    assert_ne!(denoiser, denoiser_after_source);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Without the `data-parallel` feature, several devices are refused with the stage's and
/// the feature's names.
#[cfg(not(feature = "data-parallel"))]
#[test]
fn several_devices_need_the_data_parallel_feature() {
    let config = ExperimentConfig::parse(TINY).unwrap();
    let runs = temp_runs("two-devices");
    let options = RunOptions {
        workers: Some(1),
        ..RunOptions::new(&runs)
    };
    let devices = [Default::default(), Default::default()];
    let err = train::<TB>(&config, StageName::Denoiser, &options, &devices).unwrap_err();
    assert_eq!(
        err.to_string(),
        "stage source denoiser: training on 2 devices needs the `data-parallel` feature of gtl-experiment \
         (xtask: build with `--features data-parallel`)"
    );
    let _ = std::fs::remove_dir_all(&runs);
}

/// `[finetune.target_only]` enters target-only's cache key and no other baseline's: tuning
/// target-only retrains nothing else, and a config without the section keeps its keys.
#[test]
fn target_only_section_keys_only_target_only() {
    use gtl_experiment::config::TargetOnlySection;
    use gtl_experiment::stage::Stage;
    let config = ExperimentConfig::parse(include_str!("../../../configs/markov-ci.toml")).unwrap();
    let key = |config: &ExperimentConfig, method: Method| {
        BaselineStage {
            config: Arc::new(config.clone()),
            method,
            denoiser: None,
            corpus: None,
            tag: String::new(),
        }
        .key()
        .unwrap()
    };
    let mut own = config.clone();
    own.finetune.target_only = Some(TargetOnlySection {
        learning_rates: vec![1e-3],
        training: config.finetune.training.clone(),
    });
    assert_ne!(
        key(&config, Method::TargetOnly),
        key(&own, Method::TargetOnly)
    );
    for method in [Method::FullFinetune, Method::Lora, Method::LastBlocks] {
        assert_eq!(key(&config, method), key(&own, method), "{method}");
    }
    assert!(!key(&config, Method::TargetOnly).contains("target_only"));
}
