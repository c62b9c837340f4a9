//! Sampling with exact components: the exact Markov denoiser, unguided or guided towards a
//! target chain by the exact `log h_t`, and the check of samples against a chain by
//! enumeration (total variation against the null distribution of exact samples, and a
//! chi-square test). Behind `cargo xtask oracle-sample`, `oracle-convergence` and `demo`.

use burn::prelude::*;
use gtl_diffusion::Process;
use gtl_diffusion::sampler::{Order, SamplerConfig, SamplerKind, Samples};
use gtl_guidance::{
    ExactGuidance, GammaSchedule, Guide, GuidedSampler, PositionRule, ScheduledGtl, Scorer,
};
use gtl_markov::MarkovChain;
use gtl_markov::metrics::{MAX_ENUMERATED, chi_square, total_variation, tv_null_quantile};
use gtl_oracle::{MarkovDenoiser, MarkovLogRatio};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::config::serde_name;
use crate::{ExperimentError, Result};

/// How oracle sampling is guided.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum OracleGuidance {
    /// Unguided: sample the source chain.
    #[default]
    None,
    /// Exact per-position guidance on multi-position steps (any process).
    Exact,
    /// Scheduled GTL: one position per step, the denoiser's top-n candidates scored by the
    /// exact ratio (absorbing).
    Gtl,
    /// Scheduled GTL with first-order (Taylor) scores from the exact ratio's one-hot gradient.
    Taylor,
}

/// A sampling job with exact components.
#[derive(Clone, Debug)]
pub struct OracleSampling {
    /// The chain the exact denoiser denoises (the source when guided).
    pub chain: MarkovChain,
    /// The target of guided sampling.
    pub target: Option<MarkovChain>,
    /// The forward process.
    pub process: Process,
    /// The unguided sampler (its steps, t_end, order and batch size also drive the guided
    /// ones).
    pub sampler: SamplerConfig,
    /// Guidance.
    pub guidance: OracleGuidance,
    /// γ of guided sampling.
    pub gamma: f64,
    /// Candidates per step of gtl and taylor (`None`: every token).
    pub top_n: Option<usize>,
    /// Largest batch of candidate sequences per ratio call.
    pub chunk_rows: usize,
    /// Sequences drawn.
    pub samples: usize,
    /// Their length.
    pub length: usize,
    /// Seed of every draw.
    pub seed: u64,
}

impl OracleSampling {
    /// Checks everything before any sampling: lengths, counts, the sampler against the
    /// process, and that guidance and a target come together.
    pub fn validate(&self) -> Result<()> {
        if self.length == 0 || self.samples == 0 {
            return Err(ExperimentError::config(
                "length and samples must be at least 1",
            ));
        }
        match (self.guidance, &self.target) {
            (OracleGuidance::None, Some(_)) => {
                return Err(ExperimentError::config(
                    "a target chain without guidance would be ignored: choose a guidance or \
                     leave out the target",
                ));
            }
            (OracleGuidance::None, None) => {
                self.sampler.validate(&self.process)?;
            }
            (_, None) => {
                return Err(ExperimentError::config(format!(
                    "guidance {:?} needs a target chain",
                    self.guidance
                )));
            }
            (_, Some(target)) => {
                if target.num_states() != self.chain.num_states() {
                    return Err(ExperimentError::config(format!(
                        "the target chain has {} states, the source chain {}",
                        target.num_states(),
                        self.chain.num_states()
                    )));
                }
                GammaSchedule::Constant(self.gamma)
                    .validate("gamma")
                    .map_err(ExperimentError::from)?;
                MarkovLogRatio::new(self.chain.clone(), target.clone(), self.process)?
                    .require_source_support()?;
            }
        }
        Ok(())
    }

    /// The chain the samples should follow: the target when guided, else the chain.
    pub fn expected_chain(&self) -> &MarkovChain {
        match (&self.target, self.guidance) {
            (Some(target), g) if g != OracleGuidance::None => target,
            _ => &self.chain,
        }
    }

    /// Draws the samples on backend `B`.
    pub fn sample<B: Backend>(&self, device: &B::Device) -> Result<Samples> {
        self.validate()?;
        let denoiser = MarkovDenoiser::new(self.chain.clone(), self.process)?;
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let Some(target) = self
            .target
            .as_ref()
            .filter(|_| self.guidance != OracleGuidance::None)
        else {
            let sampler = self.sampler.build::<B>();
            return Ok(sampler.sample(
                &denoiser,
                &self.process,
                self.samples,
                self.length,
                device,
                &mut rng,
            )?);
        };
        let ratio = MarkovLogRatio::new(self.chain.clone(), target.clone(), self.process)?;
        let gamma = GammaSchedule::Constant(self.gamma);
        let guide = |scorer| Guide {
            denoiser: &denoiser,
            scorer,
            process: &self.process,
        };
        let exact: Scorer<B> = Scorer::Exact {
            ratio: &ratio,
            chunk_rows: self.chunk_rows,
        };
        let order = match self.sampler.order {
            Order::Random => PositionRule::Random,
            Order::Confidence(kind) => PositionRule::Confidence(kind),
        };
        let scheduled = ScheduledGtl {
            order,
            top_n: self.top_n,
            tail: Default::default(),
            gamma: gamma.clone(),
            batch_size: self.sampler.batch_size,
        };
        let (count, length) = (self.samples, self.length);
        Ok(match self.guidance {
            OracleGuidance::None => unreachable!("unguided jobs returned above"),
            OracleGuidance::Exact => ExactGuidance {
                steps: self.sampler.steps,
                t_end: self.sampler.t_end,
                gamma,
                batch_size: self.sampler.batch_size,
            }
            .sample(guide(exact), count, length, device, &mut rng)?,
            OracleGuidance::Gtl => {
                scheduled.sample(guide(exact), count, length, device, &mut rng)?
            }
            OracleGuidance::Taylor => scheduled.sample(
                guide(Scorer::Taylor(&ratio)),
                count,
                length,
                device,
                &mut rng,
            )?,
        })
    }

    /// Whether the guided samplers ignore [`SamplerConfig::kind`] (they fix their own rule).
    pub fn ignores_sampler_kind(&self) -> bool {
        self.guidance != OracleGuidance::None && self.sampler.kind != SamplerKind::Ancestral
    }
}

/// Samples checked against a chain by enumeration.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// Total variation of the samples' empirical distribution to the chain's.
    pub tv: f64,
    /// The 99th percentile of the same TV for as many exact samples.
    pub null_q99: f64,
    /// Chi-square goodness-of-fit p-value.
    pub chi_square_p: f64,
}

impl Check {
    /// Whether the samples are consistent with the chain (TV within the null's 99th
    /// percentile).
    pub fn consistent(&self) -> bool {
        self.tv <= self.null_q99
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TV to the chain {:.4} (99th percentile of exact-sample TV at this size: {:.4}) -> {}; chi-square p = {:.3}",
            self.tv,
            self.null_q99,
            if self.consistent() {
                "consistent"
            } else {
                "REJECTED"
            },
            self.chi_square_p
        )
    }
}

/// Whether every sequence of `length` tokens over `states` can be enumerated for a check
/// (`N^L` at most [`MAX_ENUMERATED`]).
pub fn check_enumerable(states: usize, length: usize) -> Result<()> {
    if (states as f64).powi(length.min(i32::MAX as usize) as i32) > MAX_ENUMERATED as f64 {
        return Err(ExperimentError::config(format!(
            "N^L = {states}^{length} sequences are too many to enumerate (at most \
             {MAX_ENUMERATED})"
        )));
    }
    Ok(())
}

/// Checks `samples` of `length` tokens against `chain` (200 null replicates seeded from
/// `seed`); fails when `N^L` is too large to enumerate.
pub fn check(chain: &MarkovChain, samples: &[Vec<u32>], length: usize, seed: u64) -> Result<Check> {
    check_enumerable(chain.num_states(), length)?;
    let tv = total_variation(samples, chain, length)?;
    let null_q99 = tv_null_quantile(chain, length, samples.len(), 200, 0.99, seed ^ 0x5eed)?;
    let chi = chi_square(samples, chain, length)?;
    Ok(Check {
        tv,
        null_q99,
        chi_square_p: chi.p_value,
    })
}

/// One sampler checked on one random chain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SamplerCheck {
    /// Dirichlet seed of the chain.
    pub chain_seed: u64,
    /// The process.
    pub process: crate::config::ProcessName,
    /// The sampler.
    pub sampler: SamplerKind,
    /// Steps taken (L for one-position sampling).
    pub steps: usize,
    /// The check against the chain.
    pub check: Check,
    /// Wall time of the sampling.
    pub seconds: f64,
}

/// One setting of [`check_samplers`]: a chain seed, a process, a sampler and its steps.
pub type SamplerSetting = (u64, crate::config::ProcessName, SamplerKind, usize);

/// Samples `samples` sequences of `length` tokens from a random Dirichlet chain of `states`
/// states (seed: the setting's) with each setting's sampler and the exact denoiser, and
/// checks them against the chain; `progress` hears each setting before it runs.
pub fn check_samplers<B: Backend>(
    settings: &[SamplerSetting],
    states: usize,
    length: usize,
    samples: usize,
    device: &B::Device,
    mut progress: impl FnMut(&str),
) -> Result<Vec<SamplerCheck>> {
    // Before any chain is built or any sample drawn: a check that cannot run is an error now.
    if states < 2 || length == 0 || samples == 0 {
        return Err(ExperimentError::config(
            "states must be at least 2, length and samples at least 1",
        ));
    }
    if states > crate::config::MAX_STATES {
        return Err(ExperimentError::config(format!(
            "states = {states}: must be at most {} (a chain stores N² probabilities)",
            crate::config::MAX_STATES
        )));
    }
    check_enumerable(states, length)?;
    let mut rows = Vec::new();
    for &(chain_seed, process, sampler, steps) in settings {
        progress(&format!("{process:?} {sampler:?} {steps} steps"));
        let chain = MarkovChain::dirichlet(states, 1.0, chain_seed)?;
        let job = OracleSampling {
            chain: chain.clone(),
            target: None,
            process: Process::new(process.kind(0.95), states, Default::default())?,
            sampler: SamplerConfig {
                kind: sampler,
                steps,
                batch_size: 1000,
                ..SamplerConfig::default()
            },
            guidance: OracleGuidance::None,
            gamma: 1.0,
            top_n: None,
            chunk_rows: 4096,
            samples,
            length,
            seed: chain_seed * 1000 + steps as u64,
        };
        let drawn = job.sample::<B>(device)?;
        rows.push(SamplerCheck {
            chain_seed,
            process,
            sampler,
            steps: if sampler == SamplerKind::OnePosition {
                length
            } else {
                steps
            },
            check: check(&chain, &drawn.tokens, length, chain_seed)?,
            seconds: drawn.stats.seconds,
        });
    }
    Ok(rows)
}

/// The checks as a table (CSV and Markdown).
pub fn check_table(rows: &[SamplerCheck]) -> gtl_eval::Table {
    let mut table = gtl_eval::Table::new([
        "chain_seed",
        "process",
        "sampler",
        "steps",
        "tv",
        "null_tv_q99",
        "chi_square_p",
        "seconds",
    ]);
    for r in rows {
        table.push([
            (r.chain_seed as usize).into(),
            serde_name(&r.process).into(),
            serde_name(&r.sampler).into(),
            r.steps.into(),
            r.check.tv.into(),
            r.check.null_q99.into(),
            r.check.chi_square_p.into(),
            r.seconds.into(),
        ]);
    }
    table
}
