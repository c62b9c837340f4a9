//! The guidance strength γ over sampling progress (0 at the start, 1 at the end).

use serde::{Deserialize, Serialize};

use crate::GuidanceError;

/// γ as a function of sampling progress `p ∈ [0, 1]` (the share of steps done).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum GammaSchedule {
    /// The same γ at every step.
    Constant(f64),
    /// Linear interpolation through `(progress, γ)` knots sorted by progress, held constant
    /// before the first and after the last.
    PiecewiseLinear(Vec<(f64, f64)>),
}

impl Default for GammaSchedule {
    fn default() -> Self {
        GammaSchedule::Constant(1.0)
    }
}

impl GammaSchedule {
    /// γ at `progress`.
    pub fn at(&self, progress: f64) -> f64 {
        match self {
            GammaSchedule::Constant(gamma) => *gamma,
            GammaSchedule::PiecewiseLinear(knots) => {
                let (first, last) = (knots[0], knots[knots.len() - 1]);
                if progress <= first.0 {
                    return first.1;
                }
                if progress >= last.0 {
                    return last.1;
                }
                let i = knots.partition_point(|k| k.0 <= progress);
                let ((p0, g0), (p1, g1)) = (knots[i - 1], knots[i]);
                g0 + (g1 - g0) * (progress - p0) / (p1 - p0)
            }
        }
    }

    /// Checks the schedule; errors name `key`.
    pub fn validate(&self, key: &str) -> Result<(), GuidanceError> {
        let bad = |why: String| Err(GuidanceError::Config(format!("{key}: {why}")));
        match self {
            GammaSchedule::Constant(gamma) if !gamma.is_finite() || *gamma < 0.0 => {
                bad(format!("γ = {gamma} must be finite and ≥ 0"))
            }
            GammaSchedule::Constant(_) => Ok(()),
            GammaSchedule::PiecewiseLinear(knots) => {
                if knots.is_empty() {
                    return bad("needs at least one (progress, γ) knot".into());
                }
                for &(p, g) in knots {
                    if !(0.0..=1.0).contains(&p) || !g.is_finite() || g < 0.0 {
                        return bad(format!(
                            "knot ({p}, {g}): progress must be in [0, 1] and γ finite and ≥ 0"
                        ));
                    }
                }
                if knots.windows(2).any(|w| w[1].0 <= w[0].0) {
                    return bad("knots must have strictly increasing progress".into());
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn piecewise_linear_interpolates_and_clamps() {
        let schedule = GammaSchedule::PiecewiseLinear(vec![(0.2, 0.0), (0.6, 2.0), (1.0, 1.0)]);
        schedule.validate("gamma").unwrap();
        for (p, expected) in [
            (0.0, 0.0),
            (0.2, 0.0),
            (0.4, 1.0),
            (0.6, 2.0),
            (0.8, 1.5),
            (1.0, 1.0),
        ] {
            assert!((schedule.at(p) - expected).abs() < 1e-12, "{p}");
        }
        assert_eq!(GammaSchedule::Constant(3.0).at(0.7), 3.0);
    }

    #[test]
    fn invalid_schedules_are_refused_with_the_key() {
        for schedule in [
            GammaSchedule::Constant(-1.0),
            GammaSchedule::Constant(f64::NAN),
            GammaSchedule::PiecewiseLinear(vec![]),
            GammaSchedule::PiecewiseLinear(vec![(0.5, 1.0), (0.5, 2.0)]),
            GammaSchedule::PiecewiseLinear(vec![(1.5, 1.0)]),
        ] {
            let err = schedule.validate("guidance.gamma").unwrap_err().to_string();
            assert!(err.starts_with("guidance.gamma"), "{err}");
        }
    }
}
