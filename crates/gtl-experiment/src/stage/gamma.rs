//! The fit of γ for the learned-ratio samplers (gtl, exact-guidance) on the target data only:
//! the held-out likelihood of the guided conditional (gtl-guidance's [`GammaFitter`]) and,
//! with the "samples" criterion, how well an n-gram model of gtl's own samples at each γ
//! explains the target training and validation sequences.

use std::path::Path;
use std::sync::Arc;

use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use gtl_classifier::RatioModel;
use gtl_diffusion::Denoiser;
use gtl_eval::NgramModel;
use gtl_guidance::{
    GammaFit, GammaFitter, GammaSchedule, Guide, GuidedSampler, PositionRule, Scorer, best_on_grid,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::corpus::{CorpusStage, task_data};
use super::ratio::load_learned_ratio;
use super::{DenoiserStage, Handle, PlannerStage, RatioStage, Stage, StageContext, StageId};
use crate::config::{ExperimentConfig, FitCriterion, GuidanceSection, TailChoice};
use crate::io::write_jsonl;
use crate::sampling::scheduled;
use crate::{Result, keys};

/// The γ fit of one setting.
pub struct GammaStage {
    /// The experiment.
    pub config: Arc<ExperimentConfig>,
    /// The source denoiser.
    pub denoiser: Handle<DenoiserStage>,
    /// The learned ratio.
    pub ratio: Handle<RatioStage>,
    /// The planner, when the samples criterion samples in the planner's order.
    pub planner: Option<Handle<PlannerStage>>,
    /// The tokenizer of a text task.
    pub corpus: Option<Handle<CorpusStage>>,
    /// Label suffix (the setting).
    pub tag: String,
}

/// What a γ stage reports: the held-out likelihood of every γ and, with the "samples"
/// criterion, the sample scores that chose.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GammaChoice {
    /// `guidance.fit_criterion`.
    pub criterion: FitCriterion,
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

/// The keys of `[guidance]` the fit reads.
#[derive(Serialize)]
struct FitKey<'a> {
    grid: &'a [f64],
    rows: usize,
    seed: u64,
    chunk_rows: usize,
    bins: usize,
    criterion: FitCriterion,
    samples: Option<SamplesKey>,
}

#[derive(Serialize)]
struct SamplesKey {
    samples: usize,
    ngram_order: usize,
    order: crate::config::PositionOrder,
    top_n: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    candidate_tail: Option<TailChoice>,
    batch_size: usize,
}

impl Stage for GammaStage {
    type Summary = GammaChoice;
    const KIND: &'static str = "gamma";

    fn label(&self) -> String {
        format!("fit gamma {}", self.tag)
    }

    fn key(&self) -> Result<String> {
        let g = &self.config.guidance;
        let key = FitKey {
            grid: &g.gamma_grid,
            rows: g.fit_rows,
            seed: g.seed,
            chunk_rows: g.chunk_rows,
            bins: g.fit_bins,
            criterion: g.fit_criterion,
            samples: (g.fit_criterion == FitCriterion::Samples).then_some(SamplesKey {
                samples: g.fit_samples,
                ngram_order: g.fit_order,
                order: g.order,
                top_n: g.top_n,
                candidate_tail: g.tail_for_key(),
                batch_size: g.batch_size,
            }),
        };
        Ok(format!(
            "{}\n{}",
            keys::data(&self.config)?,
            keys::section("fit", &key)?
        ))
    }

    fn inputs(&self) -> Vec<StageId> {
        let mut inputs = vec![self.denoiser.id, self.ratio.id];
        inputs.extend(self.planner.map(|p| p.id));
        inputs.extend(self.corpus.map(|h| h.id));
        inputs
    }

    fn run<B: AutodiffBackend>(&self, ctx: &StageContext<'_, B>) -> Result<GammaChoice> {
        let (config, device) = (&self.config, ctx.device);
        let guidance = &config.guidance;
        let process = config.process()?;
        let input = ctx.input(self.denoiser)?;
        let denoiser = input.stage.load::<B::InnerBackend>(input.dir, device)?;
        let ratio = load_learned_ratio(ctx, self.ratio)?;
        let data = task_data(ctx, config, self.corpus)?;
        let held_out = &data.target_validation;
        let guide = Guide {
            denoiser: &denoiser,
            scorer: Scorer::Exact {
                ratio: &ratio,
                chunk_rows: guidance.chunk_rows,
            },
            process: &process,
        };
        let fitter = GammaFitter {
            gammas: guidance.gamma_grid.clone(),
            draws: guidance.fit_rows.div_ceil(held_out.len()),
            bins: guidance.fit_bins,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(guidance.seed ^ 0x6a11);
        let likelihood = fitter.fit(guide, held_out, device, &mut rng)?;
        tracing::info!(
            "held-out likelihood: best γ = {} on {} masked validation sequences; per progress \
             bin: {:?}",
            likelihood.best,
            likelihood.rows,
            likelihood.bins.iter().map(|b| b.best).collect::<Vec<_>>()
        );
        let samples = match guidance.fit_criterion {
            FitCriterion::Samples => {
                let planner = match self.planner {
                    Some(handle) => {
                        let input = ctx.input(handle)?;
                        Some(input.stage.load::<B::InnerBackend>(input.dir, device)?)
                    }
                    None => None,
                };
                let fit = fit_by_samples(
                    guidance,
                    guidance.order.rule(planner.as_ref())?,
                    &denoiser,
                    &ratio,
                    &process,
                    config.length(),
                    &data.target_seen(),
                    Some(ctx.dir),
                    device,
                    guidance.seed ^ 0x5a3e_9f17,
                )?;
                tracing::info!("samples criterion: γ = {}", fit.best);
                Some(fit)
            }
            FitCriterion::Likelihood => None,
        };
        Ok(GammaChoice {
            criterion: guidance.fit_criterion,
            likelihood,
            samples,
        })
    }
}

/// The "samples" criterion: scheduled GTL (`guidance`'s top-n and batch size, `order`)
/// draws `guidance.fit_samples` sequences at each γ of `guidance.gamma_grid`; an n-gram
/// model of order `guidance.fit_order` fitted on them scores `reference` (mean
/// log-probability per token). Every γ samples from one random stream seeded with `seed`
/// (common random numbers: the scores differ by γ, not by draw), which differs from the
/// evaluated samples' stream. Each γ's samples go to `dir/fit-samples/` when `dir` is given.
#[allow(clippy::too_many_arguments)]
pub fn fit_by_samples<B: Backend>(
    guidance: &GuidanceSection,
    order: PositionRule<'_, B>,
    denoiser: &dyn Denoiser<B>,
    ratio: &dyn RatioModel<B>,
    process: &gtl_diffusion::Process,
    length: usize,
    reference: &[Vec<u32>],
    dir: Option<&Path>,
    device: &B::Device,
    seed: u64,
) -> Result<SampleFit> {
    let fit_samples = dir.map(|dir| dir.join("fit-samples"));
    if let Some(folder) = &fit_samples {
        std::fs::create_dir_all(folder).map_err(|e| crate::ExperimentError::io(folder, e))?;
    }
    let guide = Guide {
        denoiser,
        scorer: Scorer::Exact {
            ratio,
            chunk_rows: guidance.chunk_rows,
        },
        process,
    };
    let mut scores = Vec::with_capacity(guidance.gamma_grid.len());
    for &gamma in &guidance.gamma_grid {
        let drawn = scheduled(guidance, GammaSchedule::Constant(gamma), order).sample(
            guide,
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
        best: best_on_grid(&guidance.gamma_grid, &scores)?,
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
    use gtl_diffusion::{Process, ProcessKind, Schedule};
    use gtl_markov::MarkovChain;
    use gtl_oracle::{MarkovDenoiser, MarkovLogRatio};

    use super::*;
    use crate::config::PositionOrder;

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
            order: PositionOrder::Random,
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
