//! `train finetune`: the fine-tuning baselines (gtl-finetune) on the target data — the source
//! architecture trained from scratch, the source denoiser fine-tuned in full, and only its
//! last blocks — each scored by its NELBO on fresh target sequences against the exact target
//! oracle, next to what it trains.

use std::path::PathBuf;

use anyhow::Result;
use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use gtl_finetune::{Method, ParamCount, count_params, freeze_for};
use gtl_models::objectives::{DenoiserObjective, nelbo_per_token};
use gtl_models::training::write_atomically;
use gtl_oracle::MarkovDenoiser;
use serde::Serialize;

use crate::backend::BackendTask;
use crate::config::ExperimentConfig;
use crate::planner::load_denoiser;
use crate::train::{TaskData, denoiser_net_config, fit, prepare_stage_dir};

/// Seed of the evaluation corruptions, shared by every model compared.
const EVALUATION_SEED: u64 = 0xf1e7;

/// One baseline's outcome.
#[derive(Debug, Serialize)]
pub struct BaselineSummary {
    method: String,
    parameters: ParamCount,
    steps: usize,
    stopped_early: bool,
    seconds: f64,
    /// NELBO per token on fresh target sequences.
    nelbo_target: f64,
}

/// What the stage reports.
#[derive(Debug, Serialize)]
pub struct FinetuneSummary {
    target_train: usize,
    /// NELBO per token of the exact target denoiser and of the source denoiser (unchanged) on
    /// the same sequences and corruptions.
    nelbo_target_oracle: f64,
    nelbo_source_model: f64,
    baselines: Vec<BaselineSummary>,
}

/// `train finetune`.
pub struct FinetuneStage {
    /// The experiment.
    pub config: ExperimentConfig,
    /// `runs/<name>/`.
    pub run_dir: PathBuf,
    /// Continue from checkpoints.
    pub resume: bool,
}

impl BackendTask for FinetuneStage {
    type Output = FinetuneSummary;

    fn run<B: AutodiffBackend>(self, device: B::Device) -> Result<FinetuneSummary> {
        let config = &self.config;
        let process = config.process.build(config.data.states)?;
        let data = TaskData::new(config)?;
        let dir = self.run_dir.join("finetune");
        prepare_stage_dir(&dir, config)?;
        let evaluate = |model: &dyn gtl_diffusion::Denoiser<B::InnerBackend>| {
            nelbo_per_token::<B::InnerBackend>(
                model,
                &process,
                &data.target_test,
                4,
                EVALUATION_SEED,
                &device,
            )
        };
        // Loaded once: the baselines that start from it train clones.
        let source = load_denoiser::<B>(config, &self.run_dir, &device)?;
        let oracle = MarkovDenoiser::new(data.target.clone(), process)?;
        let mut baselines = Vec::new();
        for method in [
            Method::TargetOnly,
            Method::Full,
            Method::LastBlocks {
                blocks: config.finetune.last_blocks,
            },
        ] {
            let model = if method.starts_from_source() {
                source.clone()
            } else {
                B::seed(&device, config.finetune.training.seed);
                denoiser_net_config(config)?.init::<B>(&device)
            };
            let model = freeze_for(model, method)?;
            let parameters = count_params(&model);
            let name = method.name();
            tracing::info!(
                "{name}: trains {} of {} parameters",
                parameters.trainable,
                parameters.total
            );
            let objective = DenoiserObjective::<B> {
                process,
                loss: config.denoiser.loss,
                train: &data.target_train,
                validation: &data.target_validation,
                device: device.clone(),
            };
            let (inference, fitted) = fit(
                model,
                &objective,
                &config.finetune.training,
                &dir.join(&name),
                self.resume,
                &name,
                &device,
            )?;
            baselines.push(BaselineSummary {
                method: name,
                parameters,
                steps: fitted.steps,
                stopped_early: fitted.stopped_early,
                seconds: fitted.seconds,
                nelbo_target: evaluate(&inference),
            });
        }
        let summary = FinetuneSummary {
            target_train: data.target_train.len(),
            nelbo_target_oracle: evaluate(&oracle),
            nelbo_source_model: evaluate(&source.valid()),
            baselines,
        };
        write_atomically(
            &dir.join("summary.json"),
            serde_json::to_string_pretty(&summary)?.as_bytes(),
        )?;
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, NdArray};

    use super::*;
    use crate::train::tests::{TINY, denoiser_stage};

    /// The three baselines train from the denoiser stage's output, report what they train,
    /// and are scored on the target test set next to the exact target oracle.
    #[test]
    fn the_finetune_stage_trains_three_baselines() {
        let text = TINY
            .replacen("steps = 400", "steps = 30", 1)
            .replace("steps = 200", "steps = 30");
        let config = ExperimentConfig::parse(&text).unwrap();
        let run_dir =
            std::env::temp_dir().join(format!("gtl-xtask-finetune-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&run_dir);
        denoiser_stage(&config, &run_dir.join("denoiser"));
        let summary = FinetuneStage {
            config,
            run_dir: run_dir.clone(),
            resume: false,
        }
        .run::<Autodiff<NdArray>>(Default::default())
        .unwrap();
        let names: Vec<&str> = summary
            .baselines
            .iter()
            .map(|b| b.method.as_str())
            .collect();
        assert_eq!(names, ["target-only", "full-finetune", "last-1-blocks"]);
        let [scratch, full, last] = [0, 1, 2].map(|i| &summary.baselines[i]);
        assert_eq!(scratch.parameters, full.parameters);
        assert_eq!(full.parameters.trainable, full.parameters.total);
        assert!(last.parameters.trainable < last.parameters.total);
        for baseline in &summary.baselines {
            assert!(baseline.nelbo_target.is_finite());
            assert!(baseline.nelbo_target > summary.nelbo_target_oracle - 0.05);
            let model = run_dir
                .join("finetune")
                .join(&baseline.method)
                .join("model.mpk");
            assert!(model.is_file(), "{}", model.display());
        }
        let _ = std::fs::remove_dir_all(&run_dir);
    }
}
