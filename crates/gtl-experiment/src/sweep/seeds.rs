//! The seed axis summarised: each metric's mean and 95 % interval over the seeds, and each
//! method paired with GTL seed by seed.

use gtl_eval::Table;

use crate::report::{self, MethodResult, Metrics, SettingResult};

/// One row of the over-seeds table in one seed's run: a method's results, or the exact
/// target samples' (which have only the Markov scores and the memorisation).
#[derive(Clone, Copy)]
struct SeedRow<'a> {
    scores: Option<&'a gtl_eval::MarkovScores>,
    sequences: &'a gtl_eval::SequenceStats,
    method: Option<&'a MethodResult>,
}

impl<'a> SeedRow<'a> {
    fn of_method(m: &'a MethodResult) -> Self {
        SeedRow {
            scores: m.scores.as_ref(),
            sequences: &m.sequences,
            method: Some(m),
        }
    }

    /// The row `name` of a seed's run: a method, or [`report::EXACT_TARGET_ROW`].
    fn find(s: &'a SettingResult, name: &str) -> Option<Self> {
        if name == report::EXACT_TARGET_ROW {
            return s.exact_target.as_ref().map(|e| SeedRow {
                scores: Some(&e.scores),
                sequences: &e.sequences,
                method: None,
            });
        }
        s.method(name).map(Self::of_method)
    }
}

/// The metrics the over-seeds table summarises, where a row has them.
type Metric = (&'static str, fn(SeedRow<'_>) -> Option<f64>);

const SEED_METRICS: [Metric; 8] = [
    ("transition error", |r| {
        r.scores.map(|s| s.transition_mean_error)
    }),
    ("mean diagonal", |r| r.scores.map(|s| s.mean_diagonal)),
    ("NLL target", |r| r.scores.map(|s| s.nll_target)),
    ("memorised", |r| Some(r.sequences.memorised)),
    ("P(target)", |r| {
        r.method
            .and_then(|m| m.text.as_ref())
            .map(|t| t.p_target.mean)
    }),
    ("MAUVE", |r| {
        r.method.and_then(|m| m.text.as_ref()).map(|t| t.mauve)
    }),
    ("target share", |r| {
        r.method
            .and_then(|m| m.dna.as_ref())
            .map(|d| d.target_share.mean)
    }),
    ("k-mer JS (k = 6)", |r| {
        r.method.and_then(|m| m.dna.as_ref()).map(|d| d.js6.mean)
    }),
];

/// The seed axis's runs grouped by target setting (the label without "seed=k "), in
/// first-seen order.
fn seed_groups(metrics: &Metrics) -> Vec<(String, Vec<&SettingResult>)> {
    let mut groups: Vec<(String, Vec<&SettingResult>)> = Vec::new();
    for s in metrics.settings.iter().filter(|s| s.axis == "seed") {
        let target = s
            .label
            .split_once(' ')
            .map_or(String::new(), |(_, t)| t.to_string());
        match groups.iter_mut().find(|(t, _)| *t == target) {
            Some((_, runs)) => runs.push(s),
            None => groups.push((target, vec![s])),
        }
    }
    groups
}

/// The rows of a target setting: its methods, then the exact target samples where the task
/// has them.
fn row_names(runs: &[&SettingResult]) -> Vec<String> {
    let mut names: Vec<String> = runs[0]
        .methods
        .iter()
        .map(|m| m.method.name().to_string())
        .collect();
    if runs[0].exact_target.is_some() {
        names.push(report::EXACT_TARGET_ROW.into());
    }
    names
}

/// `mean [low, high]` of the 95 % Student-t interval, or a missing cell.
fn interval_cell(values: &[f64]) -> gtl_eval::Cell {
    match gtl_eval::t_interval(values, 0.95) {
        Ok(ci) => format!("{:.4} [{:.4}, {:.4}]", ci.mean, ci.low, ci.high).into(),
        Err(_) => gtl_eval::Cell::Missing,
    }
}

/// The seed axis summarised: per target setting and method (and the exact target samples of
/// a Markov task), each metric's mean over the seeds with its 95 % Student-t interval
/// (`mean [low, high]`), and the number of seeds.
pub fn seed_table(metrics: &Metrics) -> Table {
    let groups = seed_groups(metrics);
    let rows = || {
        groups.iter().flat_map(|(_, runs)| {
            row_names(runs)
                .into_iter()
                .flat_map(move |name| runs.iter().filter_map(move |s| SeedRow::find(s, &name)))
        })
    };
    let used: Vec<&Metric> = SEED_METRICS
        .iter()
        .filter(|(_, get)| rows().any(|r| get(r).is_some()))
        .collect();
    let mut columns = vec!["setting".to_string(), "method".into(), "seeds".into()];
    columns.extend(used.iter().map(|(name, _)| name.to_string()));
    let mut table = Table::new(columns);
    for (target, runs) in &groups {
        for name in row_names(runs) {
            let results: Vec<SeedRow<'_>> = runs
                .iter()
                .filter_map(|s| SeedRow::find(s, &name))
                .collect();
            let mut row: Vec<gtl_eval::Cell> =
                vec![target.clone().into(), name.into(), results.len().into()];
            for (_, get) in &used {
                let values: Vec<f64> = results.iter().filter_map(|&r| get(r)).collect();
                row.push(interval_cell(&values));
            }
            table.push(row);
        }
    }
    table
}

/// The seed axis paired by seed: per target setting, every other method's transition error
/// minus GTL's in the same seed's run (the same data), its mean over the seeds with the 95 %
/// Student-t interval, and whether the interval lies above zero (GTL closer to the target).
/// Empty for a task without transition errors or a run without GTL.
pub fn paired_seed_table(metrics: &Metrics) -> Table {
    let mut table = Table::new([
        "setting",
        "method",
        "seeds",
        "transition error − GTL's",
        "GTL closer?",
    ]);
    let error = |s: &SettingResult, name: &str| {
        SeedRow::find(s, name)
            .and_then(|r| r.scores)
            .map(|x| x.transition_mean_error)
    };
    for (target, runs) in seed_groups(metrics) {
        for name in row_names(&runs) {
            if name == "gtl" {
                continue;
            }
            let differences: Vec<f64> = runs
                .iter()
                .filter_map(|s| Some(error(s, &name)? - error(s, "gtl")?))
                .collect();
            if differences.is_empty() {
                continue;
            }
            let verdict = match gtl_eval::t_interval(&differences, 0.95) {
                Ok(ci) if ci.low > 0.0 => "yes",
                Ok(ci) if ci.high < 0.0 => "no: the method is closer",
                Ok(_) => "interval contains 0",
                Err(_) => "",
            };
            table.push([
                target.clone().into(),
                name.into(),
                differences.len().into(),
                interval_cell(&differences),
                verdict.into(),
            ]);
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::method::Method;

    fn text(cell: &gtl_eval::Cell) -> String {
        match cell {
            gtl_eval::Cell::Text(t) => t.clone(),
            other => format!("{other:?}"),
        }
    }

    fn scores(error: f64) -> gtl_eval::MarkovScores {
        gtl_eval::MarkovScores {
            samples: 10,
            transition_mean_error: error,
            transition_max_error: error,
            mean_diagonal: 0.8,
            target_mean_diagonal: 0.8,
            nll_target: 0.8,
            nll_source: 2.0,
            tv: None,
            chi_square_p: None,
            transition: vec![],
        }
    }

    fn stats(memorised: f64) -> gtl_eval::SequenceStats {
        gtl_eval::SequenceStats {
            memorised,
            distinct_sequences: 1.0,
            ngram: 2,
            distinct_ngrams: 1.0,
            ngram_overlap: 1.0,
        }
    }

    /// One seed's run at one target setting: GTL and full fine-tuning with these transition
    /// errors, and the exact target samples.
    fn seed_run(k: u64, gtl: f64, full: f64, exact: f64) -> SettingResult {
        let result = |method: Method, error: f64| MethodResult {
            method,
            samples_file: String::new(),
            scores: Some(scores(error)),
            sequences: stats(0.0),
            trained_parameters: 0,
            train_seconds: 0.0,
            sample_seconds: 0.0,
            gamma: 0.0,
            denoiser_rows_per_sample: 0.0,
            ratio_rows_per_sample: 0.0,
            nelbo_target: None,
            text: None,
            dna: None,
            examples: vec![],
            trials: vec![],
        };
        SettingResult {
            label: format!("seed={k} n=20"),
            axis: "seed".into(),
            value: 20.0,
            target_train: 18,
            target_transition: None,
            methods: vec![result(Method::Gtl, gtl), result(Method::FullFinetune, full)],
            ratio: report::RatioResult {
                estimator: String::new(),
                bins: vec![],
            },
            gamma_fit: None,
            text_reference: None,
            dna_reference: None,
            exact_target: Some(report::ExactTargetReference {
                samples: 10,
                scores: scores(exact),
                sequences: stats(0.5),
            }),
            gamma_samples: vec![],
        }
    }

    /// The over-seeds table's cells are t intervals of the seeds' values (the exact target
    /// samples a row of their own), and the paired table's of the per-seed differences: with
    /// differences 0.01, 0.02, 0.03 the mean is 0.02 and the half-width t_{0.975, 2}·0.01/√3
    /// = 4.3027·0.005774 = 0.02484, an interval that contains 0 although every difference is
    /// positive; 0.010, 0.011, 0.012 gives [0.0085, 0.0135], above 0. The exact samples'
    /// 0.0020, 0.0018, 0.0022: half-width 4.3027·0.0002/√3 = 0.0005.
    #[test]
    fn the_seed_tables_summarise_every_row_and_pair_the_seeds() {
        let metrics = |runs: Vec<SettingResult>| Metrics {
            name: "test".into(),
            source_denoiser_parameters: 0,
            settings: runs,
            stages: vec![],
            seconds: 0.0,
        };
        let wide = metrics(vec![
            seed_run(0, 0.10, 0.11, 0.0020),
            seed_run(1, 0.20, 0.22, 0.0018),
            seed_run(2, 0.30, 0.33, 0.0022),
        ]);
        let table = seed_table(&wide);
        let names: Vec<String> = table.rows.iter().map(|r| text(&r[1])).collect();
        assert_eq!(names, ["gtl", "full-finetune", report::EXACT_TARGET_ROW]);
        let column = |name: &str| table.columns.iter().position(|c| c == name).unwrap();
        // GTL's 0.1, 0.2, 0.3: half-width 4.3027·0.1/√3 = 0.2484.
        assert_eq!(
            text(&table.rows[0][column("transition error")]),
            "0.2000 [-0.0484, 0.4484]"
        );
        assert_eq!(
            text(&table.rows[2][column("transition error")]),
            "0.0020 [0.0015, 0.0025]"
        );
        assert_eq!(
            text(&table.rows[2][column("memorised")]),
            "0.5000 [0.5000, 0.5000]"
        );
        let paired = paired_seed_table(&wide);
        assert_eq!(
            paired.rows.len(),
            2,
            "full fine-tuning and the exact samples"
        );
        assert_eq!(text(&paired.rows[0][1]), "full-finetune");
        assert_eq!(
            text(&paired.rows[0][3]),
            format!("0.0200 [{:.4}, {:.4}]", 0.02 - 0.02484, 0.02 + 0.02484)
        );
        assert_eq!(text(&paired.rows[0][4]), "interval contains 0");
        assert_eq!(text(&paired.rows[1][1]), report::EXACT_TARGET_ROW);
        assert_eq!(text(&paired.rows[1][4]), "interval contains 0");
        let tight = metrics(vec![
            seed_run(0, 0.100, 0.110, 0.050),
            seed_run(1, 0.200, 0.211, 0.151),
            seed_run(2, 0.300, 0.312, 0.249),
        ]);
        let paired = paired_seed_table(&tight);
        assert_eq!(text(&paired.rows[0][3]), "0.0110 [0.0085, 0.0135]");
        assert_eq!(text(&paired.rows[0][4]), "yes");
        assert_eq!(text(&paired.rows[1][4]), "no: the method is closer");
    }
}
