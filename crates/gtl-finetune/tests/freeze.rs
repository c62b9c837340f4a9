//! Partial fine-tuning trains exactly what it says: after real optimiser steps on the
//! diffusion loss, frozen parameters are bit-for-bit unchanged and trainable ones moved, and
//! the trainable count is the last blocks' + final norm's + head's parameters.

use burn::backend::{Autodiff, NdArray};
use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use gtl_diffusion::{Loss, Process, ProcessKind, Schedule};
use gtl_finetune::{Method, count_params, freeze_for};
use gtl_markov::MarkovChain;
use gtl_models::objectives::DenoiserObjective;
use gtl_models::training::{RunOptions, TrainingConfig, train};
use gtl_models::{DenoiserNet, DenoiserNetConfig, TrunkConfig};

type TB = Autodiff<NdArray>;

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

#[test]
fn only_the_last_blocks_and_the_head_move() {
    let device = Default::default();
    let (n, length) = (5, 8);
    let process = Process::new(ProcessKind::Absorbing, n, Schedule::default()).unwrap();
    let trunk = TrunkConfig::preset("tiny", n + 1, length)
        .unwrap()
        .with_num_blocks(3);
    let model = DenoiserNetConfig::for_process(trunk, &process).init::<TB>(&device);
    let all = count_params(&model);
    let last_block = count_params(&model.trunk.blocks[2]).total;
    let final_norm = count_params(&model.trunk.final_norm).total;
    let head = count_params(&model.head).total;
    assert_eq!(all.trainable, all.total);

    let model = freeze_for(model, Method::LastBlocks { blocks: 1 }).unwrap();
    let counts = count_params(&model);
    assert_eq!(counts.total, all.total);
    assert_eq!(counts.trainable, last_block + final_norm + head);

    let before = snapshot(&model);
    let data = MarkovChain::diagonal(n, 0.8)
        .unwrap()
        .sample_dataset(200, length, 1);
    let objective = DenoiserObjective::<TB> {
        process,
        loss: Loss::MdlmNelbo,
        train: &data[..150],
        validation: &data[150..],
        device,
    };
    let config = TrainingConfig {
        steps: 5,
        batch_size: 32,
        learning_rate: 1e-2,
        warmup_steps: 0,
        weight_decay: 0.1,
        validate_every: 5,
        checkpoint_every: 5,
        log_every: 5,
        ..TrainingConfig::default()
    };
    let dir = std::env::temp_dir().join(format!("gtl-finetune-freeze-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let options = RunOptions {
        dir: dir.clone(),
        resume: false,
        stop_after: None,
        label: "freeze".into(),
    };
    let trained = train(model, &objective, &config, &options, &device).unwrap();
    let after = snapshot(&trained.model);
    assert_eq!(before.len(), after.len());
    let (mut frozen, mut moved) = (0, 0);
    for ((tracked, old), (_, new)) in before.iter().zip(&after) {
        if *tracked {
            if old != new {
                moved += 1;
            }
        } else {
            assert_eq!(old, new, "a frozen parameter changed");
            frozen += 1;
        }
    }
    eprintln!("{frozen} frozen tensors unchanged, {moved} trainable tensors moved");
    assert!(frozen > 0 && moved > 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn methods_validate_their_block_count_and_full_trains_everything() {
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
}
