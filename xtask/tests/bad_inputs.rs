//! Bad command-line inputs are refused before any work, with a message naming the option
//! (docs/reliability.md).

mod common;

use common::run_xtask;

fn scratch(name: &str) -> std::path::PathBuf {
    common::scratch("bad", name)
}

/// Runs xtask with `args` in `dir`; it must fail quickly with `expected` in its error.
fn refused(dir: &std::path::Path, args: &[&str], expected: &str) {
    let start = std::time::Instant::now();
    let output = run_xtask(dir, args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{args:?} succeeded: {stderr}");
    assert!(stderr.contains(expected), "{args:?}: {stderr}");
    assert!(
        start.elapsed().as_secs() < 30,
        "{args:?} took {:?} before refusing",
        start.elapsed()
    );
}

fn chain(dir: &std::path::Path, name: &str, diag: &str) {
    common::xtask(
        dir,
        &[
            "markov-chain",
            "--states",
            "3",
            "--diag",
            diag,
            "--out",
            name,
        ],
    );
}

#[test]
fn bad_command_lines_are_refused_before_any_work() {
    let dir = scratch("cli");
    chain(&dir, "source.json", "0.3");
    chain(&dir, "target.json", "0.8");
    // A source that rules out the transition 0 → 1, which the target allows.
    let text = std::fs::read_to_string(dir.join("source.json")).unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value["transition"][0] = serde_json::json!([1.0, 0.0, 0.0]);
    std::fs::write(dir.join("zero.json"), value.to_string()).unwrap();

    refused(
        &dir,
        &["markov-chain", "--states", "1000000000", "--out", "x.json"],
        "--states = 1000000000: must be in 1..=4096",
    );
    refused(
        &dir,
        &["oracle-convergence", "--length", "0"],
        "--length and --samples at least 1",
    );
    refused(
        &dir,
        &["experiment", "--set", "finetune.heads=[fresh]"],
        "override `finetune.heads=[fresh]`: the value is not a TOML value",
    );
    refused(
        &dir,
        &["experiment", "--set", "finetune.learning_rates=[2.0]"],
        "finetune.learning_rates",
    );
    refused(
        &dir,
        &["sweep", "--axes", "seed"],
        "sweep axis \"seed\" does not exist",
    );
    refused(
        &dir,
        &["oracle-convergence", "--states", "100000", "--length", "1"],
        "states = 100000: must be at most 4096",
    );
    refused(
        &dir,
        &["oracle-convergence", "--states", "1000", "--length", "6"],
        "too many to enumerate",
    );
    let sample = |extra: &[&'static str]| -> Vec<&'static str> {
        let mut args = vec![
            "oracle-sample",
            "--length",
            "5",
            "--samples",
            "10",
            "--out",
            "s.jsonl",
        ];
        args.extend_from_slice(extra);
        args
    };
    refused(
        &dir,
        &sample(&[
            "--chain",
            "zero.json",
            "--target-chain",
            "target.json",
            "--guidance",
            "exact",
        ]),
        "the source chain gives probability 0 to the transition 0 → 1",
    );
    refused(
        &dir,
        &sample(&[
            "--chain",
            "source.json",
            "--target-chain",
            "target.json",
            "--guidance",
            "none",
        ]),
        "a target chain without guidance would be ignored",
    );
    refused(
        &dir,
        &[
            "oracle-sample",
            "--chain",
            "source.json",
            "--length",
            "5",
            "--samples",
            "10",
            "--out",
            "/proc/gtl-no-such-folder/s.jsonl",
        ],
        "cannot create its folder",
    );
    // Samples that the enumeration check rejects (one Euler step of the uniform process) make
    // the command fail; --no-check accepts them.
    let euler = [
        "oracle-sample",
        "--chain",
        "source.json",
        "--length",
        "4",
        "--samples",
        "4000",
        "--process",
        "uniform",
        "--sampler",
        "euler",
        "--steps",
        "1",
        "--out",
        "euler.jsonl",
    ];
    refused(&dir, &euler, "the samples do not match the chain");
    let mut accepted = euler.to_vec();
    accepted.push("--no-check");
    let status = run_xtask(&dir, &accepted).status;
    assert!(status.success(), "--no-check still failed");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A GPU backend that this binary was not built with, or CUDA without a driver, is a one-line
/// error before any work (no panic, no backtrace).
#[test]
fn unavailable_gpu_backends_are_one_line_errors() {
    let dir = scratch("gpu");
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../configs/markov-ci.toml");
    for (backend, compiled) in [
        ("wgpu", cfg!(feature = "wgpu")),
        ("cuda", cfg!(feature = "cuda")),
    ] {
        let driver = std::path::Path::new("/usr/lib/x86_64-linux-gnu/libcuda.so.1").exists();
        if compiled && (backend == "wgpu" || driver) {
            eprintln!("skipped {backend}: compiled in and may run here");
            continue;
        }
        let expected = if compiled {
            "no CUDA driver (libcuda.so.1) found".to_string()
        } else {
            format!("backend '{backend}' was not compiled into this binary")
        };
        let args = [
            "experiment",
            config,
            "--backend",
            backend,
            "--runs-dir",
            "runs",
        ];
        refused(&dir, &args, &expected);
        let output = run_xtask(&dir, &args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{backend}: {stderr}");
        assert!(
            !dir.join("runs").exists(),
            "{backend}: wrote a run before refusing"
        );
    }
}

/// A missing config file is named with its OS error once: the library's error carries the
/// OS error both in its message and as its source, and the CLI prints the chain.
#[test]
fn a_missing_config_file_is_named_once() {
    let dir = scratch("missing");
    let output = run_xtask(&dir, &["experiment", "nowhere.toml"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    let error = stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line: {stderr}"));
    assert!(error.contains("nowhere.toml"), "{error}");
    assert_eq!(error.matches("os error").count(), 1, "{error}");
}
