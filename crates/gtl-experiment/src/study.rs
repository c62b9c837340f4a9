//! The ratio-estimator study: every estimator of MATH.md §5 (log-r and r regressions, each
//! with and without the cycle term, and the noisy classifier) trained at several target data
//! set sizes and scored against the exact `log h_t` by t-bin. The stages share the
//! experiment's cache; the tables and plots go to `runs/<name>/ratio-study/`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::tensor::backend::AutodiffBackend;
use gtl_classifier::EstimatorKind;
use gtl_eval::plot::{LinePlot, Scale, Series};
use gtl_eval::{Cell, ErrorBin, Table, read_error_csv};
use gtl_models::training::write_atomically;

use crate::config::ExperimentConfig;
use crate::run::{RunOptions, stages_dir, worker_count};
use crate::stage::{ClassifierStage, Graph, RatioStage, execute};
use crate::{ExperimentError, Result};

/// One estimator of the study.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Variant {
    /// The estimator.
    pub estimator: EstimatorKind,
    /// Weight of the cycle term.
    pub cycle_weight: f64,
}

impl Variant {
    /// Its name in tables and plots.
    pub fn label(self) -> String {
        if self.cycle_weight > 0.0 {
            format!("{} + cycle {}", self.estimator.name(), self.cycle_weight)
        } else {
            self.estimator.name().to_string()
        }
    }
}

/// The estimators compared: both regressions with and without the cycle term, and the noisy
/// classifier used directly.
pub const VARIANTS: [Variant; 5] = [
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

/// One estimator's error bins at one target size.
#[derive(Clone, Debug)]
pub struct StudyRow {
    /// Target sequences (training + validation).
    pub target_size: usize,
    /// The estimator's label.
    pub estimator: String,
    /// The error in one t-bin and domain.
    pub bin: ErrorBin,
}

/// The study's results.
#[derive(Clone, Debug)]
pub struct Study {
    /// Where its tables and plots are.
    pub dir: PathBuf,
    /// Every row of `ratio_error.csv`.
    pub rows: Vec<StudyRow>,
    /// The Markdown table (`table.md`).
    pub table: String,
}

/// Runs the study of `config`'s estimators at `sizes` target sequences on `devices` (see
/// [`run`](crate::run)).
pub fn run<B: AutodiffBackend>(
    config: &ExperimentConfig,
    sizes: &[usize],
    options: &RunOptions,
    devices: &[B::Device],
) -> Result<Study> {
    config.markov("the ratio study")?;
    if sizes.is_empty() {
        return Err(ExperimentError::config(
            "the ratio study needs at least one target size",
        ));
    }
    let run_dir = options.runs_dir.join(&config.name);
    let mut graph = Graph::<B>::new(&stages_dir(&run_dir));
    let mut planned = Vec::new();
    for &size in sizes {
        let mut sized = config.clone();
        sized.markov_mut().target_size = size;
        sized
            .validate()
            .map_err(|e| e.under(&format!("target size {size}")))?;
        let tag = format!("n={size}");
        let classifier = graph.add(ClassifierStage {
            config: Arc::new(sized.clone()),
            clean: true,
            corpus: None,
            tag: tag.clone(),
        })?;
        for variant in VARIANTS {
            let mut c = sized.clone();
            c.ratio.estimator = variant.estimator;
            c.ratio.cycle_weight = variant.cycle_weight;
            let ratio = graph.add(RatioStage {
                config: Arc::new(c),
                classifier,
                corpus: None,
                tag: format!("{tag} {}", variant.label()),
            })?;
            planned.push((size, variant, ratio));
        }
    }
    let workers = worker_count(options.workers, &[], devices.len());
    execute(&graph, None, workers, &options.observer, devices)?;
    let mut rows = Vec::new();
    for (size, variant, ratio) in &planned {
        let path = graph.dir(*ratio).join("ratio_error.csv");
        rows.extend(read_error_csv(&path)?.into_iter().map(|bin| StudyRow {
            target_size: *size,
            estimator: variant.label(),
            bin,
        }));
    }
    let dir = run_dir.join("ratio-study");
    std::fs::create_dir_all(&dir).map_err(|e| ExperimentError::io(&dir, e))?;
    study_table(&rows).write_csv(&dir.join("ratio_error.csv"))?;
    let table = markdown_table(&rows, sizes);
    write_atomically(&dir.join("table.md"), table.as_bytes())?;
    for &size in sizes {
        for domain in ["source", "target"] {
            plot_size(&dir, &rows, size, domain)?;
        }
    }
    Ok(Study { dir, rows, table })
}

fn study_table(rows: &[StudyRow]) -> Table {
    let mut table = Table::new(
        ["target_size", "estimator"]
            .into_iter()
            .chain(gtl_eval::ERROR_COLUMNS),
    );
    for r in rows {
        table.push(
            [Cell::from(r.target_size), r.estimator.clone().into()]
                .into_iter()
                .chain(r.bin.cells()),
        );
    }
    table
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
        let mut table = Table::new(
            std::iter::once("estimator".to_string())
                .chain(sizes.iter().map(|s| format!("n_target = {s}"))),
        );
        for variant in VARIANTS {
            let label = variant.label();
            let cells = sizes.iter().map(|&size| {
                match rows.iter().find(|r| {
                    r.target_size == size
                        && r.estimator == label
                        && r.bin.domain == domain
                        && r.bin.is_overall()
                }) {
                    Some(r) => {
                        Cell::from(format!("{:.2} ({:.2})", r.bin.mse, r.bin.error_variance))
                    }
                    None => Cell::Missing,
                }
            });
            table.push(std::iter::once(Cell::from(label.clone())).chain(cells));
        }
        text.push_str(&table.to_markdown(2));
        if let Some(r) = rows
            .iter()
            .find(|r| r.bin.domain == domain && r.bin.is_overall())
        {
            let _ = writeln!(
                text,
                "\nVariance of the exact log h_t (the MSE of the best constant): {:.2}",
                r.bin.exact_variance
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
            let points = rows
                .iter()
                .filter(|r| {
                    r.target_size == size
                        && r.estimator == label
                        && r.bin.domain == domain
                        && !r.bin.is_overall()
                })
                .map(|r| (0.5 * (r.bin.t_low + r.bin.t_high), r.bin.mse));
            Series::new(label.clone(), points.collect::<Vec<_>>())
        })
        .collect();
    let title = format!("log h_t error on noised {domain} sequences, n_target = {size}");
    LinePlot {
        title: &title,
        x_label: "t (bin centre)",
        y_label: "MSE against the exact log h_t",
        y_scale: Scale::Log,
        series: &series,
        dodge: false,
        ..LinePlot::default()
    }
    .write_png(&dir.join(format!("mse_vs_t_{domain}_n{size}.png")))?;
    Ok(())
}
