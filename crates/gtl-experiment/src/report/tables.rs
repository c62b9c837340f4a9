//! The report's tables: results per setting and method, ratio error, γ fit, stage times.

use std::fmt::Write as _;

use gtl_eval::{Cell, ERROR_COLUMNS, MarkovScores, SequenceStats, Table};

use super::{Metrics, TextScores};

/// The per-setting, per-method table: the exact scores of a Markov task, the text scores of a
/// text task, the DNA scores of a DNA task.
pub fn results_table(metrics: &Metrics) -> Table {
    if metrics.settings.iter().any(|s| s.text_reference.is_some()) {
        return text_results_table(metrics);
    }
    if metrics.settings.iter().any(|s| s.dna_reference.is_some()) {
        return super::dna::dna_results_table(metrics);
    }
    let mut table = Table::new([
        "setting",
        "method",
        "gamma",
        "mean_diagonal",
        "transition_mean_error",
        "transition_max_error",
        "nll_target",
        "nll_source",
        "tv",
        "memorised",
        "distinct",
        "trained_parameters",
        "train_seconds",
        "sample_seconds",
        "ratio_rows_per_sample",
    ]);
    for s in &metrics.settings {
        for m in &s.methods {
            let Some(scores) = &m.scores else { continue };
            let head = [
                s.label.clone().into(),
                m.method.name().into(),
                m.gamma.into(),
            ];
            let cost = [
                m.trained_parameters.into(),
                m.train_seconds.into(),
                m.sample_seconds.into(),
                m.ratio_rows_per_sample.into(),
            ];
            table.push(
                head.into_iter()
                    .chain(sample_cells(scores, &m.sequences))
                    .chain(cost),
            );
        }
        if let Some(exact) = &s.exact_target {
            let head = [
                s.label.clone().into(),
                EXACT_TARGET_ROW.into(),
                Cell::Missing,
            ];
            table.push(
                head.into_iter()
                    .chain(sample_cells(&exact.scores, &exact.sequences))
                    .chain([Cell::Missing, Cell::Missing, Cell::Missing, Cell::Missing]),
            );
        }
    }
    table
}

/// The columns of the results table that score samples.
fn sample_cells(scores: &MarkovScores, sequences: &SequenceStats) -> [Cell; 8] {
    [
        scores.mean_diagonal.into(),
        scores.transition_mean_error.into(),
        scores.transition_max_error.into(),
        scores.nll_target.into(),
        scores.nll_source.into(),
        scores.tv.into(),
        sequences.memorised.into(),
        sequences.distinct_sequences.into(),
    ]
}

/// The results table's name for exact samples of the target chain (the reference every
/// method's NLL and memorisation are read against).
pub const EXACT_TARGET_ROW: &str = "exact target samples";

/// The text scores of every setting and method, with the real held-out text of each domain
/// as reference rows.
fn text_results_table(metrics: &Metrics) -> Table {
    let mut table = Table::new([
        "setting",
        "method",
        "gamma",
        "p_target",
        "p_target_low",
        "p_target_high",
        "mauve",
        "perplexity",
        "distinct_2",
        "repetition",
        "memorised",
        "nelbo_target",
        "trained_parameters",
        "train_seconds",
        "sample_seconds",
        "ratio_rows_per_sample",
    ]);
    let row = |setting: &str, name: &str, t: &TextScores| -> Vec<Cell> {
        vec![
            setting.into(),
            name.into(),
            Cell::Missing,
            t.p_target.mean.into(),
            t.p_target.low.into(),
            t.p_target.high.into(),
            t.mauve.into(),
            t.perplexity.into(),
            t.distinct[1].into(),
            t.repetition.into(),
            t.memorised.into(),
        ]
    };
    for s in &metrics.settings {
        if let Some(reference) = &s.text_reference {
            for (name, scores) in [
                ("real target (held out)", &reference.target),
                ("real source (held out)", &reference.source),
            ] {
                let mut cells = row(&s.label, name, scores);
                cells.extend([
                    Cell::Missing,
                    Cell::Missing,
                    Cell::Missing,
                    Cell::Missing,
                    Cell::Missing,
                ]);
                table.push(cells);
            }
        }
        for m in &s.methods {
            let Some(t) = &m.text else { continue };
            let mut cells = row(&s.label, m.method.name(), t);
            cells[2] = m.gamma.into();
            cells.extend([
                Cell::from(m.nelbo_target),
                m.trained_parameters.into(),
                m.train_seconds.into(),
                m.sample_seconds.into(),
                m.ratio_rows_per_sample.into(),
            ]);
            table.push(cells);
        }
    }
    table
}

pub(super) fn ratio_table(metrics: &Metrics) -> Table {
    let mut table = Table::new(std::iter::once("setting").chain(ERROR_COLUMNS));
    for s in &metrics.settings {
        for b in &s.ratio.bins {
            table.push(std::iter::once(s.label.clone().into()).chain(b.cells()));
        }
    }
    table
}

/// Every stage's wall time.
pub fn stage_table(metrics: &Metrics) -> Table {
    let mut table = Table::new(["stage", "seconds", "cached"]);
    for s in &metrics.stages {
        table.push([
            s.label.clone().into(),
            s.seconds.into(),
            (if s.cached { "yes" } else { "no" }).into(),
        ]);
    }
    table
}

/// Sentences comparing GTL with full fine-tuning at each setting, from the numbers.
pub fn comparisons(metrics: &Metrics) -> String {
    let mut text = String::new();
    for s in &metrics.settings {
        let (Some(gtl), Some(fine)) = (s.method("gtl"), s.method("full-finetune")) else {
            continue;
        };
        if let (Some(g), Some(f)) = (&gtl.scores, &fine.scores) {
            let better = if g.transition_mean_error < f.transition_mean_error {
                "GTL is closer to the target"
            } else {
                "full fine-tuning is closer to the target"
            };
            let _ = writeln!(
                text,
                "- {}: GTL mean diagonal {:.3} (transition error {:.4}), full fine-tune {:.3} \
                 ({:.4}): {better}.",
                s.label,
                g.mean_diagonal,
                g.transition_mean_error,
                f.mean_diagonal,
                f.transition_mean_error,
            );
        }
        if let (Some(g), Some(f)) = (&gtl.text, &fine.text) {
            let p = |t: &TextScores| {
                format!(
                    "{:.3} [{:.3}, {:.3}]",
                    t.p_target.mean, t.p_target.low, t.p_target.high
                )
            };
            let separated = g.p_target.low > f.p_target.high || f.p_target.low > g.p_target.high;
            let _ = writeln!(
                text,
                "- {}: P(target) GTL {}, full fine-tune {} ({}); MAUVE {:.3} against {:.3}.",
                s.label,
                p(g),
                p(f),
                if separated {
                    "intervals apart"
                } else {
                    "intervals overlap"
                },
                g.mauve,
                f.mauve
            );
        }
    }
    text
}

/// The all-t ratio error of each setting.
pub fn ratio_summary(metrics: &Metrics) -> Table {
    let mut table = Table::new([
        "setting",
        "estimator",
        "MSE (target)",
        "error variance (target)",
        "exact variance (target)",
        "MSE (source)",
        "error variance (source)",
    ]);
    for s in &metrics.settings {
        let all = |domain: &str| {
            s.ratio
                .bins
                .iter()
                .find(|b| b.domain == domain && b.is_overall())
        };
        let (t, src) = (all("target"), all("source"));
        table.push([
            s.label.clone().into(),
            s.ratio.estimator.clone().into(),
            Cell::from(t.map(|b| b.mse)),
            Cell::from(t.map(|b| b.error_variance)),
            Cell::from(t.map(|b| b.exact_variance)),
            Cell::from(src.map(|b| b.mse)),
            Cell::from(src.map(|b| b.error_variance)),
        ]);
    }
    table
}

/// Each setting's γ grid scores (the samples column only when a setting used the samples
/// criterion).
pub fn gamma_table(metrics: &Metrics) -> Table {
    let by_samples = metrics
        .settings
        .iter()
        .any(|s| s.gamma_fit.as_ref().is_some_and(|f| f.samples.is_some()));
    let mut columns = vec!["setting", "γ", "held-out log-likelihood"];
    if by_samples {
        columns.push("samples n-gram log-likelihood");
    }
    let scored = metrics.settings.iter().any(|s| !s.gamma_samples.is_empty());
    if scored {
        columns.extend([
            "samples' mean diagonal",
            "samples' NLL target",
            "samples memorised",
        ]);
    }
    columns.push("chosen");
    let mut table = Table::new(columns);
    for s in &metrics.settings {
        let Some(fit) = &s.gamma_fit else { continue };
        let chosen = fit.chosen();
        for (i, (&g, &l)) in fit
            .likelihood
            .gammas
            .iter()
            .zip(&fit.likelihood.log_likelihood)
            .enumerate()
        {
            let mut row: Vec<Cell> = vec![s.label.clone().into(), g.into(), l.into()];
            if by_samples {
                row.push(match &fit.samples {
                    Some(samples) => samples.log_likelihood[i].into(),
                    None => "–".into(),
                });
            }
            if scored {
                match s.gamma_samples.iter().find(|x| x.gamma == g) {
                    Some(x) => row.extend([
                        x.scores.mean_diagonal.into(),
                        x.scores.nll_target.into(),
                        x.sequences.memorised.into(),
                    ]),
                    None => row.extend([Cell::Missing, Cell::Missing, Cell::Missing]),
                }
            }
            row.push((if chosen == Some(g) { "yes" } else { "" }).into());
            table.push(row);
        }
    }
    table
}

/// Every setting each fine-tuning baseline tried, with its validation NELBO on the target
/// validation split; empty when no baseline searched.
pub fn search_table(metrics: &Metrics) -> Table {
    let mut table = Table::new([
        "setting",
        "method",
        "learning rate",
        "head",
        "validation NELBO",
        "steps",
        "stopped early",
        "seconds",
        "chosen",
    ]);
    for s in &metrics.settings {
        for m in s.methods.iter().filter(|m| m.trials.len() > 1) {
            for t in &m.trials {
                table.push([
                    s.label.clone().into(),
                    m.method.name().into(),
                    format!("{:e}", t.learning_rate).into(),
                    t.head.name().into(),
                    Cell::from(t.validation_nelbo),
                    t.steps.into(),
                    (if t.stopped_early { "yes" } else { "" }).into(),
                    t.seconds.into(),
                    (if t.chosen { "yes" } else { "" }).into(),
                ]);
            }
        }
    }
    table
}
