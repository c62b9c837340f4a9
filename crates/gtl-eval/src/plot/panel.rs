//! One heatmap panel (square cells with text, row and column names, axis titles) and a
//! colour bar: what [`super::Heatmap`], [`super::ConfusionMatrix`] and
//! [`super::HeatmapGrid`] draw.

use std::path::Path;

use plotters::prelude::{Color, Rectangle};

use super::axis::{self, Scale};
use super::font::{self, Align, TextSpec};
use super::frame::{Rect, line, px_rect};
use super::style::{self, FRAME, MISSING, MUTED};
use super::{Canvas, Fault, PlotError};

/// Font sizes of a 380 px panel (larger panels scale them up to 1.3 times): title, axis
/// titles, row and column names; largest cell text.
const PANEL_TITLE: f64 = 17.0;
const PANEL_AXIS: f64 = 15.0;
const PANEL_NAMES: f64 = 15.0;
const CELL_TEXT_MAX: f64 = 22.0;
/// Cell text smaller than this is left out.
const CELL_TEXT_MIN: f64 = 8.0;
/// Width of the colour bar band right of the panels.
pub(crate) const COLOUR_BAR_WIDTH: u32 = 110;

/// A checked heatmap ready to draw.
#[derive(Debug, Clone)]
pub(crate) struct Panel<'a> {
    pub title: &'a str,
    /// Position of each cell on the colour scale, 0 to 1 (clamped when drawn); `None` grey.
    pub shade: Vec<Vec<Option<f64>>>,
    /// Lines of text in each cell.
    pub text: Vec<Vec<Vec<String>>>,
    pub row_names: Vec<String>,
    pub col_names: Vec<String>,
    pub row_label: &'a str,
    pub col_label: &'a str,
}

/// Draws `panel` inside `area`: title, row and column names and axis titles around square
/// cells as large as fit, each with its text at the largest size (up to 22 px) that fits.
pub(crate) fn draw_panel(canvas: &Canvas<'_>, area: Rect, panel: &Panel<'_>) -> Result<(), Fault> {
    let (n_rows, n_cols) = (panel.shade.len(), panel.shade[0].len());
    let k = ((area.right - area.left).min(area.bottom - area.top) / 380.0).clamp(1.0, 1.3);
    let (title_size, axis_size, names_size) = (PANEL_TITLE * k, PANEL_AXIS * k, PANEL_NAMES * k);
    let pad = 10.0;
    let (title, title_size) = font::fit(
        panel.title,
        title_size,
        11.0,
        area.right - area.left - 2.0 * pad,
    );
    let top = area.top
        + pad
        + if title.is_empty() {
            0.0
        } else {
            font::line_height(title_size) + 6.0
        };
    let axis_band = |label: &str| {
        if label.is_empty() {
            0.0
        } else {
            font::line_height(axis_size) + 4.0
        }
    };
    let widest_at = |names: &[String], size: f64| {
        names
            .iter()
            .map(|n| font::text_width(n, size))
            .fold(0.0, f64::max)
    };
    let right = area.right - pad;
    let bottom_for = |vertical: bool, size: f64| {
        let names = if vertical {
            widest_at(&panel.col_names, size)
        } else {
            0.9 * size
        };
        area.bottom - pad - axis_band(panel.col_label) - names - 6.0
    };
    let left_for = |size: f64| {
        area.left + pad + axis_band(panel.row_label) + widest_at(&panel.row_names, size) + 6.0
    };
    let cell_for = |left: f64, bottom: f64| {
        ((right - left) / n_cols as f64)
            .min((bottom - top) / n_rows as f64)
            .max(1.0)
    };
    // Column names shrink (down to 11 px) to fit under their column. If they do not fit
    // even then, they keep their size and are thinned out, reading bottom to top when they
    // are long words rather than numbers. Row names match the column names' size.
    let fits = |size: f64| {
        widest_at(&panel.col_names, size) <= cell_for(left_for(size), bottom_for(false, size)) - 6.0
    };
    let names_size = std::iter::once(names_size)
        .chain((11..names_size.ceil() as i32).rev().map(f64::from))
        .find(|&size| fits(size))
        .unwrap_or(names_size);
    let widest = |names: &[String]| widest_at(names, names_size);
    let left = left_for(names_size);
    let vertical =
        !fits(names_size) && widest(&panel.col_names) > 3.0 * font::line_height(names_size);
    let names_height = |vertical: bool| {
        if vertical {
            widest(&panel.col_names)
        } else {
            0.9 * names_size
        }
    };
    let bottom = bottom_for(vertical, names_size);
    let cell = cell_for(left, bottom);
    let (mw, mh) = (cell * n_cols as f64, cell * n_rows as f64);
    // Centre the block of cells with their names and axis titles in the room below the title.
    let beside = 6.0
        + widest(&panel.row_names)
        + if panel.row_label.is_empty() {
            0.0
        } else {
            8.0 + 0.8 * axis_size
        };
    let below = 6.0
        + names_height(vertical)
        + if panel.col_label.is_empty() {
            0.0
        } else {
            8.0 + axis_size
        };
    let x0 = area.left + pad + beside + ((right - area.left - pad) - (beside + mw)).max(0.0) / 2.0;
    let y0 = top + ((area.bottom - pad - top) - (mh + below)).max(0.0) / 2.0;

    // Cells and their text.
    let lines = panel
        .text
        .iter()
        .flatten()
        .map(Vec::len)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let widest_text = panel
        .text
        .iter()
        .flatten()
        .flatten()
        .map(|t| font::text_width(t, 1.0))
        .fold(0.0, f64::max);
    let text_size = (0.8 * cell / widest_text.max(1e-9))
        .min(0.7 * cell / (lines * 1.25))
        .min(CELL_TEXT_MAX * k);
    for (r, (shades, texts)) in panel.shade.iter().zip(&panel.text).enumerate() {
        for (c, (shade, text)) in shades.iter().zip(texts).enumerate() {
            let (x, y) = (x0 + c as f64 * cell, y0 + r as f64 * cell);
            let fill = shade.map_or(MISSING, style::colormap);
            canvas.draw(&Rectangle::new(
                px_rect(Rect {
                    left: x,
                    top: y,
                    right: x + cell,
                    bottom: y + cell,
                }),
                fill.filled(),
            ))?;
            if text_size < CELL_TEXT_MIN {
                continue;
            }
            let colour = if shade.is_none() {
                MUTED
            } else {
                style::text_on(fill)
            };
            for (j, t) in text.iter().enumerate() {
                let centre = y
                    + cell / 2.0
                    + (j as f64 - (text.len() as f64 - 1.0) / 2.0) * 1.25 * text_size;
                font::draw_text(
                    canvas,
                    t,
                    (x + cell / 2.0, centre),
                    TextSpec::new(text_size, Align::Center, Align::Center).colour(colour),
                )?;
            }
        }
    }
    canvas.draw(&Rectangle::new(
        px_rect(Rect {
            left: x0,
            top: y0,
            right: x0 + mw,
            bottom: y0 + mh,
        }),
        FRAME.stroke_width(1),
    ))?;

    // Row names right-aligned left of the cells, column names below, thinned if crowded;
    // the axis titles beside them.
    let names_text = TextSpec::new(names_size, Align::End, Align::Center).colour(MUTED);
    for r in keep_every(n_rows, cell, font::line_height(names_size)) {
        let y = y0 + (r as f64 + 0.5) * cell;
        font::draw_text(canvas, &panel.row_names[r], (x0 - 6.0, y), names_text)?;
    }
    let col_extent = if vertical {
        font::line_height(names_size)
    } else {
        widest(&panel.col_names)
    };
    for c in keep_every(n_cols, cell, col_extent) {
        let x = x0 + (c as f64 + 0.5) * cell;
        let spec = if vertical {
            TextSpec::new(names_size, Align::End, Align::Center).vertical()
        } else {
            TextSpec::new(names_size, Align::Center, Align::Start)
        };
        font::draw_text(
            canvas,
            &panel.col_names[c],
            (x, y0 + mh + 6.0),
            spec.colour(MUTED),
        )?;
    }
    let (col_label, col_size) = font::fit(
        panel.col_label,
        axis_size,
        10.0,
        area.right - area.left - 2.0 * pad,
    );
    font::draw_text(
        canvas,
        &col_label,
        (x0 + mw / 2.0, y0 + mh + 6.0 + names_height(vertical) + 8.0),
        TextSpec::new(col_size, Align::Center, Align::Start),
    )?;
    let (row_label, row_size) = font::fit(
        panel.row_label,
        axis_size,
        10.0,
        mh.max(area.bottom - top - pad),
    );
    font::draw_text(
        canvas,
        &row_label,
        (x0 - 6.0 - widest(&panel.row_names) - 8.0, y0 + mh / 2.0),
        TextSpec::new(row_size, Align::Center, Align::End).vertical(),
    )?;
    // The title centred over the cells, as far as the panel allows.
    let half = font::text_width(&title, title_size) / 2.0;
    let centre = (x0 + mw / 2.0)
        .min(area.right - pad - half)
        .max(area.left + pad + half);
    font::draw_text(
        canvas,
        &title,
        (centre, area.top + pad),
        TextSpec::new(title_size, Align::Center, Align::Start),
    )
}

/// Indices `0..n` of names `cell` pixels apart to label so that names `extent` pixels long
/// keep clear of each other: all when they fit, else every k-th.
fn keep_every(n: usize, cell: f64, extent: f64) -> impl Iterator<Item = usize> {
    let stride = ((extent + 4.0) / cell).ceil().max(1.0) as usize;
    (0..n).step_by(stride)
}

/// Draws a vertical colour bar for the scale `[min, max]` centred in `area`, with ticks at
/// round values and `label` read bottom to top beside it.
pub(crate) fn draw_colour_bar(
    canvas: &Canvas<'_>,
    area: Rect,
    (min, max): (f64, f64),
    label: &str,
) -> Result<(), Fault> {
    let height = ((area.bottom - area.top) * 0.6).min(420.0);
    let top = area.top + ((area.bottom - area.top) - height) / 2.0;
    let (left, width) = (area.left + 8.0, 18.0);
    let steps = height.round().max(1.0) as usize;
    for k in 0..steps {
        let t = 1.0 - (k as f64 + 0.5) / steps as f64;
        let y = top + k as f64 * height / steps as f64;
        line(
            canvas,
            (left, y),
            (left + width, y),
            style::colormap(t),
            1.0,
        )?;
    }
    canvas.draw(&Rectangle::new(
        px_rect(Rect {
            left,
            top,
            right: left + width,
            bottom: top + height,
        }),
        FRAME.stroke_width(1),
    ))?;
    let ticks = axis::nice_ticks(min, max, Scale::Linear, 5);
    let labels = axis::tick_labels(&ticks, Scale::Linear);
    let mut widest: f64 = 0.0;
    for (v, l) in ticks.iter().zip(&labels) {
        let y = top + (max - v) / (max - min) * height;
        line(
            canvas,
            (left + width, y),
            (left + width + 4.0, y),
            FRAME,
            1.0,
        )?;
        font::draw_text(
            canvas,
            l,
            (left + width + 7.0, y),
            TextSpec::new(PANEL_NAMES, Align::Start, Align::Center).colour(MUTED),
        )?;
        widest = widest.max(font::text_width(l, PANEL_NAMES));
    }
    let (label, size) = font::fit(label, PANEL_AXIS, 11.0, height);
    let x = (left + width + 7.0 + widest + 8.0).min(area.right - font::line_height(size));
    font::draw_text(
        canvas,
        &label,
        (x, top + height / 2.0),
        TextSpec::new(size, Align::Center, Align::Start).vertical(),
    )?;
    Ok(())
}

/// Writes `panel` with a colour bar for `range` titled `label` on its right as a PNG of
/// `size` at `path`.
pub(crate) fn write_single(
    path: &Path,
    size: (u32, u32),
    panel: &Panel<'_>,
    range: (f64, f64),
    label: &str,
) -> Result<(), PlotError> {
    super::write_png(path, size, |canvas| {
        let (w, h) = (f64::from(size.0), f64::from(size.1));
        let split = w - f64::from(COLOUR_BAR_WIDTH);
        let left = Rect {
            left: 0.0,
            top: 0.0,
            right: split,
            bottom: h,
        };
        draw_panel(canvas, left, panel)?;
        let right = Rect {
            left: split,
            top: 0.0,
            right: w,
            bottom: h,
        };
        draw_colour_bar(canvas, right, range, label)
    })
}
