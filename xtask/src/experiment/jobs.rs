//! The experiment's stages as a graph of jobs, each cached in a folder named by a hash of its
//! key (crate::keys), run by a few worker threads in dependency order.
//!
//! A job whose folder holds `done.json` under the same key is skipped; one that was
//! interrupted resumes (training continues from its checkpoint). `done.json` is written
//! last, atomically, so a folder without it never counts as finished.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use gtl_models::training::write_atomically;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

/// One stage: what it is, where it writes, what it depends on.
pub struct Job<W> {
    /// Shown in logs and the report.
    pub label: String,
    /// What to run.
    pub work: W,
    /// Its cache folder.
    pub dir: PathBuf,
    /// Everything its artefacts depend on.
    pub key: String,
    /// Jobs that must finish first (indices into the graph).
    pub deps: Vec<usize>,
}

/// The record a finished job leaves in `done.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Done {
    /// The job's label when it ran.
    pub label: String,
    /// Wall time of the run that finished it.
    pub seconds: f64,
    /// The stage's own summary.
    pub summary: serde_json::Value,
}

/// A job's outcome in this invocation.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The finished record.
    pub done: Done,
    /// Whether it was found finished (not run now).
    pub cached: bool,
}

/// Jobs in insertion order; a job with the folder of an earlier one is that job.
pub struct Graph<W> {
    /// The jobs; dependencies point to earlier entries.
    pub jobs: Vec<Job<W>>,
    by_dir: HashMap<PathBuf, usize>,
    root: PathBuf,
}

impl<W> Graph<W> {
    /// An empty graph whose folders live under `root`.
    pub fn new(root: &Path) -> Self {
        Graph {
            jobs: Vec::new(),
            by_dir: HashMap::new(),
            root: root.to_path_buf(),
        }
    }

    /// Adds the job `stage` with `key` (its folder is `root/<stage>-<hash of key>`), or
    /// returns the existing job with that folder.
    pub fn add(
        &mut self,
        stage: &str,
        label: String,
        key: String,
        deps: Vec<usize>,
        work: W,
    ) -> usize {
        let dir = self
            .root
            .join(format!("{stage}-{:08x}", crc32fast::hash(key.as_bytes())));
        if let Some(&index) = self.by_dir.get(&dir) {
            return index;
        }
        assert!(
            deps.iter().all(|&d| d < self.jobs.len()),
            "dependencies come first"
        );
        self.by_dir.insert(dir.clone(), self.jobs.len());
        self.jobs.push(Job {
            label,
            work,
            dir,
            key,
            deps,
        });
        self.jobs.len() - 1
    }

    /// The folder of job `index`.
    pub fn dir(&self, index: usize) -> &Path {
        &self.jobs[index].dir
    }
}

/// The finished record of `job`, when its folder holds one under the same key.
fn finished<W>(job: &Job<W>) -> Result<Option<Done>> {
    let done = job.dir.join("done.json");
    if !done.is_file() {
        return Ok(None);
    }
    let key = std::fs::read_to_string(job.dir.join("key.txt")).unwrap_or_default();
    if key != job.key {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&done).with_context(|| done.display().to_string())?;
    let record = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a finished-stage record", done.display()))?;
    Ok(Some(record))
}

/// Creates the job's folder and records its key; a folder holding another key (a hash
/// collision, or a hand-edited folder) is refused rather than overwritten.
fn claim<W>(job: &Job<W>) -> Result<()> {
    std::fs::create_dir_all(&job.dir).with_context(|| format!("creating {}", job.dir.display()))?;
    let path = job.dir.join("key.txt");
    match std::fs::read_to_string(&path) {
        Ok(existing) if existing != job.key => bail!(
            "{} holds a stage of other settings (key.txt differs): remove the folder to rerun",
            job.dir.display()
        ),
        Ok(_) => Ok(()),
        Err(_) => Ok(write_atomically(&path, job.key.as_bytes())?),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    Running,
    Finished,
}

struct Board {
    states: Vec<State>,
    outcomes: Vec<Option<Outcome>>,
    failure: Option<anyhow::Error>,
}

/// Runs every job of `graph` whose folder is not finished, `workers` at a time, calling
/// `execute` with the job's index; returns every job's outcome. The first failure stops new
/// jobs from starting and is returned once running jobs end (finished ones stay cached).
pub fn run<W: Sync>(
    graph: &Graph<W>,
    workers: usize,
    execute: impl Fn(usize) -> Result<serde_json::Value> + Sync,
) -> Result<Vec<Outcome>> {
    let count = graph.jobs.len();
    let mut board = Board {
        states: vec![State::Waiting; count],
        outcomes: vec![None; count],
        failure: None,
    };
    for (index, job) in graph.jobs.iter().enumerate() {
        if let Some(done) = finished(job)? {
            tracing::info!("{}: finished earlier ({})", job.label, job.dir.display());
            board.states[index] = State::Finished;
            board.outcomes[index] = Some(Outcome { done, cached: true });
        }
    }
    let to_run = board
        .states
        .iter()
        .filter(|s| **s == State::Waiting)
        .count();
    let multi = MultiProgress::new();
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        multi.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    gtl_models::training::show_progress_in(multi.clone());
    let overall = multi.add(ProgressBar::new(to_run as u64));
    overall.set_style(
        ProgressStyle::with_template("stages {bar:30} {pos}/{len} {msg} [{elapsed_precise}]")
            .expect("valid template"),
    );
    let board = Mutex::new(board);
    let wake = Condvar::new();
    std::thread::scope(|scope| {
        for _ in 0..workers.max(1) {
            scope.spawn(|| {
                loop {
                    let next = {
                        let mut b = board.lock().unwrap_or_else(|e| e.into_inner());
                        loop {
                            if b.failure.is_some() {
                                break None;
                            }
                            let ready = (0..count).find(|&i| {
                                b.states[i] == State::Waiting
                                    && graph.jobs[i]
                                        .deps
                                        .iter()
                                        .all(|&d| b.states[d] == State::Finished)
                            });
                            if let Some(i) = ready {
                                b.states[i] = State::Running;
                                break Some(i);
                            }
                            if !b.states.contains(&State::Waiting) {
                                break None;
                            }
                            b = wake.wait(b).unwrap_or_else(|e| e.into_inner());
                        }
                    };
                    let Some(index) = next else {
                        wake.notify_all();
                        return;
                    };
                    let job = &graph.jobs[index];
                    overall.set_message(job.label.clone());
                    tracing::info!("{}: starting ({})", job.label, job.dir.display());
                    let start = Instant::now();
                    let result = claim(job)
                        .and_then(|()| execute(index))
                        .and_then(|summary| {
                            let done = Done {
                                label: job.label.clone(),
                                seconds: start.elapsed().as_secs_f64(),
                                summary,
                            };
                            write_atomically(
                                &job.dir.join("done.json"),
                                serde_json::to_string_pretty(&done)?.as_bytes(),
                            )?;
                            Ok(done)
                        });
                    let mut b = board.lock().unwrap_or_else(|e| e.into_inner());
                    match result {
                        Ok(done) => {
                            tracing::info!("{}: done in {:.1} s", job.label, done.seconds);
                            b.states[index] = State::Finished;
                            b.outcomes[index] = Some(Outcome {
                                done,
                                cached: false,
                            });
                            overall.inc(1);
                        }
                        Err(error) => {
                            b.states[index] = State::Finished;
                            if b.failure.is_none() {
                                b.failure = Some(error.context(format!("stage {}", job.label)));
                            }
                        }
                    }
                    drop(b);
                    wake.notify_all();
                }
            });
        }
    });
    overall.finish_and_clear();
    let board = board.into_inner().unwrap_or_else(|e| e.into_inner());
    if let Some(error) = board.failure {
        return Err(error);
    }
    Ok(board
        .outcomes
        .into_iter()
        .map(|o| o.expect("every job finished"))
        .collect())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("gtl-jobs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    /// Dependencies run first, a repeated folder is one job, finished jobs are skipped on the
    /// next run, and a failure stops the graph and is reported with the stage's label.
    #[test]
    fn jobs_run_in_order_once_and_failures_name_their_stage() {
        let root = temp("order");
        let mut graph = Graph::new(&root);
        let a = graph.add("a", "a".into(), "key a".into(), vec![], 0);
        let b = graph.add("b", "b".into(), "key b".into(), vec![a], 1);
        let again = graph.add("a", "a again".into(), "key a".into(), vec![], 9);
        assert_eq!(again, a);
        let c = graph.add("c", "c".into(), "key c".into(), vec![a, b], 2);
        let order = Mutex::new(Vec::new());
        let calls = AtomicUsize::new(0);
        let execute = |i: usize| {
            calls.fetch_add(1, Ordering::SeqCst);
            order.lock().unwrap().push(graph.jobs[i].work);
            Ok(serde_json::json!({ "job": i }))
        };
        let outcomes = run(&graph, 2, execute).unwrap();
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2]);
        assert!(outcomes.iter().all(|o| !o.cached));
        assert_eq!(outcomes[c].done.summary["job"], 2);
        let outcomes = run(&graph, 2, execute).unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert!(outcomes.iter().all(|o| o.cached));

        let mut failing = Graph::new(&root);
        let x = failing.add("x", "stage x".into(), "key x".into(), vec![], 0);
        failing.add("y", "stage y".into(), "key y".into(), vec![x], 1);
        let ran_y = AtomicUsize::new(0);
        let err = run(&failing, 2, |i| {
            if i == x {
                bail!("broken")
            }
            ran_y.fetch_add(1, Ordering::SeqCst);
            Ok(serde_json::Value::Null)
        })
        .unwrap_err();
        assert_eq!(format!("{err:#}"), "stage stage x: broken");
        assert_eq!(ran_y.load(Ordering::SeqCst), 0);
        let _ = std::fs::remove_dir_all(&root);
    }
}
