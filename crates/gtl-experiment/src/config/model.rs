//! Network sizes: a preset and optional overrides, as every network section writes them.

use gtl_models::{Positions, TrunkConfig};
use serde::{Deserialize, Serialize};

use crate::{ExperimentError, Result};

/// The trunk presets of gtl-models.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// d 32, 2 heads, 1 block, MLP 64.
    #[default]
    Tiny,
    /// d 128, 4 heads, 2 blocks, MLP 512.
    Small,
    /// d 256, 4 heads, 4 blocks, MLP 1024 (the reference implementation's synthetic denoiser).
    Reference,
    /// d 256, 4 heads, 2 blocks, MLP 1024 (its ratio network).
    ReferenceRatio,
}

impl Preset {
    /// The name gtl-models knows the preset by.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Tiny => "tiny",
            Preset::Small => "small",
            Preset::Reference => "reference",
            Preset::ReferenceRatio => "reference-ratio",
        }
    }
}

/// Position encodings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PositionsName {
    /// A learned embedding per position.
    Learned,
    /// Rotary encodings of queries and keys.
    Rotary,
}

/// How a scalar head (classifier, ratio network) pools over positions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Pooling {
    /// The mean over positions.
    #[default]
    Mean,
    /// The sum over positions (a log-ratio is a sum of per-position terms).
    Sum,
}

/// Network size: a preset and optional overrides.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// The preset the overrides start from.
    pub preset: Preset,
    /// Width of the residual stream.
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
    /// Position encoding.
    pub positions: Option<PositionsName>,
    /// Attention reach in positions (0: every position; `TrunkConfig::attention_window`).
    pub attention_window: Option<usize>,
    /// Pooling of the scalar heads (classifiers, ratio network); not accepted in the
    /// denoiser and planner sections.
    pub pooling: Option<Pooling>,
}

impl ModelSection {
    /// A preset with rotary positions and no other override.
    pub fn rotary(preset: Preset) -> Self {
        ModelSection {
            preset,
            positions: Some(PositionsName::Rotary),
            ..ModelSection::default()
        }
    }

    /// Whether the scalar head sums over positions.
    pub fn sum_pooling(&self) -> bool {
        self.pooling == Some(Pooling::Sum)
    }

    /// Whether the network uses dropout.
    pub fn has_dropout(&self) -> bool {
        self.dropout.is_some_and(|d| d > 0.0)
    }

    /// The trunk over `vocab_size` token ids (real tokens and the mask) and sequences of
    /// `max_length`, validated; errors name keys under `section`.
    pub fn trunk(
        &self,
        vocab_size: usize,
        max_length: usize,
        section: &str,
    ) -> Result<TrunkConfig> {
        let mut trunk = TrunkConfig::preset(self.preset.name(), vocab_size, max_length)?;
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
        if let Some(p) = self.positions {
            trunk.positions = match p {
                PositionsName::Learned => Positions::Learned,
                PositionsName::Rotary => Positions::Rotary,
            };
        }
        trunk
            .validate_section(section)
            .map_err(|e| ExperimentError::config(e.to_string()))?;
        Ok(trunk)
    }
}
