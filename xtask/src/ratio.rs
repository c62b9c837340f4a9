//! The ratio-estimation stages (MATH.md §5): `train classifier` (the clean domain classifier
//! `c(x_0)` and the noisy one `d(z_t, t)`) and `train ratio` (the noisy ratio network, or the
//! noisy classifier used directly), each evaluated against the exact Markov `log h_t`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use gtl_classifier::{
    CleanClassifierObjective, CycleTerm, DomainClassifier, EstimatorKind, NoisyClassifierObjective,
    RatioModel, RatioObjective, log_ratios,
};
use gtl_diffusion::sampler::{tensor_tokens, tokens_tensor};
use gtl_diffusion::{Process, antithetic_times};
use gtl_models::training::{load_model_file, write_atomically};
use gtl_models::{ScalarNet, ScalarNetConfig};
use gtl_oracle::MarkovLogRatio;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::backend::BackendTask;
use crate::config::ExperimentConfig;
use crate::train::{Fitted, TaskData, fit, prepare_stage_dir, require_stage, trunk_of};

/// Equal-width t-bins of the error tables.
pub const TIME_BINS: usize = 10;

/// Seed of the evaluation corruptions: every estimator is scored on the same noisy sequences.
const EVALUATION_SEED: u64 = 0x5a7e_0e7a;

/// The error of a `log h_t` estimate against the exact one in one t-bin on one domain.
#[derive(Clone, Debug, Serialize)]
pub struct ErrorBin {
    /// "source" or "target": whose sequences were noised.
    pub domain: &'static str,
    /// Lower edge of the bin (inclusive).
    pub t_low: f64,
    /// Upper edge of the bin.
    pub t_high: f64,
    /// Sequences in the bin.
    pub count: usize,
    /// Mean squared error of the estimate against the exact `log h_t`.
    pub mse: f64,
    /// Mean error (estimate - exact).
    pub bias: f64,
    /// MSE minus bias²: the part a guided sampler sees (a constant offset cancels there).
    pub error_variance: f64,
    /// Variance of the exact `log h_t` in the bin: the MSE of the best constant guess.
    pub exact_variance: f64,
}

/// Scores `model` against the exact ratio on the test sets of both domains: each sequence is
/// noised once at stratified times in `[t_min, 1]` (a fixed seed), binned by t; the last
/// row of each domain covers all t.
pub fn ratio_error<B: Backend>(
    model: &dyn RatioModel<B>,
    exact: &MarkovLogRatio,
    process: &Process,
    data: &TaskData,
    device: &B::Device,
) -> Vec<ErrorBin> {
    let mut rows = Vec::new();
    for (domain, sequences) in [("source", &data.source_test), ("target", &data.target_test)] {
        let count = sequences.len();
        let length = sequences[0].len();
        let mut rng = ChaCha8Rng::seed_from_u64(EVALUATION_SEED);
        let t = antithetic_times(count, process.schedule.min_training_time(), 0.5);
        let flat: Vec<u32> = sequences.iter().flatten().copied().collect();
        let x0 = tokens_tensor::<B>(&flat, count, length, device);
        let z_flat = tensor_tokens(process.corrupt(x0, &t, &mut rng));
        let z: Vec<Vec<u32>> = z_flat.chunks(length).map(<[u32]>::to_vec).collect();
        let borrowed: Vec<&[u32]> = z.iter().map(Vec::as_slice).collect();
        let exact_values = exact.log_h(&borrowed, &t);
        let estimates = log_ratios(model, &z, &t, device);
        let mut bins: Vec<Vec<(f64, f64)>> = vec![Vec::new(); TIME_BINS];
        for ((&t, &exact), &estimate) in t.iter().zip(&exact_values).zip(&estimates) {
            if exact.is_finite() {
                let bin = ((t * TIME_BINS as f64) as usize).min(TIME_BINS - 1);
                bins[bin].push((estimate, exact));
            }
        }
        let all: Vec<(f64, f64)> = bins.iter().flatten().copied().collect();
        for (index, pairs) in bins.iter().enumerate() {
            let low = index as f64 / TIME_BINS as f64;
            rows.push(error_bin(domain, low, low + 1.0 / TIME_BINS as f64, pairs));
        }
        rows.push(error_bin(domain, 0.0, 1.0, &all));
    }
    rows
}

fn error_bin(domain: &'static str, t_low: f64, t_high: f64, pairs: &[(f64, f64)]) -> ErrorBin {
    let count = pairs.len();
    let n = count.max(1) as f64;
    let mse = pairs.iter().map(|(e, x)| (e - x).powi(2)).sum::<f64>() / n;
    let bias = pairs.iter().map(|(e, x)| e - x).sum::<f64>() / n;
    let exact_mean = pairs.iter().map(|(_, x)| x).sum::<f64>() / n;
    let exact_variance = pairs
        .iter()
        .map(|(_, x)| (x - exact_mean).powi(2))
        .sum::<f64>()
        / n;
    ErrorBin {
        domain,
        t_low,
        t_high,
        count,
        mse,
        bias,
        error_variance: mse - bias * bias,
        exact_variance,
    }
}

/// Writes error bins as CSV (one row per domain and t-bin).
pub fn write_error_csv(path: &Path, rows: &[ErrorBin]) -> Result<()> {
    let mut text =
        String::from("domain,t_low,t_high,count,mse,bias,error_variance,exact_variance\n");
    for r in rows {
        text.push_str(&format!(
            "{},{:.2},{:.2},{},{},{},{},{}\n",
            r.domain, r.t_low, r.t_high, r.count, r.mse, r.bias, r.error_variance, r.exact_variance
        ));
    }
    write_atomically(path, text.as_bytes())?;
    Ok(())
}

/// The all-t row of `domain` in `rows` (as written by [`ratio_error`]).
pub fn overall<'a>(rows: &'a [ErrorBin], domain: &str) -> Option<&'a ErrorBin> {
    rows.iter()
        .find(|r| r.domain == domain && r.t_low == 0.0 && r.t_high == 1.0)
}

/// The all-t MSE of `domain` in `rows`.
pub fn overall_mse(rows: &[ErrorBin], domain: &str) -> f64 {
    overall(rows, domain).map_or(f64::NAN, |r| r.mse)
}

/// The clean classifier's network: the classifier section without time conditioning.
fn clean_net_config(config: &ExperimentConfig) -> Result<ScalarNetConfig> {
    let trunk = trunk_of(config, &config.classifier.model, "classifier.model")?;
    Ok(ScalarNetConfig::new(trunk.with_time_conditioning(false)))
}

fn noisy_net_config(config: &ExperimentConfig) -> Result<ScalarNetConfig> {
    Ok(ScalarNetConfig::new(trunk_of(
        config,
        &config.classifier.model,
        "classifier.model",
    )?))
}

fn ratio_net_config(config: &ExperimentConfig) -> Result<ScalarNetConfig> {
    Ok(ScalarNetConfig::new(trunk_of(
        config,
        &config.ratio.model,
        "ratio.model",
    )?))
}

/// The clean classifier's scores on the test sets.
#[derive(Debug, Serialize)]
pub struct CleanScores {
    /// Balanced held-out accuracy of sign(log r estimate).
    accuracy: f64,
    /// The same with the exact `log r`: the Bayes accuracy.
    bayes_accuracy: f64,
    /// MSE of the estimate against the exact `log r(x_0)` on source / target test sequences.
    mse_source: f64,
    mse_target: f64,
    /// Pearson correlation with the exact `log r` over both test sets.
    pearson: f64,
}

/// What the classifier stage reports.
#[derive(Debug, Serialize)]
pub struct ClassifierSummary {
    source_train: usize,
    target_train: usize,
    clean: Fitted,
    clean_scores: CleanScores,
    noisy: Fitted,
    /// All-t MSE of the noisy logit against the exact `log h_t` (noisy_error.csv: by t).
    noisy_mse_source: f64,
    noisy_mse_target: f64,
}

/// `train classifier`.
pub struct ClassifierStage {
    /// The experiment.
    pub config: ExperimentConfig,
    /// `runs/<name>/`.
    pub run_dir: PathBuf,
    /// Continue from checkpoints.
    pub resume: bool,
}

impl BackendTask for ClassifierStage {
    type Output = ClassifierSummary;

    fn run<B: AutodiffBackend>(self, device: B::Device) -> Result<ClassifierSummary> {
        let config = &self.config;
        let section = &config.classifier;
        let data = TaskData::new(config)?;
        let process = config.process.build(config.data.states)?;
        let dir = self.run_dir.join("classifier");
        prepare_stage_dir(&dir, config)?;

        let clean_objective = CleanClassifierObjective::<B> {
            source: &data.source_train,
            target: &data.target_train,
            validation_source: &data.source_validation,
            validation_target: &data.target_validation,
            balance: section.balance,
            label_smoothing: section.label_smoothing,
            device: device.clone(),
        };
        B::seed(&device, section.training.seed);
        let (clean_net, clean) = fit(
            clean_net_config(config)?.init::<B>(&device),
            &clean_objective,
            &section.training,
            &dir.join("clean"),
            self.resume,
            "clean classifier",
            &device,
        )?;
        let classifier = clean_objective.classifier(clean_net);
        let clean_scores = clean_scores(&classifier, &data, &device);

        let noisy_objective = NoisyClassifierObjective::<B> {
            process,
            source: &data.source_train,
            target: &data.target_train,
            validation_source: &data.source_validation,
            validation_target: &data.target_validation,
            label_smoothing: section.label_smoothing,
            device: device.clone(),
        };
        B::seed(&device, section.training.seed);
        let (noisy_net, noisy) = fit(
            noisy_net_config(config)?.init::<B>(&device),
            &noisy_objective,
            &section.training,
            &dir.join("noisy"),
            self.resume,
            "noisy classifier",
            &device,
        )?;
        let exact = MarkovLogRatio::new(data.source.clone(), data.target.clone(), process)?;
        let errors = ratio_error::<B::InnerBackend>(&noisy_net, &exact, &process, &data, &device);
        write_error_csv(&dir.join("noisy_error.csv"), &errors)?;
        let summary = ClassifierSummary {
            source_train: data.source_train.len(),
            target_train: data.target_train.len(),
            clean,
            clean_scores,
            noisy,
            noisy_mse_source: overall_mse(&errors, "source"),
            noisy_mse_target: overall_mse(&errors, "target"),
        };
        write_atomically(
            &dir.join("summary.json"),
            serde_json::to_string_pretty(&summary)?.as_bytes(),
        )?;
        Ok(summary)
    }
}

fn clean_scores<B: Backend>(
    classifier: &DomainClassifier<B>,
    data: &TaskData,
    device: &B::Device,
) -> CleanScores {
    let exact_log_r = |x: &Vec<u32>| data.target.log_likelihood(x) - data.source.log_likelihood(x);
    let mut estimates = Vec::new();
    let mut exact = Vec::new();
    let mut correct = [0.0; 2];
    let mut bayes = [0.0; 2];
    let mut mse = [0.0; 2];
    for (index, sequences) in [&data.source_test, &data.target_test]
        .into_iter()
        .enumerate()
    {
        let zeros = vec![0.0; sequences.len()];
        let estimate = log_ratios(classifier, sequences, &zeros, device);
        let truth: Vec<f64> = sequences.iter().map(exact_log_r).collect();
        let is_target = index == 1;
        let share = 1.0 / sequences.len() as f64;
        for (&e, &x) in estimate.iter().zip(&truth) {
            correct[index] += share * f64::from(u8::from((e > 0.0) == is_target));
            bayes[index] += share * f64::from(u8::from((x > 0.0) == is_target));
            mse[index] += share * (e - x).powi(2);
        }
        estimates.extend(estimate);
        exact.extend(truth);
    }
    CleanScores {
        accuracy: 0.5 * (correct[0] + correct[1]),
        bayes_accuracy: 0.5 * (bayes[0] + bayes[1]),
        mse_source: mse[0],
        mse_target: mse[1],
        pearson: pearson(&estimates, &exact),
    }
}

/// Pearson correlation of two samples.
pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

/// The sections the classifier stage's artefacts depend on, as TOML.
fn classifier_key(config: &ExperimentConfig) -> Result<String> {
    Ok(format!(
        "{}\n{}\n{}\n{}",
        toml::to_string(&config.data)?,
        toml::to_string(&config.process)?,
        toml::to_string(&config.classifier)?,
        config.seed
    ))
}

/// The learned `log h_t` estimate of an experiment's ratio stage: the ratio network, or the
/// noisy classifier when `ratio.estimator = "noisy-classifier"`.
#[allow(dead_code)] // used by the guidance and experiment commands
pub fn load_ratio_model<B: Backend>(
    config: &ExperimentConfig,
    run_dir: &Path,
    device: &B::Device,
) -> Result<ScalarNet<B>> {
    let (net, path) = match config.ratio.estimator {
        EstimatorKind::NoisyClassifier => (
            noisy_net_config(config)?,
            run_dir.join("classifier/noisy/model.mpk"),
        ),
        _ => (ratio_net_config(config)?, run_dir.join("ratio/model.mpk")),
    };
    Ok(load_model_file(net.init::<B>(device), &path, device)?)
}

/// What the ratio stage reports.
#[derive(Debug, Serialize)]
pub struct RatioSummary {
    estimator: &'static str,
    cycle_weight: f64,
    target_train: usize,
    /// Absent for the noisy-classifier estimator (the classifier stage trained it).
    training: Option<Fitted>,
    /// All-t MSE against the exact `log h_t` on noised source / target test sequences.
    mse_source: f64,
    mse_target: f64,
    /// The same with the mean error removed (what guidance sees).
    error_variance_source: f64,
    error_variance_target: f64,
}

/// `train ratio`.
pub struct RatioStage {
    /// The experiment.
    pub config: ExperimentConfig,
    /// `runs/<name>/`: holds the classifier stage.
    pub run_dir: PathBuf,
    /// Where this stage writes (normally `runs/<name>/ratio`).
    pub dir: PathBuf,
    /// Continue from the checkpoint.
    pub resume: bool,
}

impl BackendTask for RatioStage {
    type Output = RatioSummary;

    fn run<B: AutodiffBackend>(self, device: B::Device) -> Result<RatioSummary> {
        let config = &self.config;
        let classifier_dir = self.run_dir.join("classifier");
        require_stage(
            config,
            &classifier_dir,
            "classifier",
            "[data], [process], [classifier]",
            classifier_key,
        )?;
        let data = TaskData::new(config)?;
        let process = config.process.build(config.data.states)?;
        let dir = self.dir.clone();
        prepare_stage_dir(&dir, config)?;
        let estimator = config.ratio.estimator;
        let cycle_weight = config.ratio.cycle_weight;

        let noisy: ScalarNet<B::InnerBackend> = load_model_file(
            noisy_net_config(config)?.init(&device),
            &classifier_dir.join("noisy/model.mpk"),
            &device,
        )?;
        let (model, training) = match estimator.regression() {
            None => (noisy, None),
            Some(regression) => {
                let clean_net = load_model_file(
                    clean_net_config(config)?.init(&device),
                    &classifier_dir.join("clean/model.mpk"),
                    &device,
                )?;
                let clean = DomainClassifier::new(
                    clean_net,
                    config
                        .classifier
                        .balance
                        .prior_correction(data.source_train.len(), data.target_train.len()),
                );
                let cycle = (cycle_weight > 0.0).then(|| CycleTerm {
                    classifier: &noisy,
                    target: &data.target_train,
                    weight: cycle_weight,
                });
                let objective = RatioObjective::<B> {
                    process,
                    estimator: regression,
                    clean_log_ratio: &clean,
                    cycle,
                    source: &data.source_train,
                    validation: &data.source_validation,
                    device: device.clone(),
                };
                B::seed(&device, config.ratio.training.seed);
                let (net, fitted) = fit(
                    ratio_net_config(config)?.init::<B>(&device),
                    &objective,
                    &config.ratio.training,
                    &dir,
                    self.resume,
                    "ratio network",
                    &device,
                )?;
                (net, Some(fitted))
            }
        };
        let exact = MarkovLogRatio::new(data.source.clone(), data.target.clone(), process)?;
        let errors = ratio_error::<B::InnerBackend>(&model, &exact, &process, &data, &device);
        write_error_csv(&dir.join("ratio_error.csv"), &errors)?;
        let all = |domain: &str| overall(&errors, domain).expect("an all-t row per domain");
        let summary = RatioSummary {
            estimator: estimator.name(),
            cycle_weight,
            target_train: data.target_train.len(),
            training,
            mse_source: all("source").mse,
            mse_target: all("target").mse,
            error_variance_source: all("source").error_variance,
            error_variance_target: all("target").error_variance,
        };
        write_atomically(
            &dir.join("summary.json"),
            serde_json::to_string_pretty(&summary)?.as_bytes(),
        )?;
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, NdArray};

    use super::*;

    const TINY: &str = include_str!("../../configs/markov-tiny.toml");

    /// The classifier and ratio stages on a few steps: artefacts, finite scores, one error row
    /// per t-bin and domain, and a ratio stage refusing classifiers of another configuration.
    #[test]
    fn classifier_then_ratio_stage_write_their_artefacts() {
        let text = TINY.replace("steps = 300", "steps = 40");
        let config = ExperimentConfig::parse(&text).unwrap();
        let run_dir =
            std::env::temp_dir().join(format!("gtl-xtask-ratio-stages-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&run_dir);
        type TB = Autodiff<NdArray>;
        let classifier = ClassifierStage {
            config: config.clone(),
            run_dir: run_dir.clone(),
            resume: false,
        }
        .run::<TB>(Default::default())
        .unwrap();
        assert!(classifier.clean_scores.accuracy.is_finite());
        assert!(classifier.noisy_mse_target.is_finite());
        let ratio = RatioStage {
            config: config.clone(),
            run_dir: run_dir.clone(),
            dir: run_dir.join("ratio"),
            resume: false,
        }
        .run::<TB>(Default::default())
        .unwrap();
        assert!(ratio.mse_source.is_finite() && ratio.mse_target.is_finite());
        for file in [
            "classifier/clean/model.mpk",
            "classifier/noisy/model.mpk",
            "classifier/noisy_error.csv",
            "classifier/summary.json",
            "ratio/model.mpk",
            "ratio/ratio_error.csv",
            "ratio/summary.json",
        ] {
            assert!(run_dir.join(file).is_file(), "{file} missing");
        }
        let csv = std::fs::read_to_string(run_dir.join("ratio/ratio_error.csv")).unwrap();
        assert_eq!(csv.lines().count(), 1 + 2 * (TIME_BINS + 1));
        let loaded = load_ratio_model::<NdArray>(&config, &run_dir, &Default::default());
        assert!(loaded.is_ok());

        let mut other = config.clone();
        other.data.target_size = 150;
        let err = RatioStage {
            config: other,
            run_dir: run_dir.clone(),
            dir: run_dir.join("ratio-other"),
            resume: false,
        }
        .run::<TB>(Default::default())
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("different [data], [process], [classifier]"),
            "{err:#}"
        );
        let _ = std::fs::remove_dir_all(&run_dir);
    }
}
