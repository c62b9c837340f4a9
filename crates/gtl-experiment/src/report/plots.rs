//! The report's plots: transition matrices of every method (one row of panels per
//! setting), transition error and mean diagonal against the varied value with the target's
//! value as a reference line, and the ratio error against t.

use std::path::Path;

use gtl_eval::plot::{Heatmap, HeatmapGrid, LinePlot, PanelGroup, ReferenceLine, Scale, Series};

use super::{MethodResult, Metrics, TextScores};
use crate::Result;

/// The axis label of the target size in plots and sweep tables.
pub const TARGET_SIZE_AXIS: &str = "target sequences n (training + validation)";

/// The mean of a matrix's diagonal.
fn mean_diagonal(rows: &[Vec<f64>]) -> f64 {
    rows.iter().enumerate().map(|(i, r)| r[i]).sum::<f64>() / rows.len().max(1) as f64
}

/// One row of heatmaps per setting: the target chain, then every method (Markov tasks).
fn heatmaps(metrics: &Metrics, path: &Path) -> Result<()> {
    let titles: Vec<Vec<String>> = metrics
        .settings
        .iter()
        .map(|s| {
            std::iter::once("target chain".to_string())
                .chain(s.methods.iter().filter_map(|m| {
                    let scores = m.scores.as_ref()?;
                    Some(format!("{}: diag {:.3}", m.method, scores.mean_diagonal))
                }))
                .collect()
        })
        .collect();
    let groups: Vec<PanelGroup> = metrics
        .settings
        .iter()
        .zip(&titles)
        .filter_map(|(s, titles)| {
            let matrices = std::iter::once(s.target_transition.as_ref()?).chain(
                s.methods
                    .iter()
                    .filter_map(|m| m.scores.as_ref().map(|x| &x.transition)),
            );
            Some(PanelGroup {
                heading: s.label.clone(),
                panels: matrices
                    .zip(titles)
                    .map(|(rows, title)| Heatmap::transition(title, rows))
                    .collect(),
            })
        })
        .collect();
    HeatmapGrid {
        title: "Transition matrices of the samples (rows: from state, columns: to state)",
        groups: &groups,
        ..HeatmapGrid::default()
    }
    .write_png(path)?;
    Ok(())
}

/// A line per method of `value` against the settings' varied value.
pub(super) fn method_lines(metrics: &Metrics, value: impl Fn(&MethodResult) -> f64) -> Vec<Series> {
    let mut names = Vec::new();
    for s in &metrics.settings {
        for m in &s.methods {
            if !names.contains(&m.method) {
                names.push(m.method);
            }
        }
    }
    names
        .iter()
        .map(|&name| {
            Series::new(
                name.name(),
                metrics.settings.iter().filter_map(|s| {
                    let m = s.methods.iter().find(|m| m.method == name)?;
                    Some((s.value, value(m)))
                }),
            )
        })
        .collect()
}

/// The ratio error (target domain) against t, one line per setting.
fn ratio_lines(metrics: &Metrics, domain: &str) -> Vec<Series> {
    metrics
        .settings
        .iter()
        .map(|s| {
            Series::new(
                s.label.clone(),
                s.ratio
                    .bins
                    .iter()
                    .filter(|b| b.domain == domain && !b.is_overall() && b.count > 0)
                    .map(|b| (0.5 * (b.t_low + b.t_high), b.mse)),
            )
        })
        .collect()
}

/// Writes the plots into `dir`, with `axis` the label of the varied value; returns their
/// file names.
pub fn plots(metrics: &Metrics, dir: &Path, axis: &str, x_scale: Scale) -> Result<Vec<String>> {
    std::fs::create_dir_all(dir).map_err(|e| crate::ExperimentError::io(dir, e))?;
    if metrics.settings.iter().any(|s| s.text_reference.is_some()) {
        return text_plots(metrics, dir, axis, x_scale);
    }
    if metrics.settings.iter().any(|s| s.dna_reference.is_some()) {
        return super::dna::dna_plots(metrics, dir, axis, x_scale);
    }
    let mut written = Vec::new();
    heatmaps(metrics, &dir.join("transition-matrices.png"))?;
    written.push("transition-matrices.png".to_string());
    if metrics.settings.len() > 1 {
        // The target's own mean diagonal, when every setting shares one target.
        let targets: Vec<f64> = metrics
            .settings
            .iter()
            .filter_map(|s| s.target_transition.as_deref().map(mean_diagonal))
            .collect();
        let shared_target = targets.windows(2).all(|w| (w[0] - w[1]).abs() < 1e-12);
        let diagonal_reference = [ReferenceLine::new(
            format!("target chain {:.3}", targets[0]),
            targets[0],
        )];
        for (file, title, y_label, value, references) in [
            (
                "transition-error.png",
                "Mean |transition error| against the target chain",
                "mean absolute error",
                (|m: &MethodResult| {
                    m.scores
                        .as_ref()
                        .map_or(f64::NAN, |s| s.transition_mean_error)
                }) as fn(&MethodResult) -> f64,
                &[][..],
            ),
            (
                "mean-diagonal.png",
                "Mean diagonal of the sampled transition matrix",
                "mean diagonal",
                |m: &MethodResult| m.scores.as_ref().map_or(f64::NAN, |s| s.mean_diagonal),
                if shared_target {
                    &diagonal_reference[..]
                } else {
                    &[][..]
                },
            ),
        ] {
            LinePlot {
                title,
                x_label: axis,
                y_label,
                x_scale,
                series: &method_lines(metrics, value),
                references,
                ..LinePlot::default()
            }
            .write_png(&dir.join(file))?;
            written.push(file.to_string());
        }
    }
    let lines = ratio_lines(metrics, "target");
    if lines.iter().any(|l| l.points.iter().any(|p| p.1 > 0.0)) {
        LinePlot {
            title: "Ratio error on noised target sequences: MSE of log h_t by t",
            x_label: "t (bin centre)",
            y_label: "MSE against the exact log h_t",
            y_scale: Scale::Log,
            series: &lines,
            dodge: false,
            ..LinePlot::default()
        }
        .write_png(&dir.join("ratio-error.png"))?;
        written.push("ratio-error.png".to_string());
    }
    Ok(written)
}

/// The plots of a text task: P(target) with its intervals, MAUVE and perplexity against the
/// varied value, with the real held-out target text as the reference line.
fn text_plots(metrics: &Metrics, dir: &Path, axis: &str, x_scale: Scale) -> Result<Vec<String>> {
    let reference = metrics
        .settings
        .iter()
        .find_map(|s| s.text_reference.as_ref());
    let mut written = Vec::new();
    type Value = fn(&TextScores) -> f64;
    let plots: [(&str, &str, &str, Value, Scale); 3] = [
        (
            "p-target.png",
            "Mean P(target | sample) of the held-out judge (95 % intervals)",
            "mean P(target)",
            |t| t.p_target.mean,
            Scale::Linear,
        ),
        (
            "mauve.png",
            "MAUVE on hashed TF-IDF features against held-out target text",
            "MAUVE",
            |t| t.mauve,
            Scale::Linear,
        ),
        (
            "perplexity.png",
            "Perplexity under the reference target-side language model",
            "perplexity per word",
            |t| t.perplexity,
            Scale::Log,
        ),
    ];
    for (file, title, y_label, value, y_scale) in plots {
        let mut series = method_lines(metrics, |m| m.text.as_ref().map_or(f64::NAN, value));
        if file == "p-target.png" {
            for line in &mut series {
                let intervals: Vec<(f64, f64)> = metrics
                    .settings
                    .iter()
                    .filter_map(|s| {
                        let m = s.methods.iter().find(|m| m.method.name() == line.name)?;
                        let t = m.text.as_ref()?;
                        Some((t.p_target.low, t.p_target.high))
                    })
                    .collect();
                if intervals.len() == line.points.len() {
                    line.intervals = Some(intervals);
                }
            }
        }
        let references: Vec<ReferenceLine> = reference
            .map(|r| {
                vec![ReferenceLine::new(
                    format!("real target text {:.3}", value(&r.target)),
                    value(&r.target),
                )]
            })
            .unwrap_or_default();
        LinePlot {
            title,
            x_label: axis,
            y_label,
            x_scale,
            y_scale,
            series: &series,
            references: &references,
            ..LinePlot::default()
        }
        .write_png(&dir.join(file))?;
        written.push(file.to_string());
    }
    Ok(written)
}
