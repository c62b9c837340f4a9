//! The network sections: process, denoiser, classifiers, ratio network, planner, baselines.

use gtl_classifier::{Balance, EstimatorKind, RatioConfig};
use gtl_diffusion::{Loss, Process, ProcessKind, Schedule};
use gtl_models::training::TrainingConfig;
use serde::{Deserialize, Serialize};

use super::model::{ModelSection, Preset};
use crate::{ExperimentError, Result};

/// The forward processes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum ProcessName {
    /// Masked diffusion.
    Absorbing,
    /// Uniform resampling.
    Uniform,
    /// Roulette: uniform resampling until absorbed by the mask (`mask_rate`).
    Roulette,
}

impl ProcessName {
    /// The name in configs and reports.
    pub fn name(self) -> &'static str {
        match self {
            ProcessName::Absorbing => "absorbing",
            ProcessName::Uniform => "uniform",
            ProcessName::Roulette => "roulette",
        }
    }

    /// The process kind, with `mask_rate` for roulette.
    pub fn kind(self, mask_rate: f64) -> ProcessKind {
        match self {
            ProcessName::Absorbing => ProcessKind::Absorbing,
            ProcessName::Uniform => ProcessKind::Uniform,
            ProcessName::Roulette => ProcessKind::Roulette { mask_rate },
        }
    }
}

/// The forward process (the `[process]` section).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessSection {
    /// Which process.
    pub kind: ProcessName,
    /// Roulette share of the rate to the mask, in (0, 1].
    #[serde(default = "default_mask_rate")]
    pub mask_rate: f64,
    /// Noise schedule (default log-linear, ε = 1e-3).
    #[serde(default)]
    pub schedule: Schedule,
}

fn default_mask_rate() -> f64 {
    0.95
}

impl ProcessSection {
    /// The validated process over `states` real tokens.
    pub fn build(&self, states: usize) -> Result<Process> {
        Process::new(self.kind.kind(self.mask_rate), states, self.schedule)
            .map_err(|e| ExperimentError::from(e).under("process"))
    }
}

/// The source denoiser (the `[denoiser]` section).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenoiserSection {
    /// Network size.
    pub model: ModelSection,
    /// "mdlm-nelbo" (absorbing), "cedd", "cedd-star" or "score-entropy".
    pub loss: Loss,
    /// Optimisation.
    pub training: TrainingConfig,
}

/// The clean domain classifier `c(x_0)` and the noisy one `d(z_t, t)` (MATH.md §5).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierSection {
    /// "balanced" batches or "prior-correction" (natural proportions, logit shifted by
    /// log(n_T/n_S)); the noisy classifier always uses balanced batches.
    #[serde(default)]
    pub balance: Balance,
    /// Label smoothing ε in [0, 0.5): labels ε and 1 - ε.
    #[serde(default)]
    pub label_smoothing: f64,
    /// Network size (the clean classifier ignores `time_conditioning`: it sees clean data).
    #[serde(default = "small_rotary")]
    pub model: ModelSection,
    /// Optimisation, shared by both classifiers.
    #[serde(default = "default_auxiliary_training")]
    pub training: TrainingConfig,
}

impl Default for ClassifierSection {
    fn default() -> Self {
        ClassifierSection {
            balance: Balance::default(),
            label_smoothing: 0.0,
            model: small_rotary(),
            training: default_auxiliary_training(),
        }
    }
}

impl ClassifierSection {
    /// The options shared with the ratio stage, as gtl-classifier takes them.
    pub fn ratio_config(&self, ratio: &RatioSection) -> RatioConfig {
        RatioConfig {
            estimator: ratio.estimator,
            cycle_weight: ratio.cycle_weight,
            balance: self.balance,
            label_smoothing: self.label_smoothing,
        }
    }
}

/// The noisy ratio network and how it is trained (the `[ratio]` section).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RatioSection {
    /// "log-r" (regress onto the classifier's log r), "r" (onto r) or "noisy-classifier"
    /// (the noisy classifier's logit is the estimate; nothing more is trained).
    #[serde(default = "default_estimator")]
    pub estimator: EstimatorKind,
    /// Weight η of the cycle term (MSE to the noisy classifier on noised target data); 0 = off.
    #[serde(default = "default_cycle_weight")]
    pub cycle_weight: f64,
    /// Network size.
    #[serde(default = "small_rotary")]
    pub model: ModelSection,
    /// Optimisation.
    #[serde(default = "default_auxiliary_training")]
    pub training: TrainingConfig,
}

impl Default for RatioSection {
    fn default() -> Self {
        RatioSection {
            estimator: default_estimator(),
            cycle_weight: default_cycle_weight(),
            model: small_rotary(),
            training: default_auxiliary_training(),
        }
    }
}

impl RatioSection {
    /// Whether the estimator needs the clean classifier (the regressions do).
    pub fn needs_clean_classifier(&self) -> bool {
        self.estimator.regression().is_some()
    }
}

fn default_estimator() -> EstimatorKind {
    RatioConfig::default().estimator
}

fn default_cycle_weight() -> f64 {
    RatioConfig::default().cycle_weight
}

fn small_rotary() -> ModelSection {
    ModelSection::rotary(Preset::Small)
}

fn default_auxiliary_training() -> TrainingConfig {
    TrainingConfig {
        steps: 1000,
        batch_size: 128,
        learning_rate: 1e-3,
        ..TrainingConfig::default()
    }
}

/// The planner: a per-position head trained against the frozen source denoiser.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannerSection {
    /// Network size.
    #[serde(default = "small_rotary")]
    pub model: ModelSection,
    /// Optimisation.
    #[serde(default = "default_auxiliary_training")]
    pub training: TrainingConfig,
}

impl Default for PlannerSection {
    fn default() -> Self {
        PlannerSection {
            model: small_rotary(),
            training: default_auxiliary_training(),
        }
    }
}

/// The fine-tuning baselines (target-only, full, last blocks, LoRA), trained on the target
/// data with the denoiser's loss.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinetuneSection {
    /// Blocks (from the output) that partial fine-tuning trains, with the final norm and head.
    #[serde(default = "default_last_blocks")]
    pub last_blocks: usize,
    /// Rank of the low-rank adapters (LoRA) on every attention and MLP weight (≥ 1).
    #[serde(default = "default_lora_rank")]
    pub lora_rank: usize,
    /// Scale numerator of the adapters: the update is `(lora_alpha / lora_rank) · x A B` (> 0).
    #[serde(default = "default_lora_alpha")]
    pub lora_alpha: f64,
    /// Keep the weights of the best validation (early stopping) rather than the last ones.
    #[serde(default = "default_keep_best")]
    pub keep_best: bool,
    /// The learning rates each baseline is trained with; the one with the lowest validation
    /// NELBO on the target validation split is kept. Empty: `training.learning_rate` alone.
    #[serde(default)]
    pub learning_rates: Vec<f64>,
    /// Output layers a baseline that starts from the source denoiser tries (each with every
    /// learning rate): `source` keeps the source's final norm and head, `fresh` draws new ones
    /// (seeded). Ignored by target-only (always fresh) and LoRA (its head stays frozen).
    #[serde(default = "default_heads")]
    pub heads: Vec<HeadStart>,
    /// Optimisation of every baseline (early stopping on the target validation split when
    /// `patience > 0`).
    #[serde(default = "default_auxiliary_training")]
    pub training: TrainingConfig,
    /// Target-only training's own budget (`[finetune.target_only]`); absent: `learning_rates`
    /// and `training` above. A fresh network often wants other learning rates and more steps
    /// than fine-tuning a trained one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_only: Option<TargetOnlySection>,
}

/// Target-only training's own learning rates and optimisation (`[finetune.target_only]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetOnlySection {
    /// The learning rates tried; the one with the lowest validation NELBO on the target
    /// validation split is kept. Empty: `training.learning_rate` alone.
    #[serde(default)]
    pub learning_rates: Vec<f64>,
    /// Optimisation (early stopping on the target validation split when `patience > 0`).
    pub training: TrainingConfig,
}

fn default_last_blocks() -> usize {
    1
}

fn default_lora_rank() -> usize {
    4
}

fn default_lora_alpha() -> f64 {
    8.0
}

fn default_keep_best() -> bool {
    true
}

fn default_heads() -> Vec<HeadStart> {
    vec![HeadStart::Source]
}

/// Where a fine-tuned baseline's final norm and output head start (`finetune.heads`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HeadStart {
    /// The source denoiser's.
    Source,
    /// Freshly drawn (the standard remedy for a pretrained network stuck on a new task).
    Fresh,
}

impl HeadStart {
    /// The name in configs and reports.
    pub fn name(self) -> &'static str {
        match self {
            HeadStart::Source => "source",
            HeadStart::Fresh => "fresh",
        }
    }
}

impl Default for FinetuneSection {
    fn default() -> Self {
        FinetuneSection {
            last_blocks: default_last_blocks(),
            lora_rank: default_lora_rank(),
            lora_alpha: default_lora_alpha(),
            keep_best: default_keep_best(),
            learning_rates: Vec::new(),
            heads: default_heads(),
            training: default_auxiliary_training(),
            target_only: None,
        }
    }
}

impl FinetuneSection {
    /// Range checks; `blocks` is the denoiser's number of blocks.
    pub fn validate(&self, blocks: usize) -> Result<()> {
        if self.last_blocks == 0 || self.last_blocks > blocks {
            return Err(ExperimentError::config(format!(
                "finetune.last_blocks = {}: must be in 1..={blocks} (the denoiser's blocks)",
                self.last_blocks
            )));
        }
        if self.lora_rank == 0 {
            return Err(ExperimentError::config(
                "finetune.lora_rank = 0: must be at least 1",
            ));
        }
        if !(self.lora_alpha > 0.0 && self.lora_alpha.is_finite()) {
            return Err(ExperimentError::config(format!(
                "finetune.lora_alpha = {}: must be a finite number > 0",
                self.lora_alpha
            )));
        }
        validate_rates(&self.learning_rates, "finetune.learning_rates")?;
        if self.heads.is_empty() {
            return Err(ExperimentError::config(
                "finetune.heads: must list at least one of \"source\", \"fresh\"",
            ));
        }
        if first_repeat(&self.heads).is_some() {
            return Err(ExperimentError::config(
                "finetune.heads: a head is listed twice",
            ));
        }
        if self.searches() && self.training.validate_every == 0 {
            return Err(ExperimentError::config(
                "finetune.training.validate_every = 0: choosing among several learning rates \
                 or heads needs validation (at least 1)",
            ));
        }
        validate_training(&self.training, "finetune.training")?;
        if let Some(own) = &self.target_only {
            validate_rates(&own.learning_rates, "finetune.target_only.learning_rates")?;
            if own.learning_rates.len() > 1 && own.training.validate_every == 0 {
                return Err(ExperimentError::config(
                    "finetune.target_only.training.validate_every = 0: choosing among several \
                     learning rates needs validation (at least 1)",
                ));
            }
            validate_training(&own.training, "finetune.target_only.training")?;
        }
        Ok(())
    }

    /// The learning rates `method` tries: its `learning_rates`, or its training's
    /// `learning_rate` alone (target-only's own when `[finetune.target_only]` is set).
    pub fn learning_rates(&self, method: gtl_finetune::Method) -> Vec<f64> {
        let rates = self
            .own_section(method)
            .map_or(&self.learning_rates, |own| &own.learning_rates);
        if rates.is_empty() {
            vec![self.training(method).learning_rate]
        } else {
            rates.clone()
        }
    }

    /// The optimisation `method` trains with: `training`, or target-only's own.
    pub fn training(&self, method: gtl_finetune::Method) -> &TrainingConfig {
        self.own_section(method)
            .map_or(&self.training, |own| &own.training)
    }

    /// `[finetune.target_only]` when it is set and `method` is target-only.
    fn own_section(&self, method: gtl_finetune::Method) -> Option<&TargetOnlySection> {
        match method {
            gtl_finetune::Method::TargetOnly => self.target_only.as_ref(),
            _ => None,
        }
    }

    /// Whether the baselines that start from the source choose among several settings.
    pub fn searches(&self) -> bool {
        self.learning_rates.len() > 1 || self.heads.len() > 1
    }
}

/// Checks a list of learning rates named `key`: each in (0, 1], none twice.
fn validate_rates(rates: &[f64], key: &str) -> Result<()> {
    if let Some(bad) = rates.iter().find(|&&lr| !(lr > 0.0 && lr <= 1.0)) {
        return Err(ExperimentError::config(format!(
            "{key}: {bad} is not in (0, 1]"
        )));
    }
    if first_repeat(rates).is_some() {
        return Err(ExperimentError::config(format!(
            "{key}: a learning rate is listed twice"
        )));
    }
    Ok(())
}

/// The first item of `items` that an earlier one equals.
pub(crate) fn first_repeat<T: PartialEq>(items: &[T]) -> Option<&T> {
    items
        .iter()
        .enumerate()
        .find(|(i, item)| items[..*i].contains(item))
        .map(|(_, item)| item)
}

/// Checks a training section, naming its keys under `section`.
pub fn validate_training(training: &TrainingConfig, section: &str) -> Result<()> {
    training
        .validate(section)
        .map_err(|e| ExperimentError::config(e.to_string()))
}
