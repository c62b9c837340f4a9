//! The source denoiser: trained on the source data, scored by its NELBO per token on fresh
//! source sequences next to the exact oracle and the unigram baseline.

use std::path::Path;
use std::sync::Arc;

use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use gtl_models::DenoiserNet;
use gtl_models::objectives::{DenoiserObjective, nelbo_per_token};
use gtl_models::training::{load_model_file, seeded};
use gtl_oracle::MarkovDenoiser;
use serde::{Deserialize, Serialize};

use super::corpus::{CorpusStage, task_data};
use super::{Handle, Stage, StageContext, StageId};
use crate::config::ExperimentConfig;
use crate::data::unigram_chain;
use crate::nets::{Fit, denoiser_net};
use crate::{Result, keys};

/// Seed of the evaluation corruptions, shared by every denoiser compared.
const EVALUATION_SEED: u64 = 0xe7a1;

/// Corruptions per test sequence of the NELBO estimates.
pub const NELBO_DRAWS: usize = 4;

/// The source denoiser stage.
pub struct DenoiserStage {
    /// The experiment.
    pub config: Arc<ExperimentConfig>,
    /// The tokenizer of a text task.
    pub corpus: Option<Handle<CorpusStage>>,
}

/// What the denoiser stage reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DenoiserSummary {
    /// The forward process.
    pub process: String,
    /// The training loss.
    pub loss: String,
    /// Parameters of the network.
    pub parameters: usize,
    /// Steps done in total.
    pub steps: usize,
    /// Wall time of the training run.
    pub seconds: f64,
    /// Training sequences per second.
    pub sequences_per_second: f64,
    /// NELBO per token on held-out source sequences: the trained network.
    pub nelbo_model: f64,
    /// The same for the exact oracle denoiser (Markov tasks).
    pub nelbo_oracle: Option<f64>,
    /// The same for the unigram baseline (an i.i.d. chain of the training frequencies;
    /// Markov tasks).
    pub nelbo_unigram: Option<f64>,
    /// `nelbo_model - nelbo_oracle` (Markov tasks).
    pub gap_to_oracle: Option<f64>,
    /// The exact negative log-likelihood per token of the same sequences (Markov tasks).
    pub exact_nll_per_token: Option<f64>,
    /// NELBO per token of the network on held-out target sequences (text tasks, whose
    /// source data fixes the target test split).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nelbo_target: Option<f64>,
}

impl Stage for DenoiserStage {
    type Summary = DenoiserSummary;
    const KIND: &'static str = "denoiser";

    fn label(&self) -> String {
        "source denoiser".into()
    }

    fn key(&self) -> Result<String> {
        let c = &self.config;
        Ok([
            keys::source_data(c)?,
            keys::process(c)?,
            keys::section("denoiser", &c.denoiser)?,
        ]
        .join("\n"))
    }

    fn inputs(&self) -> Vec<StageId> {
        self.corpus.iter().map(|h| h.id).collect()
    }

    fn run<B: AutodiffBackend>(&self, ctx: &StageContext<'_, B>) -> Result<DenoiserSummary> {
        let config = &self.config;
        let (device, denoiser) = (ctx.device, &config.denoiser);
        let process = config.process()?;
        let data = task_data(ctx, config, self.corpus)?;
        let net = denoiser_net(config)?;
        let model = seeded::<B, _>(device, denoiser.training.seed, || net.init(device));
        let objective = DenoiserObjective::<B> {
            process,
            loss: denoiser.loss,
            train: &data.source_train,
            validation: &data.source_validation,
            device: device.clone(),
        };
        let fit = Fit {
            dir: ctx.dir,
            label: "denoiser",
            observer: ctx.observer.training(),
        };
        let (inference, fitted) = fit.run_on(model, &objective, &denoiser.training, ctx.devices)?;

        let nelbo = |model: &dyn gtl_diffusion::Denoiser<B::InnerBackend>, test: &[Vec<u32>]| {
            nelbo_per_token::<B::InnerBackend>(
                model,
                &process,
                test,
                NELBO_DRAWS,
                EVALUATION_SEED,
                device,
            )
        };
        let test = &data.source_test;
        let nelbo_model = nelbo(&inference, test);
        let (mut nelbo_oracle, mut nelbo_unigram, mut exact_nll) = (None, None, None);
        if let Some(chains) = &data.chains {
            let oracle = MarkovDenoiser::new(chains.source.clone(), process)?;
            let unigram = MarkovDenoiser::new(
                unigram_chain(&data.source_train, config.num_tokens()?)?,
                process,
            )?;
            nelbo_oracle = Some(nelbo(&oracle, test));
            nelbo_unigram = Some(nelbo(&unigram, test));
            exact_nll = Some(
                -test
                    .iter()
                    .map(|x| chains.source.log_likelihood(x))
                    .sum::<f64>()
                    / (test.len() * config.length()) as f64,
            );
        }
        let nelbo_target = (config.text.is_some() || config.dna.is_some())
            .then(|| nelbo(&inference, &data.target_test));
        Ok(DenoiserSummary {
            process: process.kind.name().into(),
            loss: denoiser.loss.name().into(),
            parameters: fitted.parameters,
            steps: fitted.steps,
            seconds: fitted.seconds,
            sequences_per_second: fitted.sequences_per_second,
            nelbo_model,
            nelbo_oracle,
            nelbo_unigram,
            gap_to_oracle: nelbo_oracle.map(|oracle| nelbo_model - oracle),
            exact_nll_per_token: exact_nll,
            nelbo_target,
        })
    }
}

impl DenoiserStage {
    /// The trained network in `dir` (its `model.mpk`).
    pub fn load<B: Backend>(&self, dir: &Path, device: &B::Device) -> Result<DenoiserNet<B>> {
        let net = denoiser_net(&self.config)?;
        Ok(load_model_file(
            net.init::<B>(device),
            &dir.join("model.mpk"),
            device,
        )?)
    }
}
