//! Grouped bar charts: one group of bars per category, one bar per method, with optional
//! intervals and reference lines.

use std::path::Path;

use plotters::prelude::{Color, Rectangle};

use super::axis::{self, Scale};
use super::frame::{self, Chart, LegendEntry, Rect, Swatch, TICK_SIZE, Tick};
use super::line::ReferenceLine;
use super::style::{self, FRAME, PALETTE};
use super::{Canvas, Fault, PlotError, ensure, font};

/// Share of a category's slot that its bars fill.
const GROUP_SHARE: f64 = 0.8;

/// One method's bars in a [`BarChart`]: a value per category.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Bars {
    /// Name shown in the legend.
    pub name: String,
    /// One value per category; a NaN or infinite value draws no bar.
    pub values: Vec<f64>,
    /// A `(low, high)` interval per value (e.g. a 95 % confidence interval over seeds),
    /// drawn as an error bar; a non-finite bound draws none. When given, one per value.
    pub intervals: Option<Vec<(f64, f64)>>,
}

impl Bars {
    /// Bars without intervals.
    pub fn new(name: impl Into<String>, values: impl IntoIterator<Item = f64>) -> Self {
        Bars {
            name: name.into(),
            values: values.into_iter().collect(),
            intervals: None,
        }
    }

    /// The bars with a `(low, high)` interval per value.
    #[must_use]
    pub fn with_intervals(self, intervals: impl IntoIterator<Item = (f64, f64)>) -> Self {
        Bars {
            intervals: Some(intervals.into_iter().collect()),
            ..self
        }
    }
}

/// A grouped bar chart (categories × methods) on a linear axis that includes zero, with the
/// legend in a column right of the plotting area. Category names that do not fit under
/// their group are written bottom to top.
#[derive(Debug, Clone)]
pub struct BarChart<'a> {
    /// Title drawn above the chart.
    pub title: &'a str,
    /// Label of the horizontal axis (what the categories are); empty for none.
    pub x_label: &'a str,
    /// Label of the vertical axis.
    pub y_label: &'a str,
    /// Category names, left to right.
    pub categories: &'a [String],
    /// One entry per method, in legend order; bars within a group follow it.
    pub bars: &'a [Bars],
    /// Horizontal reference lines, dashed, listed in the legend after the methods.
    pub references: &'a [ReferenceLine],
    /// Image size in pixels (width, height).
    pub size: (u32, u32),
}

impl Default for BarChart<'_> {
    fn default() -> Self {
        BarChart {
            title: "",
            x_label: "",
            y_label: "",
            categories: &[],
            bars: &[],
            references: &[],
            size: BarChart::SIZE,
        }
    }
}

impl BarChart<'_> {
    /// The default image size, (960, 600) pixels.
    pub const SIZE: (u32, u32) = (960, 600);

    /// Draws the chart as a PNG of [`BarChart::size`] at `path`, creating parent directories
    /// and replacing any existing file atomically.
    ///
    /// Fails if there are no categories, if a method has not one value (and interval) per
    /// category, or if no value is finite.
    pub fn write_png(&self, path: &Path) -> Result<(), PlotError> {
        self.check().map_err(|f| f.at(path))?;
        super::write_png(path, self.size, |canvas| self.draw(canvas))
    }

    fn check(&self) -> Result<(), Fault> {
        let n = self.categories.len();
        ensure(n > 0, || "bar chart has no categories".to_string())?;
        for b in self.bars {
            ensure(b.values.len() == n, || {
                format!(
                    "bars '{}' have {} values for {n} categories",
                    b.name,
                    b.values.len()
                )
            })?;
            if let Some(iv) = &b.intervals {
                ensure(iv.len() == n, || {
                    format!(
                        "bars '{}' have {} intervals for {n} categories",
                        b.name,
                        iv.len()
                    )
                })?;
            }
        }
        ensure(
            self.bars
                .iter()
                .flat_map(|b| &b.values)
                .any(|v| v.is_finite()),
            || {
                format!(
                    "nothing to draw: no finite value ({} methods given)",
                    self.bars.len()
                )
            },
        )?;
        for r in self.references {
            ensure(r.y.is_finite(), || {
                format!("reference line '{}' is at y = {}", r.label, r.y)
            })?;
        }
        Ok(())
    }

    /// The finite `(low, high)` interval of method `m` in category `c`, if any.
    fn interval(&self, m: usize, c: usize) -> Option<(f64, f64)> {
        let (lo, hi) = self.bars[m].intervals.as_ref()?[c];
        (lo.is_finite() && hi.is_finite()).then(|| (lo.min(hi), lo.max(hi)))
    }

    fn draw(&self, canvas: &Canvas<'_>) -> Result<(), Fault> {
        let legend = self
            .bars
            .iter()
            .enumerate()
            .map(|(i, b)| LegendEntry {
                label: b.name.clone(),
                swatch: Swatch::Bar(PALETTE[i % PALETTE.len()]),
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
        let mut ys: Vec<f64> = vec![0.0];
        for (m, b) in self.bars.iter().enumerate() {
            for (c, &v) in b.values.iter().enumerate() {
                ys.extend(v.is_finite().then_some(v));
                ys.extend(
                    self.interval(m, c)
                        .into_iter()
                        .flat_map(|(lo, hi)| [lo, hi]),
                );
            }
        }
        ys.extend(self.references.iter().map(|r| r.y));
        let (lo, hi) = axis::padded_range(ys.iter().copied(), Scale::Linear, 0.05);
        // Bars grow from zero: no padding below a zero minimum (or above a zero maximum).
        let min = ys.iter().copied().fold(f64::INFINITY, f64::min);
        let max = ys.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let y_range = (
            if min == 0.0 { 0.0 } else { lo },
            if max == 0.0 { 0.0 } else { hi },
        );

        let names: Vec<String> = self.categories.to_vec();
        let mut vertical = false;
        let mut layout = chart.layout(Scale::Linear, y_range, frame::x_band(&names, false));
        let slot = (layout.plot.right - layout.plot.left) / names.len() as f64;
        let widest = names
            .iter()
            .map(|n| font::text_width(n, TICK_SIZE))
            .fold(0.0, f64::max);
        if widest > slot - 8.0 {
            vertical = true;
            layout = chart.layout(Scale::Linear, y_range, frame::x_band(&names, true));
        }
        let p = layout.plot;
        let slot = (p.right - p.left) / names.len() as f64;
        let x_ticks: Vec<Tick> = names
            .iter()
            .enumerate()
            .map(|(c, n)| Tick {
                px: p.left + (c as f64 + 0.5) * slot,
                label: Some(n.clone()),
            })
            .collect();
        chart.draw_grid(canvas, &layout, &[])?;

        let k = self.bars.len().max(1);
        let bar_w = GROUP_SHARE * slot / k as f64;
        let zero = layout.y.px(0.0);
        for (m, b) in self.bars.iter().enumerate() {
            let colour = PALETTE[m % PALETTE.len()];
            for (c, &v) in b.values.iter().enumerate() {
                let left =
                    p.left + c as f64 * slot + (1.0 - GROUP_SHARE) / 2.0 * slot + m as f64 * bar_w;
                let centre = left + bar_w / 2.0;
                if v.is_finite() {
                    let y = layout.y.px(v);
                    let rect = Rect {
                        left: left + 0.5,
                        top: y.min(zero),
                        right: left + bar_w - 0.5,
                        bottom: y.max(zero),
                    };
                    canvas.draw(&Rectangle::new(frame::px_rect(rect), colour.filled()))?;
                }
                if let Some((lo, hi)) = self.interval(m, c) {
                    let (lo, hi) = (layout.y.px(lo), layout.y.px(hi));
                    let cap = (bar_w * 0.3).clamp(2.0, 6.0);
                    let s = style::stroke(FRAME, 1.5);
                    style::draw_polyline(canvas, &[(centre, lo), (centre, hi)], &[], s)?;
                    style::draw_polyline(
                        canvas,
                        &[(centre - cap, lo), (centre + cap, lo)],
                        &[],
                        s,
                    )?;
                    style::draw_polyline(
                        canvas,
                        &[(centre - cap, hi), (centre + cap, hi)],
                        &[],
                        s,
                    )?;
                }
            }
        }
        frame::line(canvas, (p.left, zero), (p.right, zero), FRAME, 1.0)?;
        frame::draw_references(canvas, &layout, self.references)?;
        chart.draw_frame(canvas, &layout, &x_ticks, vertical)
    }
}
