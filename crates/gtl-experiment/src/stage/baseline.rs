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
use crate::config::{ExperimentConfig, HeadStart};
use crate::data::TaskData;
use crate::error::to_toml;
use crate::method::Method;
use crate::nets::{Fit, Fitted, baseline_net, denoiser_net};
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
    /// Wall time of the training runs (every trial of the search).
    pub seconds: f64,
    /// NELBO per token on fresh target sequences.
    pub nelbo_target: f64,
    /// The learning rate of the kept model.
    pub learning_rate: f64,
    /// Where the kept model's final norm and head started.
    pub head: HeadStart,
    /// Every setting tried (`finetune.learning_rates` × `finetune.heads`), in order; the kept
    /// one has the lowest validation NELBO on the target validation split.
    pub trials: Vec<Trial>,
}

/// One setting a baseline was trained with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// Peak learning rate.
    pub learning_rate: f64,
    /// Where the final norm and head started.
    pub head: HeadStart,
    /// Lowest validation NELBO per token on the target validation split (`None` without
    /// validation).
    pub validation_nelbo: Option<f64>,
    /// Steps done.
    pub steps: usize,
    /// Whether early stopping ended it.
    pub stopped_early: bool,
    /// Wall time.
    pub seconds: f64,
    /// Whether this trial's model is the baseline's.
    pub chosen: bool,
}

/// The index of the trial with the lowest validation NELBO (the first on ties; trials
/// without a finite validation figure lose to any with one).
pub fn best_trial(validation: &[Option<f64>]) -> Option<usize> {
    let score = |v: &Option<f64>| v.filter(|x| x.is_finite()).unwrap_or(f64::INFINITY);
    (0..validation.len()).reduce(|best, i| {
        if score(&validation[i]) < score(&validation[best]) {
            i
        } else {
            best
        }
    })
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

    /// The settings this baseline tries: every learning rate with every head start
    /// (target-only starts fresh anyway).
    pub fn settings(&self) -> Result<Vec<(f64, HeadStart)>> {
        let finetune = &self.config.finetune;
        let method = self.finetune_method()?;
        let heads: Vec<HeadStart> = match method {
            gtl_finetune::Method::TargetOnly => vec![HeadStart::Fresh],
            _ => finetune.heads.clone(),
        };
        Ok(finetune
            .learning_rates(method)
            .into_iter()
            .flat_map(|lr| heads.iter().map(move |&h| (lr, h)))
            .collect())
    }

    /// The network the method starts training from: a fresh initialisation or a copy of
    /// `source` (with a fresh final norm and head when `head` is [`HeadStart::Fresh`]),
    /// frozen as the method requires; a fresh head and final norm always train (also under
    /// LoRA, which freezes the rest but its adapters). Every random draw (the fresh weights,
    /// the adapters of LoRA) comes from the backend generator seeded with the method's
    /// training seed, so a baseline does not depend on what ran before it.
    pub fn initial_model<B: AutodiffBackend>(
        &self,
        source: Option<&DenoiserNet<B>>,
        head: HeadStart,
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
        let seed = self.config.finetune.training(method).seed;
        seeded::<B, _>(device, seed, || {
            // Only what is drawn fresh consumes the generator (LoRA's adapters, drawn next,
            // must not depend on the head setting of other methods).
            let (model, fresh_head) = match start {
                Some(model) if head == HeadStart::Fresh => {
                    let fresh = net.init(device);
                    (model, Some((fresh.head, fresh.trunk.final_norm)))
                }
                Some(model) => (model, None),
                None => (net.init(device), None),
            };
            // Swapped in after freezing, so that they train whatever the method freezes.
            let mut model = freeze_for(model, method)?;
            if let Some((head, final_norm)) = fresh_head {
                model.head = head;
                model.trunk.final_norm = final_norm;
            }
            Ok(model)
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
        // Target-only's own section keys target-only alone: tuning it retrains nothing else.
        let mut finetune = c.finetune.clone();
        if self.method != Method::TargetOnly {
            finetune.target_only = None;
        }
        Ok([
            keys::data(c)?,
            start,
            keys::section("finetune", &finetune)?,
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
        let objective = DenoiserObjective::<B> {
            process: config.process()?,
            loss: config.denoiser.loss,
            train: &data.target_train,
            validation: &data.target_validation,
            device: device.clone(),
        };
        let name = method.name();
        let settings = self.settings()?;
        let mut parameters = None;
        let mut runs: Vec<(Fitted, std::path::PathBuf)> = Vec::new();
        for &(learning_rate, head) in &settings {
            // One setting trains in the stage's folder itself; a search gives each its own.
            let (dir, label) = if settings.len() == 1 {
                (ctx.dir.to_path_buf(), name.clone())
            } else {
                let tag = format!("lr-{learning_rate:e}-{}-head", head.name());
                (ctx.dir.join("trials").join(&tag), format!("{name} {tag}"))
            };
            std::fs::create_dir_all(&dir).map_err(|e| ExperimentError::io(&dir, e))?;
            let model = self.initial_model(source.as_ref(), head, device)?;
            let counted = count_params(&model);
            if parameters.is_none() {
                tracing::info!(
                    "{name}: trains {} of {} parameters",
                    counted.trainable,
                    counted.total
                );
            }
            parameters.get_or_insert(counted);
            let training = gtl_models::training::TrainingConfig {
                learning_rate,
                ..config.finetune.training(method).clone()
            };
            let fit = Fit {
                dir: &dir,
                label: &label,
                observer: ctx.observer.training(),
            };
            let (_, fitted) = fit.run_on(model, &objective, &training, ctx.devices)?;
            if settings.len() > 1 {
                tracing::info!(
                    "{label}: validation NELBO {}",
                    fitted
                        .best_validation
                        .map_or("-".into(), |v| format!("{v:.4}"))
                );
            }
            runs.push((fitted, dir));
        }
        let validation: Vec<Option<f64>> = runs.iter().map(|(f, _)| f.best_validation).collect();
        let chosen = best_trial(&validation).expect("at least one setting");
        let (fitted, dir) = &runs[chosen];
        let best = dir.join("best.mpk");
        let kept_best = config.finetune.keep_best && best.is_file();
        let file = if kept_best {
            best
        } else {
            dir.join("model.mpk")
        };
        let shape = baseline_net::<B::InnerBackend>(config, method, device)?;
        let inference = load_model_file(shape, &file, device)?;
        if settings.len() > 1 || kept_best {
            write_atomically(&ctx.dir.join("model.mpk"), &module_bytes(&inference))?;
        }
        let trials = settings
            .iter()
            .zip(&runs)
            .enumerate()
            .map(|(i, (&(learning_rate, head), (f, _)))| Trial {
                learning_rate,
                head,
                validation_nelbo: f.best_validation,
                steps: f.steps,
                stopped_early: f.stopped_early,
                seconds: f.seconds,
                chosen: i == chosen,
            })
            .collect();
        Ok(BaselineSummary {
            method: name,
            parameters: parameters.expect("at least one setting"),
            steps: fitted.steps,
            stopped_early: fitted.stopped_early,
            kept_best,
            seconds: runs.iter().map(|(f, _)| f.seconds).sum(),
            nelbo_target: target_nelbo(&inference, config, &data, device)?,
            learning_rate: settings[chosen].0,
            head: settings[chosen].1,
            trials,
        })
    }
}
