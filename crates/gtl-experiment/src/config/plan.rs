//! What an experiment runs (`[experiment]`) and the grid of a sweep (`[sweep]`).

use serde::{Deserialize, Serialize};

use super::sections::first_repeat;
use crate::method::Method;
use crate::{ExperimentError, Result};

/// What `run` compares.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ExperimentSection {
    /// Target data set sizes of a Markov task (each ≥ 2); `data.target_size` is ignored by
    /// the experiment.
    pub target_sizes: Vec<usize>,
    /// Target fractions of a text task (each in (0, 1]); `text.target_fraction` is ignored by
    /// the experiment.
    pub target_fractions: Vec<f64>,
    /// Methods compared, in report order.
    pub methods: Vec<Method>,
}

impl Default for ExperimentSection {
    fn default() -> Self {
        ExperimentSection {
            target_sizes: vec![20, 100, 1000],
            target_fractions: vec![1.0, 0.3, 0.05, 0.01],
            methods: Method::ALL.to_vec(),
        }
    }
}

/// The grid of a sweep: each axis is varied on its own around the base config (the other
/// keys at their base values); the target-size axis runs every method.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SweepSection {
    /// Target data set sizes, every method at each.
    pub target_sizes: Vec<usize>,
    /// Target diagonals (the target chain becomes `diagonal` with this value).
    pub target_diag: Vec<f64>,
    /// Mixture weights w: target = (1 - w)·source + w·target (w = 1 is the base target).
    pub mixture: Vec<f64>,
    /// Target-only state counts (with `extra_mass`).
    pub extra_states: Vec<usize>,
    /// Probability of moving into the target-only states, in (0, 1].
    pub extra_mass: f64,
    /// Guidance strengths γ of the GTL samplers (no retraining).
    pub gamma: Vec<f64>,
    /// Candidate counts n of scheduled GTL (no retraining).
    pub top_n: Vec<usize>,
    /// Methods of the overlap, γ and top-n axes.
    pub methods: Vec<Method>,
    /// Overlap fractions r of a text task (each in [0, 1)), each run at every
    /// `experiment.target_fractions` with every method.
    pub overlap: Vec<f64>,
    /// Seed offsets k: the whole experiment (every target setting, every method) again with
    /// every seed moved by 10·k (`ExperimentConfig::with_seed_offset`); the report gives
    /// each metric's mean and 95 % Student-t interval over them. Empty: no seed axis.
    pub seeds: Vec<u64>,
}

impl Default for SweepSection {
    fn default() -> Self {
        SweepSection {
            target_sizes: vec![20, 100, 1000, 5000],
            target_diag: vec![0.3, 0.5],
            mixture: vec![0.25, 0.5],
            extra_states: vec![1, 2],
            extra_mass: 0.3,
            gamma: vec![0.0, 1.0, 2.0, 3.0, 5.0],
            top_n: vec![1, 2, 3, 5],
            methods: vec![
                Method::Source,
                Method::FullFinetune,
                Method::Gtl,
                Method::GtlExactRatio,
                Method::GtlOracles,
            ],
            overlap: vec![0.0, 0.05, 0.25],
            seeds: Vec::new(),
        }
    }
}

/// Checks a method list: at least one, none twice.
pub fn check_methods(key: &str, methods: &[Method]) -> Result<()> {
    if methods.is_empty() {
        return Err(ExperimentError::config(format!(
            "{key} = []: name at least one of {:?}",
            Method::ALL.map(Method::name)
        )));
    }
    if let Some(method) = first_repeat(methods) {
        return Err(ExperimentError::config(format!(
            "{key}: \"{method}\" is listed twice"
        )));
    }
    Ok(())
}

impl SweepSection {
    /// The axes of a sweep, named as their keys.
    pub const AXES: [&'static str; 8] = [
        "target_sizes",
        "target_diag",
        "mixture",
        "extra_states",
        "overlap",
        "gamma",
        "top_n",
        "seeds",
    ];

    /// The section with only the named axes (keys of [`SweepSection::AXES`]) kept and every
    /// other axis emptied, e.g. `["seeds"]` for the experiment over seeds alone.
    pub fn only(&self, axes: &[String]) -> Result<SweepSection> {
        if let Some(unknown) = axes.iter().find(|a| !Self::AXES.contains(&a.as_str())) {
            return Err(ExperimentError::config(format!(
                "sweep axis \"{unknown}\" does not exist; the axes are {:?}",
                Self::AXES
            )));
        }
        fn keep<T>(axes: &[String], axis: &str, values: &mut Vec<T>) {
            if !axes.iter().any(|a| a == axis) {
                values.clear();
            }
        }
        let mut section = self.clone();
        keep(axes, "target_sizes", &mut section.target_sizes);
        keep(axes, "target_diag", &mut section.target_diag);
        keep(axes, "mixture", &mut section.mixture);
        keep(axes, "extra_states", &mut section.extra_states);
        keep(axes, "overlap", &mut section.overlap);
        keep(axes, "gamma", &mut section.gamma);
        keep(axes, "top_n", &mut section.top_n);
        keep(axes, "seeds", &mut section.seeds);
        Ok(section)
    }

    /// Range checks; `states` is N.
    pub fn validate(&self, states: usize) -> Result<()> {
        check_methods("sweep.methods", &self.methods)?;
        let fail = |message: String| Err(ExperimentError::Config(message));
        if let Some(v) = self.target_diag.iter().find(|v| !(0.0..=1.0).contains(*v)) {
            return fail(format!(
                "sweep.target_diag = {v}: every value must be in [0, 1]"
            ));
        }
        if let Some(v) = self.mixture.iter().find(|v| !(0.0..=1.0).contains(*v)) {
            return fail(format!(
                "sweep.mixture = {v}: every value must be in [0, 1]"
            ));
        }
        let mass_ok = self.extra_mass > 0.0 && self.extra_mass <= 1.0;
        if !self.extra_states.is_empty() && !mass_ok {
            return fail(format!(
                "sweep.extra_mass = {}: must be in (0, 1]",
                self.extra_mass
            ));
        }
        if let Some(v) = self.gamma.iter().find(|v| !(**v >= 0.0 && v.is_finite())) {
            return fail(format!(
                "sweep.gamma = {v}: every value must be a finite number ≥ 0"
            ));
        }
        if let Some(v) = self.overlap.iter().find(|v| !(0.0..1.0).contains(*v)) {
            return fail(format!(
                "sweep.overlap = {v}: every value must be in [0, 1)"
            ));
        }
        if self.seeds.len() == 1 {
            return fail(format!(
                "sweep.seeds = {:?}: give at least two seed offsets (an interval needs two runs) or none",
                self.seeds
            ));
        }
        if let Some(k) = first_repeat(&self.seeds) {
            return fail(format!("sweep.seeds: {k} is listed twice"));
        }
        if let Some(v) = self.top_n.iter().find(|v| **v > states) {
            return fail(format!(
                "sweep.top_n = {v}: every value must be in 0..={states} (0 = all N)"
            ));
        }
        Ok(())
    }
}
