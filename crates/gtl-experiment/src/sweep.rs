//! A sweep: the experiment over a grid (the `[sweep]` section): target sizes with every
//! method, then overlap (target diagonal, mixture weight, target-only states), γ and top-n,
//! each varied alone around the base config, with a report of each axis.

use std::fmt::Write as _;
use std::sync::Arc;

use burn::tensor::backend::AutodiffBackend;
use gtl_eval::Table;
use gtl_eval::plot::Scale;
use gtl_models::training::write_atomically;

use crate::config::{ChainSpec, ExperimentConfig, MarkovData, Task};
use crate::method::{Method, RatioChoice};
use crate::report::{
    self, MethodResult, Metrics, Report, SettingResult, ratio_summary, results_table, stage_table,
};
use crate::run::{RunOptions, Setting, execute_settings, stages_dir};
use crate::{ExperimentError, Result};

mod seeds;
pub use seeds::{paired_seed_table, seed_table};

/// The guided methods among `methods` (γ and top-n change only these).
fn guided(methods: &[Method]) -> Vec<Method> {
    methods
        .iter()
        .filter(|m| m.ratio() != RatioChoice::None)
        .copied()
        .collect()
}

/// Every setting of the grid, axis by axis: for a Markov task the target sizes, target
/// diagonal, mixture weight, target-only states, γ and top-n; for a text task the overlap r
/// at every target fraction, then γ and top-n.
pub fn sweep_settings(config: &ExperimentConfig) -> Vec<Setting> {
    let sweep = &config.sweep;
    let mut settings = Vec::new();
    let mut add =
        |axis: &str, label: String, value: f64, c: ExperimentConfig, methods: &[Method]| {
            settings.push(Setting {
                label,
                axis: axis.into(),
                value,
                config: Arc::new(c),
                methods: methods.to_vec(),
            });
        };
    match config.task() {
        Task::Markov(base) => {
            for &n in &sweep.target_sizes {
                let target = config.with_target_size(n);
                add(
                    target.axis,
                    target.label,
                    target.value,
                    target.config,
                    &config.experiment.methods,
                );
            }
            markov_axes(config, base, &mut add);
        }
        Task::Text(_) => {
            for &r in &sweep.overlap {
                let mut c = config.clone();
                c.text.as_mut().expect("a text task").overlap = r;
                for target in c.target_settings() {
                    let label = format!("r={r} {}", target.label);
                    add(
                        "overlap",
                        label,
                        target.value,
                        target.config,
                        &config.experiment.methods,
                    );
                }
            }
        }
        // The DNA task has no data axis beyond its target sizes (the experiment's own).
        Task::Dna(_) => {}
    }
    for &k in &sweep.seeds {
        for target in config.with_seed_offset(k).target_settings() {
            let label = format!("seed={k} {}", target.label);
            add(
                "seed",
                label,
                target.value,
                target.config,
                &config.experiment.methods,
            );
        }
    }
    let guided_methods = guided(&sweep.methods);
    if !guided_methods.is_empty() {
        for &gamma in &sweep.gamma {
            let mut c = config.clone();
            c.guidance.gamma = gamma;
            c.guidance.fit_gamma = false;
            add("gamma", format!("gamma={gamma}"), gamma, c, &guided_methods);
        }
        for &top_n in &sweep.top_n {
            let mut c = config.clone();
            c.guidance.top_n = top_n;
            let value = if top_n == 0 {
                config.num_tokens().unwrap_or(0)
            } else {
                top_n
            };
            add(
                "top_n",
                format!("top_n={value}"),
                value as f64,
                c,
                &guided_methods,
            );
        }
    }
    settings
}

/// The overlap axes of a Markov task: target diagonal, mixture weight, target-only states.
fn markov_axes(
    config: &ExperimentConfig,
    base: &MarkovData,
    add: &mut impl FnMut(&str, String, f64, ExperimentConfig, &[Method]),
) {
    let sweep = &config.sweep;
    for &diag in &sweep.target_diag {
        let mut c = config.clone();
        c.markov_mut().target = ChainSpec::Diagonal { diag };
        add(
            "target_diag",
            format!("diag={diag}"),
            diag,
            c,
            &sweep.methods,
        );
    }
    for &weight in &sweep.mixture {
        let mut c = config.clone();
        c.markov_mut().target = ChainSpec::Mixture {
            weight,
            a: Box::new(base.source.clone()),
            b: Box::new(base.target.clone()),
        };
        add(
            "mixture",
            format!("mix={weight}"),
            weight,
            c,
            &sweep.methods,
        );
    }
    // The exact log h is +∞ on sequences the source cannot produce, so the exact-ratio
    // samplers are undefined with target-only states: only learned components run there.
    let learned: Vec<Method> = sweep
        .methods
        .iter()
        .filter(|m| !m.needs_exact_chains())
        .copied()
        .collect();
    for &extra in &sweep.extra_states {
        let mut c = config.clone();
        c.markov_mut().extra_target_states = extra;
        c.markov_mut().extra_target_mass = sweep.extra_mass;
        add(
            "extra_states",
            format!("extra={extra}"),
            extra as f64,
            c,
            &learned,
        );
    }
}

/// The settings of one axis.
fn axis_metrics(metrics: &Metrics, axis: &str) -> Metrics {
    Metrics {
        settings: metrics
            .settings
            .iter()
            .filter(|s| s.axis == axis)
            .cloned()
            .collect(),
        ..metrics.clone()
    }
}

/// What a sweep's settings were scored with (the task): it decides the table cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scored {
    /// Exact scores against a Markov chain (and the exact ratio).
    Markov,
    /// The text scores (judge, MAUVE).
    Text,
    /// The DNA scores (phylum judge, k-mer spectrum).
    Dna,
}

impl Scored {
    fn of(metrics: &Metrics) -> Scored {
        if metrics.settings.iter().any(|s| s.text_reference.is_some()) {
            Scored::Text
        } else if metrics.settings.iter().any(|s| s.dna_reference.is_some()) {
            Scored::Dna
        } else {
            Scored::Markov
        }
    }

    /// What a cell of the axis tables holds.
    fn cells(self) -> &'static str {
        match self {
            Scored::Markov => "mean |transition error| (mean diagonal)",
            Scored::Text => "the judge's mean P(target) (MAUVE)",
            Scored::Dna => {
                "the phylum judge's target share (6-mer Jensen–Shannon distance to held-out \
                 target windows)"
            }
        }
    }

    /// A method's cell of an axis table.
    fn cell(self, m: &MethodResult) -> gtl_eval::Cell {
        let text = match self {
            Scored::Markov => m
                .scores
                .as_ref()
                .map(|s| format!("{:.4} ({:.3})", s.transition_mean_error, s.mean_diagonal)),
            Scored::Text => m
                .text
                .as_ref()
                .map(|t| format!("{:.3} ({:.3})", t.p_target.mean, t.mauve)),
            Scored::Dna => m
                .dna
                .as_ref()
                .map(|d| format!("{:.3} ({:.4})", d.target_share.mean, d.js6.mean)),
        };
        text.map_or(gtl_eval::Cell::Missing, Into::into)
    }
}

/// Per value of an axis: each method's cell (`Scored::cell`), and for Markov tasks the learned
/// ratio's error.
fn axis_table(metrics: &Metrics) -> Table {
    let methods: Vec<Method> = metrics
        .settings
        .first()
        .map(|s| s.methods.iter().map(|m| m.method).collect())
        .unwrap_or_default();
    let mut columns = vec!["setting".to_string()];
    let scored = Scored::of(metrics);
    let cell = match scored {
        Scored::Markov => "error (diag)",
        Scored::Text => "P(target) (MAUVE)",
        Scored::Dna => "target share (6-mer JS)",
    };
    columns.extend(methods.iter().map(|m| format!("{m} {cell}")));
    if scored == Scored::Markov {
        columns.push("ratio MSE target (error variance)".into());
    }
    let mut table = Table::new(columns);
    for s in &metrics.settings {
        let mut row = vec![s.label.clone().into()];
        for name in &methods {
            let m = s.methods.iter().find(|m| m.method == *name);
            row.push(m.map_or(gtl_eval::Cell::Missing, |m| scored.cell(m)));
        }
        if scored == Scored::Markov {
            row.push(match overall_target(s) {
                Some((mse, variance)) => format!("{mse:.1} ({variance:.1})").into(),
                None => gtl_eval::Cell::Missing,
            });
        }
        table.push(row);
    }
    table
}

fn overall_target(s: &SettingResult) -> Option<(f64, f64)> {
    s.ratio
        .bins
        .iter()
        .find(|b| b.domain == "target" && b.is_overall())
        .map(|b| (b.mse, b.error_variance))
}

/// Where full fine-tuning first beats GTL on the target-size axis, in words.
pub fn crossover(metrics: &Metrics) -> String {
    let sizes = axis_metrics(metrics, "target_size");
    let mut previous: Option<(&str, bool)> = None;
    let mut text = String::new();
    for s in &sizes.settings {
        let (Some(gtl), Some(fine)) = (
            s.method("gtl").and_then(|m| m.scores.as_ref()),
            s.method("full-finetune").and_then(|m| m.scores.as_ref()),
        ) else {
            continue;
        };
        let gtl_better = gtl.transition_mean_error < fine.transition_mean_error;
        if let Some((label, true)) = previous
            && !gtl_better
        {
            let _ = writeln!(
                text,
                "Full fine-tuning overtakes GTL between {label} and {}: at {} its \
                 transition error is {:.4} against GTL's {:.4}.",
                s.label, s.label, fine.transition_mean_error, gtl.transition_mean_error
            );
        }
        previous = Some((&s.label, gtl_better));
    }
    if text.is_empty() {
        text = match previous {
            Some((_, true)) => "GTL stays closer to the target than full fine-tuning at every \
                                target size of the sweep.\n"
                .into(),
            Some((_, false)) => "Full fine-tuning is at least as close to the target as GTL at \
                                 every target size from the first one on.\n"
                .into(),
            None => "The target-size axis lacks gtl or full-finetune.\n".into(),
        };
    }
    text
}

/// Runs the sweep of `config`'s `[sweep]` section on `devices` (see [`run`](crate::run)): every setting shares the
/// experiment's stage cache (`runs/<name>/stages/`), so settings the experiment ran are
/// reused and the γ and top-n axes only resample. Writes `runs/<name>-sweep/`.
pub fn run<B: AutodiffBackend>(
    config: &ExperimentConfig,
    options: &RunOptions,
    devices: &[B::Device],
) -> Result<Report> {
    let run_dir = options.runs_dir.join(format!("{}-sweep", config.name));
    std::fs::create_dir_all(&run_dir).map_err(|e| ExperimentError::io(&run_dir, e))?;
    write_atomically(&run_dir.join("config.toml"), config.to_toml()?.as_bytes())?;
    let stages = stages_dir(&options.runs_dir.join(&config.name));
    let executed = execute_settings::<B>(sweep_settings(config), &stages, options, devices)?;
    let metrics = report::metrics(config, &executed, &run_dir)?;
    report::write_tables(&metrics, &run_dir)?;
    let scored = Scored::of(&metrics);
    let cells = scored.cells();
    let markov = scored == Scored::Markov;
    let mut text = format!(
        "# Sweep `{}`\n\nEach axis varies one setting of the base config (configs and \
         results of every setting in metrics.json and results.csv). Cells: {cells}. Wall \
         time of this invocation: {:.1} s.\n\n",
        config.name, metrics.seconds
    );
    if markov && metrics.settings.iter().any(|s| s.axis == "target_size") {
        text.push_str("## Where fine-tuning overtakes GTL\n\n");
        text.push_str(&crossover(&metrics));
    }
    if metrics.settings.iter().any(|s| s.axis == "seed") {
        let (seeds, paired) = (seed_table(&metrics), paired_seed_table(&metrics));
        seeds.write_csv(&run_dir.join("seeds.csv"))?;
        paired.write_csv(&run_dir.join("seeds_paired.csv"))?;
        text.push_str(
            "\n## Over seeds: mean and 95 % interval\n\nEvery target setting and method again \
             with every seed moved by 10·k for each k of `[sweep] seeds` (new data, networks and \
             samples). Cells: the mean over the seeds and its 95 % Student-t interval \
             (`seeds.csv`; the paired differences in `seeds_paired.csv`).\n\n",
        );
        text.push_str(&seeds.to_markdown(4));
        if !paired.rows.is_empty() {
            text.push_str(
                "\n### Paired by seed: each method's transition error minus GTL's\n\nThe same \
                 seed's run shares the data, so the difference per seed cancels what the seeds \
                 have in common. Positive: GTL closer to the target chain.\n\n",
            );
            text.push_str(&paired.to_markdown(4));
        }
    }
    let overlap = axis_metrics(&metrics, "overlap");
    if !overlap.settings.is_empty() {
        // One row per (r, target fraction): the source model changes with r (target
        // documents moved into its training set), so no single x axis fits a plot.
        text.push_str("\n## Overlap r (target training documents moved into the source)\n\n");
        text.push_str(&axis_table(&overlap).to_markdown(3));
    }
    let axes = [
        ("target_size", report::TARGET_SIZE_AXIS, Scale::Log),
        ("target_diag", "target diagonal", Scale::Linear),
        (
            "mixture",
            "mixture weight of the target chain",
            Scale::Linear,
        ),
        ("extra_states", "target-only states", Scale::Linear),
        ("gamma", "guidance strength γ", Scale::Linear),
        ("top_n", "candidates n", Scale::Linear),
    ];
    let mut plots = Vec::new();
    for (axis, label, scale) in axes {
        let sub = axis_metrics(&metrics, axis);
        if sub.settings.is_empty() {
            continue;
        }
        let _ = writeln!(text, "\n## {label}\n");
        text.push_str(&axis_table(&sub).to_markdown(3));
        text.push('\n');
        for plot in report::plots(&sub, &run_dir.join("plots").join(axis), label, scale)? {
            let _ = writeln!(text, "![{axis} {plot}](plots/{axis}/{plot})\n");
            plots.push(format!("{axis}/{plot}"));
        }
    }
    if markov {
        // Text and DNA tasks have no exact ratio to measure the learned one against.
        text.push_str("\n## Ratio error by setting\n\n");
        text.push_str(&ratio_summary(&metrics).to_markdown(2));
    }
    text.push_str("\n## Every setting and method\n\n");
    text.push_str(&results_table(&metrics).to_markdown(3));
    let gammas = report::gamma_table(&metrics);
    if !gammas.rows.is_empty() {
        text.push_str(
            "\n## γ fitted on the target data\n\nEvery setting's γ grid as in the experiment's \
             report (the samples' columns score each γ's own samples against the chains).\n\n",
        );
        text.push_str(&gammas.to_markdown(4));
    }
    text.push_str("\n## Time per stage\n\n");
    text.push_str(&stage_table(&metrics).to_markdown(1));
    write_atomically(&run_dir.join("report.md"), text.as_bytes())?;
    let summary = format!(
        "{}wrote {}/report.md",
        if markov {
            crossover(&metrics)
        } else {
            String::new()
        },
        run_dir.display()
    );
    Ok(Report {
        run_dir,
        metrics,
        plots,
        summary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SweepSection;

    const CI: &str = include_str!("../../../configs/markov-ci.toml");

    /// One setting per grid value; the target-only-states axis runs no exact-ratio sampler,
    /// the γ axis uses the stated γ, and the γ and top-n axes keep only guided methods.
    #[test]
    fn the_seed_axis_reruns_every_target_setting_with_every_seed_moved() {
        let mut config = ExperimentConfig::parse(CI).unwrap();
        config.sweep = SweepSection {
            target_sizes: vec![],
            target_diag: vec![],
            mixture: vec![],
            extra_states: vec![],
            gamma: vec![],
            top_n: vec![],
            overlap: vec![],
            seeds: vec![0, 3],
            ..SweepSection::default()
        };
        let settings = sweep_settings(&config);
        let labels: Vec<&str> = settings.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(
            labels,
            ["seed=0 n=20", "seed=0 n=60", "seed=3 n=20", "seed=3 n=60"]
        );
        assert!(settings.iter().all(|s| s.axis == "seed"));
        assert_eq!(*settings[0].config, config.with_target_size(20).config);
        let moved = &settings[3].config;
        assert_eq!(moved.seed, config.seed + 30);
        assert_eq!(
            moved.denoiser.training.seed,
            config.denoiser.training.seed + 30
        );
        assert_eq!(
            moved.finetune.training.seed,
            config.finetune.training.seed + 30
        );
        assert_eq!(moved.guidance.seed, config.guidance.seed + 30);
        assert_eq!(moved.data.as_ref().unwrap().target_size, 60);
        assert_eq!(settings[3].methods, config.experiment.methods);
        for (seeds, message) in [(vec![1], "at least two"), (vec![1, 2, 1], "listed twice")] {
            config.sweep.seeds = seeds;
            let error = config.sweep.validate(5).unwrap_err().to_string();
            assert!(
                error.contains("sweep.seeds") && error.contains(message),
                "{error}"
            );
        }
    }

    /// `only` keeps the named axes of a section whose axes are all set, and rejects a name
    /// that is not an axis.
    #[test]
    fn only_keeps_the_named_axes() {
        let mut config = ExperimentConfig::parse(CI).unwrap();
        config.sweep.seeds = vec![0, 1];
        let all: Vec<String> = sweep_settings(&config)
            .into_iter()
            .map(|s| s.axis)
            .collect();
        assert!(all.iter().any(|a| a == "target_diag") && all.iter().any(|a| a == "gamma"));
        let axes = |names: &[&str]| -> Vec<String> {
            let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            let c = ExperimentConfig {
                sweep: config.sweep.only(&names).unwrap(),
                ..config.clone()
            };
            sweep_settings(&c).into_iter().map(|s| s.axis).collect()
        };
        let seeds = axes(&["seeds"]);
        assert_eq!(seeds.len(), 4, "{seeds:?}");
        assert!(seeds.iter().all(|a| a == "seed"));
        let two = axes(&["gamma", "seeds"]);
        assert!(two.iter().all(|a| a == "seed" || a == "gamma"));
        assert_eq!(
            two.iter().filter(|a| *a == "gamma").count(),
            config.sweep.gamma.len()
        );
        let error = config.sweep.only(&["seed".into()]).unwrap_err().to_string();
        assert!(
            error.contains("\"seed\"") && error.contains("top_n"),
            "{error}"
        );
    }

    #[test]
    fn the_grid_has_one_setting_per_value_and_safe_methods() {
        let mut config = ExperimentConfig::parse(CI).unwrap();
        config.guidance.fit_gamma = true;
        let settings = sweep_settings(&config);
        let labels: Vec<&str> = settings.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "n=20", "n=60", "diag=0.5", "mix=0.5", "extra=1", "gamma=0", "gamma=2", "top_n=2"
            ]
        );
        let extra = &settings[4];
        assert_eq!(extra.config.data.as_ref().unwrap().extra_target_states, 1);
        assert!(!extra.methods.iter().any(|m| m.needs_exact_chains()));
        let gamma = &settings[6];
        assert!(!gamma.config.guidance.fit_gamma && gamma.config.guidance.gamma == 2.0);
        assert_eq!(
            gamma.methods,
            [Method::Gtl, Method::GtlExactRatio, Method::GtlOracles]
        );
        let mix = &settings[3];
        let (source, target) = mix.config.data.as_ref().unwrap().chains().unwrap();
        let expected = 0.5 * source.transition()[0][0] + 0.5 * 0.8;
        assert!((target.transition()[0][0] - expected).abs() < 1e-12);
    }
}
