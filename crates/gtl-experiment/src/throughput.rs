//! Training throughput of a denoiser in gtl's own training loop, set up like
//! `../shared/bench/torch_denoiser.py` so the two can be compared side by side: i.i.d.
//! uniform tokens, the absorbing process with the log-linear schedule, the MDLM NELBO, AdamW
//! at a constant 3e-4 with weight decay 0.01 (PyTorch's default), no clipping, no EMA.
//!
//! The figure is the script's: sequences per second over the timed steps, after warm-up
//! steps that are not timed. The run's last step (which validates and writes the final
//! checkpoint) is not timed either.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use burn::module::Module;
use burn::tensor::backend::AutodiffBackend;
use gtl_diffusion::{Loss, Process, ProcessKind, Schedule};
use gtl_models::DenoiserNetConfig;
use gtl_models::objectives::DenoiserObjective;
use gtl_models::training::{
    RunOptions, TrainingConfig, TrainingObserver, TrainingProgress, seeded, train, write_atomically,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::config::ModelSection;
use crate::{ExperimentError, Result};

/// One throughput measurement: the model, the data shape and the step counts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainThroughput {
    /// Real tokens N (the mask is token N).
    pub vocab: usize,
    /// Sequence length L.
    pub length: usize,
    /// Sequences per step.
    pub batch: usize,
    /// The network (a preset and overrides, as a config's `[denoiser.model]`).
    pub model: ModelSection,
    /// Untimed steps first.
    pub warmup: usize,
    /// Timed steps.
    pub steps: usize,
    /// Seed of the weights, the data and the corruption.
    pub seed: u64,
}

/// What [`TrainThroughput::measure`] found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThroughputResult {
    /// Trainable parameters of the network.
    pub params: usize,
    /// Sequences per second over the timed steps.
    pub sequences_per_second: f64,
    /// Wall seconds of each timed step.
    pub step_seconds: Vec<f64>,
    /// Training loss of every step, warm-up included.
    pub losses: Vec<f64>,
}

impl TrainThroughput {
    /// The two models `cargo xtask bench train` compares: `"reference"` (the reference
    /// implementation's synthetic denoiser: N = 5, L = 20, batch 256, d 256, 4 heads, 4 blocks,
    /// MLP 1024) and `"language"` (a text-sized one: N = 4,096, L = 128, batch 32, same trunk).
    pub fn named(name: &str, warmup: usize, steps: usize) -> Result<Self> {
        let (vocab, length, batch) = match name {
            "reference" => (5, 20, 256),
            "language" => (4096, 128, 32),
            _ => {
                return Err(ExperimentError::config(format!(
                    "model {name:?}: must be reference or language"
                )));
            }
        };
        Ok(TrainThroughput {
            vocab,
            length,
            batch,
            model: ModelSection {
                preset: crate::config::Preset::Reference,
                ..ModelSection::default()
            },
            warmup,
            steps,
            seed: 0,
        })
    }

    /// The arguments that make `torch_denoiser.py` build the same network and batch.
    pub fn script_args(&self) -> Result<Vec<String>> {
        let trunk = self.model.trunk(self.vocab + 1, self.length, "model")?;
        Ok([
            ("--vocab", self.vocab),
            ("--length", self.length),
            ("--batch", self.batch),
            ("--d", trunk.d_model),
            ("--heads", trunk.num_heads),
            ("--layers", trunk.num_blocks),
            ("--mlp", trunk.mlp_hidden),
            ("--steps", self.steps),
            ("--warmup", self.warmup),
        ]
        .iter()
        .flat_map(|(key, value)| [key.to_string(), value.to_string()])
        .collect())
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        if self.vocab < 2 || self.length == 0 || self.batch == 0 || self.steps == 0 {
            return Err(ExperimentError::config(
                "throughput: vocab must be ≥ 2 and length, batch and steps ≥ 1",
            ));
        }
        self.model.trunk(self.vocab + 1, self.length, "model")?;
        Ok(())
    }

    /// Trains for `warmup + steps + 1` steps on backend `B` and times the middle `steps`.
    /// `dir` receives the run's checkpoint and metrics (a scratch folder).
    pub fn measure<B: AutodiffBackend>(
        &self,
        dir: &std::path::Path,
        device: &B::Device,
    ) -> Result<ThroughputResult> {
        self.validate()?;
        let process = Process::new(ProcessKind::Absorbing, self.vocab, Schedule::default())?;
        let trunk = self.model.trunk(self.vocab + 1, self.length, "model")?;
        let net = seeded::<B, _>(device, self.seed, || {
            DenoiserNetConfig::for_process(trunk, &process).init::<B>(device)
        });
        let params = net.num_params();
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        // Enough distinct sequences that batches are not repeats (the script draws fresh
        // uniform tokens each step; the cost does not depend on the values).
        let pool = (self.batch * 8).max(64);
        let mut draw = || -> Vec<Vec<u32>> {
            (0..pool)
                .map(|_| {
                    (0..self.length)
                        .map(|_| rng.random_range(0..self.vocab as u32))
                        .collect()
                })
                .collect()
        };
        let train_data = draw();
        let validation: Vec<Vec<u32>> = draw().into_iter().take(8).collect();
        let objective = DenoiserObjective::<B> {
            process,
            loss: Loss::MdlmNelbo,
            train: &train_data,
            validation: &validation,
            device: device.clone(),
        };
        let total = self.warmup + self.steps + 1;
        let config = TrainingConfig {
            steps: total,
            batch_size: self.batch,
            learning_rate: 3e-4,
            warmup_steps: 0,
            min_lr_ratio: 1.0,
            weight_decay: 0.01,
            grad_clip: 0.0,
            ema_decay: 0.0,
            validate_every: total,
            checkpoint_every: total,
            patience: 0,
            log_every: total,
            seed: self.seed,
        };
        let clock = Arc::new(StepClock::default());
        let options = RunOptions {
            dir: dir.to_path_buf(),
            resume: false,
            stop_after: None,
            label: "throughput".into(),
            observer: Some(clock.clone()),
        };
        std::fs::create_dir_all(dir).map_err(|e| ExperimentError::io(dir, e))?;
        train(net, &objective, &config, &options, device)?;
        let ticks = clock.ticks.lock().expect("clock lock").clone();
        let (times, losses): (Vec<Instant>, Vec<f64>) = ticks.into_iter().unzip();
        // times[k] is the end of step k + 1; the timed steps are warmup + 1 ..= warmup + steps.
        let start = if self.warmup == 0 {
            clock
                .started
                .lock()
                .expect("clock lock")
                .expect("the run started")
        } else {
            times[self.warmup - 1]
        };
        let mut previous = start;
        let step_seconds: Vec<f64> = times[self.warmup..self.warmup + self.steps]
            .iter()
            .map(|&t| {
                let seconds = t.duration_since(previous).as_secs_f64();
                previous = t;
                seconds
            })
            .collect();
        let elapsed = times[self.warmup + self.steps - 1]
            .duration_since(start)
            .as_secs_f64();
        Ok(ThroughputResult {
            params,
            sequences_per_second: (self.steps * self.batch) as f64 / elapsed,
            step_seconds,
            losses,
        })
    }
}

/// One measurement of one engine (gtl on a backend, or PyTorch) in one round.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThroughputRow {
    /// Round of the interleaved schedule (0-based).
    pub round: usize,
    /// Model name ([`TrainThroughput::named`]).
    pub model: String,
    /// `gtl-<backend>` or `pytorch`.
    pub engine: String,
    /// Threads the engine was allowed.
    pub threads: usize,
    /// Trainable parameters.
    pub params: usize,
    /// Sequences per second over the timed steps.
    pub sequences_per_second: f64,
    /// User + system CPU seconds of the whole process (start-up included).
    pub cpu_seconds: f64,
    /// Peak resident memory of the process, MiB.
    pub peak_mib: f64,
}

/// Rows of one (model, engine, threads) over the rounds, with the same-round ratio to
/// PyTorch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThroughputSummary {
    /// Model name.
    pub model: String,
    /// Engine.
    pub engine: String,
    /// Threads.
    pub threads: usize,
    /// Trainable parameters.
    pub params: usize,
    /// Rounds measured.
    pub rounds: usize,
    /// Median sequences per second, and the range over rounds.
    pub sequences_per_second: [f64; 3],
    /// Median over rounds of this engine / PyTorch (same model, threads and round), and the
    /// range; absent for PyTorch itself or when PyTorch was not run.
    pub ratio_to_pytorch: Option<[f64; 3]>,
    /// Largest peak memory over rounds, MiB.
    pub peak_mib: f64,
}

fn median_range(mut values: Vec<f64>) -> [f64; 3] {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        0.5 * (values[n / 2 - 1] + values[n / 2])
    };
    [median, values[0], values[n - 1]]
}

/// Groups `rows` by (model, engine, threads), in first-seen order.
pub fn summarize(rows: &[ThroughputRow]) -> Vec<ThroughputSummary> {
    let mut keys: Vec<(&str, &str, usize)> = Vec::new();
    for row in rows {
        let key = (row.model.as_str(), row.engine.as_str(), row.threads);
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys.into_iter()
        .map(|(model, engine, threads)| {
            let mine: Vec<&ThroughputRow> = rows
                .iter()
                .filter(|r| r.model == model && r.engine == engine && r.threads == threads)
                .collect();
            let ratios: Vec<f64> = mine
                .iter()
                .filter_map(|r| {
                    rows.iter()
                        .find(|p| {
                            p.engine == "pytorch"
                                && p.model == model
                                && p.threads == threads
                                && p.round == r.round
                        })
                        .map(|p| r.sequences_per_second / p.sequences_per_second)
                })
                .collect();
            ThroughputSummary {
                model: model.to_string(),
                engine: engine.to_string(),
                threads,
                params: mine[0].params,
                rounds: mine.len(),
                sequences_per_second: median_range(
                    mine.iter().map(|r| r.sequences_per_second).collect(),
                ),
                ratio_to_pytorch: (engine != "pytorch" && !ratios.is_empty())
                    .then(|| median_range(ratios)),
                peak_mib: mine.iter().map(|r| r.peak_mib).fold(0.0, f64::max),
            }
        })
        .collect()
}

/// The summary as a Markdown table.
pub fn summary_table(summary: &[ThroughputSummary]) -> String {
    let mut table = gtl_eval::Table::new([
        "model",
        "engine",
        "threads",
        "parameters",
        "sequences/s (median, range)",
        "/ PyTorch (same round)",
        "peak MiB",
    ]);
    for s in summary {
        let [m, lo, hi] = s.sequences_per_second;
        let ratio = s
            .ratio_to_pytorch
            .map(|[m, lo, hi]| format!("{m:.2} ({lo:.2}–{hi:.2})"));
        table.push([
            s.model.as_str().into(),
            s.engine.as_str().into(),
            s.threads.into(),
            s.params.into(),
            format!("{m:.1} ({lo:.1}–{hi:.1})").into(),
            ratio.into(),
            format!("{:.0}", s.peak_mib).into(),
        ]);
    }
    table.to_markdown(1)
}

/// Writes `train.csv` (every row), `train.json` (rows and summary) and `train.md` (the
/// summary table) under `dir`; returns the table.
pub fn write_results(dir: &std::path::Path, rows: &[ThroughputRow]) -> Result<String> {
    std::fs::create_dir_all(dir).map_err(|e| ExperimentError::io(dir, e))?;
    let mut table = gtl_eval::Table::new([
        "round",
        "model",
        "engine",
        "threads",
        "params",
        "sequences_per_second",
        "cpu_seconds",
        "peak_mib",
    ]);
    for row in rows {
        table.push([
            row.round.into(),
            row.model.as_str().into(),
            row.engine.as_str().into(),
            row.threads.into(),
            row.params.into(),
            row.sequences_per_second.into(),
            row.cpu_seconds.into(),
            row.peak_mib.into(),
        ]);
    }
    table.write_csv(&dir.join("train.csv"))?;
    let summary = summarize(rows);
    let json = crate::error::to_json(
        &serde_json::json!({ "rows": rows, "summary": summary }),
        "the throughput results",
    )?;
    let markdown = summary_table(&summary);
    for (name, text) in [("train.json", &json), ("train.md", &markdown)] {
        let path = dir.join(name);
        write_atomically(&path, text.as_bytes())?;
    }
    Ok(markdown)
}

/// Records when each step ends (the observer is called right after the weights update).
#[derive(Default)]
struct StepClock {
    started: Mutex<Option<Instant>>,
    ticks: Arc<Mutex<Vec<(Instant, f64)>>>,
}

struct ClockProgress(Arc<Mutex<Vec<(Instant, f64)>>>);

impl TrainingObserver for StepClock {
    fn start(&self, _label: &str, _total: usize, _first: usize) -> Box<dyn TrainingProgress> {
        *self.started.lock().expect("clock lock") = Some(Instant::now());
        Box::new(ClockProgress(self.ticks.clone()))
    }
}

impl TrainingProgress for ClockProgress {
    fn step(&mut self, _step: usize, loss: f64) {
        self.0
            .lock()
            .expect("clock lock")
            .push((Instant::now(), loss));
    }

    fn finish(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Preset;

    fn row(round: usize, engine: &str, seqs: f64) -> ThroughputRow {
        ThroughputRow {
            round,
            model: "reference".into(),
            engine: engine.into(),
            threads: 1,
            params: 10,
            sequences_per_second: seqs,
            cpu_seconds: 1.0,
            peak_mib: 100.0 + round as f64,
        }
    }

    #[test]
    fn ratios_pair_rows_of_the_same_round() {
        // Round 1 is slow for both engines: its ratio (0.5) is the same as round 0's.
        let rows = [
            row(0, "gtl-ndarray", 50.0),
            row(0, "pytorch", 100.0),
            row(1, "gtl-ndarray", 10.0),
            row(1, "pytorch", 20.0),
            row(2, "gtl-ndarray", 60.0),
            row(2, "pytorch", 80.0),
        ];
        let summary = summarize(&rows);
        assert_eq!(summary.len(), 2);
        assert_eq!(summary[0].sequences_per_second, [50.0, 10.0, 60.0]);
        assert_eq!(summary[0].ratio_to_pytorch, Some([0.5, 0.5, 0.75]));
        assert_eq!(summary[1].ratio_to_pytorch, None);
        assert_eq!(summary[0].peak_mib, 102.0);
        let table = summary_table(&summary);
        assert!(
            table.contains(
                "| reference | gtl-ndarray | 1 | 10 | 50.0 (10.0–60.0) | 0.50 (0.50–0.75) | 102 |"
            ),
            "{table}"
        );
    }

    #[test]
    fn the_script_gets_the_same_sizes() {
        let language = TrainThroughput::named("language", 2, 10).unwrap();
        assert_eq!(
            language.script_args().unwrap().join(" "),
            "--vocab 4096 --length 128 --batch 32 --d 256 --heads 4 --layers 4 --mlp 1024 --steps 10 --warmup 2"
        );
        assert!(TrainThroughput::named("huge", 2, 10).is_err());
    }

    type TB = burn::backend::Autodiff<burn::backend::NdArray>;

    #[test]
    fn times_the_requested_steps_and_counts_the_script_s_parameters_but_the_final_norm() {
        let bench = TrainThroughput {
            vocab: 5,
            length: 20,
            batch: 8,
            model: ModelSection {
                preset: Preset::Tiny,
                ..ModelSection::default()
            },
            warmup: 2,
            steps: 3,
            seed: 1,
        };
        let dir = std::env::temp_dir().join(format!("gtl-throughput-{}", std::process::id()));
        let result = bench.measure::<TB>(&dir, &Default::default()).unwrap();
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(result.step_seconds.len(), 3);
        assert_eq!(result.losses.len(), 6);
        assert!(result.losses.iter().all(|l| l.is_finite()));
        let sum: f64 = result.step_seconds.iter().sum();
        assert!(
            (result.sequences_per_second - 24.0 / sum).abs() < 1e-6 * result.sequences_per_second
        );
        // The PyTorch script's count for the same sizes (d 32, 1 block, MLP 64) is
        // emb 6·32 + pos 20·32 + time 2·(32·32+32) + block (4·(32·32+32) + 32·64+64 +
        // 64·32+32 + 32·192+192) + affine norm 64 + head 32·6+6; gtl modulates its final
        // norm from t (32·64+64 instead of 64) and has no mask column in its head (32·5+5).
        let d = 32;
        let script = 6 * d
            + 20 * d
            + 2 * (d * d + d)
            + (4 * (d * d + d) + d * 64 + 64 + 64 * d + d + d * 6 * d + 6 * d)
            + 2 * d
            + d * 6
            + 6;
        let final_norm_and_head = (d * 2 * d + 2 * d) - 2 * d - (d + 1);
        assert_eq!(result.params, script + final_norm_and_head);
    }
}
