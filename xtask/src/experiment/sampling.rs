//! The sampling stage of every method (docs/experiment.md): which denoiser, which ratio, which
//! sampler. Everything runs on the inner (inference) backend with host-seeded randomness.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use gtl_classifier::RatioModel;
use gtl_diffusion::sampler::{Confidence, Samples};
use gtl_diffusion::{Denoiser, Process};
use gtl_eval::NgramModel;
use gtl_finetune::Method;
use gtl_guidance::{
    ExactGuidance, GammaFit, GammaSchedule, PositionRule, ScheduledGtl, Scorer, best_on_grid,
    fit_gamma,
};
use gtl_models::PositionNet;
use gtl_models::training::{load_model_file, write_atomically};
use gtl_oracle::{MarkovDenoiser, MarkovLogRatio};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::config::{ExperimentConfig, GuidanceSection};
use crate::finetune::baseline_shape;
use crate::oracle::write_jsonl;
use crate::planner::{load_denoiser, load_planner};
use crate::ratio::load_ratio_model;
use crate::train::TaskData;

/// How a method draws its samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sampler {
    /// The source denoiser, unguided (scheduled GTL with γ = 0, the same order as GTL).
    Source,
    /// A baseline's denoiser, unguided, in `guidance.baseline_order`.
    Baseline(Method),
    /// Scheduled GTL: source denoiser + learned ratio.
    Gtl,
    /// Scheduled GTL: source denoiser + exact `log h` (isolates the ratio network's error).
    GtlExactRatio,
    /// Scheduled GTL: exact source denoiser + exact `log h` (the exactness floor).
    GtlOracles,
    /// Multi-position exact guidance: source denoiser + learned ratio, `L·N` ratio passes
    /// per step.
    ExactGuidance,
}

impl Sampler {
    /// Whether the sampler needs the source denoiser network.
    pub fn needs_denoiser(self) -> bool {
        matches!(
            self,
            Sampler::Source | Sampler::Gtl | Sampler::GtlExactRatio | Sampler::ExactGuidance
        )
    }

    /// Whether it needs the learned ratio.
    pub fn needs_ratio(self) -> bool {
        matches!(self, Sampler::Gtl | Sampler::ExactGuidance)
    }

    /// Whether it reads `guidance.order` (and so the planner when that is "planner").
    pub fn uses_order(self) -> bool {
        matches!(
            self,
            Sampler::Source | Sampler::Gtl | Sampler::GtlExactRatio | Sampler::GtlOracles
        )
    }

    /// Whether it uses an exact chain.
    pub fn uses_chains(self) -> bool {
        matches!(self, Sampler::GtlExactRatio | Sampler::GtlOracles)
    }
}

/// Where a sampling stage finds its networks.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// The denoiser stage.
    pub denoiser: Option<PathBuf>,
    /// The planner stage (when `guidance.order = "planner"`).
    pub planner: Option<PathBuf>,
    /// The classifier stage.
    pub classifier: Option<PathBuf>,
    /// The ratio stage.
    pub ratio: Option<PathBuf>,
    /// The baseline's stage.
    pub baseline: Option<PathBuf>,
    /// The fit of γ (its `gamma.json`), when `guidance.fit_gamma`.
    pub gamma: Option<PathBuf>,
}

/// What a sampling stage reports.
#[derive(Debug, Serialize)]
pub struct SampleSummary {
    /// Sequences drawn.
    pub samples: usize,
    /// γ of the sampler (0 for unguided ones; the mean over steps for a fitted schedule).
    pub gamma: f64,
    /// The fitted schedule of the learned-ratio samplers.
    pub gamma_schedule: Option<GammaSchedule>,
    /// Counters and wall time of the sampler.
    pub stats: gtl_diffusion::sampler::SamplerStats,
}

fn required<'a>(dir: &'a Option<PathBuf>, what: &str) -> Result<&'a Path> {
    match dir {
        Some(dir) => Ok(dir),
        None => bail!("the sampling stage needs the {what} stage"),
    }
}

/// Draws `method`'s samples into `dir/samples.jsonl`.
pub fn draw<B: Backend>(
    config: &ExperimentConfig,
    sampler: Sampler,
    inputs: &Inputs,
    dir: &Path,
    device: &B::Device,
) -> Result<SampleSummary> {
    let process = config.process()?;
    let (source_chain, target_chain) = config.data.chains()?;
    let guidance = &config.guidance;
    let learned_gamma = match &inputs.gamma {
        Some(dir) => fitted(dir)?.schedule(),
        None => GammaSchedule::Constant(guidance.gamma),
    };
    let length = config.data.length;
    let exact = MarkovLogRatio::new(source_chain.clone(), target_chain, process)?;
    let planner = match (sampler.uses_order(), guidance.order.as_str()) {
        (true, "planner") => Some(load_planner::<B>(
            config,
            required(&inputs.planner, "planner")?,
            device,
        )?),
        _ => None,
    };
    let order = |name: &str| position_rule(name, planner.as_ref());
    let mut rng = ChaCha8Rng::seed_from_u64(guidance.seed);
    let count = guidance.samples;
    let source_net = match sampler.needs_denoiser() {
        true => Some(load_denoiser::<B>(
            config,
            required(&inputs.denoiser, "denoiser")?,
            device,
        )?),
        false => None,
    };
    let source = || -> &dyn Denoiser<B> { source_net.as_ref().expect("loaded above") };
    let learned = match sampler.needs_ratio() {
        true => Some(load_ratio_model::<B>(
            config,
            required(&inputs.classifier, "classifier")?,
            required(&inputs.ratio, "ratio")?,
            device,
        )?),
        false => None,
    };
    let learned = || -> &dyn RatioModel<B> { learned.as_ref().expect("loaded above") };
    let run = |denoiser: &dyn Denoiser<B>,
               ratio: &dyn RatioModel<B>,
               gamma: GammaSchedule,
               order: PositionRule<'_, B>,
               rng: &mut ChaCha8Rng|
     -> Result<Samples> {
        let scorer = Scorer::Exact {
            ratio,
            chunk_rows: guidance.chunk_rows,
        };
        Ok(scheduled(guidance, gamma, order)
            .sample(denoiser, scorer, &process, count, length, device, rng)?)
    };
    let samples: Samples = match sampler {
        Sampler::Source => run(
            source(),
            &exact,
            GammaSchedule::Constant(0.0),
            order(&guidance.order),
            &mut rng,
        )?,
        Sampler::Baseline(method) => {
            let dir = required(&inputs.baseline, "baseline")?;
            let net = load_model_file(
                baseline_shape::<B>(config, method, device)?,
                &dir.join("model.mpk"),
                device,
            )?;
            run(
                &net,
                &exact,
                GammaSchedule::Constant(0.0),
                order(&guidance.baseline_order),
                &mut rng,
            )?
        }
        Sampler::Gtl => run(
            source(),
            learned(),
            learned_gamma.clone(),
            order(&guidance.order),
            &mut rng,
        )?,
        Sampler::GtlExactRatio => run(
            source(),
            &exact,
            GammaSchedule::Constant(guidance.gamma),
            order(&guidance.order),
            &mut rng,
        )?,
        Sampler::GtlOracles => {
            let oracle = MarkovDenoiser::new(source_chain, process)?;
            run(
                &oracle,
                &exact,
                GammaSchedule::Constant(guidance.gamma),
                order(&guidance.order),
                &mut rng,
            )?
        }
        Sampler::ExactGuidance => ExactGuidance {
            steps: guidance.exact_steps,
            t_end: 1e-5,
            gamma: learned_gamma.clone(),
            batch_size: guidance.batch_size,
        }
        .sample(
            source(),
            Scorer::Exact {
                ratio: learned(),
                chunk_rows: guidance.chunk_rows,
            },
            &process,
            guidance.exact_samples,
            length,
            device,
            &mut rng,
        )?,
    };
    write_jsonl(&dir.join("samples.jsonl"), &samples.tokens)?;
    Ok(SampleSummary {
        samples: samples.tokens.len(),
        gamma: match sampler {
            Sampler::Source | Sampler::Baseline(_) => 0.0,
            Sampler::Gtl | Sampler::ExactGuidance => mean_over_steps(&learned_gamma, length),
            _ => guidance.gamma,
        },
        gamma_schedule: match sampler {
            Sampler::Gtl | Sampler::ExactGuidance => Some(learned_gamma),
            _ => None,
        },
        stats: samples.stats,
    })
}

/// The position order `name` (a `guidance.order` value); "planner" without a planner is
/// random.
fn position_rule<'a, B: Backend>(
    name: &str,
    planner: Option<&'a PositionNet<B>>,
) -> PositionRule<'a, B> {
    match (name, planner) {
        ("margin", _) => PositionRule::Confidence(Confidence::Margin),
        ("entropy", _) => PositionRule::Confidence(Confidence::Entropy),
        ("confidence", _) => PositionRule::Confidence(Confidence::MaxProb),
        ("planner", Some(planner)) => PositionRule::Planner(planner),
        _ => PositionRule::Random,
    }
}

/// Scheduled GTL as `[guidance]` configures it, with `gamma` and `order`.
fn scheduled<'a, B: Backend>(
    guidance: &GuidanceSection,
    gamma: GammaSchedule,
    order: PositionRule<'a, B>,
) -> ScheduledGtl<'a, B> {
    ScheduledGtl {
        order,
        top_n: (guidance.top_n > 0).then_some(guidance.top_n),
        gamma,
        batch_size: guidance.batch_size,
    }
}

/// The fit a γ stage wrote.
fn fitted(dir: &Path) -> Result<GammaChoice> {
    let path = dir.join("gamma.json");
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    serde_json::from_str(&text).with_context(|| format!("{}: not a γ fit", path.display()))
}

/// The mean γ of `schedule` over the `length` steps of one-position sampling.
fn mean_over_steps(schedule: &GammaSchedule, length: usize) -> f64 {
    (0..length)
        .map(|step| schedule.at(step as f64 / length as f64))
        .sum::<f64>()
        / length as f64
}

/// What a γ stage writes (`gamma.json`): the held-out likelihood of every γ and, with the
/// "samples" criterion, the sample scores that chose.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GammaChoice {
    /// `guidance.fit_criterion`.
    pub criterion: String,
    /// gtl-guidance's fit on the target validation split (always computed: it costs one
    /// denoiser and one ratio pass per masked row).
    pub likelihood: GammaFit,
    /// The "samples" criterion's scores, when it chose.
    pub samples: Option<SampleFit>,
}

/// The "samples" criterion: gtl's own samples at each γ against the target sequences.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SampleFit {
    /// The grid.
    pub gammas: Vec<f64>,
    /// Mean log-probability per token of the reference under an n-gram model of each γ's
    /// samples (higher is better).
    pub log_likelihood: Vec<f64>,
    /// The γ with the highest score.
    pub best: f64,
    /// Sequences drawn per γ.
    pub samples: usize,
    /// Reference sequences (target training and validation).
    pub reference: usize,
    /// Order of the n-gram model.
    pub order: usize,
}

impl GammaChoice {
    /// The schedule the learned-ratio samplers use.
    pub fn schedule(&self) -> GammaSchedule {
        match &self.samples {
            Some(fit) => GammaSchedule::Constant(fit.best),
            None => self.likelihood.schedule(),
        }
    }

    /// The chosen γ when it is one constant.
    pub fn chosen(&self) -> Option<f64> {
        match self.schedule() {
            GammaSchedule::Constant(g) => Some(g),
            _ => None,
        }
    }
}

/// Fits γ of the learned-ratio samplers (gtl, exact-guidance) by `guidance.fit_criterion`:
/// gtl-guidance's `fit_gamma` on the target validation split (source denoiser, learned
/// ratio, every token a candidate), and with "samples" also gtl's sampler at each γ of the
/// grid, scored by how well an n-gram model of them explains the target training and
/// validation sequences ([`NgramModel`]). Writes `gamma.json` (and the fit's samples).
pub fn fit<B: Backend>(
    config: &ExperimentConfig,
    inputs: &Inputs,
    dir: &Path,
    device: &B::Device,
) -> Result<GammaChoice> {
    let process = config.process()?;
    let guidance = &config.guidance;
    let denoiser = load_denoiser::<B>(config, required(&inputs.denoiser, "denoiser")?, device)?;
    let ratio = load_ratio_model::<B>(
        config,
        required(&inputs.classifier, "classifier")?,
        required(&inputs.ratio, "ratio")?,
        device,
    )?;
    let data = TaskData::new(config)?;
    let held_out = &data.target_validation;
    let draws = guidance.fit_rows.div_ceil(held_out.len());
    let mut rng = ChaCha8Rng::seed_from_u64(guidance.seed ^ 0x6a11);
    let likelihood = fit_gamma(
        &denoiser,
        Scorer::Exact {
            ratio: &ratio,
            chunk_rows: guidance.chunk_rows,
        },
        &process,
        held_out,
        draws,
        &guidance.gamma_grid,
        guidance.fit_bins,
        device,
        &mut rng,
    )?;
    tracing::info!(
        "held-out likelihood: best γ = {} on {} masked validation sequences; per progress \
         bin: {:?}",
        likelihood.best,
        likelihood.rows,
        likelihood.bins.iter().map(|b| b.best).collect::<Vec<_>>()
    );
    let samples = match guidance.fit_criterion.as_str() {
        "samples" => {
            let planner = match (guidance.order.as_str(), &inputs.planner) {
                ("planner", Some(dir)) => Some(load_planner::<B>(config, dir, device)?),
                ("planner", None) => bail!("the γ fit by samples needs the planner stage"),
                _ => None,
            };
            let reference: Vec<Vec<u32>> = data
                .target_train
                .iter()
                .chain(&data.target_validation)
                .cloned()
                .collect();
            let fit = fit_by_samples(
                guidance,
                position_rule(&guidance.order, planner.as_ref()),
                &denoiser,
                &ratio,
                &process,
                config.data.length,
                &reference,
                Some(dir),
                device,
                guidance.seed ^ 0x5a3e_9f17,
            )?;
            tracing::info!("samples criterion: γ = {}", fit.best);
            Some(fit)
        }
        _ => None,
    };
    let choice = GammaChoice {
        criterion: guidance.fit_criterion.clone(),
        likelihood,
        samples,
    };
    write_atomically(
        &dir.join("gamma.json"),
        serde_json::to_string_pretty(&choice)?.as_bytes(),
    )?;
    Ok(choice)
}

/// The "samples" criterion: scheduled GTL (`guidance`'s top-n and batch size, `order`)
/// draws `guidance.fit_samples` sequences at each γ of `guidance.gamma_grid`; an n-gram
/// model of order `guidance.fit_order` fitted on them scores `reference` (mean
/// log-probability per token). Every γ samples from one random stream seeded with `seed`
/// (common random numbers: the scores differ by γ, not by draw), which differs from the
/// evaluated samples' stream. Each γ's samples go to `dir/fit-samples/` when `dir` is given.
#[allow(clippy::too_many_arguments)]
fn fit_by_samples<B: Backend>(
    guidance: &GuidanceSection,
    order: PositionRule<'_, B>,
    denoiser: &dyn Denoiser<B>,
    ratio: &dyn RatioModel<B>,
    process: &Process,
    length: usize,
    reference: &[Vec<u32>],
    dir: Option<&Path>,
    device: &B::Device,
    seed: u64,
) -> Result<SampleFit> {
    let fit_samples = dir.map(|dir| dir.join("fit-samples"));
    if let Some(folder) = &fit_samples {
        std::fs::create_dir_all(folder)?;
    }
    let mut scores = Vec::with_capacity(guidance.gamma_grid.len());
    for &gamma in &guidance.gamma_grid {
        let drawn = scheduled(guidance, GammaSchedule::Constant(gamma), order).sample(
            denoiser,
            Scorer::Exact {
                ratio,
                chunk_rows: guidance.chunk_rows,
            },
            process,
            guidance.fit_samples,
            length,
            device,
            &mut ChaCha8Rng::seed_from_u64(seed),
        )?;
        if let Some(folder) = &fit_samples {
            write_jsonl(&folder.join(format!("gamma-{gamma}.jsonl")), &drawn.tokens)?;
        }
        let model = NgramModel::fit(&drawn.tokens, guidance.fit_order, process.num_tokens)?;
        let score = model.mean_log_likelihood(reference)?;
        tracing::info!("γ = {gamma}: reference log-likelihood {score:.5} per token");
        scores.push(score);
    }
    Ok(SampleFit {
        best: best_on_grid(&guidance.gamma_grid, &scores),
        gammas: guidance.gamma_grid.clone(),
        log_likelihood: scores,
        samples: guidance.fit_samples,
        reference: reference.len(),
        order: guidance.fit_order,
    })
}

#[cfg(test)]
mod tests {
    use burn::backend::NdArray;
    use gtl_diffusion::{ProcessKind, Schedule};
    use gtl_markov::MarkovChain;

    use super::*;

    /// With both oracles γ = 1 samples the target exactly; γ = 0 samples the source and
    /// γ = 4 over-sharpens, so the criterion must choose 1 and rank 0 and 4 below it.
    #[test]
    fn the_samples_criterion_chooses_one_with_exact_oracles() {
        let device = Default::default();
        let (states, length) = (3, 8);
        let source = MarkovChain::diagonal(states, 0.3).unwrap();
        let target = MarkovChain::diagonal(states, 0.8).unwrap();
        let process = Process::new(ProcessKind::Absorbing, states, Schedule::default()).unwrap();
        let denoiser = MarkovDenoiser::new(source.clone(), process).unwrap();
        let ratio = MarkovLogRatio::new(source, target.clone(), process).unwrap();
        let guidance = GuidanceSection {
            gamma_grid: vec![0.0, 1.0, 4.0],
            fit_samples: 300,
            batch_size: 300,
            order: "random".into(),
            ..GuidanceSection::default()
        };
        let reference = target.sample_dataset(300, length, 5);
        let fit = fit_by_samples::<NdArray>(
            &guidance,
            PositionRule::Random,
            &denoiser,
            &ratio,
            &process,
            length,
            &reference,
            None,
            &device,
            3,
        )
        .unwrap();
        assert_eq!(fit.best, 1.0, "{fit:?}");
        let ll = &fit.log_likelihood;
        assert!(ll[1] > ll[0] && ll[1] > ll[2], "{ll:?}");
        assert_eq!((fit.samples, fit.reference, fit.order), (300, 300, 2));
    }
}
