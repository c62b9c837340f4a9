//! The loss study: the source denoiser of an experiment trained with each loss (for example
//! CEDD against score entropy) under each forward process, over several seeds, on the same
//! network and step budget; scored by its NELBO per token on held-out source sequences next to
//! the exact NLL and the exact oracle's NELBO, and timed per training step. The stages share
//! the experiment's cache; the tables go to `runs/<name>/loss-study/`.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use burn::tensor::backend::AutodiffBackend;
use gtl_diffusion::Loss;
use gtl_eval::{Cell, MeanInterval, Table, t_interval};
use gtl_models::training::write_atomically;
use serde::{Deserialize, Serialize};

use crate::config::{ExperimentConfig, ProcessName};
use crate::run::{RunOptions, stages_dir, worker_count};
use crate::stage::{DenoiserStage, DenoiserSummary, Graph, execute, summary_of};
use crate::{ExperimentError, Result};

/// One trained denoiser of the study.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LossRun {
    /// The forward process.
    pub process: ProcessName,
    /// The training loss.
    pub loss: Loss,
    /// The seed offset (`ExperimentConfig::with_seed_offset`).
    pub seed: u64,
    /// The stage's summary (NELBO, oracle, exact NLL, time).
    pub summary: DenoiserSummary,
}

impl LossRun {
    /// Wall seconds per training step.
    pub fn seconds_per_step(&self) -> f64 {
        self.summary.seconds / self.summary.steps.max(1) as f64
    }

    /// NELBO per token above the exact NLL per token (the bound's looseness plus the
    /// network's error).
    pub fn excess(&self) -> f64 {
        self.summary.nelbo_model - self.summary.exact_nll_per_token.unwrap_or(f64::NAN)
    }
}

/// The study's results.
#[derive(Clone, Debug)]
pub struct LossStudy {
    /// Where its files are.
    pub dir: PathBuf,
    /// Every trained denoiser.
    pub runs: Vec<LossRun>,
    /// The Markdown tables (`table.md`).
    pub table: String,
}

/// Trains `config`'s source denoiser with every loss of `losses` under every process of
/// `processes`, for each seed offset of `seeds` (data, initialisation and batches move
/// together), on `devices` (see [`run`](crate::run)). Pairs a loss does not support (MDLM on
/// a non-absorbing process) are refused before anything trains.
pub fn run<B: AutodiffBackend>(
    config: &ExperimentConfig,
    processes: &[ProcessName],
    losses: &[Loss],
    seeds: &[u64],
    options: &RunOptions,
    devices: &[B::Device],
) -> Result<LossStudy> {
    config.markov("the loss study")?;
    if processes.is_empty() || losses.is_empty() || seeds.len() < 2 {
        return Err(ExperimentError::config(
            "the loss study needs at least one process, one loss and two seeds (for intervals)",
        ));
    }
    let run_dir = options.runs_dir.join(&config.name);
    let mut graph = Graph::<B>::new(&stages_dir(&run_dir));
    let mut planned = Vec::new();
    for &seed in seeds {
        for &process in processes {
            for &loss in losses {
                let mut c = config.with_seed_offset(seed);
                c.process.kind = process;
                c.denoiser.loss = loss;
                c.validate().map_err(|e| {
                    e.under(&format!("process {}, loss {}", process.name(), loss.name()))
                })?;
                let handle = graph.add(DenoiserStage {
                    config: Arc::new(c),
                    corpus: None,
                })?;
                planned.push((process, loss, seed, handle));
            }
        }
    }
    let workers = worker_count(options.workers, &[], devices.len());
    let outcomes = execute(&graph, None, workers, &options.observer, devices)?;
    let mut runs = Vec::new();
    for (process, loss, seed, handle) in planned {
        let dir = graph.dir(handle);
        let outcome = outcomes[handle.id].as_ref().ok_or_else(|| {
            ExperimentError::Missing(format!("the denoiser of {}", dir.display()))
        })?;
        runs.push(LossRun {
            process,
            loss,
            seed,
            summary: summary_of::<DenoiserStage>(&outcome.done, dir)?,
        });
    }
    let dir = run_dir.join("loss-study");
    std::fs::create_dir_all(&dir).map_err(|e| ExperimentError::io(&dir, e))?;
    runs_table(&runs).write_csv(&dir.join("runs.csv"))?;
    let table = markdown(&runs, processes, losses)?;
    write_atomically(&dir.join("table.md"), table.as_bytes())?;
    Ok(LossStudy { dir, runs, table })
}

fn runs_table(runs: &[LossRun]) -> Table {
    let mut table = Table::new([
        "process",
        "loss",
        "seed",
        "steps",
        "seconds",
        "seconds_per_step",
        "nelbo_model",
        "nelbo_oracle",
        "exact_nll_per_token",
    ]);
    for r in runs {
        table.push([
            r.process.name().into(),
            r.loss.name().into(),
            Cell::from(r.seed as usize),
            r.summary.steps.into(),
            r.summary.seconds.into(),
            r.seconds_per_step().into(),
            r.summary.nelbo_model.into(),
            Cell::from(r.summary.nelbo_oracle),
            Cell::from(r.summary.exact_nll_per_token),
        ]);
    }
    table
}

fn interval(values: &[f64]) -> Result<MeanInterval> {
    t_interval(values, 0.95).map_err(|e| ExperimentError::config(e.to_string()))
}

fn shown(m: &MeanInterval, digits: usize) -> String {
    format!(
        "{:.digits$} [{:.digits$}, {:.digits$}]",
        m.mean, m.low, m.high
    )
}

/// Per process and loss: the mean and 95 % Student-t interval over seeds of the NELBO, its
/// excess over the exact NLL and the seconds per step; then, per process, each loss against
/// the first one paired by seed (perplexity-bound ratio `exp(NELBO_a − NELBO_b)` and
/// step-time ratio).
fn markdown(runs: &[LossRun], processes: &[ProcessName], losses: &[Loss]) -> Result<String> {
    let mut text = String::from(
        "NELBO per token on held-out source sequences (an upper bound on the NLL; its \
         exponential bounds the perplexity), its excess over the exact NLL, and wall seconds \
         per training step; mean and 95 % Student-t interval over seeds\n\n",
    );
    let mut table = Table::new([
        "process",
        "loss",
        "seeds",
        "NELBO / token",
        "NELBO − exact NLL",
        "oracle NELBO − exact NLL",
        "seconds / step",
    ]);
    let pick = |p: ProcessName, l: Loss| -> Vec<&LossRun> {
        runs.iter()
            .filter(|r| r.process == p && r.loss == l)
            .collect()
    };
    for &p in processes {
        for &l in losses {
            let mine = pick(p, l);
            let values =
                |f: &dyn Fn(&LossRun) -> f64| -> Vec<f64> { mine.iter().map(|r| f(r)).collect() };
            let oracle_excess = values(&|r| {
                r.summary.nelbo_oracle.unwrap_or(f64::NAN)
                    - r.summary.exact_nll_per_token.unwrap_or(f64::NAN)
            });
            table.push([
                p.name().into(),
                l.name().into(),
                mine.len().into(),
                shown(&interval(&values(&|r| r.summary.nelbo_model))?, 4).into(),
                shown(&interval(&values(&|r| r.excess()))?, 4).into(),
                shown(&interval(&oracle_excess)?, 4).into(),
                shown(&interval(&values(&|r| r.seconds_per_step()))?, 4).into(),
            ]);
        }
    }
    text.push_str(&table.to_markdown(4));
    if let Some((&first, rest)) = losses.split_first() {
        let _ = write!(
            text,
            "\nAgainst {} on the same seed: perplexity-bound ratio exp(NELBO − NELBO_{0}) \
             (below 1: a lower bound) and step-time ratio (below 1: faster steps)\n\n",
            first.name()
        );
        let mut paired = Table::new([
            "process",
            "loss",
            "perplexity-bound ratio",
            "step-time ratio",
        ]);
        for &p in processes {
            let base = pick(p, first);
            for &l in rest {
                let other = pick(p, l);
                let pairs: Vec<(&LossRun, &LossRun)> = other
                    .iter()
                    .filter_map(|o| base.iter().find(|b| b.seed == o.seed).map(|b| (*o, *b)))
                    .collect();
                let ppl: Vec<f64> = pairs
                    .iter()
                    .map(|(o, b)| (o.summary.nelbo_model - b.summary.nelbo_model).exp())
                    .collect();
                let time: Vec<f64> = pairs
                    .iter()
                    .map(|(o, b)| o.seconds_per_step() / b.seconds_per_step())
                    .collect();
                paired.push([
                    p.name().into(),
                    l.name().into(),
                    shown(&interval(&ppl)?, 3).into(),
                    shown(&interval(&time)?, 3).into(),
                ]);
            }
        }
        text.push_str(&paired.to_markdown(3));
    }
    Ok(text)
}
