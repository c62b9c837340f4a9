//! Mutation fuzzing of every parser a user's file reaches (docs/reliability.md): an experiment
//! config (TOML), a chain file (JSON), a samples file (JSONL), a FASTA file, a training
//! checkpoint and a weights file. Each input is a valid file of that kind with a few seeded
//! random mutations (byte flips, insertions, deletions, duplicated or dropped ranges,
//! truncation, numbers and tokens known to break parsers); for the binary formats, half of
//! the inputs get a recomputed checksum so the mutation reaches the decoder behind it. A parser
//! passes when it never panics and every rejection comes with a message. (An allocation
//! failure aborts the process, which fails the caller as loudly.)

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::Instant;

use burn::prelude::*;
use gtl_markov::MarkovChain;
use gtl_models::training::{
    CheckpointFile, MetricsRow, RngState, RunState, load_module_bytes, module_bytes,
};
use gtl_models::{DenoiserNet, DenoiserNetConfig, TrunkConfig};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::config::ExperimentConfig;

/// The parsers under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum FuzzTarget {
    /// An experiment config: TOML parsing, unknown keys, every range check.
    Config,
    /// A Markov chain file (JSON).
    Chain,
    /// A samples file (JSONL of token ids).
    Samples,
    /// A FASTA file.
    Fasta,
    /// A training checkpoint (header, sections, checksum, run state).
    Checkpoint,
    /// A weights file (`model.mpk`) loaded into a network.
    Weights,
}

impl FuzzTarget {
    /// Every target.
    pub const ALL: [FuzzTarget; 6] = [
        FuzzTarget::Config,
        FuzzTarget::Chain,
        FuzzTarget::Samples,
        FuzzTarget::Fasta,
        FuzzTarget::Checkpoint,
        FuzzTarget::Weights,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            FuzzTarget::Config => "config",
            FuzzTarget::Chain => "chain",
            FuzzTarget::Samples => "samples",
            FuzzTarget::Fasta => "fasta",
            FuzzTarget::Checkpoint => "checkpoint",
            FuzzTarget::Weights => "weights",
        }
    }
}

/// What fuzzing one target found.
#[derive(Clone, Debug, Serialize)]
pub struct FuzzReport {
    /// The parser.
    pub target: FuzzTarget,
    /// Inputs tried.
    pub inputs: usize,
    /// Inputs the parser accepted.
    pub accepted: usize,
    /// Inputs refused with a message.
    pub rejected: usize,
    /// Inputs that made the parser panic, or that were refused without a message (kept so a
    /// failure can be replayed; at most 10).
    pub failures: Vec<FuzzFailure>,
    /// Number of failing inputs (all of them, not only those kept).
    pub failure_count: usize,
    /// Wall time.
    pub seconds: f64,
}

/// One input a parser failed on.
#[derive(Clone, Debug, Serialize)]
pub struct FuzzFailure {
    /// Index of the input in the seeded stream.
    pub index: usize,
    /// What went wrong: the panic message, or "rejected without a message".
    pub reason: String,
    /// The input.
    pub input: Vec<u8>,
}

/// Outcome of one parse.
enum Outcome {
    Accepted,
    Rejected(String),
}

/// Fuzzes `target` with `inputs` mutated files from the stream of `seed`.
pub fn fuzz<B: Backend>(
    target: FuzzTarget,
    inputs: usize,
    seed: u64,
    device: &B::Device,
) -> FuzzReport {
    let start = Instant::now();
    let seeds = seed_files::<B>(target, device);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (target as u64).wrapping_mul(0x9e37_79b9));
    let mut report = FuzzReport {
        target,
        inputs,
        accepted: 0,
        rejected: 0,
        failures: Vec::new(),
        failure_count: 0,
        seconds: 0.0,
    };
    // Panics are caught and counted; the default hook would print each one.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for index in 0..inputs {
        let mut input = seeds[rng.random_range(0..seeds.len())].clone();
        let binary = matches!(target, FuzzTarget::Checkpoint | FuzzTarget::Weights);
        for _ in 0..rng.random_range(1..=4) {
            mutate(&mut input, binary, &mut rng);
        }
        if target == FuzzTarget::Checkpoint && rng.random_bool(0.5) && input.len() >= 4 {
            // A valid checksum, so the mutation reaches the sections and the run state.
            let body = input.len() - 4;
            let crc = crc32fast::hash(&input[..body]);
            input[body..].copy_from_slice(&crc.to_le_bytes());
        }
        let outcome = catch_unwind(AssertUnwindSafe(|| parse::<B>(target, &input, device)));
        let failure = match outcome {
            Ok(Outcome::Accepted) => {
                report.accepted += 1;
                None
            }
            Ok(Outcome::Rejected(message)) if !message.trim().is_empty() => {
                report.rejected += 1;
                None
            }
            Ok(Outcome::Rejected(_)) => Some("rejected without a message".to_string()),
            Err(panic) => Some(format!(
                "panic: {}",
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
            )),
        };
        if let Some(reason) = failure {
            report.failure_count += 1;
            if report.failures.len() < 10 {
                report.failures.push(FuzzFailure {
                    index,
                    reason,
                    input,
                });
            }
        }
    }
    std::panic::set_hook(hook);
    report.seconds = start.elapsed().as_secs_f64();
    report
}

fn parse<B: Backend>(target: FuzzTarget, input: &[u8], device: &B::Device) -> Outcome {
    let path = Path::new("fuzz-input");
    let text = || std::str::from_utf8(input).map_err(|e| format!("not UTF-8: {e}"));
    let result: Result<(), String> = match target {
        FuzzTarget::Config => text().and_then(|t| {
            ExperimentConfig::parse(t)
                .map(drop)
                .map_err(|e| e.to_string())
        }),
        FuzzTarget::Chain => text().and_then(|t| {
            MarkovChain::parse_json(t, path)
                .map(drop)
                .map_err(|e| e.to_string())
        }),
        FuzzTarget::Samples => text().and_then(|t| {
            crate::io::parse_samples(t, path, Some(6), Some(8))
                .map(drop)
                .map_err(|e| e.to_string())
        }),
        FuzzTarget::Fasta => gtl_data::FastaReader::new(std::io::Cursor::new(input), path)
            .collect::<Result<Vec<_>, _>>()
            .map(drop)
            .map_err(|e| e.to_string()),
        FuzzTarget::Checkpoint => CheckpointFile::decode(input, path)
            .map(drop)
            .map_err(|e| e.to_string()),
        FuzzTarget::Weights => {
            load_module_bytes(tiny_net::<B>(device), input.to_vec(), device, path)
                .map(drop)
                .map_err(|e| e.to_string())
        }
    };
    match result {
        Ok(()) => Outcome::Accepted,
        Err(message) => Outcome::Rejected(message),
    }
}

fn tiny_net<B: Backend>(device: &B::Device) -> DenoiserNet<B> {
    let trunk = TrunkConfig::preset("tiny", 6, 6).expect("the tiny preset");
    DenoiserNetConfig::new(trunk, 5, true).init(device)
}

/// Valid files of the target's kind, the starting points of every input.
fn seed_files<B: Backend>(target: FuzzTarget, device: &B::Device) -> Vec<Vec<u8>> {
    let text = |s: &str| s.as_bytes().to_vec();
    match target {
        FuzzTarget::Config => vec![
            text(include_str!("../../../configs/markov-ci.toml")),
            text(include_str!("../../../configs/markov-default.toml")),
            text(include_str!("../../../configs/arxiv-ci.toml")),
        ],
        FuzzTarget::Chain => [3, 5]
            .iter()
            .map(|&n| {
                let chain = MarkovChain::dirichlet(n, 1.0, n as u64).expect("a chain");
                serde_json::to_vec_pretty(&chain).expect("a chain serialises")
            })
            .collect(),
        FuzzTarget::Samples => vec![
            text("[0, 1, 2, 3, 4, 5]\n[7, 7, 7, 0, 1, 2]\n"),
            text("{\"tokens\": [1, 2, 3, 4, 5, 6], \"text\": \"a b\"}\n\n[0, 0, 0, 0, 0, 0]\n"),
        ],
        FuzzTarget::Fasta => vec![
            text(">seq1 a\tBacteria;Firmicutes;Bacilli\nACGTACGTNN\nacgtRYKM\n>seq2\nGGCC\n"),
            text(">x\nA\n\n>y desc\nACGT\nACGT\n"),
        ],
        FuzzTarget::Checkpoint => {
            let mut rng = ChaCha8Rng::seed_from_u64(1);
            rng.next_u64();
            let state = RunState {
                step: 3,
                rng: RngState::capture(&rng),
                best_validation: Some(0.5),
                stale_validations: 1,
                history: vec![MetricsRow {
                    step: 1,
                    loss: 1.25,
                    lr: 1e-3,
                    validation: Some(0.5),
                }],
            };
            let file = CheckpointFile {
                state,
                model: vec![1, 2, 3, 4],
                optimizer: vec![5, 6],
                ema: Some(vec![7]),
            };
            let dir = std::env::temp_dir().join(format!("gtl-fuzz-{}", std::process::id()));
            let path = dir.join("checkpoint.bin");
            file.write(&path).expect("a checkpoint is written");
            let bytes = std::fs::read(&path).expect("the checkpoint reads back");
            let _ = std::fs::remove_dir_all(&dir);
            vec![bytes]
        }
        FuzzTarget::Weights => vec![module_bytes(&tiny_net::<B>(device))],
    }
}

/// Strings that break parsers: huge, negative, non-finite and malformed numbers, brackets,
/// quotes, NUL and non-ASCII bytes.
const TOKENS: &[&str] = &[
    "-1",
    "0",
    "1e309",
    "-1e309",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "18446744073709551616",
    "4294967296",
    "99999999999999999999999999",
    "1e-400",
    "0.0000001",
    "\"\"",
    "[",
    "]",
    "{",
    "}",
    "[[",
    "=",
    "\"",
    "'",
    "\\",
    "\n",
    ">",
    ";",
    "\t",
    "\0",
    "é",
    "null",
    "true",
    "[]",
    "{}",
    "\u{feff}",
];

/// One random edit of `input`.
fn mutate(input: &mut Vec<u8>, binary: bool, rng: &mut ChaCha8Rng) {
    let len = input.len();
    let at = |rng: &mut ChaCha8Rng| rng.random_range(0..=len);
    match rng.random_range(0..8) {
        0 if len > 0 => {
            let i = rng.random_range(0..len);
            input[i] ^= 1 << rng.random_range(0..8);
        }
        1 => {
            let i = at(rng);
            input.insert(i, rng.random());
        }
        2 if len > 0 => {
            let start = rng.random_range(0..len);
            let end = (start + rng.random_range(1..=16)).min(len);
            input.drain(start..end);
        }
        3 if len > 0 => {
            let start = rng.random_range(0..len);
            let end = (start + rng.random_range(1..=64)).min(len);
            let copy = input[start..end].to_vec();
            let i = at(rng);
            input.splice(i..i, copy);
        }
        4 => input.truncate(at(rng)),
        5 if !binary => {
            let token = TOKENS[rng.random_range(0..TOKENS.len())].as_bytes();
            let i = at(rng);
            input.splice(i..i, token.iter().copied());
        }
        6 if !binary => replace_number(input, rng),
        _ if binary && len >= 8 => {
            // A length-like field: 8 little-endian bytes set to a huge or small value.
            let i = rng.random_range(0..=len - 8);
            let value: u64 = match rng.random_range(0..3) {
                0 => u64::MAX,
                1 => 1 << rng.random_range(20..63),
                _ => rng.random_range(0..64),
            };
            input[i..i + 8].copy_from_slice(&value.to_le_bytes());
        }
        _ => {
            let i = if len > 0 { rng.random_range(0..len) } else { 0 };
            if i < len {
                input[i] = rng.random();
            }
        }
    }
}

/// Replaces one run of digits in a text by a token of [`TOKENS`].
fn replace_number(input: &mut Vec<u8>, rng: &mut ChaCha8Rng) {
    let digits: Vec<usize> = (0..input.len())
        .filter(|&i| input[i].is_ascii_digit() && (i == 0 || !input[i - 1].is_ascii_digit()))
        .collect();
    if digits.is_empty() {
        return;
    }
    let start = digits[rng.random_range(0..digits.len())];
    let end = (start..input.len())
        .find(|&i| !(input[i].is_ascii_digit() || input[i] == b'.' || input[i] == b'e'))
        .unwrap_or(input.len());
    let token = TOKENS[rng.random_range(0..13)].as_bytes();
    input.splice(start..end, token.iter().copied());
}

#[cfg(test)]
mod tests {
    use burn::backend::NdArray;

    use super::*;

    /// Every parser survives 10,000 mutated inputs of its kind (CI); `cargo xtask fuzz` runs
    /// the long version. The seed files themselves must be accepted, or the mutations would
    /// only test the first error path. Seed 0's first 10,000 weights inputs hold 10 files that
    /// made burn's decoder panic before `load_module_bytes` caught it (indices 2586 to 9653).
    #[test]
    fn every_parser_survives_mutated_inputs() {
        let device = Default::default();
        for target in FuzzTarget::ALL {
            for file in seed_files::<NdArray>(target, &device) {
                match parse::<NdArray>(target, &file, &device) {
                    Outcome::Accepted => {}
                    Outcome::Rejected(message) => {
                        panic!("{}: a seed file is refused: {message}", target.name())
                    }
                }
            }
            let report = fuzz::<NdArray>(target, 10_000, 0, &device);
            assert_eq!(
                report.failure_count,
                0,
                "{}: {:?}",
                target.name(),
                report
                    .failures
                    .iter()
                    .map(|f| (f.index, &f.reason, f.input.len()))
                    .collect::<Vec<_>>()
            );
            assert!(
                report.rejected > 0,
                "{}: nothing was rejected",
                target.name()
            );
            assert_eq!(report.accepted + report.rejected, report.inputs);
        }
    }
}
