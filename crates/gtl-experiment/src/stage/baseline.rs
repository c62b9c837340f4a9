//! A fine-tuning baseline (gtl-finetune) trained on the target data: the source architecture
//! from scratch, the source denoiser fine-tuned in full, in its last blocks, or through
//! low-rank adapters; scored by its NELBO on fresh target sequences.

use std::path::Path;
use std::sync::Arc;

use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use gtl_diffusion::Denoiser;
use gtl_finetune::{ParamCount, count_params, freeze_for};
use gtl_models::DenoiserNet;
use gtl_models::objectives::{DenoiserObjective, nelbo_per_token};
use gtl_models::training::{load_model_file, module_bytes, seeded, write_atomically};
use serde::{Deserialize, Serialize};

use super::corpus::{CorpusStage, task_data};
use super::denoiser::NELBO_DRAWS;
use super::{DenoiserStage, Handle, Stage, StageContext, StageId};
use crate::config::ExperimentConfig;
use crate::data::TaskData;
use crate::error::to_toml;
use crate::method::Method;
use crate::nets::{Fit, baseline_net, denoiser_net};
use crate::{ExperimentError, Result, keys};

/// Seed of the evaluation corruptions, shared by every model compared on target data.
const EVALUATION_SEED: u64 = 0xf1e7;

/// NELBO per token of `model` on the target test set (fixed corruptions).
pub fn target_nelbo<B: Backend>(
    model: &dyn Denoiser<B>,
    config: &ExperimentConfig,
    data: &TaskData,
    device: &B::Device,
) -> Result<f64> {
    Ok(nelbo_per_token::<B>(
        model,
        &config.process()?,
        &data.target_test,
        NELBO_DRAWS,
        EVALUATION_SEED,
        device,
    ))
}

/// One baseline's training stage.
pub struct BaselineStage {
    /// The experiment.
    pub config: Arc<ExperimentConfig>,
    /// Which baseline (a fine-tuning method of the experiment).
    pub method: Method,
    /// The source denoiser, for the methods that start from it.
    pub denoiser: Option<Handle<DenoiserStage>>,
    /// The tokenizer of a text task.
    pub corpus: Option<Handle<CorpusStage>>,
    /// Label suffix (the setting).
    pub tag: String,
}

/// What a baseline stage reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BaselineSummary {
    /// gtl-finetune's name of the method.
    pub method: String,
    /// What the method trains, of how many parameters.
    pub parameters: ParamCount,
    /// Steps done in total.
    pub steps: usize,
    /// Whether early stopping ended the run.
    pub stopped_early: bool,
    /// Whether the best-validation weights were kept (else the last ones).
    pub kept_best: bool,
    /// Wall time of the training run.
    pub seconds: f64,
    /// NELBO per token on fresh target sequences.
    pub nelbo_target: f64,
}

impl BaselineStage {
    fn finetune_method(&self) -> Result<gtl_finetune::Method> {
        self.method.baseline(&self.config.finetune).ok_or_else(|| {
            ExperimentError::config(format!("{} is not a fine-tuning baseline", self.method))
        })
    }

    /// The trained network in `dir`.
    pub fn load<B: Backend>(&self, dir: &Path, device: &B::Device) -> Result<DenoiserNet<B>> {
        let shape = baseline_net::<B>(&self.config, self.finetune_method()?, device)?;
        Ok(load_model_file(shape, &dir.join("model.mpk"), device)?)
    }

    /// The network the method starts training from: a fresh initialisation or a copy of
    /// `source`, frozen as the method requires. Every random draw (the fresh weights, the
    /// adapters of LoRA) comes from the backend generator seeded with
    /// `finetune.training.seed`, so a baseline does not depend on what ran before it.
    pub fn initial_model<B: AutodiffBackend>(
        &self,
        source: Option<&DenoiserNet<B>>,
        device: &B::Device,
    ) -> Result<DenoiserNet<B>> {
        let method = self.finetune_method()?;
        let start = match (method.starts_from_source(), source) {
            (true, Some(source)) => Some(source.clone()),
            (true, None) => {
                return Err(ExperimentError::Missing(format!(
                    "{}: needs the source denoiser",
                    method.name()
                )));
            }
            (false, _) => None,
        };
        let net = denoiser_net(&self.config)?;
        seeded::<B, _>(device, self.config.finetune.training.seed, || {
            let model = start.unwrap_or_else(|| net.init(device));
            Ok(freeze_for(model, method)?)
        })
    }
}

impl Stage for BaselineStage {
    type Summary = BaselineSummary;
    const KIND: &'static str = "baseline";

    fn label(&self) -> String {
        format!("{} {}", self.method, self.tag)
    }

    fn key(&self) -> Result<String> {
        let c = &self.config;
        // From scratch, the architecture and loss matter; from the source denoiser, its
        // stage (an input) stands for them.
        let start = if self.denoiser.is_some() {
            String::new()
        } else {
            format!(
                "{}\n[denoiser-architecture]\n{}\nloss = {:?}\n",
                keys::process(c)?,
                to_toml(&c.denoiser.model, "denoiser.model")?,
                c.denoiser.loss.name()
            )
        };
        Ok([
            keys::data(c)?,
            start,
            keys::section("finetune", &c.finetune)?,
            format!("method = {:?}", self.method.name()),
        ]
        .join("\n"))
    }

    fn inputs(&self) -> Vec<StageId> {
        self.denoiser
            .iter()
            .map(|h| h.id)
            .chain(self.corpus.map(|h| h.id))
            .collect()
    }

    fn run<B: AutodiffBackend>(&self, ctx: &StageContext<'_, B>) -> Result<BaselineSummary> {
        let (config, device) = (&self.config, ctx.device);
        let method = self.finetune_method()?;
        let source = match self.denoiser {
            Some(handle) => {
                let input = ctx.input(handle)?;
                Some(input.stage.load::<B>(input.dir, device)?)
            }
            None => None,
        };
        let data = task_data(ctx, config, self.corpus)?;
        let model = self.initial_model(source.as_ref(), device)?;
        let parameters = count_params(&model);
        let name = method.name();
        tracing::info!(
            "{name}: trains {} of {} parameters",
            parameters.trainable,
            parameters.total
        );
        let objective = DenoiserObjective::<B> {
            process: config.process()?,
            loss: config.denoiser.loss,
            train: &data.target_train,
            validation: &data.target_validation,
            device: device.clone(),
        };
        let fit = Fit {
            dir: ctx.dir,
            label: &name,
            observer: ctx.observer.training(),
        };
        let (mut inference, fitted) =
            fit.run_on(model, &objective, &config.finetune.training, ctx.devices)?;
        let best = ctx.dir.join("best.mpk");
        let kept_best = config.finetune.keep_best && best.is_file();
        if kept_best {
            let shape = baseline_net::<B::InnerBackend>(config, method, device)?;
            inference = load_model_file(shape, &best, device)?;
            write_atomically(&ctx.dir.join("model.mpk"), &module_bytes(&inference))?;
        }
        Ok(BaselineSummary {
            method: name,
            parameters,
            steps: fitted.steps,
            stopped_early: fitted.stopped_early,
            kept_best,
            seconds: fitted.seconds,
            nelbo_target: target_nelbo(&inference, config, &data, device)?,
        })
    }
}
