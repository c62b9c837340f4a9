//! `cargo xtask bench train`: gtl's training loop against `torch_denoiser.py`, interleaved.
//!
//! Every measurement is its own process (this binary's hidden `bench train-one`, or the
//! Python script), so each gets a fresh thread pool of the requested size
//! (`RAYON_NUM_THREADS` and `MATMUL_NUM_THREADS` for burn, `OMP_NUM_THREADS` for PyTorch) and its own peak memory and
//! CPU time, read with `wait4`. Rounds alternate the engines' order.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use burn::tensor::backend::AutodiffBackend;
use clap::Args;
use gtl_experiment::throughput::{ThroughputResult, ThroughputRow, TrainThroughput, write_results};

use crate::backend::{BackendChoice, BackendTask, dispatch};

/// Arguments of `bench train`.
#[derive(Args, Debug, Clone)]
pub struct TrainBenchArgs {
    /// Models: reference (N 5, L 20, batch 256) and/or language (N 4,096, L 128, batch 32);
    /// both d 256, 4 heads, 4 blocks, MLP 1024.
    #[arg(long, value_delimiter = ',', default_value = "reference,language")]
    models: Vec<String>,
    /// gtl's CPU backends to measure.
    #[arg(long, value_delimiter = ',', default_value = "ndarray,flex")]
    backends: Vec<BackendChoice>,
    /// Thread counts.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    threads: Vec<usize>,
    /// Rounds; each runs every engine once per model and thread count.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Timed steps per measurement.
    #[arg(long, default_value_t = 10)]
    steps: usize,
    /// Untimed steps first.
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Python with torch (default: $PYTHON, else python3); PyTorch is skipped, with a
    /// message, when it cannot import torch.
    #[arg(long)]
    python: Option<PathBuf>,
    /// The PyTorch script.
    #[arg(long, default_value = "../shared/bench/torch_denoiser.py")]
    script: PathBuf,
    /// Also measure these builds of this binary (e.g. with other backend features), each on
    /// every --backends entry, as engine `gtl-<backend>@<file name>`: builds compared in one run.
    #[arg(long)]
    also_binary: Vec<PathBuf>,
    /// Output folder (train.csv, train.json, train.md).
    #[arg(long, default_value = "runs/bench-train")]
    out: PathBuf,
}

/// Arguments of the hidden `bench train-one`.
#[derive(Args, Debug, Clone)]
pub struct TrainOneArgs {
    #[arg(long)]
    model: String,
    #[arg(long, value_enum)]
    backend: BackendChoice,
    #[arg(long)]
    steps: usize,
    #[arg(long)]
    warmup: usize,
    /// Scratch folder of the run's checkpoint.
    #[arg(long)]
    dir: PathBuf,
}

struct Measure {
    bench: TrainThroughput,
    dir: PathBuf,
}

impl BackendTask for Measure {
    type Output = ThroughputResult;

    fn run<B: AutodiffBackend>(self, devices: &[B::Device]) -> Result<ThroughputResult> {
        let device = devices[0].clone();
        Ok(self.bench.measure::<B>(&self.dir, &device)?)
    }
}

/// `bench train-one`: one measurement, printed as JSON on stdout.
pub fn one(args: TrainOneArgs) -> Result<()> {
    let bench = TrainThroughput::named(&args.model, args.warmup, args.steps)?;
    let result = dispatch(
        args.backend,
        &[0],
        Measure {
            bench,
            dir: args.dir.clone(),
        },
    )?;
    std::fs::remove_dir_all(&args.dir).ok();
    println!("{}", serde_json::to_string(&result)?);
    Ok(())
}

/// What a finished child process reported.
struct Child {
    stdout: String,
    cpu_seconds: f64,
    peak_mib: f64,
}

/// Runs `command` to the end and reads its CPU time and peak memory with `wait4`.
fn run_child(mut command: Command, what: &str) -> Result<Child> {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("{what}: could not start"))?;
    let mut stderr = child.stderr.take().expect("piped");
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).ok();
        text
    });
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .expect("piped")
        .read_to_string(&mut stdout)?;
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for our own child, which is
    // reaped here (the Child handle is not waited on afterwards).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    if unsafe { libc::wait4(pid, &mut status, 0, &mut usage) } != pid {
        bail!("{what}: wait4 failed: {}", std::io::Error::last_os_error());
    }
    let errors = errors.join().unwrap_or_default();
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!(
            "{what} failed: {}",
            errors.lines().last().unwrap_or("no message")
        );
    }
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    Ok(Child {
        stdout,
        cpu_seconds: seconds(usage.ru_utime) + seconds(usage.ru_stime),
        peak_mib: usage.ru_maxrss as f64 / 1024.0,
    })
}

/// The Python to use, if it imports torch.
fn find_python(args: &TrainBenchArgs) -> Option<PathBuf> {
    let python = args
        .python
        .clone()
        .or_else(|| std::env::var_os("PYTHON").map(PathBuf::from))
        .unwrap_or_else(|| "python3".into());
    let ok = Command::new(&python)
        .args(["-c", "import torch"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!(
            "PyTorch skipped: {} cannot import torch. To compare, install it in a virtual environment \
             (python3 -m venv ~/.venv-torch && ~/.venv-torch/bin/pip install torch) and pass \
             --python ~/.venv-torch/bin/python",
            python.display()
        );
        return None;
    }
    if !args.script.is_file() {
        eprintln!(
            "PyTorch skipped: {} not found (pass --script)",
            args.script.display()
        );
        return None;
    }
    Some(python)
}

/// `bench train`.
pub fn run(args: TrainBenchArgs) -> Result<()> {
    if args.rounds == 0 || args.steps == 0 || args.threads.contains(&0) {
        bail!("--rounds, --steps and every --threads value must be at least 1");
    }
    if let Some(gpu) = args
        .backends
        .iter()
        .find(|b| matches!(b, BackendChoice::Wgpu | BackendChoice::Cuda))
    {
        bail!("--backends {gpu:?}: bench train compares CPU backends with PyTorch on the CPU");
    }
    let benches: Vec<(String, TrainThroughput)> = args
        .models
        .iter()
        .map(|name| {
            Ok((
                name.clone(),
                TrainThroughput::named(name, args.warmup, args.steps)?,
            ))
        })
        .collect::<Result<_>>()?;
    let python = find_python(&args);
    let exe = std::env::current_exe()?;
    let scratch = std::env::temp_dir().join(format!("gtl-bench-train-{}", std::process::id()));
    // (binary, its label suffix, backend); None is PyTorch.
    let mut binaries = vec![(exe, String::new())];
    for path in &args.also_binary {
        let name = path
            .file_name()
            .map_or("?".into(), |n| n.to_string_lossy().to_string());
        binaries.push((path.clone(), format!("@{name}")));
    }
    let mut engines: Vec<Option<(usize, BackendChoice)>> = (0..binaries.len())
        .flat_map(|b| args.backends.iter().map(move |&backend| Some((b, backend))))
        .collect();
    if python.is_some() {
        engines.push(None);
    }
    let total = args.rounds * benches.len() * args.threads.len() * engines.len();
    let mut rows = Vec::new();
    for round in 0..args.rounds {
        for (name, bench) in &benches {
            for &threads in &args.threads {
                let order: Vec<_> = if round % 2 == 0 {
                    engines.clone()
                } else {
                    engines.iter().rev().copied().collect()
                };
                for engine in order {
                    let (label, command) = match (engine, &python) {
                        (Some((binary, backend)), _) => {
                            let (path, suffix) = &binaries[binary];
                            let label =
                                format!("gtl-{}{suffix}", format!("{backend:?}").to_lowercase());
                            let mut command = Command::new(path);
                            command
                                .args(["bench", "train-one", "--model", name])
                                .args(["--backend", &format!("{backend:?}").to_lowercase()])
                                .args(["--steps", &args.steps.to_string()])
                                .args(["--warmup", &args.warmup.to_string()])
                                .arg("--dir")
                                .arg(scratch.join(format!("{round}-{name}-{threads}-{label}")))
                                .env("RAYON_NUM_THREADS", threads.to_string())
                                .env("MATMUL_NUM_THREADS", threads.to_string())
                                .env("RUST_LOG", "warn");
                            (label, command)
                        }
                        (None, Some(python)) => {
                            let mut command = Command::new(python);
                            command
                                .arg(&args.script)
                                .args(bench.script_args()?)
                                .env("OMP_NUM_THREADS", threads.to_string());
                            ("pytorch".to_string(), command)
                        }
                        (None, None) => unreachable!("PyTorch is an engine only with a Python"),
                    };
                    let what = format!("{label} on {name} with {threads} thread(s)");
                    tracing::info!("[{}/{total}] round {round}: {what}", rows.len() + 1);
                    let child = run_child(command, &what)?;
                    let (params, sequences_per_second) = if label == "pytorch" {
                        parse_script_line(&child.stdout).with_context(|| {
                            format!("{what}: unexpected output {:?}", child.stdout)
                        })?
                    } else {
                        let result: ThroughputResult = serde_json::from_str(child.stdout.trim())
                            .with_context(|| format!("{what}: unexpected output"))?;
                        (result.params, result.sequences_per_second)
                    };
                    rows.push(ThroughputRow {
                        round,
                        model: name.clone(),
                        engine: label,
                        threads,
                        params,
                        sequences_per_second,
                        cpu_seconds: child.cpu_seconds,
                        peak_mib: child.peak_mib,
                    });
                }
            }
        }
    }
    std::fs::remove_dir_all(&scratch).ok();
    let table = write_results(&args.out, &rows)?;
    println!("{table}");
    println!("wrote {}", args.out.display());
    Ok(())
}

/// `sequences_per_second=… params=…` from the script's line.
fn parse_script_line(line: &str) -> Option<(usize, f64)> {
    let field = |key: &str| {
        line.split_whitespace()
            .find_map(|part| part.strip_prefix(key).map(str::to_string))
    };
    Some((
        field("params=")?.parse().ok()?,
        field("sequences_per_second=")?.parse().ok()?,
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_script_s_line() {
        let line = "sequences_per_second=195.8 params=4874246 threads=1 vocab=5 length=20 batch=256 d=256 layers=4 torch=2.15.0";
        assert_eq!(super::parse_script_line(line), Some((4_874_246, 195.8)));
        assert_eq!(super::parse_script_line("nothing"), None);
    }
}
