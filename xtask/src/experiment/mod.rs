//! `cargo xtask experiment [CONFIG]`: the whole transfer experiment of a config — source
//! denoiser, planner, classifiers and ratio, the fine-tuning baselines, every method's
//! samples — for each target size, with a report (docs/experiment.md). Stages are cached
//! under `runs/<name>/stages/` by a hash of what they depend on, so a rerun (or a sweep)
//! redoes only what changed and an interrupted run resumes.

mod jobs;
pub mod report;
pub mod sampling;

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use burn::tensor::backend::AutodiffBackend;
use clap::Args;
use gtl_finetune::Method;
use serde::Serialize;

use crate::BackendArgs;
use crate::backend::{BackendTask, dispatch};
use crate::config::ExperimentConfig;
use crate::finetune::{methods as baseline_methods, train_baseline};
use crate::keys;
use crate::planner::{PlannerStage, load_denoiser};
use crate::ratio::{ClassifierStage, RatioStage, needs_clean_classifier};
use crate::train::{DenoiserStage, TaskData, load_config, prepare_stage_dir};
pub use jobs::Outcome;
use jobs::{Graph, Job};
use sampling::{Inputs, Sampler};

/// Arguments of `experiment` and `sweep`.
#[derive(Args, Debug)]
pub struct ExperimentArgs {
    /// Experiment configuration (TOML; `sweep` reads its [sweep] section); default: the
    /// embedded configs/markov-default.toml.
    pub config: Option<PathBuf>,
    /// Directory that holds runs/<name>/.
    #[arg(long, default_value = "runs")]
    pub runs_dir: PathBuf,
    /// Stages run at once (default: the machine's cores; 1 when a network uses dropout,
    /// whose draws would otherwise depend on thread timing).
    #[arg(long)]
    pub workers: Option<usize>,
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// One point of an experiment or sweep: a config with one target size and its methods.
#[derive(Clone, Debug)]
pub struct Setting {
    /// Short name, e.g. "n=20" or "gamma=2".
    pub label: String,
    /// What the sweep varied ("target_size" for a plain experiment).
    pub axis: String,
    /// The varied value.
    pub value: f64,
    /// The resolved config (`data.target_size` set).
    pub config: ExperimentConfig,
    /// Methods compared here (names from config::METHODS).
    pub methods: Vec<String>,
}

/// The settings of a plain experiment: one per `experiment.target_sizes`.
pub fn settings(config: &ExperimentConfig) -> Vec<Setting> {
    config
        .experiment
        .target_sizes
        .iter()
        .map(|&n| {
            let mut c = config.clone();
            c.data.target_size = n;
            Setting {
                label: format!("n={n}"),
                axis: "target_size".into(),
                value: n as f64,
                config: c,
                methods: config.experiment.methods.clone(),
            }
        })
        .collect()
}

/// What a job runs.
pub enum Kind {
    /// The source denoiser.
    Denoiser,
    /// The planner.
    Planner,
    /// The domain classifiers (the clean one too when `clean`).
    Classifier {
        /// Train the clean classifier.
        clean: bool,
    },
    /// The ratio stage (trains nothing for the noisy-classifier estimator; scores it).
    Ratio,
    /// The fit of γ for the learned-ratio samplers.
    Gamma(Inputs),
    /// A fine-tuning baseline.
    Baseline(Method),
    /// A method's samples.
    Samples(Sampler, Inputs),
}

/// A job's work: its kind and the config it runs under.
pub struct Work {
    /// What runs.
    pub kind: Kind,
    /// The setting's config.
    pub config: ExperimentConfig,
}

/// The jobs of one setting.
#[derive(Clone, Debug, Default)]
pub struct SettingJobs {
    /// The source denoiser.
    pub denoiser: usize,
    /// The planner, when the order is "planner".
    pub planner: Option<usize>,
    /// The classifiers.
    pub classifier: usize,
    /// The ratio stage.
    pub ratio: usize,
    /// The fit of γ, when `guidance.fit_gamma`.
    pub gamma: Option<usize>,
    /// (method, its baseline job if any, its samples job), in report order.
    pub methods: Vec<(String, Option<usize>, usize)>,
}

/// The sampler and baseline of a method name.
pub fn sampler_of(name: &str, config: &ExperimentConfig) -> Result<Sampler> {
    let [target_only, full, last, lora] = baseline_methods(config);
    Ok(match name {
        "source" => Sampler::Source,
        "target-only" => Sampler::Baseline(target_only),
        "full-finetune" => Sampler::Baseline(full),
        "last-blocks" => Sampler::Baseline(last),
        "lora" => Sampler::Baseline(lora),
        "gtl" => Sampler::Gtl,
        "gtl-exact-ratio" => Sampler::GtlExactRatio,
        "gtl-oracles" => Sampler::GtlOracles,
        "exact-guidance" => Sampler::ExactGuidance,
        other => bail!("unknown method {other:?}"),
    })
}

/// The guidance keys a sampler reads.
#[derive(Serialize)]
struct SamplerKey<'a> {
    method: &'a str,
    samples: usize,
    batch_size: usize,
    seed: u64,
    gamma: Option<f64>,
    top_n: Option<usize>,
    order: Option<&'a str>,
    chunk_rows: Option<usize>,
    exact_steps: Option<usize>,
}

fn sampler_key(name: &str, sampler: Sampler, config: &ExperimentConfig) -> Result<String> {
    let g = &config.guidance;
    let guided = !matches!(sampler, Sampler::Source | Sampler::Baseline(_));
    let exact = sampler == Sampler::ExactGuidance;
    let key = SamplerKey {
        method: name,
        samples: if exact { g.exact_samples } else { g.samples },
        batch_size: g.batch_size,
        seed: g.seed,
        gamma: (guided && !(g.fit_gamma && sampler.needs_ratio())).then_some(g.gamma),
        top_n: (guided && !exact).then_some(g.top_n),
        order: match sampler {
            Sampler::Baseline(_) => Some(g.baseline_order.as_str()),
            s if s.uses_order() => Some(g.order.as_str()),
            _ => None,
        },
        chunk_rows: guided.then_some(g.chunk_rows),
        exact_steps: exact.then_some(g.exact_steps),
    };
    Ok(format!("[sampler]\n{}", toml::to_string(&key)?))
}

/// Adds every job of `settings` to a graph rooted at `root` (shared jobs appear once).
pub fn plan(settings: &[Setting], root: &Path) -> Result<(Graph<Work>, Vec<SettingJobs>)> {
    let mut graph = Graph::new(root);
    let mut all = Vec::new();
    for setting in settings {
        let c = &setting.config;
        let work = |kind| Work {
            kind,
            config: c.clone(),
        };
        let n = c.data.target_size;
        let tag = &setting.label;
        let denoiser = graph.add(
            "denoiser",
            "source denoiser".into(),
            keys::denoiser(c)?,
            vec![],
            work(Kind::Denoiser),
        );
        let samplers: Vec<(String, Sampler)> = setting
            .methods
            .iter()
            .map(|m| Ok((m.clone(), sampler_of(m, c)?)))
            .collect::<Result<_>>()?;
        let fits = c.guidance.fit_gamma && samplers.iter().any(|(_, s)| s.needs_ratio());
        let fit_samples = fits && c.guidance.fit_criterion == "samples";
        let planner_order = c.guidance.order == "planner";
        let ordered = fit_samples || samplers.iter().any(|(_, s)| s.uses_order());
        let planner = (planner_order && ordered).then(|| {
            Ok::<_, anyhow::Error>(graph.add(
                "planner",
                "planner".into(),
                keys::planner(c)?,
                vec![denoiser],
                work(Kind::Planner),
            ))
        });
        let planner = planner.transpose()?;
        let clean = needs_clean_classifier(c);
        let classifier = graph.add(
            "classifier",
            format!("classifiers {tag}"),
            keys::classifier(c, clean)?,
            vec![],
            work(Kind::Classifier { clean }),
        );
        let ratio = graph.add(
            "ratio",
            format!("ratio {tag}"),
            keys::ratio(c, clean)?,
            vec![classifier],
            work(Kind::Ratio),
        );
        let gamma_key = keys::gamma_fit(c, clean)?;
        let gamma = fits.then(|| {
            let mut deps = vec![denoiser, classifier, ratio];
            let mut inputs = Inputs {
                denoiser: Some(graph.dir(denoiser).to_path_buf()),
                classifier: Some(graph.dir(classifier).to_path_buf()),
                ratio: Some(graph.dir(ratio).to_path_buf()),
                ..Inputs::default()
            };
            if let (true, Some(p)) = (fit_samples, planner) {
                deps.push(p);
                inputs.planner = Some(graph.dir(p).to_path_buf());
            }
            graph.add(
                "gamma",
                format!("fit gamma {tag}"),
                gamma_key.clone(),
                deps,
                work(Kind::Gamma(inputs)),
            )
        });
        let mut jobs = SettingJobs {
            denoiser,
            planner,
            classifier,
            ratio,
            gamma,
            methods: Vec::new(),
        };
        for (name, sampler) in samplers {
            let mut deps = Vec::new();
            let mut key = sampler_key(&name, sampler, c)?;
            let mut inputs = Inputs::default();
            let mut baseline = None;
            if let Sampler::Baseline(method) = sampler {
                let from_source = method.starts_from_source();
                let baseline_key = keys::baseline(c, &name, from_source)?;
                let b = graph.add(
                    "baseline",
                    format!("{name} n={n}"),
                    baseline_key.clone(),
                    if from_source { vec![denoiser] } else { vec![] },
                    work(Kind::Baseline(method)),
                );
                deps.push(b);
                key.push_str(&baseline_key);
                inputs.baseline = Some(graph.dir(b).to_path_buf());
                baseline = Some(b);
            }
            if sampler.needs_denoiser() {
                deps.push(denoiser);
                key.push_str(&keys::denoiser(c)?);
                inputs.denoiser = Some(graph.dir(denoiser).to_path_buf());
            }
            if let (true, Some(p)) = (sampler.uses_order(), planner) {
                deps.push(p);
                key.push_str(&keys::planner(c)?);
                inputs.planner = Some(graph.dir(p).to_path_buf());
            }
            if sampler.needs_ratio() {
                deps.push(ratio);
                key.push_str(&keys::ratio(c, clean)?);
                inputs.classifier = Some(graph.dir(classifier).to_path_buf());
                inputs.ratio = Some(graph.dir(ratio).to_path_buf());
            }
            if let (true, Some(g)) = (sampler.needs_ratio(), gamma) {
                deps.push(g);
                key.push_str(&gamma_key);
                inputs.gamma = Some(graph.dir(g).to_path_buf());
            }
            if sampler.uses_chains() {
                key.push_str(&keys::chains(c)?);
            }
            // A stage shared by several settings keeps the label of the first.
            let label = format!("samples {name} {tag}");
            let samples = graph.add(
                "samples",
                label,
                key,
                deps,
                work(Kind::Samples(sampler, inputs)),
            );
            jobs.methods.push((name, baseline, samples));
        }
        all.push(jobs);
    }
    Ok((graph, all))
}

/// Runs one job on backend `B`.
fn execute<B: AutodiffBackend>(
    job: &Job<Work>,
    graph: &Graph<Work>,
    device: &B::Device,
) -> Result<serde_json::Value> {
    let config = job.work.config.clone();
    let dir = job.dir.clone();
    let dep_dir = |stage: &str| -> Result<PathBuf> {
        job.deps
            .iter()
            .map(|&d| graph.dir(d))
            .find(|d| {
                d.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&format!("{stage}-")))
            })
            .map(Path::to_path_buf)
            .ok_or_else(|| anyhow::anyhow!("{}: no {stage} stage among its inputs", job.label))
    };
    let value = match &job.work.kind {
        Kind::Denoiser => serde_json::to_value(
            DenoiserStage {
                config,
                dir,
                resume: true,
            }
            .run::<B>(device.clone())?,
        )?,
        Kind::Planner => serde_json::to_value(
            PlannerStage {
                config,
                denoiser_dir: dep_dir("denoiser")?,
                dir,
                resume: true,
            }
            .run::<B>(device.clone())?,
        )?,
        Kind::Classifier { clean } => serde_json::to_value(
            ClassifierStage {
                config,
                dir,
                resume: true,
                clean: *clean,
            }
            .run::<B>(device.clone())?,
        )?,
        Kind::Ratio => serde_json::to_value(
            RatioStage {
                config,
                classifier_dir: dep_dir("classifier")?,
                dir,
                resume: true,
            }
            .run::<B>(device.clone())?,
        )?,
        Kind::Gamma(inputs) => serde_json::to_value(sampling::fit::<B::InnerBackend>(
            &config, inputs, &dir, device,
        )?)?,
        Kind::Baseline(method) => {
            let source = match method.starts_from_source() {
                true => Some(load_denoiser::<B>(&config, &dep_dir("denoiser")?, device)?),
                false => None,
            };
            let data = TaskData::new(&config)?;
            prepare_stage_dir(&dir, &config)?;
            let (_, summary) =
                train_baseline(&config, *method, source.as_ref(), &data, &dir, true, device)?;
            serde_json::to_value(summary)?
        }
        Kind::Samples(sampler, inputs) => serde_json::to_value(sampling::draw::<B::InnerBackend>(
            &config, *sampler, inputs, &dir, device,
        )?)?,
    };
    Ok(value)
}

/// Worker threads: `requested`, else the machine's cores; 1 when any network has dropout.
fn worker_count(requested: Option<usize>, settings: &[Setting]) -> usize {
    let dropout = settings.iter().any(|s| {
        let c = &s.config;
        [
            &c.denoiser.model,
            &c.classifier.model,
            &c.ratio.model,
            &c.planner.model,
        ]
        .iter()
        .any(|m| m.dropout.is_some_and(|d| d > 0.0))
    });
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    match (requested, dropout) {
        (Some(n), _) => n.max(1),
        (None, true) => {
            tracing::info!("a network uses dropout: running one stage at a time");
            1
        }
        (None, false) => cores,
    }
}

/// The graph, run: every job's outcome and each setting's jobs.
pub struct Executed {
    /// The settings, in order.
    pub settings: Vec<Setting>,
    /// Each setting's jobs.
    pub jobs: Vec<SettingJobs>,
    /// Every job's label, folder and outcome.
    pub stages: Vec<(String, PathBuf, Outcome)>,
    /// Wall time of this invocation.
    pub seconds: f64,
}

struct RunGraph {
    settings: Vec<Setting>,
    root: PathBuf,
    workers: Option<usize>,
}

impl BackendTask for RunGraph {
    type Output = Executed;

    fn run<B: AutodiffBackend>(self, device: B::Device) -> Result<Executed> {
        let start = std::time::Instant::now();
        let (graph, jobs) = plan(&self.settings, &self.root)?;
        let workers = worker_count(self.workers, &self.settings);
        tracing::info!("{} stages, {workers} at a time", graph.jobs.len());
        let outcomes = jobs::run(&graph, workers, |index| {
            execute::<B>(&graph.jobs[index], &graph, &device)
        })?;
        let stages = graph
            .jobs
            .iter()
            .zip(outcomes)
            .map(|(job, outcome)| (job.label.clone(), job.dir.clone(), outcome))
            .collect();
        Ok(Executed {
            settings: self.settings,
            jobs,
            stages,
            seconds: start.elapsed().as_secs_f64(),
        })
    }
}

/// Runs `settings` with their stages cached under `stages` on the chosen backend.
pub fn execute_settings(
    settings: Vec<Setting>,
    stages: &Path,
    workers: Option<usize>,
    backend: BackendArgs,
) -> Result<Executed> {
    dispatch(
        backend.backend,
        backend.device,
        RunGraph {
            settings,
            root: stages.to_path_buf(),
            workers,
        },
    )
}

/// Where an experiment's stages live: `runs/<name>/stages/`, shared by `experiment` and
/// `sweep` so each reuses the other's finished stages.
pub fn stages_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("stages")
}

/// `experiment`.
pub fn run(args: ExperimentArgs) -> Result<()> {
    let config = load_config(args.config.as_deref())?;
    let run_dir = args.runs_dir.join(&config.name);
    std::fs::create_dir_all(&run_dir)?;
    gtl_models::training::write_atomically(
        &run_dir.join("config.toml"),
        toml::to_string(&config)?.as_bytes(),
    )?;
    let executed = execute_settings(
        settings(&config),
        &stages_dir(&run_dir),
        args.workers,
        args.backend,
    )?;
    let summary = report::write(&config, &executed, &run_dir)?;
    println!("{summary}");
    Ok(())
}

#[cfg(test)]
mod tests;
