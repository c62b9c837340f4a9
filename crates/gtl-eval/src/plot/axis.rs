//! Axes: scales, the map from values to pixels, the choice of ticks and their labels, and
//! thinning labels that would overlap. Pure arithmetic, tested without drawing.

use super::Fault;

/// Most distinct x values that get a tick each; with more, ticks are round numbers.
pub(crate) const MAX_MEASURED_TICKS: usize = 12;

/// Scale of a plot axis.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Scale {
    /// Evenly spaced values.
    #[default]
    Linear,
    /// Evenly spaced powers of ten; every value on the axis must be positive.
    Log,
}

impl Scale {
    /// `v` in the space where the axis is linear.
    pub(crate) fn forward(self, v: f64) -> f64 {
        match self {
            Scale::Linear => v,
            Scale::Log => v.log10(),
        }
    }

    /// Inverse of [`Scale::forward`].
    pub(crate) fn inverse(self, u: f64) -> f64 {
        match self {
            Scale::Linear => u,
            Scale::Log => 10f64.powf(u),
        }
    }

    /// `Err(NotPositive)` if this is a log scale and `value` is not positive.
    pub(crate) fn check(
        self,
        axis: char,
        value: f64,
        what: impl FnOnce() -> String,
    ) -> Result<(), Fault> {
        if self == Scale::Log && value <= 0.0 {
            return Err(Fault::NotPositive {
                axis,
                what: what(),
                value,
            });
        }
        Ok(())
    }
}

/// An axis mapping values in `[lo, hi]` (data units) linearly in scale space onto the pixel
/// span `[px_lo, px_hi]` (which may run backwards, as y does).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Axis {
    pub scale: Scale,
    pub lo: f64,
    pub hi: f64,
    pub px_lo: f64,
    pub px_hi: f64,
}

impl Axis {
    /// The pixel coordinate of `v`.
    pub(crate) fn px(&self, v: f64) -> f64 {
        let (a, b) = (self.scale.forward(self.lo), self.scale.forward(self.hi));
        self.px_lo + (self.scale.forward(v) - a) / (b - a) * (self.px_hi - self.px_lo)
    }
}

/// The range `[lo, hi]` covering `values` (all finite, and positive on a log scale), widened
/// by `pad` of its span on each side in scale space; a single value gets half a decade (log)
/// or a tenth of itself (linear, or ±1 around zero) on each side.
pub(crate) fn padded_range(
    values: impl IntoIterator<Item = f64>,
    scale: Scale,
    pad: f64,
) -> (f64, f64) {
    let (lo, hi) = values
        .into_iter()
        .map(|v| scale.forward(v))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return (scale.inverse(0.0), scale.inverse(1.0));
    }
    let pad = if hi > lo {
        pad * (hi - lo)
    } else if scale == Scale::Log {
        0.5
    } else if lo == 0.0 {
        1.0
    } else {
        0.1 * lo.abs()
    };
    (scale.inverse(lo - pad), scale.inverse(hi + pad))
}

/// The distinct values of `values` in increasing order (equal within 1e-9 relative), if
/// there are at most [`MAX_MEASURED_TICKS`] of them: the ticks of an axis whose values were
/// chosen by the experiment (target sizes 20, 100, 1000) rather than measured on a continuum.
pub(crate) fn measured_ticks(values: impl IntoIterator<Item = f64>) -> Option<Vec<f64>> {
    let mut v: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    v.dedup_by(|a, b| (*a - *b).abs() <= 1e-9 * a.abs().max(b.abs()));
    (!v.is_empty() && v.len() <= MAX_MEASURED_TICKS).then_some(v)
}

/// Round ticks in `[lo, hi]`, about `target` of them: multiples of 1, 2 or 5 × 10^k on a
/// linear scale; on a log scale powers of ten (every few decades over a wide range), with
/// 2 and 5 times them over two decades or less, and all nine multiples within one decade.
pub(crate) fn nice_ticks(lo: f64, hi: f64, scale: Scale, target: usize) -> Vec<f64> {
    let target = target.max(2);
    if scale == Scale::Linear || lo <= 0.0 {
        return linear_ticks(lo, hi, target);
    }
    let (a, b) = (lo.log10(), hi.log10());
    let (first, last) = (a.ceil() as i32, b.floor() as i32);
    let decades = (last - first + 1).max(0) as usize;
    if decades >= 3 {
        let stride = decades.div_ceil(target).max(1);
        return (first..=last)
            .step_by(stride)
            .map(|k| decimal(1, k))
            .collect();
    }
    let within = |v: &f64| *v >= lo * (1.0 - 1e-12) && *v <= hi * (1.0 + 1e-12);
    let multiples = |ms: &[i64]| -> Vec<f64> {
        (a.floor() as i32..=b.ceil() as i32)
            .flat_map(|k| ms.iter().map(move |&m| decimal(m, k)))
            .filter(within)
            .collect()
    };
    let ticks = multiples(&[1, 2, 5]);
    if ticks.len() >= 3 {
        return ticks;
    }
    let ticks = multiples(&[1, 2, 3, 4, 5, 6, 7, 8, 9]);
    if ticks.len() >= 3 {
        return ticks;
    }
    linear_ticks(lo, hi, target)
}

/// Multiples of a round step (1, 2 or 5 × 10^k) in `[lo, hi]`, about `target` of them.
fn linear_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        return vec![lo];
    }
    let (m, k) = round_step((hi - lo) / target as f64);
    let step = decimal(m, k);
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last).map(|i| decimal(i * m, k)).collect()
}

/// The smallest step `m × 10^k` with `m` in {1, 2, 5} that is at least two thirds of `raw`
/// (so the count of ticks lands within a factor 1.5 of the one asked for).
fn round_step(raw: f64) -> (i64, i32) {
    let k = raw.log10().floor() as i32;
    [(1, k), (2, k), (5, k)]
        .into_iter()
        .find(|&(m, k)| decimal(m, k) >= raw / 1.5 * (1.0 - 1e-9))
        .unwrap_or((1, k + 1))
}

/// `m × 10^k`, the double nearest the decimal (so 3 × 10^-1 is 0.3, not 0.30000000000000004).
fn decimal(m: i64, k: i32) -> f64 {
    format!("{m}e{k}").parse().unwrap_or(f64::NAN)
}

/// Labels for `ticks`: one shared number of decimals, the fewest that write every tick
/// exactly, when the ticks are evenly spaced on a linear scale (0.70, 0.75, 0.80 or 0.05,
/// 0.15, 0.25); otherwise each value at up to four significant digits. Very large or small
/// magnitudes are written in scientific notation (1e-5, 2.5e6).
pub(crate) fn tick_labels(ticks: &[f64], scale: Scale) -> Vec<String> {
    let even = scale == Scale::Linear
        && ticks.len() >= 2
        && ticks.windows(2).all(|w| {
            let step = ticks[1] - ticks[0];
            ((w[1] - w[0]) - step).abs() <= 1e-9 * step.abs()
        });
    let tiny_or_huge = |v: f64| v != 0.0 && !(1e-3..1e6).contains(&v.abs());
    if even && !ticks.iter().any(|&v| tiny_or_huge(v)) {
        let step = (ticks[1] - ticks[0]).abs();
        let exact = |d: usize| {
            ticks.iter().all(|&v| {
                let written: f64 = fixed(v, d).parse().unwrap_or(f64::NAN);
                (written - v).abs() <= 1e-6 * step
            })
        };
        if let Some(decimals) = (0..=6).find(|&d| exact(d)) {
            return ticks.iter().map(|&v| fixed(v, decimals)).collect();
        }
    }
    ticks.iter().map(|&v| format_value(v)).collect()
}

/// `v` with `decimals` decimals, never "-0".
fn fixed(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    if s.trim_start_matches('-')
        .chars()
        .all(|c| c == '0' || c == '.')
    {
        s.trim_start_matches('-').to_string()
    } else {
        s
    }
}

/// `v` at up to four significant digits, trailing zeros dropped; scientific notation below
/// 1e-3 and from 1e6 on.
pub(crate) fn format_value(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return if v == 0.0 { "0".into() } else { v.to_string() };
    }
    if !(1e-3..1e6).contains(&v.abs()) {
        let s = format!("{v:.3e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
        return format!("{mantissa}e{exp}");
    }
    let decimals = (3 - v.abs().log10().floor() as i32).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Which labels to keep so that none overlap: `spans` are the labels' `(start, end)` pixel
/// extents along the axis in tick order, `gap` the least room between neighbours. Walks
/// from the first label and keeps each one that clears the last kept one; if the last label
/// is dropped, it replaces the kept label before it when that makes room (both ends of the
/// axis stay labelled).
pub(crate) fn thin_labels(spans: &[(f64, f64)], gap: f64) -> Vec<bool> {
    let mut keep = vec![false; spans.len()];
    let mut kept: Vec<usize> = Vec::new();
    for (i, &(start, _)) in spans.iter().enumerate() {
        if kept.last().is_none_or(|&j| start >= spans[j].1 + gap) {
            kept.push(i);
        }
    }
    let n = spans.len();
    if n >= 2 && kept.last() != Some(&(n - 1)) && kept.len() >= 2 {
        let before = kept[kept.len() - 2];
        if spans[n - 1].0 >= spans[before].1 + gap {
            kept.pop();
            kept.push(n - 1);
        }
    }
    for i in kept {
        keep[i] = true;
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plot_ticks_at_measured_values() {
        assert_eq!(
            measured_ticks([20.0, 100.0, 1000.0, 100.0, 20.0 + 1e-12]),
            Some(vec![20.0, 100.0, 1000.0])
        );
        assert_eq!(
            measured_ticks([1000.0, 20.0, f64::NAN, 100.0]),
            Some(vec![20.0, 100.0, 1000.0])
        );
        let many: Vec<f64> = (1..=13).map(f64::from).collect();
        assert_eq!(measured_ticks(many.iter().copied()), None);
        assert_eq!(
            measured_ticks(many[..12].iter().copied()).map(|t| t.len()),
            Some(12)
        );
        assert_eq!(measured_ticks([]), None);
        assert_eq!(
            tick_labels(&[20.0, 100.0, 1000.0], Scale::Log),
            ["20", "100", "1000"]
        );
    }

    #[test]
    fn plot_nice_ticks() {
        assert_eq!(linear_ticks(0.0, 1.0, 5), [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(linear_ticks(0.13, 0.87, 4), [0.2, 0.4, 0.6, 0.8]);
        assert_eq!(linear_ticks(-3.0, 12.0, 3), [0.0, 5.0, 10.0]);
        let t = linear_ticks(0.1, 0.3, 4);
        assert_eq!(
            tick_labels(&t, Scale::Linear),
            ["0.10", "0.15", "0.20", "0.25", "0.30"]
        );
        assert_eq!(
            tick_labels(&[-5.0, 0.0, 5.0], Scale::Linear),
            ["-5", "0", "5"]
        );
        // Bin centres: as many decimals as the values need, shared.
        let centres: Vec<f64> = (0..4).map(|b| 0.05 + 0.1 * f64::from(b)).collect();
        assert_eq!(
            tick_labels(&centres, Scale::Linear),
            ["0.05", "0.15", "0.25", "0.35"]
        );
        assert_eq!(
            tick_labels(&[0.5, 1.0, 1.5], Scale::Linear),
            ["0.5", "1.0", "1.5"]
        );
        // Wide log ranges: powers of ten, every other decade when there are many.
        assert_eq!(
            nice_ticks(0.5, 2e3, Scale::Log, 8),
            [1.0, 10.0, 100.0, 1000.0]
        );
        assert_eq!(
            nice_ticks(1e-6, 2.0, Scale::Log, 4),
            [1e-6, 1e-4, 1e-2, 1.0]
        );
        // Two decades or less: 1, 2, 5 times powers of ten.
        assert_eq!(
            nice_ticks(15.0, 1200.0, Scale::Log, 6),
            [20.0, 50.0, 100.0, 200.0, 500.0, 1000.0]
        );
        // Within a decade: all nine multiples that fall in the range.
        assert_eq!(
            nice_ticks(0.25, 0.85, Scale::Log, 6),
            [0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
        );
        assert_eq!(
            tick_labels(&[1e-6, 1e-4, 1e-2, 1.0], Scale::Log),
            ["1e-6", "1e-4", "0.01", "1"]
        );
        // Narrower still: linear steps.
        assert_eq!(
            nice_ticks(0.81, 0.84, Scale::Log, 3),
            [0.81, 0.82, 0.83, 0.84]
        );
    }

    #[test]
    fn plot_value_format() {
        assert_eq!(format_value(0.0), "0");
        assert_eq!(format_value(0.25), "0.25");
        assert_eq!(format_value(1.0 / 3.0), "0.3333");
        assert_eq!(format_value(1234.5678), "1235");
        assert_eq!(format_value(-0.05), "-0.05");
        assert_eq!(format_value(1e-5), "1e-5");
        assert_eq!(format_value(2.5e6), "2.5e6");
    }

    #[test]
    fn plot_axis_maps_and_pads() {
        let x = Axis {
            scale: Scale::Log,
            lo: 10.0,
            hi: 1000.0,
            px_lo: 100.0,
            px_hi: 300.0,
        };
        assert!((x.px(100.0) - 200.0).abs() < 1e-9);
        let y = Axis {
            scale: Scale::Linear,
            lo: 0.0,
            hi: 1.0,
            px_lo: 500.0,
            px_hi: 100.0,
        };
        assert!((y.px(0.25) - 400.0).abs() < 1e-9);
        let (lo, hi) = padded_range([1.0, 3.0], Scale::Linear, 0.05);
        assert!((lo - 0.9).abs() < 1e-12 && (hi - 3.1).abs() < 1e-12);
        let (lo, hi) = padded_range([10.0, 1000.0], Scale::Log, 0.05);
        assert!((lo - 10f64.powf(0.9)).abs() < 1e-9 && (hi - 10f64.powf(3.1)).abs() < 1e-6);
        assert_eq!(padded_range([0.0], Scale::Linear, 0.05), (-1.0, 1.0));
        let (lo, hi) = padded_range([100.0], Scale::Log, 0.05);
        assert!((lo - 10f64.powf(1.5)).abs() < 1e-9 && (hi - 10f64.powf(2.5)).abs() < 1e-9);
        assert!(
            Scale::Log
                .check('y', 0.0, || "series 'a' y".into())
                .is_err()
        );
        assert!(Scale::Linear.check('y', -1.0, String::new).is_ok());
    }

    #[test]
    fn plot_thin_labels() {
        // Fits: all kept.
        assert_eq!(
            thin_labels(&[(0.0, 10.0), (20.0, 30.0), (40.0, 50.0)], 4.0),
            [true; 3]
        );
        // 500 and 1000 crowd each other: the end of the axis keeps its label.
        let spans = [(0.0, 20.0), (100.0, 120.0), (180.0, 200.0), (203.0, 230.0)];
        assert_eq!(thin_labels(&spans, 6.0), [true, true, false, true]);
        // Evenly crowded labels: every other one.
        let spans: Vec<(f64, f64)> = (0..7)
            .map(|i| (f64::from(i) * 10.0, f64::from(i) * 10.0 + 12.0))
            .collect();
        assert_eq!(
            thin_labels(&spans, 2.0),
            [true, false, true, false, true, false, true]
        );
        // Every kept pair clears the gap.
        let spans: Vec<(f64, f64)> = (0..40)
            .map(|i| (f64::from(i) * 7.0, f64::from(i) * 7.0 + 15.0))
            .collect();
        let keep = thin_labels(&spans, 3.0);
        let kept: Vec<&(f64, f64)> = spans
            .iter()
            .zip(&keep)
            .filter(|p| *p.1)
            .map(|p| p.0)
            .collect();
        assert!(kept.windows(2).all(|w| w[1].0 >= w[0].1 + 3.0));
        assert!(keep[0] && keep[39]);
        assert!(thin_labels(&[], 3.0).is_empty());
    }
}
