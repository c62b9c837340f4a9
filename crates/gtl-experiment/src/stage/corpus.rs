//! The tokenizer of a text task: a byte-level BPE trained on the source training text, or the
//! user's `tokenizer.json`, written to the stage's `tokenizer.json` that every other stage of
//! the task reads.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use burn::tensor::backend::AutodiffBackend;
use gtl_data::TextTokenizer;
use serde::{Deserialize, Serialize};

use super::{Handle, Stage, StageContext, StageId};
use crate::config::{ExperimentConfig, Task, TokenizerSpec};
use crate::data::TaskData;
use crate::{ExperimentError, Result, keys, text};

/// The tokenizer stage of a text task.
pub struct CorpusStage {
    /// The experiment.
    pub config: Arc<ExperimentConfig>,
}

/// What the tokenizer stage reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CorpusSummary {
    /// Real tokens N of the tokenizer.
    pub num_tokens: usize,
    /// Documents per split: source train, validation, test; target train (all fractions
    /// before keeping), test.
    pub source_documents: [usize; 3],
    /// Target test documents.
    pub target_test_documents: usize,
    /// Seconds to train (or load) the tokenizer.
    pub seconds: f64,
}

impl Stage for CorpusStage {
    type Summary = CorpusSummary;
    const KIND: &'static str = "tokenizer";

    fn label(&self) -> String {
        "tokenizer".into()
    }

    fn key(&self) -> Result<String> {
        keys::source_data(&self.config)
    }

    fn inputs(&self) -> Vec<StageId> {
        Vec::new()
    }

    fn run<B: AutodiffBackend>(&self, ctx: &StageContext<'_, B>) -> Result<CorpusSummary> {
        let Task::Text(spec) = self.config.task() else {
            return Err(ExperimentError::config(
                "the tokenizer stage needs a text task",
            ));
        };
        let start = Instant::now();
        let docs = text::documents(spec)?;
        let tokenizer = match &spec.tokenizer {
            TokenizerSpec::Bpe { vocab_size } => {
                let tokenizer =
                    TextTokenizer::train_bpe(&text::tokenizer_texts(&docs), *vocab_size)
                        .map_err(|e| ExperimentError::config(format!("text.tokenizer: {e}")))?;
                if tokenizer.num_tokens() != *vocab_size {
                    return Err(ExperimentError::config(format!(
                        "text.tokenizer.vocab_size = {vocab_size}: the source training text \
                         supports only {} tokens; lower it",
                        tokenizer.num_tokens()
                    )));
                }
                tokenizer
            }
            TokenizerSpec::File { path } => (*text::load_tokenizer(path)?).clone(),
        };
        let path = ctx.dir.join("tokenizer.json");
        tokenizer
            .save(&path)
            .map_err(|e| ExperimentError::config(e.to_string()))?;
        tracing::info!(
            "tokenizer: {} tokens from {} source training documents",
            tokenizer.num_tokens(),
            docs.source_train.len()
        );
        Ok(CorpusSummary {
            num_tokens: tokenizer.num_tokens(),
            source_documents: [
                docs.source_train.len(),
                docs.source_validation.len(),
                docs.source_test.len(),
            ],
            target_test_documents: docs.target_test.len(),
            seconds: start.elapsed().as_secs_f64(),
        })
    }
}

/// The tokenizer file of a finished tokenizer stage.
pub fn tokenizer_path<B: AutodiffBackend>(
    ctx: &StageContext<'_, B>,
    corpus: Handle<CorpusStage>,
) -> Result<PathBuf> {
    Ok(ctx.input(corpus)?.dir.join("tokenizer.json"))
}

/// The data of `config` for a running stage: a text task's windows under the tokenizer of
/// `corpus`, a Markov task's draws.
pub fn task_data<B: AutodiffBackend>(
    ctx: &StageContext<'_, B>,
    config: &ExperimentConfig,
    corpus: Option<Handle<CorpusStage>>,
) -> Result<Arc<TaskData>> {
    let tokenizer = corpus.map(|h| tokenizer_path(ctx, h)).transpose()?;
    TaskData::load(config, tokenizer.as_deref())
}
