//! The sampling stage of every method (docs/experiment.md): which denoiser, which ratio, which
//! sampler. Everything runs on the inner (inference) backend with host-seeded randomness.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use burn::prelude::*;
use gtl_classifier::RatioModel;
use gtl_diffusion::Denoiser;
use gtl_diffusion::sampler::{Confidence, Samples};
use gtl_finetune::Method;
use gtl_guidance::{ExactGuidance, GammaSchedule, PositionRule, ScheduledGtl, Scorer};
use gtl_models::training::load_model_file;
use gtl_oracle::{MarkovDenoiser, MarkovLogRatio};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::config::ExperimentConfig;
use crate::finetune::baseline_shape;
use crate::oracle::write_jsonl;
use crate::planner::{load_denoiser, load_planner};
use crate::ratio::load_ratio_model;

/// How a method draws its samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sampler {
    /// The source denoiser, unguided (scheduled GTL with γ = 0, the same order as GTL).
    Source,
    /// A baseline's denoiser, unguided, in `guidance.baseline_order`.
    Baseline(Method),
    /// Scheduled GTL: source denoiser + learned ratio.
    Gtl,
    /// Scheduled GTL: source denoiser + exact `log h` (isolates the ratio network's error).
    GtlExactRatio,
    /// Scheduled GTL: exact source denoiser + exact `log h` (the exactness floor).
    GtlOracles,
    /// Multi-position exact guidance: source denoiser + learned ratio, `L·N` ratio passes
    /// per step.
    ExactGuidance,
}

impl Sampler {
    /// Whether the sampler needs the source denoiser network.
    pub fn needs_denoiser(self) -> bool {
        matches!(
            self,
            Sampler::Source | Sampler::Gtl | Sampler::GtlExactRatio | Sampler::ExactGuidance
        )
    }

    /// Whether it needs the learned ratio.
    pub fn needs_ratio(self) -> bool {
        matches!(self, Sampler::Gtl | Sampler::ExactGuidance)
    }

    /// Whether it reads `guidance.order` (and so the planner when that is "planner").
    pub fn uses_order(self) -> bool {
        matches!(
            self,
            Sampler::Source | Sampler::Gtl | Sampler::GtlExactRatio | Sampler::GtlOracles
        )
    }

    /// Whether it uses an exact chain.
    pub fn uses_chains(self) -> bool {
        matches!(self, Sampler::GtlExactRatio | Sampler::GtlOracles)
    }
}

/// Where a sampling stage finds its networks.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// The denoiser stage.
    pub denoiser: Option<PathBuf>,
    /// The planner stage (when `guidance.order = "planner"`).
    pub planner: Option<PathBuf>,
    /// The classifier stage.
    pub classifier: Option<PathBuf>,
    /// The ratio stage.
    pub ratio: Option<PathBuf>,
    /// The baseline's stage.
    pub baseline: Option<PathBuf>,
}

/// What a sampling stage reports.
#[derive(Debug, Serialize)]
pub struct SampleSummary {
    /// Sequences drawn.
    pub samples: usize,
    /// Counters and wall time of the sampler.
    pub stats: gtl_diffusion::sampler::SamplerStats,
}

fn required<'a>(dir: &'a Option<PathBuf>, what: &str) -> Result<&'a Path> {
    match dir {
        Some(dir) => Ok(dir),
        None => bail!("the sampling stage needs the {what} stage"),
    }
}

/// Draws `method`'s samples into `dir/samples.jsonl`.
pub fn draw<B: Backend>(
    config: &ExperimentConfig,
    sampler: Sampler,
    inputs: &Inputs,
    dir: &Path,
    device: &B::Device,
) -> Result<SampleSummary> {
    let process = config.process()?;
    let (source_chain, target_chain) = config.data.chains()?;
    let guidance = &config.guidance;
    let length = config.data.length;
    let exact = MarkovLogRatio::new(source_chain.clone(), target_chain, process)?;
    let planner = match (sampler.uses_order(), guidance.order.as_str()) {
        (true, "planner") => Some(load_planner::<B>(
            config,
            required(&inputs.planner, "planner")?,
            device,
        )?),
        _ => None,
    };
    let order = |name: &str| -> PositionRule<'_, B> {
        match name {
            "random" => PositionRule::Random,
            "margin" => PositionRule::Confidence(Confidence::Margin),
            "entropy" => PositionRule::Confidence(Confidence::Entropy),
            "confidence" => PositionRule::Confidence(Confidence::MaxProb),
            _ => match &planner {
                Some(planner) => PositionRule::Planner(planner),
                None => PositionRule::Random,
            },
        }
    };
    let mut rng = ChaCha8Rng::seed_from_u64(guidance.seed);
    let count = guidance.samples;
    let source_net = match sampler.needs_denoiser() {
        true => Some(load_denoiser::<B>(
            config,
            required(&inputs.denoiser, "denoiser")?,
            device,
        )?),
        false => None,
    };
    let source = || -> &dyn Denoiser<B> { source_net.as_ref().expect("loaded above") };
    let learned = match sampler.needs_ratio() {
        true => Some(load_ratio_model::<B>(
            config,
            required(&inputs.classifier, "classifier")?,
            required(&inputs.ratio, "ratio")?,
            device,
        )?),
        false => None,
    };
    let learned = || -> &dyn RatioModel<B> { learned.as_ref().expect("loaded above") };
    let run = |denoiser: &dyn Denoiser<B>,
               ratio: &dyn RatioModel<B>,
               gamma: f64,
               order: PositionRule<'_, B>,
               rng: &mut ChaCha8Rng|
     -> Result<Samples> {
        let sampler = ScheduledGtl {
            order,
            top_n: (guidance.top_n > 0).then_some(guidance.top_n),
            gamma: GammaSchedule::Constant(gamma),
            batch_size: guidance.batch_size,
        };
        let scorer = Scorer::Exact {
            ratio,
            chunk_rows: guidance.chunk_rows,
        };
        Ok(sampler.sample(denoiser, scorer, &process, count, length, device, rng)?)
    };
    let samples: Samples = match sampler {
        Sampler::Source => run(source(), &exact, 0.0, order(&guidance.order), &mut rng)?,
        Sampler::Baseline(method) => {
            let dir = required(&inputs.baseline, "baseline")?;
            let net = load_model_file(
                baseline_shape::<B>(config, method, device)?,
                &dir.join("model.mpk"),
                device,
            )?;
            run(&net, &exact, 0.0, order(&guidance.baseline_order), &mut rng)?
        }
        Sampler::Gtl => run(
            source(),
            learned(),
            guidance.gamma,
            order(&guidance.order),
            &mut rng,
        )?,
        Sampler::GtlExactRatio => run(
            source(),
            &exact,
            guidance.gamma,
            order(&guidance.order),
            &mut rng,
        )?,
        Sampler::GtlOracles => {
            let oracle = MarkovDenoiser::new(source_chain, process)?;
            run(
                &oracle,
                &exact,
                guidance.gamma,
                order(&guidance.order),
                &mut rng,
            )?
        }
        Sampler::ExactGuidance => ExactGuidance {
            steps: guidance.exact_steps,
            t_end: 1e-5,
            gamma: GammaSchedule::Constant(guidance.gamma),
            batch_size: guidance.batch_size,
        }
        .sample(
            source(),
            Scorer::Exact {
                ratio: learned(),
                chunk_rows: guidance.chunk_rows,
            },
            &process,
            guidance.exact_samples,
            length,
            device,
            &mut rng,
        )?,
    };
    write_jsonl(&dir.join("samples.jsonl"), &samples.tokens)?;
    Ok(SampleSummary {
        samples: samples.tokens.len(),
        stats: samples.stats,
    })
}
