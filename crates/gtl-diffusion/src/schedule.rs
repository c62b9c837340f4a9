//! Noise schedules: the total noise `σ̄(t)` and its rate `σ(t) = dσ̄/dt` (MATH.md §1).

use serde::{Deserialize, Serialize};

use crate::DiffusionError;

/// A noise schedule on `t ∈ [0, 1]`, `t = 0` clean.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Schedule {
    /// `σ̄(t) = -log1p(-(1-ε) t)`: a token is corrupted with probability exactly `(1-ε) t`.
    LogLinear {
        /// Mass left uncorrupted at `t = 1`, in (0, 1).
        eps: f64,
    },
    /// `σ̄(t) = σmin^(1-t) σmax^t`.
    Geometric {
        /// Total noise at `t = 0`, > 0.
        sigma_min: f64,
        /// Total noise at `t = 1`, > `sigma_min`.
        sigma_max: f64,
    },
    /// Cosine (MDLM appendix): corruption probability `(1-ε)(1 - cos(π t / 2))`.
    Cosine {
        /// Mass left uncorrupted at `t = 1`, in (0, 1).
        eps: f64,
    },
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule::LogLinear { eps: 1e-3 }
    }
}

impl Schedule {
    /// The default geometric schedule (σmin = 1e-4, σmax = 20).
    pub fn geometric() -> Self {
        Schedule::Geometric {
            sigma_min: 1e-4,
            sigma_max: 20.0,
        }
    }

    /// Checks the parameters; the error names the offending key and the allowed range.
    pub fn validate(&self) -> Result<(), DiffusionError> {
        match *self {
            Schedule::LogLinear { eps } | Schedule::Cosine { eps } => {
                if !(eps > 0.0 && eps < 1.0) {
                    return Err(DiffusionError::config(format!(
                        "schedule.eps = {eps}: must be in (0, 1)"
                    )));
                }
            }
            Schedule::Geometric {
                sigma_min,
                sigma_max,
            } => {
                if !(sigma_min > 0.0 && sigma_min.is_finite()) {
                    return Err(DiffusionError::config(format!(
                        "schedule.sigma_min = {sigma_min}: must be a finite number > 0"
                    )));
                }
                if !(sigma_max > sigma_min && sigma_max.is_finite()) {
                    return Err(DiffusionError::config(format!(
                        "schedule.sigma_max = {sigma_max}: must be finite and > sigma_min = {sigma_min}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Total noise `σ̄(t)`.
    pub fn total_noise(&self, t: f64) -> f64 {
        match *self {
            Schedule::LogLinear { eps } => -(-(1.0 - eps) * t).ln_1p(),
            Schedule::Geometric {
                sigma_min,
                sigma_max,
            } => sigma_min.powf(1.0 - t) * sigma_max.powf(t),
            Schedule::Cosine { eps } => -(-(1.0 - eps) * cosine_progress(t)).ln_1p(),
        }
    }

    /// Noise rate `σ(t) = dσ̄/dt`.
    pub fn rate(&self, t: f64) -> f64 {
        match *self {
            Schedule::LogLinear { eps } => (1.0 - eps) / (1.0 - (1.0 - eps) * t),
            Schedule::Geometric {
                sigma_min,
                sigma_max,
            } => self.total_noise(t) * (sigma_max / sigma_min).ln(),
            Schedule::Cosine { eps } => {
                let dprogress =
                    std::f64::consts::FRAC_PI_2 * (std::f64::consts::FRAC_PI_2 * t).sin();
                (1.0 - eps) * dprogress / (1.0 - (1.0 - eps) * cosine_progress(t))
            }
        }
    }

    /// Smallest training time: `t ~ U[ε, 1]` (ε of the log-linear or cosine schedule, 1e-3 otherwise).
    pub fn min_training_time(&self) -> f64 {
        match *self {
            Schedule::LogLinear { eps } | Schedule::Cosine { eps } => eps,
            Schedule::Geometric { .. } => 1e-3,
        }
    }
}

fn cosine_progress(t: f64) -> f64 {
    1.0 - (std::f64::consts::FRAC_PI_2 * t).cos()
}

/// `n` training times in `[t_min, 1]`, antithetic (stratified with one shared offset) as in MDLM:
/// `t_i = t_min + (1 - t_min) · ((u + i/n) mod 1)`.
pub fn antithetic_times(n: usize, t_min: f64, u: f64) -> Vec<f64> {
    (0..n)
        .map(|i| t_min + (1.0 - t_min) * ((u + i as f64 / n as f64) % 1.0))
        .collect()
}

/// The sampling time grid `linspace(1, t_end, steps + 1)` (MATH.md §4).
pub fn time_grid(steps: usize, t_end: f64) -> Vec<f64> {
    (0..=steps)
        .map(|k| 1.0 + (t_end - 1.0) * k as f64 / steps as f64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Schedule> {
        vec![
            Schedule::default(),
            Schedule::geometric(),
            Schedule::Cosine { eps: 1e-3 },
        ]
    }

    #[test]
    fn rate_is_the_finite_difference_of_total_noise() {
        for schedule in all() {
            for &t in &[0.01, 0.2, 0.5, 0.8, 0.97] {
                let h = 1e-6;
                let fd = (schedule.total_noise(t + h) - schedule.total_noise(t - h)) / (2.0 * h);
                let rate = schedule.rate(t);
                assert!(
                    (fd - rate).abs() <= 1e-6 * rate.abs().max(1.0),
                    "{schedule:?} at t={t}: finite difference {fd} vs rate {rate}"
                );
            }
        }
    }

    #[test]
    fn log_linear_corrupts_with_probability_linear_in_t() {
        let schedule = Schedule::default();
        for &t in &[0.0, 0.3, 1.0] {
            let corrupted = -(-schedule.total_noise(t)).exp_m1();
            assert!((corrupted - (1.0 - 1e-3) * t).abs() < 1e-12);
        }
    }

    #[test]
    fn invalid_parameters_name_the_key() {
        let err = Schedule::LogLinear { eps: 1.5 }.validate().unwrap_err();
        assert!(err.to_string().contains("schedule.eps = 1.5"), "{err}");
        let err = Schedule::Geometric {
            sigma_min: 1.0,
            sigma_max: 0.5,
        }
        .validate()
        .unwrap_err();
        assert!(err.to_string().contains("schedule.sigma_max"), "{err}");
    }

    #[test]
    fn antithetic_times_cover_the_interval_evenly() {
        let times = antithetic_times(4, 0.1, 0.9);
        let mut sorted = times.clone();
        sorted.sort_by(f64::total_cmp);
        for w in sorted.windows(2) {
            assert!((w[1] - w[0] - 0.9 / 4.0).abs() < 1e-12);
        }
        assert!(times.iter().all(|&t| (0.1..=1.0).contains(&t)));
    }
}
