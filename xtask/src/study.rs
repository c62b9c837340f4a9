//! `cargo xtask ratio-study`: every ratio estimator of MATH.md §5 trained at several target
//! data set sizes and scored against the exact `log h_t` by t-bin; a CSV, a Markdown table
//! and one PNG per target size under `runs/<name>/ratio-study/`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use gtl_classifier::EstimatorKind;
use gtl_models::training::write_atomically;
use serde::{Deserialize, Serialize};

use crate::BackendArgs;
use crate::backend::dispatch;
use crate::config::ExperimentConfig;
use crate::plot::{LinePlot, Scale, Series};
use crate::ratio::{ClassifierStage, RatioStage};
use crate::train::load_config;

/// Arguments of `ratio-study`.
#[derive(Args, Debug)]
pub struct RatioStudyArgs {
    /// Experiment configuration (TOML); its [classifier] and [ratio] sections size the
    /// networks. Default: the embedded configs/markov-default.toml.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Target data set sizes (training + validation), comma separated.
    #[arg(long, value_delimiter = ',', default_value = "20,100,1000")]
    sizes: Vec<usize>,
    /// Directory that holds runs/<name>/.
    #[arg(long, default_value = "runs")]
    runs_dir: PathBuf,
    /// Retrain stages whose results already exist.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    backend: BackendArgs,
}

/// One estimator of the study.
#[derive(Clone, Copy, Debug)]
struct Variant {
    estimator: EstimatorKind,
    cycle_weight: f64,
}

impl Variant {
    fn label(self) -> String {
        if self.cycle_weight > 0.0 {
            format!("{} + cycle {}", self.estimator.name(), self.cycle_weight)
        } else {
            self.estimator.name().to_string()
        }
    }

    fn dir_name(self) -> String {
        if self.cycle_weight > 0.0 {
            format!("ratio-{}-cycle", self.estimator.name())
        } else {
            format!("ratio-{}", self.estimator.name())
        }
    }
}

/// The estimators compared: both regressions with and without the cycle term, and the noisy
/// classifier used directly.
const VARIANTS: [Variant; 5] = [
    Variant {
        estimator: EstimatorKind::LogR,
        cycle_weight: 0.0,
    },
    Variant {
        estimator: EstimatorKind::LogR,
        cycle_weight: 0.1,
    },
    Variant {
        estimator: EstimatorKind::R,
        cycle_weight: 0.0,
    },
    Variant {
        estimator: EstimatorKind::R,
        cycle_weight: 0.1,
    },
    Variant {
        estimator: EstimatorKind::NoisyClassifier,
        cycle_weight: 0.0,
    },
];

/// One row of `ratio_error.csv`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StudyRow {
    target_size: usize,
    estimator: String,
    domain: String,
    t_low: f64,
    t_high: f64,
    count: usize,
    mse: f64,
    bias: f64,
    error_variance: f64,
    exact_variance: f64,
}

/// `ratio-study`.
pub fn run(args: RatioStudyArgs) -> Result<()> {
    let base = load_config(args.config.as_deref())?;
    if args.sizes.is_empty() {
        bail!("--sizes: give at least one target size");
    }
    let study_dir = args.runs_dir.join(&base.name).join("ratio-study");
    let mut rows = Vec::new();
    for &size in &args.sizes {
        let mut config = base.clone();
        config.data.target_size = size;
        config.name = format!("{}-n{size}", base.name);
        config
            .validate()
            .with_context(|| format!("--sizes {size}"))?;
        let run_dir = study_dir.join(format!("n{size}"));
        let classifier_dir = run_dir.join("classifier");
        if args.force || !is_finished(&classifier_dir, &config)? {
            tracing::info!("n_target = {size}: training the classifiers");
            dispatch(
                args.backend.backend,
                args.backend.device,
                ClassifierStage {
                    config: config.clone(),
                    dir: classifier_dir.clone(),
                    resume: false,
                    clean: true,
                },
            )?;
        }
        for variant in VARIANTS {
            let mut config = config.clone();
            config.ratio.estimator = variant.estimator;
            config.ratio.cycle_weight = variant.cycle_weight;
            let dir = run_dir.join(variant.dir_name());
            if args.force || !is_finished(&dir, &config)? {
                tracing::info!("n_target = {size}: {}", variant.label());
                dispatch(
                    args.backend.backend,
                    args.backend.device,
                    RatioStage {
                        config: config.clone(),
                        classifier_dir: classifier_dir.clone(),
                        dir: dir.clone(),
                        resume: false,
                    },
                )?;
            }
            rows.extend(read_error_csv(&dir.join("ratio_error.csv"), size, variant)?);
        }
    }
    write_study_csv(&study_dir.join("ratio_error.csv"), &rows)?;
    let table = markdown_table(&rows, &args.sizes);
    write_atomically(&study_dir.join("table.md"), table.as_bytes())?;
    for &size in &args.sizes {
        for domain in ["source", "target"] {
            plot_size(&study_dir, &rows, size, domain)?;
        }
    }
    println!("{table}");
    println!("wrote {}", study_dir.display());
    Ok(())
}

/// Whether `dir` holds a finished stage trained under `config` (its summary.json exists and
/// its config.toml equals `config`).
fn is_finished(dir: &Path, config: &ExperimentConfig) -> Result<bool> {
    let Ok(text) = std::fs::read_to_string(dir.join("config.toml")) else {
        return Ok(false);
    };
    Ok(dir.join("summary.json").is_file() && text == toml::to_string(config)?)
}

fn read_error_csv(path: &Path, target_size: usize, variant: Variant) -> Result<Vec<StudyRow>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut rows = Vec::new();
    for (index, line) in text.lines().enumerate().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        let parse = |i: usize| -> Result<f64> {
            fields
                .get(i)
                .and_then(|f| f.parse().ok())
                .with_context(|| format!("{} line {}: bad field {i}", path.display(), index + 1))
        };
        rows.push(StudyRow {
            target_size,
            estimator: variant.label(),
            domain: fields[0].to_string(),
            t_low: parse(1)?,
            t_high: parse(2)?,
            count: parse(3)? as usize,
            mse: parse(4)?,
            bias: parse(5)?,
            error_variance: parse(6)?,
            exact_variance: parse(7)?,
        });
    }
    Ok(rows)
}

fn write_study_csv(path: &Path, rows: &[StudyRow]) -> Result<()> {
    let mut text = String::from(
        "target_size,estimator,domain,t_low,t_high,count,mse,bias,error_variance,exact_variance\n",
    );
    for r in rows {
        writeln!(
            text,
            "{},{},{},{:.2},{:.2},{},{},{},{},{}",
            r.target_size,
            r.estimator,
            r.domain,
            r.t_low,
            r.t_high,
            r.count,
            r.mse,
            r.bias,
            r.error_variance,
            r.exact_variance
        )?;
    }
    write_atomically(path, text.as_bytes())?;
    Ok(())
}

fn is_all_t(row: &StudyRow) -> bool {
    row.t_low == 0.0 && row.t_high == 1.0
}

/// All-t MSE (and error variance) per estimator and target size, for both domains.
fn markdown_table(rows: &[StudyRow], sizes: &[usize]) -> String {
    let mut text = String::new();
    for domain in ["source", "target"] {
        let _ = writeln!(
            text,
            "\nMSE of log h_t (error variance in parentheses) on noised {domain} test sequences, \
             all t\n"
        );
        let _ = write!(text, "| estimator |");
        for size in sizes {
            let _ = write!(text, " n_target = {size} |");
        }
        let _ = write!(text, "\n|---|");
        for _ in sizes {
            let _ = write!(text, "---|");
        }
        text.push('\n');
        for variant in VARIANTS {
            let label = variant.label();
            let _ = write!(text, "| {label} |");
            for &size in sizes {
                match rows.iter().find(|r| {
                    r.target_size == size
                        && r.estimator == label
                        && r.domain == domain
                        && is_all_t(r)
                }) {
                    Some(r) => {
                        let _ = write!(text, " {:.2} ({:.2}) |", r.mse, r.error_variance);
                    }
                    None => text.push_str(" – |"),
                }
            }
            text.push('\n');
        }
        if let Some(r) = rows.iter().find(|r| r.domain == domain && is_all_t(r)) {
            let _ = writeln!(
                text,
                "\nVariance of the exact log h_t (the MSE of the best constant): {:.2}",
                r.exact_variance
            );
        }
    }
    text
}

fn plot_size(dir: &Path, rows: &[StudyRow], size: usize, domain: &str) -> Result<()> {
    let series: Vec<Series> = VARIANTS
        .iter()
        .map(|variant| {
            let label = variant.label();
            Series {
                points: rows
                    .iter()
                    .filter(|r| {
                        r.target_size == size
                            && r.estimator == label
                            && r.domain == domain
                            && !is_all_t(r)
                    })
                    .map(|r| (0.5 * (r.t_low + r.t_high), r.mse))
                    .collect(),
                name: label,
            }
        })
        .collect();
    let title = format!("log h_t error on noised {domain} sequences, n_target = {size}");
    LinePlot {
        title: &title,
        x_label: "t (bin centre)",
        y_label: "MSE against the exact log h_t",
        x_scale: Scale::Linear,
        y_scale: Scale::Log,
        series: &series,
    }
    .write_png(&dir.join(format!("mse_vs_t_{domain}_n{size}.png")))
}
