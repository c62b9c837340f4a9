//! The loss study on configs/markov-tiny.toml with short training: every (process, loss,
//! seed) denoiser is trained once and reported; the paired ratios are recomputed from the
//! runs; a loss a process does not support is refused before anything trains.

use burn::backend::{Autodiff, NdArray};
use gtl_diffusion::Loss;
use gtl_experiment::config::ProcessName;
use gtl_experiment::{ExperimentConfig, RunOptions};

type TB = Autodiff<NdArray>;

const TINY: &str = include_str!("../../../configs/markov-tiny.toml");

#[test]
fn every_process_and_loss_is_trained_on_every_seed_and_compared_by_seed() {
    let config = ExperimentConfig::parse(&TINY.replacen("steps = 400", "steps = 40", 1)).unwrap();
    let runs = std::env::temp_dir().join(format!("gtl-loss-study-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&runs);
    let options = RunOptions {
        workers: Some(2),
        ..RunOptions::new(&runs)
    };
    let processes = [ProcessName::Uniform, ProcessName::Roulette];
    let losses = [Loss::ScoreEntropy, Loss::Cedd];
    let study = gtl_experiment::loss_study::run::<TB>(
        &config,
        &processes,
        &losses,
        &[0, 1],
        &options,
        &[Default::default()],
    )
    .unwrap();
    assert_eq!(study.runs.len(), 8);
    for r in &study.runs {
        assert_eq!(r.summary.steps, 40);
        assert_eq!(r.summary.loss, r.loss.name());
        // The NELBO bounds the exact NLL of the same sequences (the estimate's noise is far
        // below this margin with 500 test sequences × 4 corruptions).
        let nll = r.summary.exact_nll_per_token.unwrap();
        assert!(r.summary.nelbo_model > nll - 0.05, "{r:?}");
    }
    // Different seeds give different data and networks.
    let nelbo = |p, l, s| {
        study
            .runs
            .iter()
            .find(|r| r.process == p && r.loss == l && r.seed == s)
            .unwrap()
            .summary
            .nelbo_model
    };
    assert_ne!(
        nelbo(ProcessName::Uniform, Loss::Cedd, 0),
        nelbo(ProcessName::Uniform, Loss::Cedd, 1)
    );
    // The paired perplexity-bound ratio of CEDD on uniform is the mean over seeds of
    // exp(NELBO_cedd − NELBO_score-entropy).
    let mean_ratio = [0, 1]
        .iter()
        .map(|&s| {
            (nelbo(ProcessName::Uniform, Loss::Cedd, s)
                - nelbo(ProcessName::Uniform, Loss::ScoreEntropy, s))
            .exp()
        })
        .sum::<f64>()
        / 2.0;
    let row = study
        .table
        .lines()
        .find(|l| l.starts_with("| uniform | cedd |") && l.matches('[').count() == 2)
        .expect("the paired row of CEDD on uniform");
    assert!(
        row.contains(&format!("| {mean_ratio:.3} [")),
        "{row} against {mean_ratio:.3}"
    );
    assert!(study.dir.join("runs.csv").is_file());
    assert!(study.dir.join("table.md").is_file());

    let err = gtl_experiment::loss_study::run::<TB>(
        &config,
        &[ProcessName::Uniform],
        &[Loss::MdlmNelbo],
        &[0, 1],
        &options,
        &[Default::default()],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("process uniform, loss mdlm-nelbo"), "{err}");
    let _ = std::fs::remove_dir_all(&runs);
}
