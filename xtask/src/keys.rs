//! What each stage's artefacts depend on, as text: two configs give the same key exactly when
//! a stage trained under one is valid for the other. Keys name stage folders in the
//! experiment cache (a hash of the key) and guard `cargo xtask train` against artefacts of
//! other settings; the source-side keys leave out the target, so sweeps over the target
//! share the source denoiser and planner.

use anyhow::Result;
use serde::Serialize;

use crate::config::{ChainSpec, ExperimentConfig};

/// The parts of `[data]` the source data depends on.
#[derive(Serialize)]
struct SourceData<'a> {
    seed: u64,
    states: usize,
    extra_target_states: usize,
    length: usize,
    source: &'a ChainSpec,
    source_size: usize,
    validation_fraction: f64,
    test_size: usize,
}

/// The parts of `[data]` the chains depend on (the exact oracles).
#[derive(Serialize)]
struct Chains<'a> {
    states: usize,
    length: usize,
    source: &'a ChainSpec,
    target: &'a ChainSpec,
    extra_target_states: usize,
    extra_target_mass: f64,
}

fn section<T: Serialize>(name: &str, value: &T) -> Result<String> {
    Ok(format!("[{name}]\n{}", toml::to_string(value)?))
}

/// The source denoiser: source data, process, denoiser.
pub fn denoiser(c: &ExperimentConfig) -> Result<String> {
    let d = &c.data;
    let source = SourceData {
        seed: c.seed,
        states: d.states,
        extra_target_states: d.extra_target_states,
        length: d.length,
        source: &d.source,
        source_size: d.source_size,
        validation_fraction: d.validation_fraction,
        test_size: d.test_size,
    };
    Ok([
        section("source-data", &source)?,
        section("process", &c.process)?,
        section("denoiser", &c.denoiser)?,
    ]
    .join("\n"))
}

/// The planner: the source denoiser and the planner section.
pub fn planner(c: &ExperimentConfig) -> Result<String> {
    Ok(format!(
        "{}\n{}",
        denoiser(c)?,
        section("planner", &c.planner)?
    ))
}

/// The exact chains, for the samplers that use an oracle.
pub fn chains(c: &ExperimentConfig) -> Result<String> {
    let d = &c.data;
    section(
        "chains",
        &Chains {
            states: d.states,
            length: d.length,
            source: &d.source,
            target: &d.target,
            extra_target_states: d.extra_target_states,
            extra_target_mass: d.extra_target_mass,
        },
    )
}

/// Every data set (source and target) with its seed.
pub fn data(c: &ExperimentConfig) -> Result<String> {
    Ok(format!("seed = {}\n{}", c.seed, section("data", &c.data)?))
}

/// The domain classifiers: the data, the process and the classifier section; `clean` says
/// whether the clean classifier was trained too.
pub fn classifier(c: &ExperimentConfig, clean: bool) -> Result<String> {
    Ok([
        data(c)?,
        section("process", &c.process)?,
        section("classifier", &c.classifier)?,
        format!("clean = {clean}"),
    ]
    .join("\n"))
}

/// The ratio stage: its classifiers and the ratio section.
pub fn ratio(c: &ExperimentConfig, clean: bool) -> Result<String> {
    Ok(format!(
        "{}\n{}",
        classifier(c, clean)?,
        section("ratio", &c.ratio)?
    ))
}

/// The fit of γ: the source denoiser, the ratio stage and the fit's keys of `[guidance]`;
/// with the "samples" criterion also gtl's sampler (its order, the planner, top-n).
pub fn gamma_fit(c: &ExperimentConfig, clean: bool) -> Result<String> {
    let g = &c.guidance;
    let mut key = format!(
        "{}\n{}\n[fit]\ngrid = {:?}\nrows = {}\nseed = {}\nchunk_rows = {}\nbins = {}\n\
         criterion = {:?}",
        denoiser(c)?,
        ratio(c, clean)?,
        g.gamma_grid,
        g.fit_rows,
        g.seed,
        g.chunk_rows,
        g.fit_bins,
        g.fit_criterion
    );
    if g.fit_criterion == "samples" {
        key.push_str(&format!(
            "\nsamples = {}\nngram_order = {}\norder = {:?}\ntop_n = {}\nbatch_size = {}",
            g.fit_samples, g.fit_order, g.order, g.top_n, g.batch_size
        ));
        if g.order == "planner" {
            key.push_str(&planner(c)?);
        }
    }
    Ok(key)
}

/// A fine-tuning baseline named `method`: the data, the denoiser (its training only when the
/// method starts from the source checkpoint) and the finetune section.
pub fn baseline(c: &ExperimentConfig, method: &str, from_source: bool) -> Result<String> {
    let start = if from_source {
        denoiser(c)?
    } else {
        format!(
            "{}\n[denoiser-architecture]\n{}\nloss = {:?}",
            section("process", &c.process)?,
            toml::to_string(&c.denoiser.model)?,
            c.denoiser.loss.name()
        )
    };
    Ok([
        data(c)?,
        start,
        section("finetune", &c.finetune)?,
        format!("method = {method:?}"),
    ]
    .join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: &str = include_str!("../../configs/markov-default.toml");

    /// The source side ignores the target; the target side does not.
    #[test]
    fn source_keys_ignore_the_target_and_target_keys_do_not() {
        let a = ExperimentConfig::parse(DEFAULT).unwrap();
        let mut b = a.clone();
        b.data.target_size = 20;
        b.data.target = ChainSpec::Diagonal { diag: 0.5 };
        assert_eq!(denoiser(&a).unwrap(), denoiser(&b).unwrap());
        assert_eq!(planner(&a).unwrap(), planner(&b).unwrap());
        assert_ne!(
            classifier(&a, false).unwrap(),
            classifier(&b, false).unwrap()
        );
        assert_ne!(chains(&a).unwrap(), chains(&b).unwrap());
        assert_ne!(
            classifier(&a, false).unwrap(),
            classifier(&a, true).unwrap()
        );
        let mut c = a.clone();
        c.denoiser.training.steps += 1;
        assert_ne!(denoiser(&a).unwrap(), denoiser(&c).unwrap());
        assert_eq!(
            baseline(&a, "target-only", false).unwrap(),
            baseline(&c, "target-only", false).unwrap()
        );
        assert_ne!(
            baseline(&a, "full-finetune", true).unwrap(),
            baseline(&c, "full-finetune", true).unwrap()
        );
        let mut d = a.clone();
        d.data.extra_target_states = 1;
        assert_ne!(denoiser(&a).unwrap(), denoiser(&d).unwrap());
    }
}
