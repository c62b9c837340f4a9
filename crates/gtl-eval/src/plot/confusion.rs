//! Confusion matrices: counts of true against predicted classes, coloured by the share of
//! each true class.

use std::path::Path;

use super::panel::{Panel, write_single};
use super::{Fault, PlotError, ensure};

/// What the cells of a [`ConfusionMatrix`] say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CellText {
    /// The count.
    Counts,
    /// The share of the row (the true class), in percent.
    Shares,
    /// The count over the share of the row.
    #[default]
    Both,
}

/// A confusion matrix: rows are the true classes, columns the predicted ones, each cell
/// coloured by its share of the row (so the diagonal reads as per-class recall).
#[derive(Debug, Clone)]
pub struct ConfusionMatrix<'a> {
    /// Title drawn above the matrix.
    pub title: &'a str,
    /// Class names, in row (and column) order.
    pub labels: &'a [String],
    /// `counts[t][p]`: how many items of true class `t` were predicted as class `p`.
    pub counts: &'a [Vec<u64>],
    /// What the cells say.
    pub cells: CellText,
    /// Label of the vertical axis.
    pub true_label: &'a str,
    /// Label of the horizontal axis.
    pub predicted_label: &'a str,
}

impl Default for ConfusionMatrix<'_> {
    fn default() -> Self {
        ConfusionMatrix {
            title: "",
            labels: &[],
            counts: &[],
            cells: CellText::Both,
            true_label: "true class",
            predicted_label: "predicted class",
        }
    }
}

impl ConfusionMatrix<'_> {
    /// The image size of [`ConfusionMatrix::write_png`], (760, 640) pixels.
    pub const SIZE: (u32, u32) = (760, 640);

    /// Draws the matrix and its colour bar (share of the row, 0 to 1) as a
    /// [`ConfusionMatrix::SIZE`] PNG at `path`, creating parent directories and replacing
    /// any existing file atomically. A class without items has grey cells.
    ///
    /// Fails unless `counts` is square with one row per label.
    pub fn write_png(&self, path: &Path) -> Result<(), PlotError> {
        let panel = self.panel().map_err(|f| f.at(path))?;
        write_single(
            path,
            Self::SIZE,
            &panel,
            (0.0, 1.0),
            "share of the true class",
        )
    }

    /// Checks the shape; the panel with shares as colours and counts and/or shares as text.
    fn panel(&self) -> Result<Panel<'_>, Fault> {
        let n = self.labels.len();
        ensure(n > 0, || {
            format!("confusion matrix '{}' has no classes", self.title)
        })?;
        ensure(
            self.counts.len() == n && self.counts.iter().all(|r| r.len() == n),
            || {
                let shape: Vec<usize> = self.counts.iter().map(Vec::len).collect();
                format!(
                    "confusion matrix '{}' has {n} labels but counts of shape {} rows × {shape:?} columns; \
                 it must be {n} × {n}",
                    self.title,
                    self.counts.len()
                )
            },
        )?;
        let mut shade = Vec::with_capacity(n);
        let mut text = Vec::with_capacity(n);
        for row in self.counts {
            let total: u64 = row.iter().sum();
            let share = |c: u64| (total > 0).then(|| c as f64 / total as f64);
            shade.push(row.iter().map(|&c| share(c)).collect());
            text.push(
                row.iter()
                    .map(|&c| {
                        let percent =
                            share(c).map_or("–".to_string(), |s| format!("{:.0} %", 100.0 * s));
                        match self.cells {
                            CellText::Counts => vec![c.to_string()],
                            CellText::Shares => vec![percent],
                            CellText::Both => vec![c.to_string(), percent],
                        }
                    })
                    .collect(),
            );
        }
        Ok(Panel {
            title: self.title,
            shade,
            text,
            row_names: self.labels.to_vec(),
            col_names: self.labels.to_vec(),
            row_label: self.true_label,
            col_label: self.predicted_label,
        })
    }
}
