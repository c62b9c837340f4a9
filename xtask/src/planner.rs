//! `train planner`: the planner of scheduled GTL, trained against the frozen source denoiser
//! of the denoiser stage, and scored by the denoiser's accuracy at the positions it picks.

use std::path::{Path, PathBuf};

use anyhow::Result;
use burn::tensor::backend::AutodiffBackend;
use gtl_guidance::{OrderAccuracy, PlannerObjective, order_accuracy};
use gtl_models::training::{load_model_file, seeded, write_atomically};
use gtl_models::{DenoiserNet, PositionNet, PositionNetConfig};
use serde::Serialize;

use crate::backend::BackendTask;
use crate::config::ExperimentConfig;
use crate::keys;
use crate::train::{
    TaskData, denoiser_net_config, fit, prepare_stage_dir, require_stage, trunk_of,
};

/// The source denoiser of a denoiser stage (`<dir>/model.mpk`), refused if that stage was
/// trained under other source [data], [process] or [denoiser] settings.
pub fn load_denoiser<B: burn::prelude::Backend>(
    config: &ExperimentConfig,
    dir: &Path,
    device: &B::Device,
) -> Result<DenoiserNet<B>> {
    require_stage(
        config,
        dir,
        "denoiser",
        "source [data], [process], [denoiser]",
        keys::denoiser,
    )?;
    let net = denoiser_net_config(config)?;
    Ok(load_model_file(
        net.init::<B>(device),
        &dir.join("model.mpk"),
        device,
    )?)
}

/// The planner of a planner stage (`<dir>/model.mpk`).
pub fn load_planner<B: burn::prelude::Backend>(
    config: &ExperimentConfig,
    dir: &Path,
    device: &B::Device,
) -> Result<PositionNet<B>> {
    require_stage(
        config,
        dir,
        "planner",
        "source [data], [process], [denoiser], [planner]",
        keys::planner,
    )?;
    Ok(load_model_file(
        planner_net_config(config)?.init::<B>(device),
        &dir.join("model.mpk"),
        device,
    )?)
}

fn planner_net_config(config: &ExperimentConfig) -> Result<PositionNetConfig> {
    Ok(PositionNetConfig::new(trunk_of(
        config,
        &config.planner.model,
        "planner.model",
    )?))
}

/// What the planner stage reports.
#[derive(Debug, Serialize)]
pub struct PlannerSummary {
    /// Parameters of the planner.
    pub parameters: usize,
    steps: usize,
    /// Wall time of the training run.
    pub seconds: f64,
    best_validation: Option<f64>,
    /// The denoiser's accuracy at the position each order picks, on noised test sequences.
    accuracy: OrderAccuracy,
}

/// `train planner`.
pub struct PlannerStage {
    /// The experiment.
    pub config: ExperimentConfig,
    /// The denoiser stage's folder.
    pub denoiser_dir: PathBuf,
    /// Where this stage writes.
    pub dir: PathBuf,
    /// Continue from the checkpoint.
    pub resume: bool,
}

impl BackendTask for PlannerStage {
    type Output = PlannerSummary;

    fn run<B: AutodiffBackend>(self, device: B::Device) -> Result<PlannerSummary> {
        let config = &self.config;
        let process = config.process()?;
        let denoiser = load_denoiser::<B::InnerBackend>(config, &self.denoiser_dir, &device)?;
        let data = TaskData::new(config)?;
        let dir = self.dir.clone();
        prepare_stage_dir(&dir, config)?;
        let objective = PlannerObjective::<B>::new(
            &denoiser,
            process,
            &data.source_train,
            &data.source_validation,
            device.clone(),
        )?;
        let net = planner_net_config(config)?;
        let planner = seeded::<B, _>(&device, config.planner.training.seed, || net.init(&device));
        let (model, fitted) = fit(
            planner,
            &objective,
            &config.planner.training,
            &dir,
            self.resume,
            "planner",
            &device,
        )?;
        let accuracy = order_accuracy(&model, &denoiser, &process, &data.source_test, &device);
        let summary = PlannerSummary {
            parameters: fitted.parameters,
            steps: fitted.steps,
            seconds: fitted.seconds,
            best_validation: fitted.best_validation,
            accuracy,
        };
        write_atomically(
            &dir.join("summary.json"),
            serde_json::to_string_pretty(&summary)?.as_bytes(),
        )?;
        Ok(summary)
    }
}
