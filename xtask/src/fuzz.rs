//! `cargo xtask fuzz`: mutation fuzzing of the file parsers (gtl_experiment::fuzz).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use gtl_experiment::fuzz::{FuzzReport, FuzzTarget, fuzz};

/// Arguments of `fuzz`.
#[derive(Args, Debug)]
pub struct FuzzArgs {
    /// Parsers to fuzz (default: every one).
    #[arg(long, value_enum, value_delimiter = ',')]
    targets: Vec<FuzzTarget>,
    /// Mutated inputs per parser.
    #[arg(long, default_value_t = 100_000)]
    inputs: usize,
    /// Seed of the input stream.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output folder: report.json, and each failing input as <target>-<index>.bin.
    #[arg(long, default_value = "runs/fuzz")]
    out: PathBuf,
}

/// Fuzzes each parser; exits non-zero when one panicked or refused an input without a message.
pub fn run(args: FuzzArgs) -> Result<()> {
    let targets = if args.targets.is_empty() {
        FuzzTarget::ALL.to_vec()
    } else {
        args.targets.clone()
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("--out {}: cannot create it", args.out.display()))?;
    let device = Default::default();
    let mut reports: Vec<FuzzReport> = Vec::new();
    println!("| parser | inputs | accepted | rejected with a message | failures | seconds |");
    println!("|---|---:|---:|---:|---:|---:|");
    for target in targets {
        let report = fuzz::<burn::backend::NdArray>(target, args.inputs, args.seed, &device);
        println!(
            "| {} | {} | {} | {} | {} | {:.1} |",
            target.name(),
            report.inputs,
            report.accepted,
            report.rejected,
            report.failure_count,
            report.seconds
        );
        for failure in &report.failures {
            let path = args
                .out
                .join(format!("{}-{}.bin", target.name(), failure.index));
            std::fs::write(&path, &failure.input)
                .with_context(|| format!("writing {}", path.display()))?;
            eprintln!("{}: {} ({})", target.name(), failure.reason, path.display());
        }
        reports.push(report);
    }
    let json = serde_json::to_string_pretty(&reports).context("the fuzz report")?;
    std::fs::write(args.out.join("report.json"), json).context("writing report.json")?;
    let failures: usize = reports.iter().map(|r| r.failure_count).sum();
    if failures > 0 {
        bail!("{failures} inputs made a parser panic or fail without a message");
    }
    Ok(())
}
