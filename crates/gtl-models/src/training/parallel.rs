//! Data-parallel training: one worker thread per device, each with its own copy of the
//! network and optimiser and an equal share of every batch's rows. burn's collective
//! all-reduce averages the gradients before each optimiser step, so the copies stay
//! identical and a run on K devices follows the single-device run up to f32 rounding.
//!
//! Worker 0 keeps the books ([`Ledger`]): validation, EMA, progress and files. The workers
//! keep in step through collective operations only: before each step's gradients, an
//! all-reduce of `[loss share, stop]` gives every worker the whole batch's loss (so all see
//! a non-finite loss at the same step) and worker 0's early-stopping decision of the step
//! before. A failure on one worker (an error, a panic) resets burn's collective server, which
//! fails the collective calls the others are waiting in, so no worker waits forever.

use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Mutex, PoisonError};

use burn::collective::{self, CollectiveConfig, CollectiveError, PeerId, ReduceOperation};
use burn::module::AutodiffModule;
use burn::optim::{GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::TensorPrimitive;
use burn::tensor::backend::AutodiffBackend;
use rand_chacha::ChaCha8Rng;

use super::ledger::{Ledger, Opening, adamw, load_optimizer, step_seed};
use super::{Objective, RunOptions, TrainError, Trained, TrainingConfig, seeded};

/// burn keeps one collective server per backend in a process: one data-parallel run at a
/// time.
static COLLECTIVE: Mutex<()> = Mutex::new(());

/// Trains `model` like [`train`](super::train), on `devices` at once: worker `k` (a thread)
/// computes the loss of rows `k·b/K..(k+1)·b/K` of every batch
/// ([`Objective::loss_of_rows`]) on `devices[k]`, and the gradients are averaged with burn's
/// collective all-reduce before each optimiser step. The batches, learning rates, files
/// (`checkpoint.bin`, `metrics.csv`, `best.mpk`), resume, early stopping and the non-finite
/// guard are those of `train`; one device gives exactly `train`'s result, several give it up
/// to f32 rounding (sums in another order). `objective.validate` runs on worker 0, so the
/// objective's validation data should live on `devices[0]`. Dropout masks are drawn per
/// device and differ from a single-device run; on backends whose generator is process-wide
/// (NdArray) runs with dropout are not reproducible. Runs in one process take turns.
///
/// Errors: no device, or a batch size not divisible by the number of devices; an objective
/// that cannot split its batches; a collective operation that fails; otherwise those of
/// `train`.
pub fn train_data_parallel<B, M, O>(
    model: M,
    objective: &O,
    config: &TrainingConfig,
    options: &RunOptions,
    devices: &[B::Device],
) -> Result<Trained<B, M>, TrainError>
where
    B: AutodiffBackend,
    M: AutodiffModule<B> + Clone + Send,
    O: Objective<B, M> + Sync,
{
    let fail = |reason: String| TrainError::DataParallel {
        label: options.label.clone(),
        reason,
    };
    let workers = devices.len();
    if workers == 0 {
        return Err(fail("no devices given".into()));
    }
    if !config.batch_size.is_multiple_of(workers) {
        return Err(fail(format!(
            "batch_size = {} is not divisible by the {workers} devices: every device must \
             get the same number of rows",
            config.batch_size
        )));
    }
    if workers > 1 && !objective.splits() {
        return Err(fail(
            "the objective cannot compute the loss of a part of a batch \
             (Objective::splits is false)"
                .into(),
        ));
    }
    let _turn = COLLECTIVE.lock().unwrap_or_else(PoisonError::into_inner);
    // Forget peers left registered by an earlier run that panicked.
    collective::reset_collective::<B::InnerBackend>();

    let Opening {
        mut ledger,
        model,
        optimizer: saved,
    } = Ledger::open(model.fork(&devices[0]), config, options, &devices[0])?;
    let share = config.batch_size / workers;
    let plan = Plan {
        objective,
        config,
        options,
        workers,
        first: ledger.state.step,
        end: ledger.end,
        rng: ledger.state.rng.restore(),
        saved: saved.as_deref(),
    };
    let (lead, others) = std::thread::scope(|scope| {
        let others: Vec<_> = (1..workers)
            .map(|rank| {
                let (plan, model) = (&plan, model.clone());
                let device = devices[rank].clone();
                let rows = rank * share..(rank + 1) * share;
                scope.spawn(move || plan.work(rank, rows, model, &device, None))
            })
            .collect();
        let lead = plan.work(0, 0..share, model, &devices[0], Some(&mut ledger));
        let others: Vec<_> = others
            .into_iter()
            .map(|handle| handle.join().unwrap_or_else(|panic| resume_unwind(panic)))
            .collect();
        (lead, others)
    });
    let mut failures: Vec<Failure> = others.into_iter().filter_map(Result::err).collect();
    match lead {
        Ok(model) if failures.is_empty() => return Ok(ledger.finish(model)),
        Ok(_) => {}
        Err(failure) => failures.insert(0, failure),
    }
    ledger.close_progress();
    // Report the cause, not the collective errors it provoked on the other workers.
    let cause = match failures.iter().position(|f| matches!(f, Failure::Run(_))) {
        Some(index) => failures.swap_remove(index),
        None => failures.remove(0),
    };
    Err(match cause {
        Failure::Run(error) => error,
        Failure::Collective(error) => fail(format!("a collective operation failed: {error:?}")),
        Failure::Agreed => fail("the workers stopped without a cause".into()),
    })
}

/// Why a worker stopped before the end of the run.
enum Failure {
    /// The run failed on this worker: the error to report.
    Run(TrainError),
    /// All workers saw the same non-finite loss; worker 0 reports it.
    Agreed,
    /// A collective operation failed, e.g. because another worker failed.
    Collective(CollectiveError),
}

/// What every worker of a run shares.
struct Plan<'a, O> {
    objective: &'a O,
    config: &'a TrainingConfig,
    options: &'a RunOptions,
    workers: usize,
    /// Steps already done (where the run resumed).
    first: usize,
    /// The last step of this call.
    end: usize,
    /// The batch generator at step `first`.
    rng: ChaCha8Rng,
    /// The optimiser state of the checkpoint resumed from.
    saved: Option<&'a [u8]>,
}

impl<O> Plan<'_, O> {
    /// Runs worker `rank` on `device` over `rows` of every batch, worker 0 with the books;
    /// returns its weights after the last step. On failure, resets the collective so that
    /// no other worker waits for this one.
    fn work<B, M>(
        &self,
        rank: usize,
        rows: Range<usize>,
        model: M,
        device: &B::Device,
        ledger: Option<&mut Ledger<'_, B, M>>,
    ) -> Result<M, Failure>
    where
        B: AutodiffBackend,
        M: AutodiffModule<B> + Clone,
        O: Objective<B, M>,
    {
        let peer = PeerId::from(rank);
        let run = catch_unwind(AssertUnwindSafe(|| {
            let peers = CollectiveConfig::default().with_num_devices(self.workers);
            collective::register::<B::InnerBackend>(peer, device.clone(), peers)
                .map_err(Failure::Collective)?;
            let model = self.steps(peer, rows, model, device, ledger)?;
            collective::finish_collective::<B::InnerBackend>(peer).map_err(Failure::Collective)?;
            Ok(model)
        }));
        match run {
            Ok(Ok(model)) => Ok(model),
            Ok(Err(failure)) => {
                collective::reset_collective::<B::InnerBackend>();
                Err(failure)
            }
            Err(panic) => {
                collective::reset_collective::<B::InnerBackend>();
                resume_unwind(panic)
            }
        }
    }

    /// The training steps of one worker (registered with the collective as `peer`).
    fn steps<B, M>(
        &self,
        peer: PeerId,
        rows: Range<usize>,
        model: M,
        device: &B::Device,
        mut ledger: Option<&mut Ledger<'_, B, M>>,
    ) -> Result<M, Failure>
    where
        B: AutodiffBackend,
        M: AutodiffModule<B> + Clone,
        O: Objective<B, M>,
    {
        let config = self.config;
        let run_error = |reason: String| {
            Failure::Run(TrainError::DataParallel {
                label: self.options.label.clone(),
                reason,
            })
        };
        let mut model = model.fork(device);
        let mut optimizer = adamw::<B, M>(config);
        if let Some(bytes) = self.saved {
            let path = self.options.dir.join("checkpoint.bin");
            optimizer =
                load_optimizer(optimizer, bytes.to_vec(), device, &path).map_err(Failure::Run)?;
        }
        // Worker 0 seeds the backend as `train` does, the others with seeds of their own so
        // that their dropout masks differ from worker 0's.
        let salt = u64::from(peer.0).wrapping_mul(0xD1B5_4A32_D192_ED03);
        let mut rng = self.rng.clone();
        for step in self.first + 1..=self.end {
            seeded::<B, _>(device, step_seed(config.seed, step) ^ salt, || ());
            let lr = config.learning_rate_at(step - 1);
            let loss = self
                .objective
                .loss_of_rows(&model, config.batch_size, &mut rng, rows.clone(), device)
                .ok_or_else(|| {
                    run_error(
                        "the objective cannot compute the loss of a part of a batch \
                         (Objective::loss_of_rows)"
                            .into(),
                    )
                })?;
            let share = loss.clone().into_scalar().elem::<f32>();
            let shared = handshake::<B>(peer, device, share, false)?;
            if shared.stop {
                break;
            }
            let value = f64::from(shared.loss);
            if !value.is_finite() {
                return Err(match ledger.as_mut() {
                    Some(ledger) => Failure::Run(ledger.non_finite("loss", value, step)),
                    None => Failure::Agreed,
                });
            }
            let grads = GradientsParams::from_grads(loss.backward(), &model)
                .all_reduce::<B::InnerBackend>(peer, ReduceOperation::Mean)
                .map_err(Failure::Collective)?;
            model = optimizer.step(lr, model, grads);
            if let Some(ledger) = ledger.as_mut() {
                let stop = ledger
                    .record(self.objective, step, value, lr, &model, &optimizer, &rng)
                    .map_err(Failure::Run)?;
                if stop {
                    if step < self.end {
                        // The others are computing the next step: tell them to stop.
                        handshake::<B>(peer, device, 0.0, true)?;
                    }
                    break;
                }
            }
        }
        Ok(model)
    }
}

/// What every worker learns before a step's gradients are averaged.
struct Shared {
    /// The whole batch's loss: the mean of the workers' shares.
    loss: f32,
    /// Worker 0 stopped the run (early stopping) after the step before.
    stop: bool,
}

/// All-reduces `[share, stop]` (mean) over the workers.
fn handshake<B: AutodiffBackend>(
    peer: PeerId,
    device: &B::Device,
    share: f32,
    stop: bool,
) -> Result<Shared, Failure> {
    let message =
        Tensor::<B::InnerBackend, 1>::from_floats([share, f32::from(u8::from(stop))], device);
    let mean = collective::all_reduce::<B::InnerBackend>(
        peer,
        message.into_primitive().tensor(),
        ReduceOperation::Mean,
    )
    .map_err(Failure::Collective)?;
    let values = Tensor::<B::InnerBackend, 1>::from_primitive(TensorPrimitive::Float(mean))
        .into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .expect("f32 data");
    Ok(Shared {
        loss: values[0],
        stop: values[1] > 0.0,
    })
}
