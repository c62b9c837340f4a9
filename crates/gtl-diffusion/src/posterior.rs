//! Reverse-process quantities computed from a denoiser's prediction in O(N) per position:
//! the model posterior `p_θ(z_s | z_t)` and the concrete score (MATH.md §3).

use burn::prelude::*;

use crate::{KernelEntries, Process, ProcessKind};

/// One-hot of the real tokens of `z` over `num_tokens` classes (`[batch, length, N]`);
/// mask positions (token `N`) are all zero.
pub fn one_hot_real<B: Backend>(z: Tensor<B, 2, Int>, num_tokens: usize) -> Tensor<B, 3> {
    let [batch, length] = z.dims();
    let classes = Tensor::<B, 1, Int>::arange(0..num_tokens as i64, &z.device())
        .reshape([1, 1, num_tokens])
        .expand([batch, length, num_tokens]);
    z.reshape([batch, length, 1])
        .expand([batch, length, num_tokens])
        .equal(classes)
        .float()
}

/// `[batch, length, 1]` mask of the positions holding the mask token (all false without one).
pub(crate) fn mask_positions<B: Backend>(
    process: &Process,
    z: &Tensor<B, 2, Int>,
) -> Tensor<B, 3, Bool> {
    let [batch, length] = z.dims();
    z.clone()
        .equal_elem(process.num_tokens as i64)
        .reshape([batch, length, 1])
}

/// `Q(x, y)` for every real `y` (`[batch, length, N]`): the rate into the current token `x`
/// from `y ≠ x`; `masked` is [`mask_positions`] as floats and `onehot` is [`one_hot_real`] of `z`.
pub(crate) fn rate_into_current<B: Backend>(
    process: &Process,
    masked: Tensor<B, 3>,
    onehot: Tensor<B, 3>,
) -> Tensor<B, 3> {
    let rate = process.rate_matrix();
    masked.clone() * rate.to_mask + (masked.neg() + 1.0) * (onehot.neg() + 1.0) * rate.jump
}

/// Per-row kernel entries as `[rows, 1, 1]` tensors (rows = 1 broadcasts over the batch).
struct RowEntries<B: Backend> {
    stay: Tensor<B, 3>,
    jump: Tensor<B, 3>,
    to_mask: Tensor<B, 3>,
}

impl<B: Backend> RowEntries<B> {
    fn new(kernels: &[KernelEntries], device: &B::Device) -> Self {
        let column =
            |f: fn(&KernelEntries) -> f64| {
                let values: Vec<f32> = kernels.iter().map(|k| f(k) as f32).collect();
                Tensor::<B, 1>::from_data(TensorData::new(values, [kernels.len()]), device)
                    .reshape([kernels.len(), 1, 1])
            };
        RowEntries {
            stay: column(|k| k.stay),
            jump: column(|k| k.jump),
            to_mask: column(|k| k.to_mask),
        }
    }
}

/// The model posterior `p_θ(z_s = y | z_t) = Σ_h q(y | z_t, h) x_θ[h]` for `s < t`, as
/// probabilities of shape `[batch, length, num_states]` (the last state is the mask where the
/// process has one). `s = 0` gives the final denoising step (`x_θ` at corrupted positions).
///
/// Derivation (kernel entries `c` stay, `b` jump, `a` to mask): at a masked position,
/// `p(y) = a_{st}/a_t · (b_s + (c_s - b_s) x_θ[y])` and `p(mask) = a_s / a_t`; at a real token
/// `x`, `p(y) ∝ P_{st}(x|y) [b_s W + (c_s - b_s) w_y]` with `w_h = x_θ[h] b_t / P_t(x|h)`,
/// `W = Σ w`. Absorbing (and any process with `b_t = 0`) copies real tokens.
pub fn model_posterior<B: Backend>(
    process: &Process,
    log_x0: Tensor<B, 3>,
    z_t: Tensor<B, 2, Int>,
    t: f64,
    s: f64,
) -> Tensor<B, 3> {
    assert!(
        s < t,
        "model_posterior: s = {s} must be earlier than t = {t}"
    );
    let n = process.num_tokens;
    let [batch, length, _] = log_x0.dims();
    let x = log_x0.exp();
    let onehot = one_hot_real(z_t.clone(), n);
    // s = 0 is the clean sequence: the identity kernel, and the whole kernel to t as the
    // transition (a schedule with σ̄(0) > 0, like the geometric one, would otherwise leave a
    // masked position's probabilities summing to a_t(0 → t)/a_t ≠ 1).
    let kt = process.kernel(t);
    let (ks, kst) = if s > 0.0 {
        (process.kernel(s), process.transition(s, t))
    } else {
        (KernelEntries::IDENTITY, kt)
    };

    let real = if kt.jump <= 0.0 {
        onehot.clone()
    } else {
        let w = x.clone() * (onehot.clone() * (kt.jump / kt.stay - 1.0) + 1.0);
        let total = w.clone().sum_dim(2);
        let inner = total * ks.jump + w * (ks.stay - ks.jump);
        let unnormalised = (onehot * (kst.stay - kst.jump) + kst.jump) * inner;
        let norm = unnormalised.clone().sum_dim(2);
        unnormalised / norm
    };
    if !process.has_mask() {
        return real;
    }
    let masked = mask_positions(process, &z_t);
    let reveal = (x * (ks.stay - ks.jump) + ks.jump) * (kst.to_mask / kt.to_mask);
    let real = real.mask_where(masked.clone().expand([batch, length, n]), reveal);
    let stay_masked = Tensor::<B, 3>::zeros([batch, length, 1], &z_t.device())
        .mask_fill(masked, ks.to_mask / kt.to_mask);
    Tensor::cat(vec![real, stay_masked], 2)
}

/// The concrete score `s_y = Σ_h P_t(y|h) / P_t(x|h) · x_θ[h]` of every state `y` at every
/// position (`[batch, length, num_states]`, `s_x = 1` at the current token `x`), from the
/// denoiser probabilities `x0_probs` (`[batch, length, N]`) and one kernel `P_t` per row
/// (or one shared kernel). Absorbing real positions have no reverse moves: their score is `δ_x`.
pub fn concrete_score<B: Backend>(
    process: &Process,
    x0_probs: Tensor<B, 3>,
    z_t: Tensor<B, 2, Int>,
    kernels: &[KernelEntries],
) -> Tensor<B, 3> {
    let n = process.num_tokens;
    let [batch, length, _] = x0_probs.dims();
    let device = x0_probs.device();
    let k = RowEntries::<B>::new(kernels, &device);
    let onehot = one_hot_real(z_t.clone(), n);
    let moves =
        !matches!(process.kind, ProcessKind::Absorbing) && kernels.iter().all(|k| k.jump > 0.0);

    // Real current token x: s_y = x_θ[y] c/b + x_θ[x] b/c + 1 - x_θ[x] - x_θ[y] for y ≠ x.
    let (real, to_mask_from_real) = if moves {
        let current = (x0_probs.clone() * onehot.clone()).sum_dim(2);
        let c_over_b = k.stay.clone() / k.jump.clone();
        let b_over_c = k.jump.clone() / k.stay.clone();
        let score = x0_probs.clone() * (c_over_b - 1.0) + current.clone() * (b_over_c - 1.0) + 1.0;
        let score = score.mask_where(onehot.clone().bool(), onehot.clone());
        let to_mask = k.to_mask.clone()
            * (current.clone() / k.stay.clone() + (current.neg() + 1.0) / k.jump.clone());
        (score, to_mask)
    } else {
        (onehot.clone(), Tensor::zeros([batch, length, 1], &device))
    };
    if !process.has_mask() {
        return real;
    }
    // Masked position: s_y = (b + (c - b) x_θ[y]) / a, s_mask = 1.
    let masked = mask_positions(process, &z_t);
    let reveal = (x0_probs * (k.stay - k.jump.clone()) + k.jump) / k.to_mask;
    let real = real.mask_where(masked.clone().expand([batch, length, n]), reveal);
    let mask_column = to_mask_from_real.mask_fill(masked, 1.0);
    Tensor::cat(vec![real, mask_column], 2)
}
