//! The text of `report.md`.

use std::fmt::Write as _;

use super::Metrics;
use super::tables::{comparisons, gamma_table, ratio_summary, results_table, stage_table};
use crate::config::{ExperimentConfig, serde_name};

/// The text of `report.md`.
pub fn report_text(config: &ExperimentConfig, metrics: &Metrics, plots: &[String]) -> String {
    let d = &config.data;
    let g = &config.guidance;
    let mut text = format!("# Experiment `{}`\n\n", config.name);
    let _ = writeln!(
        text,
        "N = {} states{}, L = {}, {} source sequences (source {:?}), target {:?}. \
         Source denoiser: {} parameters. Guidance: γ = {}, top-n = {}, order {}, {} samples \
         per method ({} for exact guidance). Wall time of this invocation: {:.1} s \
         (finished stages are cached under stages/).\n",
        d.states,
        if d.extra_target_states > 0 {
            format!(" + {} target-only", d.extra_target_states)
        } else {
            String::new()
        },
        d.length,
        d.source_size,
        d.source,
        d.target,
        metrics.source_denoiser_parameters,
        g.gamma,
        if g.top_n == 0 {
            "all".to_string()
        } else {
            g.top_n.to_string()
        },
        serde_name(&g.order),
        g.samples,
        g.exact_samples,
        metrics.seconds
    );
    text.push_str("## Results\n\nMean diagonal and transition errors of the empirical transition matrix of each method's samples against the target chain; NLL per token under the target chain; TV only where N^L ≤ 10^6; memorised = share of samples that copy a target training sequence; trained params and train s = what the method trains beyond the shared source denoiser.\n\n");
    text.push_str(&results_table(metrics).to_markdown(3));
    text.push_str("\n## GTL against full fine-tuning\n\n");
    text.push_str(&comparisons(metrics));
    text.push_str("\n## Ratio error against the exact log h_t\n\nAll-t rows (ratio_error.csv has every t-bin). A guided sampler sees the error variance: a constant offset cancels.\n\n");
    text.push_str(&ratio_summary(metrics).to_markdown(2));
    if metrics.settings.iter().any(|s| s.gamma_fit.is_some()) {
        text.push_str("\n## γ fitted on the target data\n\nHeld-out log-likelihood: mean log-probability of the true token under the guided one-position conditional (source denoiser × learned ratio^γ, all N candidates) on masked validation sequences (higher is better). Samples n-gram log-likelihood: mean log-probability per token of every target training and validation sequence under a Witten–Bell n-gram model (order guidance.fit_order) of gtl's own samples at that γ (higher is better). The `guidance.fit_criterion` column chose the γ that drives gtl and exact-guidance.\n\n");
        text.push_str(&gamma_table(metrics).to_markdown(4));
    }
    text.push_str("\n## Time per stage\n\n");
    text.push_str(&stage_table(metrics).to_markdown(1));
    text.push_str("\n## Plots\n\n");
    for plot in plots {
        let _ = writeln!(text, "![{plot}](plots/{plot})\n");
    }
    text
}
