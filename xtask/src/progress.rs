//! The terminal's progress display: an indicatif bar for the stages of a run and one per
//! training run, stacked; log lines only when stderr is not a terminal.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use gtl_experiment::{LogObserver, Observer};
use gtl_models::training::{TrainingObserver, TrainingProgress};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// Bars on a terminal, log lines elsewhere.
pub fn observer() -> Arc<dyn Observer> {
    if std::io::stderr().is_terminal() {
        Arc::new(Bars::default())
    } else {
        Arc::new(LogObserver)
    }
}

/// The stages bar and the training bars under it.
#[derive(Default)]
struct Bars {
    multi: MultiProgress,
    stages: OnceLock<ProgressBar>,
}

impl Bars {
    fn stages(&self) -> &ProgressBar {
        self.stages.get_or_init(|| {
            let bar = self.multi.add(ProgressBar::new(0));
            bar.set_style(
                ProgressStyle::with_template(
                    "stages {bar:30} {pos}/{len} {msg} [{elapsed_precise}]",
                )
                .expect("a valid template"),
            );
            bar
        })
    }
}

impl Observer for Bars {
    fn planned(&self, to_run: usize) {
        self.stages().set_length(to_run as u64);
    }

    fn cached(&self, label: &str, dir: &Path) {
        self.multi
            .suspend(|| tracing::info!("{label}: finished earlier ({})", dir.display()));
    }

    fn started(&self, label: &str, _dir: &Path) {
        self.stages().set_message(label.to_string());
    }

    fn finished(&self, label: &str, seconds: f64) {
        self.multi
            .suspend(|| tracing::info!("{label}: done in {seconds:.1} s"));
        self.stages().inc(1);
    }

    fn training(&self) -> Option<Arc<dyn TrainingObserver>> {
        Some(Arc::new(TrainingBars(self.multi.clone())))
    }
}

/// Training runs as bars in the run's display.
struct TrainingBars(MultiProgress);

impl TrainingObserver for TrainingBars {
    fn start(&self, label: &str, total: usize, first: usize) -> Box<dyn TrainingProgress> {
        let bar = self
            .0
            .add(ProgressBar::new(total as u64).with_position(first as u64));
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} {bar:30} {pos}/{len} {msg} [{elapsed_precise} < {eta}]",
            )
            .expect("a valid template"),
        );
        bar.set_prefix(label.to_string());
        Box::new(TrainingBar(bar))
    }
}

struct TrainingBar(ProgressBar);

impl TrainingProgress for TrainingBar {
    fn step(&mut self, step: usize, loss: f64) {
        self.0.set_position(step as u64);
        self.0.set_message(format!("loss {loss:.4}"));
    }

    fn finish(&mut self) {
        self.0.finish_and_clear();
    }
}
