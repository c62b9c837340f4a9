//! Using what a finished run trained: more samples of one method with other sampler settings
//! (γ, top-n, order, count, seed), and the run's metrics for any samples file.
//!
//! Sampling plans the run's stage graph with the overridden `[guidance]` keys: every network
//! stage keeps its key (they do not read those keys) and must have finished; only the samples
//! stage is new (or found in the cache, when the same settings were drawn before).
//!
//! ```no_run
//! use std::sync::Arc;
//! use burn::backend::{Autodiff, NdArray};
//! use gtl_experiment::finished::{FinishedRun, SamplerOverrides};
//! use gtl_experiment::method::Method;
//! use gtl_experiment::observer::{LogObserver, Observer};
//!
//! # fn main() -> gtl_experiment::Result<()> {
//! let run = FinishedRun::open(std::path::Path::new("runs/markov-ci"))?;
//! let setting = run.setting(Some("n=20"))?;
//! let overrides = SamplerOverrides { gamma: Some(1.5), samples: Some(200), ..Default::default() };
//! let observer: Arc<dyn Observer> = Arc::new(LogObserver);
//! let device = Default::default();
//! let drawn = run.sample::<Autodiff<NdArray>>(&setting, Method::Gtl, &overrides, &observer, &device)?;
//! // Score them like the report does (the samples stage keeps them in samples.jsonl).
//! let scores = run.evaluate::<Autodiff<NdArray>>(&setting, &drawn.dir.join("samples.jsonl"))?;
//! println!("{:?}", scores.scores);
//! # Ok(())
//! # }
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::tensor::backend::AutodiffBackend;
use gtl_eval::{MarkovScores, SequenceStats, Table};
use gtl_models::training::write_atomically;
use serde::{Deserialize, Serialize};

use crate::cache::{FORMAT_VERSION, finished};
use crate::config::{ExperimentConfig, PositionOrder, TailChoice, Task};
use crate::data::TaskData;
use crate::error::to_json;
use crate::io::read_samples;
use crate::method::{Method, RatioChoice};
use crate::observer::Observer;
use crate::report::{DnaEvaluator, DnaScores, TextEvaluator, TextScores};
use crate::run::{Setting, plan, stages_dir, worker_count};
use crate::sampling::SampleSummary;
use crate::stage::{GammaChoice, GammaStage, Graph, execute, summary_of};
use crate::{ExperimentError, Result};

/// What a run writes to `run.json`: which task and format its stages hold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunMarker {
    /// The stages' format version.
    pub format: u32,
    /// The run's name.
    pub name: String,
    /// "markov", "text" or "dna".
    pub task: String,
}

impl RunMarker {
    /// The marker of a run of `config`.
    pub fn of(config: &ExperimentConfig) -> Self {
        RunMarker {
            format: FORMAT_VERSION,
            name: config.name.clone(),
            task: match config.task() {
                Task::Markov(_) => "markov".into(),
                Task::Text(_) => "text".into(),
                Task::Dna(_) => "dna".into(),
            },
        }
    }

    /// Writes `run.json` into `run_dir`.
    pub fn write(&self, run_dir: &Path) -> Result<()> {
        let text = to_json(self, "run.json")?;
        Ok(write_atomically(
            &run_dir.join("run.json"),
            text.as_bytes(),
        )?)
    }
}

/// Sampler settings that replace the run's own (`None`: the run's).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SamplerOverrides {
    /// γ of a guided method.
    pub gamma: Option<f64>,
    /// Candidates per step of scheduled GTL (0: every token).
    pub top_n: Option<usize>,
    /// What scheduled GTL's tokens outside the top n get.
    pub candidate_tail: Option<TailChoice>,
    /// Position order of the one-position samplers (`baseline_order` for baselines).
    pub order: Option<PositionOrder>,
    /// Sequences drawn.
    pub samples: Option<usize>,
    /// Seed of the sampler.
    pub seed: Option<u64>,
}

/// Samples drawn from a finished run.
#[derive(Clone, Debug)]
pub struct Drawn {
    /// Token ids.
    pub tokens: Vec<Vec<u32>>,
    /// Decoded text (text tasks).
    pub texts: Option<Vec<String>>,
    /// What drawing them cost, and γ.
    pub summary: SampleSummary,
    /// The samples stage's folder (its `samples.jsonl`).
    pub dir: PathBuf,
}

/// The scores of one samples file under a run's task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The file.
    pub file: String,
    /// Exact scores against the chains (Markov tasks).
    pub scores: Option<MarkovScores>,
    /// Memorisation and diversity against the target training set.
    pub sequences: SequenceStats,
    /// Text scores (text tasks).
    pub text: Option<TextScores>,
    /// DNA scores (DNA tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dna: Option<DnaScores>,
}

/// A finished run directory (`runs/<name>/`).
#[derive(Clone, Debug)]
pub struct FinishedRun {
    /// Its folder.
    pub dir: PathBuf,
    /// Its configuration (`config.toml`).
    pub config: ExperimentConfig,
}

impl FinishedRun {
    /// Opens `dir`: it must hold `run.json` of this format and the run's `config.toml`.
    pub fn open(dir: &Path) -> Result<Self> {
        let marker_path = dir.join("run.json");
        let text = std::fs::read_to_string(&marker_path).map_err(|_| {
            ExperimentError::Missing(format!(
                "{} is not a finished run of this gtl (no run.json): run `cargo xtask \
                 experiment CONFIG` first",
                dir.display()
            ))
        })?;
        let marker: RunMarker =
            serde_json::from_str(&text).map_err(|e| ExperimentError::Format {
                path: marker_path.clone(),
                message: format!("not a run marker: {e}"),
            })?;
        if marker.format != FORMAT_VERSION {
            return Err(ExperimentError::Format {
                path: marker_path,
                message: format!(
                    "the run's stages are of format {}, this gtl reads format {FORMAT_VERSION}: \
                     run the experiment again",
                    marker.format
                ),
            });
        }
        let config = ExperimentConfig::load(&dir.join("config.toml"))?;
        if RunMarker::of(&config).task != marker.task {
            return Err(ExperimentError::Format {
                path: marker_path,
                message: format!(
                    "a {} run, but config.toml describes a {} task",
                    marker.task,
                    RunMarker::of(&config).task
                ),
            });
        }
        Ok(FinishedRun {
            dir: dir.to_path_buf(),
            config,
        })
    }

    /// The run's settings (target sizes or fractions); `label` picks one ("n=100"), `None`
    /// the first.
    pub fn setting(&self, label: Option<&str>) -> Result<Setting> {
        let targets = self.config.target_settings();
        let labels: Vec<String> = targets.iter().map(|t| t.label.clone()).collect();
        let target = match label {
            None => targets.into_iter().next(),
            Some(label) => targets.into_iter().find(|t| t.label == label),
        }
        .ok_or_else(|| {
            ExperimentError::config(format!(
                "--setting {}: the run's settings are {labels:?}",
                label.unwrap_or("")
            ))
        })?;
        Ok(Setting::new(target, &self.config.experiment.methods))
    }

    /// Draws `method`'s samples at `setting` with `overrides` on `device`, after checking
    /// that every stage the method needs has finished.
    pub fn sample<B: AutodiffBackend>(
        &self,
        setting: &Setting,
        method: Method,
        overrides: &SamplerOverrides,
        observer: &Arc<dyn Observer>,
        device: &B::Device,
    ) -> Result<Drawn> {
        if !self.config.experiment.methods.contains(&method) {
            return Err(ExperimentError::config(format!(
                "the run did not train method {method}; it has {:?}",
                self.config
                    .experiment
                    .methods
                    .iter()
                    .map(|m| m.name())
                    .collect::<Vec<_>>()
            )));
        }
        let mut config = (*setting.config).clone();
        let g = &mut config.guidance;
        if let Some(gamma) = overrides.gamma {
            if method.ratio() == RatioChoice::None {
                return Err(ExperimentError::config(format!(
                    "--gamma: method {method} is not guided"
                )));
            }
            g.gamma = gamma;
            if method.ratio() == RatioChoice::Learned {
                g.fit_gamma = false;
            }
        }
        if let Some(top_n) = overrides.top_n {
            g.top_n = top_n;
        }
        if let Some(tail) = overrides.candidate_tail {
            g.candidate_tail = tail;
        }
        if let Some(order) = overrides.order {
            if method.is_baseline() {
                g.baseline_order = match order {
                    PositionOrder::Planner => {
                        return Err(ExperimentError::config(
                            "--order planner: the planner belongs to the source denoiser, not \
                             to a baseline",
                        ));
                    }
                    PositionOrder::Random => crate::config::UnguidedOrder::Random,
                    PositionOrder::Confidence => crate::config::UnguidedOrder::Confidence,
                    PositionOrder::Margin => crate::config::UnguidedOrder::Margin,
                    PositionOrder::Entropy => crate::config::UnguidedOrder::Entropy,
                };
            } else {
                g.order = order;
            }
        }
        if let Some(samples) = overrides.samples {
            g.samples = samples;
            g.exact_samples = samples;
        }
        if let Some(seed) = overrides.seed {
            g.seed = seed;
        }
        if method.uses_fitted_gamma(&config.guidance) {
            // The γ fit reads the sampler's seed, order and top-n: use the γ the run chose.
            let gamma = self.fitted_gamma::<B>(setting)?;
            config.guidance.fit_gamma = false;
            config.guidance.gamma = gamma;
        }
        config.validate()?;
        let overridden = Setting {
            config: Arc::new(config),
            methods: vec![method],
            ..setting.clone()
        };
        let mut graph = Graph::<B>::new(&stages_dir(&self.dir));
        let stages = plan(&mut graph, std::slice::from_ref(&overridden))?.remove(0);
        let target = stages.methods[0].samples;
        for id in graph.closure(&[target.id]) {
            let node = &graph.nodes()[id];
            if id != target.id && finished(&node.dir, &node.key)?.is_none() {
                return Err(ExperimentError::Missing(format!(
                    "stage \"{}\" has not finished in {} (with these settings): run the \
                     experiment first{}",
                    node.label,
                    self.dir.display(),
                    if node.kind == "gamma" {
                        "; --gamma G samples without the γ fit"
                    } else {
                        ""
                    }
                )));
            }
        }
        let workers = worker_count(Some(1), std::slice::from_ref(&overridden), 1);
        let outcomes = execute(
            &graph,
            Some(&[target.id]),
            workers,
            observer,
            std::slice::from_ref(device),
        )?;
        let done = &outcomes[target.id].as_ref().expect("the target ran").done;
        let summary: SampleSummary =
            serde_json::from_value(done.summary.clone()).map_err(|e| ExperimentError::Format {
                path: graph.dir(target).join("done.json"),
                message: e.to_string(),
            })?;
        let dir = graph.dir(target).to_path_buf();
        let c = &overridden.config;
        let tokens = read_samples(&dir.join("samples.jsonl"), Some(c.length()), None)?;
        let texts = match stages.corpus {
            Some(corpus) => {
                let tokenizer =
                    crate::text::load_tokenizer(&graph.dir(corpus).join("tokenizer.json"))?;
                Some(
                    tokens
                        .iter()
                        .map(|t| crate::text::decode_plain(&tokenizer, t))
                        .collect(),
                )
            }
            None if c.dna.is_some() => Some(tokens.iter().map(|t| crate::dna::decode(t)).collect()),
            None => None,
        };
        Ok(Drawn {
            tokens,
            texts,
            summary,
            dir,
        })
    }

    /// The constant γ the run's fit chose at `setting`.
    fn fitted_gamma<B: AutodiffBackend>(&self, setting: &Setting) -> Result<f64> {
        let mut graph = Graph::<B>::new(&stages_dir(&self.dir));
        let stages = plan(&mut graph, std::slice::from_ref(setting))?.remove(0);
        let handle = stages.gamma.ok_or_else(|| {
            ExperimentError::Missing("the run has no γ fit at this setting".into())
        })?;
        let node = &graph.nodes()[handle.id];
        let done = finished(&node.dir, &node.key)?.ok_or_else(|| {
            ExperimentError::Missing(format!(
                "stage \"{}\" has not finished: run the experiment first, or pass --gamma G",
                node.label
            ))
        })?;
        let choice: GammaChoice = summary_of::<GammaStage>(&done, &node.dir)?;
        choice.chosen().ok_or_else(|| {
            ExperimentError::config(
                "the run fitted γ per bin of sampling progress: pass --gamma G to sample",
            )
        })
    }

    /// Scores samples (token ids, checked against the run's vocabulary and length) at
    /// `setting` with the run's task metrics.
    pub fn evaluate<B: AutodiffBackend>(
        &self,
        setting: &Setting,
        file: &Path,
    ) -> Result<Evaluation> {
        let c = &setting.config;
        let samples = read_samples(file, Some(c.length()), Some(c.num_tokens()?))?;
        if samples.is_empty() {
            return Err(ExperimentError::Format {
                path: file.to_path_buf(),
                message: "no samples".into(),
            });
        }
        let mut graph = Graph::<B>::new(&stages_dir(&self.dir));
        let stages = plan(&mut graph, std::slice::from_ref(setting))?.remove(0);
        let tokenizer = stages.corpus.map(|h| graph.dir(h).join("tokenizer.json"));
        if let Some(path) = &tokenizer
            && !path.is_file()
        {
            return Err(ExperimentError::Missing(format!(
                "{}: the run's tokenizer has not been trained",
                path.display()
            )));
        }
        let data = TaskData::load(c, tokenizer.as_deref())?;
        let evaluator = match &tokenizer {
            Some(path) => Some(TextEvaluator::new(c, path, &data)?),
            None => None,
        };
        let (scores, sequences, text) =
            crate::report::score_samples(&data, evaluator.as_ref(), &samples, c.length())?;
        let dna = match c.dna {
            Some(_) => Some(DnaEvaluator::new(c)?.score(&samples)?),
            None => None,
        };
        Ok(Evaluation {
            file: file.display().to_string(),
            scores,
            sequences,
            text,
            dna,
        })
    }
}

/// The evaluations as a table with the report's metric columns.
pub fn evaluation_table(setting: &str, evaluations: &[Evaluation]) -> Table {
    let text = evaluations.iter().any(|e| e.text.is_some());
    let dna = evaluations.iter().any(|e| e.dna.is_some());
    let mut table = if dna {
        Table::new([
            "setting",
            "file",
            "target_share",
            "target_share_low",
            "target_share_high",
            "js6",
            "gc_mean",
            "gc_ks",
            "lcs_mean",
            "lcs_max",
        ])
    } else if text {
        Table::new([
            "setting",
            "file",
            "p_target",
            "p_target_low",
            "p_target_high",
            "mauve",
            "perplexity",
            "distinct_2",
            "repetition",
            "memorised",
        ])
    } else {
        Table::new([
            "setting",
            "file",
            "mean_diagonal",
            "transition_mean_error",
            "transition_max_error",
            "nll_target",
            "nll_source",
            "tv",
            "memorised",
            "distinct",
        ])
    };
    for e in evaluations {
        if let Some(d) = &e.dna {
            table.push([
                setting.into(),
                e.file.clone().into(),
                d.target_share.mean.into(),
                d.target_share.low.into(),
                d.target_share.high.into(),
                d.js6.mean.into(),
                d.gc_mean.into(),
                d.gc_ks.into(),
                d.lcs.mean.into(),
                d.lcs_max.into(),
            ]);
            continue;
        }
        match (&e.scores, &e.text) {
            (Some(s), _) => table.push([
                setting.into(),
                e.file.clone().into(),
                s.mean_diagonal.into(),
                s.transition_mean_error.into(),
                s.transition_max_error.into(),
                s.nll_target.into(),
                s.nll_source.into(),
                s.tv.into(),
                e.sequences.memorised.into(),
                e.sequences.distinct_sequences.into(),
            ]),
            (None, Some(t)) => table.push([
                setting.into(),
                e.file.clone().into(),
                t.p_target.mean.into(),
                t.p_target.low.into(),
                t.p_target.high.into(),
                t.mauve.into(),
                t.perplexity.into(),
                t.distinct[1].into(),
                t.repetition.into(),
                t.memorised.into(),
            ]),
            (None, None) => {}
        }
    }
    table
}
