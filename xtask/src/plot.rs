//! PNG plots of experiment results: line plots (loss curves, metrics against
//! a sweep parameter) and annotated heatmaps (transition matrices).
//!
//! Text is rendered with DejaVu Sans embedded in the binary
//! (`xtask/assets/DejaVuSans.ttf`, licence in `xtask/assets/DejaVu-LICENSE.txt`),
//! so no system font is needed at run time. Every file is written to a
//! temporary file beside its destination and renamed into place, so a reader
//! never sees a half-written PNG.

// Used by the study and experiment commands.
#![allow(dead_code)]

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, anyhow, bail, ensure};
use plotters::coord::Shift;
use plotters::coord::combinators::{IntoLogRange, LogCoord};
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::FontStyle;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Size of a [`LinePlot`] image in pixels.
const LINE_PLOT_SIZE: (u32, u32) = (900, 600);
/// Size of a [`Heatmap`] image, and of each panel of [`grid_png`], in pixels.
const HEATMAP_SIZE: (u32, u32) = (700, 600);

/// Font family name the embedded font is registered under.
const FONT_FAMILY: &str = "sans-serif";
static FONT_BYTES: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Series colours, in order (Tableau 10); series beyond ten reuse them.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Viridis sampled at nine evenly spaced points, low to high.
const VIRIDIS: [(u8, u8, u8); 9] = [
    (68, 1, 84),
    (71, 44, 122),
    (59, 81, 139),
    (44, 113, 142),
    (33, 144, 141),
    (39, 173, 129),
    (92, 200, 99),
    (170, 220, 50),
    (253, 231, 37),
];

/// Cell colour for values that are NaN or infinite.
const NON_FINITE_CELL: RGBColor = RGBColor(200, 200, 200);

/// A series name with its finite points.
type Named<'a> = (&'a str, Vec<(f64, f64)>);

/// One named line of a [`LinePlot`].
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Name shown in the legend (and in error messages).
    pub name: String,
    /// `(x, y)` points in drawing order; points with a NaN or infinite
    /// coordinate are skipped.
    pub points: Vec<(f64, f64)>,
}

/// Scale of a plot axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Evenly spaced values.
    Linear,
    /// Evenly spaced powers of ten; every value on the axis must be positive.
    Log,
}

/// A line plot with point markers, one colour per series and a legend.
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
    /// The lines to draw; axis ranges cover all their finite points.
    pub series: &'a [Series],
}

impl LinePlot<'_> {
    /// Draws the plot as a 900x600 PNG at `path`, creating parent
    /// directories and replacing any existing file atomically.
    ///
    /// Fails if no series has a finite point, or if an axis is
    /// [`Scale::Log`] and a series has a non-positive value on it.
    pub fn write_png(&self, path: &Path) -> Result<()> {
        let series = self.finite_series()?;
        let x_range = axis_range(&series, self.x_scale, |p| p.0);
        let y_range = axis_range(&series, self.y_scale, |p| p.1);
        let x_axis = Axis::new(x_range, self.x_scale);
        let y_axis = Axis::new(y_range, self.y_scale);
        write_atomically(path, LINE_PLOT_SIZE, |root| {
            self.draw(root, &series, x_axis, y_axis)
        })
        .with_context(|| format!("writing line plot '{}' to {}", self.title, path.display()))
    }

    /// The series with non-finite points removed, after checking that log
    /// axes see only positive values and that something is left to draw.
    fn finite_series(&self) -> Result<Vec<Named<'_>>> {
        let mut out = Vec::with_capacity(self.series.len());
        for s in self.series {
            let points: Vec<(f64, f64)> = s
                .points
                .iter()
                .copied()
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect();
            for (axis, scale, value) in [("x", self.x_scale, 0), ("y", self.y_scale, 1)] {
                if scale != Scale::Log {
                    continue;
                }
                let bad = points
                    .iter()
                    .map(|p| if value == 0 { p.0 } else { p.1 })
                    .find(|&v| v <= 0.0);
                if let Some(v) = bad {
                    bail!(
                        "plot '{}': series '{}' has {axis} = {v}, which a log-scale {axis} axis \
                         cannot show (all values must be > 0)",
                        self.title,
                        s.name
                    );
                }
            }
            out.push((s.name.as_str(), points));
        }
        ensure!(
            out.iter().any(|(_, p)| !p.is_empty()),
            "plot '{}' has nothing to draw: no series has a finite point ({} series given)",
            self.title,
            self.series.len()
        );
        Ok(out)
    }

    /// Draws title, axes, lines, markers and legend.
    fn draw(
        &self,
        root: &DrawingArea<BitMapBackend<'_>, Shift>,
        series: &[Named<'_>],
        x_axis: Axis,
        y_axis: Axis,
    ) -> Result<()> {
        let mut chart = ChartBuilder::on(root)
            .caption(self.title, (FONT_FAMILY, 26))
            .margin(15)
            .x_label_area_size(50)
            .y_label_area_size(80)
            .build_cartesian_2d(x_axis, y_axis)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc(self.x_label)
            .y_desc(self.y_label)
            .label_style((FONT_FAMILY, 15))
            .axis_desc_style((FONT_FAMILY, 17))
            .x_label_formatter(&|v| format_tick(*v))
            .y_label_formatter(&|v| format_tick(*v))
            // Log axes otherwise get ~100 minor lines per decade.
            .x_max_light_lines(light_lines(self.x_scale))
            .y_max_light_lines(light_lines(self.y_scale))
            .light_line_style(RGBColor(235, 235, 235))
            .bold_line_style(RGBColor(210, 210, 210))
            .draw()
            .map_err(plot_err)?;
        for (i, (name, points)) in series.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            chart
                .draw_series(LineSeries::new(
                    points.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(plot_err)?
                .label(*name)
                .legend(move |(x, y)| {
                    EmptyElement::at((x, y))
                        + PathElement::new(vec![(0, 0), (20, 0)], color.stroke_width(2))
                        + Circle::new((10, 0), 3, color.filled())
                });
            chart
                .draw_series(PointSeries::of_element(
                    points.iter().copied(),
                    3,
                    color.filled(),
                    &|c, size, style| EmptyElement::at(c) + Circle::new((0, 0), size, style),
                ))
                .map_err(plot_err)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font((FONT_FAMILY, 15))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.5))
            .draw()
            .map_err(plot_err)?;
        Ok(())
    }
}

/// A grid of coloured cells, each annotated with its value.
#[derive(Debug, Clone)]
pub struct Heatmap<'a> {
    /// Title drawn above the grid.
    pub title: &'a str,
    /// Cell values, one inner `Vec` per row (drawn top to bottom); all rows
    /// must have the same, non-zero length.
    pub rows: &'a [Vec<f64>],
    /// Label of the vertical axis (row indices).
    pub row_label: &'a str,
    /// Label of the horizontal axis (column indices).
    pub col_label: &'a str,
    /// Value drawn in the lowest colour; smaller values are clamped to it.
    pub min: f64,
    /// Value drawn in the highest colour; larger values are clamped to it.
    pub max: f64,
}

impl<'a> Heatmap<'a> {
    /// A transition matrix (rows: from state, columns: to state) on the probability scale
    /// [0, 1].
    pub fn transition(title: &'a str, rows: &'a [Vec<f64>]) -> Self {
        Heatmap {
            title,
            rows,
            row_label: "from state",
            col_label: "to state",
            min: 0.0,
            max: 1.0,
        }
    }
}

impl Heatmap<'_> {
    /// Draws the heatmap as a 700x600 PNG at `path`, creating parent
    /// directories and replacing any existing file atomically.
    ///
    /// Fails on an empty or ragged matrix, or unless `min < max` (both finite).
    pub fn write_png(&self, path: &Path) -> Result<()> {
        let cols = self.validate()?;
        write_atomically(path, HEATMAP_SIZE, |root| self.draw(root, cols))
            .with_context(|| format!("writing heatmap '{}' to {}", self.title, path.display()))
    }

    /// Checks the matrix and the colour range; returns the number of columns.
    fn validate(&self) -> Result<usize> {
        ensure!(
            !self.rows.is_empty(),
            "heatmap '{}' has no rows",
            self.title
        );
        let cols = self.rows[0].len();
        ensure!(cols > 0, "heatmap '{}' has empty rows", self.title);
        for (i, row) in self.rows.iter().enumerate() {
            ensure!(
                row.len() == cols,
                "heatmap '{}' is ragged: row 0 has {cols} values but row {i} has {}",
                self.title,
                row.len()
            );
        }
        ensure!(
            self.min.is_finite() && self.max.is_finite() && self.min < self.max,
            "heatmap '{}': colour range needs finite min < max, got min = {}, max = {}",
            self.title,
            self.min,
            self.max
        );
        Ok(cols)
    }

    /// Draws the heatmap into `area`; `cols` comes from [`Heatmap::validate`].
    fn draw(&self, area: &DrawingArea<BitMapBackend<'_>, Shift>, cols: usize) -> Result<()> {
        let n_rows = self.rows.len();
        // Unit cells on f64 axes, ticks at cell centres; data row r is drawn
        // at y = n_rows - 1 - r so that row 0 is on top.
        let mut chart = ChartBuilder::on(area)
            .caption(self.title, (FONT_FAMILY, 22))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(55)
            .build_cartesian_2d(
                CellAxis {
                    cells: cols,
                    top_down: false,
                },
                CellAxis {
                    cells: n_rows,
                    top_down: true,
                },
            )
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(self.col_label)
            .y_desc(self.row_label)
            .label_style((FONT_FAMILY, 14))
            .axis_desc_style((FONT_FAMILY, 16))
            .x_label_formatter(&|v| format!("{}", v.floor()))
            .y_label_formatter(&|v| format!("{}", n_rows as f64 - 1.0 - v.floor()))
            .draw()
            .map_err(plot_err)?;

        // Size annotations to fit "0.00" in a cell; leave them out when tiny.
        let (plot_w, plot_h) = chart.plotting_area().dim_in_pixel();
        let cell_w = f64::from(plot_w) / cols as f64;
        let cell_h = f64::from(plot_h) / n_rows as f64;
        let font_px = (cell_w / 3.0).min(cell_h / 2.0).min(20.0);
        let show_text = font_px >= 7.0;
        for (r, row) in self.rows.iter().enumerate() {
            let y = (n_rows - 1 - r) as f64;
            for (c, &v) in row.iter().enumerate() {
                let x = c as f64;
                let fill = if v.is_finite() {
                    colormap((v - self.min) / (self.max - self.min))
                } else {
                    NON_FINITE_CELL
                };
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x, y), (x + 1.0, y + 1.0)],
                        fill.filled(),
                    )))
                    .map_err(plot_err)?;
                if show_text {
                    let text_color = if luminance(fill) > 0.5 { BLACK } else { WHITE };
                    let style = TextStyle::from((FONT_FAMILY, font_px).into_font())
                        .color(&text_color)
                        .pos(Pos::new(HPos::Center, VPos::Center));
                    chart
                        .draw_series(std::iter::once(Text::new(
                            format!("{v:.2}"),
                            (x + 0.5, y + 0.5),
                            style,
                        )))
                        .map_err(plot_err)?;
                }
            }
        }
        Ok(())
    }
}

/// Draws `panels` side by side, `columns` per row (e.g. one transition
/// matrix per method), as one PNG at `path` where each panel is 700x600 px.
///
/// Every panel is checked as in [`Heatmap::write_png`] before anything is
/// drawn; fails if `columns` is zero or there are no panels.
pub fn grid_png(path: &Path, columns: usize, panels: &[Heatmap]) -> Result<()> {
    ensure!(columns > 0, "heatmap grid needs at least one column");
    ensure!(!panels.is_empty(), "heatmap grid has no panels");
    let cols: Vec<usize> = panels
        .iter()
        .map(Heatmap::validate)
        .collect::<Result<_>>()?;
    let columns = columns.min(panels.len());
    let rows = panels.len().div_ceil(columns);
    let size = (
        HEATMAP_SIZE.0 * u32::try_from(columns)?,
        HEATMAP_SIZE.1 * u32::try_from(rows)?,
    );
    write_atomically(path, size, |root| {
        let areas = root.split_evenly((rows, columns));
        for ((panel, area), cols) in panels.iter().zip(&areas).zip(cols) {
            panel.draw(area, cols)?;
        }
        Ok(())
    })
    .with_context(|| format!("writing heatmap grid to {}", path.display()))
}

/// Registers the embedded font once per process.
fn ensure_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT_FAMILY, FontStyle::Normal, FONT_BYTES).is_ok()
    });
    ensure!(ok, "the embedded DejaVuSans.ttf could not be loaded");
    Ok(())
}

/// Renders `draw` onto a white `size` canvas, writes it as PNG to a temporary
/// file beside `path` and renames that into place.
fn write_atomically(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<()>,
) -> Result<()> {
    ensure_font()?;
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| anyhow!("{} is not a file path", path.display()))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
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
            root.fill(&WHITE).map_err(plot_err)?;
            draw(&root)?;
            root.present().map_err(plot_err)?;
        }
        std::fs::rename(&tmp, path)
            .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Axis range covering coordinate `coord` of every point, padded by 5% of
/// the span on each side (in log space for [`Scale::Log`]).
fn axis_range(
    series: &[Named<'_>],
    scale: Scale,
    coord: impl Fn(&(f64, f64)) -> f64,
) -> Range<f64> {
    let to_axis = |v: f64| if scale == Scale::Log { v.log10() } else { v };
    let (lo, hi) = series
        .iter()
        .flat_map(|(_, p)| p.iter())
        .map(|p| to_axis(coord(p)))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    let pad = if hi > lo {
        0.05 * (hi - lo)
    } else if scale == Scale::Log {
        0.5 // half a decade around a single value
    } else if lo == 0.0 {
        1.0
    } else {
        0.1 * lo.abs()
    };
    let (lo, hi) = (lo - pad, hi + pad);
    if scale == Scale::Log {
        10f64.powf(lo)..10f64.powf(hi)
    } else {
        lo..hi
    }
}

/// A [`LinePlot`] axis of either scale, so one drawing routine serves all
/// four scale combinations.
enum Axis {
    Linear(RangedCoordf64),
    Log(LogCoord<f64>),
}

impl Axis {
    fn new(range: Range<f64>, scale: Scale) -> Self {
        match scale {
            Scale::Linear => Self::Linear(range.into()),
            Scale::Log => Self::Log(range.log_scale().into()),
        }
    }
}

impl Ranged for Axis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        match self {
            Self::Linear(a) => a.map(value, limit),
            Self::Log(a) => a.map(value, limit),
        }
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        match self {
            Self::Linear(a) => a.key_points(hint),
            Self::Log(a) => {
                // plotters 0.3.7 emits each decade twice (once as the last
                // minor tick of the previous decade), which draws its label twice.
                let mut points = a.key_points(hint);
                points.dedup_by(|a, b| (*a - *b).abs() <= 1e-9 * b.abs());
                points
            }
        }
    }

    fn range(&self) -> Range<f64> {
        match self {
            Self::Linear(a) => a.range(),
            Self::Log(a) => a.range(),
        }
    }
}

/// Heatmap axis over `cells` unit cells spanning `0.0..cells`, with ticks at
/// cell centres, thinned so that labels do not overlap. With `top_down` the
/// thinned ticks are chosen counting from the top (row 0 is drawn at the top).
struct CellAxis {
    cells: usize,
    top_down: bool,
}

impl Ranged for CellAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let frac = value / self.cells as f64;
        limit.0 + (f64::from(limit.1 - limit.0) * frac).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        let n = self.cells;
        let step = n.div_ceil(hint.max_num_points().clamp(1, 20)).max(1);
        (0..n)
            .step_by(step)
            .map(|i| if self.top_down { n - 1 - i } else { i })
            .map(|i| i as f64 + 0.5)
            .collect()
    }

    fn range(&self) -> Range<f64> {
        0.0..self.cells as f64
    }
}

/// Minor grid density for an axis of this scale (plotters' `max_light_lines`).
fn light_lines(scale: Scale) -> usize {
    match scale {
        Scale::Linear => 5,
        Scale::Log => 1,
    }
}

/// Tick label: plain decimals for moderate magnitudes, scientific otherwise.
fn format_tick(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 {
        "0".to_string()
    } else if !(1e-3..1e5).contains(&a) {
        format!("{v:.1e}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Viridis colour for `t` in [0, 1] (clamped), linearly interpolated.
fn colormap(t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0) * (VIRIDIS.len() - 1) as f64;
    let i = (t.floor() as usize).min(VIRIDIS.len() - 2);
    let f = t - i as f64;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    let mix = |x: u8, y: u8| (f64::from(x) + f * (f64::from(y) - f64::from(x))).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Relative luminance in [0, 1] (Rec. 709 weights on sRGB values).
fn luminance(c: RGBColor) -> f64 {
    (0.2126 * f64::from(c.0) + 0.7152 * f64::from(c.1) + 0.0722 * f64::from(c.2)) / 255.0
}

/// Plotters errors borrow from the backend's error type; keep their message.
fn plot_err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("drawing failed: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh, empty directory under the system temp dir.
    fn temp_dir(name: &str) -> PathBuf {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "gtl-plot-{name}-{}-{nanos}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Checks the PNG signature and returns the IHDR width and height.
    fn png_size(path: &Path) -> (u32, u32) {
        let bytes = std::fs::read(path).unwrap();
        assert!(bytes.len() > 24, "{} is too short", path.display());
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
        assert_eq!(&bytes[12..16], b"IHDR");
        let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
        let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
        (w, h)
    }

    /// Files left in `dir` (no temporaries may remain).
    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn curve(name: &str, f: impl Fn(f64) -> f64) -> Series {
        Series {
            name: name.to_string(),
            points: (1..=20).map(|i| (f64::from(i), f(f64::from(i)))).collect(),
        }
    }

    fn plot<'a>(series: &'a [Series], x_scale: Scale, y_scale: Scale) -> LinePlot<'a> {
        LinePlot {
            title: "Training loss",
            x_label: "step",
            y_label: "loss",
            x_scale,
            y_scale,
            series,
        }
    }

    #[test]
    fn plot_line_png_all_scales() {
        let mut series = vec![
            curve("baseline", |x| 2.0 / x),
            curve("ratio", |x| 1.0 / (x * x) + 0.01),
        ];
        // Non-finite points are skipped, not fatal.
        series[0].points.push((21.0, f64::NAN));
        series[1].points.push((f64::INFINITY, 1.0));
        let dir = temp_dir("line");
        for (i, (xs, ys)) in [
            (Scale::Linear, Scale::Linear),
            (Scale::Linear, Scale::Log),
            (Scale::Log, Scale::Linear),
            (Scale::Log, Scale::Log),
        ]
        .into_iter()
        .enumerate()
        {
            // Also exercises creation of missing parent directories.
            let path = dir.join("nested").join(format!("loss{i}.png"));
            plot(&series, xs, ys).write_png(&path).unwrap();
            assert_eq!(png_size(&path), (900, 600));
        }
        // Overwriting an existing file works too.
        let path = dir.join("nested").join("loss0.png");
        plot(&series[..1], Scale::Linear, Scale::Linear)
            .write_png(&path)
            .unwrap();
        assert_eq!(png_size(&path), (900, 600));
        assert_eq!(
            entries(&dir.join("nested")),
            ["loss0.png", "loss1.png", "loss2.png", "loss3.png"]
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn plot_line_single_point_and_flat_series() {
        let dir = temp_dir("flat");
        let series = [
            Series {
                name: "one".into(),
                points: vec![(3.0, 0.5)],
            },
            Series {
                name: "empty".into(),
                points: vec![],
            },
        ];
        let path = dir.join("single.png");
        plot(&series, Scale::Log, Scale::Log)
            .write_png(&path)
            .unwrap();
        assert_eq!(png_size(&path), (900, 600));
        let flat = [curve("zero", |_| 0.0)];
        let path = dir.join("flat.png");
        plot(&flat, Scale::Linear, Scale::Linear)
            .write_png(&path)
            .unwrap();
        assert_eq!(png_size(&path), (900, 600));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn plot_log_scale_rejects_non_positive() {
        let dir = temp_dir("log");
        let path = dir.join("log.png");
        let series = [curve("fine", |x| x), curve("has-zero", |x| x - 1.0)];
        let err = plot(&series, Scale::Linear, Scale::Log)
            .write_png(&path)
            .unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("has-zero"), "{msg}");
        assert!(msg.contains("log-scale y"), "{msg}");
        let series = [Series {
            name: "neg-x".into(),
            points: vec![(-1.0, 1.0), (1.0, 2.0)],
        }];
        let msg = format!(
            "{:#}",
            plot(&series, Scale::Log, Scale::Linear)
                .write_png(&path)
                .unwrap_err()
        );
        assert!(
            msg.contains("neg-x") && msg.contains("log-scale x"),
            "{msg}"
        );
        assert!(!path.exists());
        assert!(entries(&dir).is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn plot_without_finite_points_is_refused() {
        let dir = temp_dir("nan");
        let path = dir.join("nan.png");
        let series = [
            curve("nan", |_| f64::NAN),
            Series {
                name: "inf".into(),
                points: vec![(f64::INFINITY, 1.0)],
            },
        ];
        let msg = format!(
            "{:#}",
            plot(&series, Scale::Linear, Scale::Linear)
                .write_png(&path)
                .unwrap_err()
        );
        assert!(msg.contains("no series has a finite point"), "{msg}");
        let msg = format!(
            "{:#}",
            plot(&[], Scale::Linear, Scale::Linear)
                .write_png(&path)
                .unwrap_err()
        );
        assert!(msg.contains("nothing to draw"), "{msg}");
        assert!(entries(&dir).is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn transition_matrix(n: usize, shift: f64) -> Vec<Vec<f64>> {
        (0..n)
            .map(|i| {
                let raw: Vec<f64> = (0..n)
                    .map(|j| 1.0 / (1.0 + (i as f64 - j as f64 - shift).abs()))
                    .collect();
                let sum: f64 = raw.iter().sum();
                raw.into_iter().map(|v| v / sum).collect()
            })
            .collect()
    }

    fn heatmap<'a>(title: &'a str, rows: &'a [Vec<f64>]) -> Heatmap<'a> {
        Heatmap::transition(title, rows)
    }

    #[test]
    fn plot_heatmap_png() {
        let dir = temp_dir("heat");
        let mut rows = transition_matrix(5, 0.0);
        rows[4][4] = f64::NAN; // drawn grey, not an error
        let path = dir.join("p.png");
        heatmap("P", &rows).write_png(&path).unwrap();
        assert_eq!(png_size(&path), (700, 600));
        // Rectangular and 1x1 matrices work as well.
        let wide = vec![vec![0.1, 0.5, 0.9]; 2];
        let path = dir.join("wide.png");
        heatmap("wide", &wide).write_png(&path).unwrap();
        assert_eq!(png_size(&path), (700, 600));
        let one = vec![vec![2.0]];
        heatmap("one", &one)
            .write_png(&dir.join("one.png"))
            .unwrap();
        assert_eq!(entries(&dir), ["one.png", "p.png", "wide.png"]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn plot_heatmap_rejects_bad_input() {
        let dir = temp_dir("ragged");
        let path = dir.join("bad.png");
        let ragged = vec![vec![0.1, 0.2], vec![0.3]];
        let msg = format!("{:#}", heatmap("R", &ragged).write_png(&path).unwrap_err());
        assert!(msg.contains("ragged") && msg.contains("row 1"), "{msg}");
        let msg = format!("{:#}", heatmap("E", &[]).write_png(&path).unwrap_err());
        assert!(msg.contains("no rows"), "{msg}");
        let ok = vec![vec![0.5]];
        let flat = Heatmap {
            min: 1.0,
            max: 1.0,
            ..heatmap("F", &ok)
        };
        let msg = format!("{:#}", flat.write_png(&path).unwrap_err());
        assert!(msg.contains("min < max"), "{msg}");
        // A bad panel fails the whole grid before anything is written.
        let good = transition_matrix(3, 1.0);
        let panels = [heatmap("good", &good), heatmap("R", &ragged)];
        let msg = format!("{:#}", grid_png(&path, 2, &panels).unwrap_err());
        assert!(msg.contains("ragged"), "{msg}");
        assert!(grid_png(&path, 0, &panels[..1]).is_err());
        assert!(grid_png(&path, 2, &[]).is_err());
        assert!(entries(&dir).is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn plot_heatmap_grid_png() {
        let dir = temp_dir("grid");
        let mats: Vec<Vec<Vec<f64>>> = (0..3).map(|k| transition_matrix(4, f64::from(k))).collect();
        let names = ["exact", "learned", "ratio"];
        let panels: Vec<Heatmap> = names
            .iter()
            .zip(&mats)
            .map(|(n, m)| heatmap(n, m))
            .collect();
        let path = dir.join("grid.png");
        grid_png(&path, 2, &panels).unwrap();
        assert_eq!(png_size(&path), (1400, 1200));
        // More columns than panels: one row, as wide as the panels.
        grid_png(&path, 5, &panels).unwrap();
        assert_eq!(png_size(&path), (2100, 600));
        assert_eq!(entries(&dir), ["grid.png"]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn plot_helpers() {
        assert_eq!(format_tick(0.0), "0");
        assert_eq!(format_tick(0.25), "0.25");
        assert_eq!(format_tick(100.0), "100");
        assert_eq!(format_tick(1e-5), "1.0e-5");
        assert_eq!(colormap(0.0), RGBColor(68, 1, 84));
        assert_eq!(colormap(1.0), RGBColor(253, 231, 37));
        assert_eq!(colormap(-3.0), colormap(0.0));
        assert_eq!(colormap(f64::INFINITY), colormap(1.0));
        let series = [("s", vec![(1.0, 10.0), (3.0, 1000.0)])];
        let x = axis_range(&series, Scale::Linear, |p| p.0);
        assert!(
            (x.start - 0.9).abs() < 1e-12 && (x.end - 3.1).abs() < 1e-12,
            "{x:?}"
        );
        let y = axis_range(&series, Scale::Log, |p| p.1);
        assert!((y.start - 10f64.powf(0.9)).abs() < 1e-9, "{y:?}");
        assert!((y.end - 10f64.powf(3.1)).abs() < 1e-6, "{y:?}");
    }
}
