//! PNG plots of experiment results (cargo feature `plot`): line plots with confidence
//! intervals and reference lines ([`LinePlot`]), grouped bar charts ([`BarChart`]), annotated
//! heatmaps ([`Heatmap`], [`ConfusionMatrix`]) and grids of heatmaps that share one colour
//! scale ([`HeatmapGrid`], [`grid_png`]).
//!
//! Each plot kind draws at a size its `write_png` states, whatever the data. Legends sit
//! outside the plotting area, tick labels never overlap, and text is DejaVu Sans embedded in
//! the crate (`assets/DejaVuSans.ttf`, licence beside it), so no system font is needed.
//! Every file is written to a temporary file beside its destination and renamed into place,
//! so a reader never sees a half-written PNG.
//!
//! ```
//! use gtl_eval::plot::{LinePlot, ReferenceLine, Scale, Series};
//!
//! let series = [
//!     Series::new("gtl", [(20.0, 0.78), (100.0, 0.80), (1000.0, 0.79)]),
//!     Series::new("source", [(20.0, 0.20), (100.0, 0.20), (1000.0, 0.20)]),
//! ];
//! let path = std::env::temp_dir().join("gtl-eval-doc-mean-diagonal.png");
//! LinePlot {
//!     title: "Mean diagonal of the sampled transition matrix",
//!     x_label: "target sequences n",
//!     y_label: "mean diagonal",
//!     x_scale: Scale::Log,
//!     series: &series,
//!     references: &[ReferenceLine::new("target 0.8", 0.8)],
//!     ..LinePlot::default()
//! }
//! .write_png(&path)?;
//! # std::fs::remove_file(&path).unwrap();
//! # Ok::<(), gtl_eval::plot::PlotError>(())
//! ```

mod axis;
mod bar;
mod confusion;
mod font;
mod frame;
mod grid;
mod heatmap;
mod line;
mod panel;
mod style;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use plotters::coord::Shift;
use plotters::prelude::{BitMapBackend, DrawingArea, DrawingAreaErrorKind, IntoDrawingArea, WHITE};

pub use axis::Scale;
pub use bar::{BarChart, Bars};
pub use confusion::{CellText, ConfusionMatrix};
pub use grid::{HeatmapGrid, PanelGroup, grid_png};
pub use heatmap::Heatmap;
pub use line::{IntervalStyle, LinePlot, ReferenceLine, Series};

/// Errors of writing a plot; each names the file it was writing.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The data cannot be drawn as asked (nothing finite, a ragged matrix, mismatched
    /// lengths, an empty colour range, ...).
    #[error("plot {}: {message}", .path.display())]
    Invalid {
        /// The file that was not written.
        path: PathBuf,
        /// What is wrong with the data.
        message: String,
    },
    /// A value that a log-scale axis cannot show.
    #[error(
        "plot {}: {what} = {value}, which a log-scale {axis} axis cannot show \
         (all values must be > 0)",
        .path.display()
    )]
    NotPositive {
        /// The file that was not written.
        path: PathBuf,
        /// The axis, `'x'` or `'y'`.
        axis: char,
        /// Where the value is, e.g. `series 'gtl' y` or `series 'gtl' interval low`.
        what: String,
        /// The offending value.
        value: f64,
    },
    /// The file or its folder could not be written.
    #[error("plot {}: {source}", .path.display())]
    Io {
        /// The file that was not written.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// Plotters failed to draw or encode the image.
    #[error("plot {}: drawing failed: {message}", .path.display())]
    Draw {
        /// The file that was not written.
        path: PathBuf,
        /// Plotters' message.
        message: String,
    },
}

/// A [`PlotError`] before it knows its file.
#[derive(Debug)]
pub(crate) enum Fault {
    Invalid(String),
    NotPositive {
        axis: char,
        what: String,
        value: f64,
    },
    Io(std::io::Error),
    Draw(String),
}

impl Fault {
    /// The error for the file at `path`.
    pub(crate) fn at(self, path: &Path) -> PlotError {
        let path = path.to_path_buf();
        match self {
            Fault::Invalid(message) => PlotError::Invalid { path, message },
            Fault::NotPositive { axis, what, value } => PlotError::NotPositive {
                path,
                axis,
                what,
                value,
            },
            Fault::Io(source) => PlotError::Io { path, source },
            Fault::Draw(message) => PlotError::Draw { path, message },
        }
    }
}

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for Fault {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        Fault::Draw(e.to_string())
    }
}

/// `Err(Fault::Invalid)` unless `ok`.
pub(crate) fn ensure(ok: bool, message: impl FnOnce() -> String) -> Result<(), Fault> {
    if ok {
        Ok(())
    } else {
        Err(Fault::Invalid(message()))
    }
}

/// The canvas every plot draws on: pixel coordinates, origin top left.
pub(crate) type Canvas<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Smallest width and height of an image, in pixels.
const MIN_SIDE: u32 = 64;

/// Renders `draw` onto a white canvas of `size` pixels, writes it as PNG to a temporary file
/// beside `path` (creating the folder) and renames that into place.
pub(crate) fn write_png(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&Canvas<'_>) -> Result<(), Fault>,
) -> Result<(), PlotError> {
    write_png_inner(path, size, draw).map_err(|f| f.at(path))
}

fn write_png_inner(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&Canvas<'_>) -> Result<(), Fault>,
) -> Result<(), Fault> {
    ensure(size.0 >= MIN_SIDE && size.1 >= MIN_SIDE, || {
        format!(
            "image size {} × {} px is too small (at least {MIN_SIDE} × {MIN_SIDE})",
            size.0, size.1
        )
    })?;
    font::ensure_registered()?;
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Fault::Invalid("not a file path".to_string()))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(Fault::Io)?;
    // The bitmap backend picks the encoder from the extension, so keep ".png".
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let tmp = dir.join(format!(
        ".{file_name}.{}-{}.tmp.png",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        {
            let root = BitMapBackend::new(&tmp, size).into_drawing_area();
            root.fill(&WHITE)?;
            draw(&root)?;
            root.present()?;
        }
        std::fs::rename(&tmp, path).map_err(Fault::Io)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
