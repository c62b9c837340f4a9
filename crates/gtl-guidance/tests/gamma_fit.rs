//! Fitting γ on held-out target data: with the exact source denoiser and the exact log h the
//! guided conditional at γ = 1 is the target's own conditional (checked against the exact
//! target denoiser on the same masked sequences), and γ = 1 scores best on the grid.

mod common;

use common::{N, TB, oracles, process};
use gtl_diffusion::ProcessKind;
use gtl_guidance::{GammaFitter, Guide, Scorer};
use gtl_markov::MarkovChain;
use gtl_oracle::MarkovDenoiser;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

#[test]
fn gamma_one_is_the_exact_target_conditional_and_wins_the_grid() {
    let source = MarkovChain::diagonal(N, 0.2).unwrap();
    let target = MarkovChain::diagonal(N, 0.8).unwrap();
    let process = process(ProcessKind::Absorbing);
    let (denoiser, exact) = oracles(&source, &target, process);
    let held_out = target.sample_dataset(300, common::LENGTH, 11);
    let device = Default::default();
    let scorer = Scorer::Exact {
        ratio: &exact,
        chunk_rows: 4096,
    };
    let grid = [0.0, 0.5, 1.0, 2.0, 4.0];
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let fitter = GammaFitter {
        gammas: grid.to_vec(),
        draws: 10,
        bins: 1,
    };
    let guide = Guide {
        denoiser: &denoiser,
        scorer,
        process: &process,
    };
    let fit = fitter
        .fit::<TB>(guide, &held_out, &device, &mut rng)
        .unwrap();
    eprintln!("{fit:?}");
    assert_eq!(fit.rows, 3000);
    assert_eq!(fit.best, 1.0);
    let at = |g: f64| fit.log_likelihood[grid.iter().position(|&x| x == g).unwrap()];
    assert!(
        at(1.0) > at(0.0) + 0.1,
        "guidance must help: {:?}",
        fit.log_likelihood
    );

    // The same masked rows (same seed) scored by the exact target denoiser, unguided.
    let target_denoiser = MarkovDenoiser::new(target.clone(), process).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let unguided = GammaFitter {
        gammas: vec![0.0],
        ..fitter
    };
    let direct = unguided
        .fit::<TB>(
            Guide {
                denoiser: &target_denoiser,
                ..guide
            },
            &held_out,
            &device,
            &mut rng,
        )
        .unwrap();
    let difference = (direct.log_likelihood[0] - at(1.0)).abs();
    assert!(
        difference < 1e-4,
        "{} vs {}",
        direct.log_likelihood[0],
        at(1.0)
    );
}
