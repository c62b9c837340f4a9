//! Grids of heatmaps on one shared colour scale with one colour bar, in groups (e.g. one per
//! setting) of at most six columns, so that a figure stays readable at screen size.

use std::path::Path;

use super::font::{self, Align, TextSpec};
use super::frame::{Rect, line};
use super::heatmap::Heatmap;
use super::panel::{COLOUR_BAR_WIDTH, Panel, draw_colour_bar, draw_panel};
use super::style::GRID;
use super::{Fault, PlotError, ensure};

/// Most columns of a grid, and the widest it may be in pixels.
const MAX_COLUMNS: usize = 6;
const MAX_WIDTH: u32 = 2400;
/// Height of the title band and of each group heading, in pixels.
const TITLE_BAND: u32 = 44;
const HEADING_BAND: u32 = 34;

/// Heatmaps that start a new row of a [`HeatmapGrid`], under an optional heading.
#[derive(Debug, Clone, Default)]
pub struct PanelGroup<'a> {
    /// Heading above the group (e.g. the setting, `"n = 20"`); empty for none.
    pub heading: String,
    /// The panels, left to right, wrapping onto further rows.
    pub panels: Vec<Heatmap<'a>>,
}

/// Square heatmap panels in rows of at most [`HeatmapGrid::max_columns`] (and at most six),
/// drawn on one colour scale, the union of the panels' `[min, max]`, with one colour bar.
/// Each group starts a new row; a group of `n` panels takes `ceil(n / max_columns)` rows,
/// balanced (10 panels in rows of up to 6 become two rows of 5).
#[derive(Debug, Clone)]
pub struct HeatmapGrid<'a> {
    /// Title drawn above the grid; empty for none.
    pub title: &'a str,
    /// The groups of panels, top to bottom.
    pub groups: &'a [PanelGroup<'a>],
    /// Most panels per row (capped at six).
    pub max_columns: usize,
    /// Side of a square panel in pixels; smaller if the grid would be wider than 2,400 px.
    pub panel_size: u32,
    /// Title of the colour bar; empty for the first panel's `value_label`.
    pub value_label: &'a str,
}

impl Default for HeatmapGrid<'_> {
    fn default() -> Self {
        HeatmapGrid {
            title: "",
            groups: &[],
            max_columns: MAX_COLUMNS,
            panel_size: 380,
            value_label: "",
        }
    }
}

impl HeatmapGrid<'_> {
    /// Columns of the grid and rows of each group.
    fn shape(&self) -> (usize, Vec<usize>) {
        let max = self.max_columns.clamp(1, MAX_COLUMNS);
        let rows: Vec<usize> = self
            .groups
            .iter()
            .map(|g| g.panels.len().div_ceil(max))
            .collect();
        let columns = self
            .groups
            .iter()
            .zip(&rows)
            .map(|(g, &r)| g.panels.len().div_ceil(r.max(1)))
            .max()
            .unwrap_or(1)
            .max(1);
        (columns, rows)
    }

    /// Side of a panel in pixels: `panel_size`, or less to keep the grid 2,400 px wide.
    fn panel_side(&self, columns: usize) -> u32 {
        let fit =
            (MAX_WIDTH - COLOUR_BAR_WIDTH) / u32::try_from(columns).unwrap_or(u32::MAX).max(1);
        self.panel_size.clamp(120, 1200).min(fit)
    }

    /// The image size in pixels: `columns × side + 110` wide (at most 2,400), and the title
    /// band (44 px), each heading (34 px) and `rows × side` high.
    pub fn size(&self) -> (u32, u32) {
        let (columns, rows) = self.shape();
        let side = self.panel_side(columns);
        let width = u32::try_from(columns).unwrap_or(1) * side + COLOUR_BAR_WIDTH;
        let mut height = if self.title.is_empty() { 0 } else { TITLE_BAND };
        for (g, &r) in self.groups.iter().zip(&rows) {
            height += if g.heading.is_empty() {
                0
            } else {
                HEADING_BAND
            };
            height += u32::try_from(r).unwrap_or(0) * side;
        }
        (width, height.max(side))
    }

    /// Draws the grid as a PNG of [`HeatmapGrid::size`] at `path`, creating parent
    /// directories and replacing any existing file atomically.
    ///
    /// Every panel is checked as in [`Heatmap::write_png`] before anything is drawn; fails
    /// if there are no panels.
    pub fn write_png(&self, path: &Path) -> Result<(), PlotError> {
        let (panels, (min, max)) = self.checked().map_err(|f| f.at(path))?;
        let value_label = match self.groups.iter().flat_map(|g| &g.panels).next() {
            Some(first) if self.value_label.is_empty() => first.value_label,
            _ => self.value_label,
        };
        let (columns, rows) = self.shape();
        let side = f64::from(self.panel_side(columns));
        let size = self.size();
        super::write_png(path, size, |canvas| {
            let mut y = 0.0;
            if !self.title.is_empty() {
                let (title, s) = font::fit(self.title, 22.0, 14.0, f64::from(size.0) - 20.0);
                font::draw_text(
                    canvas,
                    &title,
                    (f64::from(size.0) / 2.0, 12.0),
                    TextSpec::new(s, Align::Center, Align::Start),
                )?;
                y += f64::from(TITLE_BAND);
            }
            let mut next = panels.iter();
            for (g, &r) in self.groups.iter().zip(&rows) {
                if !g.heading.is_empty() {
                    // A rule between groups, then the heading.
                    if y > 0.0 {
                        line(
                            canvas,
                            (10.0, y + 2.0),
                            (columns as f64 * side - 10.0, y + 2.0),
                            GRID,
                            1.0,
                        )?;
                    }
                    let (heading, s) =
                        font::fit(&g.heading, 19.0, 12.0, columns as f64 * side - 20.0);
                    font::draw_text(
                        canvas,
                        &heading,
                        (14.0, y + 10.0),
                        TextSpec::new(s, Align::Start, Align::Start),
                    )?;
                    y += f64::from(HEADING_BAND);
                }
                let per_row = g.panels.len().div_ceil(r.max(1));
                for (k, panel) in next.by_ref().take(g.panels.len()).enumerate() {
                    let (row, col) = (k / per_row, k % per_row);
                    let left = col as f64 * side;
                    let top = y + row as f64 * side;
                    draw_panel(
                        canvas,
                        Rect {
                            left,
                            top,
                            right: left + side,
                            bottom: top + side,
                        },
                        panel,
                    )?;
                }
                y += r as f64 * side;
            }
            let bar_left = columns as f64 * side;
            let top = if self.title.is_empty() {
                0.0
            } else {
                f64::from(TITLE_BAND)
            };
            let bar = Rect {
                left: bar_left,
                top,
                right: f64::from(size.0),
                bottom: f64::from(size.1).min(top + 900.0),
            };
            draw_colour_bar(canvas, bar, (min, max), value_label)
        })
    }
}

impl<'a> HeatmapGrid<'a> {
    /// Every panel checked and drawn on the shared colour scale, and that scale.
    fn checked(&self) -> Result<(Vec<Panel<'a>>, (f64, f64)), Fault> {
        let all: Vec<&Heatmap<'a>> = self.groups.iter().flat_map(|g| &g.panels).collect();
        ensure(!all.is_empty(), || "heatmap grid has no panels".to_string())?;
        let min = all.iter().map(|h| h.min).fold(f64::INFINITY, f64::min);
        let max = all.iter().map(|h| h.max).fold(f64::NEG_INFINITY, f64::max);
        let panels = all
            .iter()
            .enumerate()
            .map(|(i, h)| h.panel(min, max).map_err(|f| in_panel(f, i)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((panels, (min, max)))
    }
}

/// `fault` of panel `i`, saying which panel it is.
fn in_panel(fault: Fault, i: usize) -> Fault {
    match fault {
        Fault::Invalid(m) => Fault::Invalid(format!("panel {i}: {m}")),
        other => other,
    }
}

/// Draws `panels` as a [`HeatmapGrid`] without title or headings, in rows of
/// `min(columns, 6)` panels of 380 px (e.g. one transition matrix per method), as one PNG at
/// `path`.
///
/// Every panel is checked as in [`Heatmap::write_png`] before anything is drawn; fails if
/// `columns` is zero or there are no panels.
pub fn grid_png(path: &Path, columns: usize, panels: &[Heatmap<'_>]) -> Result<(), PlotError> {
    if columns == 0 {
        return Err(Fault::Invalid("heatmap grid needs at least one column".into()).at(path));
    }
    let groups = [PanelGroup {
        heading: String::new(),
        panels: panels.to_vec(),
    }];
    HeatmapGrid {
        groups: &groups,
        max_columns: columns,
        ..HeatmapGrid::default()
    }
    .write_png(path)
}
