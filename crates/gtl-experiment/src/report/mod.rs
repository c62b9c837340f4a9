//! What an experiment writes after its stages: every method's metrics computed from its
//! samples (MATH.md §7), `metrics.json`, CSV tables, PNG plots and `report.md`.

mod dna;
mod dna_scores;
mod plots;
mod tables;
mod text;
mod text_scores;

use std::path::{Path, PathBuf};

use burn::tensor::backend::AutodiffBackend;
use gtl_eval::plot::Scale;
use gtl_eval::{ErrorBin, MarkovScores, SequenceStats, read_error_csv};
use gtl_models::training::write_atomically;
use serde::{Deserialize, Serialize};

pub use dna_scores::{DnaEvaluator, DnaReference, DnaScores, SPECTRUM_KS};
pub use plots::{TARGET_SIZE_AXIS, plots};
pub use tables::{
    EXACT_TARGET_ROW, comparisons, gamma_table, ratio_summary, results_table, search_table,
    stage_table,
};
pub use text::report_text;
pub use text_scores::{TextEvaluator, TextReference, TextScores};

use crate::config::ExperimentConfig;
use crate::data::TaskData;
use crate::error::to_json;
use crate::io::read_samples;
use crate::method::{Method, RatioChoice};
use crate::run::{
    Executed, RunOptions, Setting, SettingStages, execute_settings, settings, stages_dir,
};
use crate::stage::{GammaChoice, Trial};
use crate::{ExperimentError, Result};

/// N-gram length of the memorisation statistics.
const NGRAM: usize = 4;

/// Decoded samples kept per method (text and DNA tasks).
const EXAMPLES: usize = 3;

/// One method at one setting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MethodResult {
    /// The method.
    pub method: Method,
    /// Its samples (token ids, one JSON array per line), relative to the run folder.
    pub samples_file: String,
    /// Exact scores against the target and source chains (Markov tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scores: Option<MarkovScores>,
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
    /// NELBO per token on held-out target sequences (the denoiser-based methods: baselines;
    /// for text tasks also the source model).
    pub nelbo_target: Option<f64>,
    /// The text scores (text tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<TextScores>,
    /// The DNA scores (DNA tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dna: Option<DnaScores>,
    /// The first samples, decoded (text and DNA tasks).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<String>,
    /// The settings a fine-tuning baseline tried (`finetune.learning_rates` ×
    /// `finetune.heads`), the kept one marked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trials: Vec<Trial>,
}

/// The learned ratio's error against the exact `log h_t` at one setting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RatioResult {
    /// The estimator.
    pub estimator: String,
    /// By t-bin and domain; the all-t rows have `t_low = 0`, `t_high = 1`.
    pub bins: Vec<ErrorBin>,
}

/// One setting's results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SettingResult {
    /// Its label.
    pub label: String,
    /// What was varied.
    pub axis: String,
    /// The varied value.
    pub value: f64,
    /// Target training sequences.
    pub target_train: usize,
    /// The target chain's transition matrix (Markov tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_transition: Option<Vec<Vec<f64>>>,
    /// Every method, in report order.
    pub methods: Vec<MethodResult>,
    /// The learned ratio's error.
    pub ratio: RatioResult,
    /// The fit of γ (`guidance.fit_gamma`): grid, held-out log-likelihoods, the samples
    /// criterion's scores, chosen γ.
    pub gamma_fit: Option<GammaChoice>,
    /// The references of the text scores (text tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_reference: Option<TextReference>,
    /// The references of the DNA scores (DNA tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dna_reference: Option<DnaReference>,
    /// Exact samples of the target chain, as many as each method draws, scored like the
    /// methods: the NLL and memorisation a perfect sampler shows (Markov tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact_target: Option<ExactTargetReference>,
    /// The γ fit's samples at every γ of the grid, scored (Markov tasks with the samples
    /// criterion).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gamma_samples: Vec<GammaSamples>,
}

/// The γ fit's own samples at one γ, scored against the chains like the methods (Markov
/// tasks): whether the γ the n-gram criterion picks matches the target beyond its n-grams.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GammaSamples {
    /// The guidance strength.
    pub gamma: f64,
    /// Their scores against the chains.
    pub scores: MarkovScores,
    /// Their memorisation and diversity against the target training set.
    pub sequences: SequenceStats,
}

/// The scores of exact target-chain samples at one setting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExactTargetReference {
    /// Sequences drawn.
    pub samples: usize,
    /// Their scores against the chains.
    pub scores: MarkovScores,
    /// Their memorisation and diversity against the target training set.
    pub sequences: SequenceStats,
}

/// Seed of the exact target samples (moved by the guidance seed).
const EXACT_TARGET_SEED: u64 = 0x7a26e7;

impl SettingResult {
    /// The result of `method`, if it ran here.
    pub fn method(&self, name: &str) -> Option<&MethodResult> {
        self.methods.iter().find(|m| m.method.name() == name)
    }
}

/// One stage's wall time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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

/// The task's scores of `samples`: exact Markov scores where the data has chains, text
/// scores where there is an evaluator, memorisation and diversity always.
pub fn score_samples(
    data: &TaskData,
    evaluator: Option<&TextEvaluator>,
    samples: &[Vec<u32>],
    length: usize,
) -> Result<(Option<MarkovScores>, SequenceStats, Option<TextScores>)> {
    let scores = match &data.chains {
        Some(chains) => Some(MarkovScores::compute(
            samples,
            &chains.target,
            &chains.source,
            length,
        )?),
        None => None,
    };
    let text = evaluator.map(|e| e.score(samples)).transpose()?;
    Ok((
        scores,
        SequenceStats::compute(samples, &data.target_train, NGRAM),
        text,
    ))
}

/// Scores one setting from its stages' outputs; copies each method's samples into
/// `run_dir/samples/<setting>/<method>.jsonl`.
fn setting_result(
    executed: &Executed,
    setting: &Setting,
    stages: &SettingStages,
    run_dir: &Path,
) -> Result<SettingResult> {
    let c = &setting.config;
    let tokenizer = stages
        .corpus
        .map(|h| executed.dir(h).join("tokenizer.json"));
    let data = TaskData::load(c, tokenizer.as_deref())?;
    let evaluator = match &tokenizer {
        Some(path) => Some(TextEvaluator::new(c, path, &data)?),
        None => None,
    };
    let dna = c.dna.as_ref().map(|_| DnaEvaluator::new(c)).transpose()?;
    let denoiser = executed.summary(stages.denoiser)?;
    let planner = match stages.planner {
        Some(p) => (executed.summary(p)?.parameters, executed.seconds(p)),
        None => (0, 0.0),
    };
    let classifier = executed.summary(stages.classifier)?;
    let ratio = executed.summary(stages.ratio)?;
    let mut ratio_parameters = classifier.noisy.parameters;
    if c.ratio.needs_clean_classifier() {
        ratio_parameters += classifier.clean.as_ref().map_or(0, |f| f.parameters)
            + ratio.training.as_ref().map_or(0, |f| f.parameters);
    }
    let ratio_seconds = executed.seconds(stages.classifier)
        + executed.seconds(stages.ratio)
        + stages.gamma.map_or(0.0, |g| executed.seconds(g));
    let mut methods = Vec::new();
    for stage in &stages.methods {
        let method = stage.method;
        let stage_dir = executed.dir(stage.samples);
        let source = stage_dir.join("samples.jsonl");
        let samples = read_samples(&source, Some(c.length()), Some(c.num_tokens()?))?;
        let relative = PathBuf::from("samples")
            .join(setting.file_label())
            .join(format!("{method}.jsonl"));
        let copy = run_dir.join(&relative);
        let folder = copy.parent().expect("a file in a folder");
        std::fs::create_dir_all(folder).map_err(|e| ExperimentError::io(folder, e))?;
        std::fs::copy(&source, &copy).map_err(|e| ExperimentError::io(&copy, e))?;
        let drawn = executed.summary(stage.samples)?;
        let uses_planner = method.uses_guided_order() && stages.planner.is_some();
        let baseline = stage
            .baseline
            .map(|b| {
                executed
                    .summary(b)
                    .map(|summary| (summary, executed.seconds(b)))
            })
            .transpose()?;
        let trials = baseline
            .as_ref()
            .map_or_else(Vec::new, |(summary, _)| summary.trials.clone());
        let (trained_parameters, train_seconds, nelbo_target) = match (&baseline, method.ratio()) {
            (Some((summary, seconds)), _) => (
                summary.parameters.trainable,
                *seconds,
                Some(summary.nelbo_target),
            ),
            (None, RatioChoice::Learned) => (
                ratio_parameters + if uses_planner { planner.0 } else { 0 },
                ratio_seconds + if uses_planner { planner.1 } else { 0.0 },
                None,
            ),
            _ if uses_planner => (planner.0, planner.1, None),
            _ => (0, 0.0, None),
        };
        let nelbo_target = match method {
            Method::Source => nelbo_target.or(denoiser.nelbo_target),
            _ => nelbo_target,
        };
        let (scores, sequences, text) =
            score_samples(&data, evaluator.as_ref(), &samples, c.length())
                .map_err(|e| e.under(&format!("scoring {method} at {}", setting.label)))?;
        let dna_scores = dna
            .as_ref()
            .map(|d| d.score(&samples))
            .transpose()
            .map_err(|e| e.under(&format!("scoring {method} at {}", setting.label)))?;
        let first = &samples[..samples.len().min(EXAMPLES)];
        let examples = match (&evaluator, &dna) {
            (Some(evaluator), _) => evaluator.decode(first),
            (None, Some(dna)) => dna.decode(first),
            (None, None) => Vec::new(),
        };
        let count = drawn.samples as f64;
        methods.push(MethodResult {
            method,
            samples_file: relative.display().to_string(),
            scores,
            sequences,
            trained_parameters,
            train_seconds,
            sample_seconds: drawn.stats.seconds,
            gamma: drawn.gamma,
            denoiser_rows_per_sample: drawn.stats.denoised_rows as f64 / count,
            ratio_rows_per_sample: drawn.stats.ratio_rows as f64 / count,
            nelbo_target,
            text,
            dna: dna_scores,
            examples,
            trials,
        });
    }
    let dna_reference = dna.map(|d| d.reference()).transpose()?;
    let exact_target = match &data.chains {
        Some(chains) => {
            let samples = chains.target.sample_dataset(
                c.guidance.samples,
                c.length(),
                EXACT_TARGET_SEED ^ c.guidance.seed,
            );
            let (scores, sequences, _) = score_samples(&data, None, &samples, c.length())?;
            Some(ExactTargetReference {
                samples: samples.len(),
                scores: scores.expect("a Markov task has scores"),
                sequences,
            })
        }
        None => None,
    };
    let gamma_fit: Option<GammaChoice> = stages.gamma.map(|g| executed.summary(g)).transpose()?;
    let gamma_samples = match (&data.chains, stages.gamma, &gamma_fit) {
        (
            Some(_),
            Some(g),
            Some(GammaChoice {
                samples: Some(fit), ..
            }),
        ) => {
            let folder = executed.dir(g).join("fit-samples");
            let mut scored = Vec::new();
            for &gamma in &fit.gammas {
                let path = folder.join(format!("gamma-{gamma}.jsonl"));
                if !path.exists() {
                    continue; // a fit stage from before the samples were kept
                }
                let samples = read_samples(&path, Some(c.length()), Some(c.num_tokens()?))?;
                let (scores, sequences, _) = score_samples(&data, None, &samples, c.length())?;
                scored.push(GammaSamples {
                    gamma,
                    scores: scores.expect("a Markov task has scores"),
                    sequences,
                });
            }
            scored
        }
        _ => Vec::new(),
    };
    Ok(SettingResult {
        label: setting.label.clone(),
        axis: setting.axis.clone(),
        // A DNA task's "all" setting (0) is placed at the count it found.
        value: match &dna_reference {
            Some(r) if setting.value == 0.0 => r.target_sequences as f64,
            _ => setting.value,
        },
        target_train: data.target_train.len(),
        target_transition: data.chains.as_ref().map(|c| c.target.transition().to_vec()),
        methods,
        ratio: RatioResult {
            estimator: c.ratio.estimator.name().to_string(),
            bins: match data.chains {
                Some(_) => read_error_csv(&executed.dir(stages.ratio).join("ratio_error.csv"))?,
                None => Vec::new(),
            },
        },
        gamma_fit,
        gamma_samples,
        text_reference: evaluator.map(|e| e.reference()).transpose()?,
        dna_reference,
        exact_target,
    })
}

/// Computes every setting's metrics from the stages' files.
pub fn metrics(config: &ExperimentConfig, executed: &Executed, run_dir: &Path) -> Result<Metrics> {
    let settings = executed
        .settings
        .iter()
        .zip(&executed.stages)
        .map(|(s, j)| setting_result(executed, s, j, run_dir))
        .collect::<Result<Vec<_>>>()?;
    let source_denoiser_parameters = match executed.stages.first() {
        Some(stages) => executed.summary(stages.denoiser)?.parameters,
        None => 0,
    };
    Ok(Metrics {
        name: config.name.clone(),
        source_denoiser_parameters,
        settings,
        stages: executed
            .records
            .iter()
            .filter_map(|record| {
                let outcome = record.outcome.as_ref()?;
                Some(StageTime {
                    label: record.label.clone(),
                    seconds: outcome.done.seconds,
                    cached: outcome.cached,
                    dir: record.dir.display().to_string(),
                })
            })
            .collect(),
        seconds: executed.seconds,
    })
}

/// Writes `metrics.json`, `results.csv`, `ratio_error.csv`, `stages.csv` and, when a
/// baseline searched, `baseline_search.csv` under `run_dir`.
pub fn write_tables(metrics: &Metrics, run_dir: &Path) -> Result<()> {
    write_atomically(
        &run_dir.join("metrics.json"),
        to_json(metrics, "metrics.json")?.as_bytes(),
    )?;
    results_table(metrics).write_csv(&run_dir.join("results.csv"))?;
    tables::ratio_table(metrics).write_csv(&run_dir.join("ratio_error.csv"))?;
    stage_table(metrics).write_csv(&run_dir.join("stages.csv"))?;
    let search = tables::search_table(metrics);
    if !search.rows.is_empty() {
        search.write_csv(&run_dir.join("baseline_search.csv"))?;
    }
    Ok(())
}

/// A finished run's results.
#[derive(Clone, Debug)]
pub struct Report {
    /// The run's folder.
    pub run_dir: PathBuf,
    /// Everything `metrics.json` holds.
    pub metrics: Metrics,
    /// The plots written under `plots/`.
    pub plots: Vec<String>,
    /// A short summary for a terminal.
    pub summary: String,
}

/// Writes `metrics.json`, the CSV tables, the plots and `report.md` under `run_dir`.
pub fn write(config: &ExperimentConfig, executed: &Executed, run_dir: &Path) -> Result<Report> {
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
    let summary = format!(
        "{}\n{}\nwrote {}/report.md, metrics.json, results.csv, ratio_error.csv, stages.csv, plots/",
        results_table(&metrics).to_markdown(3),
        comparisons(&metrics),
        run_dir.display()
    );
    Ok(Report {
        run_dir: run_dir.to_path_buf(),
        metrics,
        plots,
        summary,
    })
}

/// Runs the experiment of `config` on `devices`: every stage of every target size (cached
/// under `runs/<name>/stages/`), then metrics, tables, plots and `report.md` in
/// `runs/<name>/`. Every tensor lives on `devices[0]`; with several devices the denoiser,
/// the baselines and the ratio network train data-parallel on all of them
/// ([`Fit::run_on`](crate::nets::Fit::run_on)). Pass `&[device]` for one device.
pub fn run<B: AutodiffBackend>(
    config: &ExperimentConfig,
    options: &RunOptions,
    devices: &[B::Device],
) -> Result<Report> {
    let run_dir = options.runs_dir.join(&config.name);
    std::fs::create_dir_all(&run_dir).map_err(|e| ExperimentError::io(&run_dir, e))?;
    write_atomically(&run_dir.join("config.toml"), config.to_toml()?.as_bytes())?;
    crate::finished::RunMarker::of(config).write(&run_dir)?;
    let executed =
        execute_settings::<B>(settings(config), &stages_dir(&run_dir), options, devices)?;
    write(config, &executed, &run_dir)
}
