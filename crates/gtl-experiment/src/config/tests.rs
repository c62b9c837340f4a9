//! The configuration's parsing and range checks.

use gtl_classifier::EstimatorKind;

use super::*;

const DEFAULT: &str = include_str!("../../../../configs/markov-default.toml");

#[test]
fn the_default_config_is_valid() {
    let config = ExperimentConfig::parse(DEFAULT).unwrap();
    assert_eq!(config.data.as_ref().unwrap().states, 5);
    assert_eq!(config.data.as_ref().unwrap().length, 20);
    assert_eq!(config.data.as_ref().unwrap().source_size, 10_000);
}

#[test]
fn unknown_keys_are_refused_with_their_name() {
    let text = DEFAULT.replace("[data]", "[data]\nstate = 4");
    let err = ExperimentConfig::parse(&text).unwrap_err().to_string();
    assert!(err.contains("unknown field `state`"), "{err}");
    let text = DEFAULT.replace(
        "[denoiser.training]",
        "[denoiser.training]\nlearning_rte = 0.1",
    );
    let err = ExperimentConfig::parse(&text).unwrap_err().to_string();
    assert!(err.contains("learning_rte"), "{err}");
}

const TINY: &str = include_str!("../../../../configs/markov-tiny.toml");

#[test]
fn network_sections_are_checked_under_their_own_names() {
    let config = ExperimentConfig::parse(TINY).unwrap();
    assert_eq!(config.ratio.estimator, EstimatorKind::LogR);
    assert_eq!(config.classifier.training.steps, 300);
    for (from, to, expected) in [
        (
            "estimator = \"log-r\"",
            "estimator = \"ratio\"",
            "unknown variant `ratio`",
        ),
        (
            "cycle_weight = 0.1",
            "cycle_weight = -1",
            "ratio.cycle_weight = -1",
        ),
        (
            "[classifier.model]",
            "[classifier]\nlabel_smoothing = 0.5\n[classifier.model]",
            "classifier.label_smoothing = 0.5",
        ),
        (
            "[classifier.model]",
            "[classifier]\nbalance = \"even\"\n[classifier.model]",
            "unknown variant `even`",
        ),
        ("steps = 300", "steps = 0", "classifier.training.steps = 0"),
        (
            "[ratio.model]\npreset = \"tiny\"",
            "[ratio.model]\npreset = \"tiny\"\nnum_heads = 3",
            "ratio.model",
        ),
        (
            "[ratio.training]",
            "[ratio.training]\nlearning_rat = 1",
            "unknown field `learning_rat`",
        ),
    ] {
        assert!(TINY.contains(from), "the tiny config should contain {from}");
        let text = TINY.replacen(from, to, 1);
        let err = ExperimentConfig::parse(&text).unwrap_err().to_string();
        assert!(err.contains(expected), "{from} -> {to}: {err}");
    }
}

#[test]
fn network_sections_have_defaults() {
    let config = ExperimentConfig::parse(DEFAULT).unwrap();
    let minimal = DEFAULT
        .split("\n[classifier")
        .next()
        .unwrap()
        .split("\n[ratio")
        .next()
        .unwrap();
    let defaults = ExperimentConfig::parse(minimal).unwrap();
    assert_eq!(defaults.classifier.model.preset, Preset::Small);
    assert_eq!(defaults.ratio.estimator, config.ratio.estimator);
}

/// The experiment's sections: every new key is range-checked under its own name.
#[test]
fn experiment_sections_are_checked_under_their_own_names() {
    let ci = include_str!("../../../../configs/markov-ci.toml");
    let config = ExperimentConfig::parse(ci).unwrap();
    assert_eq!(config.experiment.target_sizes, vec![20, 60]);
    assert_eq!(config.experiment.methods, Method::ALL.to_vec());
    assert_eq!(config.guidance.exact_samples, 40);
    for (from, to, expected) in [
        ("gamma = 1.0", "gamma = -1.0", "guidance.gamma = -1"),
        ("[guidance]", "[guidance]\ntop_n = 4", "guidance.top_n = 4"),
        (
            "[guidance]",
            "[guidance]\norder = \"left\"",
            "guidance.order: unknown variant `left`",
        ),
        (
            "[guidance]",
            "[guidance]\nbaseline_order = \"planner\"",
            "guidance.baseline_order",
        ),
        ("samples = 200", "samples = 0", "guidance.samples = 0"),
        (
            "[guidance]",
            "[guidance]\ncandidate_tail = \"spread\"",
            "guidance.candidate_tail: unknown variant `spread`",
        ),
        (
            "[guidance]",
            "[guidance]\nfit_criterion = \"vibes\"",
            "guidance.fit_criterion: unknown variant `vibes`",
        ),
        (
            "[guidance]",
            "[guidance]\nfit_criterion = \"samples\"\nfit_bins = 2",
            "guidance.fit_bins = 2",
        ),
        (
            "[guidance]",
            "[guidance]\nfit_samples = 1",
            "guidance.fit_samples = 1",
        ),
        (
            "[guidance]",
            "[guidance]\nfit_order = 6",
            "guidance.fit_order = 6: must be in 1..=5",
        ),
        (
            "[guidance]",
            "[guidance]\nfit_order = 0",
            "guidance.fit_order = 0",
        ),
        (
            "[guidance]",
            "[guidance]\nsampels = 3",
            "unknown field `sampels`",
        ),
        (
            "target_sizes = [20, 60]\n\n[sweep]",
            "target_sizes = [1]\n\n[sweep]",
            "experiment.target_sizes = 1",
        ),
        (
            "[experiment]",
            "[experiment]\nmethods = [\"gtl\", \"magic\"]",
            "experiment.methods[1]: unknown variant `magic`",
        ),
        (
            "[experiment]",
            "[experiment]\nmethods = [\"gtl\", \"gtl\"]",
            "listed twice",
        ),
        ("lora_rank = 2", "lora_rank = 0", "finetune.lora_rank = 0"),
        (
            "lora_rank = 2",
            "lora_rank = 2\nlearning_rates = [1e-3, 0.0]",
            "finetune.learning_rates: 0 is not in (0, 1]",
        ),
        (
            "lora_rank = 2",
            "lora_rank = 2\nlearning_rates = [1e-3, 1e-3]",
            "finetune.learning_rates: a learning rate is listed twice",
        ),
        (
            "lora_rank = 2",
            "lora_rank = 2\nheads = []",
            "finetune.heads: must list at least one",
        ),
        (
            "lora_rank = 2",
            "lora_rank = 2\nheads = [\"fresh\", \"fresh\"]",
            "finetune.heads: a head is listed twice",
        ),
        (
            "lora_rank = 2",
            "lora_rank = 2\nheads = [\"new\"]",
            "unknown variant `new`",
        ),
        (
            "lora_alpha = 4.0",
            "lora_alpha = -4.0",
            "finetune.lora_alpha = -4",
        ),
        (
            "test_size = 200",
            "test_size = 200\nextra_target_states = 1",
            "data.extra_target_mass = 0",
        ),
        (
            "test_size = 200",
            "test_size = 200\nextra_target_mass = 0.3",
            "must be 0 when",
        ),
        (
            "gamma = [0.0, 2.0]",
            "gamma = [0.0, -2.0]",
            "sweep.gamma = -2",
        ),
        ("mixture = [0.5]", "mixture = [1.5]", "sweep.mixture = 1.5"),
        ("top_n = [2]", "top_n = [7]", "sweep.top_n = 7"),
        (
            "target = { family = \"diagonal\", diag = 0.8 }",
            "target = { family = \"mixture\", weight = 2.0, a = { family = \"diagonal\", diag = 0.1 }, b = { family = \"diagonal\", diag = 0.8 } }",
            "data.target.weight = 2",
        ),
    ] {
        assert!(ci.contains(from), "the CI config should contain {from}");
        let text = ci.replacen(from, to, 1);
        let err = ExperimentConfig::parse(&text).unwrap_err().to_string();
        assert!(err.contains(expected), "{from} -> {to}: {err}");
    }
    let search = ci
        .replacen(
            "lora_rank = 2",
            "lora_rank = 2\nheads = [\"source\", \"fresh\"]",
            1,
        )
        .replacen("validate_every = 10", "validate_every = 0", 1);
    let err = ExperimentConfig::parse(&search).unwrap_err().to_string();
    assert!(
        err.contains("finetune.training.validate_every = 0: choosing among"),
        "{err}"
    );
    let text = ci.replacen(
        "target = { family = \"diagonal\", diag = 0.8 }",
        "target = { family = \"mixture\", weight = 0.5, a = { family = \"diagonal\", diag = 0.2 }, b = { family = \"diagonal\", diag = 0.8 } }\nextra_target_states = 2\nextra_target_mass = 0.3",
        1,
    );
    let config = ExperimentConfig::parse(&text).unwrap();
    let (source, target) = config.data.as_ref().unwrap().chains().unwrap();
    assert_eq!((source.num_states(), target.num_states()), (5, 5));
    assert!((target.transition()[0][0] - 0.7 * 0.5).abs() < 1e-12);
    assert_eq!(config.process().unwrap().num_tokens, 5);
}

#[test]
fn out_of_range_values_are_refused_with_their_key() {
    for (from, to, expected) in [
        ("states = 5", "states = 1", "data.states = 1"),
        (
            "kind = \"absorbing\"",
            "kind = \"gaussian\"",
            "process.kind: unknown variant `gaussian`",
        ),
        (
            "preset = \"tiny\"",
            "preset = \"huge\"",
            "denoiser.model.preset",
        ),
        (
            "learning_rate = 2e-3",
            "learning_rate = 0.0",
            "denoiser.training.learning_rate = 0",
        ),
        ("diag = 0.1", "diag = 1.5", "data.source"),
    ] {
        assert!(
            DEFAULT.contains(from),
            "the default config should contain {from}"
        );
        let text = DEFAULT.replacen(from, to, 1);
        let err = ExperimentConfig::parse(&text).unwrap_err().to_string();
        assert!(err.contains(expected), "{from} -> {to}: {err}");
    }
}

/// Parse errors name the line and the key path; the range checks added with the typed
/// config (guidance.t_end, the number of states) name their keys.
#[test]
fn parse_errors_name_the_line_and_the_key_path() {
    let text = DEFAULT.replace("[data]", "[data]\nstate = 4");
    let err = ExperimentConfig::parse(&text).unwrap_err().to_string();
    let line = DEFAULT.lines().position(|l| l == "[data]").unwrap() + 2;
    assert!(err.contains(&format!("at line {line}")), "{err}");
    assert!(err.contains("data.state: unknown field `state`"), "{err}");
    let text = DEFAULT.replacen("batch_size = 64\n", "batch_size = \"many\"\n", 1);
    let err = ExperimentConfig::parse(&text).unwrap_err().to_string();
    assert!(
        err.contains("denoiser.training.batch_size: invalid type"),
        "{err}"
    );
    for (from, to, expected) in [
        (
            "[guidance]",
            "[guidance]\nt_end = 1.0",
            "guidance.t_end = 1: must be in (0, 1)",
        ),
        (
            "states = 5",
            "states = 5000",
            "data.states + data.extra_target_states = 5000",
        ),
    ] {
        let text = DEFAULT.replacen(from, to, 1);
        let err = ExperimentConfig::parse(&text).unwrap_err().to_string();
        assert!(err.contains(expected), "{from} -> {to}: {err}");
    }
}

/// Every configuration in configs/ that the runner documents loads, and the default one
/// round-trips through its own TOML.
#[test]
fn every_shipped_config_loads_and_round_trips() {
    for text in [
        DEFAULT,
        TINY,
        include_str!("../../../../configs/markov-ci.toml"),
        include_str!("../../../../configs/markov-uniform.toml"),
        include_str!("../../../../configs/markov-roulette.toml"),
        include_str!("../../../../configs/arxiv-ci.toml"),
        include_str!("../../../../configs/arxiv-cpu.toml"),
        include_str!("../../../../configs/arxiv-astro-cpu.toml"),
        include_str!("../../../../configs/arxiv-paper.toml"),
    ] {
        let config = ExperimentConfig::parse(text).unwrap();
        let again = ExperimentConfig::parse(&config.to_toml().unwrap()).unwrap();
        assert_eq!(again, config);
    }
}

/// An experiment whose one-position samplers cannot run under the configured process is
/// refused before any stage starts, naming the key and the methods.
#[test]
fn one_position_methods_need_the_absorbing_process() {
    let text = include_str!("../../../../configs/markov-uniform.toml");
    let config = ExperimentConfig::parse(text).unwrap();
    let err = config
        .check_runnable(&config.experiment.methods)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("process.kind = \"uniform\""), "{err}");
    assert!(err.contains("\"gtl\""), "{err}");
    config.check_runnable(&[Method::ExactGuidance]).unwrap();
    let default = ExperimentConfig::parse(DEFAULT).unwrap();
    default.check_runnable(&default.experiment.methods).unwrap();
}

/// States only the target has make the exact ratio infinite: the methods that guide with it
/// are refused before any stage starts, naming the transition; the learned-ratio methods run.
#[test]
fn exact_ratio_methods_need_source_support() {
    let text = DEFAULT.replace(
        "test_size = 2000",
        "test_size = 2000\nextra_target_states = 1\nextra_target_mass = 0.2",
    );
    let config = ExperimentConfig::parse(&text).unwrap();
    let err = config
        .check_runnable(&[Method::Gtl, Method::GtlOracles])
        .unwrap_err()
        .to_string();
    assert!(err.contains("[\"gtl-oracles\"]"), "{err}");
    assert!(err.contains("probability 0 to the transition"), "{err}");
    assert!(err.contains("data.extra_target_states = 1"), "{err}");
    config
        .check_runnable(&[Method::Gtl, Method::TargetOnly])
        .unwrap();
}

const DNA: &str = include_str!("../../../../configs/dna-16s.toml");

/// The DNA configs parse without the data (four tokens, no tokenizer), round-trip, and give
/// one setting per target size with "all" for 0; out-of-range `[dna]` keys name themselves.
#[test]
fn dna_configs_load_and_their_keys_are_checked() {
    for text in [DNA, include_str!("../../../../configs/dna-ci.toml")] {
        let config = ExperimentConfig::parse(text).unwrap();
        assert_eq!(config.num_tokens().unwrap(), 4);
        let again = ExperimentConfig::parse(&config.to_toml().unwrap()).unwrap();
        assert_eq!(again, config);
    }
    let config = ExperimentConfig::parse(DNA).unwrap();
    let labels: Vec<String> = config
        .target_settings()
        .into_iter()
        .map(|s| s.label)
        .collect();
    assert_eq!(labels, ["n=all", "n=100", "n=20", "n=5"]);
    assert_eq!(config.length(), 128);
    for (from, to, expected) in [
        (
            "target_sizes = [0, 100, 20, 5]",
            "target_sizes = [0, 1]",
            "experiment.target_sizes = 1: must be 0",
        ),
        (
            "anchor = \"GTGCCAGCMGCCGCGGTAA\"",
            "stride = 200",
            "dna.stride = 200: must be in 1..=128",
        ),
        (
            "anchor = \"GTGCCAGCMGCCGCGGTAA\"",
            "",
            "dna.stride: missing",
        ),
        (
            "length = 128",
            "length = 128\nstride = 64",
            "dna.stride = 64: unused with dna.anchor",
        ),
        ("length = 128", "length = 4", "dna.length = 4"),
        (
            "target = [\"Bacteroidetes\"]",
            "target = [\"Firmicutes\"]",
            "dna.target = \"Firmicutes\": also a source taxon",
        ),
        (
            "rank = \"phylum\"",
            "rank = \"kingdom\"",
            "dna.rank: unknown variant",
        ),
        ("top_n = 3", "top_n = 5", "guidance.top_n = 5"),
        (
            "length = 128",
            "length = 128\nambiguity = \"reserve\"",
            "dna.ambiguity: unknown variant `reserve`, expected `drop-window` or `resample`",
        ),
        (
            "anchor = \"GTGCCAGCMGCCGCGGTAA\"",
            "anchor = \"GTGCXAGCMGCC\"",
            "dna.anchor = \"GTGCXAGCMGCC\": base 'X' at position 4",
        ),
        (
            "anchor = \"GTGCCAGCMGCCGCGGTAA\"",
            "anchor = \"GTGCCAG\"",
            "dna.anchor = \"GTGCCAG\": must be at least 8 bases",
        ),
        (
            "anchor = \"GTGCCAGCMGCCGCGGTAA\"",
            "stride = 64\nanchor_offset = 3",
            "dna.anchor_offset = 3: needs dna.anchor",
        ),
        (
            "[dna]",
            "[text]\ncorpus = { format = \"shards\", dir = \"x\" }\nsource = [\"a\"]\n\
             target = [\"b\"]\nlength = 8\ntokenizer = { kind = \"bpe\", vocab_size = 300 }\n\n[dna]",
            "name exactly one task",
        ),
    ] {
        assert!(DNA.contains(from), "dna-16s.toml should contain {from}");
        let text = DNA.replacen(from, to, 1);
        let err = ExperimentConfig::parse(&text).unwrap_err().to_string();
        assert!(err.contains(expected), "{from} -> {to}: {err}");
    }
}

/// `key=value` overrides land where their dotted key says, are validated like a file, and a
/// malformed override is refused with the override in the message.
#[test]
fn overrides_replace_keys_and_are_validated() {
    let set = |items: &[&str]| {
        let items: Vec<String> = items.iter().map(|s| s.to_string()).collect();
        ExperimentConfig::parse_with(DEFAULT, &items)
    };
    let config = set(&[
        "finetune.learning_rates = [1e-4]",
        "experiment.target_sizes=[10, 50]",
        "guidance.gamma_grid=[1.0, 2.0]",
        "sweep.seeds=[]",
        "name=\"other\"",
    ])
    .unwrap();
    assert_eq!(config.finetune.learning_rates, [1e-4]);
    assert_eq!(config.experiment.target_sizes, [10, 50]);
    assert_eq!(config.guidance.gamma_grid, [1.0, 2.0]);
    assert!(config.sweep.seeds.is_empty());
    assert_eq!(config.name, "other");
    let default = ExperimentConfig::parse(DEFAULT).unwrap();
    assert_eq!(config.denoiser, default.denoiser, "untouched sections stay");
    assert_eq!(set(&[]).unwrap(), default);
    for (items, message) in [
        (
            &["finetune.learning_rates=[2.0]"][..],
            "finetune.learning_rates",
        ),
        (&["finetune.learning_rate=1e-3"][..], "learning_rate"),
        (&["finetune.heads=[fresh]"][..], "not a TOML value"),
        (&["finetune"][..], "expected key=value"),
        (&["name.inner=1"][..], "`name` is a value"),
        (&["finetune..heads=[]"][..], "dotted path"),
    ] {
        let error = set(items).unwrap_err().to_string();
        assert!(error.contains(message), "{items:?}: {error}");
    }
}

/// `[finetune.target_only]` gives target-only its own rates and optimisation, and only it;
/// its keys are checked under their own names and the seed axis moves its seed.
#[test]
fn target_only_has_its_own_training_section() {
    let ci = include_str!("../../../../configs/markov-ci.toml");
    let plain = ExperimentConfig::parse(ci).unwrap();
    let own = "\n[finetune.target_only]\nlearning_rates = [1e-3, 3e-3]\n\n\
               [finetune.target_only.training]\nsteps = 77\nlearning_rate = 1e-3\n\
               warmup_steps = 5\nvalidate_every = 7\nseed = 40\n";
    let config = ExperimentConfig::parse(&format!("{ci}{own}")).unwrap();
    let f = &config.finetune;
    use gtl_finetune::Method as M;
    assert_eq!(f.learning_rates(M::TargetOnly), [1e-3, 3e-3]);
    assert_eq!(f.training(M::TargetOnly).steps, 77);
    assert_eq!(f.training(M::Full), &plain.finetune.training);
    assert_eq!(
        f.learning_rates(M::Full),
        plain.finetune.learning_rates(M::Full)
    );
    assert_eq!(
        plain.finetune.training(M::TargetOnly),
        &plain.finetune.training
    );
    let moved = config.with_seed_offset(2);
    assert_eq!(moved.finetune.training(M::TargetOnly).seed, 60);
    // Absent, the section leaves the serialised section (and so the cache keys) as it was.
    let text = toml::to_string(&plain.finetune).unwrap();
    assert!(!text.contains("target_only"), "{text}");
    for (section, expected) in [
        (
            "[finetune.target_only]\nlearning_rates = [0.0]\n[finetune.target_only.training]\n",
            "finetune.target_only.learning_rates: 0 is not in (0, 1]",
        ),
        (
            "[finetune.target_only]\nlearning_rates = [1e-3, 1e-2]\n\
             [finetune.target_only.training]\nvalidate_every = 0\n",
            "finetune.target_only.training.validate_every = 0",
        ),
        (
            "[finetune.target_only.training]\nsteps = 0\n",
            "finetune.target_only.training.steps",
        ),
        (
            "[finetune.target_only]\nrates = [1e-3]\n[finetune.target_only.training]\n",
            "unknown field `rates`",
        ),
    ] {
        let err = ExperimentConfig::parse(&format!("{ci}\n{section}"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{section}: {err}");
    }
}
