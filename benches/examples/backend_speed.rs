//! Training-step throughput of the reference-size MDLM denoiser on burn's CPU backends.
//!
//! The model mirrors `shared/bench/torch_denoiser.py` so the numbers can be set next to the
//! PyTorch reference: token embedding over `vocab + 1` ids (the last one is the mask token),
//! learned positions, `layers` pre-norm blocks (bidirectional multi-head self-attention and a
//! GELU MLP) with adaLN-zero modulation from a sinusoidal time embedding, a final LayerNorm and
//! a linear head. The loss is the MDLM NELBO: cross-entropy on the masked positions weighted
//! by `1/t`, with `t ~ U[1e-3, 1]` per sequence and masking probability `(1 - 1e-3) t`.
//! The optimiser is AdamW (PyTorch defaults: betas 0.9/0.999, eps 1e-8, weight decay 0.01).
//!
//! ```text
//! CARGO_TARGET_DIR=$HOME/.cache/gtl-target \
//!   cargo run -p gtl-benches --example backend_speed -- backend=flex threads=1
//! ```
//!
//! Arguments are `key=value`: `backend` (`flex` | `ndarray`), `threads` (sets
//! `RAYON_NUM_THREADS` and `MATMUL_NUM_THREADS` for this process before any thread pool
//! exists; omitted = inherit the environment), `steps` (timed steps, 20), `warmup` (3),
//! `batch` (256), `vocab` (5), `length` (20), `d` (256), `heads` (4), `layers` (4),
//! `mlp` (1024), `lr` (3e-4), `seed` (0), `verbose` (0; 1 prints every step's loss to stderr).
//!
//! The corruption noise (tokens, `t`, masks) is drawn on the host from a seeded ChaCha stream,
//! so both backends see the same batches. Every step ends with a device sync; the printed
//! `sequences_per_second` is `batch / median(step time)` over the timed steps. Output, one line:
//!
//! ```text
//! backend=flex threads=1 params=4874246 sequences_per_second=... median_step_s=...
//!   median_step_cpu_s=... first_loss=... last_loss=... (then the settings)
//! ```
//!
//! Threading note: the CPU backends only use more than one core when their own crate features
//! allow it (`burn-flex/rayon`, `burn-ndarray/multi-threads`); see docs/backends.md.

use std::time::Instant;

use burn::backend::{Autodiff, Flex, NdArray};
use burn::module::{AutodiffModule, Module, Param};
use burn::nn::attention::{MhaInput, MultiHeadAttention, MultiHeadAttentionConfig};
use burn::nn::{
    Embedding, EmbeddingConfig, Initializer, LayerNorm, LayerNormConfig, Linear, LinearConfig,
};
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::tensor::activation::{gelu, log_softmax, silu};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Int, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Minimum diffusion time, as in the reference script.
const EPS: f64 = 1e-3;

/// Benchmark settings, filled from `key=value` arguments.
#[derive(Clone, Debug)]
struct Args {
    backend: String,
    threads: Option<usize>,
    steps: usize,
    warmup: usize,
    batch: usize,
    vocab: usize,
    length: usize,
    d: usize,
    heads: usize,
    layers: usize,
    mlp: usize,
    lr: f64,
    seed: u64,
    verbose: bool,
}

impl Args {
    fn parse() -> Result<Self, String> {
        let mut a = Args {
            backend: "flex".into(),
            threads: None,
            steps: 20,
            warmup: 3,
            batch: 256,
            vocab: 5,
            length: 20,
            d: 256,
            heads: 4,
            layers: 4,
            mlp: 1024,
            lr: 3e-4,
            seed: 0,
            verbose: false,
        };
        for arg in std::env::args().skip(1) {
            let (k, v) = arg
                .split_once('=')
                .ok_or_else(|| format!("expected key=value, got `{arg}`"))?;
            let num = |v: &str| v.parse::<usize>().map_err(|e| format!("{k}={v}: {e}"));
            match k {
                "backend" => a.backend = v.to_string(),
                "threads" => a.threads = Some(num(v)?),
                "steps" => a.steps = num(v)?,
                "warmup" => a.warmup = num(v)?,
                "batch" => a.batch = num(v)?,
                "vocab" => a.vocab = num(v)?,
                "length" => a.length = num(v)?,
                "d" => a.d = num(v)?,
                "heads" => a.heads = num(v)?,
                "layers" => a.layers = num(v)?,
                "mlp" => a.mlp = num(v)?,
                "lr" => a.lr = v.parse().map_err(|e| format!("lr={v}: {e}"))?,
                "seed" => a.seed = v.parse().map_err(|e| format!("seed={v}: {e}"))?,
                "verbose" => a.verbose = num(v)? != 0,
                _ => return Err(format!("unknown argument `{k}`")),
            }
        }
        if a.steps == 0 || !a.d.is_multiple_of(2) || !a.d.is_multiple_of(a.heads) {
            return Err("need steps > 0, even d, and d divisible by heads".into());
        }
        Ok(a)
    }
}

/// LayerNorm over the last axis without learnable affine parameters (`elementwise_affine=False`).
fn layer_norm_plain<B: Backend>(x: Tensor<B, 3>) -> Tensor<B, 3> {
    let (var, mean) = x.clone().var_mean_bias(2);
    (x - mean) / var.add_scalar(1e-5).sqrt()
}

/// Pre-norm transformer block with adaLN-zero conditioning.
#[derive(Module, Debug)]
struct Block<B: Backend> {
    attn: MultiHeadAttention<B>,
    fc1: Linear<B>,
    fc2: Linear<B>,
    /// Produces shift/scale/gate for attention and MLP (6·d values); zero-initialised.
    modulation: Linear<B>,
}

impl<B: Backend> Block<B> {
    fn new(d: usize, heads: usize, mlp: usize, device: &B::Device) -> Self {
        Self {
            attn: MultiHeadAttentionConfig::new(d, heads)
                .with_dropout(0.0)
                .init(device),
            fc1: LinearConfig::new(d, mlp).init(device),
            fc2: LinearConfig::new(mlp, d).init(device),
            modulation: LinearConfig::new(d, 6 * d)
                .with_initializer(Initializer::Zeros)
                .init(device),
        }
    }

    /// `x`: `[batch, length, d]`, `c`: `[batch, d]`.
    fn forward(&self, x: Tensor<B, 3>, c: Tensor<B, 2>) -> Tensor<B, 3> {
        let [batch, d] = c.dims();
        let mut m = self
            .modulation
            .forward(c)
            .reshape([batch, 1, 6 * d])
            .chunk(6, 2)
            .into_iter();
        let mut next = || m.next().expect("six chunks");
        let (s1, b1, g1, s2, b2, g2) = (next(), next(), next(), next(), next(), next());

        let h = layer_norm_plain(x.clone()) * s1.add_scalar(1.0) + b1;
        let a = self.attn.forward(MhaInput::self_attn(h)).context;
        let x = x + g1 * a;
        let h = layer_norm_plain(x.clone()) * s2.add_scalar(1.0) + b2;
        let h = self.fc2.forward(gelu(self.fc1.forward(h)));
        x + g2 * h
    }
}

/// The denoiser: logits over `vocab + 1` classes for every position.
#[derive(Module, Debug)]
struct Denoiser<B: Backend> {
    emb: Embedding<B>,
    pos: Param<Tensor<B, 3>>,
    t1: Linear<B>,
    t2: Linear<B>,
    blocks: Vec<Block<B>>,
    norm: LayerNorm<B>,
    head: Linear<B>,
}

impl<B: Backend> Denoiser<B> {
    fn new(a: &Args, device: &B::Device) -> Self {
        Self {
            emb: EmbeddingConfig::new(a.vocab + 1, a.d).init(device),
            pos: Param::from_tensor(Tensor::zeros([1, a.length, a.d], device)),
            t1: LinearConfig::new(a.d, a.d).init(device),
            t2: LinearConfig::new(a.d, a.d).init(device),
            blocks: (0..a.layers)
                .map(|_| Block::new(a.d, a.heads, a.mlp, device))
                .collect(),
            norm: LayerNormConfig::new(a.d).init(device),
            head: LinearConfig::new(a.d, a.vocab + 1).init(device),
        }
    }

    /// `z`: `[batch, length]` token ids, `t_features`: `[batch, d]` sinusoidal features of t,
    /// `mask_bias`: `[1, 1, vocab + 1]`, −1e6 on the mask class (SUBS: never predict the mask).
    fn forward(
        &self,
        z: Tensor<B, 2, Int>,
        t_features: Tensor<B, 2>,
        mask_bias: Tensor<B, 3>,
    ) -> Tensor<B, 3> {
        let mut x = self.emb.forward(z) + self.pos.val();
        let c = self.t2.forward(silu(self.t1.forward(t_features)));
        for block in &self.blocks {
            x = block.forward(x, c.clone());
        }
        self.head.forward(self.norm.forward(x)) + mask_bias
    }
}

/// One corrupted batch, drawn on the host.
struct HostBatch {
    x0: Vec<i64>,
    z: Vec<i64>,
    /// `1/t` on masked positions, 0 elsewhere.
    weight: Vec<f32>,
    /// `[cos(1000 t f_k), sin(1000 t f_k)]` per sequence, `batch * d` values.
    t_features: Vec<f32>,
}

fn draw_batch(a: &Args, rng: &mut ChaCha8Rng) -> HostBatch {
    let (b, l, half) = (a.batch, a.length, a.d / 2);
    let mut out = HostBatch {
        x0: Vec::with_capacity(b * l),
        z: Vec::with_capacity(b * l),
        weight: Vec::with_capacity(b * l),
        t_features: Vec::with_capacity(b * a.d),
    };
    let freqs: Vec<f64> = (0..half)
        .map(|k| (-(10000f64.ln()) * k as f64 / half as f64).exp())
        .collect();
    for _ in 0..b {
        let t = rng.random::<f64>() * (1.0 - EPS) + EPS;
        let p_mask = (1.0 - EPS) * t;
        for _ in 0..l {
            let tok = rng.random_range(0..a.vocab) as i64;
            let masked = rng.random::<f64>() < p_mask;
            out.x0.push(tok);
            out.z.push(if masked { a.vocab as i64 } else { tok });
            out.weight.push(if masked { (1.0 / t) as f32 } else { 0.0 });
        }
        let angles: Vec<f64> = freqs.iter().map(|f| t * 1000.0 * f).collect();
        out.t_features.extend(angles.iter().map(|x| x.cos() as f32));
        out.t_features.extend(angles.iter().map(|x| x.sin() as f32));
    }
    out
}

/// MDLM NELBO of one batch: `sum(nll * masked / t) / (batch * length)`.
fn loss<B: Backend>(
    model: &Denoiser<B>,
    a: &Args,
    hb: &HostBatch,
    mask_bias: Tensor<B, 3>,
    device: &B::Device,
) -> Tensor<B, 1> {
    let (b, l) = (a.batch, a.length);
    let x0 = Tensor::<B, 2, Int>::from_data(TensorData::new(hb.x0.clone(), [b, l]), device);
    let z = Tensor::<B, 2, Int>::from_data(TensorData::new(hb.z.clone(), [b, l]), device);
    let w = Tensor::<B, 2>::from_data(TensorData::new(hb.weight.clone(), [b, l]), device);
    let tf = Tensor::<B, 2>::from_data(TensorData::new(hb.t_features.clone(), [b, a.d]), device);
    let logp = log_softmax(model.forward(z, tf, mask_bias), 2);
    let nll = logp.gather(2, x0.reshape([b, l, 1])).reshape([b, l]).neg();
    (nll * w).sum().div_scalar((b * l) as f64)
}

/// CPU time (user + system, all threads) this process has used so far, in seconds, from
/// `/proc/self/stat` (Linux; clock ticks are `USER_HZ` = 100 on x86-64 and aarch64 Linux).
/// `None` elsewhere. Unlike wall time it is barely affected by other jobs on shared cores.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

fn run<B: AutodiffBackend>(a: &Args, device: B::Device) {
    B::seed(&device, a.seed);
    let mut model = Denoiser::<B>::new(a, &device);
    let params = model.num_params();
    let mut optim = AdamWConfig::new()
        .with_epsilon(1e-8)
        .with_weight_decay(0.01)
        .init::<B, Denoiser<B>>();
    let mut bias = vec![0f32; a.vocab + 1];
    bias[a.vocab] = -1e6;
    let mask_bias = Tensor::<B, 3>::from_data(TensorData::new(bias, [1, 1, a.vocab + 1]), &device);
    let mut rng = ChaCha8Rng::seed_from_u64(a.seed);

    let mut times = Vec::with_capacity(a.steps);
    let mut cpu_times = Vec::with_capacity(a.steps);
    let mut losses = Vec::with_capacity(a.warmup + a.steps);
    for step in 0..a.warmup + a.steps {
        let start = Instant::now();
        let cpu_start = process_cpu_seconds();
        let hb = draw_batch(a, &mut rng);
        let l = loss(&model, a, &hb, mask_bias.clone(), &device);
        let value: f32 = l.clone().into_scalar().elem();
        let grads = GradientsParams::from_grads(l.backward(), &model);
        model = optim.step(a.lr, model, grads);
        B::sync(&device).expect("device sync");
        let secs = start.elapsed().as_secs_f64();
        if step >= a.warmup {
            times.push(secs);
            if let (Some(c0), Some(c1)) = (cpu_start, process_cpu_seconds()) {
                cpu_times.push(c1 - c0);
            }
        }
        losses.push(value);
        if a.verbose {
            eprintln!("step={step} loss={value:.4} secs={secs:.3}");
        }
    }
    // Keep the trained model observable so nothing is optimised away.
    let _ = model.valid();

    let median_wall = median(&times);
    let median_cpu = median(&cpu_times);
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "default".into());
    println!(
        "backend={} threads={} params={} sequences_per_second={:.1} median_step_s={:.4} \
         median_step_cpu_s={:.3} first_loss={:.4} last_loss={:.4} steps={} warmup={} batch={} \
         d={} layers={}",
        a.backend,
        threads,
        params,
        a.batch as f64 / median_wall,
        median_wall,
        median_cpu,
        losses[0],
        losses[losses.len() - 1],
        a.steps,
        a.warmup,
        a.batch,
        a.d,
        a.layers,
    );
}

fn main() {
    let a = match Args::parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("backend_speed: {e}");
            std::process::exit(2);
        }
    };
    if let Some(n) = a.threads {
        // SAFETY: first statement after argument parsing, before any thread (rayon or
        // matrixmultiply pool) exists; nothing else reads or writes the environment concurrently.
        unsafe {
            std::env::set_var("RAYON_NUM_THREADS", n.to_string());
            std::env::set_var("MATMUL_NUM_THREADS", n.to_string());
        }
    }
    match a.backend.as_str() {
        "flex" => run::<Autodiff<Flex>>(&a, Default::default()),
        "ndarray" => run::<Autodiff<NdArray>>(&a, Default::default()),
        other => {
            eprintln!("backend_speed: unknown backend `{other}` (flex | ndarray)");
            std::process::exit(2);
        }
    }
}
