//! `cargo xtask train <stage> --config FILE`: one training stage of an experiment, written to
//! `runs/<name>/<stage>/` (resolved config, checkpoint, metrics.csv, model.mpk, summary.json).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use clap::{Args, ValueEnum};
use gtl_markov::MarkovChain;
use gtl_models::objectives::{DenoiserObjective, nelbo_per_token};
use gtl_models::training::{
    Objective, RunOptions, TrainingConfig, module_bytes, seeded, train, write_atomically,
};
use gtl_models::{DenoiserNetConfig, TrunkConfig, describe_params};
use gtl_oracle::MarkovDenoiser;
use serde::Serialize;

use crate::BackendArgs;
use crate::backend::{BackendTask, dispatch};
use crate::config::{ExperimentConfig, ModelSection};
use crate::ratio;

/// Stages that can be trained on their own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Stage {
    /// The source denoiser.
    Denoiser,
    /// The clean domain classifier c(x_0) and the noisy one d(z_t, t).
    Classifier,
    /// The noisy ratio network log r_φ(z_t, t) (needs the classifier stage).
    Ratio,
    /// The planner of scheduled GTL (needs the denoiser stage; absorbing process).
    Planner,
    /// The fine-tuning baselines on the target data (needs the denoiser stage).
    Finetune,
}

impl Stage {
    /// The stage's folder under `runs/<name>/`.
    pub fn dir_name(self) -> &'static str {
        match self {
            Stage::Denoiser => "denoiser",
            Stage::Classifier => "classifier",
            Stage::Ratio => "ratio",
            Stage::Planner => "planner",
            Stage::Finetune => "finetune",
        }
    }
}

/// Arguments of `train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Which network to train.
    #[arg(value_enum)]
    stage: Stage,
    /// Experiment configuration (TOML); default: the embedded configs/markov-default.toml.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Continue from the stage's checkpoint when there is one.
    #[arg(long)]
    resume: bool,
    /// Directory that holds runs/<name>/.
    #[arg(long, default_value = "runs")]
    runs_dir: PathBuf,
    #[command(flatten)]
    backend: BackendArgs,
}

/// The embedded default configuration.
pub const DEFAULT_CONFIG: &str = include_str!("../../configs/markov-default.toml");

/// Loads `path` or the embedded default.
pub fn load_config(path: Option<&Path>) -> Result<ExperimentConfig> {
    match path {
        Some(path) => ExperimentConfig::load(path),
        None => {
            ExperimentConfig::parse(DEFAULT_CONFIG).context("embedded configs/markov-default.toml")
        }
    }
}

/// `train`.
pub fn run(args: TrainArgs) -> Result<()> {
    let config = load_config(args.config.as_deref())?;
    let run_dir = args.runs_dir.join(&config.name);
    let (backend, device) = (args.backend.backend, args.backend.device);
    let summary = match args.stage {
        Stage::Denoiser => serde_json::to_value(dispatch(
            backend,
            device,
            DenoiserStage {
                config,
                dir: run_dir.join(Stage::Denoiser.dir_name()),
                resume: args.resume,
            },
        )?)?,
        Stage::Classifier => serde_json::to_value(dispatch(
            backend,
            device,
            ratio::ClassifierStage {
                config,
                dir: run_dir.join(Stage::Classifier.dir_name()),
                resume: args.resume,
                clean: true,
            },
        )?)?,
        Stage::Ratio => serde_json::to_value(dispatch(
            backend,
            device,
            ratio::RatioStage {
                config,
                classifier_dir: run_dir.join(Stage::Classifier.dir_name()),
                dir: run_dir.join(Stage::Ratio.dir_name()),
                resume: args.resume,
            },
        )?)?,
        Stage::Planner => serde_json::to_value(dispatch(
            backend,
            device,
            crate::planner::PlannerStage {
                config,
                denoiser_dir: run_dir.join(Stage::Denoiser.dir_name()),
                dir: run_dir.join(Stage::Planner.dir_name()),
                resume: args.resume,
            },
        )?)?,
        Stage::Finetune => serde_json::to_value(dispatch(
            backend,
            device,
            crate::finetune::FinetuneStage {
                config,
                denoiser_dir: run_dir.join(Stage::Denoiser.dir_name()),
                dir: run_dir.join(Stage::Finetune.dir_name()),
                resume: args.resume,
            },
        )?)?,
    };
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}

/// The data sets of an experiment, drawn from its seeds.
pub struct TaskData {
    /// Source chain p.
    pub source: MarkovChain,
    /// Target chain q.
    pub target: MarkovChain,
    /// Source training and validation sequences.
    pub source_train: Vec<Vec<u32>>,
    /// Held out from `data.source_size`.
    pub source_validation: Vec<Vec<u32>>,
    /// Target training sequences.
    pub target_train: Vec<Vec<u32>>,
    /// Held out from `data.target_size`.
    pub target_validation: Vec<Vec<u32>>,
    /// Fresh source sequences for evaluation.
    pub source_test: Vec<Vec<u32>>,
    /// Fresh target sequences for evaluation.
    pub target_test: Vec<Vec<u32>>,
}

impl TaskData {
    /// Draws every data set of `config`. The target sets of configs that differ only in
    /// `data.target_size` are nested: a smaller one is a prefix of a larger one's draw.
    pub fn new(config: &ExperimentConfig) -> Result<Self> {
        let data = &config.data;
        let seed = config.seed;
        let (source, target) = data.chains()?;
        let (source_train, source_validation) = split(
            source.sample_dataset(data.source_size, data.length, seed),
            data.validation_fraction,
        );
        let (target_train, target_validation) = split(
            target.sample_dataset(data.target_size, data.length, seed.wrapping_add(2_000_003)),
            data.validation_fraction,
        );
        let source_test =
            source.sample_dataset(data.test_size, data.length, seed.wrapping_add(1_000_003));
        let target_test =
            target.sample_dataset(data.test_size, data.length, seed.wrapping_add(3_000_017));
        Ok(TaskData {
            source,
            target,
            source_train,
            source_validation,
            target_train,
            target_validation,
            source_test,
            target_test,
        })
    }
}

/// The trunk of a network section: the process's states as vocabulary, the data's length.
pub fn trunk_of(
    config: &ExperimentConfig,
    model: &ModelSection,
    section: &str,
) -> Result<TrunkConfig> {
    let process = config.process()?;
    model.trunk(process.num_states(), config.data.length, section)
}

/// The source denoiser's network of an experiment.
pub fn denoiser_net_config(config: &ExperimentConfig) -> Result<DenoiserNetConfig> {
    let process = config.process()?;
    let trunk = trunk_of(config, &config.denoiser.model, "denoiser.model")?;
    Ok(DenoiserNetConfig::for_process(trunk, &process))
}

/// Refuses to build on stage `stage` (folder `dir`) unless its `config.toml` exists and agrees
/// with `config` on `key` (the sections the stage's artefacts depend on, named in
/// `sections` for the message).
pub fn require_stage(
    config: &ExperimentConfig,
    dir: &Path,
    stage: &str,
    sections: &str,
    key: impl Fn(&ExperimentConfig) -> Result<String>,
) -> Result<()> {
    let path = dir.join("config.toml");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "{} is missing: run `cargo xtask train {stage}` with this config first",
            path.display()
        )
    })?;
    let trained = ExperimentConfig::parse(&text).with_context(|| path.display().to_string())?;
    if key(&trained)? != key(config)? {
        bail!(
            "{} was trained with different {sections} or seed settings: run `cargo xtask train \
             {stage}` again",
            dir.display()
        );
    }
    Ok(())
}

/// What training one network cost.
#[derive(Debug, Serialize)]
pub struct Fitted {
    /// Parameters of the network.
    pub parameters: usize,
    /// Steps done in total (including those before a resume).
    pub steps: usize,
    /// Wall time of this run.
    pub seconds: f64,
    /// Training sequences per second in this run.
    pub sequences_per_second: f64,
    /// Best validation metric.
    pub best_validation: Option<f64>,
    /// Whether early stopping ended the run.
    #[serde(skip)]
    pub stopped_early: bool,
}

/// Trains `model` (initialised by the caller, after seeding) in `dir`, writes its
/// `model.mpk` (the EMA weights when there is an EMA) and returns those weights.
pub fn fit<B, M, O>(
    model: M,
    objective: &O,
    training: &TrainingConfig,
    dir: &Path,
    resume: bool,
    label: &str,
    device: &B::Device,
) -> Result<(M::InnerModule, Fitted)>
where
    B: AutodiffBackend,
    M: AutodiffModule<B> + Clone,
    O: Objective<B, M>,
{
    let parameters = model.num_params();
    tracing::info!("{label}: {}", describe_params(&model));
    let options = RunOptions {
        dir: dir.to_path_buf(),
        resume,
        stop_after: None,
        label: label.into(),
    };
    let start = Instant::now();
    let trained = train(model, objective, training, &options, device)?;
    let seconds = start.elapsed().as_secs_f64();
    let inference = trained.inference_model();
    write_atomically(&dir.join("model.mpk"), &module_bytes(&inference))?;
    let steps_run = trained.state.step - trained.resumed_from;
    let fitted = Fitted {
        parameters,
        steps: trained.state.step,
        seconds,
        sequences_per_second: (steps_run * training.batch_size) as f64 / seconds,
        best_validation: trained.state.best_validation,
        stopped_early: trained.stopped_early,
    };
    Ok((inference, fitted))
}

/// Creates a stage's folder and writes the resolved configuration into it.
pub fn prepare_stage_dir(dir: &Path, config: &ExperimentConfig) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let resolved = toml::to_string(config).context("serialising the resolved config")?;
    write_atomically(&dir.join("config.toml"), resolved.as_bytes())?;
    Ok(())
}

/// Train/validation split of a data set: the last `fraction` is held out.
pub fn split(data: Vec<Vec<u32>>, fraction: f64) -> (Vec<Vec<u32>>, Vec<Vec<u32>>) {
    let held_out = (data.len() as f64 * fraction).round() as usize;
    let mut train = data;
    let validation = train.split_off(train.len() - held_out);
    (train, validation)
}

/// The i.i.d. chain of the training data's token frequencies: the unigram baseline.
pub fn unigram_chain(data: &[Vec<u32>], states: usize) -> Result<MarkovChain> {
    let mut counts = vec![1e-12; states];
    for &token in data.iter().flatten() {
        counts[token as usize] += 1.0;
    }
    let total: f64 = counts.iter().sum();
    let marginal: Vec<f64> = counts.iter().map(|c| c / total).collect();
    Ok(MarkovChain::new(marginal.clone(), vec![marginal; states])?)
}

/// Seed of the evaluation corruptions, shared by every denoiser compared.
const EVALUATION_SEED: u64 = 0xe7a1;

/// What the denoiser stage reports.
#[derive(Debug, Serialize)]
pub struct DenoiserSummary {
    process: String,
    loss: String,
    /// Parameters of the network.
    pub parameters: usize,
    steps: usize,
    /// Wall time of the training run.
    pub seconds: f64,
    sequences_per_second: f64,
    /// NELBO per token on fresh source sequences: the trained network, the exact oracle
    /// denoiser, and the unigram baseline (an i.i.d. chain of the training frequencies).
    nelbo_model: f64,
    nelbo_oracle: f64,
    nelbo_unigram: f64,
    gap_to_oracle: f64,
    exact_nll_per_token: f64,
}

/// `train denoiser`.
pub struct DenoiserStage {
    /// The experiment.
    pub config: ExperimentConfig,
    /// Where the stage writes.
    pub dir: PathBuf,
    /// Continue from the checkpoint.
    pub resume: bool,
}

impl BackendTask for DenoiserStage {
    type Output = DenoiserSummary;

    fn run<B: AutodiffBackend>(self, device: B::Device) -> Result<DenoiserSummary> {
        let ExperimentConfig { data, denoiser, .. } = &self.config;
        let process = self.config.process()?;
        let TaskData {
            source,
            source_train: train_set,
            source_validation: validation,
            source_test: test,
            ..
        } = TaskData::new(&self.config)?;
        prepare_stage_dir(&self.dir, &self.config)?;

        let net = denoiser_net_config(&self.config)?;
        let model = seeded::<B, _>(&device, denoiser.training.seed, || net.init(&device));
        let objective = DenoiserObjective::<B> {
            process,
            loss: denoiser.loss,
            train: &train_set,
            validation: &validation,
            device: device.clone(),
        };
        let (inference, fitted) = fit(
            model,
            &objective,
            &denoiser.training,
            &self.dir,
            self.resume,
            "denoiser",
            &device,
        )?;

        let oracle = MarkovDenoiser::new(source.clone(), process)?;
        let unigram = MarkovDenoiser::new(unigram_chain(&train_set, data.num_states())?, process)?;
        let nelbo_model = nelbo_per_token::<B::InnerBackend>(
            &inference,
            &process,
            &test,
            4,
            EVALUATION_SEED,
            &device,
        );
        let nelbo_oracle = nelbo_per_token::<B::InnerBackend>(
            &oracle,
            &process,
            &test,
            4,
            EVALUATION_SEED,
            &device,
        );
        let nelbo_unigram = nelbo_per_token::<B::InnerBackend>(
            &unigram,
            &process,
            &test,
            4,
            EVALUATION_SEED,
            &device,
        );
        let exact_nll = -test.iter().map(|x| source.log_likelihood(x)).sum::<f64>()
            / (test.len() * data.length) as f64;
        let summary = DenoiserSummary {
            process: process.kind.name().into(),
            loss: denoiser.loss.name().into(),
            parameters: fitted.parameters,
            steps: fitted.steps,
            seconds: fitted.seconds,
            sequences_per_second: fitted.sequences_per_second,
            nelbo_model,
            nelbo_oracle,
            nelbo_unigram,
            gap_to_oracle: nelbo_model - nelbo_oracle,
            exact_nll_per_token: exact_nll,
        };
        write_atomically(
            &self.dir.join("summary.json"),
            serde_json::to_string_pretty(&summary)?.as_bytes(),
        )?;
        Ok(summary)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use burn::backend::{Autodiff, NdArray};

    use super::*;
    use crate::backend::BackendTask;

    pub(crate) const TINY: &str = include_str!("../../configs/markov-tiny.toml");

    /// Runs the denoiser stage of `config` into `dir` on NdArray.
    pub(crate) fn denoiser_stage(config: &ExperimentConfig, dir: &Path) -> DenoiserSummary {
        DenoiserStage {
            config: config.clone(),
            dir: dir.to_path_buf(),
            resume: false,
        }
        .run::<Autodiff<NdArray>>(Default::default())
        .unwrap()
    }

    fn temp_runs(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("gtl-xtask-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    /// A seconds-long run of the tiny denoiser on a structured chain (diagonal 0.8, where the
    /// unigram baseline is far from the exact NLL): the NELBO per token must fall below the
    /// unigram baseline's and come within a measured margin of the exact oracle's.
    #[test]
    fn a_short_denoiser_run_beats_unigram_and_nears_the_oracle() {
        let text = TINY.replacen("diag = 0.1", "diag = 0.8", 1);
        check_short_run(&text, "absorbing", GAP_BOUND);
    }

    /// The same under roulette noise with score entropy (guards against copying unmasked
    /// tokens, which is only right for the absorbing process).
    #[test]
    fn a_short_roulette_run_beats_unigram_and_nears_the_oracle() {
        let text = TINY
            .replacen("diag = 0.1", "diag = 0.8", 1)
            .replace("kind = \"absorbing\"", "kind = \"roulette\"")
            .replace("loss = \"mdlm-nelbo\"", "loss = \"score-entropy\"");
        check_short_run(&text, "roulette", ROULETTE_GAP_BOUND);
    }

    fn check_short_run(text: &str, name: &str, gap_bound: f64) {
        let config = ExperimentConfig::parse(text).unwrap();
        let dir = temp_runs(&format!("nelbo-{name}"));
        let summary = denoiser_stage(&config, &dir);
        eprintln!(
            "{name}: NELBO/token: model {:.4}, oracle {:.4}, unigram {:.4}; exact NLL {:.4}",
            summary.nelbo_model,
            summary.nelbo_oracle,
            summary.nelbo_unigram,
            summary.exact_nll_per_token
        );
        for file in [
            "config.toml",
            "checkpoint.bin",
            "metrics.csv",
            "model.mpk",
            "summary.json",
        ] {
            assert!(dir.join(file).is_file(), "{file} missing");
        }
        let headroom = summary.nelbo_unigram - summary.nelbo_oracle;
        assert!(
            headroom > 0.5,
            "the benchmark should leave room: {headroom}"
        );
        assert!(
            summary.nelbo_model < summary.nelbo_unigram - 0.5 * headroom,
            "{name}: model {} vs unigram {}",
            summary.nelbo_model,
            summary.nelbo_unigram
        );
        assert!(
            summary.gap_to_oracle < gap_bound,
            "{name}: gap to the oracle {}",
            summary.gap_to_oracle
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The measured gap of the absorbing run (0.049 nats/token), doubled.
    const GAP_BOUND: f64 = 0.1;

    /// The measured gap of the roulette run (0.071 nats/token), doubled.
    const ROULETTE_GAP_BOUND: f64 = 0.15;
}
