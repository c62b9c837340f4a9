//! The networks of an experiment built from its config, and the shared training wrapper
//! that every training stage calls.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use gtl_models::training::{
    Objective, RunOptions, TrainError, Trained, TrainingConfig, TrainingObserver, module_bytes,
    train, write_atomically,
};
use gtl_models::{
    AdapterSpec, DenoiserNet, DenoiserNetConfig, PositionNetConfig, ScalarNetConfig, TrunkConfig,
    describe_params,
};
use serde::{Deserialize, Serialize};

use crate::config::{ExperimentConfig, ModelSection};
use crate::{ExperimentError, Result};

/// The trunk of a network section: the process's token ids as vocabulary, the task's length.
pub fn trunk_of(
    config: &ExperimentConfig,
    model: &ModelSection,
    section: &str,
) -> Result<TrunkConfig> {
    let process = config.process()?;
    model.trunk(process.num_states(), config.length(), section)
}

/// The source denoiser's network.
pub fn denoiser_net(config: &ExperimentConfig) -> Result<DenoiserNetConfig> {
    let process = config.process()?;
    let trunk = trunk_of(config, &config.denoiser.model, "denoiser.model")?;
    Ok(DenoiserNetConfig::for_process(trunk, &process))
}

/// The network a baseline's weights load into: the denoiser architecture, with adapters for
/// [`gtl_finetune::Method::LowRank`].
pub fn baseline_net<B: Backend>(
    config: &ExperimentConfig,
    method: gtl_finetune::Method,
    device: &B::Device,
) -> Result<DenoiserNet<B>> {
    let net = denoiser_net(config)?.init::<B>(device);
    Ok(match method {
        gtl_finetune::Method::LowRank { rank, alpha } => DenoiserNet {
            trunk: net.trunk.with_adapters(AdapterSpec { rank, alpha }, device),
            ..net
        },
        _ => net,
    })
}

/// A scalar network of `model` (named `section` in errors): its trunk and its pooling.
fn scalar_net(
    config: &ExperimentConfig,
    model: &ModelSection,
    section: &str,
) -> Result<ScalarNetConfig> {
    Ok(ScalarNetConfig::new(trunk_of(config, model, section)?)
        .with_sum_pooling(model.sum_pooling()))
}

/// The clean classifier's network: the classifier section without time conditioning.
pub fn clean_classifier_net(config: &ExperimentConfig) -> Result<ScalarNetConfig> {
    let net = noisy_classifier_net(config)?;
    Ok(ScalarNetConfig {
        trunk: net.trunk.with_time_conditioning(false),
        ..net
    })
}

/// The noisy classifier's network.
pub fn noisy_classifier_net(config: &ExperimentConfig) -> Result<ScalarNetConfig> {
    scalar_net(config, &config.classifier.model, "classifier.model")
}

/// The ratio network.
pub fn ratio_net(config: &ExperimentConfig) -> Result<ScalarNetConfig> {
    scalar_net(config, &config.ratio.model, "ratio.model")
}

/// The planner.
pub fn planner_net(config: &ExperimentConfig) -> Result<PositionNetConfig> {
    Ok(PositionNetConfig::new(trunk_of(
        config,
        &config.planner.model,
        "planner.model",
    )?))
}

/// What training one network cost.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    #[serde(default)]
    pub stopped_early: bool,
}

/// One network's training run: where it writes and how it reports.
pub struct Fit<'a> {
    /// The folder of the run's checkpoint, metrics and `model.mpk`.
    pub dir: &'a Path,
    /// Label of progress and logs.
    pub label: &'a str,
    /// Where the steps are reported.
    pub observer: Option<Arc<dyn TrainingObserver>>,
}

impl Fit<'_> {
    /// Trains `model` (initialised by the caller, after seeding) on `device`, resuming from
    /// the folder's checkpoint when there is one; writes `model.mpk` (the EMA weights when
    /// there is an EMA) and returns those weights.
    pub fn run<B, M, O>(
        &self,
        model: M,
        objective: &O,
        training: &TrainingConfig,
        device: &B::Device,
    ) -> Result<(M::InnerModule, Fitted)>
    where
        B: AutodiffBackend,
        M: AutodiffModule<B> + Clone,
        O: Objective<B, M>,
    {
        self.fit(model, training, |model, options| {
            train(model, objective, training, options, device)
        })
    }

    /// Trains like [`run`](Self::run), data-parallel over every device of `devices` when
    /// there are several and the objective splits its batches
    /// ([`train_data_parallel`](gtl_models::training::train_data_parallel), behind the
    /// `data-parallel` feature); on `devices[0]` alone otherwise. `model` lives on
    /// `devices[0]`.
    ///
    /// Errors: several devices in a build without the `data-parallel` feature; otherwise
    /// those of `run`.
    pub fn run_on<B, M, O>(
        &self,
        model: M,
        objective: &O,
        training: &TrainingConfig,
        devices: &[B::Device],
    ) -> Result<(M::InnerModule, Fitted)>
    where
        B: AutodiffBackend,
        M: AutodiffModule<B> + Clone + Send,
        O: Objective<B, M> + Sync,
    {
        let Some(first) = devices.first() else {
            return Err(ExperimentError::config("no device to train on"));
        };
        if devices.len() == 1 || !objective.splits() {
            if devices.len() > 1 {
                tracing::info!(
                    "{}: its objective does not split batches; trains on the first device",
                    self.label
                );
            }
            return self.run(model, objective, training, first);
        }
        #[cfg(feature = "data-parallel")]
        {
            tracing::info!(
                "{}: data-parallel over {} devices",
                self.label,
                devices.len()
            );
            self.fit(model, training, |model, options| {
                gtl_models::training::train_data_parallel(
                    model, objective, training, options, devices,
                )
            })
        }
        #[cfg(not(feature = "data-parallel"))]
        Err(ExperimentError::config(format!(
            "training on {} devices needs the `data-parallel` feature of gtl-experiment \
             (xtask: build with `--features data-parallel`)",
            devices.len()
        )))
    }

    /// Runs `train` with this fit's options, writes `model.mpk` and measures the run.
    fn fit<B, M>(
        &self,
        model: M,
        training: &TrainingConfig,
        train: impl FnOnce(M, &RunOptions) -> std::result::Result<Trained<B, M>, TrainError>,
    ) -> Result<(M::InnerModule, Fitted)>
    where
        B: AutodiffBackend,
        M: AutodiffModule<B> + Clone,
    {
        let parameters = model.num_params();
        tracing::info!("{}: {}", self.label, describe_params(&model));
        let options = RunOptions {
            dir: self.dir.to_path_buf(),
            resume: true,
            stop_after: None,
            label: self.label.into(),
            observer: self.observer.clone(),
        };
        let start = Instant::now();
        let trained = train(model, &options)?;
        let seconds = start.elapsed().as_secs_f64();
        let inference = trained.inference_model();
        write_atomically(&self.dir.join("model.mpk"), &module_bytes(&inference))?;
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
}
