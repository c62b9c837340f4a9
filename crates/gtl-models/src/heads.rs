//! Output heads on the trunk: per-token log-probabilities (denoiser), a pooled scalar
//! (classifiers, ratio network) and per-position logits (planner).

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use gtl_diffusion::Denoiser;

use crate::ModelError;
use crate::adapter::adapted;
use crate::params::materialize;
use crate::trunk::{Trunk, TrunkConfig};

/// Log-probability given to the non-copied tokens at unmasked positions under SUBS: finite,
/// so no `-inf - -inf` arises downstream, and `e^-1e4` underflows to exactly 0.
pub const SUBS_LOG_ZERO: f64 = -1e4;

/// Configuration of a [`DenoiserNet`].
#[derive(Config, Debug)]
pub struct DenoiserNetConfig {
    /// The trunk; its `vocab_size` is `num_tokens`, plus one when there is a mask token.
    pub trunk: TrunkConfig,
    /// Number of real tokens `N`, the width of the output; the mask token, if any, is `N`.
    pub num_tokens: usize,
    /// SUBS parameterisation (absorbing process): unmasked positions copy their input token.
    pub subs: bool,
}

impl DenoiserNetConfig {
    /// The denoiser for `process`: its states as the input vocabulary, its real tokens as the
    /// output, and SUBS exactly for the absorbing process (under uniform and roulette noise an
    /// unmasked token may be corrupted, so it must not be copied).
    pub fn for_process(trunk: TrunkConfig, process: &gtl_diffusion::Process) -> Self {
        DenoiserNetConfig::new(
            trunk,
            process.num_tokens,
            process.kind == gtl_diffusion::ProcessKind::Absorbing,
        )
    }

    /// Checks the trunk and that its vocabulary fits `num_tokens` (MATH.md §3).
    pub fn validate(&self) -> Result<(), ModelError> {
        self.trunk.validate()?;
        let n = self.num_tokens;
        let vocab = self.trunk.vocab_size;
        if n == 0 {
            return Err(ModelError::Config(
                "model.num_tokens = 0: must be at least 1".into(),
            ));
        }
        if self.subs && vocab != n + 1 {
            return Err(ModelError::Config(format!(
                "model.vocab_size = {vocab}: must be num_tokens + 1 = {} with SUBS (the mask token is {n})",
                n + 1
            )));
        }
        if vocab != n && vocab != n + 1 {
            return Err(ModelError::Config(format!(
                "model.vocab_size = {vocab}: must be num_tokens = {n} or num_tokens + 1 = {} (with a mask token)",
                n + 1
            )));
        }
        Ok(())
    }

    /// Builds the denoiser. Panics if [`validate`](Self::validate) fails.
    pub fn init<B: Backend>(&self, device: &B::Device) -> DenoiserNet<B> {
        if let Err(error) = self.validate() {
            panic!("invalid denoiser config: {error}");
        }
        materialize(DenoiserNet {
            trunk: self.trunk.init(device),
            head: LinearConfig::new(self.trunk.d_model, self.num_tokens).init(device),
            num_tokens: self.num_tokens,
            subs: self.subs,
        })
    }
}

/// Per-token distribution over the `N` real clean tokens, `log x_θ(z_t, t)`.
#[derive(Module, Debug)]
pub struct DenoiserNet<B: Backend> {
    /// The shared transformer trunk.
    pub trunk: Trunk<B>,
    /// Logits over the real tokens (the mask is never predicted).
    pub head: Linear<B>,
    /// Number of real tokens `N`.
    pub num_tokens: usize,
    /// Whether unmasked positions copy their input (SUBS).
    pub subs: bool,
}

impl<B: Backend> DenoiserNet<B> {
    /// Log-probabilities `[batch, length, N]`, normalised per position, of the clean tokens
    /// given noisy `tokens` (`[batch, length]`, values in `0..vocab_size`) at times `t`.
    pub fn forward(&self, tokens: Tensor<B, 2, Int>, t: Tensor<B, 1>) -> Tensor<B, 3> {
        let logits = adapted(&self.head, None, self.trunk.forward(tokens.clone(), t));
        let log_probs = log_softmax(logits, 2);
        if !self.subs {
            return log_probs;
        }
        // SUBS: at unmasked positions the clean token is the input token (MATH.md §3).
        let [batch, length] = tokens.dims();
        let n = self.num_tokens;
        let classes = Tensor::<B, 1, Int>::arange(0..n as i64, &tokens.device()).reshape([1, 1, n]);
        let is_input = tokens
            .clone()
            .unsqueeze_dim::<3>(2)
            .expand([batch, length, n])
            .equal(classes.expand([batch, length, n]));
        let copied = Tensor::<B, 3>::full([batch, length, n], SUBS_LOG_ZERO, &log_probs.device())
            .mask_fill(is_input, 0.0);
        let unmasked = tokens
            .not_equal_elem(n as i64)
            .unsqueeze_dim::<3>(2)
            .expand([batch, length, n]);
        log_probs.mask_where(unmasked, copied)
    }
}

impl<B: Backend> Denoiser<B> for DenoiserNet<B> {
    fn num_tokens(&self) -> usize {
        self.num_tokens
    }

    fn log_probs(&self, tokens: Tensor<B, 2, Int>, t: Tensor<B, 1>) -> Tensor<B, 3> {
        self.forward(tokens, t)
    }

    fn time_conditioned(&self) -> bool {
        self.trunk.time_conditioned()
    }
}

/// Configuration of a [`ScalarNet`].
#[derive(Config, Debug)]
pub struct ScalarNetConfig {
    /// The trunk.
    pub trunk: TrunkConfig,
    /// Pool the per-position outputs by their sum instead of their mean. A log-likelihood
    /// ratio is a sum of per-position terms that grows with the length (tens of nats for a
    /// 20-token Markov sequence); a mean-pooled head must reach it through large weights.
    #[config(default = false)]
    pub sum_pooling: bool,
}

impl ScalarNetConfig {
    /// Builds the network. Panics if the trunk config is invalid.
    pub fn init<B: Backend>(&self, device: &B::Device) -> ScalarNet<B> {
        materialize(ScalarNet {
            trunk: self.trunk.init(device),
            head: LinearConfig::new(self.trunk.d_model, 1).init(device),
            sum_pooling: self.sum_pooling,
        })
    }
}

/// One real number per sequence (a domain-classifier logit or a log-ratio) from the hidden
/// states, pooled over positions (mean, or sum: see [`ScalarNetConfig::sum_pooling`]).
#[derive(Module, Debug)]
pub struct ScalarNet<B: Backend> {
    /// The shared transformer trunk.
    pub trunk: Trunk<B>,
    /// `d_model → 1` on the pooled hidden state.
    pub head: Linear<B>,
    /// Whether positions are summed (else averaged).
    pub sum_pooling: bool,
}

impl<B: Backend> ScalarNet<B> {
    /// Scalars `[batch]` for `tokens` (`[batch, length]`) at times `t` (`[batch]`).
    pub fn forward(&self, tokens: Tensor<B, 2, Int>, t: Tensor<B, 1>) -> Tensor<B, 1> {
        let [batch, _] = tokens.dims();
        self.pool(self.trunk.forward(tokens, t), batch)
    }

    /// Scalars `[batch]` for one-hot inputs `[batch, length, vocab_size]`, differentiable in
    /// the input (see [`Trunk::forward_one_hot`]).
    pub fn forward_one_hot(&self, one_hot: Tensor<B, 3>, t: Tensor<B, 1>) -> Tensor<B, 1> {
        let [batch, _, _] = one_hot.dims();
        self.pool(self.trunk.forward_one_hot(one_hot, t), batch)
    }

    fn pool(&self, hidden: Tensor<B, 3>, batch: usize) -> Tensor<B, 1> {
        let pooled = if self.sum_pooling {
            hidden.sum_dim(1)
        } else {
            hidden.mean_dim(1)
        };
        let pooled = pooled.reshape([batch, self.trunk.d_model]);
        self.head.forward(pooled).reshape([batch])
    }
}

/// Configuration of a [`PositionNet`].
#[derive(Config, Debug)]
pub struct PositionNetConfig {
    /// The trunk.
    pub trunk: TrunkConfig,
}

impl PositionNetConfig {
    /// Builds the network. Panics if the trunk config is invalid.
    pub fn init<B: Backend>(&self, device: &B::Device) -> PositionNet<B> {
        materialize(PositionNet {
            trunk: self.trunk.init(device),
            head: LinearConfig::new(self.trunk.d_model, 1).init(device),
        })
    }
}

/// One logit per position (the planner's score for unmasking it).
#[derive(Module, Debug)]
pub struct PositionNet<B: Backend> {
    /// The shared transformer trunk.
    pub trunk: Trunk<B>,
    /// `d_model → 1` at every position.
    pub head: Linear<B>,
}

impl<B: Backend> PositionNet<B> {
    /// Logits `[batch, length]` for `tokens` (`[batch, length]`) at times `t` (`[batch]`).
    pub fn forward(&self, tokens: Tensor<B, 2, Int>, t: Tensor<B, 1>) -> Tensor<B, 2> {
        let [batch, length] = tokens.dims();
        adapted(&self.head, None, self.trunk.forward(tokens, t)).reshape([batch, length])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trunk::tests::{randomize_modulation, tokens};
    use crate::{Positions, describe_params};

    type TB = crate::tests::TestBackend;

    const N: usize = 5;

    fn tiny_trunk(vocab_size: usize) -> TrunkConfig {
        TrunkConfig::preset("tiny", vocab_size, 6).unwrap()
    }

    fn rows(tensor: Tensor<TB, 3>) -> Vec<Vec<f64>> {
        let width = tensor.dims()[2];
        let values = tensor.into_data().to_vec::<f64>().unwrap();
        values.chunks(width).map(<[f64]>::to_vec).collect()
    }

    fn logsumexp(row: &[f64]) -> f64 {
        let max = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        max + row.iter().map(|&v| (v - max).exp()).sum::<f64>().ln()
    }

    /// A weights file written for another vocabulary (same structure, other shapes) is refused
    /// with the parameter's shapes; burn alone would load it and fail later, or not at all.
    #[test]
    fn weights_of_another_size_are_refused_when_loaded() {
        use crate::training::{load_module_bytes, module_bytes};
        let device = Default::default();
        let small = DenoiserNetConfig::new(tiny_trunk(N + 1), N, true).init::<TB>(&device);
        let bytes = module_bytes(&small);
        let again = DenoiserNetConfig::new(tiny_trunk(N + 1), N, true).init::<TB>(&device);
        load_module_bytes(
            again,
            bytes.clone(),
            &device,
            std::path::Path::new("model.mpk"),
        )
        .unwrap();
        let large = DenoiserNetConfig::new(tiny_trunk(N + 3), N + 2, true).init::<TB>(&device);
        let err = load_module_bytes(large, bytes, &device, std::path::Path::new("model.mpk"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("model.mpk: the checkpoint does not fit"),
            "{err}"
        );
        assert!(err.contains("in the file but"), "{err}");
    }

    #[test]
    fn every_head_has_its_shape() {
        let device = Default::default();
        let z = tokens(&[&[0, 1, 2, 5, 5, 3], &[5, 5, 5, 5, 5, 5]]);
        let t = Tensor::<TB, 1>::from_floats([0.3, 0.8], &device);
        let denoiser = DenoiserNetConfig::new(tiny_trunk(N + 1), N, true).init::<TB>(&device);
        assert_eq!(denoiser.forward(z.clone(), t.clone()).dims(), [2, 6, N]);
        let scalar = ScalarNetConfig::new(tiny_trunk(N + 1)).init::<TB>(&device);
        assert_eq!(scalar.forward(z.clone(), t.clone()).dims(), [2]);
        let planner = PositionNetConfig::new(tiny_trunk(N + 1)).init::<TB>(&device);
        assert_eq!(planner.forward(z, t).dims(), [2, 6]);
    }

    #[test]
    fn for_process_uses_subs_only_for_the_absorbing_process() {
        use gtl_diffusion::{Process, ProcessKind, Schedule};
        for (kind, subs) in [
            (ProcessKind::Absorbing, true),
            (ProcessKind::Uniform, false),
            (ProcessKind::Roulette { mask_rate: 0.9 }, false),
        ] {
            let process = Process::new(kind, N, Schedule::default()).unwrap();
            let config = DenoiserNetConfig::for_process(tiny_trunk(process.num_states()), &process);
            assert_eq!(config.subs, subs, "{kind:?}");
            config.validate().unwrap();
        }
    }

    #[test]
    fn subs_copies_unmasked_tokens_and_rows_normalise() {
        let device = Default::default();
        let mut denoiser = DenoiserNetConfig::new(tiny_trunk(N + 1), N, true).init::<TB>(&device);
        denoiser.trunk = randomize_modulation(denoiser.trunk, &device);
        let input: [&[i64]; 2] = [&[0, 5, 2, 5, 4, 1], &[5, 5, 3, 5, 5, 5]];
        let t = Tensor::<TB, 1>::from_floats([0.4, 0.9], &device);
        let log_probs = rows(denoiser.forward(tokens(&input), t));
        let flat_input = input.iter().flat_map(|row| row.iter().copied());
        for (row, token) in log_probs.iter().zip(flat_input) {
            assert!(
                logsumexp(row).abs() < 1e-12,
                "row {row:?} is not normalised"
            );
            if token == N as i64 {
                // Masked: a proper distribution with no certainty forced on it.
                assert!(row.iter().all(|&v| v > -30.0), "{row:?}");
                continue;
            }
            for (v, &value) in row.iter().enumerate() {
                if v as i64 == token {
                    assert_eq!(value, 0.0);
                } else {
                    assert_eq!(value, SUBS_LOG_ZERO);
                }
            }
        }
    }

    #[test]
    fn without_subs_every_row_is_a_learned_distribution() {
        let device = Default::default();
        let denoiser = DenoiserNetConfig::new(tiny_trunk(N), N, false).init::<TB>(&device);
        let z = tokens(&[&[0, 1, 2, 3, 4, 0]]);
        let log_probs = rows(denoiser.forward(z, Tensor::from_floats([0.5], &device)));
        for row in log_probs {
            assert!(logsumexp(&row).abs() < 1e-12);
            assert!(row.iter().all(|&v| v > -30.0 && v < 0.0), "{row:?}");
        }
    }

    #[test]
    fn denoiser_trait_reports_width_and_time_dependence() {
        fn width_and_time<D: Denoiser<TB>>(denoiser: &D) -> (usize, bool) {
            (denoiser.num_tokens(), denoiser.time_conditioned())
        }
        let device = Default::default();
        let conditioned = DenoiserNetConfig::new(tiny_trunk(N + 1), N, true).init::<TB>(&device);
        assert_eq!(width_and_time(&conditioned), (N, true));
        let trunk = tiny_trunk(N + 1).with_time_conditioning(false);
        let unconditioned = DenoiserNetConfig::new(trunk, N, true).init::<TB>(&device);
        assert_eq!(width_and_time(&unconditioned), (N, false));
        let z = tokens(&[&[5, 5, 1, 5, 5, 5]]);
        let t = Tensor::<TB, 1>::from_floats([0.5], &device);
        let via_trait = Denoiser::log_probs(&unconditioned, z.clone(), t.clone());
        assert_eq!(
            via_trait.into_data(),
            unconditioned.forward(z, t).into_data()
        );
    }

    #[test]
    fn vocabulary_must_fit_the_output_width() {
        let message = DenoiserNetConfig::new(tiny_trunk(N), N, true)
            .validate()
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "model.vocab_size = 5: must be num_tokens + 1 = 6 with SUBS (the mask token is 5)"
        );
        let message = DenoiserNetConfig::new(tiny_trunk(9), N, false)
            .validate()
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with("model.vocab_size = 9: must be num_tokens = 5 or"),
            "{message}"
        );
        DenoiserNetConfig::new(tiny_trunk(N), N, false)
            .validate()
            .unwrap();
        DenoiserNetConfig::new(tiny_trunk(N + 1), N, false)
            .validate()
            .unwrap();
    }

    /// Parameters of the reference denoiser, counted from the layer shapes.
    fn reference_count(n: usize, length: usize, d: usize, blocks: usize, mlp: usize) -> usize {
        let linear = |i: usize, o: usize| i * o + o;
        let embeddings = (n + 1) * d + length * d;
        let time = 2 * linear(d, d);
        let block = 4 * linear(d, d) + linear(d, mlp) + linear(mlp, d) + linear(d, 6 * d);
        let final_norm = linear(d, 2 * d);
        let head = linear(d, n);
        embeddings + time + blocks * block + final_norm + head
    }

    #[test]
    fn reference_denoiser_parameter_count() {
        let device = Default::default();
        let (n, length) = (5, 20);
        let trunk = TrunkConfig::preset("reference", n + 1, length).unwrap();
        let denoiser = DenoiserNetConfig::new(trunk.clone(), n, true).init::<TB>(&device);
        let count = denoiser.num_params();
        println!(
            "reference denoiser N = {n}, L = {length}: {count} ({})",
            describe_params(&denoiser)
        );
        assert_eq!(count, reference_count(n, length, 256, 4, 1024));
        assert_eq!(count, 5_005_061);
        // Rotary drops the 20·256 position parameters; no time conditioning drops the time MLP
        // and the modulations but adds affine norms (2 per block + final, 2·256 each).
        let rotary =
            DenoiserNetConfig::new(trunk.clone().with_positions(Positions::Rotary), n, true);
        assert_eq!(
            rotary.init::<TB>(&device).num_params(),
            count - length * 256
        );
        let plain = DenoiserNetConfig::new(trunk.with_time_conditioning(false), n, true);
        let removed =
            2 * (256 * 256 + 256) + 4 * (256 * 6 * 256 + 6 * 256) + (256 * 2 * 256 + 2 * 256);
        assert_eq!(
            plain.init::<TB>(&device).num_params(),
            count - removed + 9 * 2 * 256
        );
    }

    #[test]
    fn parameter_descriptions() {
        let device = Default::default();
        let scalar = ScalarNetConfig::new(tiny_trunk(N + 1)).init::<TB>(&device);
        assert_eq!(
            describe_params(&scalar),
            format!("{:.1}k parameters", scalar.num_params() as f64 / 1e3)
        );
        let head = LinearConfig::new(4, 1).init::<TB>(&device);
        assert_eq!(describe_params(&head), "5 parameters");
    }

    /// Sum pooling is mean pooling times the length, before the head's bias:
    /// `sum(z) - b = L · (mean(z) - b)` for the same weights.
    #[test]
    fn sum_pooling_scales_the_mean_by_the_length() {
        let device = Default::default();
        let mean = ScalarNetConfig::new(tiny_trunk(N + 1)).init::<TB>(&device);
        let sum = ScalarNet {
            sum_pooling: true,
            ..mean.clone()
        };
        let z = Tensor::<TB, 2, Int>::from_ints([[5, 1, 5, 2, 0, 5], [3, 3, 3, 5, 5, 5]], &device);
        let t = Tensor::<TB, 1>::from_floats([0.3, 0.8], &device);
        let bias = mean
            .head
            .bias
            .as_ref()
            .unwrap()
            .val()
            .into_scalar()
            .elem::<f64>();
        let m = mean
            .forward(z.clone(), t.clone())
            .into_data()
            .to_vec::<f64>()
            .unwrap();
        let s = sum.forward(z, t).into_data().to_vec::<f64>().unwrap();
        for (m, s) in m.iter().zip(&s) {
            assert!((s - bias - 6.0 * (m - bias)).abs() < 1e-9, "{s} vs {m}");
        }
    }
}
