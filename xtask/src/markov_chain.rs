//! `cargo xtask markov-chain`: build a chain from a family and write it as JSON.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use gtl_markov::MarkovChain;

/// Chain families.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Family {
    /// `d` on the diagonal, uniform off the diagonal (the reference paper: source 0.1, target 0.8).
    Diagonal,
    /// Initial distribution and rows drawn from Dirichlet(alpha).
    Dirichlet,
}

/// Arguments of `markov-chain`.
#[derive(Args, Debug)]
pub struct MarkovChainArgs {
    /// Chain family.
    #[arg(long, value_enum, default_value_t = Family::Diagonal)]
    family: Family,
    /// Number of states N (≥ 1).
    #[arg(long)]
    states: usize,
    /// Diagonal probability d in [0, 1] (diagonal family).
    #[arg(long, default_value_t = 0.8)]
    diag: f64,
    /// Dirichlet concentration alpha > 0 (dirichlet family).
    #[arg(long, default_value_t = 1.0)]
    alpha: f64,
    /// Seed of the dirichlet family.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Mix with this chain: (1-λ)·family + λ·other (same number of states).
    #[arg(long)]
    mix_with: Option<PathBuf>,
    /// Mixture weight λ in [0, 1] of --mix-with.
    #[arg(long, default_value_t = 0.5)]
    lambda: f64,
    /// Add this many target-only states (the poor-overlap failure mode).
    #[arg(long, default_value_t = 0)]
    extra_states: usize,
    /// Total probability of leaving each original state to the extra states, in [0, 1].
    #[arg(long, default_value_t = 0.2)]
    extra_mass: f64,
    /// Output JSON file.
    #[arg(long)]
    out: PathBuf,
}

/// Builds the chain and writes it.
pub fn run(args: MarkovChainArgs) -> Result<()> {
    if args.states == 0 || args.states > gtl_experiment::config::MAX_STATES {
        bail!(
            "--states = {}: must be in 1..={} (a chain stores N² transition probabilities)",
            args.states,
            gtl_experiment::config::MAX_STATES
        );
    }
    let mut chain = match args.family {
        Family::Diagonal => MarkovChain::diagonal(args.states, args.diag)?,
        Family::Dirichlet => MarkovChain::dirichlet(args.states, args.alpha, args.seed)?,
    };
    if let Some(path) = &args.mix_with {
        let other = MarkovChain::load_json(path)?;
        chain = MarkovChain::mixture(&chain, &other, args.lambda)?;
    }
    if args.extra_states > 0 {
        chain = chain.with_extra_states(args.extra_states, args.extra_mass)?;
    }
    chain
        .save_json(&args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    tracing::info!(states = chain.num_states(), out = %args.out.display(), "chain written");
    Ok(())
}
