//! `train planner`: the planner of scheduled GTL, trained against the frozen source denoiser
//! of the denoiser stage, and scored by the denoiser's accuracy at the positions it picks.

use std::path::{Path, PathBuf};

use anyhow::Result;
use burn::tensor::backend::AutodiffBackend;
use gtl_guidance::{OrderAccuracy, PlannerObjective, order_accuracy};
use gtl_models::training::{load_model_file, write_atomically};
use gtl_models::{DenoiserNet, PositionNetConfig};
use serde::Serialize;

use crate::backend::BackendTask;
use crate::config::ExperimentConfig;
use crate::train::{
    TaskData, denoiser_net_config, fit, prepare_stage_dir, require_stage, trunk_of,
};

/// The source denoiser of an experiment's denoiser stage (`runs/<name>/denoiser/model.mpk`),
/// refused if that stage was trained under other [data], [process] or [denoiser] settings.
pub fn load_denoiser<B: burn::prelude::Backend>(
    config: &ExperimentConfig,
    run_dir: &Path,
    device: &B::Device,
) -> Result<DenoiserNet<B>> {
    let dir = run_dir.join("denoiser");
    require_stage(
        config,
        &dir,
        "denoiser",
        "[data], [process], [denoiser]",
        |c| {
            Ok(format!(
                "{}{}{}{}",
                toml::to_string(&c.data)?,
                toml::to_string(&c.process)?,
                toml::to_string(&c.denoiser)?,
                c.seed
            ))
        },
    )?;
    let net = denoiser_net_config(config)?;
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
        let trunk = trunk_of(config, &config.planner.model, "planner.model")?;
        B::seed(&device, config.planner.training.seed);
        let planner = PositionNetConfig::new(trunk).init::<B>(&device);
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
