//! The parts of a config each stage's own key is built from (the graph adds the keys of its
//! inputs and the format version). Two configs give the same key exactly when a stage run
//! under one is valid for the other; the source-side parts leave out the target, so settings
//! that vary the target share the source denoiser and planner. Chain files enter by their
//! contents.

use serde::Serialize;

use crate::config::{DnaData, ExperimentConfig, Task, TextData, TokenizerSpec};
use crate::error::to_toml;
use crate::{ExperimentError, Result};

/// `[name]` and the TOML of `value`.
pub fn section<T: Serialize>(name: &str, value: &T) -> Result<String> {
    Ok(format!("[{name}]\n{}", to_toml(value, name)?))
}

/// The source data: for a Markov task the seed, the sizes and the source chain; for a text
/// task the corpus (its files' contents), the domains, the splits, the overlap and the
/// tokenizer (the source training set holds the target documents the overlap moves); for a
/// DNA task the FASTA file (its contents), the taxa, the windows and the splits.
pub fn source_data(c: &ExperimentConfig) -> Result<String> {
    let d = match c.task() {
        Task::Markov(d) => d,
        Task::Text(t) => return source_text(t),
        Task::Dna(d) => return source_dna(d),
    };
    Ok(format!(
        "[source-data]\nseed = {}\nstates = {}\nextra_target_states = {}\nlength = {}\n\
         source = {}\nsource_size = {}\nvalidation_fraction = {:?}\ntest_size = {}\n",
        c.seed,
        d.states,
        d.extra_target_states,
        d.length,
        d.source.key_text()?,
        d.source_size,
        d.validation_fraction,
        d.test_size
    ))
}

fn source_text(t: &TextData) -> Result<String> {
    let tokenizer = match &t.tokenizer {
        TokenizerSpec::Bpe { vocab_size } => format!("bpe, {vocab_size} tokens"),
        TokenizerSpec::File { path } => format!(
            "file {:?} ({})",
            path.display().to_string(),
            crate::cache::file_fingerprint(path)?
        ),
    };
    Ok(format!(
        "[source-text]\ncorpus = {:?}\nfiles:\n{}source = {:?}\ntarget = {:?}\nlength = {}\n\
         validation_fraction = {:?}\ntest_fraction = {:?}\nsplit_seed = {}\noverlap = {:?}\n\
         max_documents = {}\neval_windows = {}\ntokenizer = {tokenizer}\n",
        t.corpus,
        crate::text::corpus_fingerprint(t)?,
        t.source,
        t.target,
        t.length,
        t.validation_fraction,
        t.test_fraction,
        t.split_seed,
        t.overlap,
        t.max_documents,
        t.eval_windows,
    ))
}

fn source_dna(d: &DnaData) -> Result<String> {
    Ok(format!(
        "[source-dna]\nfasta = {}\nrank = {:?}\nsource = {:?}\ntarget = {:?}\nlength = {}\n\
         stride = {}\nvalidation_fraction = {:?}\ntest_fraction = {:?}\nsplit_seed = {}\n\
         max_sequences = {}\neval_windows = {}\n",
        crate::dna::fasta_fingerprint(d)?,
        d.rank,
        d.source,
        d.target,
        d.length,
        d.stride,
        d.validation_fraction,
        d.test_fraction,
        d.split_seed,
        d.max_sequences,
        d.eval_windows,
    )
    // Written only when it is not the default, so keys of earlier runs stay valid.
        + &match d.ambiguity {
            crate::config::AmbiguityPolicy::DropWindow => String::new(),
            other => format!("ambiguity = {other:?}\n"),
        }
        + &match &d.anchor {
            None => String::new(),
            Some(anchor) => format!("anchor = {anchor:?}\nanchor_offset = {}\n", d.anchor_offset),
        })
}

/// The exact chains (for the samplers that use an oracle; Markov tasks only).
pub fn chains(c: &ExperimentConfig) -> Result<String> {
    let d = c
        .data
        .as_ref()
        .ok_or_else(|| ExperimentError::config("only a Markov task has exact chains"))?;
    Ok(format!(
        "[chains]\nstates = {}\nlength = {}\nsource = {}\ntarget = {}\n\
         extra_target_states = {}\nextra_target_mass = {:?}\n",
        d.states,
        d.length,
        d.source.key_text()?,
        d.target.key_text()?,
        d.extra_target_states,
        d.extra_target_mass
    ))
}

/// Every data set (source and target) with its seed.
pub fn data(c: &ExperimentConfig) -> Result<String> {
    match c.task() {
        Task::Markov(d) => Ok(format!(
            "{}{}[target-data]\ntarget_size = {}\n",
            source_data(c)?,
            chains(c)?,
            d.target_size
        )),
        Task::Text(t) => Ok(format!(
            "{}[target-text]\ntarget_fraction = {:?}\n",
            source_data(c)?,
            t.target_fraction
        )),
        Task::Dna(d) => Ok(format!(
            "{}[target-dna]\ntarget_size = {}\n",
            source_data(c)?,
            d.target_size
        )),
    }
}

/// The forward process.
pub fn process(c: &ExperimentConfig) -> Result<String> {
    section("process", &c.process)
}
