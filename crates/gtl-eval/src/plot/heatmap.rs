//! Annotated heatmaps: a matrix of coloured cells with its values written in them, e.g. a
//! transition matrix.

use std::path::Path;

use super::panel::{Panel, write_single};
use super::{Fault, PlotError, ensure};

/// A grid of coloured cells, each annotated with its value.
#[derive(Debug, Clone)]
pub struct Heatmap<'a> {
    /// Title drawn above the grid.
    pub title: &'a str,
    /// Cell values, one inner `Vec` per row (drawn top to bottom); all rows must have the
    /// same, non-zero length. NaN and infinite cells are drawn grey with "–".
    pub rows: &'a [Vec<f64>],
    /// Label of the vertical axis (the rows).
    pub row_label: &'a str,
    /// Label of the horizontal axis (the columns).
    pub col_label: &'a str,
    /// Names of the rows, top to bottom; empty for 0, 1, 2, ...
    pub row_names: &'a [String],
    /// Names of the columns, left to right; empty for 0, 1, 2, ...
    pub col_names: &'a [String],
    /// Value drawn in the lowest colour; smaller values are clamped to it.
    pub min: f64,
    /// Value drawn in the highest colour; larger values are clamped to it.
    pub max: f64,
    /// Decimals of the values written in the cells.
    pub digits: usize,
    /// Title of the colour bar.
    pub value_label: &'a str,
}

impl Default for Heatmap<'_> {
    fn default() -> Self {
        Heatmap {
            title: "",
            rows: &[],
            row_label: "",
            col_label: "",
            row_names: &[],
            col_names: &[],
            min: 0.0,
            max: 1.0,
            digits: 2,
            value_label: "",
        }
    }
}

impl<'a> Heatmap<'a> {
    /// The default image size of [`Heatmap::write_png`], (700, 600) pixels.
    pub const SIZE: (u32, u32) = (700, 600);

    /// A transition matrix (rows: from state, columns: to state) on the probability scale
    /// [0, 1].
    pub fn transition(title: &'a str, rows: &'a [Vec<f64>]) -> Self {
        Heatmap {
            title,
            rows,
            row_label: "from state",
            col_label: "to state",
            value_label: "transition probability",
            ..Heatmap::default()
        }
    }

    /// Draws the heatmap and its colour bar as a [`Heatmap::SIZE`] PNG at `path`, creating
    /// parent directories and replacing any existing file atomically.
    ///
    /// Fails on an empty or ragged matrix, names that do not match its shape, or unless
    /// `min < max` (both finite).
    pub fn write_png(&self, path: &Path) -> Result<(), PlotError> {
        let panel = self.panel(self.min, self.max).map_err(|f| f.at(path))?;
        write_single(
            path,
            Self::SIZE,
            &panel,
            (self.min, self.max),
            self.value_label,
        )
    }

    /// Checks the matrix, names and colour range; the panel drawn on the colour scale
    /// `[min, max]` (a grid's shared scale, or the heatmap's own).
    pub(crate) fn panel(&self, min: f64, max: f64) -> Result<Panel<'a>, Fault> {
        let title = self.title;
        ensure(!self.rows.is_empty(), || {
            format!("heatmap '{title}' has no rows")
        })?;
        let cols = self.rows[0].len();
        ensure(cols > 0, || format!("heatmap '{title}' has empty rows"))?;
        for (i, row) in self.rows.iter().enumerate() {
            ensure(row.len() == cols, || {
                format!(
                    "heatmap '{title}' is ragged: row 0 has {cols} values but row {i} has {}",
                    row.len()
                )
            })?;
        }
        for (names, n, what) in [
            (self.row_names, self.rows.len(), "rows"),
            (self.col_names, cols, "columns"),
        ] {
            ensure(names.is_empty() || names.len() == n, || {
                format!(
                    "heatmap '{title}' has {n} {what} but {} names for them",
                    names.len()
                )
            })?;
        }
        for (lo, hi) in [(self.min, self.max), (min, max)] {
            ensure(lo.is_finite() && hi.is_finite() && lo < hi, || {
                format!(
                    "heatmap '{title}': colour range needs finite min < max, got min = {lo}, max = {hi}"
                )
            })?;
        }
        let names = |given: &[String], n: usize| -> Vec<String> {
            if given.is_empty() {
                (0..n).map(|i| i.to_string()).collect()
            } else {
                given.to_vec()
            }
        };
        Ok(Panel {
            title,
            shade: self
                .rows
                .iter()
                .map(|r| {
                    r.iter()
                        .map(|&v| v.is_finite().then(|| (v - min) / (max - min)))
                        .collect()
                })
                .collect(),
            text: self
                .rows
                .iter()
                .map(|r| {
                    r.iter()
                        .map(|&v| {
                            vec![if v.is_finite() {
                                format!("{v:.*}", self.digits)
                            } else {
                                "–".into()
                            }]
                        })
                        .collect()
                })
                .collect(),
            row_names: names(self.row_names, self.rows.len()),
            col_names: names(self.col_names, cols),
            row_label: self.row_label,
            col_label: self.col_label,
        })
    }
}
