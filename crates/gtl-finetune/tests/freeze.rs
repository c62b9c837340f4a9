//! Partial fine-tuning trains exactly what it says: after real optimiser steps on the
//! diffusion loss, frozen parameters are bit-for-bit unchanged and trainable ones moved; the
//! trainable count is the last blocks' + final norm's + head's parameters, or for low-rank
//! adapters `rank · (d_in + d_out)` per adapted layer.

use burn::backend::{Autodiff, NdArray};
use burn::module::{AutodiffModule, Module, ModuleVisitor, Param};
use burn::prelude::*;
use gtl_diffusion::{Loss, Process, ProcessKind, Schedule};
use gtl_finetune::{Method, count_params, freeze_for};
use gtl_markov::MarkovChain;
use gtl_models::objectives::DenoiserObjective;
use gtl_models::training::{RunOptions, TrainingConfig, train};
use gtl_models::{DenoiserNet, DenoiserNetConfig, TrunkConfig};

type TB = Autodiff<NdArray>;
type Inner = NdArray;

/// burn's NdArray generator is process-global: tests that initialise networks take turns, and
/// [`source_model`] seeds it, so every test's weights are the same on every run.
static GLOBAL_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Every float parameter's values and whether it is tracked, in visiting order.
struct Snapshot(Vec<(bool, Vec<f32>)>);

impl<B: Backend> ModuleVisitor<B> for Snapshot {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let value = param.val();
        let tracked = value.is_require_grad();
        let data: Vec<f32> = value.into_data().convert::<f32>().to_vec().unwrap();
        self.0.push((tracked, data));
    }
}

fn snapshot(model: &DenoiserNet<TB>) -> Vec<(bool, Vec<f32>)> {
    let mut visitor = Snapshot(Vec::new());
    model.visit(&mut visitor);
    visitor.0
}

fn source_model() -> (Process, DenoiserNet<TB>) {
    let device = Default::default();
    TB::seed(&device, 0);
    let process = Process::new(ProcessKind::Absorbing, 5, Schedule::default()).unwrap();
    let trunk = TrunkConfig::preset("tiny", 6, 8)
        .unwrap()
        .with_num_blocks(3);
    let model = DenoiserNetConfig::for_process(trunk, &process).init::<TB>(&device);
    (process, model)
}

/// Five AdamW steps (with weight decay) on the diffusion loss.
fn five_steps(model: DenoiserNet<TB>, process: Process, name: &str) -> DenoiserNet<TB> {
    let data = MarkovChain::diagonal(5, 0.8)
        .unwrap()
        .sample_dataset(200, 8, 1);
    steps(model, process, name, &data, 5, 1e-2)
}

/// `count` AdamW steps (batch 32, weight decay 0.1) on the MDLM NELBO of `data` (the last
/// quarter validates).
fn steps(
    model: DenoiserNet<TB>,
    process: Process,
    name: &str,
    data: &[Vec<u32>],
    count: usize,
    learning_rate: f64,
) -> DenoiserNet<TB> {
    let device = Default::default();
    let split = data.len() * 3 / 4;
    let objective = DenoiserObjective::<TB> {
        process,
        loss: Loss::MdlmNelbo,
        train: &data[..split],
        validation: &data[split..],
        device,
    };
    let config = TrainingConfig {
        steps: count,
        batch_size: 32,
        learning_rate,
        warmup_steps: 0,
        weight_decay: 0.1,
        validate_every: count,
        checkpoint_every: count,
        log_every: count,
        ..TrainingConfig::default()
    };
    let dir = std::env::temp_dir().join(format!("gtl-finetune-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let options = RunOptions {
        dir: dir.clone(),
        resume: false,
        stop_after: None,
        label: name.into(),
        observer: None,
    };
    let trained = train(model, &objective, &config, &options, &device).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    trained.model
}

/// After [`five_steps`], every untracked tensor keeps its exact values and tracked ones move.
fn check_only_tracked_tensors_move(model: DenoiserNet<TB>, process: Process, name: &str) {
    let before = snapshot(&model);
    let after = snapshot(&five_steps(model, process, name));
    assert_eq!(before.len(), after.len());
    let (mut frozen, mut moved) = (0, 0);
    for ((tracked, old), (_, new)) in before.iter().zip(&after) {
        if *tracked {
            assert_ne!(old, new, "{name}: a trainable parameter did not move");
            moved += 1;
        } else {
            assert_eq!(old, new, "{name}: a frozen parameter changed");
            frozen += 1;
        }
    }
    eprintln!("{name}: {frozen} frozen tensors unchanged, {moved} trainable tensors moved");
    assert!(frozen > 0 && moved > 0);
}

#[test]
fn only_the_last_blocks_and_the_head_move() {
    let _guard = GLOBAL_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let (process, model) = source_model();
    let all = count_params(&model);
    let last_block = count_params(&model.trunk.blocks[2]).total;
    let final_norm = count_params(&model.trunk.final_norm).total;
    let head = count_params(&model.head).total;
    assert_eq!(all.trainable, all.total);

    let model = freeze_for(model, Method::LastBlocks { blocks: 1 }).unwrap();
    let counts = count_params(&model);
    assert_eq!(counts.total, all.total);
    assert_eq!(counts.trainable, last_block + final_norm + head);
    check_only_tracked_tensors_move(model, process, "last-blocks");
}

#[test]
fn low_rank_adapters_are_all_that_moves_and_start_as_the_source() {
    let _guard = GLOBAL_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let device = Default::default();
    let (process, model) = source_model();
    // A few steps first: at initialisation the adaLN-zero gates close every residual branch,
    // so adapters inside them would get no gradient; a trained source has open gates.
    let model = five_steps(model, process, "source");
    let all = count_params(&model);
    let (d, hidden, rank) = (
        model.trunk.d_model,
        model.trunk.blocks[0].mlp_in.weight.dims()[1],
        2,
    );
    let method = Method::LowRank { rank, alpha: 4.0 };
    let adapted = freeze_for(model.clone(), method).unwrap();
    let counts = count_params(&adapted);
    // Per block: four d×d projections and the MLP's d→hidden and hidden→d layers.
    let per_block = rank * (4 * (d + d) + (d + hidden) + (hidden + d));
    assert_eq!(counts.trainable, 3 * per_block);
    assert_eq!(counts.total, all.total + 3 * per_block);

    // The update B is zero at first: the adapted network computes exactly the source's output.
    let tokens = Tensor::<TB, 2, Int>::from_ints([[5, 1, 5, 2, 5, 5, 0, 5], [5; 8]], &device);
    let t = Tensor::<TB, 1>::from_floats([0.7, 1.0], &device);
    assert_eq!(
        adapted.forward(tokens.clone(), t.clone()).into_data(),
        model.forward(tokens, t).into_data()
    );
    check_only_tracked_tensors_move(adapted, process, "lora");
}

#[test]
fn methods_validate_their_block_count_and_full_trains_everything() {
    let _guard = GLOBAL_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let device = Default::default();
    let trunk = TrunkConfig::preset("tiny", 6, 8)
        .unwrap()
        .with_num_blocks(2);
    let model = DenoiserNetConfig::new(trunk, 5, true).init::<TB>(&device);
    for blocks in [0, 3] {
        let err = freeze_for(model.clone(), Method::LastBlocks { blocks })
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!("finetune.blocks = {blocks}")),
            "{err}"
        );
    }
    let full = count_params(&freeze_for(model.clone(), Method::Full).unwrap());
    assert_eq!(full.trainable, full.total);
    // Training every block leaves only the embeddings (token, position, time) frozen.
    let embeddings = count_params(&model.trunk.token_embedding).total
        + model
            .trunk
            .position_embedding
            .as_ref()
            .map_or(0, |p| p.val().shape().num_elements())
        + model
            .trunk
            .time_embedding
            .as_ref()
            .map_or(0, |e| count_params(e).total);
    let all_blocks = count_params(&freeze_for(model, Method::LastBlocks { blocks: 2 }).unwrap());
    assert_eq!(all_blocks.trainable, full.total - embeddings);
    assert!(Method::Full.starts_from_source() && !Method::TargetOnly.starts_from_source());
    for (method, key) in [
        (
            Method::LowRank {
                rank: 0,
                alpha: 1.0,
            },
            "finetune.rank = 0",
        ),
        (
            Method::LowRank {
                rank: 2,
                alpha: 0.0,
            },
            "finetune.alpha = 0",
        ),
    ] {
        let err = freeze_for(model_for_errors(), method)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(key), "{err}");
    }
}

fn model_for_errors() -> DenoiserNet<TB> {
    source_model().1
}

/// Each fine-tuning method, started from a source model of a chain that rarely stays put
/// (diagonal 0.05), must learn a target that mostly does (diagonal 0.8, 300 sequences):
/// its held-out target NELBO per token must fall below the unchanged source model's and below
/// ln 5 = 1.609, the bound of the context-free predictor (uniform over 5 states), the plateau
/// the first round's fine-tuning was stuck on. The exact target NLL is 0.884 per token
/// (uniform first state, then 0.78 nats per transition), a floor no method can pass. The
/// margin, 0.1 nats, must exceed three times the estimate's own noise: the gap between two
/// estimates of the source model with other corruption draws (500 sequences × 4 draws each),
/// checked here too. Measured (seeded): source 1.755, full 1.073, last block 1.098, LoRA
/// rank 4 1.351; noise 0.006.
#[test]
fn every_fine_tuning_method_improves_on_the_source_model_on_target_data() {
    let _guard = GLOBAL_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let device = Default::default();
    let (process, model) = source_model();
    let source_data = MarkovChain::diagonal(5, 0.05)
        .unwrap()
        .sample_dataset(2000, 8, 2);
    let source = steps(model, process, "ft-source", &source_data, 300, 3e-3);
    let target = MarkovChain::diagonal(5, 0.8).unwrap();
    let train_target = target.sample_dataset(300, 8, 3);
    let held_out = target.sample_dataset(500, 8, 4);
    let nelbo_seeded = |model: &DenoiserNet<TB>, seed| {
        gtl_models::objectives::nelbo_per_token::<Inner>(
            &model.valid(),
            &process,
            &held_out,
            4,
            seed,
            &device,
        )
    };
    let nelbo = |model: &DenoiserNet<TB>| nelbo_seeded(model, 9);
    let source_nelbo = nelbo(&source);
    let noise = (nelbo_seeded(&source, 10) - source_nelbo).abs();
    eprintln!("source NELBO {source_nelbo:.4}; another draw of corruptions moves it by {noise:.4}");
    assert!(
        3.0 * noise < 0.1,
        "the estimate is too noisy for the margin: {noise}"
    );
    let context_free = 5f64.ln();
    let mut results = vec![("source".to_string(), source_nelbo)];
    for method in [
        Method::Full,
        Method::LastBlocks { blocks: 1 },
        Method::LowRank {
            rank: 4,
            alpha: 8.0,
        },
    ] {
        let start = freeze_for(source.clone(), method).unwrap();
        let tuned = steps(
            start,
            process,
            &format!("ft-{}", method.name()),
            &train_target,
            200,
            3e-3,
        );
        results.push((method.name(), nelbo(&tuned)));
    }
    eprintln!("held-out target NELBO per token: {results:?} (context-free {context_free:.3})");
    for (name, value) in &results[1..] {
        assert!(
            *value < source_nelbo - 0.1 && *value < context_free - 0.1,
            "{name}: {value} vs source {source_nelbo}, context-free {context_free}"
        );
    }
}
