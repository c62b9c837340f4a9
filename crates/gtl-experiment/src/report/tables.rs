//! The report's tables: results per setting and method, ratio error, γ fit, stage times.

use std::fmt::Write as _;

use gtl_eval::{Cell, ERROR_COLUMNS, Table};

use super::Metrics;

/// The per-setting, per-method table.
pub fn results_table(metrics: &Metrics) -> Table {
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
            table.push([
                s.label.clone().into(),
                m.method.name().into(),
                m.gamma.into(),
                m.scores.mean_diagonal.into(),
                m.scores.transition_mean_error.into(),
                m.scores.transition_max_error.into(),
                m.scores.nll_target.into(),
                m.scores.nll_source.into(),
                m.scores.tv.into(),
                m.sequences.memorised.into(),
                m.sequences.distinct_sequences.into(),
                m.trained_parameters.into(),
                m.train_seconds.into(),
                m.sample_seconds.into(),
                m.ratio_rows_per_sample.into(),
            ]);
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
        let better = if gtl.scores.transition_mean_error < fine.scores.transition_mean_error {
            "GTL is closer to the target"
        } else {
            "full fine-tuning is closer to the target"
        };
        let _ = writeln!(
            text,
            "- {}: GTL mean diagonal {:.3} (transition error {:.4}), full fine-tune {:.3} \
             ({:.4}): {better}.",
            s.label,
            gtl.scores.mean_diagonal,
            gtl.scores.transition_mean_error,
            fine.scores.mean_diagonal,
            fine.scores.transition_mean_error,
        );
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
pub(super) fn gamma_table(metrics: &Metrics) -> Table {
    let by_samples = metrics
        .settings
        .iter()
        .any(|s| s.gamma_fit.as_ref().is_some_and(|f| f.samples.is_some()));
    let mut columns = vec!["setting", "γ", "held-out log-likelihood"];
    if by_samples {
        columns.push("samples n-gram log-likelihood");
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
            row.push((if chosen == Some(g) { "yes" } else { "" }).into());
            table.push(row);
        }
    }
    table
}
