//! Hyper-parameters of the shared training loop.

use serde::{Deserialize, Serialize};

use crate::ModelError;

/// How a network is trained: AdamW, linear warm-up then cosine decay, clipping, EMA,
/// validation, early stopping and checkpoints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainingConfig {
    /// Optimiser steps in the whole run (≥ 1).
    pub steps: usize,
    /// Sequences per step (≥ 1).
    pub batch_size: usize,
    /// Peak learning rate, reached after warm-up (> 0).
    pub learning_rate: f64,
    /// Linear warm-up steps (≤ steps).
    pub warmup_steps: usize,
    /// Floor of the cosine decay as a fraction of the peak, in [0, 1].
    pub min_lr_ratio: f64,
    /// AdamW decoupled weight decay (≥ 0).
    pub weight_decay: f64,
    /// Clip each parameter's gradient to this L2 norm (burn's per-tensor clipping); 0 = off.
    pub grad_clip: f64,
    /// EMA decay of the weights in [0, 1); 0 = no EMA.
    pub ema_decay: f64,
    /// Validate every this many steps (≥ 1).
    pub validate_every: usize,
    /// Write a checkpoint every this many steps (≥ 1); one is always written at the end.
    pub checkpoint_every: usize,
    /// Stop after this many validations without improvement; 0 = never stop early.
    pub patience: usize,
    /// Log a line every this many steps (≥ 1).
    pub log_every: usize,
    /// Seed of the initial weights and of every random draw of the run.
    pub seed: u64,
}

impl Default for TrainingConfig {
    fn default() -> Self {
        TrainingConfig {
            steps: 1000,
            batch_size: 64,
            learning_rate: 3e-4,
            warmup_steps: 100,
            min_lr_ratio: 0.0,
            weight_decay: 0.0,
            grad_clip: 1.0,
            ema_decay: 0.0,
            validate_every: 100,
            checkpoint_every: 500,
            patience: 0,
            log_every: 50,
            seed: 0,
        }
    }
}

impl TrainingConfig {
    /// Checks every value; the error names the key (under `section`) and the allowed range.
    pub fn validate(&self, section: &str) -> Result<(), ModelError> {
        let fail = |key: &str, value: String, range: &str| {
            Err(ModelError::Config(format!(
                "{section}.{key} = {value}: must be {range}"
            )))
        };
        for (key, value) in [
            ("steps", self.steps),
            ("batch_size", self.batch_size),
            ("validate_every", self.validate_every),
            ("checkpoint_every", self.checkpoint_every),
            ("log_every", self.log_every),
        ] {
            if value == 0 {
                return fail(key, value.to_string(), "at least 1");
            }
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return fail(
                "learning_rate",
                self.learning_rate.to_string(),
                "a finite number > 0",
            );
        }
        if self.warmup_steps > self.steps {
            return fail(
                "warmup_steps",
                self.warmup_steps.to_string(),
                &format!("at most steps = {}", self.steps),
            );
        }
        if !(0.0..=1.0).contains(&self.min_lr_ratio) {
            return fail("min_lr_ratio", self.min_lr_ratio.to_string(), "in [0, 1]");
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return fail(
                "weight_decay",
                self.weight_decay.to_string(),
                "a finite number ≥ 0",
            );
        }
        if !(self.grad_clip >= 0.0 && self.grad_clip.is_finite()) {
            return fail(
                "grad_clip",
                self.grad_clip.to_string(),
                "a finite number ≥ 0 (0 = off)",
            );
        }
        if !(0.0..1.0).contains(&self.ema_decay) {
            return fail(
                "ema_decay",
                self.ema_decay.to_string(),
                "in [0, 1) (0 = off)",
            );
        }
        Ok(())
    }

    /// Learning rate at `step` (0-based): linear warm-up to the peak, then cosine decay to
    /// `min_lr_ratio · peak` at the last step.
    pub fn learning_rate_at(&self, step: usize) -> f64 {
        let peak = self.learning_rate;
        if step < self.warmup_steps {
            return peak * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let decay_steps = (self.steps - self.warmup_steps).max(1) as f64;
        let progress = ((step - self.warmup_steps) as f64 / decay_steps).min(1.0);
        let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
        peak * (self.min_lr_ratio + (1.0 - self.min_lr_ratio) * cosine)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_cosine() {
        let config = TrainingConfig {
            steps: 110,
            warmup_steps: 10,
            learning_rate: 1.0,
            min_lr_ratio: 0.1,
            ..TrainingConfig::default()
        };
        assert!((config.learning_rate_at(0) - 0.1).abs() < 1e-12);
        assert!((config.learning_rate_at(9) - 1.0).abs() < 1e-12);
        assert!((config.learning_rate_at(10) - 1.0).abs() < 1e-12);
        assert!((config.learning_rate_at(60) - 0.55).abs() < 1e-12);
        assert!((config.learning_rate_at(110) - 0.1).abs() < 1e-12);
    }

    #[test]
    fn out_of_range_values_name_the_key() {
        let config = TrainingConfig {
            learning_rate: -1.0,
            ..TrainingConfig::default()
        };
        let message = config
            .validate("denoiser.training")
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("denoiser.training.learning_rate = -1"),
            "{message}"
        );
        let config = TrainingConfig {
            ema_decay: 1.0,
            ..TrainingConfig::default()
        };
        assert!(
            config
                .validate("t")
                .unwrap_err()
                .to_string()
                .contains("t.ema_decay")
        );
    }
}
