//! What an experiment writes after its stages: every method's metrics computed from its
//! `samples.jsonl` (MATH.md §7), `metrics.json`, CSV tables, PNG plots and `report.md`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use gtl_eval::{Cell, ERROR_COLUMNS, ErrorBin, MarkovScores, SequenceStats, Table, read_error_csv};
use gtl_models::training::write_atomically;
use serde::Serialize;

use super::sampling::{GammaChoice, Sampler};
use super::{Executed, Setting, SettingJobs, sampler_of};
use crate::config::ExperimentConfig;
use crate::plot::{Heatmap, LinePlot, Scale, Series, grid_png};
use crate::ratio::ratio_parameters;
use crate::train::TaskData;

/// N-gram length of the memorisation statistics.
const NGRAM: usize = 4;

/// One method at one setting.
#[derive(Clone, Debug, Serialize)]
pub struct MethodResult {
    /// The method's name.
    pub method: String,
    /// Its samples (token ids, one JSON array per line), relative to the run folder.
    pub samples_file: String,
    /// Exact scores against the target and source chains.
    pub scores: MarkovScores,
    /// Memorisation and diversity against the target training set.
    pub sequences: SequenceStats,
    /// Parameters the method trains beyond the shared source denoiser.
    pub trained_parameters: usize,
    /// Wall time of the stages only this method (family) needs, in seconds.
    pub train_seconds: f64,
    /// Wall time of drawing the samples.
    pub sample_seconds: f64,
    /// Guidance strength of the sampler (0 when unguided).
    pub gamma: f64,
    /// Denoiser passes per sample.
    pub denoiser_rows_per_sample: f64,
    /// Ratio passes per sample.
    pub ratio_rows_per_sample: f64,
    /// NELBO per token on fresh target sequences (baselines only).
    pub nelbo_target: Option<f64>,
}

/// The learned ratio's error against the exact `log h_t` at one setting.
#[derive(Clone, Debug, Serialize)]
pub struct RatioResult {
    /// The estimator.
    pub estimator: String,
    /// By t-bin and domain; the all-t rows have `t_low = 0`, `t_high = 1`.
    pub bins: Vec<ErrorBin>,
}

/// One setting's results.
#[derive(Clone, Debug, Serialize)]
pub struct SettingResult {
    /// Its label.
    pub label: String,
    /// What was varied.
    pub axis: String,
    /// The varied value.
    pub value: f64,
    /// Target training sequences.
    pub target_train: usize,
    /// The target chain's transition matrix.
    pub target_transition: Vec<Vec<f64>>,
    /// Every method, in report order.
    pub methods: Vec<MethodResult>,
    /// The learned ratio's error.
    pub ratio: RatioResult,
    /// The fit of γ (`guidance.fit_gamma`): grid, held-out log-likelihoods, the samples
    /// criterion's scores, chosen γ.
    pub gamma_fit: Option<GammaChoice>,
}

/// One stage's wall time.
#[derive(Clone, Debug, Serialize)]
pub struct StageTime {
    /// The stage.
    pub label: String,
    /// Seconds of the run that finished it.
    pub seconds: f64,
    /// Whether this invocation found it finished.
    pub cached: bool,
    /// Its folder.
    pub dir: String,
}

/// Everything `metrics.json` holds.
#[derive(Clone, Debug, Serialize)]
pub struct Metrics {
    /// The run's name.
    pub name: String,
    /// Parameters of the source denoiser (shared by the guided methods and fine-tuning).
    pub source_denoiser_parameters: usize,
    /// Every setting.
    pub settings: Vec<SettingResult>,
    /// Every stage.
    pub stages: Vec<StageTime>,
    /// Wall time of this invocation (cached stages cost nothing).
    pub seconds: f64,
}

/// The axis label of the target size in plots and sweep tables.
pub const TARGET_SIZE_AXIS: &str = "target sequences n (training + validation)";

fn summary(executed: &Executed, job: usize) -> &serde_json::Value {
    &executed.stages[job].2.done.summary
}

fn seconds(executed: &Executed, job: usize) -> f64 {
    executed.stages[job].2.done.seconds
}

fn read_samples(path: &Path) -> Result<Vec<Vec<u32>>> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line)
                .with_context(|| format!("{} line {}: not a token array", path.display(), i + 1))
        })
        .collect()
}

fn number(value: &serde_json::Value, path: &[&str]) -> Option<f64> {
    path.iter()
        .try_fold(value, |v, key| v.get(key))
        .and_then(serde_json::Value::as_f64)
}

/// Scores one setting from its stages' outputs.
fn setting_result(
    executed: &Executed,
    setting: &Setting,
    jobs: &SettingJobs,
    run_dir: &Path,
) -> Result<SettingResult> {
    let c = &setting.config;
    let data = TaskData::new(c)?;
    let planner = jobs.planner.map_or((0, 0.0), |p| {
        let params = number(summary(executed, p), &["parameters"]).unwrap_or(0.0) as usize;
        (params, seconds(executed, p))
    });
    let ratio_params = ratio_parameters(c)?;
    let ratio_seconds = seconds(executed, jobs.classifier)
        + seconds(executed, jobs.ratio)
        + jobs.gamma.map_or(0.0, |g| seconds(executed, g));
    let mut methods = Vec::new();
    for (name, baseline, samples_job) in &jobs.methods {
        let sampler = sampler_of(name, c)?;
        let stage_dir = &executed.stages[*samples_job].1;
        let samples = read_samples(&stage_dir.join("samples.jsonl"))?;
        let relative = PathBuf::from("samples")
            .join(setting.label.replace(['=', ' '], "_"))
            .join(format!("{name}.jsonl"));
        let copy = run_dir.join(&relative);
        std::fs::create_dir_all(copy.parent().expect("a file in a folder"))?;
        std::fs::copy(stage_dir.join("samples.jsonl"), &copy)
            .with_context(|| format!("copying samples to {}", copy.display()))?;
        let drawn = summary(executed, *samples_job);
        let stat = |key: &str| number(drawn, &["stats", key]).unwrap_or(f64::NAN);
        let uses_planner = sampler.uses_order() && jobs.planner.is_some();
        let (trained_parameters, train_seconds, nelbo_target) = match (sampler, baseline) {
            (Sampler::Baseline(_), Some(b)) => (
                number(summary(executed, *b), &["parameters", "trainable"]).unwrap_or(0.0) as usize,
                seconds(executed, *b),
                number(summary(executed, *b), &["nelbo_target"]),
            ),
            (Sampler::Gtl | Sampler::ExactGuidance, _) => (
                ratio_params + if uses_planner { planner.0 } else { 0 },
                ratio_seconds + if uses_planner { planner.1 } else { 0.0 },
                None,
            ),
            _ if uses_planner => (planner.0, planner.1, None),
            _ => (0, 0.0, None),
        };
        let count = number(drawn, &["samples"]).unwrap_or(f64::NAN);
        methods.push(MethodResult {
            method: name.clone(),
            samples_file: relative.display().to_string(),
            scores: MarkovScores::compute(&samples, &data.target, &data.source, c.data.length)
                .with_context(|| format!("scoring {name} at {}", setting.label))?,
            sequences: SequenceStats::compute(&samples, &data.target_train, NGRAM),
            trained_parameters,
            train_seconds,
            sample_seconds: stat("seconds"),
            gamma: number(drawn, &["gamma"]).unwrap_or(f64::NAN),
            denoiser_rows_per_sample: stat("denoised_rows") / count,
            ratio_rows_per_sample: stat("ratio_rows") / count,
            nelbo_target,
        });
    }
    let ratio_dir = &executed.stages[jobs.ratio].1;
    Ok(SettingResult {
        label: setting.label.clone(),
        axis: setting.axis.clone(),
        value: setting.value,
        target_train: data.target_train.len(),
        target_transition: data.target.transition().to_vec(),
        methods,
        ratio: RatioResult {
            estimator: c.ratio.estimator.name().to_string(),
            bins: read_error_csv(&ratio_dir.join("ratio_error.csv"))?,
        },
        gamma_fit: jobs
            .gamma
            .map(|g| serde_json::from_value(summary(executed, g).clone()))
            .transpose()
            .context("a γ stage's summary is not a γ fit")?,
    })
}

/// Computes every setting's metrics from the stages' files.
pub fn metrics(config: &ExperimentConfig, executed: &Executed, run_dir: &Path) -> Result<Metrics> {
    let settings = executed
        .settings
        .iter()
        .zip(&executed.jobs)
        .map(|(s, j)| setting_result(executed, s, j, run_dir))
        .collect::<Result<Vec<_>>>()?;
    let denoiser = executed.jobs.first().map_or(0.0, |j| {
        number(summary(executed, j.denoiser), &["parameters"]).unwrap_or(0.0)
    });
    Ok(Metrics {
        name: config.name.clone(),
        source_denoiser_parameters: denoiser as usize,
        settings,
        stages: executed
            .stages
            .iter()
            .map(|(label, dir, outcome)| StageTime {
                label: label.clone(),
                seconds: outcome.done.seconds,
                cached: outcome.cached,
                dir: dir.display().to_string(),
            })
            .collect(),
        seconds: executed.seconds,
    })
}

/// The per-setting, per-method table.
pub fn results_table(metrics: &Metrics) -> Table {
    let mut table = Table::new([
        "setting",
        "method",
        "gamma",
        "mean_diagonal",
        "transition_mean_error",
        "transition_max_error",
        "nll_target",
        "nll_source",
        "tv",
        "memorised",
        "distinct",
        "trained_parameters",
        "train_seconds",
        "sample_seconds",
        "ratio_rows_per_sample",
    ]);
    for s in &metrics.settings {
        for m in &s.methods {
            table.push([
                s.label.clone().into(),
                m.method.clone().into(),
                m.gamma.into(),
                m.scores.mean_diagonal.into(),
                m.scores.transition_mean_error.into(),
                m.scores.transition_max_error.into(),
                m.scores.nll_target.into(),
                m.scores.nll_source.into(),
                m.scores.tv.into(),
                m.sequences.memorised.into(),
                m.sequences.distinct_sequences.into(),
                m.trained_parameters.into(),
                m.train_seconds.into(),
                m.sample_seconds.into(),
                m.ratio_rows_per_sample.into(),
            ]);
        }
    }
    table
}

fn ratio_table(metrics: &Metrics) -> Table {
    let mut table = Table::new(std::iter::once("setting").chain(ERROR_COLUMNS));
    for s in &metrics.settings {
        for b in &s.ratio.bins {
            table.push(std::iter::once(s.label.clone().into()).chain(b.cells()));
        }
    }
    table
}

/// Every stage's wall time.
pub fn stage_table(metrics: &Metrics) -> Table {
    let mut table = Table::new(["stage", "seconds", "cached"]);
    for s in &metrics.stages {
        table.push([
            s.label.clone().into(),
            s.seconds.into(),
            (if s.cached { "yes" } else { "no" }).into(),
        ]);
    }
    table
}

/// One heatmap per setting and method, the target chain first: rows are settings.
fn heatmaps(metrics: &Metrics, path: &Path) -> Result<()> {
    let mut titles = Vec::new();
    let mut matrices = Vec::new();
    let columns = 1 + metrics
        .settings
        .iter()
        .map(|s| s.methods.len())
        .max()
        .unwrap_or(0);
    for s in &metrics.settings {
        titles.push(format!("target ({})", s.label));
        matrices.push(s.target_transition.clone());
        for m in &s.methods {
            titles.push(format!(
                "{} {}: diag {:.3}",
                m.method, s.label, m.scores.mean_diagonal
            ));
            matrices.push(m.scores.transition.clone());
        }
        for _ in s.methods.len() + 1..columns {
            titles.push(String::new());
            matrices.push(vec![vec![f64::NAN]]);
        }
    }
    let panels: Vec<Heatmap> = titles
        .iter()
        .zip(&matrices)
        .map(|(title, rows)| Heatmap::transition(title, rows))
        .collect();
    grid_png(path, columns, &panels)
}

/// A line per method of `value` against the settings' varied value.
fn method_lines(metrics: &Metrics, value: impl Fn(&MethodResult) -> f64) -> Vec<Series> {
    let mut names: Vec<&str> = Vec::new();
    for s in &metrics.settings {
        for m in &s.methods {
            if !names.contains(&m.method.as_str()) {
                names.push(&m.method);
            }
        }
    }
    names
        .iter()
        .map(|name| Series {
            name: name.to_string(),
            points: metrics
                .settings
                .iter()
                .filter_map(|s| {
                    let m = s.methods.iter().find(|m| m.method == *name)?;
                    Some((s.value, value(m)))
                })
                .collect(),
        })
        .collect()
}

/// The ratio error (target domain) against t, one line per setting.
fn ratio_lines(metrics: &Metrics, domain: &str) -> Vec<Series> {
    metrics
        .settings
        .iter()
        .map(|s| Series {
            name: s.label.clone(),
            points: s
                .ratio
                .bins
                .iter()
                .filter(|b| b.domain == domain && !b.is_overall() && b.count > 0)
                .map(|b| (0.5 * (b.t_low + b.t_high), b.mse))
                .collect(),
        })
        .collect()
}

/// Writes the plots; returns their file names.
pub fn plots(metrics: &Metrics, dir: &Path, axis: &str, x_scale: Scale) -> Result<Vec<String>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    heatmaps(metrics, &dir.join("transition-matrices.png"))?;
    written.push("transition-matrices.png".to_string());
    if metrics.settings.len() > 1 {
        for (file, title, y_label, value) in [
            (
                "transition-error.png",
                "Mean |transition error| against the target chain",
                "mean absolute error",
                (|m: &MethodResult| m.scores.transition_mean_error) as fn(&MethodResult) -> f64,
            ),
            (
                "mean-diagonal.png",
                "Mean diagonal of the sampled transition matrix",
                "mean diagonal",
                |m: &MethodResult| m.scores.mean_diagonal,
            ),
        ] {
            LinePlot {
                title,
                x_label: axis,
                y_label,
                x_scale,
                y_scale: Scale::Linear,
                series: &method_lines(metrics, value),
            }
            .write_png(&dir.join(file))?;
            written.push(file.to_string());
        }
    }
    let lines = ratio_lines(metrics, "target");
    if lines.iter().any(|l| l.points.iter().any(|p| p.1 > 0.0)) {
        LinePlot {
            title: "Ratio error on noised target sequences: MSE of log h_t by t",
            x_label: "t",
            y_label: "MSE against the exact log h_t",
            x_scale: Scale::Linear,
            y_scale: Scale::Log,
            series: &lines,
        }
        .write_png(&dir.join("ratio-error.png"))?;
        written.push("ratio-error.png".to_string());
    }
    Ok(written)
}

/// The result of method `name` at setting `s`.
pub fn method<'a>(s: &'a SettingResult, name: &str) -> Option<&'a MethodResult> {
    s.methods.iter().find(|m| m.method == name)
}

/// Sentences comparing GTL with full fine-tuning at each setting, from the numbers.
pub fn comparisons(metrics: &Metrics) -> String {
    let mut text = String::new();
    for s in &metrics.settings {
        let (Some(gtl), Some(fine)) = (method(s, "gtl"), method(s, "full-finetune")) else {
            continue;
        };
        let better = if gtl.scores.transition_mean_error < fine.scores.transition_mean_error {
            "GTL is closer to the target"
        } else {
            "full fine-tuning is closer to the target"
        };
        let _ = writeln!(
            text,
            "- {}: GTL mean diagonal {:.3} (transition error {:.4}), full fine-tune {:.3} \
             ({:.4}): {better}.",
            s.label,
            gtl.scores.mean_diagonal,
            gtl.scores.transition_mean_error,
            fine.scores.mean_diagonal,
            fine.scores.transition_mean_error,
        );
    }
    text
}

/// Writes `metrics.json`, `results.csv`, `ratio_error.csv` and `stages.csv` under `run_dir`.
pub fn write_tables(metrics: &Metrics, run_dir: &Path) -> Result<()> {
    write_atomically(
        &run_dir.join("metrics.json"),
        serde_json::to_string_pretty(metrics)?.as_bytes(),
    )?;
    results_table(metrics).write_csv(&run_dir.join("results.csv"))?;
    ratio_table(metrics).write_csv(&run_dir.join("ratio_error.csv"))?;
    stage_table(metrics).write_csv(&run_dir.join("stages.csv"))?;
    Ok(())
}

/// Writes `metrics.json`, the CSV tables, the plots and `report.md` under `run_dir`; returns
/// a short summary for the terminal.
pub fn write(config: &ExperimentConfig, executed: &Executed, run_dir: &Path) -> Result<String> {
    let metrics = metrics(config, executed, run_dir)?;
    write_tables(&metrics, run_dir)?;
    let plots = plots(
        &metrics,
        &run_dir.join("plots"),
        TARGET_SIZE_AXIS,
        Scale::Log,
    )?;
    let report = report_text(config, &metrics, &plots);
    write_atomically(&run_dir.join("report.md"), report.as_bytes())?;
    Ok(format!(
        "{}\n{}\nwrote {}/report.md, metrics.json, results.csv, ratio_error.csv, stages.csv, plots/",
        results_table(&metrics).to_markdown(3),
        comparisons(&metrics),
        run_dir.display()
    ))
}

/// The all-t ratio error of each setting.
pub fn ratio_summary(metrics: &Metrics) -> Table {
    let mut table = Table::new([
        "setting",
        "estimator",
        "MSE (target)",
        "error variance (target)",
        "exact variance (target)",
        "MSE (source)",
        "error variance (source)",
    ]);
    for s in &metrics.settings {
        let all = |domain: &str| {
            s.ratio
                .bins
                .iter()
                .find(|b| b.domain == domain && b.is_overall())
        };
        let (t, src) = (all("target"), all("source"));
        table.push([
            s.label.clone().into(),
            s.ratio.estimator.clone().into(),
            Cell::from(t.map(|b| b.mse)),
            Cell::from(t.map(|b| b.error_variance)),
            Cell::from(t.map(|b| b.exact_variance)),
            Cell::from(src.map(|b| b.mse)),
            Cell::from(src.map(|b| b.error_variance)),
        ]);
    }
    table
}

/// Each setting's γ grid scores (the samples column only when a setting used the samples
/// criterion).
fn gamma_table(metrics: &Metrics) -> Table {
    let by_samples = metrics
        .settings
        .iter()
        .any(|s| s.gamma_fit.as_ref().is_some_and(|f| f.samples.is_some()));
    let mut columns = vec!["setting", "γ", "held-out log-likelihood"];
    if by_samples {
        columns.push("samples n-gram log-likelihood");
    }
    columns.push("chosen");
    let mut table = Table::new(columns);
    for s in &metrics.settings {
        let Some(fit) = &s.gamma_fit else { continue };
        let chosen = fit.chosen();
        for (i, (&g, &l)) in fit
            .likelihood
            .gammas
            .iter()
            .zip(&fit.likelihood.log_likelihood)
            .enumerate()
        {
            let mut row: Vec<Cell> = vec![s.label.clone().into(), g.into(), l.into()];
            if by_samples {
                row.push(match &fit.samples {
                    Some(samples) => samples.log_likelihood[i].into(),
                    None => "–".into(),
                });
            }
            row.push((if chosen == Some(g) { "yes" } else { "" }).into());
            table.push(row);
        }
    }
    table
}

/// The text of `report.md`.
pub fn report_text(config: &ExperimentConfig, metrics: &Metrics, plots: &[String]) -> String {
    let d = &config.data;
    let g = &config.guidance;
    let mut text = format!("# Experiment `{}`\n\n", config.name);
    let _ = writeln!(
        text,
        "N = {} states{}, L = {}, {} source sequences (source {:?}), target {:?}. \
         Source denoiser: {} parameters. Guidance: γ = {}, top-n = {}, order {}, {} samples \
         per method ({} for exact guidance). Wall time of this invocation: {:.1} s \
         (finished stages are cached under stages/).\n",
        d.states,
        if d.extra_target_states > 0 {
            format!(" + {} target-only", d.extra_target_states)
        } else {
            String::new()
        },
        d.length,
        d.source_size,
        d.source,
        d.target,
        metrics.source_denoiser_parameters,
        g.gamma,
        if g.top_n == 0 {
            "all".to_string()
        } else {
            g.top_n.to_string()
        },
        g.order,
        g.samples,
        g.exact_samples,
        metrics.seconds
    );
    text.push_str("## Results\n\nMean diagonal and transition errors of the empirical transition matrix of each method's samples against the target chain; NLL per token under the target chain; TV only where N^L ≤ 10^6; memorised = share of samples that copy a target training sequence; trained params and train s = what the method trains beyond the shared source denoiser.\n\n");
    text.push_str(&results_table(metrics).to_markdown(3));
    text.push_str("\n## GTL against full fine-tuning\n\n");
    text.push_str(&comparisons(metrics));
    text.push_str("\n## Ratio error against the exact log h_t\n\nAll-t rows (ratio_error.csv has every t-bin). A guided sampler sees the error variance: a constant offset cancels.\n\n");
    text.push_str(&ratio_summary(metrics).to_markdown(2));
    if metrics.settings.iter().any(|s| s.gamma_fit.is_some()) {
        text.push_str("\n## γ fitted on the target data\n\nHeld-out log-likelihood: mean log-probability of the true token under the guided one-position conditional (source denoiser × learned ratio^γ, all N candidates) on masked validation sequences (higher is better). Samples n-gram log-likelihood: mean log-probability per token of every target training and validation sequence under a Witten–Bell n-gram model (order guidance.fit_order) of gtl's own samples at that γ (higher is better). The `guidance.fit_criterion` column chose the γ that drives gtl and exact-guidance.\n\n");
        text.push_str(&gamma_table(metrics).to_markdown(4));
    }
    text.push_str("\n## Time per stage\n\n");
    text.push_str(&stage_table(metrics).to_markdown(1));
    text.push_str("\n## Plots\n\n");
    for plot in plots {
        let _ = writeln!(text, "![{plot}](plots/{plot})\n");
    }
    text
}
