//! A method's samples at one setting: its components loaded from the input stages, drawn by
//! [`sample_method`] into `samples.jsonl`.

use std::sync::Arc;

use burn::tensor::backend::AutodiffBackend;
use gtl_guidance::GammaSchedule;
use serde::Serialize;

use super::corpus::{CorpusStage, task_data, tokenizer_path};
use super::ratio::load_learned_ratio;
use super::{
    BaselineStage, DenoiserStage, GammaStage, Handle, PlannerStage, RatioStage, Stage,
    StageContext, StageId,
};
use crate::config::{ExperimentConfig, PositionOrder, TailChoice};
use crate::io::{write_decoded_jsonl, write_jsonl};
use crate::method::{Method, SamplerChoice};
use crate::sampling::{Components, SampleSummary, sample_method};
use crate::{Result, keys};

/// A method's sampling stage.
pub struct SamplesStage {
    /// The experiment.
    pub config: Arc<ExperimentConfig>,
    /// The method.
    pub method: Method,
    /// The source denoiser, when the method samples with it.
    pub denoiser: Option<Handle<DenoiserStage>>,
    /// The planner, when the method follows the planner's order.
    pub planner: Option<Handle<PlannerStage>>,
    /// The learned ratio, when the method is guided by it.
    pub ratio: Option<Handle<RatioStage>>,
    /// The γ fit, when the method's γ is fitted.
    pub gamma: Option<Handle<GammaStage>>,
    /// The baseline's training stage.
    pub baseline: Option<Handle<BaselineStage>>,
    /// The tokenizer of a text task.
    pub corpus: Option<Handle<CorpusStage>>,
    /// Label suffix (the setting).
    pub tag: String,
}

/// The keys of `[guidance]` a sampler reads.
#[derive(Serialize)]
struct SamplerKey {
    method: Method,
    samples: usize,
    batch_size: usize,
    seed: u64,
    gamma: Option<f64>,
    top_n: Option<usize>,
    /// Written only when it changes the draw (keys of earlier runs stay valid).
    #[serde(skip_serializing_if = "Option::is_none")]
    candidate_tail: Option<TailChoice>,
    order: Option<PositionOrder>,
    chunk_rows: Option<usize>,
    exact_steps: Option<usize>,
    t_end: Option<f64>,
}

impl Stage for SamplesStage {
    type Summary = SampleSummary;
    const KIND: &'static str = "samples";

    fn label(&self) -> String {
        format!("samples {} {}", self.method, self.tag)
    }

    fn key(&self) -> Result<String> {
        let g = &self.config.guidance;
        let method = self.method;
        let guided = method.ratio() != crate::method::RatioChoice::None;
        let sampler = method.sampler(g);
        let multi = sampler == SamplerChoice::MultiPosition;
        let key = SamplerKey {
            method,
            samples: method.sample_count(g),
            batch_size: g.batch_size,
            seed: g.seed,
            gamma: (guided && !method.uses_fitted_gamma(g)).then_some(g.gamma),
            top_n: (guided && !multi).then_some(g.top_n),
            candidate_tail: g.tail_for_key().filter(|_| guided && !multi),
            order: match sampler {
                SamplerChoice::OnePosition(order) => Some(order),
                SamplerChoice::MultiPosition => None,
            },
            chunk_rows: guided.then_some(g.chunk_rows),
            exact_steps: multi.then_some(g.exact_steps),
            t_end: multi.then_some(g.t_end),
        };
        let mut text = keys::section("sampler", &key)?;
        text.push_str(&keys::process(&self.config)?);
        if method.needs_exact_chains() {
            text.push_str(&keys::chains(&self.config)?);
        }
        Ok(text)
    }

    fn inputs(&self) -> Vec<StageId> {
        [
            self.baseline.map(|h| h.id),
            self.denoiser.map(|h| h.id),
            self.planner.map(|h| h.id),
            self.ratio.map(|h| h.id),
            self.gamma.map(|h| h.id),
            self.corpus.map(|h| h.id),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    fn run<B: AutodiffBackend>(&self, ctx: &StageContext<'_, B>) -> Result<SampleSummary> {
        let (config, device) = (&self.config, ctx.device);
        let mut components = Components::<B::InnerBackend>::default();
        if let Some(handle) = self.denoiser {
            let input = ctx.input(handle)?;
            components.source = Some(input.stage.load(input.dir, device)?);
        }
        if let Some(handle) = self.baseline {
            let input = ctx.input(handle)?;
            components.baseline = Some(input.stage.load(input.dir, device)?);
        }
        if let Some(handle) = self.planner {
            let input = ctx.input(handle)?;
            components.planner = Some(input.stage.load(input.dir, device)?);
        }
        if let Some(handle) = self.ratio {
            components.ratio = Some(load_learned_ratio(ctx, handle)?);
        }
        if self.method.needs_exact_chains() {
            components.chains = task_data(ctx, config, self.corpus)?.chains.clone();
        }
        let fitted = match self.gamma {
            Some(handle) => Some(ctx.input(handle)?.summary()?.schedule()),
            None => None,
        };
        let gamma: GammaSchedule = self.method.gamma(&config.guidance, fitted.as_ref());
        let samples = sample_method(self.method, &components, config, &gamma, device)?;
        let path = ctx.dir.join("samples.jsonl");
        match self.corpus {
            Some(corpus) => {
                let tokenizer = crate::text::load_tokenizer(&tokenizer_path(ctx, corpus)?)?;
                let texts: Vec<String> = samples
                    .tokens
                    .iter()
                    .map(|t| crate::text::decode_plain(&tokenizer, t))
                    .collect();
                write_decoded_jsonl(&path, &samples.tokens, &texts)?;
            }
            None if config.dna.is_some() => {
                let bases: Vec<String> = samples
                    .tokens
                    .iter()
                    .map(|t| crate::dna::decode(t))
                    .collect();
                write_decoded_jsonl(&path, &samples.tokens, &bases)?;
            }
            None => write_jsonl(&path, &samples.tokens)?,
        }
        Ok(SampleSummary::new(self.method, &samples, &gamma, config))
    }
}
