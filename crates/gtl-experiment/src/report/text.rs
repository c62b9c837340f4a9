//! The text of `report.md`.

use std::fmt::Write as _;

use super::Metrics;
use super::tables::{
    comparisons, gamma_table, ratio_summary, results_table, search_table, stage_table,
};
use crate::config::{ExperimentConfig, Task, serde_name};

/// The text of `report.md`.
pub fn report_text(config: &ExperimentConfig, metrics: &Metrics, plots: &[String]) -> String {
    let g = &config.guidance;
    let mut text = format!("# Experiment `{}`\n\n", config.name);
    let guidance = format!(
        "Source denoiser: {} parameters. Guidance: γ = {}, top-n = {}, order {}, {} samples \
         per method ({} for exact guidance). Wall time of this invocation: {:.1} s (finished \
         stages are cached under stages/).",
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
    match config.task() {
        Task::Markov(d) => {
            let _ = writeln!(
                text,
                "N = {} states{}, L = {}, {} source sequences (source {:?}), target {:?}. \
                 {guidance}\n",
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
            );
            text.push_str("## Results\n\nMean diagonal and transition errors of the empirical transition matrix of each method's samples against the target chain; NLL per token under the target chain; TV only where N^L ≤ 10^6; memorised = share of samples that copy a target training sequence; trained params and train s = what the method trains beyond the shared source denoiser.\n\n");
        }
        Task::Text(t) => {
            let _ = writeln!(
                text,
                "Text: source {:?}, target {:?} (held-out target-side references also from \
                 {:?}), windows of L = {} tokens, {} real tokens, overlap r = {}. {guidance}\n",
                t.source,
                t.target,
                t.held_out_target,
                t.length,
                config.num_tokens().unwrap_or(0),
                t.overlap,
            );
            text.push_str("## Results\n\nEvery sample is a window of L tokens decoded to text. p_target: mean P(target | text) of an independent logistic-regression judge on hashed word unigrams and bigrams trained on held-out windows of both domains (95 % bootstrap interval); mauve: MAUVE on hashed TF-IDF features against held-out target windows (not comparable with MAUVE on GPT-2 features); perplexity: per word under an interpolated Kneser–Ney trigram model of held-out target-side text; distinct_2 and repetition: distinct word bigrams and repeated word 4-grams; memorised: share of samples that share a long token n-gram with the target training windows; nelbo_target: the denoiser's NELBO per token on held-out target windows. The real held-out rows score real text the same way.\n\n");
            if let Some(r) = metrics
                .settings
                .iter()
                .find_map(|s| s.text_reference.as_ref())
            {
                let _ = writeln!(
                    text,
                    "The judge's balanced accuracy on held-out windows: {:.3} (trained on {} \
                     source and {} target-side windows); memorisation n-gram: {} tokens.\n",
                    r.judge_accuracy,
                    r.training_windows[0],
                    r.training_windows[1],
                    r.memorised_ngram
                );
            }
        }
        Task::Dna(d) => {
            text.push_str(&super::dna::dna_section(d, metrics, &guidance));
            text.push_str("\nMain scores (results.csv has every column, the k-mer distances for k = 1…6 among them):\n\n");
            text.push_str(&super::dna::dna_main_table(metrics).to_markdown(3));
            text.push_str("\n## Targets\n\nGTL against every other method at each target size: a higher target share and a lower 6-mer distance, \"yes\" only when the 95 % intervals are apart; then GTL's memorisation against real held-out target windows.\n\n");
            text.push_str(&super::dna::dna_targets(metrics));
        }
    }
    if config.dna.is_none() {
        text.push_str(&results_table(metrics).to_markdown(3));
        text.push_str("\n## GTL against full fine-tuning\n\n");
        text.push_str(&comparisons(metrics));
    }
    if metrics.settings.iter().any(|s| !s.ratio.bins.is_empty()) {
        text.push_str("\n## Ratio error against the exact log h_t\n\nAll-t rows (ratio_error.csv has every t-bin). A guided sampler sees the error variance: a constant offset cancels.\n\n");
        text.push_str(&ratio_summary(metrics).to_markdown(2));
    }
    if metrics.settings.iter().any(|s| s.gamma_fit.is_some()) {
        text.push_str("\n## γ fitted on the target data\n\nHeld-out log-likelihood: mean log-probability of the true token under the guided one-position conditional (source denoiser × learned ratio^γ, all N candidates) on masked validation sequences (higher is better). Samples n-gram log-likelihood: mean log-probability per token of every target training and validation sequence under a Witten–Bell n-gram model (order guidance.fit_order) of gtl's own samples at that γ (higher is better). The `guidance.fit_criterion` column chose the γ that drives gtl and exact-guidance. On a Markov task the samples' columns score each γ's samples like the methods (mean diagonal, NLL per token under the target chain, share that copies a target training sequence): what the n-gram criterion does not see.\n\n");
        text.push_str(&gamma_table(metrics).to_markdown(4));
    }
    let search = search_table(metrics);
    if !search.rows.is_empty() {
        text.push_str("\n## Fine-tuning baselines: the settings tried\n\nEach baseline trained with every `finetune.learning_rates` × `finetune.heads` setting (a fresh head: new final norm and output layer on the source weights; target-only, a fresh network, tries `finetune.target_only.learning_rates` when that section is set); the one with the lowest NELBO per token on the target validation split is the baseline's model.\n\n");
        text.push_str(&search.to_markdown(4));
    }
    if metrics
        .settings
        .iter()
        .any(|s| s.methods.iter().any(|m| !m.examples.is_empty()))
    {
        text.push_str("\n## Samples\n\nThe first samples of every method, decoded (`samples/<setting>/<method>.jsonl` has all of them with their token ids).\n");
        for s in &metrics.settings {
            for m in &s.methods {
                if m.examples.is_empty() {
                    continue;
                }
                let _ = writeln!(text, "\n### {} at {}\n", m.method, s.label);
                for example in &m.examples {
                    if config.dna.is_some() {
                        let _ = writeln!(text, "    {example}\n");
                    } else {
                        let _ = writeln!(text, "> {}\n", example.replace('\n', " "));
                    }
                }
            }
        }
    }
    text.push_str("\n## Time per stage\n\n");
    text.push_str(&stage_table(metrics).to_markdown(1));
    text.push_str("\n## Plots\n\n");
    for plot in plots {
        let _ = writeln!(text, "![{plot}](plots/{plot})\n");
    }
    text
}
