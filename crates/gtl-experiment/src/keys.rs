//! The parts of a config each stage's own key is built from (the graph adds the keys of its
//! inputs and the format version). Two configs give the same key exactly when a stage run
//! under one is valid for the other; the source-side parts leave out the target, so settings
//! that vary the target share the source denoiser and planner. Chain files enter by their
//! contents.

use serde::Serialize;

use crate::Result;
use crate::config::ExperimentConfig;
use crate::error::to_toml;

/// `[name]` and the TOML of `value`.
pub fn section<T: Serialize>(name: &str, value: &T) -> Result<String> {
    Ok(format!("[{name}]\n{}", to_toml(value, name)?))
}

/// The source data: seed, chains' sizes and the source chain.
pub fn source_data(c: &ExperimentConfig) -> Result<String> {
    let d = &c.data;
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

/// The exact chains (for the samplers that use an oracle).
pub fn chains(c: &ExperimentConfig) -> Result<String> {
    let d = &c.data;
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
    Ok(format!(
        "{}{}[target-data]\ntarget_size = {}\n",
        source_data(c)?,
        chains(c)?,
        c.data.target_size
    ))
}

/// The forward process.
pub fn process(c: &ExperimentConfig) -> Result<String> {
    section("process", &c.process)
}
