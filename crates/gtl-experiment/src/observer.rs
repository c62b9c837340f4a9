//! Progress of a run, reported to an observer the caller installs (a terminal display, a
//! log, a test probe). The library owns no display of its own.

use std::path::Path;
use std::sync::Arc;

use gtl_models::training::TrainingObserver;

/// Receives what a run does.
pub trait Observer: Send + Sync {
    /// The run will execute `to_run` stages (the others were found finished).
    fn planned(&self, to_run: usize) {
        tracing::info!("{to_run} stages to run");
    }

    /// A stage was found finished in `dir` and is reused.
    fn cached(&self, label: &str, dir: &Path) {
        tracing::info!("{label}: finished earlier ({})", dir.display());
    }

    /// A stage starts in `dir`.
    fn started(&self, label: &str, dir: &Path) {
        tracing::info!("{label}: starting ({})", dir.display());
    }

    /// A stage finished after `seconds`.
    fn finished(&self, label: &str, seconds: f64) {
        tracing::info!("{label}: done in {seconds:.1} s");
    }

    /// Where training runs report their steps (`None`: a log line every `log_every` steps).
    fn training(&self) -> Option<Arc<dyn TrainingObserver>> {
        None
    }
}

/// Logs every event through `tracing` and nothing else.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogObserver;

impl Observer for LogObserver {}
