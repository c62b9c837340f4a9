//! The planner of scheduled GTL, trained against the frozen source denoiser and scored by
//! the denoiser's accuracy at the positions it picks.

use std::path::Path;
use std::sync::Arc;

use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use gtl_guidance::{OrderAccuracy, PlannerObjective, order_accuracy};
use gtl_models::PositionNet;
use gtl_models::training::{load_model_file, seeded};
use serde::{Deserialize, Serialize};

use super::corpus::{CorpusStage, task_data};
use super::{DenoiserStage, Handle, Stage, StageContext, StageId};
use crate::config::ExperimentConfig;
use crate::nets::{Fit, planner_net};
use crate::{Result, keys};

/// The planner stage.
pub struct PlannerStage {
    /// The experiment.
    pub config: Arc<ExperimentConfig>,
    /// The source denoiser it is trained against.
    pub denoiser: Handle<DenoiserStage>,
    /// The tokenizer of a text task.
    pub corpus: Option<Handle<CorpusStage>>,
}

/// What the planner stage reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlannerSummary {
    /// Parameters of the planner.
    pub parameters: usize,
    /// Steps done in total.
    pub steps: usize,
    /// Wall time of the training run.
    pub seconds: f64,
    /// Best validation metric.
    pub best_validation: Option<f64>,
    /// The denoiser's accuracy at the position each order picks, on noised test sequences.
    pub accuracy: OrderAccuracy,
}

impl Stage for PlannerStage {
    type Summary = PlannerSummary;
    const KIND: &'static str = "planner";

    fn label(&self) -> String {
        "planner".into()
    }

    fn key(&self) -> Result<String> {
        Ok(format!(
            "{}\n{}",
            keys::source_data(&self.config)?,
            keys::section("planner", &self.config.planner)?
        ))
    }

    fn inputs(&self) -> Vec<StageId> {
        let mut inputs = vec![self.denoiser.id];
        inputs.extend(self.corpus.map(|h| h.id));
        inputs
    }

    fn run<B: AutodiffBackend>(&self, ctx: &StageContext<'_, B>) -> Result<PlannerSummary> {
        let (config, device) = (&self.config, ctx.device);
        let process = config.process()?;
        let input = ctx.input(self.denoiser)?;
        let denoiser = input.stage.load::<B::InnerBackend>(input.dir, device)?;
        let data = task_data(ctx, config, self.corpus)?;
        let objective = PlannerObjective::<B>::new(
            &denoiser,
            process,
            &data.source_train,
            &data.source_validation,
            device.clone(),
        )?;
        let net = planner_net(config)?;
        let planner = seeded::<B, _>(device, config.planner.training.seed, || net.init(device));
        let fit = Fit {
            dir: ctx.dir,
            label: "planner",
            observer: ctx.observer.training(),
        };
        let (model, fitted) = fit.run(planner, &objective, &config.planner.training, device)?;
        let accuracy = order_accuracy(&model, &denoiser, &process, &data.source_test, device);
        Ok(PlannerSummary {
            parameters: fitted.parameters,
            steps: fitted.steps,
            seconds: fitted.seconds,
            best_validation: fitted.best_validation,
            accuracy,
        })
    }
}

impl PlannerStage {
    /// The trained planner in `dir`.
    pub fn load<B: Backend>(&self, dir: &Path, device: &B::Device) -> Result<PositionNet<B>> {
        Ok(load_model_file(
            planner_net(&self.config)?.init::<B>(device),
            &dir.join("model.mpk"),
            device,
        )?)
    }
}
