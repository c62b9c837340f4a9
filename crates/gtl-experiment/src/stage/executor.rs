//! Runs the stages of a graph a few at a time in dependency order: a stage whose folder is
//! finished under its key is reused; one that was interrupted resumes (training continues
//! from its checkpoint); `done.json` is written last, so a folder without it never counts.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use burn::tensor::backend::AutodiffBackend;

use super::{Graph, StageContext, StageId};
use crate::cache::{Done, FORMAT_VERSION, claim, finished, mark_done};
use crate::observer::Observer;
use crate::{ExperimentError, Result};

/// A stage's outcome in this invocation.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The finished record.
    pub done: Done,
    /// Whether it was found finished (not run now).
    pub cached: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Skipped,
    Waiting,
    Running,
    Finished,
}

struct Board {
    states: Vec<State>,
    outcomes: Vec<Option<Outcome>>,
    failure: Option<ExperimentError>,
}

/// Runs the stages `targets` need (every stage when `targets` is `None`) that are not
/// finished, `workers` at a time on `devices` (every tensor on the first; data-parallel
/// training on all of them, [`StageContext::devices`]). Returns every stage's outcome (`None` for a
/// stage no target needs). The first failure stops new stages from starting and is
/// returned once running ones end; finished stages stay cached.
pub fn execute<B: AutodiffBackend>(
    graph: &Graph<B>,
    targets: Option<&[StageId]>,
    workers: usize,
    observer: &Arc<dyn Observer>,
    devices: &[B::Device],
) -> Result<Vec<Option<Outcome>>> {
    let Some(device) = devices.first() else {
        return Err(ExperimentError::config("no device to run the stages on"));
    };
    let nodes = graph.nodes();
    let count = nodes.len();
    let wanted = match targets {
        Some(targets) => graph.closure(targets),
        None => (0..count).collect(),
    };
    let mut board = Board {
        states: vec![State::Skipped; count],
        outcomes: vec![None; count],
        failure: None,
    };
    for id in wanted {
        let node = &nodes[id];
        match finished(&node.dir, &node.key)? {
            Some(done) => {
                observer.cached(&node.label, &node.dir);
                board.states[id] = State::Finished;
                board.outcomes[id] = Some(Outcome { done, cached: true });
            }
            None => board.states[id] = State::Waiting,
        }
    }
    let to_run = board
        .states
        .iter()
        .filter(|s| **s == State::Waiting)
        .count();
    observer.planned(to_run);
    let board = Mutex::new(board);
    let wake = Condvar::new();
    let workers = workers.clamp(1, to_run.max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                let work = || {
                    while let Some((id, outcomes)) = next_stage(&board, &wake, graph) {
                        let node = &nodes[id];
                        observer.started(&node.label, &node.dir);
                        let start = Instant::now();
                        let ctx = StageContext {
                            dir: &node.dir,
                            device,
                            devices,
                            observer,
                            graph,
                            outcomes: &outcomes,
                        };
                        let result = claim(&node.dir, &node.key)
                            .and_then(|()| graph.run_node(id, &ctx))
                            .and_then(|summary| {
                                let done = Done {
                                    format: FORMAT_VERSION,
                                    label: node.label.clone(),
                                    seconds: start.elapsed().as_secs_f64(),
                                    summary,
                                };
                                mark_done(&node.dir, &done)?;
                                Ok(done)
                            });
                        let mut b = board.lock().unwrap_or_else(|e| e.into_inner());
                        b.states[id] = State::Finished;
                        match result {
                            Ok(done) => {
                                observer.finished(&node.label, done.seconds);
                                b.outcomes[id] = Some(Outcome {
                                    done,
                                    cached: false,
                                });
                            }
                            Err(error) if b.failure.is_none() => {
                                b.failure = Some(ExperimentError::Stage {
                                    label: node.label.clone(),
                                    reason: Box::new(error),
                                });
                            }
                            Err(_) => {}
                        }
                        drop(b);
                        wake.notify_all();
                    }
                };
                match worker_pool(workers) {
                    Some(pool) => pool.install(work),
                    None => work(),
                }
                wake.notify_all();
            });
        }
    });
    let board = board.into_inner().unwrap_or_else(|e| e.into_inner());
    match board.failure {
        Some(error) => Err(error),
        None => Ok(board.outcomes),
    }
}

/// Waits for a stage whose inputs have finished and marks it running; `None` when nothing is
/// left to start (or a stage failed). Returns the outcomes known so far with it.
fn next_stage<B: AutodiffBackend>(
    board: &Mutex<Board>,
    wake: &Condvar,
    graph: &Graph<B>,
) -> Option<(StageId, Vec<Option<Outcome>>)> {
    let nodes = graph.nodes();
    let mut b = board.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if b.failure.is_some() {
            return None;
        }
        let ready = (0..nodes.len()).find(|&i| {
            b.states[i] == State::Waiting
                && nodes[i]
                    .inputs
                    .iter()
                    .all(|&d| b.states[d] == State::Finished)
        });
        if let Some(id) = ready {
            b.states[id] = State::Running;
            return Some((id, b.outcomes.clone()));
        }
        if !b.states.contains(&State::Waiting) {
            return None;
        }
        b = wake.wait(b).unwrap_or_else(|e| e.into_inner());
    }
}

/// A rayon pool for one of `workers` parallel workers, holding its share of the cores: the
/// CPU backends run their kernels on the current rayon pool, and with every worker on the
/// global one (a thread per core) two stages on 2 cores kept four threads busy, whose
/// spinning cost 11 % of a DNA run in system time (518 of 4,856 CPU seconds; docs/dna.md).
/// `None` (the global pool) for one worker, when `RAYON_NUM_THREADS` is set, or when the pool
/// cannot be built.
fn worker_pool(workers: usize) -> Option<rayon::ThreadPool> {
    if workers <= 1 || std::env::var_os("RAYON_NUM_THREADS").is_some() {
        return None;
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads_per_worker(workers))
        .build()
        .ok()
}

/// The threads each of `workers` parallel stage workers gets: the machine's cores shared
/// out, at least one. The executor's per-worker rayon pools use it; a runner can give the
/// same share to thread pools it configures itself (xtask's `MATMUL_NUM_THREADS`).
pub fn threads_per_worker(workers: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    (cores / workers.max(1)).max(1)
}

#[cfg(test)]
mod tests {
    use super::worker_pool;

    #[test]
    fn parallel_workers_share_the_cores() {
        assert!(worker_pool(1).is_none(), "one worker keeps the global pool");
        if std::env::var_os("RAYON_NUM_THREADS").is_some() {
            assert!(worker_pool(2).is_none(), "the environment's choice wins");
            return;
        }
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        for workers in [2, 3, 2 * cores] {
            let pool = worker_pool(workers).expect("a pool per worker");
            assert_eq!(pool.current_num_threads(), (cores / workers).max(1));
            // Work installed in the pool sees it as the current pool.
            assert_eq!(
                pool.install(rayon::current_num_threads),
                (cores / workers).max(1)
            );
        }
    }
}
