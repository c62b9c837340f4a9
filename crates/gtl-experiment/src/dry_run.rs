//! What a configuration would train, without training: every network's parameter count,
//! the ratio network's share of the denoiser, tokens per step, and an estimate of the
//! training memory of each network (docs/language.md explains the estimate).

use std::fmt::Write as _;

use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::config::ExperimentConfig;
use crate::method::Method;
use crate::nets::{
    baseline_net, clean_classifier_net, denoiser_net, noisy_classifier_net, planner_net, ratio_net,
};

/// One network of a dry run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetworkPlan {
    /// Which network.
    pub name: String,
    /// Its parameters.
    pub parameters: usize,
    /// Parameters its training updates.
    pub trainable: usize,
    /// Training steps.
    pub steps: usize,
    /// Tokens per training step (batch × L).
    pub tokens_per_step: usize,
    /// Estimated peak training memory in bytes.
    pub memory_bytes: f64,
}

/// A configuration's networks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DryRun {
    /// Real tokens N.
    pub num_tokens: usize,
    /// Sequence length L.
    pub length: usize,
    /// Every network.
    pub networks: Vec<NetworkPlan>,
    /// Parameters of the learned ratio's networks over the denoiser's.
    pub ratio_share: f64,
}

/// Bytes per trained parameter: the weights, the gradient and AdamW's two moments (f32),
/// plus the EMA copy when there is one.
fn parameter_bytes(ema: bool) -> f64 {
    4.0 * if ema { 5.0 } else { 4.0 }
}

/// Activations kept for the backward pass, in bytes: per block the residual stream, the
/// normalised inputs, queries, keys, values, attention output and MLP hidden units
/// (`≈ 12·d + 2·mlp` floats per token) and the attention weights (`heads · L` per token),
/// plus the output layer's logits and their softmax (`2 · V` per token).
fn activation_bytes(
    tokens: usize,
    d: usize,
    mlp: usize,
    heads: usize,
    length: usize,
    blocks: usize,
    outputs: usize,
) -> f64 {
    let per_token = blocks * (12 * d + 2 * mlp + heads * length) + 2 * outputs;
    4.0 * (tokens * per_token) as f64
}

/// The networks of `config` and their sizes, on backend `B` (weights are initialised to be
/// counted, then dropped).
pub fn dry_run<B: AutodiffBackend>(
    config: &ExperimentConfig,
    device: &B::Device,
) -> Result<DryRun> {
    let (n, length) = (config.num_tokens()?, config.length());
    let mut networks = Vec::new();
    let mut plan = |name: &str,
                    parameters: usize,
                    trainable: usize,
                    trunk: &gtl_models::TrunkConfig,
                    training: &gtl_models::training::TrainingConfig,
                    outputs: usize| {
        let tokens = training.batch_size * length;
        networks.push(NetworkPlan {
            name: name.into(),
            parameters,
            trainable,
            steps: training.steps,
            tokens_per_step: tokens,
            memory_bytes: parameter_bytes(training.ema_decay > 0.0) * trainable as f64
                + 4.0 * (parameters - trainable) as f64
                + activation_bytes(
                    tokens,
                    trunk.d_model,
                    trunk.mlp_hidden,
                    trunk.num_heads,
                    length,
                    trunk.num_blocks,
                    outputs,
                ),
        });
    };
    let denoiser = denoiser_net(config)?;
    let denoiser_params = denoiser.init::<B>(device).num_params();
    plan(
        "denoiser",
        denoiser_params,
        denoiser_params,
        &denoiser.trunk,
        &config.denoiser.training,
        n,
    );
    let noisy = noisy_classifier_net(config)?;
    let noisy_params = noisy.init::<B>(device).num_params();
    let mut ratio_params = noisy_params;
    plan(
        "noisy classifier",
        noisy_params,
        noisy_params,
        &noisy.trunk,
        &config.classifier.training,
        1,
    );
    if config.ratio.needs_clean_classifier() {
        let clean = clean_classifier_net(config)?;
        let clean_params = clean.init::<B>(device).num_params();
        plan(
            "clean classifier",
            clean_params,
            clean_params,
            &clean.trunk,
            &config.classifier.training,
            1,
        );
        let ratio = ratio_net(config)?;
        let params = ratio.init::<B>(device).num_params();
        plan(
            "ratio network",
            params,
            params,
            &ratio.trunk,
            &config.ratio.training,
            1,
        );
        ratio_params += clean_params + params;
    }
    if config.guidance.order.needs_planner() {
        let planner = planner_net(config)?;
        let params = planner.init::<B>(device).num_params();
        plan(
            "planner",
            params,
            params,
            &planner.trunk,
            &config.planner.training,
            1,
        );
    }
    for &method in &config.experiment.methods {
        let Some(baseline) = method.baseline(&config.finetune) else {
            continue;
        };
        let net = baseline_net::<B>(config, baseline, device)?;
        let frozen = gtl_finetune::freeze_for(net, baseline)?;
        let counts = gtl_finetune::count_params(&frozen);
        let name = match method {
            Method::TargetOnly => "target-only",
            _ => method.name(),
        };
        plan(
            name,
            counts.total,
            counts.trainable,
            &denoiser.trunk,
            config.finetune.training(baseline),
            n,
        );
    }
    Ok(DryRun {
        num_tokens: n,
        length,
        networks,
        ratio_share: ratio_params as f64 / denoiser_params as f64,
    })
}

impl std::fmt::Display for DryRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut text = format!(
            "N = {} real tokens, L = {}; the learned ratio has {:.1} % of the denoiser's \
             parameters.\n\n| network | parameters | trained | steps | tokens per step | \
             memory estimate |\n|---|---:|---:|---:|---:|---:|\n",
            self.num_tokens,
            self.length,
            100.0 * self.ratio_share
        );
        for n in &self.networks {
            let _ = writeln!(
                text,
                "| {} | {:.2}M | {:.2}M | {} | {} | {:.2} GiB |",
                n.name,
                n.parameters as f64 / 1e6,
                n.trainable as f64 / 1e6,
                n.steps,
                n.tokens_per_step,
                n.memory_bytes / (1u64 << 30) as f64
            );
        }
        f.write_str(&text)
    }
}
