//! The report's parts for a DNA task: the results table, the judge and its confusion matrix,
//! the checks of the targets of docs/dna.md, and the plots against the target size.

use std::fmt::Write as _;
use std::path::Path;

use gtl_eval::plot::{ConfusionMatrix, LinePlot, ReferenceLine, Scale};
use gtl_eval::{Cell, MeanInterval, Table};

use super::plots::method_lines;
use super::{DnaScores, Metrics, SPECTRUM_KS};
use crate::Result;
use crate::config::{AmbiguityPolicy, DnaData};

/// NELBO per token (nats) in bits per base (one base per token).
fn bits(nats: Option<f64>) -> Option<f64> {
    nats.map(|n| n / std::f64::consts::LN_2)
}

/// Every setting's DNA scores by method, with the real held-out windows of each domain as
/// reference rows.
pub(super) fn dna_results_table(metrics: &Metrics) -> Table {
    let mut columns: Vec<String> = [
        "setting",
        "method",
        "gamma",
        "target_share",
        "target_share_low",
        "target_share_high",
        "js6",
        "js6_low",
        "js6_high",
    ]
    .map(String::from)
    .to_vec();
    columns.extend((1..=SPECTRUM_KS).map(|k| format!("js_k{k}")));
    columns.extend(
        [
            "gc_mean",
            "gc_ks",
            "lcs_mean",
            "lcs_max",
            "nelbo_target_bits_per_base",
            "trained_parameters",
            "train_seconds",
            "sample_seconds",
        ]
        .map(String::from),
    );
    let mut table = Table::new(columns);
    let row = |setting: &str, name: &str, gamma: Cell, d: &DnaScores| -> Vec<Cell> {
        let mut cells = vec![
            setting.into(),
            name.into(),
            gamma,
            d.target_share.mean.into(),
            d.target_share.low.into(),
            d.target_share.high.into(),
            d.js6.mean.into(),
            d.js6.low.into(),
            d.js6.high.into(),
        ];
        cells.extend(d.kmer_js.iter().map(|&v| Cell::from(v)));
        cells.extend([
            d.gc_mean.into(),
            d.gc_ks.into(),
            d.lcs.mean.into(),
            d.lcs_max.into(),
        ]);
        cells
    };
    for s in &metrics.settings {
        if let Some(reference) = &s.dna_reference {
            for (name, scores) in [
                ("real target (held out)", &reference.target),
                ("real source (held out)", &reference.source),
            ] {
                let mut cells = row(&s.label, name, Cell::Missing, scores);
                cells.extend([Cell::Missing, Cell::Missing, Cell::Missing, Cell::Missing]);
                table.push(cells);
            }
        }
        for m in &s.methods {
            let Some(d) = &m.dna else { continue };
            let mut cells = row(&s.label, m.method.name(), m.gamma.into(), d);
            cells.extend([
                Cell::from(bits(m.nelbo_target)),
                m.trained_parameters.into(),
                m.train_seconds.into(),
                m.sample_seconds.into(),
            ]);
            table.push(cells);
        }
    }
    table
}

/// The short table of the report: per setting and method, the target share and k = 6
/// distance with their intervals, GC, memorisation and NELBO.
pub(super) fn dna_main_table(metrics: &Metrics) -> Table {
    let mut table = Table::new([
        "setting",
        "method",
        "target share [95 % CI]",
        "JS k=6 [95 % CI]",
        "GC mean (KS)",
        "LCS mean (max)",
        "NELBO bits/base",
    ]);
    let interval = |m: &MeanInterval| format!("{:.3} [{:.3}, {:.3}]", m.mean, m.low, m.high);
    let row = |setting: &str, name: &str, d: &DnaScores, nelbo: Option<f64>| -> Vec<Cell> {
        vec![
            setting.into(),
            name.into(),
            interval(&d.target_share).into(),
            format!("{:.4} [{:.4}, {:.4}]", d.js6.mean, d.js6.low, d.js6.high).into(),
            format!("{:.3} ({:.3})", d.gc_mean, d.gc_ks).into(),
            format!("{:.1} ({})", d.lcs.mean, d.lcs_max).into(),
            Cell::from(bits(nelbo)),
        ]
    };
    for s in &metrics.settings {
        if let Some(r) = &s.dna_reference {
            table.push(row(&s.label, "real target (held out)", &r.target, None));
            table.push(row(&s.label, "real source (held out)", &r.source, None));
        }
        for m in &s.methods {
            if let Some(d) = &m.dna {
                table.push(row(&s.label, m.method.name(), d, m.nelbo_target));
            }
        }
    }
    table
}

/// The task line, the judge's accuracy and its confusion matrix.
pub(super) fn dna_section(spec: &DnaData, metrics: &Metrics, guidance: &str) -> String {
    let placement = match &spec.anchor {
        Some(anchor) => format!(
            "one per sequence, starting {} bases after the first match of {anchor}",
            spec.anchor_offset
        ),
        None => format!("training windows every {} bases", spec.stride),
    };
    let ambiguity = match spec.ambiguity {
        AmbiguityPolicy::DropWindow => "windows with an ambiguity code dropped",
        AmbiguityPolicy::Resample => "ambiguity codes resampled",
    };
    let mut text = format!(
        "DNA: source {:?}, target {:?} (taxa at rank {:?}) from `{}`, windows of L = {} bases \
         ({placement}), 4 tokens (A, C, G, T; {ambiguity}). {guidance}\n\n",
        spec.source,
        spec.target,
        spec.rank,
        spec.fasta.display(),
        spec.length,
    );
    text.push_str("## Results\n\nEvery sample is a window of L bases. target share: share of windows the phylum judge (RDP naive Bayes on 8-mers, trained on full-length held-out sequences of every taxon) assigns to a target taxon, 95 % bootstrap interval; JS k=6: Jensen–Shannon divergence (bits) of the 6-mer spectrum against held-out target windows, 95 % interval from its bootstrap standard error over windows (results.csv has k = 1…6); GC: mean GC content and the Kolmogorov–Smirnov distance of its distribution to held-out target windows; LCS: longest common substring (bases) of a window with the target sequences the methods saw, mean and maximum; NELBO: the denoiser's bound in bits per base on held-out target windows (denoiser-based methods). The real held-out rows score as many real windows as there are samples, the same way; no method trained on them.\n\n");
    let Some(r) = metrics
        .settings
        .iter()
        .find_map(|s| s.dna_reference.as_ref())
    else {
        return text;
    };
    let _ = writeln!(
        text,
        "The judge: trained on {} full-length held-out sequences; on {} held-out real windows \
         of L bases of the other held-out sequences its accuracy is {:.3} and its balanced \
         accuracy {:.3} (chance {:.3}). Confusion matrix (rows: true taxon, columns: assigned):\n",
        r.judge_sequences,
        r.judge_windows,
        r.judge_accuracy,
        r.judge_balanced_accuracy,
        1.0 / r.labels.len().max(1) as f64,
    );
    let mut confusion =
        Table::new(std::iter::once("true \\ assigned".to_string()).chain(r.labels.iter().cloned()));
    for (label, row) in r.labels.iter().zip(&r.confusion) {
        confusion.push(
            std::iter::once(Cell::from(label.clone())).chain(row.iter().map(|&c| Cell::from(c))),
        );
    }
    text.push_str(&confusion.to_markdown(0));
    text.push('\n');
    text
}

/// Whether `a` is above `b` with intervals apart.
fn above(a: &MeanInterval, b: &MeanInterval) -> &'static str {
    if a.low > b.high {
        "yes (intervals apart)"
    } else if a.mean > b.mean {
        "higher, intervals overlap"
    } else {
        "no"
    }
}

/// Whether `a` is below `b` with intervals apart.
fn below(a: &MeanInterval, b: &MeanInterval) -> &'static str {
    if a.high < b.low {
        "yes (intervals apart)"
    } else if a.mean < b.mean {
        "lower, intervals overlap"
    } else {
        "no"
    }
}

/// The targets of docs/dna.md checked from the numbers: GTL against each other method on
/// target share (higher is better) and k = 6 distance (lower is better), and GTL's
/// memorisation against real held-out windows.
pub(super) fn dna_targets(metrics: &Metrics) -> String {
    let mut table = Table::new([
        "setting",
        "GTL against",
        "target share higher?",
        "JS k=6 lower?",
    ]);
    let mut memorisation = String::new();
    for s in &metrics.settings {
        let Some(gtl) = s.method("gtl").and_then(|m| m.dna.as_ref()) else {
            continue;
        };
        for m in &s.methods {
            let Some(other) = m.dna.as_ref().filter(|_| m.method.name() != "gtl") else {
                continue;
            };
            table.push([
                s.label.clone().into(),
                m.method.name().into(),
                Cell::from(above(&gtl.target_share, &other.target_share)),
                Cell::from(below(&gtl.js6, &other.js6)),
            ]);
        }
        if let Some(r) = &s.dna_reference {
            let _ = writeln!(
                memorisation,
                "- {}: GTL's mean LCS with the target sequences {:.1} bases [{:.1}, {:.1}] \
                 (max {}), real held-out target windows {:.1} [{:.1}, {:.1}] (max {}): {}.",
                s.label,
                gtl.lcs.mean,
                gtl.lcs.low,
                gtl.lcs.high,
                gtl.lcs_max,
                r.target.lcs.mean,
                r.target.lcs.low,
                r.target.lcs.high,
                r.target.lcs_max,
                if gtl.lcs.low > r.target.lcs.high {
                    "more than real windows (intervals apart)"
                } else {
                    "no more than real windows"
                }
            );
        }
    }
    format!("{}\n{memorisation}", table.to_markdown(0))
}

/// The plots of a DNA task: target share and k = 6 distance against the target size with
/// the real held-out target windows as reference, and the judge's confusion matrix.
pub(super) fn dna_plots(
    metrics: &Metrics,
    dir: &Path,
    axis: &str,
    x_scale: Scale,
) -> Result<Vec<String>> {
    let reference = metrics
        .settings
        .iter()
        .find_map(|s| s.dna_reference.as_ref());
    let mut written = Vec::new();
    type Value = fn(&DnaScores) -> MeanInterval;
    let plots: [(&str, &str, &str, Value); 3] = [
        (
            "target-share.png",
            "Share of samples the judge assigns to the target phylum (95 % intervals)",
            "target share",
            |d| d.target_share,
        ),
        (
            "kmer-js.png",
            "Jensen-Shannon divergence of 6-mer spectra to held-out target windows",
            "JS divergence (bits)",
            |d| d.js6,
        ),
        (
            "lcs.png",
            "Mean longest common substring with the target training sequences",
            "bases",
            |d| d.lcs,
        ),
    ];
    for (file, title, y_label, value) in plots {
        let mut series = method_lines(metrics, |m| {
            m.dna.as_ref().map_or(f64::NAN, |d| value(d).mean)
        });
        for line in &mut series {
            let intervals: Vec<(f64, f64)> = metrics
                .settings
                .iter()
                .filter_map(|s| {
                    let m = s.methods.iter().find(|m| m.method.name() == line.name)?;
                    let v = value(m.dna.as_ref()?);
                    Some((v.low, v.high))
                })
                .collect();
            if intervals.len() == line.points.len() {
                line.intervals = Some(intervals);
            }
        }
        let references: Vec<ReferenceLine> = reference
            .map(|r| {
                let v = value(&r.target).mean;
                vec![ReferenceLine::new(format!("real target windows {v:.3}"), v)]
            })
            .unwrap_or_default();
        LinePlot {
            title,
            x_label: axis,
            y_label,
            x_scale,
            series: &series,
            references: &references,
            ..LinePlot::default()
        }
        .write_png(&dir.join(file))?;
        written.push(file.to_string());
    }
    if let Some(r) = reference {
        let counts: Vec<Vec<u64>> = r
            .confusion
            .iter()
            .map(|row| row.iter().map(|&c| c as u64).collect())
            .collect();
        ConfusionMatrix {
            title: "Phylum judge on held-out real windows",
            labels: &r.labels,
            counts: &counts,
            true_label: "true phylum",
            predicted_label: "assigned phylum",
            ..ConfusionMatrix::default()
        }
        .write_png(&dir.join("judge-confusion.png"))?;
        written.push("judge-confusion.png".to_string());
    }
    Ok(written)
}
