//! The error of a learned `log h_t` estimate against the exact Markov one, by t (MATH.md §5,
//! §7), binned by gtl-eval.

use burn::prelude::*;
use gtl_classifier::{RatioModel, log_ratios};
use gtl_diffusion::sampler::{tensor_tokens, tokens_tensor};
use gtl_diffusion::{Process, antithetic_times};
use gtl_eval::{ErrorBin, bin_errors};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::MarkovLogRatio;

/// Scores `model` against the exact ratio on each named set of clean sequences: every
/// sequence is noised once at stratified times in `[t_min, 1]` (`seed` fixes the times and
/// the corruption, so estimators scored with one seed see the same noisy sequences), and the
/// pairs are binned into `bins` equal t-bins; the last row of each domain covers all t.
/// Sequences whose exact `log h_t` is infinite (off the source's support) are left out.
pub fn ratio_error<B: Backend>(
    model: &dyn RatioModel<B>,
    exact: &MarkovLogRatio,
    process: &Process,
    domains: &[(&str, &[Vec<u32>])],
    bins: usize,
    seed: u64,
    device: &B::Device,
) -> Vec<ErrorBin> {
    assert!(bins >= 1, "ratio_error needs at least one t-bin");
    let mut rows = Vec::new();
    for &(domain, sequences) in domains {
        let count = sequences.len();
        if count == 0 {
            continue;
        }
        let length = sequences[0].len();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let t = antithetic_times(count, process.schedule.min_training_time(), 0.5);
        let flat: Vec<u32> = sequences.iter().flatten().copied().collect();
        let x0 = tokens_tensor::<B>(&flat, count, length, device);
        let z_flat = tensor_tokens(process.corrupt(x0, &t, &mut rng));
        let z: Vec<Vec<u32>> = z_flat.chunks(length).map(<[u32]>::to_vec).collect();
        let borrowed: Vec<&[u32]> = z.iter().map(Vec::as_slice).collect();
        let exact_values = exact.log_h(&borrowed, &t);
        let estimates = log_ratios(model, &z, &t, device);
        let triples: Vec<(f64, f64, f64)> = t
            .iter()
            .zip(&exact_values)
            .zip(&estimates)
            .map(|((&t, &exact), &estimate)| (t, estimate, exact))
            .collect();
        rows.extend(bin_errors(domain, &triples, bins));
    }
    rows
}

#[cfg(test)]
mod tests {
    use burn::backend::NdArray;
    use gtl_diffusion::{ProcessKind, Schedule};
    use gtl_markov::MarkovChain;

    use gtl_eval::{read_error_csv, write_error_csv};

    use super::*;

    /// The exact ratio scores zero error everywhere; the exact ratio plus 2 scores MSE 4,
    /// bias 2 and error variance 0; each bin's count adds up to the all-t row.
    #[test]
    fn the_exact_ratio_has_no_error_and_a_shift_is_pure_bias() {
        let source = MarkovChain::diagonal(3, 0.2).unwrap();
        let target = MarkovChain::diagonal(3, 0.8).unwrap();
        let process = Process::new(ProcessKind::Absorbing, 3, Schedule::default()).unwrap();
        let exact = MarkovLogRatio::new(source.clone(), target.clone(), process).unwrap();
        let shifted = Shifted(&exact);
        let data = target.sample_dataset(200, 6, 4);
        let device = Default::default();
        let domains = [("target", data.as_slice())];
        let rows = ratio_error::<NdArray>(&exact, &exact, &process, &domains, 4, 1, &device);
        assert_eq!(rows.len(), 5);
        assert!(rows.iter().all(|r| r.mse < 1e-9));
        let rows = ratio_error::<NdArray>(&shifted, &exact, &process, &domains, 4, 1, &device);
        let path = std::env::temp_dir().join(format!("gtl-eval-bins-{}.csv", std::process::id()));
        write_error_csv(&path, &rows).unwrap();
        assert_eq!(read_error_csv(&path).unwrap(), rows);
        let _ = std::fs::remove_file(&path);
        let all = rows.iter().find(|r| r.is_overall()).unwrap();
        assert_eq!(all.count, 200);
        assert_eq!(rows[..4].iter().map(|r| r.count).sum::<usize>(), 200);
        assert!((all.mse - 4.0).abs() < 1e-6 && (all.bias - 2.0).abs() < 1e-6);
        assert!(all.error_variance.abs() < 1e-6);
        assert!(all.exact_variance > 0.1);
    }

    struct Shifted<'a>(&'a MarkovLogRatio);

    impl<B: Backend> RatioModel<B> for Shifted<'_> {
        fn log_ratio(&self, tokens: Tensor<B, 2, Int>, t: Tensor<B, 1>) -> Tensor<B, 1> {
            RatioModel::<B>::log_ratio(self.0, tokens, t).add_scalar(2.0)
        }
    }
}
