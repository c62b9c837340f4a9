//! Experiment configuration: one TOML file, unknown keys rejected, every value range-checked
//! with a one-line error that names the key. Reference: docs/configuration.md.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use gtl_classifier::{Balance, EstimatorKind, RatioConfig};
use gtl_diffusion::{Loss, Process, ProcessKind, Schedule};
use gtl_markov::MarkovChain;
use gtl_models::training::TrainingConfig;
use gtl_models::{Positions, TrunkConfig};
use serde::{Deserialize, Serialize};

/// A whole experiment.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig {
    /// Run name: artefacts go to `runs/<name>/`.
    pub name: String,
    /// Seed of the data sets.
    #[serde(default)]
    pub seed: u64,
    /// The Markov-chain transfer task.
    pub data: MarkovData,
    /// The forward process.
    pub process: ProcessSection,
    /// The source denoiser.
    pub denoiser: DenoiserSection,
    /// The clean and noisy domain classifiers.
    #[serde(default)]
    pub classifier: ClassifierSection,
    /// The noisy ratio network `log r_φ(z_t, t)`.
    #[serde(default)]
    pub ratio: RatioSection,
    /// The planner of scheduled GTL (absorbing process).
    #[serde(default)]
    pub planner: PlannerSection,
    /// The fine-tuning baselines.
    #[serde(default)]
    pub finetune: FinetuneSection,
    /// The samplers of `cargo xtask experiment` (guided and unguided).
    #[serde(default)]
    pub guidance: GuidanceSection,
    /// What `cargo xtask experiment` runs.
    #[serde(default)]
    pub experiment: ExperimentSection,
    /// The grid of `cargo xtask sweep`.
    #[serde(default)]
    pub sweep: SweepSection,
}

/// How every method of an experiment draws its samples.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GuidanceSection {
    /// Guidance strength γ (≥ 0) of every guided sampler; 0 = unguided.
    pub gamma: f64,
    /// Candidates per step of scheduled GTL: the denoiser's top-n tokens (1..=N); 0 = all N.
    pub top_n: usize,
    /// Position order of scheduled GTL and of the unguided source samples: "planner",
    /// "random", "confidence", "margin" or "entropy".
    pub order: String,
    /// Position order of the baselines' one-position samples (not "planner": the planner is
    /// trained for the source denoiser).
    pub baseline_order: String,
    /// Sequences drawn per method and setting (≥ 1).
    pub samples: usize,
    /// Sequences drawn together (≥ 1).
    pub batch_size: usize,
    /// Largest batch of candidate sequences per ratio call (≥ 1).
    pub chunk_rows: usize,
    /// Steps of the multi-position exact-guidance sampler (≥ 1).
    pub exact_steps: usize,
    /// Sequences the multi-position exact-guidance sampler draws (≥ 1); it costs
    /// `L·N` ratio passes per step.
    pub exact_samples: usize,
    /// Seed of every sampler (the same for every method: common random numbers).
    pub seed: u64,
    /// Choose γ of the learned-ratio samplers (gtl, exact-guidance) per setting from
    /// `gamma_grid` by `fit_criterion`; `gamma` then applies to the exact-ratio samplers only.
    pub fit_gamma: bool,
    /// How `fit_gamma` scores a γ: "likelihood" (the held-out log-likelihood of the guided
    /// one-position conditional on masked target validation sequences) or "samples" (gtl's
    /// own sampler draws `fit_samples` sequences at that γ; an n-gram model of them scores
    /// every target training and validation sequence; higher is better).
    pub fit_criterion: String,
    /// Sequences the "samples" criterion draws per γ (≥ 2).
    pub fit_samples: usize,
    /// Order of the "samples" criterion's n-gram model (1..=data.length).
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
            order: "planner".into(),
            baseline_order: "random".into(),
            samples: 1000,
            batch_size: 500,
            chunk_rows: 8192,
            exact_steps: 20,
            exact_samples: 500,
            seed: 7,
            fit_gamma: false,
            fit_criterion: "likelihood".into(),
            fit_samples: 100,
            fit_order: 2,
            gamma_grid: vec![0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0],
            fit_rows: 4000,
            fit_bins: 1,
        }
    }
}

/// The criteria `guidance.fit_criterion` accepts.
pub const FIT_CRITERIA: [&str; 2] = ["likelihood", "samples"];

/// The orders `guidance.order` accepts.
pub const ORDERS: [&str; 5] = ["planner", "random", "confidence", "margin", "entropy"];

impl GuidanceSection {
    /// Range checks; `states` is N and `length` is L.
    pub fn validate(&self, states: usize, length: usize) -> Result<()> {
        if !(self.gamma >= 0.0 && self.gamma.is_finite()) {
            bail!(
                "guidance.gamma = {}: must be a finite number ≥ 0",
                self.gamma
            );
        }
        if self.gamma_grid.is_empty() {
            bail!("guidance.gamma_grid = []: name at least one γ");
        }
        if let Some(g) = self
            .gamma_grid
            .iter()
            .find(|g| !(**g >= 0.0 && g.is_finite()))
        {
            bail!("guidance.gamma_grid = {g}: every value must be a finite number ≥ 0");
        }
        if self.top_n > states {
            bail!(
                "guidance.top_n = {}: must be in 0..={states} (0 = all N tokens)",
                self.top_n
            );
        }
        if !ORDERS.contains(&self.order.as_str()) {
            bail!(
                "guidance.order = {:?}: must be one of {ORDERS:?}",
                self.order
            );
        }
        if self.baseline_order == "planner" || !ORDERS.contains(&self.baseline_order.as_str()) {
            bail!(
                "guidance.baseline_order = {:?}: must be one of {:?}",
                self.baseline_order,
                &ORDERS[1..]
            );
        }
        if !FIT_CRITERIA.contains(&self.fit_criterion.as_str()) {
            bail!(
                "guidance.fit_criterion = {:?}: must be one of {FIT_CRITERIA:?}",
                self.fit_criterion
            );
        }
        if self.fit_criterion == "samples" && self.fit_bins != 1 {
            bail!(
                "guidance.fit_bins = {}: the \"samples\" criterion fits one constant γ; set 1",
                self.fit_bins
            );
        }
        if self.fit_samples < 2 {
            bail!(
                "guidance.fit_samples = {}: must be at least 2",
                self.fit_samples
            );
        }
        if self.fit_order == 0 || self.fit_order > length {
            bail!(
                "guidance.fit_order = {}: must be in 1..={length} (data.length)",
                self.fit_order
            );
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
                bail!("guidance.{key} = 0: must be at least 1");
            }
        }
        Ok(())
    }
}

/// The methods an experiment compares (ARCHITECTURE.md; docs/experiment.md).
pub const METHODS: [&str; 9] = [
    "source",
    "target-only",
    "full-finetune",
    "last-blocks",
    "lora",
    "gtl",
    "gtl-exact-ratio",
    "gtl-oracles",
    "exact-guidance",
];

/// What `cargo xtask experiment` runs.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ExperimentSection {
    /// Target data set sizes (each ≥ 2); `data.target_size` is ignored by the experiment.
    pub target_sizes: Vec<usize>,
    /// Methods compared (names from METHODS), in report order.
    pub methods: Vec<String>,
}

impl Default for ExperimentSection {
    fn default() -> Self {
        ExperimentSection {
            target_sizes: vec![20, 100, 1000],
            methods: METHODS.iter().map(|m| m.to_string()).collect(),
        }
    }
}

/// The grid of `cargo xtask sweep`: each axis is varied on its own around the base config
/// (the other keys at their base values); the target-size axis runs every method.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SweepSection {
    /// Target data set sizes, every method at each.
    pub target_sizes: Vec<usize>,
    /// Target diagonals (the target chain becomes `diagonal` with this value).
    pub target_diag: Vec<f64>,
    /// Mixture weights w: target = (1 - w)·source + w·target (w = 1 is the base target).
    pub mixture: Vec<f64>,
    /// Target-only state counts (with `extra_mass`).
    pub extra_states: Vec<usize>,
    /// Probability of moving into the target-only states, in (0, 1].
    pub extra_mass: f64,
    /// Guidance strengths γ of the GTL samplers (no retraining).
    pub gamma: Vec<f64>,
    /// Candidate counts n of scheduled GTL (no retraining).
    pub top_n: Vec<usize>,
    /// Methods of the overlap, γ and top-n axes.
    pub methods: Vec<String>,
}

impl Default for SweepSection {
    fn default() -> Self {
        SweepSection {
            target_sizes: vec![20, 100, 1000, 5000],
            target_diag: vec![0.3, 0.5],
            mixture: vec![0.25, 0.5],
            extra_states: vec![1, 2],
            extra_mass: 0.3,
            gamma: vec![0.0, 1.0, 2.0, 3.0, 5.0],
            top_n: vec![1, 2, 3, 5],
            methods: [
                "source",
                "full-finetune",
                "gtl",
                "gtl-exact-ratio",
                "gtl-oracles",
            ]
            .iter()
            .map(|m| m.to_string())
            .collect(),
        }
    }
}

fn check_methods(key: &str, methods: &[String]) -> Result<()> {
    if methods.is_empty() {
        bail!("{key} = []: name at least one of {METHODS:?}");
    }
    for (index, method) in methods.iter().enumerate() {
        if !METHODS.contains(&method.as_str()) {
            bail!("{key} = {method:?}: must be one of {METHODS:?}");
        }
        if methods[..index].contains(method) {
            bail!("{key}: {method:?} is listed twice");
        }
    }
    Ok(())
}

fn check_sizes(key: &str, sizes: &[usize], validation_fraction: f64) -> Result<()> {
    if sizes.is_empty() {
        bail!("{key} = []: name at least one target size");
    }
    for &size in sizes {
        let held_out = (size as f64 * validation_fraction).round() as usize;
        if size < 2 || held_out == 0 || held_out == size {
            bail!(
                "{key} = {size}: too small to hold out data.validation_fraction = \
                 {validation_fraction} for validation"
            );
        }
    }
    Ok(())
}

/// The fine-tuning baselines (target-only, full, last blocks), trained on the target data
/// with the denoiser's loss.
#[derive(Clone, Debug, Serialize, Deserialize)]
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
    /// Optimisation of every baseline (early stopping on the target validation split when
    /// `patience > 0`).
    #[serde(default = "default_classifier_training")]
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

impl Default for FinetuneSection {
    fn default() -> Self {
        FinetuneSection {
            last_blocks: default_last_blocks(),
            lora_rank: default_lora_rank(),
            lora_alpha: default_lora_alpha(),
            keep_best: default_keep_best(),
            training: default_classifier_training(),
        }
    }
}

/// The planner: a per-position head trained against the frozen source denoiser.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannerSection {
    /// Network size.
    #[serde(default = "default_classifier_model")]
    pub model: ModelSection,
    /// Optimisation.
    #[serde(default = "default_classifier_training")]
    pub training: TrainingConfig,
}

impl Default for PlannerSection {
    fn default() -> Self {
        PlannerSection {
            model: default_classifier_model(),
            training: default_classifier_training(),
        }
    }
}

/// Source and target chains and data set sizes.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkovData {
    /// Number of states N.
    pub states: usize,
    /// Sequence length L.
    pub length: usize,
    /// The source chain.
    pub source: ChainSpec,
    /// The target chain.
    pub target: ChainSpec,
    /// Source sequences (training + validation).
    pub source_size: usize,
    /// Target sequences (training + validation).
    pub target_size: usize,
    /// Share of each data set held out for validation, in (0, 0.5].
    #[serde(default = "default_validation_fraction")]
    pub validation_fraction: f64,
    /// Fresh sequences per chain for evaluation.
    #[serde(default = "default_test_size")]
    pub test_size: usize,
    /// Target-only states (poor overlap): the target chain gains this many states that the
    /// source never visits (MarkovChain::with_extra_states / pad_states).
    #[serde(default)]
    pub extra_target_states: usize,
    /// Probability with which each original target state moves into the extra states, in
    /// (0, 1] when `extra_target_states > 0`, else 0.
    #[serde(default)]
    pub extra_target_mass: f64,
}

impl MarkovData {
    /// States of both chains: `states` plus the target-only ones.
    pub fn num_states(&self) -> usize {
        self.states + self.extra_target_states
    }

    /// The source and target chains over [`num_states`](Self::num_states) states.
    pub fn chains(&self) -> Result<(MarkovChain, MarkovChain)> {
        let source = self.source.build(self.states, "data.source")?;
        let target = self.target.build(self.states, "data.target")?;
        if self.extra_target_states == 0 {
            return Ok((source, target));
        }
        Ok((
            source.pad_states(self.num_states())?,
            target
                .with_extra_states(self.extra_target_states, self.extra_target_mass)
                .context("data.extra_target_mass")?,
        ))
    }
}

fn default_validation_fraction() -> f64 {
    0.1
}

fn default_test_size() -> usize {
    2000
}

/// A chain from a family or a JSON file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "family", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ChainSpec {
    /// `d` on the diagonal, uniform off it.
    Diagonal {
        /// Diagonal probability in [0, 1].
        diag: f64,
    },
    /// Initial distribution and rows from Dirichlet(alpha).
    Dirichlet {
        /// Concentration > 0.
        alpha: f64,
        /// Seed.
        seed: u64,
    },
    /// A chain saved by `cargo xtask markov-chain`.
    File {
        /// Path of the JSON file (relative to the working directory).
        path: PathBuf,
    },
    /// `(1 - weight)·a + weight·b`, entry by entry (the overlap knob of the sweeps).
    Mixture {
        /// Weight of `b`, in [0, 1].
        weight: f64,
        /// First component.
        a: Box<ChainSpec>,
        /// Second component.
        b: Box<ChainSpec>,
    },
}

impl ChainSpec {
    /// Builds the chain; `key` names it in errors.
    pub fn build(&self, states: usize, key: &str) -> Result<MarkovChain> {
        let chain = match self {
            ChainSpec::Diagonal { diag } => MarkovChain::diagonal(states, *diag),
            ChainSpec::Dirichlet { alpha, seed } => MarkovChain::dirichlet(states, *alpha, *seed),
            ChainSpec::File { path } => MarkovChain::load_json(path),
            ChainSpec::Mixture { weight, a, b } => {
                if !(0.0..=1.0).contains(weight) {
                    bail!("{key}.weight = {weight}: must be in [0, 1]");
                }
                let a = a.build(states, &format!("{key}.a"))?;
                let b = b.build(states, &format!("{key}.b"))?;
                MarkovChain::mixture(&a, &b, *weight)
            }
        }
        .with_context(|| key.to_string())?;
        if chain.num_states() != states {
            bail!(
                "{key}: the chain has {} states, data.states = {states}",
                chain.num_states()
            );
        }
        Ok(chain)
    }
}

/// The forward process.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessSection {
    /// "absorbing", "uniform" or "roulette".
    pub kind: String,
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
    /// The validated process over `states` tokens.
    pub fn build(&self, states: usize) -> Result<Process> {
        let kind = match self.kind.as_str() {
            "absorbing" => ProcessKind::Absorbing,
            "uniform" => ProcessKind::Uniform,
            "roulette" => ProcessKind::Roulette {
                mask_rate: self.mask_rate,
            },
            other => bail!(
                "process.kind = {other:?}: must be one of \"absorbing\", \"uniform\", \"roulette\""
            ),
        };
        Ok(Process::new(kind, states, self.schedule)?)
    }
}

/// Network size: a preset and optional overrides.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// "tiny", "small", "reference" or "reference-ratio".
    pub preset: String,
    /// Overrides of the preset.
    pub d_model: Option<usize>,
    /// Attention heads.
    pub num_heads: Option<usize>,
    /// Transformer blocks.
    pub num_blocks: Option<usize>,
    /// MLP hidden width.
    pub mlp_hidden: Option<usize>,
    /// Dropout in [0, 1).
    pub dropout: Option<f64>,
    /// Condition on t (adaLN-zero).
    pub time_conditioning: Option<bool>,
    /// "learned" or "rotary".
    pub positions: Option<String>,
    /// Attention reach in positions (0: every position; `TrunkConfig::attention_window`).
    pub attention_window: Option<usize>,
    /// Pooling of the scalar heads (classifiers, ratio network): "mean" (default) or
    /// "sum"; not accepted in the denoiser and planner sections.
    pub pooling: Option<String>,
}

impl ModelSection {
    /// Whether the scalar head sums over positions; errors name `section`.
    pub fn sum_pooling(&self, section: &str) -> Result<bool> {
        match self.pooling.as_deref() {
            None | Some("mean") => Ok(false),
            Some("sum") => Ok(true),
            Some(other) => bail!("{section}.pooling = {other:?}: must be \"mean\" or \"sum\""),
        }
    }

    /// The trunk configuration, validated, with keys named under `section`.
    pub fn trunk(
        &self,
        vocab_size: usize,
        max_length: usize,
        section: &str,
    ) -> Result<TrunkConfig> {
        let mut trunk = TrunkConfig::preset(&self.preset, vocab_size, max_length).map_err(|e| {
            anyhow::anyhow!(e.to_string().replace("model.", &format!("{section}.")))
        })?;
        if let Some(v) = self.d_model {
            trunk.d_model = v;
        }
        if let Some(v) = self.num_heads {
            trunk.num_heads = v;
        }
        if let Some(v) = self.num_blocks {
            trunk.num_blocks = v;
        }
        if let Some(v) = self.mlp_hidden {
            trunk.mlp_hidden = v;
        }
        if let Some(v) = self.dropout {
            trunk.dropout = v;
        }
        if let Some(v) = self.time_conditioning {
            trunk.time_conditioning = v;
        }
        if let Some(v) = self.attention_window {
            trunk.attention_window = v;
        }
        if let Some(p) = &self.positions {
            trunk.positions = match p.as_str() {
                "learned" => Positions::Learned,
                "rotary" => Positions::Rotary,
                other => {
                    bail!("{section}.positions = {other:?}: must be \"learned\" or \"rotary\"")
                }
            };
        }
        trunk.validate_section(section)?;
        Ok(trunk)
    }
}

/// The source denoiser stage.
#[derive(Clone, Debug, Serialize, Deserialize)]
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
#[derive(Clone, Debug, Serialize, Deserialize)]
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
    #[serde(default = "default_classifier_model")]
    pub model: ModelSection,
    /// Optimisation, shared by both classifiers.
    #[serde(default = "default_classifier_training")]
    pub training: TrainingConfig,
}

impl Default for ClassifierSection {
    fn default() -> Self {
        ClassifierSection {
            balance: Balance::default(),
            label_smoothing: 0.0,
            model: default_classifier_model(),
            training: default_classifier_training(),
        }
    }
}

/// The noisy ratio network and how it is trained.
#[derive(Clone, Debug, Serialize, Deserialize)]
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
    #[serde(default = "default_ratio_model")]
    pub model: ModelSection,
    /// Optimisation.
    #[serde(default = "default_ratio_training")]
    pub training: TrainingConfig,
}

impl Default for RatioSection {
    fn default() -> Self {
        RatioSection {
            estimator: default_estimator(),
            cycle_weight: default_cycle_weight(),
            model: default_ratio_model(),
            training: default_ratio_training(),
        }
    }
}

fn default_estimator() -> EstimatorKind {
    RatioConfig::default().estimator
}

fn default_cycle_weight() -> f64 {
    RatioConfig::default().cycle_weight
}

fn small_rotary() -> ModelSection {
    ModelSection {
        preset: "small".into(),
        positions: Some("rotary".into()),
        ..ModelSection::default()
    }
}

fn default_classifier_model() -> ModelSection {
    small_rotary()
}

fn default_ratio_model() -> ModelSection {
    small_rotary()
}

fn default_classifier_training() -> TrainingConfig {
    TrainingConfig {
        steps: 1000,
        batch_size: 128,
        learning_rate: 1e-3,
        ..TrainingConfig::default()
    }
}

fn default_ratio_training() -> TrainingConfig {
    default_classifier_training()
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

impl ExperimentConfig {
    /// The forward process over the data's states.
    pub fn process(&self) -> Result<Process> {
        self.process.build(self.data.num_states())
    }

    /// Reads and validates a TOML file.
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    /// Parses and validates TOML text.
    pub fn parse(text: &str) -> Result<Self> {
        let config: ExperimentConfig = toml::from_str(text).map_err(|e| {
            anyhow::anyhow!("{}", e.message().trim()).context(describe_toml_error(&e, text))
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Range checks of every key.
    pub fn validate(&self) -> Result<()> {
        if self.name.is_empty() || self.name.contains(['/', '\\']) || self.name.starts_with('.') {
            bail!(
                "name = {:?}: must be a non-empty file name (no '/', not starting with '.')",
                self.name
            );
        }
        let d = &self.data;
        if d.states < 2 {
            bail!("data.states = {}: must be at least 2", d.states);
        }
        if d.length == 0 {
            bail!("data.length = 0: must be at least 1");
        }
        if !(d.validation_fraction > 0.0 && d.validation_fraction <= 0.5) {
            bail!(
                "data.validation_fraction = {}: must be in (0, 0.5]",
                d.validation_fraction
            );
        }
        for (key, size) in [
            ("data.source_size", d.source_size),
            ("data.target_size", d.target_size),
            ("data.test_size", d.test_size),
        ] {
            let held_out = (size as f64 * d.validation_fraction).round() as usize;
            if size < 2 || held_out == 0 || held_out == size {
                bail!(
                    "{key} = {size}: too small to hold out data.validation_fraction = {} for validation",
                    d.validation_fraction
                );
            }
        }
        if d.extra_target_states == 0 && d.extra_target_mass != 0.0 {
            bail!(
                "data.extra_target_mass = {}: must be 0 when data.extra_target_states = 0",
                d.extra_target_mass
            );
        }
        if d.extra_target_states > 0 && !(d.extra_target_mass > 0.0 && d.extra_target_mass <= 1.0) {
            bail!(
                "data.extra_target_mass = {}: must be in (0, 1] when data.extra_target_states > 0",
                d.extra_target_mass
            );
        }
        d.chains()?;
        let process = self.process()?;
        self.denoiser
            .model
            .trunk(process.num_states(), d.length, "denoiser.model")?;
        self.denoiser
            .loss
            .check(&process)
            .context("denoiser.loss")?;
        self.denoiser.training.validate("denoiser.training")?;
        self.classifier
            .model
            .trunk(process.num_states(), d.length, "classifier.model")?;
        self.classifier.training.validate("classifier.training")?;
        self.ratio
            .model
            .trunk(process.num_states(), d.length, "ratio.model")?;
        self.ratio.training.validate("ratio.training")?;
        self.planner
            .model
            .trunk(process.num_states(), d.length, "planner.model")?;
        self.planner.training.validate("planner.training")?;
        for (section, model) in [
            ("denoiser.model", &self.denoiser.model),
            ("planner.model", &self.planner.model),
        ] {
            if let Some(pooling) = &model.pooling {
                bail!(
                    "{section}.pooling = {pooling:?}: only the classifier and ratio networks \
                     pool (their sections take the key)"
                );
            }
        }
        self.classifier.model.sum_pooling("classifier.model")?;
        self.ratio.model.sum_pooling("ratio.model")?;
        let blocks = self
            .denoiser
            .model
            .trunk(process.num_states(), d.length, "denoiser.model")?
            .num_blocks;
        if self.finetune.last_blocks == 0 || self.finetune.last_blocks > blocks {
            bail!(
                "finetune.last_blocks = {}: must be in 1..={blocks} (the denoiser's blocks)",
                self.finetune.last_blocks
            );
        }
        self.finetune.training.validate("finetune.training")?;
        if self.finetune.lora_rank == 0 {
            bail!("finetune.lora_rank = 0: must be at least 1");
        }
        if !(self.finetune.lora_alpha > 0.0 && self.finetune.lora_alpha.is_finite()) {
            bail!(
                "finetune.lora_alpha = {}: must be a finite number > 0",
                self.finetune.lora_alpha
            );
        }
        self.guidance.validate(d.num_states(), d.length)?;
        check_sizes(
            "experiment.target_sizes",
            &self.experiment.target_sizes,
            d.validation_fraction,
        )?;
        check_methods("experiment.methods", &self.experiment.methods)?;
        let sweep = &self.sweep;
        check_sizes(
            "sweep.target_sizes",
            &sweep.target_sizes,
            d.validation_fraction,
        )?;
        check_methods("sweep.methods", &sweep.methods)?;
        if let Some(v) = sweep.target_diag.iter().find(|v| !(0.0..=1.0).contains(*v)) {
            bail!("sweep.target_diag = {v}: every value must be in [0, 1]");
        }
        if let Some(v) = sweep.mixture.iter().find(|v| !(0.0..=1.0).contains(*v)) {
            bail!("sweep.mixture = {v}: every value must be in [0, 1]");
        }
        let mass_ok = sweep.extra_mass > 0.0 && sweep.extra_mass <= 1.0;
        if !sweep.extra_states.is_empty() && !mass_ok {
            bail!("sweep.extra_mass = {}: must be in (0, 1]", sweep.extra_mass);
        }
        if let Some(v) = sweep.gamma.iter().find(|v| !(**v >= 0.0 && v.is_finite())) {
            bail!("sweep.gamma = {v}: every value must be a finite number ≥ 0");
        }
        if let Some(v) = sweep.top_n.iter().find(|v| **v > d.num_states()) {
            bail!(
                "sweep.top_n = {v}: every value must be in 0..={} (0 = all N)",
                d.num_states()
            );
        }
        let ratio = self.classifier.ratio_config(&self.ratio);
        // Both sections feed one RatioConfig; name each key under its own section.
        RatioConfig {
            label_smoothing: 0.0,
            ..ratio
        }
        .validate("ratio")?;
        RatioConfig {
            cycle_weight: 0.0,
            ..ratio
        }
        .validate("classifier")?;
        Ok(())
    }
}

/// "line L, column C" of a TOML error, when it has a span.
fn describe_toml_error(error: &toml::de::Error, text: &str) -> String {
    match error.span() {
        Some(span) => {
            let line = text[..span.start].matches('\n').count() + 1;
            format!("invalid configuration at line {line}")
        }
        None => "invalid configuration".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: &str = include_str!("../../configs/markov-default.toml");

    #[test]
    fn the_default_config_is_valid() {
        let config = ExperimentConfig::parse(DEFAULT).unwrap();
        assert_eq!(config.data.states, 5);
        assert_eq!(config.data.length, 20);
        assert_eq!(config.data.source_size, 10_000);
    }

    #[test]
    fn unknown_keys_are_refused_with_their_name() {
        let text = DEFAULT.replace("[data]", "[data]\nstate = 4");
        let err = format!("{:#}", ExperimentConfig::parse(&text).unwrap_err());
        assert!(err.contains("unknown field `state`"), "{err}");
        let text = DEFAULT.replace(
            "[denoiser.training]",
            "[denoiser.training]\nlearning_rte = 0.1",
        );
        let err = format!("{:#}", ExperimentConfig::parse(&text).unwrap_err());
        assert!(err.contains("learning_rte"), "{err}");
    }

    const TINY: &str = include_str!("../../configs/markov-tiny.toml");

    #[test]
    fn network_sections_are_checked_under_their_own_names() {
        let config = ExperimentConfig::parse(TINY).unwrap();
        assert_eq!(config.ratio.estimator, EstimatorKind::LogR);
        assert_eq!(config.classifier.training.steps, 300);
        for (from, to, expected) in [
            (
                "estimator = \"log-r\"",
                "estimator = \"ratio\"",
                "unknown variant `ratio`",
            ),
            (
                "cycle_weight = 0.1",
                "cycle_weight = -1",
                "ratio.cycle_weight = -1",
            ),
            (
                "[classifier.model]",
                "[classifier]\nlabel_smoothing = 0.5\n[classifier.model]",
                "classifier.label_smoothing = 0.5",
            ),
            (
                "[classifier.model]",
                "[classifier]\nbalance = \"even\"\n[classifier.model]",
                "unknown variant `even`",
            ),
            ("steps = 300", "steps = 0", "classifier.training.steps = 0"),
            (
                "[ratio.model]\npreset = \"tiny\"",
                "[ratio.model]\npreset = \"tiny\"\nnum_heads = 3",
                "ratio.model",
            ),
            (
                "[ratio.training]",
                "[ratio.training]\nlearning_rat = 1",
                "unknown field `learning_rat`",
            ),
        ] {
            assert!(TINY.contains(from), "the tiny config should contain {from}");
            let text = TINY.replacen(from, to, 1);
            let err = format!("{:#}", ExperimentConfig::parse(&text).unwrap_err());
            assert!(err.contains(expected), "{from} -> {to}: {err}");
        }
    }

    #[test]
    fn network_sections_have_defaults() {
        let config = ExperimentConfig::parse(DEFAULT).unwrap();
        let minimal = DEFAULT
            .split("\n[classifier")
            .next()
            .unwrap()
            .split("\n[ratio")
            .next()
            .unwrap();
        let defaults = ExperimentConfig::parse(minimal).unwrap();
        assert_eq!(defaults.classifier.model.preset, "small");
        assert_eq!(defaults.ratio.estimator, config.ratio.estimator);
    }

    /// The experiment's sections: every new key is range-checked under its own name.
    #[test]
    fn experiment_sections_are_checked_under_their_own_names() {
        let ci = include_str!("../../configs/markov-ci.toml");
        let config = ExperimentConfig::parse(ci).unwrap();
        assert_eq!(config.experiment.target_sizes, vec![20, 60]);
        assert_eq!(config.guidance.exact_samples, 40);
        for (from, to, expected) in [
            ("gamma = 1.0", "gamma = -1.0", "guidance.gamma = -1"),
            ("[guidance]", "[guidance]\ntop_n = 4", "guidance.top_n = 4"),
            (
                "[guidance]",
                "[guidance]\norder = \"left\"",
                "guidance.order = \"left\"",
            ),
            (
                "[guidance]",
                "[guidance]\nbaseline_order = \"planner\"",
                "guidance.baseline_order",
            ),
            ("samples = 200", "samples = 0", "guidance.samples = 0"),
            (
                "[guidance]",
                "[guidance]\nfit_criterion = \"vibes\"",
                "guidance.fit_criterion = \"vibes\"",
            ),
            (
                "[guidance]",
                "[guidance]\nfit_criterion = \"samples\"\nfit_bins = 2",
                "guidance.fit_bins = 2",
            ),
            (
                "[guidance]",
                "[guidance]\nfit_samples = 1",
                "guidance.fit_samples = 1",
            ),
            (
                "[guidance]",
                "[guidance]\nfit_order = 6",
                "guidance.fit_order = 6: must be in 1..=5",
            ),
            (
                "[guidance]",
                "[guidance]\nfit_order = 0",
                "guidance.fit_order = 0",
            ),
            (
                "[guidance]",
                "[guidance]\nsampels = 3",
                "unknown field `sampels`",
            ),
            (
                "target_sizes = [20, 60]\n\n[sweep]",
                "target_sizes = [1]\n\n[sweep]",
                "experiment.target_sizes = 1",
            ),
            (
                "[experiment]",
                "[experiment]\nmethods = [\"gtl\", \"magic\"]",
                "experiment.methods = \"magic\"",
            ),
            (
                "[experiment]",
                "[experiment]\nmethods = [\"gtl\", \"gtl\"]",
                "listed twice",
            ),
            ("lora_rank = 2", "lora_rank = 0", "finetune.lora_rank = 0"),
            (
                "lora_alpha = 4.0",
                "lora_alpha = -4.0",
                "finetune.lora_alpha = -4",
            ),
            (
                "test_size = 200",
                "test_size = 200\nextra_target_states = 1",
                "data.extra_target_mass = 0",
            ),
            (
                "test_size = 200",
                "test_size = 200\nextra_target_mass = 0.3",
                "must be 0 when",
            ),
            (
                "gamma = [0.0, 2.0]",
                "gamma = [0.0, -2.0]",
                "sweep.gamma = -2",
            ),
            ("mixture = [0.5]", "mixture = [1.5]", "sweep.mixture = 1.5"),
            ("top_n = [2]", "top_n = [7]", "sweep.top_n = 7"),
            (
                "target = { family = \"diagonal\", diag = 0.8 }",
                "target = { family = \"mixture\", weight = 2.0, a = { family = \"diagonal\", diag = 0.1 }, b = { family = \"diagonal\", diag = 0.8 } }",
                "data.target.weight = 2",
            ),
        ] {
            assert!(ci.contains(from), "the CI config should contain {from}");
            let text = ci.replacen(from, to, 1);
            let err = format!("{:#}", ExperimentConfig::parse(&text).unwrap_err());
            assert!(err.contains(expected), "{from} -> {to}: {err}");
        }
        let text = ci.replacen(
            "target = { family = \"diagonal\", diag = 0.8 }",
            "target = { family = \"mixture\", weight = 0.5, a = { family = \"diagonal\", diag = 0.2 }, b = { family = \"diagonal\", diag = 0.8 } }\nextra_target_states = 2\nextra_target_mass = 0.3",
            1,
        );
        let config = ExperimentConfig::parse(&text).unwrap();
        let (source, target) = config.data.chains().unwrap();
        assert_eq!((source.num_states(), target.num_states()), (5, 5));
        assert!((target.transition()[0][0] - 0.7 * 0.5).abs() < 1e-12);
        assert_eq!(config.process().unwrap().num_tokens, 5);
    }

    #[test]
    fn out_of_range_values_are_refused_with_their_key() {
        for (from, to, expected) in [
            ("states = 5", "states = 1", "data.states = 1"),
            (
                "kind = \"absorbing\"",
                "kind = \"gaussian\"",
                "process.kind = \"gaussian\"",
            ),
            (
                "preset = \"tiny\"",
                "preset = \"huge\"",
                "denoiser.model.preset",
            ),
            (
                "learning_rate = 2e-3",
                "learning_rate = 0.0",
                "denoiser.training.learning_rate = 0",
            ),
            ("diag = 0.1", "diag = 1.5", "data.source"),
        ] {
            assert!(
                DEFAULT.contains(from),
                "the default config should contain {from}"
            );
            let text = DEFAULT.replacen(from, to, 1);
            let err = format!("{:#}", ExperimentConfig::parse(&text).unwrap_err());
            assert!(err.contains(expected), "{from} -> {to}: {err}");
        }
    }
}
