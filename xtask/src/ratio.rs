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
use gtl_diffusion::Process;
use gtl_eval::{ErrorBin, write_error_csv};
use gtl_models::training::{load_model_file, seeded, write_atomically};
use gtl_models::{ScalarNet, ScalarNetConfig};
use gtl_oracle::MarkovLogRatio;
use serde::Serialize;

use crate::backend::BackendTask;
use crate::config::{ExperimentConfig, ModelSection};
use crate::keys;
use crate::train::{Fitted, TaskData, fit, prepare_stage_dir, require_stage, trunk_of};

/// Equal-width t-bins of the error tables.
pub const TIME_BINS: usize = 10;

/// Seed of the evaluation corruptions: every estimator is scored on the same noisy sequences.
const EVALUATION_SEED: u64 = 0x5a7e_0e7a;

/// Scores `model` against the exact ratio on the test sets of both domains (gtl-eval's
/// [`ratio_error`](gtl_oracle::ratio_error) with this module's bins and seed).
pub fn ratio_error<B: Backend>(
    model: &dyn RatioModel<B>,
    exact: &MarkovLogRatio,
    process: &Process,
    data: &TaskData,
    device: &B::Device,
) -> Vec<ErrorBin> {
    let domains = [
        ("source", data.source_test.as_slice()),
        ("target", data.target_test.as_slice()),
    ];
    gtl_oracle::ratio_error(
        model,
        exact,
        process,
        &domains,
        TIME_BINS,
        EVALUATION_SEED,
        device,
    )
}

/// The all-t row of `domain` in `rows` (as written by [`ratio_error`]).
pub fn overall<'a>(rows: &'a [ErrorBin], domain: &str) -> Option<&'a ErrorBin> {
    rows.iter().find(|r| r.domain == domain && r.is_overall())
}

/// The all-t MSE of `domain` in `rows`.
pub fn overall_mse(rows: &[ErrorBin], domain: &str) -> f64 {
    overall(rows, domain).map_or(f64::NAN, |r| r.mse)
}

/// A scalar network of `model` (named `section` in errors): its trunk and its pooling.
fn scalar_net_config(
    config: &ExperimentConfig,
    model: &ModelSection,
    section: &str,
) -> Result<ScalarNetConfig> {
    Ok(ScalarNetConfig::new(trunk_of(config, model, section)?)
        .with_sum_pooling(model.sum_pooling(section)?))
}

/// The clean classifier's network: the classifier section without time conditioning.
fn clean_net_config(config: &ExperimentConfig) -> Result<ScalarNetConfig> {
    let net = scalar_net_config(config, &config.classifier.model, "classifier.model")?;
    Ok(ScalarNetConfig {
        trunk: net.trunk.with_time_conditioning(false),
        ..net
    })
}

fn noisy_net_config(config: &ExperimentConfig) -> Result<ScalarNetConfig> {
    scalar_net_config(config, &config.classifier.model, "classifier.model")
}

fn ratio_net_config(config: &ExperimentConfig) -> Result<ScalarNetConfig> {
    scalar_net_config(config, &config.ratio.model, "ratio.model")
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
    /// Absent when the clean classifier was not needed (`ratio.estimator =
    /// "noisy-classifier"` in an experiment).
    pub clean: Option<Fitted>,
    clean_scores: Option<CleanScores>,
    /// The noisy classifier's training.
    pub noisy: Fitted,
    /// All-t MSE of the noisy logit against the exact `log h_t` (noisy_error.csv: by t).
    noisy_mse_source: f64,
    noisy_mse_target: f64,
}

/// `train classifier`.
pub struct ClassifierStage {
    /// The experiment.
    pub config: ExperimentConfig,
    /// Where the stage writes (`runs/<name>/classifier` for `cargo xtask train`).
    pub dir: PathBuf,
    /// Continue from checkpoints.
    pub resume: bool,
    /// Train the clean classifier c(x_0) too (the log-r and r estimators need it).
    pub clean: bool,
}

impl BackendTask for ClassifierStage {
    type Output = ClassifierSummary;

    fn run<B: AutodiffBackend>(self, device: B::Device) -> Result<ClassifierSummary> {
        let config = &self.config;
        let section = &config.classifier;
        let data = TaskData::new(config)?;
        let process = config.process()?;
        let dir = self.dir.clone();
        prepare_stage_dir(&dir, config)?;

        let (clean, clean_scores) = if self.clean {
            let clean_objective = CleanClassifierObjective::<B> {
                source: &data.source_train,
                target: &data.target_train,
                validation_source: &data.source_validation,
                validation_target: &data.target_validation,
                balance: section.balance,
                label_smoothing: section.label_smoothing,
                device: device.clone(),
            };
            let clean_config = clean_net_config(config)?;
            let (clean_net, clean) = fit(
                seeded::<B, _>(&device, section.training.seed, || {
                    clean_config.init(&device)
                }),
                &clean_objective,
                &section.training,
                &dir.join("clean"),
                self.resume,
                "clean classifier",
                &device,
            )?;
            let classifier = clean_objective.classifier(clean_net);
            (Some(clean), Some(clean_scores(&classifier, &data, &device)))
        } else {
            (None, None)
        };

        let noisy_objective = NoisyClassifierObjective::<B> {
            process,
            source: &data.source_train,
            target: &data.target_train,
            validation_source: &data.source_validation,
            validation_target: &data.target_validation,
            label_smoothing: section.label_smoothing,
            device: device.clone(),
        };
        let noisy_config = noisy_net_config(config)?;
        let (noisy_net, noisy) = fit(
            seeded::<B, _>(&device, section.training.seed, || {
                noisy_config.init(&device)
            }),
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

/// Whether `config`'s estimator needs the clean classifier (the regressions do).
pub fn needs_clean_classifier(config: &ExperimentConfig) -> bool {
    config.ratio.estimator.regression().is_some()
}

/// The learned `log h_t` estimate of a ratio stage: the ratio network in `ratio_dir`, or the
/// noisy classifier of `classifier_dir` when `ratio.estimator = "noisy-classifier"`.
pub fn load_ratio_model<B: Backend>(
    config: &ExperimentConfig,
    classifier_dir: &Path,
    ratio_dir: &Path,
    device: &B::Device,
) -> Result<ScalarNet<B>> {
    let (net, path) = match config.ratio.estimator {
        EstimatorKind::NoisyClassifier => (
            noisy_net_config(config)?,
            classifier_dir.join("noisy/model.mpk"),
        ),
        _ => (ratio_net_config(config)?, ratio_dir.join("model.mpk")),
    };
    Ok(load_model_file(net.init::<B>(device), &path, device)?)
}

/// Parameters of the networks behind `config`'s learned ratio: the noisy classifier, plus the
/// clean classifier and the ratio network for the regression estimators.
pub fn ratio_parameters(config: &ExperimentConfig) -> Result<usize> {
    let device = Default::default();
    let count = |net: ScalarNetConfig| net.init::<burn::backend::NdArray>(&device).num_params();
    let mut total = count(noisy_net_config(config)?);
    if needs_clean_classifier(config) {
        total += count(clean_net_config(config)?) + count(ratio_net_config(config)?);
    }
    Ok(total)
}

/// What the ratio stage reports.
#[derive(Debug, Serialize)]
pub struct RatioSummary {
    estimator: &'static str,
    cycle_weight: f64,
    target_train: usize,
    /// Absent for the noisy-classifier estimator (the classifier stage trained it).
    pub training: Option<Fitted>,
    /// All-t MSE against the exact `log h_t` on noised source / target test sequences.
    pub mse_source: f64,
    /// See `mse_source`.
    pub mse_target: f64,
    /// The same with the mean error removed (what guidance sees).
    error_variance_source: f64,
    error_variance_target: f64,
}

/// `train ratio`.
pub struct RatioStage {
    /// The experiment.
    pub config: ExperimentConfig,
    /// The classifier stage's folder.
    pub classifier_dir: PathBuf,
    /// Where this stage writes (normally `runs/<name>/ratio`).
    pub dir: PathBuf,
    /// Continue from the checkpoint.
    pub resume: bool,
}

impl BackendTask for RatioStage {
    type Output = RatioSummary;

    fn run<B: AutodiffBackend>(self, device: B::Device) -> Result<RatioSummary> {
        let config = &self.config;
        let classifier_dir = &self.classifier_dir;
        let clean = needs_clean_classifier(config);
        require_stage(
            config,
            classifier_dir,
            "classifier",
            "[data], [process], [classifier]",
            |c| keys::classifier(c, clean),
        )?;
        let data = TaskData::new(config)?;
        let process = config.process()?;
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
                let net_config = ratio_net_config(config)?;
                let (net, fitted) = fit(
                    seeded::<B, _>(&device, config.ratio.training.seed, || {
                        net_config.init(&device)
                    }),
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
            dir: run_dir.join("classifier"),
            resume: false,
            clean: needs_clean_classifier(&config),
        }
        .run::<TB>(Default::default())
        .unwrap();
        assert!(classifier.clean_scores.unwrap().accuracy.is_finite());
        assert!(classifier.noisy_mse_target.is_finite());
        let ratio = RatioStage {
            config: config.clone(),
            classifier_dir: run_dir.join("classifier"),
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
        let loaded = load_ratio_model::<NdArray>(
            &config,
            &run_dir.join("classifier"),
            &run_dir.join("ratio"),
            &Default::default(),
        );
        assert!(loaded.is_ok());

        let mut other = config.clone();
        other.data.target_size = 150;
        let err = RatioStage {
            config: other,
            classifier_dir: run_dir.join("classifier"),
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
