//! Tests across modules: autodiff gradients against finite differences, and a short training
//! run.

use std::time::Instant;

use burn::backend::{Autodiff, NdArray};
use burn::module::{AutodiffModule, Param};
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::{Device, Distribution, TensorData};

use crate::trunk::tests::randomize_modulation;
use crate::*;

/// The backend of every test in the crate. burn 0.21 fixes a device's default float dtype at
/// its first tensor, and `NdArray<f32>` and `NdArray<f64>` share the device, so one test binary
/// must not mix them: the gradient check needs f64, hence f64 everywhere.
pub(crate) type TestBackend = NdArray<f64>;

type AB = Autodiff<TestBackend>;

/// Picks one weight matrix of a [`ScalarNet`].
type Accessor = fn(&mut ScalarNet<AB>) -> &mut Param<Tensor<AB, 2>>;

fn small_scalar_net(device: &Device<AB>) -> ScalarNet<AB> {
    let trunk = TrunkConfig::new(4, 5)
        .with_d_model(8)
        .with_num_heads(2)
        .with_num_blocks(1)
        .with_mlp_hidden(16);
    let mut net = ScalarNetConfig::new(trunk).init::<AB>(device);
    // Open the adaLN gates, and move the zero positions, so every path carries gradient.
    net.trunk = randomize_modulation(net.trunk, device);
    let positions = Tensor::random([5, 8], Distribution::Normal(0.0, 0.5), device);
    net.trunk.position_embedding = Some(Param::from_tensor(positions));
    net
}

/// The scalar whose gradient is checked: the sum of the outputs of a fixed batch.
fn objective(net: &ScalarNet<AB>) -> Tensor<AB, 1> {
    let device = Default::default();
    let tokens = Tensor::<AB, 1, Int>::from_data([0, 3, 1, 2, 3, 2, 2, 0, 1, 3], &device);
    let t = Tensor::<AB, 1>::from_data([0.25, 0.7], &device);
    net.forward(tokens.reshape([2, 5]), t).sum()
}

fn with_shift(
    mut net: ScalarNet<AB>,
    access: Accessor,
    row: usize,
    col: usize,
    shift: f64,
) -> ScalarNet<AB> {
    let param = access(&mut net);
    let [rows, cols] = param.dims();
    let mut values = param.val().into_data().to_vec::<f64>().unwrap();
    values[row * cols + col] += shift;
    // A fresh leaf tensor: require_grad refuses the output of an operation.
    let shifted = Tensor::from_data(TensorData::new(values, [rows, cols]), &param.device());
    *param = Param::from_tensor(shifted);
    net
}

#[test]
fn autodiff_gradients_match_central_differences() {
    let device = Default::default();
    let net = small_scalar_net(&device);
    let grads = objective(&net).backward();
    let accessors: [(&str, Accessor, usize, usize); 7] = [
        (
            "token embedding",
            |n| &mut n.trunk.token_embedding.weight,
            3,
            5,
        ),
        (
            "positions",
            |n| n.trunk.position_embedding.as_mut().unwrap(),
            4,
            1,
        ),
        (
            "time embedding",
            |n| &mut n.trunk.time_embedding.as_mut().unwrap().linear_in.weight,
            2,
            6,
        ),
        (
            "query",
            |n| &mut n.trunk.blocks[0].attention.query.weight,
            1,
            7,
        ),
        ("mlp", |n| &mut n.trunk.blocks[0].mlp_in.weight, 6, 11),
        (
            "modulation",
            |n| match &mut n.trunk.blocks[0].conditioning {
                Conditioning::AdaLnZero(linear) => &mut linear.weight,
                Conditioning::Affine(_) => unreachable!("the net is time-conditioned"),
            },
            0,
            40,
        ),
        ("head", |n| &mut n.head.weight, 5, 0),
    ];
    let h = 1e-5;
    for (name, access, row, col) in accessors {
        let weight = access(&mut net.clone()).val();
        let gradient = weight.grad(&grads).unwrap();
        let [_, cols] = gradient.dims();
        let autodiff = gradient.into_data().to_vec::<f64>().unwrap()[row * cols + col];
        let value =
            |shift| objective(&with_shift(net.clone(), access, row, col, shift)).into_scalar();
        let central = (value(h) - value(-h)) / (2.0 * h);
        let error = (autodiff - central).abs() / central.abs().max(1e-3);
        println!(
            "{name}: autodiff {autodiff:.9}, central {central:.9}, relative error {error:.1e}"
        );
        assert!(
            error < 1e-6,
            "{name}: autodiff {autodiff} vs central difference {central}"
        );
    }
}

/// Tokens and times of a copy-task batch, drawn from a host generator (not the backend's
/// process-wide one, which other tests of this binary reseed and draw from concurrently).
fn copy_batch<B: Backend>(
    rng: &mut rand_chacha::ChaCha8Rng,
    (n, length, batch): (usize, usize, usize),
    device: &B::Device,
) -> (Tensor<B, 2, Int>, Tensor<B, 1>) {
    use rand::Rng;
    let tokens: Vec<i64> = (0..batch * length)
        .map(|_| rng.random_range(0..n as i64))
        .collect();
    let times: Vec<f32> = (0..batch).map(|_| rng.random::<f32>()).collect();
    (
        Tensor::from_data(TensorData::new(tokens, [batch, length]), device),
        Tensor::from_data(TensorData::new(times, [batch]), device),
    )
}

/// Trains with its own weights (seeded under the backend-seed lock) and its own batches, so
/// the result does not depend on which other tests run at the same time.
#[test]
fn tiny_denoiser_learns_to_copy() {
    use rand::SeedableRng;
    let device = Default::default();
    let sizes = (5, 8, 32);
    let (n, length, _) = sizes;
    let trunk = TrunkConfig::preset("tiny", n, length).unwrap();
    let mut model = training::seeded::<AB, _>(&device, 7, || {
        DenoiserNetConfig::new(trunk, n, false).init::<AB>(&device)
    });
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut optim = AdamConfig::new().init();
    let start = Instant::now();
    let mut losses = Vec::new();
    for _ in 0..100 {
        let (x0, t) = copy_batch::<AB>(&mut rng, sizes, &device);
        let log_probs = model.forward(x0.clone(), t);
        let loss = -log_probs.gather(2, x0.unsqueeze_dim(2)).mean();
        losses.push(loss.clone().into_scalar());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-2, model, grads);
    }
    let elapsed = start.elapsed().as_secs_f64();
    let last10 = losses[90..].iter().sum::<f64>() / 10.0;
    println!(
        "copy task: loss {:.4} -> {last10:.4} (mean of last 10) in {elapsed:.2} s",
        losses[0]
    );
    assert!(
        losses[0] > 1.0,
        "the untrained loss should be near ln 5: {}",
        losses[0]
    );
    assert!(last10 < 0.01, "the copy loss stays at {last10}");
    // The inference copy (inner backend, no autograd) copies a fresh batch exactly.
    let trained: DenoiserNet<TestBackend> = model.valid();
    let (x0, t) = copy_batch::<TestBackend>(&mut rng, sizes, &device);
    let predicted = trained.forward(x0.clone(), t).argmax(2).squeeze_dim::<2>(2);
    assert_eq!(predicted.into_data(), x0.into_data());
}

/// The one-hot path equals the token path on one-hot rows, and its input gradient (used by
/// Taylor guidance) matches central finite differences of the output.
#[test]
fn one_hot_forward_matches_tokens_and_its_input_gradient_matches_differences() {
    let device = Default::default();
    let net_ad = small_scalar_net(&device);
    let net = net_ad.valid();
    let tokens = Tensor::<TestBackend, 2, Int>::from_data(
        TensorData::new(vec![0i64, 3, 1, 2, 3, 2, 2, 0, 1, 3], [2, 5]),
        &device,
    );
    let t = Tensor::<TestBackend, 1>::from_floats([0.3, 0.8], &device);
    let one_hot: Tensor<TestBackend, 3> = tokens.clone().one_hot(4).float();
    let by_tokens = net.forward(tokens, t.clone());
    let by_one_hot = net.forward_one_hot(one_hot.clone(), t.clone());
    by_tokens.into_data().assert_approx_eq::<f64>(
        &by_one_hot.into_data(),
        burn::tensor::Tolerance::absolute(1e-12),
    );

    let input = Tensor::<AB, 3>::from_inner(one_hot.clone()).require_grad();
    let out = net_ad.forward_one_hot(input.clone(), Tensor::from_inner(t.clone()));
    let grads = out.sum().backward();
    let gradient: Vec<f64> = input.grad(&grads).unwrap().into_data().to_vec().unwrap();
    let inner = net;
    let step = 1e-5;
    for (row, position, token) in [(0usize, 1usize, 0usize), (0, 4, 2), (1, 2, 3), (1, 0, 1)] {
        let mut shift = vec![0.0f64; 2 * 5 * 4];
        shift[(row * 5 + position) * 4 + token] = step;
        let shift = Tensor::<TestBackend, 3>::from_data(TensorData::new(shift, [2, 5, 4]), &device);
        let plus = inner.forward_one_hot(one_hot.clone() + shift.clone(), t.clone());
        let minus = inner.forward_one_hot(one_hot.clone() - shift, t.clone());
        let difference: f64 = (plus - minus).sum().into_scalar() / (2.0 * step);
        let analytic = gradient[(row * 5 + position) * 4 + token];
        assert!(
            (difference - analytic).abs() < 1e-6 * (1.0 + analytic.abs()),
            "({row}, {position}, {token}): finite difference {difference}, autodiff {analytic}"
        );
    }
}
