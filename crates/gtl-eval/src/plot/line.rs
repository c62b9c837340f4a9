//! Line plots: one line per series with point markers, optional confidence intervals (error
//! bars or shaded bands) and labelled horizontal reference lines.

use std::path::Path;

use plotters::prelude::{Color, Polygon, RGBColor};

use super::axis::{self, Axis, Scale};
use super::frame::{self, Chart, LegendEntry, Rect, Swatch, TICK_SIZE};
use super::style;
use super::{Canvas, Fault, PlotError, ensure, font};

/// Marker radius, error bar cap half-width and line width, in pixels.
const MARKER_R: f64 = 5.0;
const CAP: f64 = 4.0;
const LINE_WIDTH: f64 = 2.0;
/// Most markers a series gets one per point; longer series get fewer.
const MAX_MARKERS: usize = 40;
/// Most sideways offset between neighbouring series at a shared x, in pixels.
const DODGE_STEP: f64 = 8.0;

/// One named line of a [`LinePlot`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    /// Name shown in the legend (and in error messages).
    pub name: String,
    /// `(x, y)` points in drawing order; a point with a NaN or infinite coordinate is
    /// skipped and breaks the line.
    pub points: Vec<(f64, f64)>,
    /// A `(low, high)` interval per point (e.g. a 95 % confidence interval over seeds),
    /// drawn as [`LinePlot::intervals`] says; a non-finite bound draws no interval there.
    /// When given, it has one entry per point.
    pub intervals: Option<Vec<(f64, f64)>>,
}

impl Series {
    /// A series without intervals.
    pub fn new(name: impl Into<String>, points: impl IntoIterator<Item = (f64, f64)>) -> Self {
        Series {
            name: name.into(),
            points: points.into_iter().collect(),
            intervals: None,
        }
    }

    /// The series with a `(low, high)` interval per point.
    #[must_use]
    pub fn with_intervals(self, intervals: impl IntoIterator<Item = (f64, f64)>) -> Self {
        Series {
            intervals: Some(intervals.into_iter().collect()),
            ..self
        }
    }
}

/// A labelled horizontal line across a plot, e.g. the target's true value.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceLine {
    /// Text of its legend entry, e.g. `"target 0.8"`.
    pub label: String,
    /// Where it crosses the vertical axis.
    pub y: f64,
}

impl ReferenceLine {
    /// A reference line at `y` labelled `label`.
    pub fn new(label: impl Into<String>, y: f64) -> Self {
        ReferenceLine {
            label: label.into(),
            y,
        }
    }
}

/// How a [`LinePlot`] draws the intervals of its series.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum IntervalStyle {
    /// A vertical bar with caps at each point.
    #[default]
    Bars,
    /// A translucent band in the series' colour between the intervals of consecutive points.
    Band,
}

/// A line plot: one colour, marker shape and dash pattern per series, a legend in a column
/// right of the plotting area, and optional intervals and reference lines.
///
/// When the series share at most 12 distinct x values (settings chosen by the experiment,
/// such as target sizes 20, 100, 1000), the x axis has a tick exactly at each of them and,
/// with [`LinePlot::dodge`], each series is shifted sideways by a few pixels (the `i`-th
/// drawn series of `k` by `(i - (k - 1) / 2) × step`, `step` ≤ 8 px) so that series with
/// equal values, and their intervals, stay visible side by side. With more x values the
/// ticks are round numbers. Tick labels that would overlap are thinned out.
///
/// Solid lines are drawn first and dashed or dotted ones over them, so a coincident line
/// shows through the gaps; reference lines go over the lines and under the markers, and
/// crosses and pluses over the filled markers. A
/// series of more than 40 points gets a marker on about every twentieth point only.
#[derive(Debug, Clone)]
pub struct LinePlot<'a> {
    /// Title drawn above the plot.
    pub title: &'a str,
    /// Label of the horizontal axis.
    pub x_label: &'a str,
    /// Label of the vertical axis.
    pub y_label: &'a str,
    /// Scale of the horizontal axis.
    pub x_scale: Scale,
    /// Scale of the vertical axis.
    pub y_scale: Scale,
    /// The lines to draw; the axes cover all their finite points and intervals.
    pub series: &'a [Series],
    /// Horizontal reference lines, dashed, listed in the legend after the series.
    pub references: &'a [ReferenceLine],
    /// How intervals are drawn.
    pub intervals: IntervalStyle,
    /// Shift series sideways at shared x values (see [`LinePlot`]).
    pub dodge: bool,
    /// Image size in pixels (width, height).
    pub size: (u32, u32),
}

impl Default for LinePlot<'_> {
    fn default() -> Self {
        LinePlot {
            title: "",
            x_label: "",
            y_label: "",
            x_scale: Scale::Linear,
            y_scale: Scale::Linear,
            series: &[],
            references: &[],
            intervals: IntervalStyle::Bars,
            dodge: true,
            size: LinePlot::SIZE,
        }
    }
}

/// A point of a series after checking: `None` where a coordinate is not finite.
type Point = Option<(f64, f64, Option<(f64, f64)>)>;

impl LinePlot<'_> {
    /// The default image size, (960, 600) pixels.
    pub const SIZE: (u32, u32) = (960, 600);

    /// Draws the plot as a PNG of [`LinePlot::size`] at `path`, creating parent directories
    /// and replacing any existing file atomically.
    ///
    /// Fails if no series has a finite point, if a series has intervals but not one per
    /// point, or if an axis is [`Scale::Log`] and a point, interval bound or reference line
    /// on it is not positive ([`PlotError::NotPositive`]).
    pub fn write_png(&self, path: &Path) -> Result<(), PlotError> {
        let points = self.checked().map_err(|f| f.at(path))?;
        super::write_png(path, self.size, |canvas| self.draw(canvas, &points))
    }

    /// Every series' points with non-finite ones as `None`, after checking lengths and log
    /// axes and that something is left to draw.
    fn checked(&self) -> Result<Vec<Vec<Point>>, Fault> {
        let mut out = Vec::with_capacity(self.series.len());
        for s in self.series {
            if let Some(iv) = &s.intervals {
                ensure(iv.len() == s.points.len(), || {
                    format!(
                        "series '{}' has {} points but {} intervals",
                        s.name,
                        s.points.len(),
                        iv.len()
                    )
                })?;
            }
            let mut points = Vec::with_capacity(s.points.len());
            for (i, &(x, y)) in s.points.iter().enumerate() {
                if !(x.is_finite() && y.is_finite()) {
                    points.push(None);
                    continue;
                }
                self.x_scale
                    .check('x', x, || format!("series '{}' x", s.name))?;
                self.y_scale
                    .check('y', y, || format!("series '{}' y", s.name))?;
                let interval = s.intervals.as_ref().map(|iv| iv[i]);
                let interval = match interval {
                    Some((lo, hi)) if lo.is_finite() && hi.is_finite() => {
                        for (v, end) in [(lo, "low"), (hi, "high")] {
                            self.y_scale.check('y', v, || {
                                format!("series '{}' interval {end} at x = {x}", s.name)
                            })?;
                        }
                        Some((lo.min(hi), lo.max(hi)))
                    }
                    _ => None,
                };
                points.push(Some((x, y, interval)));
            }
            out.push(points);
        }
        ensure(out.iter().flatten().any(Option::is_some), || {
            format!(
                "nothing to draw: no series has a finite point ({} series given)",
                self.series.len()
            )
        })?;
        for r in self.references {
            ensure(r.y.is_finite(), || {
                format!("reference line '{}' is at y = {}", r.label, r.y)
            })?;
            self.y_scale
                .check('y', r.y, || format!("reference line '{}' y", r.label))?;
        }
        Ok(out)
    }

    /// Draws everything onto `canvas`.
    fn draw(&self, canvas: &Canvas<'_>, points: &[Vec<Point>]) -> Result<(), Fault> {
        let drawn: Vec<usize> = (0..points.len())
            .filter(|&i| points[i].iter().any(Option::is_some))
            .collect();
        let legend = drawn
            .iter()
            .map(|&i| {
                let (colour, marker, dash) = style::series_style(i);
                LegendEntry {
                    label: self.series[i].name.clone(),
                    swatch: Swatch::Line {
                        colour,
                        marker,
                        dash,
                    },
                }
            })
            .chain(frame::reference_entries(self.references))
            .collect();
        let chart = Chart {
            size: self.size,
            title: self.title,
            x_label: self.x_label,
            y_label: self.y_label,
            legend,
        };
        let finite = || points.iter().flatten().flatten();
        let ys = finite()
            .flat_map(|&(_, y, iv)| [Some(y), iv.map(|i| i.0), iv.map(|i| i.1)])
            .flatten()
            .chain(self.references.iter().map(|r| r.y));
        let y_range = axis::padded_range(ys, self.y_scale, 0.05);
        let layout = chart.layout(self.y_scale, y_range, frame::x_band(&[], false));
        let xs: Vec<f64> = finite().map(|p| p.0).collect();
        let measured = axis::measured_ticks(xs.iter().copied());
        let (x, offsets) = self.x_axis(&xs, measured.as_deref(), layout.plot, &drawn);
        let tick_values = measured.unwrap_or_else(|| {
            let target = ((x.px_hi - x.px_lo) / 110.0) as usize;
            axis::nice_ticks(x.lo, x.hi, self.x_scale, target)
        });
        let labels = axis::tick_labels(&tick_values, self.x_scale);
        let x_ticks = frame::ticks(&tick_values, labels, &x, |l| font::text_width(l, TICK_SIZE));

        chart.draw_grid(canvas, &layout, &x_ticks)?;
        let to_px = |i: usize, px: f64, py: f64| (x.px(px) + offsets[i], layout.y.px(py));
        if self.intervals == IntervalStyle::Band {
            for &i in &drawn {
                draw_bands(
                    canvas,
                    &points[i],
                    |px, py| to_px(i, px, py),
                    style::series_style(i).0,
                )?;
            }
        }
        // Solid lines first, sparser dash patterns on top, so that the gaps of a dashed
        // line show a coincident line beneath it.
        let mut order = drawn.clone();
        order.sort_by(|&a, &b| {
            style::ink(style::series_style(b).2).total_cmp(&style::ink(style::series_style(a).2))
        });
        for &i in &order {
            let (colour, _, dash) = style::series_style(i);
            for run in points[i].split(Option::is_none) {
                let line: Vec<(f64, f64)> = run
                    .iter()
                    .flatten()
                    .map(|&(px, py, _)| to_px(i, px, py))
                    .collect();
                style::draw_polyline(canvas, &line, dash, style::stroke(colour, LINE_WIDTH))?;
            }
        }
        // Reference lines over the data lines (a series at the reference value would hide
        // it), under the markers.
        frame::draw_references(canvas, &layout, self.references)?;
        // Thin markers (cross, plus) over filled ones, so that a neighbour does not cover them.
        let mut order = drawn.clone();
        order.sort_by_key(|&i| style::series_style(i).1.is_thin());
        for &i in &order {
            let (colour, marker, _) = style::series_style(i);
            let stride = marker_stride(points[i].len());
            for (j, point) in points[i].iter().enumerate() {
                let Some((px, py, iv)) = *point else { continue };
                let (cx, cy) = to_px(i, px, py);
                if let (IntervalStyle::Bars, Some((lo, hi))) = (self.intervals, iv) {
                    let (lo, hi) = (layout.y.px(lo), layout.y.px(hi));
                    let s = style::stroke(colour, 1.5);
                    style::draw_polyline(canvas, &[(cx, lo), (cx, hi)], &[], s)?;
                    style::draw_polyline(canvas, &[(cx - CAP, lo), (cx + CAP, lo)], &[], s)?;
                    style::draw_polyline(canvas, &[(cx - CAP, hi), (cx + CAP, hi)], &[], s)?;
                }
                // Long series: a marker on every stride-th point, staggered between series.
                if (j + i) % stride == 0 {
                    style::draw_marker(canvas, marker, (cx, cy), MARKER_R, colour)?;
                }
            }
        }
        chart.draw_frame(canvas, &layout, &x_ticks, false)
    }

    /// The x axis over the plotting area `plot`, and each series' sideways offset in pixels
    /// (zero unless dodging applies), with room at both ends for the offsets and markers.
    fn x_axis(
        &self,
        xs: &[f64],
        measured: Option<&[f64]>,
        plot: Rect,
        drawn: &[usize],
    ) -> (Axis, Vec<f64>) {
        let width = plot.right - plot.left;
        let mut offsets = vec![0.0; self.series.len()];
        let k = drawn.len();
        let mut spread = 0.0;
        if let (true, Some(ticks), true) = (self.dodge, measured, k > 1) {
            // Closest pair of distinct x values, in pixels at the unpadded scale.
            let u: Vec<f64> = ticks.iter().map(|&v| self.x_scale.forward(v)).collect();
            let span = u.last().unwrap_or(&0.0) - u.first().unwrap_or(&0.0);
            let closest = u
                .windows(2)
                .map(|w| (w[1] - w[0]) / span * width * 0.8)
                .fold(f64::INFINITY, f64::min);
            let step = DODGE_STEP.min(0.45 * closest / k as f64);
            for (rank, &i) in drawn.iter().enumerate() {
                offsets[i] = (rank as f64 - (k as f64 - 1.0) / 2.0) * step;
            }
            spread = step * (k as f64 - 1.0) / 2.0;
        }
        // Pad each end by 4 % of the width, or more to fit the offsets and a marker.
        let pad_px = (0.04 * width).max(spread + MARKER_R + 8.0);
        let (lo, hi) = axis::padded_range(xs.iter().copied(), self.x_scale, 0.0);
        let (a, b) = (self.x_scale.forward(lo), self.x_scale.forward(hi));
        let (lo, hi) = if b > a && width > 2.0 * pad_px {
            let pad = (b - a) * pad_px / (width - 2.0 * pad_px);
            (self.x_scale.inverse(a - pad), self.x_scale.inverse(b + pad))
        } else {
            (lo, hi)
        };
        let axis = Axis {
            scale: self.x_scale,
            lo,
            hi,
            px_lo: plot.left,
            px_hi: plot.right,
        };
        (axis, offsets)
    }
}

/// Every how many points a series of `n` points gets a marker: each point up to
/// [`MAX_MARKERS`], then about [`MAX_MARKERS`] / 2 evenly spread (markers on hundreds of
/// points would hide the line).
fn marker_stride(n: usize) -> usize {
    if n <= MAX_MARKERS {
        1
    } else {
        n.div_ceil(MAX_MARKERS / 2)
    }
}

/// Draws translucent bands between the intervals of consecutive points of one series.
fn draw_bands(
    canvas: &Canvas<'_>,
    points: &[Point],
    to_px: impl Fn(f64, f64) -> (f64, f64),
    colour: RGBColor,
) -> Result<(), Fault> {
    let with_interval: Vec<Option<(f64, f64, f64)>> = points
        .iter()
        .map(|p| p.and_then(|(x, _, iv)| iv.map(|(lo, hi)| (x, lo, hi))))
        .collect();
    for run in with_interval.split(Option::is_none) {
        if run.len() < 2 {
            continue;
        }
        let upper = run.iter().flatten().map(|&(x, _, hi)| to_px(x, hi));
        let lower: Vec<(f64, f64)> = run
            .iter()
            .flatten()
            .map(|&(x, lo, _)| to_px(x, lo))
            .collect();
        let outline: Vec<(i32, i32)> = upper
            .chain(lower.into_iter().rev())
            .map(|(x, y)| (x.round() as i32, y.round() as i32))
            .collect();
        canvas.draw(&Polygon::new(outline, colour.mix(0.18).filled()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plot(series: &[Series], dodge: bool) -> (Axis, Vec<f64>, Rect) {
        let plot = LinePlot {
            x_scale: Scale::Log,
            series,
            dodge,
            ..LinePlot::default()
        };
        let area = Rect {
            left: 100.0,
            top: 50.0,
            right: 800.0,
            bottom: 500.0,
        };
        let xs: Vec<f64> = series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0))
            .collect();
        let measured = axis::measured_ticks(xs.iter().copied());
        let drawn: Vec<usize> = (0..series.len()).collect();
        let (x, offsets) = plot.x_axis(&xs, measured.as_deref(), area, &drawn);
        (x, offsets, area)
    }

    #[test]
    fn plot_dodge_offsets() {
        let same = |name: &str| Series::new(name, [(20.0, 0.8), (100.0, 0.8), (1000.0, 0.8)]);
        let series = [same("a"), same("b"), same("c")];
        let (x, offsets, area) = plot(&series, true);
        assert_eq!(offsets, [-DODGE_STEP, 0.0, DODGE_STEP]);
        // The outermost markers stay inside the plotting area.
        assert!(x.px(20.0) - DODGE_STEP - MARKER_R > area.left);
        assert!(x.px(1000.0) + DODGE_STEP + MARKER_R < area.right);
        assert_eq!(plot(&series, false).1, [0.0; 3]);
        // Many x values: a continuum, not settings; nothing moves.
        let dense: Vec<Series> = (0..2)
            .map(|i| Series::new(format!("{i}"), (1..=30).map(|x| (f64::from(x), 1.0))))
            .collect();
        assert_eq!(plot(&dense, true).1, [0.0; 2]);
    }

    #[test]
    fn plot_marker_stride() {
        assert_eq!(marker_stride(3), 1);
        assert_eq!(marker_stride(MAX_MARKERS), 1);
        assert_eq!(marker_stride(400), 20);
    }
}
