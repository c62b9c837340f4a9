//! The shared bidirectional transformer trunk: tokens and time in, hidden states out.

use burn::config::Config;
use burn::module::{Initializer, Module, Param};
use burn::nn::{Embedding, EmbeddingConfig, RotaryEncoding, RotaryEncodingConfig};
use burn::prelude::*;

use crate::ModelError;
use crate::adapter::AdapterSpec;
use crate::attention::{Rotation, band_mask};
use crate::block::{Block, BlockConfig, Conditioning, modulate, normalize, split_modulation};
use crate::params::materialize;
use crate::time::{TimeEmbedding, TimeEmbeddingConfig};

/// Names accepted by [`TrunkConfig::preset`], smallest first.
pub const TRUNK_PRESETS: [&str; 4] = ["tiny", "small", "reference", "reference-ratio"];

/// How the trunk knows where a token sits.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum Positions {
    /// A learned vector per position added to the token embedding (zero-initialised).
    Learned,
    /// Rotary encoding of each head's queries and keys; no position parameters.
    Rotary,
}

/// Configuration of a [`Trunk`].
#[derive(Config, Debug)]
pub struct TrunkConfig {
    /// Input vocabulary, including the mask token when the process has one.
    pub vocab_size: usize,
    /// Longest sequence the trunk accepts.
    pub max_length: usize,
    /// Width of the residual stream; even and divisible by `num_heads`.
    #[config(default = 256)]
    pub d_model: usize,
    /// Attention heads per block.
    #[config(default = 4)]
    pub num_heads: usize,
    /// Number of transformer blocks.
    #[config(default = 4)]
    pub num_blocks: usize,
    /// Hidden width of each block's GELU MLP.
    #[config(default = 1024)]
    pub mlp_hidden: usize,
    /// Dropout on every residual branch, in [0, 1).
    #[config(default = 0.0)]
    pub dropout: f64,
    /// Condition on the time `t` through adaLN-zero; when false `t` is ignored.
    #[config(default = true)]
    pub time_conditioning: bool,
    /// Learned positional embedding or rotary attention.
    #[config(default = "Positions::Learned")]
    pub positions: Positions,
    /// Each position attends only to positions at most this far away, so the receptive
    /// field is `attention_window · num_blocks` on each side (a local, n-gram-like model);
    /// 0 lets every position attend to every position.
    #[config(default = 0)]
    pub attention_window: usize,
}

impl TrunkConfig {
    /// A named size: "tiny" (d 32, 2 heads, 1 block, MLP 64), "small" (128, 4, 2, 512),
    /// "reference" (256, 4, 4, 1024) or "reference-ratio" (256, 4, 2, 1024).
    pub fn preset(name: &str, vocab_size: usize, max_length: usize) -> Result<Self, ModelError> {
        let (d_model, num_heads, num_blocks, mlp_hidden) = match name {
            "tiny" => (32, 2, 1, 64),
            "small" => (128, 4, 2, 512),
            "reference" => (256, 4, 4, 1024),
            "reference-ratio" => (256, 4, 2, 1024),
            _ => {
                return Err(ModelError::Config(format!(
                    "model.preset = {name:?}: must be one of {}",
                    TRUNK_PRESETS.join(", ")
                )));
            }
        };
        Ok(Self::new(vocab_size, max_length)
            .with_d_model(d_model)
            .with_num_heads(num_heads)
            .with_num_blocks(num_blocks)
            .with_mlp_hidden(mlp_hidden))
    }

    /// Checks every value; the error names the key under `model.` and the allowed range.
    pub fn validate(&self) -> Result<(), ModelError> {
        self.validate_section("model")
    }

    /// As [`validate`](Self::validate), naming keys under `section`.
    pub fn validate_section(&self, section: &str) -> Result<(), ModelError> {
        let fail = |key: &str, value: String, expectation: String| {
            Err(ModelError::Config(format!(
                "{section}.{key} = {value}: must be {expectation}"
            )))
        };
        for (key, value) in [
            ("vocab_size", self.vocab_size),
            ("max_length", self.max_length),
            ("num_heads", self.num_heads),
            ("num_blocks", self.num_blocks),
            ("mlp_hidden", self.mlp_hidden),
        ] {
            if value == 0 {
                return fail(key, value.to_string(), "at least 1".into());
            }
        }
        if self.d_model < 2 || !self.d_model.is_multiple_of(2) {
            return fail(
                "d_model",
                self.d_model.to_string(),
                "even and at least 2 (half cosines, half sines in the time embedding)".into(),
            );
        }
        if !self.d_model.is_multiple_of(self.num_heads) {
            return fail(
                "d_model",
                self.d_model.to_string(),
                format!("divisible by {section}.num_heads = {}", self.num_heads),
            );
        }
        let head_dim = self.d_model / self.num_heads;
        if self.positions == Positions::Rotary && !head_dim.is_multiple_of(2) {
            return fail(
                "d_model",
                self.d_model.to_string(),
                format!(
                    "an even multiple of {section}.num_heads = {} with rotary positions \
                     (head width {head_dim} is odd)",
                    self.num_heads
                ),
            );
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return fail("dropout", self.dropout.to_string(), "in [0, 1)".into());
        }
        Ok(())
    }

    /// Builds the trunk with every parameter drawn now (so clones are exact copies). Panics
    /// if [`validate`](Self::validate) fails.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Trunk<B> {
        if let Err(error) = self.validate() {
            panic!("invalid trunk config: {error}");
        }
        let block = BlockConfig::new(self.d_model, self.num_heads, self.mlp_hidden)
            .with_dropout(self.dropout)
            .with_time_conditioning(self.time_conditioning);
        let (position_embedding, rotary) = match self.positions {
            Positions::Learned => (
                Some(Initializer::Zeros.init([self.max_length, self.d_model], device)),
                None,
            ),
            Positions::Rotary => {
                let head_dim = self.d_model / self.num_heads;
                let rotary = RotaryEncodingConfig::new(self.max_length, head_dim).init(device);
                (None, Some(rotary))
            }
        };
        materialize(Trunk {
            token_embedding: EmbeddingConfig::new(self.vocab_size, self.d_model).init(device),
            position_embedding,
            rotary,
            time_embedding: self
                .time_conditioning
                .then(|| TimeEmbeddingConfig::new(self.d_model).init(device)),
            blocks: (0..self.num_blocks).map(|_| block.init(device)).collect(),
            final_norm: Conditioning::init(self.d_model, 1, false, self.time_conditioning, device),
            d_model: self.d_model,
            max_length: self.max_length,
            attention_window: self.attention_window,
        })
    }
}

/// Token embedding (+ learned positions), `num_blocks` adaLN-zero blocks and a final norm.
#[derive(Module, Debug)]
pub struct Trunk<B: Backend> {
    /// Embedding of the input vocabulary (mask token included).
    pub token_embedding: Embedding<B>,
    /// Learned positions `[max_length, d_model]`, when `Positions::Learned`.
    pub position_embedding: Option<Param<Tensor<B, 2>>>,
    /// Rotary encoding of per-head queries and keys, when `Positions::Rotary`.
    pub rotary: Option<RotaryEncoding<B>>,
    /// Embedding of `t`, when time-conditioned.
    pub time_embedding: Option<TimeEmbedding<B>>,
    /// The transformer blocks.
    pub blocks: Vec<Block<B>>,
    /// Final LayerNorm: adaLN shift/scale (zero-initialised) or affine.
    pub final_norm: Conditioning<B>,
    /// Width of the hidden states.
    pub d_model: usize,
    /// Longest accepted sequence.
    pub max_length: usize,
    /// Attention reach (0: unrestricted); see [`TrunkConfig::attention_window`].
    pub attention_window: usize,
}

impl<B: Backend> Trunk<B> {
    /// Hidden states `[batch, length, d_model]` of `tokens` (`[batch, length]`) at times `t`
    /// (`[batch]`; ignored without time conditioning). Panics if `length > max_length`.
    pub fn forward(&self, tokens: Tensor<B, 2, Int>, t: Tensor<B, 1>) -> Tensor<B, 3> {
        self.forward_embedded(self.token_embedding.forward(tokens), t)
    }

    /// [`Trunk::forward`] on one-hot (or any soft) inputs `[batch, length, vocab_size]`: the
    /// token embedding becomes a matrix product, so the output is differentiable in the input
    /// (first-order Taylor guidance). Equals `forward` on exact one-hot rows.
    pub fn forward_one_hot(&self, one_hot: Tensor<B, 3>, t: Tensor<B, 1>) -> Tensor<B, 3> {
        let [batch, length, vocab] = one_hot.dims();
        let weight = self.token_embedding.weight.val();
        let embedded = one_hot
            .reshape([batch * length, vocab])
            .matmul(weight)
            .reshape([batch, length, self.d_model]);
        self.forward_embedded(embedded, t)
    }

    fn forward_embedded(&self, mut x: Tensor<B, 3>, t: Tensor<B, 1>) -> Tensor<B, 3> {
        let [batch, length, _] = x.dims();
        assert!(
            length <= self.max_length,
            "sequence length {length} exceeds the trunk's max_length {}",
            self.max_length
        );
        if let Some(positions) = &self.position_embedding {
            x = x + positions.val().narrow(0, 0, length).unsqueeze::<3>();
        }
        let c = self.time_embedding.as_ref().map(|embedding| {
            assert_eq!(t.dims(), [batch], "t must hold one time per sequence");
            embedding.forward(t)
        });
        let mask = self.attention_mask(length, &x.device());
        let rotation = self
            .rotary
            .as_ref()
            .map(|encoding| Rotation::new(encoding, length, self.d_model));
        for block in &self.blocks {
            x = block.forward(x, c.as_ref(), rotation.as_ref(), mask.as_ref());
        }
        match &self.final_norm {
            Conditioning::AdaLnZero(modulation) => {
                let c = c.expect("a time-conditioned trunk has a time embedding");
                let [shift, scale] = split_modulation(modulation.forward(c));
                modulate(normalize(x), shift, scale)
            }
            Conditioning::Affine(norms) => norms[0].forward(x),
        }
    }

    /// `[1, 1, length, length]`, true where `|i − j| > attention_window`; `None` when the
    /// window covers the whole sequence.
    fn attention_mask(&self, length: usize, device: &B::Device) -> Option<Tensor<B, 4, Bool>> {
        let window = self.attention_window;
        if window == 0 || window + 1 >= length {
            return None;
        }
        Some(band_mask(length, window, device))
    }

    /// Whether the output depends on `t`.
    pub fn time_conditioned(&self) -> bool {
        self.time_embedding.is_some()
    }

    /// Attaches fresh low-rank adapters to every attention projection and MLP layer; the
    /// adapted trunk computes exactly what this one does until the adapters are trained.
    pub fn with_adapters(mut self, spec: AdapterSpec, device: &B::Device) -> Self {
        self.blocks = std::mem::take(&mut self.blocks)
            .into_iter()
            .map(|block| block.with_adapters(spec, device))
            .collect();
        self
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use burn::nn::LinearConfig;

    type TB = crate::tests::TestBackend;

    /// Replaces every zero-initialised adaLN modulation by a randomly initialised one, so that
    /// the time embedding and the residual branches act.
    pub(crate) fn randomize_modulation<B: Backend>(
        mut trunk: Trunk<B>,
        device: &B::Device,
    ) -> Trunk<B> {
        let randomize = |conditioning: &mut Conditioning<B>| {
            if let Conditioning::AdaLnZero(linear) = conditioning {
                let [d_in, d_out] = linear.weight.dims();
                *linear = LinearConfig::new(d_in, d_out).init(device);
            }
        };
        trunk
            .blocks
            .iter_mut()
            .for_each(|block| randomize(&mut block.conditioning));
        randomize(&mut trunk.final_norm);
        materialize(trunk)
    }

    pub(crate) fn tokens(rows: &[&[i64]]) -> Tensor<TB, 2, Int> {
        let device = Default::default();
        let length = rows[0].len();
        let flat: Vec<i64> = rows.iter().flat_map(|row| row.iter().copied()).collect();
        Tensor::<TB, 1, Int>::from_data(flat.as_slice(), &device).reshape([rows.len(), length])
    }

    fn max_abs_difference(a: Tensor<TB, 3>, b: Tensor<TB, 3>) -> f64 {
        (a - b).abs().max().into_scalar()
    }

    /// The hidden state of the first sequence at position `i`, `[1, 1, d]`.
    fn at(x: &Tensor<TB, 3>, i: usize) -> Tensor<TB, 3> {
        x.clone().slice([0..1, i..i + 1])
    }

    fn tiny(time_conditioning: bool) -> TrunkConfig {
        TrunkConfig::preset("tiny", 6, 8)
            .unwrap()
            .with_time_conditioning(time_conditioning)
    }

    #[test]
    fn validation_names_the_key_and_range() {
        let config = TrunkConfig::new(6, 20).with_d_model(250);
        let message = config.validate().unwrap_err().to_string();
        assert_eq!(
            message,
            "model.d_model = 250: must be divisible by model.num_heads = 4"
        );
        let config = TrunkConfig::new(6, 20)
            .with_d_model(24)
            .with_num_heads(8)
            .with_positions(Positions::Rotary);
        let message = config.validate().unwrap_err().to_string();
        assert!(
            message.starts_with("model.d_model = 24: must be an even multiple"),
            "{message}"
        );
        let message = TrunkConfig::new(0, 20)
            .validate_section("ratio.model")
            .unwrap_err()
            .to_string();
        assert_eq!(message, "ratio.model.vocab_size = 0: must be at least 1");
        let message = TrunkConfig::new(6, 20)
            .with_dropout(1.0)
            .validate()
            .unwrap_err()
            .to_string();
        assert_eq!(message, "model.dropout = 1: must be in [0, 1)");
    }

    #[test]
    fn presets_are_valid_and_unknown_names_list_the_choices() {
        for name in TRUNK_PRESETS {
            TrunkConfig::preset(name, 6, 20)
                .unwrap()
                .validate()
                .unwrap();
        }
        let reference = TrunkConfig::preset("reference", 6, 20).unwrap();
        assert_eq!(
            (
                reference.d_model,
                reference.num_heads,
                reference.num_blocks,
                reference.mlp_hidden
            ),
            (256, 4, 4, 1024)
        );
        let message = TrunkConfig::preset("huge", 6, 20).unwrap_err().to_string();
        assert_eq!(
            message,
            "model.preset = \"huge\": must be one of tiny, small, reference, reference-ratio"
        );
    }

    #[test]
    fn hidden_states_have_the_model_width() {
        let device = Default::default();
        for positions in [Positions::Learned, Positions::Rotary] {
            let trunk = tiny(true).with_positions(positions).init::<TB>(&device);
            let hidden = trunk.forward(
                tokens(&[&[0, 1, 2, 5, 5], &[5, 5, 5, 5, 5]]),
                Tensor::from_floats([0.2, 0.9], &device),
            );
            assert_eq!(hidden.dims(), [2, 5, 32]);
        }
    }

    #[test]
    fn adaln_zero_ignores_time_at_init_but_not_after_perturbation() {
        let device = Default::default();
        let trunk = tiny(true).init::<TB>(&device);
        let z = tokens(&[&[0, 1, 2, 5, 5, 3]]);
        let early = Tensor::from_floats([0.05], &device);
        let late = Tensor::from_floats([0.95], &device);
        let difference = max_abs_difference(
            trunk.forward(z.clone(), early.clone()),
            trunk.forward(z.clone(), late.clone()),
        );
        assert_eq!(difference, 0.0);
        let trunk = randomize_modulation(trunk, &device);
        let difference =
            max_abs_difference(trunk.forward(z.clone(), early), trunk.forward(z, late));
        assert!(difference > 1e-3, "{difference}");
    }

    #[test]
    fn without_time_conditioning_time_is_ignored() {
        let device = Default::default();
        let trunk = tiny(false).init::<TB>(&device);
        assert!(!trunk.time_conditioned());
        assert!(trunk.time_embedding.is_none());
        let z = tokens(&[&[0, 1, 2, 5, 5, 3]]);
        let a = trunk.forward(z.clone(), Tensor::from_floats([0.05], &device));
        let b = trunk.forward(z, Tensor::from_floats([0.95], &device));
        assert_eq!(max_abs_difference(a, b), 0.0);
    }

    #[test]
    fn attention_is_bidirectional() {
        let device = Default::default();
        let trunks = [
            tiny(false).init::<TB>(&device),
            randomize_modulation(tiny(true).init::<TB>(&device), &device),
        ];
        let t = Tensor::<TB, 1>::from_floats([0.5], &device);
        for trunk in trunks {
            let before = trunk.forward(tokens(&[&[0, 1, 2, 3, 4, 0]]), t.clone());
            let after = trunk.forward(tokens(&[&[0, 1, 2, 5, 4, 0]]), t.clone());
            // Position 3 changed: earlier (j > i) and later (j < i) positions both see it.
            for i in [0, 2, 4, 5] {
                let change = max_abs_difference(at(&before, i), at(&after, i));
                assert!(change > 1e-4, "position {i} ignores position 3: {change}");
            }
        }
    }

    #[test]
    fn a_window_limits_the_receptive_field_to_window_times_blocks() {
        let device = Default::default();
        for positions in [Positions::Learned, Positions::Rotary] {
            let config = tiny(true)
                .with_num_blocks(2)
                .with_positions(positions)
                .with_attention_window(1);
            let windowed = randomize_modulation(config.init::<TB>(&device), &device);
            let mut full = windowed.clone();
            full.attention_window = 0;
            let t = Tensor::<TB, 1>::from_floats([0.5], &device);
            let (a, b) = (
                tokens(&[&[0, 1, 2, 3, 4, 0, 1, 2]]),
                tokens(&[&[0, 1, 2, 5, 4, 0, 1, 2]]),
            );
            let (before, after) = (
                windowed.forward(a.clone(), t.clone()),
                windowed.forward(b.clone(), t.clone()),
            );
            // Position 3 changed: two blocks of reach 1 carry it to positions 1..=5 only.
            for i in 0..8 {
                let change = max_abs_difference(at(&before, i), at(&after, i));
                if (1..=5).contains(&i) {
                    assert!(
                        change > 1e-4,
                        "{positions:?}: position {i} ignores position 3"
                    );
                } else {
                    assert_eq!(change, 0.0, "{positions:?}: position {i} sees position 3");
                }
            }
            // Without the window the same weights carry it everywhere.
            let (before, after) = (full.forward(a, t.clone()), full.forward(b, t));
            for i in [0, 6, 7] {
                assert!(max_abs_difference(at(&before, i), at(&after, i)) > 1e-4);
            }
        }
    }

    #[test]
    fn rotary_positions_differ_from_learned_ones() {
        let device = Default::default();
        let learned = tiny(false).init::<TB>(&device);
        // The same weights with rotary attention instead of the (zero) learned positions.
        let mut rotary = learned.clone();
        rotary.position_embedding = None;
        rotary.rotary = Some(RotaryEncodingConfig::new(8, 16).init(&device));
        let z = tokens(&[&[1, 2, 1, 2, 1]]);
        let t = Tensor::<TB, 1>::from_floats([0.5], &device);
        let (a, b) = (learned.forward(z.clone(), t.clone()), rotary.forward(z, t));
        // Zero learned positions leave the trunk permutation-equivariant: positions 0 and 2
        // hold the same token and so the same state. Rotary sees their different offsets.
        assert!(max_abs_difference(at(&a, 0), at(&a, 2)) < 1e-12);
        assert!(max_abs_difference(at(&b, 0), at(&b, 2)) > 1e-4);
        assert!(max_abs_difference(a, b) > 1e-4);
    }

    #[test]
    fn records_round_trip_through_a_fresh_trunk() {
        let device = Default::default();
        for time_conditioning in [true, false] {
            let trained =
                randomize_modulation(tiny(time_conditioning).init::<TB>(&device), &device);
            let fresh = tiny(time_conditioning).init::<TB>(&device);
            let loaded = fresh.load_record(trained.clone().into_record());
            let z = tokens(&[&[0, 1, 2, 5, 5, 3]]);
            let t = Tensor::<TB, 1>::from_floats([0.3], &device);
            let expected = trained.forward(z.clone(), t.clone());
            assert_eq!(max_abs_difference(loaded.forward(z, t), expected), 0.0);
        }
    }

    #[test]
    #[should_panic(expected = "exceeds the trunk's max_length")]
    fn longer_sequences_than_max_length_are_refused() {
        let device = Default::default();
        let trunk = TrunkConfig {
            max_length: 3,
            ..tiny(false)
        }
        .init::<TB>(&device);
        trunk.forward(
            tokens(&[&[0, 1, 2, 3]]),
            Tensor::from_floats([0.5], &device),
        );
    }
}
