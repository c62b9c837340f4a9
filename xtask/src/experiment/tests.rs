//! End-to-end tests of `cargo xtask experiment` on the seconds-long configs/markov-ci.toml.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use burn::backend::{Autodiff, NdArray};

use super::*;
use crate::backend::BackendChoice;

type TB = Autodiff<NdArray>;

const CI: &str = include_str!("../../../configs/markov-ci.toml");

fn temp_runs(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gtl-experiment-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

const NDARRAY: BackendArgs = BackendArgs {
    backend: BackendChoice::Ndarray,
    device: 0,
};

/// Every stage runs once (shared stages once for all target sizes), the report and its files
/// appear, a second invocation finds every stage cached, and the metrics agree with an
/// independent computation from the samples files.
#[test]
fn a_ci_sized_experiment_runs_every_stage_caches_and_reports() {
    let config = ExperimentConfig::parse(CI).unwrap();
    let run_dir = temp_runs("e2e").join(&config.name);
    let executed =
        execute_settings(settings(&config), &stages_dir(&run_dir), Some(2), NDARRAY).unwrap();
    assert!(executed.stages.iter().all(|(_, _, o)| !o.cached));
    let labels: Vec<&str> = executed.stages.iter().map(|(l, _, _)| l.as_str()).collect();
    let count = |prefix: &str| labels.iter().filter(|l| l.starts_with(prefix)).count();
    // Shared: denoiser, planner, and the samples of source, gtl-exact-ratio and gtl-oracles.
    assert_eq!(count("source denoiser"), 1);
    assert_eq!(count("planner"), 1);
    assert_eq!(count("classifiers"), 2);
    assert_eq!(count("ratio"), 2);
    assert_eq!(count("samples"), 3 + 2 * 6, "{labels:?}");
    let summary = report::write(&config, &executed, &run_dir).unwrap();
    assert!(summary.contains("| n=60 | gtl |"), "{summary}");
    for file in [
        "report.md",
        "metrics.json",
        "results.csv",
        "ratio_error.csv",
        "stages.csv",
        "plots/transition-matrices.png",
        "plots/transition-error.png",
        "plots/mean-diagonal.png",
        "plots/ratio-error.png",
        "samples/n_20/gtl.jsonl",
        "samples/n_60/lora.jsonl",
    ] {
        assert!(run_dir.join(file).is_file(), "{file} missing");
    }
    let report = std::fs::read_to_string(run_dir.join("report.md")).unwrap();
    for section in [
        "## Results",
        "## Ratio error",
        "## Time per stage",
        "GTL mean diagonal",
    ] {
        assert!(report.contains(section), "{section} missing from report.md");
    }

    let again =
        execute_settings(settings(&config), &stages_dir(&run_dir), Some(2), NDARRAY).unwrap();
    assert!(again.stages.iter().all(|(_, _, o)| o.cached));

    check_metrics_against_samples(&config, &run_dir);
    let _ = std::fs::remove_dir_all(run_dir.parent().unwrap());
}

/// Recomputes every method's transition scores, target NLL and memorisation from its
/// `samples.jsonl` with plain loops (not gtl-eval) and compares them with `metrics.json`.
/// Also: the exact components sample the target (chi-square), the source does not.
fn check_metrics_against_samples(config: &ExperimentConfig, run_dir: &Path) {
    let text = std::fs::read_to_string(run_dir.join("metrics.json")).unwrap();
    let metrics: serde_json::Value = serde_json::from_str(&text).unwrap();
    let n = config.data.states;
    // The target is diagonal 0.8 with a uniform start (configs/markov-ci.toml).
    let p = |i: usize, j: usize| if i == j { 0.8 } else { 0.2 / (n - 1) as f64 };
    let settings = metrics["settings"].as_array().unwrap();
    assert_eq!(settings.len(), config.experiment.target_sizes.len());
    for (setting, &size) in settings.iter().zip(&config.experiment.target_sizes) {
        let mut c = config.clone();
        c.data.target_size = size;
        let train: HashSet<Vec<u32>> = TaskData::new(&c)
            .unwrap()
            .target_train
            .into_iter()
            .collect();
        let methods = setting["methods"].as_array().unwrap();
        assert_eq!(methods.len(), config.experiment.methods.len());
        for m in methods {
            let file = run_dir.join(m["samples_file"].as_str().unwrap());
            let samples: Vec<Vec<u32>> = std::fs::read_to_string(&file)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            let mut counts = vec![vec![0.0f64; n]; n];
            let mut log_likelihood = 0.0;
            for s in &samples {
                log_likelihood += (1.0 / n as f64).ln();
                for w in s.windows(2) {
                    let (a, b) = (w[0] as usize, w[1] as usize);
                    counts[a][b] += 1.0;
                    log_likelihood += p(a, b).ln();
                }
            }
            let (mut diagonal, mut total_error, mut max_error) = (0.0, 0.0, 0.0f64);
            for (i, row) in counts.iter().enumerate() {
                let sum: f64 = row.iter().sum();
                for (j, &c) in row.iter().enumerate() {
                    let empirical = if sum > 0.0 { c / sum } else { 1.0 / n as f64 };
                    if i == j {
                        diagonal += empirical / n as f64;
                    }
                    total_error += (empirical - p(i, j)).abs();
                    max_error = max_error.max((empirical - p(i, j)).abs());
                }
            }
            let tokens = (samples.len() * config.data.length) as f64;
            let memorised =
                samples.iter().filter(|s| train.contains(*s)).count() as f64 / samples.len() as f64;
            let scores = &m["scores"];
            let name = m["method"].as_str().unwrap();
            for (key, expected) in [
                ("mean_diagonal", diagonal),
                ("transition_mean_error", total_error / (n * n) as f64),
                ("transition_max_error", max_error),
                ("nll_target", -log_likelihood / tokens),
            ] {
                let got = scores[key].as_f64().unwrap();
                assert!(
                    (got - expected).abs() < 1e-9,
                    "{name} {key}: {got} vs {expected}"
                );
            }
            assert_eq!(
                m["sequences"]["memorised"].as_f64().unwrap(),
                memorised,
                "{name}"
            );
            let p_value = scores["chi_square_p"].as_f64().unwrap();
            match name {
                "gtl-oracles" => assert!(p_value > 1e-3, "exact components: p = {p_value}"),
                "source" => assert!(p_value < 1e-6, "the source chain: p = {p_value}"),
                _ => {}
            }
        }
    }
}

/// A run stopped by a failing stage keeps every stage that finished; the next run reuses
/// them without running them again, and a training stage whose `done.json` is gone resumes
/// from its checkpoint to the same weights instead of training from scratch.
#[test]
fn an_interrupted_experiment_resumes_without_redoing_finished_stages() {
    let text = CI.replace(
        "target_sizes = [20, 60]\n\n[sweep]",
        "target_sizes = [20]\n\n[sweep]",
    );
    let config = ExperimentConfig::parse(&text).unwrap();
    let root = stages_dir(&temp_runs("resume"));
    let (graph, _) = plan(&settings(&config), &root).unwrap();
    let device = Default::default();
    let err = jobs::run(&graph, 1, |i| {
        if graph.jobs[i].label.starts_with("samples gtl") {
            bail!("interrupted");
        }
        execute::<TB>(&graph.jobs[i], &graph, &device)
    })
    .unwrap_err();
    assert!(format!("{err:#}").contains("interrupted"), "{err:#}");
    let finished: Vec<usize> = (0..graph.jobs.len())
        .filter(|&i| graph.jobs[i].dir.join("done.json").is_file())
        .collect();
    assert!(finished.len() >= 4, "{finished:?}");
    assert!(finished.len() < graph.jobs.len());
    let denoiser = graph.dir(0).to_path_buf();
    assert!(graph.jobs[0].label.contains("denoiser"));
    let weights = std::fs::read(denoiser.join("model.mpk")).unwrap();
    std::fs::remove_file(denoiser.join("done.json")).unwrap();

    let ran = Mutex::new(Vec::new());
    let outcomes = jobs::run(&graph, 2, |i| {
        ran.lock().unwrap().push(i);
        execute::<TB>(&graph.jobs[i], &graph, &device)
    })
    .unwrap();
    let ran = ran.into_inner().unwrap();
    for &i in &finished[1..] {
        assert!(
            outcomes[i].cached && !ran.contains(&i),
            "{} ran again",
            graph.jobs[i].label
        );
    }
    assert!(ran.contains(&0) && !outcomes[0].cached);
    // Resumed at its last step: no training step ran, so the weights are the same bytes.
    assert_eq!(std::fs::read(denoiser.join("model.mpk")).unwrap(), weights);
    let steps = outcomes[0].done.summary["steps"].as_u64().unwrap();
    assert_eq!(steps as usize, config.denoiser.training.steps);
    assert!(outcomes.iter().all(|o| o.done.seconds >= 0.0));
    let _ = std::fs::remove_dir_all(root.parent().unwrap());
}

/// The "samples" γ criterion in a CI-sized run: the fit stage waits for the planner, scores
/// every γ of the grid by the reference likelihood under an n-gram model of gtl's own
/// samples, and gtl and exact-guidance sample with the γ of the highest score; the report shows both criteria's scores.
#[test]
fn a_gamma_fit_by_samples_drives_the_learned_ratio_samplers() {
    let text = CI
        .replace(
            "target_sizes = [20, 60]\n\n[sweep]",
            "target_sizes = [20]\nmethods = [\"gtl\", \"exact-guidance\"]\n\n[sweep]",
        )
        .replace(
            "[guidance]\n",
            "[guidance]\nfit_gamma = true\nfit_criterion = \"samples\"\nfit_samples = 30\n\
             fit_rows = 50\ngamma_grid = [0.0, 1.0, 3.0]\n",
        );
    let config = ExperimentConfig::parse(&text).unwrap();
    let run_dir = temp_runs("gamma-samples").join(&config.name);
    let root = stages_dir(&run_dir);
    let (graph, jobs) = plan(&settings(&config), &root).unwrap();
    let (gamma_job, planner) = (jobs[0].gamma.unwrap(), jobs[0].planner.unwrap());
    assert!(graph.jobs[gamma_job].deps.contains(&planner));
    let executed = execute_settings(settings(&config), &root, Some(2), NDARRAY).unwrap();
    let summary = |job: usize| executed.stages[job].2.done.summary.clone();
    let fit: sampling::GammaChoice = serde_json::from_value(summary(gamma_job)).unwrap();
    let scores = fit
        .samples
        .as_ref()
        .expect("the samples criterion's scores");
    assert_eq!(scores.gammas, [0.0, 1.0, 3.0]);
    let ll = &scores.log_likelihood;
    let highest = ll.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let best = scores.gammas[ll.iter().position(|&l| l == highest).unwrap()];
    assert_eq!((fit.chosen(), scores.best), (Some(best), best));
    assert_eq!((scores.samples, scores.order), (30, 2));
    for gamma in ["0", "1", "3"] {
        let file = executed.stages[gamma_job]
            .1
            .join(format!("fit-samples/gamma-{gamma}.jsonl"));
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(text.lines().count(), 30, "{}", file.display());
    }
    assert_eq!(scores.reference, 20, "every target sequence of n = 20");
    for (_, _, samples) in &executed.jobs[0].methods {
        assert_eq!(summary(*samples)["gamma"].as_f64(), Some(best));
    }
    report::write(&config, &executed, &run_dir).unwrap();
    let report = std::fs::read_to_string(run_dir.join("report.md")).unwrap();
    assert!(report.contains("samples n-gram log-likelihood"), "{report}");
    let _ = std::fs::remove_dir_all(run_dir.parent().unwrap());
}
