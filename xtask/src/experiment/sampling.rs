//! The sampling stage of every method (docs/experiment.md): which denoiser, which ratio, which
//! sampler. Everything runs on the inner (inference) backend with host-seeded randomness.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use gtl_classifier::RatioModel;
use gtl_diffusion::Denoiser;
use gtl_diffusion::sampler::{Confidence, Samples};
use gtl_finetune::Method;
use gtl_guidance::{
    ExactGuidance, GammaFit, GammaSchedule, PositionRule, ScheduledGtl, Scorer, fit_gamma,
};
use gtl_models::training::{load_model_file, write_atomically};
use gtl_oracle::{MarkovDenoiser, MarkovLogRatio};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::config::ExperimentConfig;
use crate::finetune::baseline_shape;
use crate::oracle::write_jsonl;
use crate::planner::{load_denoiser, load_planner};
use crate::ratio::load_ratio_model;
use crate::train::TaskData;

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
    /// The fit of γ (its `gamma.json`), when `guidance.fit_gamma`.
    pub gamma: Option<PathBuf>,
}

/// What a sampling stage reports.
#[derive(Debug, Serialize)]
pub struct SampleSummary {
    /// Sequences drawn.
    pub samples: usize,
    /// γ of the sampler (0 for unguided ones; the mean over steps for a fitted schedule).
    pub gamma: f64,
    /// The fitted schedule of the learned-ratio samplers.
    pub gamma_schedule: Option<GammaSchedule>,
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
    let learned_gamma = match &inputs.gamma {
        Some(dir) => fitted(dir)?.schedule(),
        None => GammaSchedule::Constant(guidance.gamma),
    };
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
               gamma: GammaSchedule,
               order: PositionRule<'_, B>,
               rng: &mut ChaCha8Rng|
     -> Result<Samples> {
        let sampler = ScheduledGtl {
            order,
            top_n: (guidance.top_n > 0).then_some(guidance.top_n),
            gamma,
            batch_size: guidance.batch_size,
        };
        let scorer = Scorer::Exact {
            ratio,
            chunk_rows: guidance.chunk_rows,
        };
        Ok(sampler.sample(denoiser, scorer, &process, count, length, device, rng)?)
    };
    let samples: Samples = match sampler {
        Sampler::Source => run(
            source(),
            &exact,
            GammaSchedule::Constant(0.0),
            order(&guidance.order),
            &mut rng,
        )?,
        Sampler::Baseline(method) => {
            let dir = required(&inputs.baseline, "baseline")?;
            let net = load_model_file(
                baseline_shape::<B>(config, method, device)?,
                &dir.join("model.mpk"),
                device,
            )?;
            run(
                &net,
                &exact,
                GammaSchedule::Constant(0.0),
                order(&guidance.baseline_order),
                &mut rng,
            )?
        }
        Sampler::Gtl => run(
            source(),
            learned(),
            learned_gamma.clone(),
            order(&guidance.order),
            &mut rng,
        )?,
        Sampler::GtlExactRatio => run(
            source(),
            &exact,
            GammaSchedule::Constant(guidance.gamma),
            order(&guidance.order),
            &mut rng,
        )?,
        Sampler::GtlOracles => {
            let oracle = MarkovDenoiser::new(source_chain, process)?;
            run(
                &oracle,
                &exact,
                GammaSchedule::Constant(guidance.gamma),
                order(&guidance.order),
                &mut rng,
            )?
        }
        Sampler::ExactGuidance => ExactGuidance {
            steps: guidance.exact_steps,
            t_end: 1e-5,
            gamma: learned_gamma.clone(),
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
        gamma: match sampler {
            Sampler::Source | Sampler::Baseline(_) => 0.0,
            Sampler::Gtl | Sampler::ExactGuidance => mean_over_steps(&learned_gamma, length),
            _ => guidance.gamma,
        },
        gamma_schedule: match sampler {
            Sampler::Gtl | Sampler::ExactGuidance => Some(learned_gamma),
            _ => None,
        },
        stats: samples.stats,
    })
}

/// The fit a γ stage wrote.
fn fitted(dir: &Path) -> Result<GammaFit> {
    let path = dir.join("gamma.json");
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    serde_json::from_str(&text).with_context(|| format!("{}: not a γ fit", path.display()))
}

/// The mean γ of `schedule` over the `length` steps of one-position sampling.
fn mean_over_steps(schedule: &GammaSchedule, length: usize) -> f64 {
    (0..length)
        .map(|step| schedule.at(step as f64 / length as f64))
        .sum::<f64>()
        / length as f64
}

/// Fits γ of the learned-ratio samplers on the target validation split (gtl-guidance's
/// `fit_gamma` with the source denoiser, the learned ratio and every token as a candidate);
/// writes `gamma.json`.
pub fn fit<B: Backend>(
    config: &ExperimentConfig,
    denoiser_dir: &Path,
    classifier_dir: &Path,
    ratio_dir: &Path,
    dir: &Path,
    device: &B::Device,
) -> Result<GammaFit> {
    let process = config.process()?;
    let guidance = &config.guidance;
    let denoiser = load_denoiser::<B>(config, denoiser_dir, device)?;
    let ratio = load_ratio_model::<B>(config, classifier_dir, ratio_dir, device)?;
    let data = TaskData::new(config)?;
    let held_out = &data.target_validation;
    let draws = guidance.fit_rows.div_ceil(held_out.len());
    let mut rng = ChaCha8Rng::seed_from_u64(guidance.seed ^ 0x6a11);
    let fit = fit_gamma(
        &denoiser,
        Scorer::Exact {
            ratio: &ratio,
            chunk_rows: guidance.chunk_rows,
        },
        &process,
        held_out,
        draws,
        &guidance.gamma_grid,
        guidance.fit_bins,
        device,
        &mut rng,
    )?;
    tracing::info!(
        "fitted γ = {} on {} masked validation sequences; per progress bin: {:?}",
        fit.best,
        fit.rows,
        fit.bins.iter().map(|b| b.best).collect::<Vec<_>>()
    );
    write_atomically(
        &dir.join("gamma.json"),
        serde_json::to_string_pretty(&fit)?.as_bytes(),
    )?;
    Ok(fit)
}
