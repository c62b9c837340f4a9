//! The neural networks of gtl on burn: a bidirectional transformer trunk conditioned on the
//! diffusion time by adaLN-zero, with heads for denoisers, classifiers, ratio networks and
//! planners. Every module is generic over the backend and built from a serialisable config.
//!
//! ```
//! use burn::backend::NdArray;
//! use burn::prelude::*;
//! use gtl_models::{DenoiserNetConfig, TrunkConfig};
//!
//! let device = Default::default();
//! // N = 5 real tokens plus the mask token 5, sequences of length 20.
//! let trunk = TrunkConfig::preset("tiny", 6, 20).unwrap();
//! let denoiser = DenoiserNetConfig::new(trunk, 5, true).init::<NdArray>(&device);
//! let tokens = Tensor::<NdArray, 2, Int>::full([2, 20], 5, &device);
//! let log_probs = denoiser.forward(tokens, Tensor::from_floats([0.5, 1.0], &device));
//! assert_eq!(log_probs.dims(), [2, 20, 5]);
//! ```

#![warn(missing_docs)]

mod adapter;
mod attention;
mod block;
mod error;
mod heads;
pub mod objectives;
mod params;
mod time;
pub mod training;
mod trunk;

pub use adapter::{AdapterSpec, LowRank};
pub use attention::{AttentionAdapters, Rotation, SelfAttention, SelfAttentionConfig};
pub use block::{Block, BlockConfig, Conditioning, MlpAdapters};
pub use error::ModelError;
pub use heads::{
    DenoiserNet, DenoiserNetConfig, PositionNet, PositionNetConfig, SUBS_LOG_ZERO, ScalarNet,
    ScalarNetConfig,
};
pub use params::describe_params;
pub use time::{TimeEmbedding, TimeEmbeddingConfig};
pub use trunk::{Positions, TRUNK_PRESETS, Trunk, TrunkConfig};

#[cfg(test)]
mod tests;
