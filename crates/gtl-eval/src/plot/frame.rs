//! The frame shared by line plots and bar charts: title, axes with ticks and titles, grid
//! lines, and a legend in a column right of the plotting area, laid out from the measured
//! width of every label so that nothing overlaps.

use plotters::prelude::{Color, RGBColor, Rectangle, WHITE};

use super::axis::{self, Axis, Scale};
use super::font::{self, Align, TextSpec};
use super::line::ReferenceLine;
use super::style::{self, FRAME, GRID, MUTED, Marker, REFERENCE, REFERENCE_DASHES};
use super::{Canvas, Fault};

/// Font sizes in pixels.
pub(crate) const TITLE_SIZE: f64 = 22.0;
pub(crate) const AXIS_TITLE_SIZE: f64 = 18.0;
pub(crate) const TICK_SIZE: f64 = 16.0;
pub(crate) const LEGEND_SIZE: f64 = 16.0;
/// Empty border around the canvas.
const MARGIN: f64 = 14.0;
/// Length of a tick mark, and the room between it and its label.
pub(crate) const TICK_LEN: f64 = 5.0;
const TICK_GAP: f64 = 5.0;
/// Least room between neighbouring tick labels.
const LABEL_GAP: f64 = 8.0;
/// Height of one legend row, width of its swatch, widest a legend may be (share of canvas).
const LEGEND_ROW: f64 = 24.0;
const SWATCH: f64 = 38.0;
const LEGEND_MAX_SHARE: f64 = 0.34;

/// A rectangle in pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rect {
    pub left: f64,
    pub top: f64,
    pub right: f64,
    pub bottom: f64,
}

/// A tick: its pixel position along the axis and its label (`None` when thinned away).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tick {
    pub px: f64,
    pub label: Option<String>,
}

/// What a legend row shows beside its label.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Swatch {
    /// A series: line with its dash pattern and a marker.
    Line {
        colour: RGBColor,
        marker: Marker,
        dash: &'static [f64],
    },
    /// A bar colour.
    Bar(RGBColor),
    /// A reference line.
    Reference(&'static [f64]),
}

/// One legend row.
#[derive(Debug, Clone)]
pub(crate) struct LegendEntry {
    pub label: String,
    pub swatch: Swatch,
}

/// The text and legend of a chart, before layout.
pub(crate) struct Chart<'a> {
    pub size: (u32, u32),
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub legend: Vec<LegendEntry>,
}

/// Where everything goes.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// The plotting area.
    pub plot: Rect,
    /// The vertical axis over the plotting area, and its ticks.
    pub y: Axis,
    pub y_ticks: Vec<Tick>,
    /// Title after fitting it into the canvas width, and its size.
    title: (String, f64),
    /// Legend: top-left corner, rows per column, column width, fitted labels.
    legend_at: (f64, f64),
    legend_rows: usize,
    legend_column: f64,
    legend_labels: Vec<String>,
}

impl Chart<'_> {
    /// Lays out the chart for a vertical axis over `y_range` on `y_scale` and an x tick band
    /// `x_band` pixels high below the plotting area (tick marks and their labels).
    pub(crate) fn layout(&self, y_scale: Scale, y_range: (f64, f64), x_band: f64) -> Layout {
        let (w, h) = (f64::from(self.size.0), f64::from(self.size.1));
        let title = font::fit(self.title, TITLE_SIZE, 14.0, w - 2.0 * MARGIN);
        let mut top = MARGIN;
        if !self.title.is_empty() {
            top += font::line_height(title.1) + 10.0;
        }
        let mut bottom = h - MARGIN - x_band;
        if !self.x_label.is_empty() {
            bottom -= font::line_height(AXIS_TITLE_SIZE) + 4.0;
        }
        let y = Axis {
            scale: y_scale,
            lo: y_range.0,
            hi: y_range.1,
            px_lo: bottom,
            px_hi: top,
        };
        let values = axis::nice_ticks(y.lo, y.hi, y_scale, ((bottom - top) / 50.0) as usize);
        let labels = axis::tick_labels(&values, y_scale);
        let label_width = labels
            .iter()
            .map(|l| font::text_width(l, TICK_SIZE))
            .fold(0.0, f64::max);
        let y_ticks = ticks(&values, labels, &y, |_| font::line_height(TICK_SIZE));
        let mut left = MARGIN + label_width + TICK_GAP + TICK_LEN;
        if !self.y_label.is_empty() {
            left += font::line_height(AXIS_TITLE_SIZE) + 6.0;
        }

        // Legend: as many columns as its rows need, labels cut to the widest it may be.
        let rows_fit = (((bottom - top) / LEGEND_ROW).floor() as usize).max(1);
        let columns = self.legend.len().div_ceil(rows_fit).max(1);
        let legend_rows = self.legend.len().div_ceil(columns);
        let max_label = (LEGEND_MAX_SHARE * w / columns as f64 - SWATCH - 18.0).max(30.0);
        let legend_labels: Vec<String> = self
            .legend
            .iter()
            .map(|e| font::fit(&e.label, LEGEND_SIZE, LEGEND_SIZE, max_label).0)
            .collect();
        let widest = legend_labels
            .iter()
            .map(|l| font::text_width(l, LEGEND_SIZE))
            .fold(0.0, f64::max);
        let legend_column = SWATCH + 8.0 + widest + 10.0;
        let legend_width = if self.legend.is_empty() {
            0.0
        } else {
            columns as f64 * legend_column + 16.0
        };
        // Room on the right for half of the last x tick label.
        let right = w - MARGIN - legend_width - 14.0;
        Layout {
            plot: Rect {
                left,
                top,
                right,
                bottom,
            },
            y,
            y_ticks,
            title,
            legend_at: (right + 26.0, top),
            legend_rows,
            legend_column,
            legend_labels,
        }
    }

    /// Draws the grid lines behind the data: at every y tick and at the x ticks given.
    pub(crate) fn draw_grid(
        &self,
        canvas: &Canvas<'_>,
        layout: &Layout,
        x_ticks: &[Tick],
    ) -> Result<(), Fault> {
        let p = layout.plot;
        canvas.draw(&Rectangle::new(px_rect(p), WHITE.filled()))?;
        for t in &layout.y_ticks {
            line(canvas, (p.left, t.px), (p.right, t.px), GRID, 1.0)?;
        }
        for t in x_ticks {
            line(canvas, (t.px, p.top), (t.px, p.bottom), GRID, 1.0)?;
        }
        Ok(())
    }

    /// Draws frame, tick marks, tick labels (x labels read bottom to top when `x_vertical`),
    /// axis titles, the chart title and the legend.
    pub(crate) fn draw_frame(
        &self,
        canvas: &Canvas<'_>,
        layout: &Layout,
        x_ticks: &[Tick],
        x_vertical: bool,
    ) -> Result<(), Fault> {
        let p = layout.plot;
        let (w, h) = (f64::from(self.size.0), f64::from(self.size.1));
        canvas.draw(&Rectangle::new(px_rect(p), FRAME.stroke_width(1)))?;
        let tick_text = TextSpec::new(TICK_SIZE, Align::End, Align::Center).colour(MUTED);
        let mut label_right = p.left;
        for t in &layout.y_ticks {
            line(
                canvas,
                (p.left - TICK_LEN, t.px),
                (p.left, t.px),
                FRAME,
                1.0,
            )?;
            if let Some(label) = &t.label {
                let x = p.left - TICK_LEN - TICK_GAP;
                font::draw_text(canvas, label, (x, t.px), tick_text)?;
                label_right = label_right.min(x - font::text_width(label, TICK_SIZE));
            }
        }
        let mut x_band_bottom = p.bottom;
        for t in x_ticks {
            line(
                canvas,
                (t.px, p.bottom),
                (t.px, p.bottom + TICK_LEN),
                FRAME,
                1.0,
            )?;
            if let Some(label) = &t.label {
                let y = p.bottom + TICK_LEN + TICK_GAP;
                let spec = if x_vertical {
                    TextSpec::new(TICK_SIZE, Align::End, Align::Center).vertical()
                } else {
                    TextSpec::new(TICK_SIZE, Align::Center, Align::Start)
                };
                let (anchor, extent) = if x_vertical {
                    ((t.px, y), font::text_width(label, TICK_SIZE))
                } else {
                    ((t.px, y), TICK_SIZE * 0.9)
                };
                font::draw_text(canvas, label, anchor, spec.colour(MUTED))?;
                x_band_bottom = x_band_bottom.max(y + extent);
            }
        }
        let axis_title = TextSpec::new(AXIS_TITLE_SIZE, Align::Center, Align::Start);
        let (x_label, _) = font::fit(self.x_label, AXIS_TITLE_SIZE, 11.0, p.right - p.left);
        font::draw_text(
            canvas,
            &x_label,
            (
                (p.left + p.right) / 2.0,
                (x_band_bottom + 8.0).min(h - MARGIN - AXIS_TITLE_SIZE),
            ),
            axis_title,
        )?;
        let (y_label, _) = font::fit(self.y_label, AXIS_TITLE_SIZE, 11.0, p.bottom - p.top);
        font::draw_text(
            canvas,
            &y_label,
            (
                MARGIN.max(label_right - 10.0 - AXIS_TITLE_SIZE * 0.7),
                (p.top + p.bottom) / 2.0,
            ),
            axis_title.vertical(),
        )?;
        let (title, size) = &layout.title;
        font::draw_text(
            canvas,
            title,
            (w / 2.0, MARGIN),
            TextSpec::new(*size, Align::Center, Align::Start),
        )?;
        self.draw_legend(canvas, layout)
    }

    /// Draws the legend rows, column by column.
    fn draw_legend(&self, canvas: &Canvas<'_>, layout: &Layout) -> Result<(), Fault> {
        let (x0, y0) = layout.legend_at;
        let text = TextSpec::new(LEGEND_SIZE, Align::Start, Align::Center);
        for (i, (entry, label)) in self.legend.iter().zip(&layout.legend_labels).enumerate() {
            let column = i / layout.legend_rows.max(1);
            let row = i % layout.legend_rows.max(1);
            let x = x0 + column as f64 * layout.legend_column;
            let y = y0 + (row as f64 + 0.5) * LEGEND_ROW;
            match entry.swatch {
                Swatch::Line {
                    colour,
                    marker,
                    dash,
                } => {
                    style::draw_polyline(
                        canvas,
                        &[(x, y), (x + SWATCH, y)],
                        dash,
                        style::stroke(colour, 2.0),
                    )?;
                    style::draw_marker(canvas, marker, (x + SWATCH / 2.0, y), 5.0, colour)?;
                }
                Swatch::Bar(colour) => {
                    canvas.draw(&Rectangle::new(
                        [
                            ((x + 8.0) as i32, (y - 7.0) as i32),
                            ((x + SWATCH - 8.0) as i32, (y + 7.0) as i32),
                        ],
                        colour.filled(),
                    ))?;
                }
                Swatch::Reference(dash) => {
                    style::draw_polyline(
                        canvas,
                        &[(x, y), (x + SWATCH, y)],
                        dash,
                        style::stroke(style::REFERENCE, 1.0),
                    )?;
                }
            }
            font::draw_text(canvas, label, (x + SWATCH + 8.0, y), text)?;
        }
        Ok(())
    }
}

/// Ticks at `values` on `axis` with `labels`, thinned so that no two labels come closer than
/// [`LABEL_GAP`]; `extent` is a label's size along the axis.
pub(crate) fn ticks(
    values: &[f64],
    labels: Vec<String>,
    axis: &Axis,
    extent: impl Fn(&str) -> f64,
) -> Vec<Tick> {
    let mut ticks: Vec<Tick> = values
        .iter()
        .zip(labels)
        .map(|(&v, l)| Tick {
            px: axis.px(v),
            label: Some(l),
        })
        .collect();
    // Thin in pixel order (y runs backwards).
    ticks.sort_by(|a, b| a.px.total_cmp(&b.px));
    let spans: Vec<(f64, f64)> = ticks
        .iter()
        .map(|t| {
            let e = extent(t.label.as_deref().unwrap_or(""));
            (t.px - e / 2.0, t.px + e / 2.0)
        })
        .collect();
    for (t, keep) in ticks.iter_mut().zip(axis::thin_labels(&spans, LABEL_GAP)) {
        if !keep {
            t.label = None;
        }
    }
    ticks
}

/// Legend entries of `references`, after the series'.
pub(crate) fn reference_entries(
    references: &[ReferenceLine],
) -> impl Iterator<Item = LegendEntry> + '_ {
    references.iter().enumerate().map(|(k, r)| LegendEntry {
        label: r.label.clone(),
        swatch: Swatch::Reference(REFERENCE_DASHES[k % REFERENCE_DASHES.len()]),
    })
}

/// Draws `references` across the plotting area, dashed as in their legend entries.
pub(crate) fn draw_references(
    canvas: &Canvas<'_>,
    layout: &Layout,
    references: &[ReferenceLine],
) -> Result<(), Fault> {
    let p = layout.plot;
    for (k, r) in references.iter().enumerate() {
        let y = layout.y.px(r.y);
        style::draw_polyline(
            canvas,
            &[(p.left, y), (p.right, y)],
            REFERENCE_DASHES[k % REFERENCE_DASHES.len()],
            style::stroke(REFERENCE, 1.0),
        )?;
    }
    Ok(())
}

/// Height of the x tick band: tick marks plus labels, horizontal or read bottom to top.
pub(crate) fn x_band(labels: &[String], vertical: bool) -> f64 {
    let text = if vertical {
        labels
            .iter()
            .map(|l| font::text_width(l, TICK_SIZE))
            .fold(0.0, f64::max)
    } else {
        font::line_height(TICK_SIZE)
    };
    TICK_LEN + TICK_GAP + text + 4.0
}

/// A pixel rectangle as plotters' corner pair.
pub(crate) fn px_rect(r: Rect) -> [(i32, i32); 2] {
    [
        (r.left.round() as i32, r.top.round() as i32),
        (r.right.round() as i32, r.bottom.round() as i32),
    ]
}

/// A straight line from `a` to `b`.
pub(crate) fn line(
    canvas: &Canvas<'_>,
    a: (f64, f64),
    b: (f64, f64),
    colour: RGBColor,
    width: f64,
) -> Result<(), Fault> {
    style::draw_polyline(canvas, &[a, b], &[], style::stroke(colour, width))
}
