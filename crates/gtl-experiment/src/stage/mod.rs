//! The typed stage protocol: every stage of an experiment (source denoiser, planner,
//! classifiers, ratio network, γ fit, baselines, samples) is a [`Stage`] with a label, a key
//! built from the typed config, its inputs as typed [`Handle`]s, a `run` on a burn backend
//! and a serde `Summary`. A [`Graph`] holds the stages of a run, shares a stage between
//! settings when its key is the same, and folders follow the one cache rule of
//! [`crate::cache`].

mod baseline;
mod corpus;
mod denoiser;
mod executor;
mod gamma;
mod planner;
mod ratio;
mod samples;

use std::any::Any;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::tensor::backend::AutodiffBackend;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cache::{Done, FORMAT_VERSION, stage_dir};
use crate::observer::Observer;
use crate::{ExperimentError, Result};

pub use baseline::{BaselineStage, BaselineSummary, Trial, best_trial, target_nelbo};
pub use corpus::{CorpusStage, CorpusSummary, task_data, tokenizer_path};
pub use denoiser::{DenoiserStage, DenoiserSummary};
pub use executor::{Outcome, execute, threads_per_worker};
pub use gamma::{GammaChoice, GammaStage, SampleFit, fit_by_samples};
pub use planner::{PlannerStage, PlannerSummary};
pub use ratio::{
    ClassifierStage, ClassifierSummary, CleanScores, RatioStage, RatioSummary, TIME_BINS,
    load_learned_ratio, overall, pearson, ratio_error,
};
pub use samples::SamplesStage;

/// One stage of an experiment.
pub trait Stage: Send + Sync + 'static {
    /// What the stage reports (also stored in its `done.json`).
    type Summary: Serialize + DeserializeOwned + Send + 'static;
    /// The kind of stage: the prefix of its folders.
    const KIND: &'static str;
    /// Shown in logs and the report.
    fn label(&self) -> String;
    /// Everything the stage's artefacts depend on besides its inputs, as text (the graph adds
    /// the inputs' keys and the format version).
    fn key(&self) -> Result<String>;
    /// The stages whose artefacts it reads.
    fn inputs(&self) -> Vec<StageId>;
    /// Runs the stage into `ctx.dir`.
    fn run<B: AutodiffBackend>(&self, ctx: &StageContext<'_, B>) -> Result<Self::Summary>;
}

/// A stage's position in its graph.
pub type StageId = usize;

/// A typed reference to a stage of a graph.
pub struct Handle<S> {
    /// The stage's position.
    pub id: StageId,
    marker: PhantomData<fn() -> S>,
}

impl<S> Clone for Handle<S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S> Copy for Handle<S> {}

impl<S> std::fmt::Debug for Handle<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Handle({})", self.id)
    }
}

impl<S> PartialEq for Handle<S> {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

/// A stage with its type erased, runnable on backend `B`.
trait ErasedStage<B: AutodiffBackend>: Send + Sync {
    fn run_erased(&self, ctx: &StageContext<'_, B>) -> Result<serde_json::Value>;
    fn as_any(&self) -> &dyn Any;
}

impl<B: AutodiffBackend, S: Stage> ErasedStage<B> for S {
    fn run_erased(&self, ctx: &StageContext<'_, B>) -> Result<serde_json::Value> {
        let summary = self.run(ctx)?;
        serde_json::to_value(summary).map_err(|e| ExperimentError::Serialise {
            what: format!("the summary of {}", self.label()),
            message: e.to_string(),
        })
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// One stage in a graph.
pub struct Node<B: AutodiffBackend> {
    /// Shown in logs and the report.
    pub label: String,
    /// The stage kind.
    pub kind: &'static str,
    /// Its cache folder.
    pub dir: PathBuf,
    /// Its full key (`key.txt`).
    pub key: String,
    /// Stages that must finish first.
    pub inputs: Vec<StageId>,
    stage: Box<dyn ErasedStage<B>>,
}

/// The stages of a run on backend `B`, in an order where inputs come first.
pub struct Graph<B: AutodiffBackend> {
    nodes: Vec<Node<B>>,
    root: PathBuf,
}

impl<B: AutodiffBackend> Graph<B> {
    /// An empty graph whose stage folders live under `root`.
    pub fn new(root: &Path) -> Self {
        Graph {
            nodes: Vec::new(),
            root: root.to_path_buf(),
        }
    }

    /// Adds `stage`, or returns the stage already in the graph with the same folder (the same
    /// kind and key: a stage shared by several settings keeps the label of the first).
    pub fn add<S: Stage>(&mut self, stage: S) -> Result<Handle<S>> {
        let inputs = stage.inputs();
        let mut key = format!("format = {FORMAT_VERSION}\nstage = {}\n", S::KIND);
        for &input in &inputs {
            let node = self.nodes.get(input).ok_or_else(|| {
                ExperimentError::config(format!(
                    "{}: an input stage is not in the graph",
                    stage.label()
                ))
            })?;
            key.push_str(&format!("input = {:?}\n", node.dir.file_name()));
        }
        key.push_str(&stage.key()?);
        let dir = stage_dir(&self.root, S::KIND, &key);
        // The folder names the kind, so a stage with this folder is of this type.
        if let Some(existing) = self.nodes.iter().position(|n| n.dir == dir)
            && self.nodes[existing].stage.as_any().is::<S>()
        {
            return Ok(self.handle(existing));
        }
        self.nodes.push(Node {
            label: stage.label(),
            kind: S::KIND,
            dir,
            key,
            inputs,
            stage: Box::new(stage),
        });
        Ok(self.handle(self.nodes.len() - 1))
    }

    fn handle<S>(&self, id: StageId) -> Handle<S> {
        Handle {
            id,
            marker: PhantomData,
        }
    }

    /// The stages, in insertion order.
    pub fn nodes(&self) -> &[Node<B>] {
        &self.nodes
    }

    /// The stage behind `handle`.
    pub fn stage<S: Stage>(&self, handle: Handle<S>) -> &S {
        self.nodes[handle.id]
            .stage
            .as_any()
            .downcast_ref::<S>()
            .expect("a handle names a stage of its own type")
    }

    /// The folder of the stage behind `handle`.
    pub fn dir<S>(&self, handle: Handle<S>) -> &Path {
        &self.nodes[handle.id].dir
    }

    /// Every stage that `targets` need, themselves included, in graph order.
    pub fn closure(&self, targets: &[StageId]) -> Vec<StageId> {
        let mut needed = vec![false; self.nodes.len()];
        let mut stack = targets.to_vec();
        while let Some(id) = stack.pop() {
            if !needed[id] {
                needed[id] = true;
                stack.extend(&self.nodes[id].inputs);
            }
        }
        (0..self.nodes.len()).filter(|&i| needed[i]).collect()
    }

    pub(crate) fn run_node(
        &self,
        id: StageId,
        ctx: &StageContext<'_, B>,
    ) -> Result<serde_json::Value> {
        self.nodes[id].stage.run_erased(ctx)
    }
}

/// What a running stage sees: its folder, the device, its inputs and the observer.
pub struct StageContext<'a, B: AutodiffBackend> {
    /// The stage's folder (created before `run`).
    pub dir: &'a Path,
    /// The device of every tensor (the first of `devices`).
    pub device: &'a B::Device,
    /// The devices data-parallel training uses ([`Fit::run_on`](crate::nets::Fit::run_on));
    /// one device in most runs.
    pub devices: &'a [B::Device],
    /// Where progress goes.
    pub observer: &'a Arc<dyn Observer>,
    graph: &'a Graph<B>,
    outcomes: &'a [Option<Outcome>],
}

/// A finished input stage: its typed stage, its folder and its record.
pub struct Input<'a, S: Stage> {
    /// The stage.
    pub stage: &'a S,
    /// Its folder.
    pub dir: &'a Path,
    /// Its `done.json` record.
    pub done: &'a Done,
}

impl<S: Stage> Input<'_, S> {
    /// The stage's typed summary.
    pub fn summary(&self) -> Result<S::Summary> {
        summary_of::<S>(self.done, self.dir)
    }
}

impl<'a, B: AutodiffBackend> StageContext<'a, B> {
    /// The finished input behind `handle`.
    pub fn input<S: Stage>(&self, handle: Handle<S>) -> Result<Input<'a, S>> {
        let done = self.outcomes[handle.id]
            .as_ref()
            .map(|o| &o.done)
            .ok_or_else(|| {
                ExperimentError::Missing(format!(
                    "{} has not finished",
                    self.graph.nodes[handle.id].label
                ))
            })?;
        Ok(Input {
            stage: self.graph.stage(handle),
            dir: self.graph.dir(handle),
            done,
        })
    }
}

/// The typed summary of a finished record found in `dir`.
pub fn summary_of<S: Stage>(done: &Done, dir: &Path) -> Result<S::Summary> {
    serde_json::from_value(done.summary.clone()).map_err(|e| ExperimentError::Format {
        path: dir.join("done.json"),
        message: format!("not a {} summary: {e}", S::KIND),
    })
}
