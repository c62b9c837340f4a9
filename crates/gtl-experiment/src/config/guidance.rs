//! How every method draws its samples (the `[guidance]` section) and the position orders.

use burn::prelude::*;
use gtl_diffusion::sampler::{Confidence, Order};
use gtl_guidance::PositionRule;
use gtl_models::PositionNet;
use serde::{Deserialize, Serialize};

use crate::{ExperimentError, Result};

/// Which masked position one-position samplers reveal next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum PositionOrder {
    /// The learned planner of the source denoiser.
    Planner,
    /// Uniformly random masked position.
    Random,
    /// Highest denoiser max-probability.
    Confidence,
    /// Largest gap between the two most likely tokens.
    Margin,
    /// Lowest denoiser entropy.
    Entropy,
}

/// The orders that need no trained planner.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum UnguidedOrder {
    /// Uniformly random masked position.
    #[default]
    Random,
    /// Highest denoiser max-probability.
    Confidence,
    /// Largest gap between the two most likely tokens.
    Margin,
    /// Lowest denoiser entropy.
    Entropy,
}

impl UnguidedOrder {
    /// The order of gtl-diffusion's unguided one-position sampler.
    pub fn order(self) -> Order {
        match self {
            UnguidedOrder::Random => Order::Random,
            UnguidedOrder::Confidence => Order::Confidence(Confidence::MaxProb),
            UnguidedOrder::Margin => Order::Confidence(Confidence::Margin),
            UnguidedOrder::Entropy => Order::Confidence(Confidence::Entropy),
        }
    }

    /// The position rule of the guided samplers.
    pub fn rule<'a, B: Backend>(self) -> PositionRule<'a, B> {
        match self.order() {
            Order::Random => PositionRule::Random,
            Order::Confidence(kind) => PositionRule::Confidence(kind),
        }
    }
}

impl From<UnguidedOrder> for PositionOrder {
    fn from(order: UnguidedOrder) -> Self {
        match order {
            UnguidedOrder::Random => PositionOrder::Random,
            UnguidedOrder::Confidence => PositionOrder::Confidence,
            UnguidedOrder::Margin => PositionOrder::Margin,
            UnguidedOrder::Entropy => PositionOrder::Entropy,
        }
    }
}

impl PositionOrder {
    /// Whether the order needs the planner stage.
    pub fn needs_planner(self) -> bool {
        self == PositionOrder::Planner
    }

    /// The position rule; `planner` must be given for [`PositionOrder::Planner`].
    pub fn rule<'a, B: Backend>(
        self,
        planner: Option<&'a PositionNet<B>>,
    ) -> Result<PositionRule<'a, B>> {
        Ok(match self {
            PositionOrder::Planner => PositionRule::Planner(planner.ok_or_else(|| {
                ExperimentError::Missing("the planner order needs a trained planner".into())
            })?),
            PositionOrder::Random => UnguidedOrder::Random.rule(),
            PositionOrder::Confidence => UnguidedOrder::Confidence.rule(),
            PositionOrder::Margin => UnguidedOrder::Margin.rule(),
            PositionOrder::Entropy => UnguidedOrder::Entropy.rule(),
        })
    }
}

/// What scheduled GTL does with the tokens outside its top-n candidates
/// ([`gtl_guidance::CandidateTail`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum TailChoice {
    /// Draw among the candidates only (the reference's schedule; top-n truncation).
    #[default]
    Drop,
    /// Keep the other tokens at their unguided probabilities; guidance reweights the
    /// candidates within their own mass, so γ → 0 is the unguided sampler.
    Keep,
}

impl From<TailChoice> for gtl_guidance::CandidateTail {
    fn from(choice: TailChoice) -> Self {
        match choice {
            TailChoice::Drop => gtl_guidance::CandidateTail::Drop,
            TailChoice::Keep => gtl_guidance::CandidateTail::Keep,
        }
    }
}

/// How `fit_gamma` scores a γ.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum FitCriterion {
    /// The held-out log-likelihood of the guided one-position conditional on masked target
    /// validation sequences.
    #[default]
    Likelihood,
    /// gtl's own sampler draws `fit_samples` sequences at that γ; an n-gram model of them
    /// scores every target training and validation sequence.
    Samples,
}

/// How every method of an experiment draws its samples.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GuidanceSection {
    /// Guidance strength γ (≥ 0) of every guided sampler; 0 = unguided.
    pub gamma: f64,
    /// Candidates per step of scheduled GTL: the denoiser's top-n tokens (1..=N); 0 = all N.
    pub top_n: usize,
    /// What the tokens outside the top-n candidates get: "drop" (draw among the candidates
    /// only) or "keep" (their unguided probabilities).
    pub candidate_tail: TailChoice,
    /// Position order of scheduled GTL and of the unguided source samples.
    pub order: PositionOrder,
    /// Position order of the baselines' one-position samples (the planner is trained for the
    /// source denoiser, so it is not offered here).
    pub baseline_order: UnguidedOrder,
    /// Sequences drawn per method and setting (≥ 1).
    pub samples: usize,
    /// Sequences drawn together (≥ 1).
    pub batch_size: usize,
    /// Largest batch of candidate sequences per ratio call (≥ 1).
    pub chunk_rows: usize,
    /// Steps of the multi-position exact-guidance sampler (≥ 1).
    pub exact_steps: usize,
    /// Last time of the multi-position sampler's grid before its final step, in (0, 1).
    pub t_end: f64,
    /// Sequences the multi-position exact-guidance sampler draws (≥ 1); it costs `L·N` ratio
    /// passes per step.
    pub exact_samples: usize,
    /// Seed of every sampler (the same for every method: common random numbers).
    pub seed: u64,
    /// Choose γ of the learned-ratio samplers (gtl, exact-guidance) per setting from
    /// `gamma_grid` by `fit_criterion`; `gamma` then applies to the exact-ratio samplers only.
    pub fit_gamma: bool,
    /// How `fit_gamma` scores a γ.
    pub fit_criterion: FitCriterion,
    /// Sequences the "samples" criterion draws per γ (≥ 2).
    pub fit_samples: usize,
    /// Order of the "samples" criterion's n-gram model (1..=L).
    pub fit_order: usize,
    /// The candidates of `fit_gamma` (each finite, ≥ 0).
    pub gamma_grid: Vec<f64>,
    /// Masked validation sequences `fit_gamma` scores (≥ 1; spread over the split).
    pub fit_rows: usize,
    /// Equal bins of sampling progress with a γ each (1 = one constant γ); the learned
    /// ratio's bias depends on how many positions are still masked.
    pub fit_bins: usize,
}

impl Default for GuidanceSection {
    fn default() -> Self {
        GuidanceSection {
            gamma: 1.0,
            top_n: 0,
            candidate_tail: TailChoice::Drop,
            order: PositionOrder::Planner,
            baseline_order: UnguidedOrder::Random,
            samples: 1000,
            batch_size: 500,
            chunk_rows: 8192,
            exact_steps: 20,
            t_end: 1e-5,
            exact_samples: 500,
            seed: 7,
            fit_gamma: false,
            fit_criterion: FitCriterion::Likelihood,
            fit_samples: 100,
            fit_order: 2,
            gamma_grid: vec![0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0],
            fit_rows: 4000,
            fit_bins: 1,
        }
    }
}

impl GuidanceSection {
    /// Candidates per step of scheduled GTL (`None` = every token).
    pub fn candidates(&self) -> Option<usize> {
        (self.top_n > 0).then_some(self.top_n)
    }

    /// `candidate_tail` for cache keys: `None` when it cannot change the draw (every token is
    /// a candidate, or the default "drop"), so keys of runs made before the key existed stay
    /// valid.
    pub fn tail_for_key(&self) -> Option<TailChoice> {
        (self.top_n > 0 && self.candidate_tail != TailChoice::Drop).then_some(self.candidate_tail)
    }

    /// Range checks; `states` is N and `length` is L.
    pub fn validate(&self, states: usize, length: usize) -> Result<()> {
        let fail = |message: String| Err(ExperimentError::Config(message));
        if !(self.gamma >= 0.0 && self.gamma.is_finite()) {
            return fail(format!(
                "guidance.gamma = {}: must be a finite number ≥ 0",
                self.gamma
            ));
        }
        if self.gamma_grid.is_empty() {
            return fail("guidance.gamma_grid = []: name at least one γ".into());
        }
        if let Some(g) = self
            .gamma_grid
            .iter()
            .find(|g| !(**g >= 0.0 && g.is_finite()))
        {
            return fail(format!(
                "guidance.gamma_grid = {g}: every value must be a finite number ≥ 0"
            ));
        }
        if self.top_n > states {
            return fail(format!(
                "guidance.top_n = {}: must be in 0..={states} (0 = all N tokens)",
                self.top_n
            ));
        }
        if self.fit_criterion == FitCriterion::Samples && self.fit_bins != 1 {
            return fail(format!(
                "guidance.fit_bins = {}: the \"samples\" criterion fits one constant γ; set 1",
                self.fit_bins
            ));
        }
        if self.fit_samples < 2 {
            return fail(format!(
                "guidance.fit_samples = {}: must be at least 2",
                self.fit_samples
            ));
        }
        if self.fit_order == 0 || self.fit_order > length {
            return fail(format!(
                "guidance.fit_order = {}: must be in 1..={length} (data.length)",
                self.fit_order
            ));
        }
        if !(self.t_end > 0.0 && self.t_end < 1.0) {
            return fail(format!(
                "guidance.t_end = {}: must be in (0, 1)",
                self.t_end
            ));
        }
        for (key, value) in [
            ("samples", self.samples),
            ("batch_size", self.batch_size),
            ("chunk_rows", self.chunk_rows),
            ("exact_steps", self.exact_steps),
            ("exact_samples", self.exact_samples),
            ("fit_rows", self.fit_rows),
            ("fit_bins", self.fit_bins),
        ] {
            if value == 0 {
                return fail(format!("guidance.{key} = 0: must be at least 1"));
            }
        }
        Ok(())
    }
}
