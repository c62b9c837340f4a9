//! Drawing a method's samples from loaded components (MATH.md §4–5): which denoiser, which
//! ratio, which sampler, which γ. Everything runs on an inference backend with randomness
//! from one host generator seeded with `guidance.seed` (common random numbers).

use burn::prelude::*;
use gtl_classifier::RatioModel;
use gtl_diffusion::Denoiser;
use gtl_diffusion::sampler::Samples;
use gtl_guidance::{
    ExactGuidance, GammaSchedule, Guide, GuidedSampler, PositionRule, ScheduledGtl, Scorer,
};
use gtl_models::{DenoiserNet, PositionNet, ScalarNet};
use gtl_oracle::{MarkovDenoiser, MarkovLogRatio};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::config::{ExperimentConfig, GuidanceSection};
use crate::data::Chains;
use crate::method::{DenoiserChoice, Method, RatioChoice, SamplerChoice};
use crate::{ExperimentError, Result};

/// The trained (or exact) components a method may sample with, loaded on backend `B`.
pub struct Components<B: Backend> {
    /// The source denoiser.
    pub source: Option<DenoiserNet<B>>,
    /// The method's fine-tuned network (baselines).
    pub baseline: Option<DenoiserNet<B>>,
    /// The planner of the source denoiser.
    pub planner: Option<PositionNet<B>>,
    /// The learned `log h_t` estimate.
    pub ratio: Option<ScalarNet<B>>,
    /// The exact chains (Markov tasks).
    pub chains: Option<Chains>,
}

impl<B: Backend> Default for Components<B> {
    fn default() -> Self {
        Components {
            source: None,
            baseline: None,
            planner: None,
            ratio: None,
            chains: None,
        }
    }
}

/// A ratio model that is 0 everywhere: what the unguided samplers (γ = 0) carry, since they
/// never call it.
#[derive(Clone, Copy, Debug, Default)]
pub struct ZeroRatio;

impl<B: Backend> RatioModel<B> for ZeroRatio {
    fn log_ratio(&self, tokens: Tensor<B, 2, Int>, _t: Tensor<B, 1>) -> Tensor<B, 1> {
        let [rows, _] = tokens.dims();
        Tensor::zeros([rows], &tokens.device())
    }

    fn time_conditioned(&self) -> bool {
        false
    }
}

fn missing(method: Method, what: &str) -> ExperimentError {
    ExperimentError::Missing(format!("method {method} needs {what}, which is not loaded"))
}

/// Draws `method`'s samples as `config` says (`[guidance]`: the count, order, top-n, seed;
/// the task's process and length) with γ `gamma`, every random draw from
/// `ChaCha8Rng::seed_from_u64(guidance.seed)`.
pub fn sample_method<B: Backend>(
    method: Method,
    components: &Components<B>,
    config: &ExperimentConfig,
    gamma: &GammaSchedule,
    device: &B::Device,
) -> Result<Samples> {
    let (guidance, length) = (&config.guidance, config.length());
    let process = &config.process()?;
    let chains = || {
        components
            .chains
            .as_ref()
            .ok_or_else(|| missing(method, "the exact chains"))
    };
    let oracle;
    let denoiser: &dyn Denoiser<B> = match method.denoiser(&config.finetune) {
        DenoiserChoice::Source => components
            .source
            .as_ref()
            .ok_or_else(|| missing(method, "the source denoiser"))?,
        DenoiserChoice::Baseline(_) => components
            .baseline
            .as_ref()
            .ok_or_else(|| missing(method, "its fine-tuned network"))?,
        DenoiserChoice::ExactSource => {
            oracle = MarkovDenoiser::new(chains()?.source.clone(), *process)?;
            &oracle
        }
    };
    let exact;
    let ratio: &dyn RatioModel<B> = match method.ratio() {
        RatioChoice::None => &ZeroRatio,
        RatioChoice::Learned => components
            .ratio
            .as_ref()
            .ok_or_else(|| missing(method, "the learned ratio"))?,
        RatioChoice::Exact => {
            let chains = chains()?;
            exact = MarkovLogRatio::new(chains.source.clone(), chains.target.clone(), *process)?;
            exact.require_source_support()?;
            &exact
        }
    };
    let guide = Guide {
        denoiser,
        scorer: Scorer::Exact {
            ratio,
            chunk_rows: guidance.chunk_rows,
        },
        process,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(guidance.seed);
    let count = method.sample_count(guidance);
    Ok(match method.sampler(guidance) {
        SamplerChoice::OnePosition(order) => {
            let order = order
                .rule(components.planner.as_ref())
                .map_err(|_| missing(method, "the planner"))?;
            scheduled(guidance, gamma.clone(), order)
                .sample(guide, count, length, device, &mut rng)?
        }
        SamplerChoice::MultiPosition => ExactGuidance {
            steps: guidance.exact_steps,
            t_end: guidance.t_end,
            gamma: gamma.clone(),
            batch_size: guidance.batch_size,
        }
        .sample(guide, count, length, device, &mut rng)?,
    })
}

/// Scheduled GTL as `[guidance]` configures it, with `gamma` and `order`.
pub fn scheduled<'a, B: Backend>(
    guidance: &GuidanceSection,
    gamma: GammaSchedule,
    order: PositionRule<'a, B>,
) -> ScheduledGtl<'a, B> {
    ScheduledGtl {
        order,
        top_n: guidance.candidates(),
        tail: guidance.candidate_tail.into(),
        gamma,
        batch_size: guidance.batch_size,
    }
}

/// The mean γ of `schedule` over the `length` steps of one-position sampling.
pub fn mean_over_steps(schedule: &GammaSchedule, length: usize) -> f64 {
    (0..length)
        .map(|step| schedule.at(step as f64 / length as f64))
        .sum::<f64>()
        / length as f64
}

/// What drawing a method's samples reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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

impl SampleSummary {
    /// The summary of `samples` drawn by `method` with `gamma` under `config`.
    pub fn new(
        method: Method,
        samples: &Samples,
        gamma: &GammaSchedule,
        config: &ExperimentConfig,
    ) -> Self {
        let learned = method.ratio() == RatioChoice::Learned;
        SampleSummary {
            samples: samples.tokens.len(),
            gamma: match method.ratio() {
                RatioChoice::None => 0.0,
                RatioChoice::Learned => mean_over_steps(gamma, config.length()),
                RatioChoice::Exact => config.guidance.gamma,
            },
            gamma_schedule: learned.then(|| gamma.clone()),
            stats: samples.stats,
        }
    }
}
