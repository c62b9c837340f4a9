//! Running an experiment: its settings (one per target size, or a sweep's grid), the stage
//! graph of every setting (shared stages once), the execution, and the finished records the
//! report reads as typed summaries.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use burn::tensor::backend::AutodiffBackend;

use crate::cache::Done;
use crate::config::{ExperimentConfig, FitCriterion, TargetSetting, Task};
use crate::method::{Method, RatioChoice};
use crate::observer::{LogObserver, Observer};
use crate::stage::{
    BaselineStage, ClassifierStage, CorpusStage, DenoiserStage, GammaStage, Graph, Handle, Outcome,
    PlannerStage, RatioStage, SamplesStage, Stage, StageId, execute, summary_of,
};
use crate::{ExperimentError, Result};

/// How a run executes.
#[derive(Clone)]
pub struct RunOptions {
    /// The folder that holds `<name>/` of every run.
    pub runs_dir: PathBuf,
    /// Stages run at once (default: the machine's cores; 1 when a network uses dropout,
    /// whose draws would otherwise depend on thread timing).
    pub workers: Option<usize>,
    /// Where progress goes.
    pub observer: Arc<dyn Observer>,
}

impl RunOptions {
    /// Runs under `runs_dir`, logging progress.
    pub fn new(runs_dir: impl Into<PathBuf>) -> Self {
        RunOptions {
            runs_dir: runs_dir.into(),
            workers: None,
            observer: Arc::new(LogObserver),
        }
    }
}

/// One point of an experiment or sweep: a config (its target set chosen) and its methods.
#[derive(Clone, Debug)]
pub struct Setting {
    /// Short name, e.g. "n=20" or "gamma=2".
    pub label: String,
    /// What was varied ("target_size" for a plain experiment).
    pub axis: String,
    /// The varied value.
    pub value: f64,
    /// The resolved config.
    pub config: Arc<ExperimentConfig>,
    /// Methods compared here.
    pub methods: Vec<Method>,
}

impl Setting {
    /// A target setting of a config with `methods`.
    pub fn new(target: TargetSetting, methods: &[Method]) -> Self {
        Setting {
            label: target.label,
            axis: target.axis.into(),
            value: target.value,
            config: Arc::new(target.config),
            methods: methods.to_vec(),
        }
    }

    /// The setting of a Markov `config` at `target_size` target sequences.
    pub fn target_size(config: &ExperimentConfig, target_size: usize, methods: &[Method]) -> Self {
        Setting::new(config.with_target_size(target_size), methods)
    }

    /// The label as a file name (`n=20` → `n_20`).
    pub fn file_label(&self) -> String {
        self.label.replace(['=', ' '], "_")
    }
}

/// The settings of a plain experiment: one per `experiment.target_sizes` (Markov) or
/// `experiment.target_fractions` (text).
pub fn settings(config: &ExperimentConfig) -> Vec<Setting> {
    config
        .target_settings()
        .into_iter()
        .map(|target| Setting::new(target, &config.experiment.methods))
        .collect()
}

/// A method's stages at one setting.
#[derive(Clone, Copy, Debug)]
pub struct MethodStages {
    /// The method.
    pub method: Method,
    /// Its baseline training, for the fine-tuning methods.
    pub baseline: Option<Handle<BaselineStage>>,
    /// Its samples.
    pub samples: Handle<SamplesStage>,
}

/// The stages of one setting.
#[derive(Clone, Debug)]
pub struct SettingStages {
    /// The tokenizer of a text task.
    pub corpus: Option<Handle<CorpusStage>>,
    /// The source denoiser.
    pub denoiser: Handle<DenoiserStage>,
    /// The planner, when an order of the setting needs it.
    pub planner: Option<Handle<PlannerStage>>,
    /// The classifiers.
    pub classifier: Handle<ClassifierStage>,
    /// The ratio stage.
    pub ratio: Handle<RatioStage>,
    /// The fit of γ, when `guidance.fit_gamma` and a method uses the learned ratio.
    pub gamma: Option<Handle<GammaStage>>,
    /// Every method, in report order.
    pub methods: Vec<MethodStages>,
}

/// Adds every stage of `settings` to `graph` (shared stages appear once).
pub fn plan<B: AutodiffBackend>(
    graph: &mut Graph<B>,
    settings: &[Setting],
) -> Result<Vec<SettingStages>> {
    settings.iter().map(|s| plan_setting(graph, s)).collect()
}

fn plan_setting<B: AutodiffBackend>(
    graph: &mut Graph<B>,
    setting: &Setting,
) -> Result<SettingStages> {
    let config = &setting.config;
    let g = &config.guidance;
    let tag = setting.label.clone();
    let corpus = match config.task() {
        Task::Text(_) => Some(graph.add(CorpusStage {
            config: config.clone(),
        })?),
        Task::Markov(_) | Task::Dna(_) => None,
    };
    let denoiser = graph.add(DenoiserStage {
        config: config.clone(),
        corpus,
    })?;
    let learned = setting
        .methods
        .iter()
        .any(|m| m.ratio() == RatioChoice::Learned);
    let fits = g.fit_gamma && learned;
    let fit_samples = fits && g.fit_criterion == FitCriterion::Samples;
    let ordered = fit_samples || setting.methods.iter().any(|m| m.uses_guided_order());
    let planner = if g.order.needs_planner() && ordered {
        Some(graph.add(PlannerStage {
            config: config.clone(),
            denoiser,
            corpus,
        })?)
    } else {
        None
    };
    let classifier = graph.add(ClassifierStage {
        config: config.clone(),
        clean: config.ratio.needs_clean_classifier(),
        corpus,
        tag: tag.clone(),
    })?;
    let ratio = graph.add(RatioStage {
        config: config.clone(),
        classifier,
        corpus,
        tag: tag.clone(),
    })?;
    let gamma = if fits {
        Some(graph.add(GammaStage {
            config: config.clone(),
            denoiser,
            ratio,
            planner: planner.filter(|_| fit_samples),
            corpus,
            tag: tag.clone(),
        })?)
    } else {
        None
    };
    let mut methods = Vec::new();
    for &method in &setting.methods {
        let baseline = match method.baseline(&config.finetune) {
            Some(finetune) => Some(graph.add(BaselineStage {
                config: config.clone(),
                method,
                denoiser: finetune.starts_from_source().then_some(denoiser),
                corpus,
                tag: tag.clone(),
            })?),
            None => None,
        };
        let learned = method.ratio() == RatioChoice::Learned;
        let samples = graph.add(SamplesStage {
            config: config.clone(),
            method,
            denoiser: method.needs_source_denoiser().then_some(denoiser),
            planner: planner.filter(|_| method.uses_guided_order()),
            ratio: learned.then_some(ratio),
            gamma: gamma.filter(|_| learned),
            baseline,
            corpus,
            tag: tag.clone(),
        })?;
        methods.push(MethodStages {
            method,
            baseline,
            samples,
        });
    }
    Ok(SettingStages {
        corpus,
        denoiser,
        planner,
        classifier,
        ratio,
        gamma,
        methods,
    })
}

/// A stage of an executed graph.
#[derive(Clone, Debug)]
pub struct StageRecord {
    /// Its label.
    pub label: String,
    /// Its folder.
    pub dir: PathBuf,
    /// Its outcome (`None` when no target needed it).
    pub outcome: Option<Outcome>,
}

/// The settings of a run, their stages and every stage's finished record.
#[derive(Clone, Debug)]
pub struct Executed {
    /// The settings, in order.
    pub settings: Vec<Setting>,
    /// Each setting's stages.
    pub stages: Vec<SettingStages>,
    /// Every stage of the graph.
    pub records: Vec<StageRecord>,
    /// Wall time of this invocation.
    pub seconds: f64,
}

impl Executed {
    fn done(&self, id: StageId) -> Result<&Done> {
        self.records[id]
            .outcome
            .as_ref()
            .map(|o| &o.done)
            .ok_or_else(|| {
                ExperimentError::Missing(format!("{} has not run", self.records[id].label))
            })
    }

    /// The typed summary of the stage behind `handle`.
    pub fn summary<S: Stage>(&self, handle: Handle<S>) -> Result<S::Summary> {
        summary_of::<S>(self.done(handle.id)?, &self.records[handle.id].dir)
    }

    /// The wall time of the run that finished the stage.
    pub fn seconds<S>(&self, handle: Handle<S>) -> f64 {
        self.done(handle.id).map_or(0.0, |d| d.seconds)
    }

    /// The folder of the stage behind `handle`.
    pub fn dir<S>(&self, handle: Handle<S>) -> &Path {
        &self.records[handle.id].dir
    }
}

/// Worker threads: `requested`, else the machine's cores; 1 when any network has dropout,
/// and 1 when the stages run on several `devices` (each training stage then uses them all).
pub fn worker_count(requested: Option<usize>, settings: &[Setting], devices: usize) -> usize {
    let dropout = settings.iter().any(|s| s.config.has_dropout());
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    match (requested, dropout) {
        (Some(n), _) => n.max(1),
        (None, true) => {
            tracing::info!("a network uses dropout: running one stage at a time");
            1
        }
        (None, false) if devices > 1 => {
            tracing::info!("{devices} devices: running one stage at a time, data-parallel");
            1
        }
        (None, false) => cores,
    }
}

/// Runs every stage of `settings` (cached under `stages`) on `devices` (see
/// [`run`](crate::run)).
pub fn execute_settings<B: AutodiffBackend>(
    settings: Vec<Setting>,
    stages: &Path,
    options: &RunOptions,
    devices: &[B::Device],
) -> Result<Executed> {
    let start = Instant::now();
    for setting in &settings {
        setting.config.check_runnable(&setting.methods)?;
    }
    let mut graph = Graph::<B>::new(stages);
    let planned = plan(&mut graph, &settings)?;
    let workers = worker_count(options.workers, &settings, devices.len());
    tracing::info!("{} stages, {workers} at a time", graph.nodes().len());
    let outcomes = execute(&graph, None, workers, &options.observer, devices)?;
    let records = graph
        .nodes()
        .iter()
        .zip(outcomes)
        .map(|(node, outcome)| StageRecord {
            label: node.label.clone(),
            dir: node.dir.clone(),
            outcome,
        })
        .collect();
    Ok(Executed {
        settings,
        stages: planned,
        records,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Where a run's stages live: `runs/<name>/stages/`, shared by the experiment and its sweep
/// so each reuses the other's finished stages.
pub fn stages_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("stages")
}

/// The stages that can be trained on their own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum StageName {
    /// The source denoiser.
    Denoiser,
    /// The domain classifiers (the noisy one; the clean one too for the log-r and r
    /// estimators).
    Classifier,
    /// The ratio stage (trains the ratio network of the log-r and r estimators).
    Ratio,
    /// The planner of scheduled GTL (needs `guidance.order = "planner"`).
    Planner,
    /// The fine-tuning baselines of `experiment.methods`.
    Finetune,
}

/// Runs the stages `stage` names at `config`'s own target size (`data.target_size`), with
/// every stage they need, cached under `runs/<name>/stages/`, on `devices` (see
/// [`run`](crate::run)); returns their records.
pub fn train<B: AutodiffBackend>(
    config: &ExperimentConfig,
    stage: StageName,
    options: &RunOptions,
    devices: &[B::Device],
) -> Result<Vec<StageRecord>> {
    let setting = Setting::new(config.own_target(), &config.experiment.methods);
    let root = stages_dir(&options.runs_dir.join(&config.name));
    let mut graph = Graph::<B>::new(&root);
    let stages = plan(&mut graph, std::slice::from_ref(&setting))?.remove(0);
    let targets: Vec<StageId> = match stage {
        StageName::Denoiser => vec![stages.denoiser.id],
        StageName::Classifier => vec![stages.classifier.id],
        StageName::Ratio => vec![stages.ratio.id],
        StageName::Planner => match stages.planner {
            Some(planner) => vec![planner.id],
            None => {
                return Err(ExperimentError::config(
                    "the planner is trained when guidance.order = \"planner\" and a method \
                     samples in that order",
                ));
            }
        },
        StageName::Finetune => stages
            .methods
            .iter()
            .filter_map(|m| m.baseline.map(|b| b.id))
            .collect(),
    };
    if targets.is_empty() {
        return Err(ExperimentError::config(
            "experiment.methods names no fine-tuning baseline",
        ));
    }
    let workers = worker_count(
        options.workers,
        std::slice::from_ref(&setting),
        devices.len(),
    );
    let outcomes = execute(&graph, Some(&targets), workers, &options.observer, devices)?;
    Ok(targets
        .iter()
        .map(|&id| StageRecord {
            label: graph.nodes()[id].label.clone(),
            dir: graph.nodes()[id].dir.clone(),
            outcome: outcomes[id].clone(),
        })
        .collect())
}
