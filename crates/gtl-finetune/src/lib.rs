//! Fine-tuning baselines (the methods GTL is compared against): training the denoiser
//! architecture on target data from scratch, and fine-tuning the source denoiser on target
//! data in full, only in its last blocks and head, or through low-rank adapters (LoRA) on
//! every attention and MLP weight. Each method is a way to initialise and freeze a
//! [`DenoiserNet`] before the shared `gtl_models::training::train` loop runs the diffusion
//! loss on target sequences; [`count_params`] reports what a method trains.
//!
//! ```
//! use burn::backend::{Autodiff, NdArray};
//! use gtl_finetune::{Method, count_params, freeze_for};
//! use gtl_models::{DenoiserNetConfig, TrunkConfig};
//!
//! type B = Autodiff<NdArray>;
//! let trunk = TrunkConfig::preset("tiny", 6, 8).unwrap().with_num_blocks(2);
//! let source = DenoiserNetConfig::new(trunk, 5, true).init::<B>(&Default::default());
//! let all = count_params(&source);
//! let partial = freeze_for(source, Method::LastBlocks { blocks: 1 }).unwrap();
//! let counts = count_params(&partial);
//! assert_eq!(counts.total, all.total);
//! assert!(counts.trainable < counts.total);
//! ```

#![warn(missing_docs)]

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use gtl_models::{AdapterSpec, DenoiserNet};
use serde::{Deserialize, Serialize};

/// Errors of the fine-tuning set-up.
#[derive(Debug, thiserror::Error)]
pub enum FinetuneError {
    /// An invalid setting; the message names the key and the allowed range.
    #[error("{0}")]
    Config(String),
}

/// A baseline.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Method {
    /// The source architecture trained from scratch on target data only.
    TargetOnly,
    /// Every weight of the source denoiser fine-tuned on target data.
    Full,
    /// Only the last `blocks` transformer blocks, the final norm and the output head of the
    /// source denoiser are fine-tuned; embeddings and earlier blocks stay frozen.
    LastBlocks {
        /// Trained blocks, counted from the output (≥ 1, ≤ the trunk's blocks).
        blocks: usize,
    },
    /// Every weight of the source denoiser frozen; a trainable low-rank update
    /// `(alpha / rank) · x A B` added to each attention projection and MLP layer.
    LowRank {
        /// Rank of each update (≥ 1).
        rank: usize,
        /// Numerator of the update's scale (> 0).
        alpha: f64,
    },
}

impl Method {
    /// Name for logs and files.
    pub fn name(&self) -> String {
        match self {
            Method::TargetOnly => "target-only".into(),
            Method::Full => "full-finetune".into(),
            Method::LastBlocks { blocks } => format!("last-{blocks}-blocks"),
            Method::LowRank { rank, .. } => format!("lora-rank-{rank}"),
        }
    }

    /// Whether the method starts from the source denoiser's weights.
    pub fn starts_from_source(&self) -> bool {
        !matches!(self, Method::TargetOnly)
    }

    /// Checks the method against a trunk of `num_blocks` blocks; errors name `key`.
    pub fn validate(&self, num_blocks: usize, key: &str) -> Result<(), FinetuneError> {
        match *self {
            Method::LastBlocks { blocks } if blocks == 0 || blocks > num_blocks => {
                Err(FinetuneError::Config(format!(
                    "{key}.blocks = {blocks}: must be in 1..={num_blocks} (the trunk's blocks)"
                )))
            }
            Method::LowRank { rank: 0, .. } => Err(FinetuneError::Config(format!(
                "{key}.rank = 0: must be at least 1"
            ))),
            Method::LowRank { alpha, .. } if !(alpha > 0.0 && alpha.is_finite()) => {
                Err(FinetuneError::Config(format!(
                    "{key}.alpha = {alpha}: must be a finite number > 0"
                )))
            }
            _ => Ok(()),
        }
    }
}

/// Freezes (stops the gradient of) every parameter `method` does not train; for
/// [`Method::LowRank`] it first attaches fresh adapters (the only trainable parameters).
/// Applied to a freshly initialised network it also gives the shape that a trained model
/// file of `method` loads into.
pub fn freeze_for<B: AutodiffBackend>(
    mut model: DenoiserNet<B>,
    method: Method,
) -> Result<DenoiserNet<B>, FinetuneError> {
    let num_blocks = model.trunk.blocks.len();
    method.validate(num_blocks, "finetune")?;
    if let Method::LowRank { rank, alpha } = method {
        let device = model.head.weight.device();
        let mut frozen = model.no_grad();
        frozen.trunk = frozen
            .trunk
            .with_adapters(AdapterSpec { rank, alpha }, &device);
        return Ok(frozen);
    }
    if let Method::LastBlocks { blocks } = method {
        let trunk = &mut model.trunk;
        trunk.token_embedding = trunk.token_embedding.clone().no_grad();
        trunk.position_embedding = trunk.position_embedding.take().map(freeze_param);
        trunk.time_embedding = trunk.time_embedding.take().map(Module::no_grad);
        let frozen = num_blocks - blocks;
        trunk.blocks = std::mem::take(&mut trunk.blocks)
            .into_iter()
            .enumerate()
            .map(|(index, block)| {
                if index < frozen {
                    block.no_grad()
                } else {
                    block
                }
            })
            .collect();
    }
    Ok(model)
}

fn freeze_param<B: AutodiffBackend, const D: usize>(
    param: Param<Tensor<B, D>>,
) -> Param<Tensor<B, D>> {
    param.set_require_grad(false)
}

/// Parameter counts of a module: all of them and those that receive gradients.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamCount {
    /// Every float parameter.
    pub total: usize,
    /// Parameters whose gradient is tracked (what an optimiser updates).
    pub trainable: usize,
}

struct Counter(ParamCount);

impl<B: Backend> ModuleVisitor<B> for Counter {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let value = param.val();
        let n = value.shape().num_elements();
        self.0.total += n;
        if value.is_require_grad() {
            self.0.trainable += n;
        }
    }
}

/// Counts the float parameters of `module` and the trainable ones.
pub fn count_params<B: Backend, M: Module<B>>(module: &M) -> ParamCount {
    let mut counter = Counter(ParamCount::default());
    module.visit(&mut counter);
    counter.0
}
