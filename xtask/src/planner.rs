//! `train planner`: the planner of scheduled GTL, trained against the frozen source denoiser
//! of the denoiser stage, and scored by the denoiser's accuracy at the positions it picks.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::module::Module;
use burn::tensor::backend::AutodiffBackend;
use gtl_guidance::{OrderAccuracy, PlannerObjective, order_accuracy};
use gtl_models::training::{RunOptions, load_model_file, module_bytes, train, write_atomically};
use gtl_models::{DenoiserNet, DenoiserNetConfig, PositionNetConfig, describe_params};
use serde::Serialize;

use crate::backend::BackendTask;
use crate::config::ExperimentConfig;
use crate::train::{TaskData, prepare_stage_dir};

/// The source denoiser of an experiment's denoiser stage (`runs/<name>/denoiser/model.mpk`),
/// refused if that stage was trained under other [data], [process] or [denoiser] settings.
pub fn load_denoiser<B: burn::prelude::Backend>(
    config: &ExperimentConfig,
    run_dir: &Path,
    device: &B::Device,
) -> Result<DenoiserNet<B>> {
    let dir = run_dir.join("denoiser");
    let path = dir.join("config.toml");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "{} is missing: run `cargo xtask train denoiser` with this config first",
            path.display()
        )
    })?;
    let trained = ExperimentConfig::parse(&text).with_context(|| path.display().to_string())?;
    let key = |c: &ExperimentConfig| -> Result<String> {
        Ok(format!(
            "{}{}{}{}",
            toml::to_string(&c.data)?,
            toml::to_string(&c.process)?,
            toml::to_string(&c.denoiser)?,
            c.seed
        ))
    };
    if key(&trained)? != key(config)? {
        bail!(
            "{} was trained with different [data], [process], [denoiser] or seed settings: run \
             `cargo xtask train denoiser` again",
            dir.display()
        );
    }
    let process = config.process.build(config.data.states)?;
    let trunk =
        config
            .denoiser
            .model
            .trunk(process.num_states(), config.data.length, "denoiser.model")?;
    let net = DenoiserNetConfig::for_process(trunk, &process);
    Ok(load_model_file(
        net.init::<B>(device),
        &dir.join("model.mpk"),
        device,
    )?)
}

/// What the planner stage reports.
#[derive(Debug, Serialize)]
pub struct PlannerSummary {
    parameters: usize,
    steps: usize,
    seconds: f64,
    best_validation: Option<f64>,
    /// The denoiser's accuracy at the position each order picks, on noised test sequences.
    accuracy: OrderAccuracy,
}

/// `train planner`.
pub struct PlannerStage {
    /// The experiment.
    pub config: ExperimentConfig,
    /// `runs/<name>/`.
    pub run_dir: PathBuf,
    /// Continue from the checkpoint.
    pub resume: bool,
}

impl BackendTask for PlannerStage {
    type Output = PlannerSummary;

    fn run<B: AutodiffBackend>(self, device: B::Device) -> Result<PlannerSummary> {
        let config = &self.config;
        let process = config.process.build(config.data.states)?;
        let denoiser = load_denoiser::<B::InnerBackend>(config, &self.run_dir, &device)?;
        let data = TaskData::new(config)?;
        let dir = self.run_dir.join("planner");
        prepare_stage_dir(&dir, config)?;
        let objective = PlannerObjective::<B>::new(
            &denoiser,
            process,
            &data.source_train,
            &data.source_validation,
            device.clone(),
        )?;
        let trunk = config.planner.model.trunk(
            process.num_states(),
            config.data.length,
            "planner.model",
        )?;
        B::seed(&device, config.planner.training.seed);
        let planner = PositionNetConfig::new(trunk).init::<B>(&device);
        let parameters = planner.num_params();
        tracing::info!("planner: {}", describe_params(&planner));
        let options = RunOptions {
            dir: dir.clone(),
            resume: self.resume,
            stop_after: None,
            label: "planner".into(),
        };
        let start = Instant::now();
        let trained = train(
            planner,
            &objective,
            &config.planner.training,
            &options,
            &device,
        )?;
        let seconds = start.elapsed().as_secs_f64();
        let model = trained.inference_model();
        write_atomically(&dir.join("model.mpk"), &module_bytes(&model))?;
        let accuracy = order_accuracy(&model, &denoiser, &process, &data.source_test, &device);
        let summary = PlannerSummary {
            parameters,
            steps: trained.state.step,
            seconds,
            best_validation: trained.state.best_validation,
            accuracy,
        };
        write_atomically(
            &dir.join("summary.json"),
            serde_json::to_string_pretty(&summary)?.as_bytes(),
        )?;
        Ok(summary)
    }
}
