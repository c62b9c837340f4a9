//! The fault test (docs/reliability.md): a child `xtask experiment` on a CI-sized config is
//! killed with SIGKILL at several points (while a training checkpoint is written, while a
//! stage's completion marker is written, while samples are written, and at a moment chosen
//! by the clock during training), run again each time, and the finished run's metrics and
//! samples must equal those of an uninterrupted run byte for byte. A stage folder that a kill
//! left without its completion marker must never be trusted.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CONFIG: &str = include_str!("../../configs/markov-ci.toml");

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gtl-fault-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn experiment(config: &Path, runs: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    command
        .args(["experiment", "--runs-dir"])
        .arg(runs)
        .arg(config)
        .env_remove("GTL_FAULT_PAUSE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// Runs the child until a stderr line contains `marker` (then SIGKILLs it, after `delay`) or
/// it exits (an error: the kill point was never reached).
fn kill_when(mut child: Child, marker: &str, delay: Duration) {
    let stderr = child.stderr.take().unwrap();
    let start = Instant::now();
    let mut seen = Vec::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap();
        // Logs to a pipe are plain text.
        assert!(
            !line.contains('\u{1b}'),
            "a terminal escape code in: {line:?}"
        );
        if line.contains(marker) {
            std::thread::sleep(delay);
            child.kill().unwrap();
            child.wait().unwrap();
            eprintln!("killed at {:?} on: {line}", start.elapsed());
            return;
        }
        seen.push(line);
    }
    let status = child.wait().unwrap();
    panic!(
        "the run ended ({status}) before {marker:?}; its log:\n{}",
        seen.join("\n")
    );
}

/// `metrics.json` without wall times and stage bookkeeping (folders, cache hits).
fn comparable_metrics(run: &Path) -> serde_json::Value {
    fn strip(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                map.retain(|k, _| !(k == "seconds" || k.ends_with("_seconds") || k == "stages"));
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let text = std::fs::read_to_string(run.join("metrics.json")).unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    strip(&mut value);
    value
}

fn sample_files(run: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for setting in std::fs::read_dir(run.join("samples")).unwrap() {
        let setting = setting.unwrap().path();
        for file in std::fs::read_dir(&setting).unwrap() {
            let file = file.unwrap().path();
            let name = file.strip_prefix(run).unwrap().display().to_string();
            files.push((name, std::fs::read(&file).unwrap()));
        }
    }
    files.sort();
    files
}

/// Stage folders with a completion marker must hold every file the marker lists; the marker
/// itself is the last thing a stage writes, so a killed stage has none.
fn check_no_half_written_stage_is_trusted(run: &Path) {
    for stage in std::fs::read_dir(run.join("stages")).unwrap() {
        let stage = stage.unwrap().path();
        let done = stage.join("done.json");
        if done.is_file() {
            let text = std::fs::read_to_string(&done).unwrap();
            serde_json::from_str::<serde_json::Value>(&text)
                .unwrap_or_else(|e| panic!("{}: not JSON ({e})", done.display()));
            assert!(stage.join("key.txt").is_file(), "{}", stage.display());
        }
    }
}

#[test]
fn killed_runs_resume_to_the_uninterrupted_result() {
    let dir = scratch("kill");
    let config = dir.join("markov-ci.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let (clean, killed) = (dir.join("clean"), dir.join("killed"));

    let status = experiment(&config, &clean).status().unwrap();
    assert!(status.success(), "the uninterrupted run failed: {status}");

    // Each kill point, then a run to the end.
    let paused = |point: &str| {
        let mut command = experiment(&config, &killed);
        command.env("GTL_FAULT_PAUSE", point);
        command.spawn().unwrap()
    };
    let marker = "gtl fault point";
    kill_when(paused("checkpoint.bin:1"), marker, Duration::ZERO);
    check_no_half_written_stage_is_trusted(&killed.join("markov-ci"));
    kill_when(paused("checkpoint.bin:2"), marker, Duration::ZERO);
    kill_when(paused("done.json:3"), marker, Duration::ZERO);
    check_no_half_written_stage_is_trusted(&killed.join("markov-ci"));
    kill_when(paused("samples.jsonl:2"), marker, Duration::ZERO);
    // By the clock: 50 ms after a stage starts (training or sampling, whichever comes next).
    let child = experiment(&config, &killed).spawn().unwrap();
    kill_when(child, ": starting", Duration::from_millis(50));
    check_no_half_written_stage_is_trusted(&killed.join("markov-ci"));
    let status = experiment(&config, &killed).status().unwrap();
    assert!(status.success(), "the resumed run failed: {status}");

    let (clean, killed) = (clean.join("markov-ci"), killed.join("markov-ci"));
    assert_eq!(comparable_metrics(&killed), comparable_metrics(&clean));
    let (want, got) = (sample_files(&clean), sample_files(&killed));
    assert!(!want.is_empty());
    assert_eq!(
        got.iter().map(|f| &f.0).collect::<Vec<_>>(),
        want.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for ((name, got), (_, want)) in got.iter().zip(&want) {
        assert!(got == want, "{name} differs from the uninterrupted run's");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
