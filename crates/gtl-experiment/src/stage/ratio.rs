//! The ratio-estimation stages (MATH.md §5): the clean domain classifier `c(x_0)` and the
//! noisy one `d(z_t, t)`, then the noisy ratio network (or the noisy classifier used
//! directly), each scored against the exact Markov `log h_t`.

use std::sync::Arc;

use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use gtl_classifier::{
    CleanClassifierObjective, CycleTerm, DomainClassifier, EstimatorKind, NoisyClassifierObjective,
    RatioModel, RatioObjective, log_ratios,
};
use gtl_diffusion::Process;
use gtl_eval::{ErrorBin, write_error_csv};
use gtl_models::ScalarNet;
use gtl_models::training::{load_model_file, seeded};
use gtl_oracle::MarkovLogRatio;
use serde::{Deserialize, Serialize};

use super::corpus::{CorpusStage, task_data};
use super::{Handle, Stage, StageContext, StageId};
use crate::config::ExperimentConfig;
use crate::data::TaskData;
use crate::nets::{Fit, Fitted, clean_classifier_net, noisy_classifier_net, ratio_net};
use crate::{Result, keys};

/// Equal-width t-bins of the error tables.
pub const TIME_BINS: usize = 10;

/// Seed of the evaluation corruptions: every estimator is scored on the same noisy sequences.
const EVALUATION_SEED: u64 = 0x5a7e_0e7a;

/// Scores `model` against the exact ratio on the test sets of both domains, by t-bin.
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

/// The all-t row of `domain` in `rows`.
pub fn overall<'a>(rows: &'a [ErrorBin], domain: &str) -> Option<&'a ErrorBin> {
    rows.iter().find(|r| r.domain == domain && r.is_overall())
}

/// The domain classifiers' stage.
pub struct ClassifierStage {
    /// The experiment.
    pub config: Arc<ExperimentConfig>,
    /// Train the clean classifier `c(x_0)` too (the log-r and r estimators need it).
    pub clean: bool,
    /// The tokenizer of a text task.
    pub corpus: Option<Handle<CorpusStage>>,
    /// Label suffix (the setting).
    pub tag: String,
}

/// The clean classifier's scores on the test sets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CleanScores {
    /// Balanced held-out accuracy of sign(log r estimate).
    pub accuracy: f64,
    /// The same with the exact `log r`: the Bayes accuracy.
    pub bayes_accuracy: f64,
    /// MSE of the estimate against the exact `log r(x_0)` on source test sequences.
    pub mse_source: f64,
    /// The same on target test sequences.
    pub mse_target: f64,
    /// Pearson correlation with the exact `log r` over both test sets.
    pub pearson: f64,
}

/// What the classifier stage reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassifierSummary {
    /// Source training sequences.
    pub source_train: usize,
    /// Target training sequences.
    pub target_train: usize,
    /// The clean classifier's training, when it was trained.
    pub clean: Option<Fitted>,
    /// Its scores.
    pub clean_scores: Option<CleanScores>,
    /// The noisy classifier's training.
    pub noisy: Fitted,
    /// All-t MSE of the noisy logit against the exact `log h_t` on source test sequences
    /// (`noisy_error.csv`: by t; Markov tasks).
    pub noisy_mse_source: Option<f64>,
    /// The same on target test sequences.
    pub noisy_mse_target: Option<f64>,
}

impl Stage for ClassifierStage {
    type Summary = ClassifierSummary;
    const KIND: &'static str = "classifier";

    fn label(&self) -> String {
        format!("classifiers {}", self.tag)
    }

    fn key(&self) -> Result<String> {
        let c = &self.config;
        Ok([
            keys::data(c)?,
            keys::process(c)?,
            keys::section("classifier", &c.classifier)?,
            format!("clean = {}", self.clean),
        ]
        .join("\n"))
    }

    fn inputs(&self) -> Vec<StageId> {
        self.corpus.iter().map(|h| h.id).collect()
    }

    fn run<B: AutodiffBackend>(&self, ctx: &StageContext<'_, B>) -> Result<ClassifierSummary> {
        let (config, device) = (&self.config, ctx.device);
        let section = &config.classifier;
        let data = task_data(ctx, config, self.corpus)?;
        let process = config.process()?;
        let (clean, clean_scores) = if self.clean {
            let objective = CleanClassifierObjective::<B> {
                source: &data.source_train,
                target: &data.target_train,
                validation_source: &data.source_validation,
                validation_target: &data.target_validation,
                balance: section.balance,
                label_smoothing: section.label_smoothing,
                device: device.clone(),
            };
            let net = clean_classifier_net(config)?;
            let fit = Fit {
                dir: &ctx.dir.join("clean"),
                label: "clean classifier",
                observer: ctx.observer.training(),
            };
            let (clean_net, fitted) = fit.run(
                seeded::<B, _>(device, section.training.seed, || net.init(device)),
                &objective,
                &section.training,
                device,
            )?;
            let classifier = objective.classifier(clean_net);
            let scores = match data.chains {
                Some(_) => Some(clean_scores(&classifier, &data, device)?),
                None => None,
            };
            (Some(fitted), scores)
        } else {
            (None, None)
        };
        let objective = NoisyClassifierObjective::<B> {
            process,
            source: &data.source_train,
            target: &data.target_train,
            validation_source: &data.source_validation,
            validation_target: &data.target_validation,
            label_smoothing: section.label_smoothing,
            device: device.clone(),
        };
        let net = noisy_classifier_net(config)?;
        let fit = Fit {
            dir: &ctx.dir.join("noisy"),
            label: "noisy classifier",
            observer: ctx.observer.training(),
        };
        let (noisy_net, noisy) = fit.run(
            seeded::<B, _>(device, section.training.seed, || net.init(device)),
            &objective,
            &section.training,
            device,
        )?;
        let errors = match &data.chains {
            Some(chains) => {
                let exact =
                    MarkovLogRatio::new(chains.source.clone(), chains.target.clone(), process)?;
                let errors =
                    ratio_error::<B::InnerBackend>(&noisy_net, &exact, &process, &data, device);
                write_error_csv(&ctx.dir.join("noisy_error.csv"), &errors)?;
                Some(errors)
            }
            None => None,
        };
        let mse = |domain| {
            errors
                .as_ref()
                .map(|e| overall(e, domain).map_or(f64::NAN, |r| r.mse))
        };
        Ok(ClassifierSummary {
            source_train: data.source_train.len(),
            target_train: data.target_train.len(),
            clean,
            clean_scores,
            noisy,
            noisy_mse_source: mse("source"),
            noisy_mse_target: mse("target"),
        })
    }
}

fn clean_scores<B: Backend>(
    classifier: &DomainClassifier<B>,
    data: &TaskData,
    device: &B::Device,
) -> Result<CleanScores> {
    let chains = data.chains("scoring the clean classifier")?;
    let exact_log_r =
        |x: &Vec<u32>| chains.target.log_likelihood(x) - chains.source.log_likelihood(x);
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
    Ok(CleanScores {
        accuracy: 0.5 * (correct[0] + correct[1]),
        bayes_accuracy: 0.5 * (bayes[0] + bayes[1]),
        mse_source: mse[0],
        mse_target: mse[1],
        pearson: pearson(&estimates, &exact),
    })
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

/// The ratio stage: trains the ratio network (log-r, r) or scores the noisy classifier.
pub struct RatioStage {
    /// The experiment.
    pub config: Arc<ExperimentConfig>,
    /// The classifiers it builds on.
    pub classifier: Handle<ClassifierStage>,
    /// The tokenizer of a text task.
    pub corpus: Option<Handle<CorpusStage>>,
    /// Label suffix (the setting).
    pub tag: String,
}

/// What the ratio stage reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RatioSummary {
    /// The estimator.
    pub estimator: String,
    /// Weight of the cycle term.
    pub cycle_weight: f64,
    /// Target training sequences.
    pub target_train: usize,
    /// Absent for the noisy-classifier estimator (the classifier stage trained it).
    pub training: Option<Fitted>,
    /// All-t MSE against the exact `log h_t` on noised source test sequences (Markov tasks).
    pub mse_source: Option<f64>,
    /// The same on target test sequences.
    pub mse_target: Option<f64>,
    /// MSE with the mean error removed (what guidance sees), source.
    pub error_variance_source: Option<f64>,
    /// The same, target.
    pub error_variance_target: Option<f64>,
}

impl Stage for RatioStage {
    type Summary = RatioSummary;
    const KIND: &'static str = "ratio";

    fn label(&self) -> String {
        format!("ratio {}", self.tag)
    }

    fn key(&self) -> Result<String> {
        let c = &self.config;
        Ok([
            keys::data(c)?,
            keys::process(c)?,
            keys::section("ratio", &c.ratio)?,
        ]
        .join("\n"))
    }

    fn inputs(&self) -> Vec<StageId> {
        let mut inputs = vec![self.classifier.id];
        inputs.extend(self.corpus.map(|h| h.id));
        inputs
    }

    fn run<B: AutodiffBackend>(&self, ctx: &StageContext<'_, B>) -> Result<RatioSummary> {
        let (config, device) = (&self.config, ctx.device);
        let classifier = ctx.input(self.classifier)?;
        let data = task_data(ctx, config, self.corpus)?;
        let process = config.process()?;
        let (estimator, cycle_weight) = (config.ratio.estimator, config.ratio.cycle_weight);
        let noisy: ScalarNet<B::InnerBackend> = load_model_file(
            noisy_classifier_net(config)?.init(device),
            &classifier.dir.join("noisy/model.mpk"),
            device,
        )?;
        let (model, training) = match estimator.regression() {
            None => (noisy, None),
            Some(regression) => {
                let clean_net = load_model_file(
                    clean_classifier_net(config)?.init(device),
                    &classifier.dir.join("clean/model.mpk"),
                    device,
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
                let net = ratio_net(config)?;
                let fit = Fit {
                    dir: ctx.dir,
                    label: "ratio network",
                    observer: ctx.observer.training(),
                };
                let (net, fitted) = fit.run_on(
                    seeded::<B, _>(device, config.ratio.training.seed, || net.init(device)),
                    &objective,
                    &config.ratio.training,
                    ctx.devices,
                )?;
                (net, Some(fitted))
            }
        };
        let errors = match &data.chains {
            Some(chains) => {
                let exact =
                    MarkovLogRatio::new(chains.source.clone(), chains.target.clone(), process)?;
                let errors =
                    ratio_error::<B::InnerBackend>(&model, &exact, &process, &data, device);
                write_error_csv(&ctx.dir.join("ratio_error.csv"), &errors)?;
                errors
            }
            None => Vec::new(),
        };
        let all = |domain: &str| overall(&errors, domain);
        Ok(RatioSummary {
            estimator: estimator.name().into(),
            cycle_weight,
            target_train: data.target_train.len(),
            training,
            mse_source: all("source").map(|b| b.mse),
            mse_target: all("target").map(|b| b.mse),
            error_variance_source: all("source").map(|b| b.error_variance),
            error_variance_target: all("target").map(|b| b.error_variance),
        })
    }
}

/// The learned `log h_t` estimate of a finished ratio stage: the ratio network, or the noisy
/// classifier for the noisy-classifier estimator.
pub fn load_learned_ratio<B: AutodiffBackend>(
    ctx: &StageContext<'_, B>,
    ratio: Handle<RatioStage>,
) -> Result<ScalarNet<B::InnerBackend>> {
    let input = ctx.input(ratio)?;
    let classifier = ctx.input(input.stage.classifier)?;
    let config = &input.stage.config;
    let device = ctx.device;
    let (net, path) = match config.ratio.estimator {
        EstimatorKind::NoisyClassifier => (
            noisy_classifier_net(config)?,
            classifier.dir.join("noisy/model.mpk"),
        ),
        _ => (ratio_net(config)?, input.dir.join("model.mpk")),
    };
    Ok(load_model_file(net.init(device), &path, device)?)
}
