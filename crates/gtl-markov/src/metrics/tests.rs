//! Metrics against hand computations and their sampling distributions.

use statrs::distribution::{Binomial, DiscreteCDF};

use super::*;

/// A chain whose sequence probabilities are dyadic, so proportional multisets exist exactly.
fn dyadic() -> MarkovChain {
    MarkovChain::new(vec![0.25, 0.75], vec![vec![0.5, 0.5], vec![0.25, 0.75]]).unwrap()
}

#[test]
fn empirical_transition_is_within_five_standard_errors() {
    let chain = MarkovChain::diagonal(4, 0.8).unwrap();
    let samples = chain.sample_dataset(200, 500, 17);
    let empirical = empirical_transition(&samples, 4);
    let mut visits = [0usize; 4];
    for sample in &samples {
        sample[..sample.len() - 1]
            .iter()
            .for_each(|&x| visits[x as usize] += 1);
    }
    for (i, (row, &count)) in empirical.iter().zip(&visits).enumerate() {
        for (j, &frequency) in row.iter().enumerate() {
            let p = chain.transition()[i][j];
            let standard_error = (p * (1.0 - p) / count as f64).sqrt();
            let error = (frequency - p).abs();
            assert!(
                error < 5.0 * standard_error,
                "[{i}][{j}]: {error} vs se {standard_error}"
            );
        }
    }
    let summary = transition_error(&samples, &chain);
    assert!(summary.max_abs < 0.02 && summary.mean_abs <= summary.max_abs);
    assert!((summary.mean_diagonal - 0.8).abs() < 0.01);
}

#[test]
fn transition_error_by_hand() {
    let chain = MarkovChain::diagonal(2, 0.5).unwrap();
    // Bigrams 0→0, 0→1, 0→0 and a token out of range; state 1 is never left.
    let samples = vec![vec![0, 0, 1], vec![0, 0], vec![1, 5]];
    let empirical = empirical_transition(&samples, 2);
    assert_eq!(empirical, vec![vec![2.0 / 3.0, 1.0 / 3.0], vec![0.5, 0.5]]);
    let summary = transition_error(&samples, &chain);
    assert!((summary.mean_abs - (2.0 / 6.0) / 4.0).abs() < 1e-15);
    assert!((summary.max_abs - 1.0 / 6.0).abs() < 1e-15);
    assert!((summary.mean_diagonal - (2.0 / 3.0 + 0.5) / 2.0).abs() < 1e-15);
}

#[test]
fn per_token_nll_by_hand() {
    let chain = dyadic();
    let samples = vec![vec![0, 1], vec![1, 1, 1]];
    let by_hand = -((0.25f64 * 0.5).ln() + (0.75f64 * 0.75 * 0.75).ln()) / 5.0;
    assert!((per_token_nll(&samples, &chain) - by_hand).abs() < 1e-15);
    let identity = MarkovChain::diagonal(2, 1.0).unwrap();
    assert_eq!(per_token_nll(&samples, &identity), f64::INFINITY);
    assert!(per_token_nll(&[], &chain).is_nan());
}

#[test]
fn enumeration_matches_the_likelihood() {
    let chain = MarkovChain::dirichlet(3, 0.8, 5).unwrap();
    let probs = enumerate_probabilities(&chain, 4).unwrap();
    assert_eq!(probs.len(), 81);
    assert!((probs.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    for sequence in chain.sample_dataset(30, 4, 2) {
        let expected = chain.log_likelihood(&sequence).exp();
        assert!((probs[sequence_index(&sequence, 3)] - expected).abs() < 1e-15);
    }
    assert_eq!(sequence_index(&[2, 0, 1], 3), 2 * 9 + 1);
    assert_eq!(sequence_index(&[], 3), 0);
    assert_eq!(enumerate_probabilities(&chain, 0).unwrap(), vec![1.0]);
    let error = enumerate_probabilities(&chain, 13).unwrap_err().to_string();
    assert!(error.contains("3^13"), "{error}");
    assert!(enumerate_probabilities(&chain, 12).is_ok());
    assert!(enumerate_probabilities(&chain, usize::MAX).is_err());
}

#[test]
fn total_variation_shrinks_with_sample_size() {
    let chain = MarkovChain::dirichlet(3, 1.0, 9).unwrap();
    let distances: Vec<f64> = [1_000, 10_000, 100_000]
        .iter()
        .map(|&count| total_variation(&chain.sample_dataset(count, 4, 1), &chain, 4).unwrap())
        .collect();
    println!("TV of exact samples at 1e3, 1e4, 1e5: {distances:?}");
    assert!(distances[0] > distances[1] && distances[1] > distances[2]);
    assert!(distances[2] < 0.02, "{distances:?}");
}

#[test]
fn proportional_samples_have_zero_distance() {
    let chain = dyadic();
    let probs = enumerate_probabilities(&chain, 3).unwrap();
    let mut samples = Vec::new();
    for (index, p) in probs.iter().enumerate() {
        // Every probability is a multiple of 1/64.
        let copies = (p * 128.0) as usize;
        assert_eq!(copies as f64, p * 128.0);
        let sequence = vec![
            (index / 4) as u32,
            (index / 2 % 2) as u32,
            (index % 2) as u32,
        ];
        samples.extend(std::iter::repeat_n(sequence, copies));
    }
    assert_eq!(samples.len(), 128);
    assert_eq!(total_variation(&samples, &chain, 3).unwrap(), 0.0);
    let test = chi_square(&samples, &chain, 3).unwrap();
    assert_eq!(test.statistic, 0.0);
    assert!((test.p_value - 1.0).abs() < 1e-12);

    // Replacing 32 samples by invalid ones moves mass 1/4 out of the support (TV ≥ 1/4).
    let mut shifted = samples.clone();
    shifted[..32].iter_mut().for_each(|s| s[0] = 2);
    assert!(total_variation(&shifted, &chain, 3).unwrap() >= 0.25);
    assert_eq!(total_variation(&[vec![0, 1]], &chain, 3).unwrap(), 1.0);
    assert_eq!(chi_square(&shifted, &chain, 3).unwrap().p_value, 0.0);
    assert!(total_variation(&[], &chain, 3).is_err());
}

#[test]
fn chi_square_pools_small_cells() {
    let chain = MarkovChain::new(vec![0.5, 0.3, 0.1, 0.06, 0.04], vec![vec![0.2; 5]; 5]).unwrap();
    // Expected counts 50, 30, 10, 6, 4: the 4 is pooled with the 6 to reach 10.
    let counts = [48, 33, 9, 5, 5];
    let samples: Vec<Vec<u32>> = counts
        .iter()
        .enumerate()
        .flat_map(|(state, &c)| std::iter::repeat_n(vec![state as u32], c))
        .collect();
    let test = chi_square(&samples, &chain, 1).unwrap();
    assert_eq!(test.dof, 3);
    let by_hand = 4.0 / 50.0 + 9.0 / 30.0 + 1.0 / 10.0 + 0.0;
    assert!((test.statistic - by_hand).abs() < 1e-12);
    assert!(test.p_value > 0.9 && test.p_value < 1.0);
}

#[test]
fn chi_square_is_calibrated_under_the_null() {
    let chain = MarkovChain::dirichlet(3, 1.0, 21).unwrap();
    let replicates: u64 = 200;
    let rejections = (0..replicates)
        .filter(|&r| {
            let samples = chain.sample_dataset(1_000, 4, 1_000 + r);
            chi_square(&samples, &chain, 4).unwrap().p_value < 0.05
        })
        .count();
    let binomial = Binomial::new(0.05, replicates).unwrap();
    let lower = (0..=replicates)
        .find(|&k| binomial.cdf(k) >= 0.0005)
        .unwrap();
    let upper = (0..=replicates)
        .find(|&k| binomial.cdf(k) >= 0.9995)
        .unwrap();
    println!(
        "chi-square null: {rejections}/{replicates} p < 0.05 (99.9% interval [{lower}, {upper}])"
    );
    assert!((lower..=upper).contains(&(rejections as u64)));
}

#[test]
fn chi_square_rejects_a_different_chain() {
    let truth = MarkovChain::dirichlet(3, 1.0, 1).unwrap();
    let other = MarkovChain::dirichlet(3, 1.0, 2).unwrap();
    let samples = other.sample_dataset(2_000, 4, 5);
    let test = chi_square(&samples, &truth, 4).unwrap();
    assert!(test.p_value < 1e-12, "{test:?}");
    let same = chi_square(&truth.sample_dataset(2_000, 4, 5), &truth, 4).unwrap();
    assert!(same.p_value > 1e-3, "{same:?}");
}

#[test]
fn tv_null_quantile_is_monotone_and_deterministic() {
    let chain = MarkovChain::dirichlet(3, 1.0, 9).unwrap();
    let quantiles: Vec<f64> = [0.0, 0.5, 0.9, 0.99, 1.0]
        .iter()
        .map(|&q| tv_null_quantile(&chain, 4, 1_000, 400, q, 3).unwrap())
        .collect();
    println!("TV null quantiles (0, .5, .9, .99, 1) at 1000 samples: {quantiles:?}");
    assert!(quantiles.windows(2).all(|w| w[0] <= w[1]), "{quantiles:?}");
    assert_eq!(
        quantiles[3],
        tv_null_quantile(&chain, 4, 1_000, 400, 0.99, 3).unwrap()
    );
    // A fresh exact sample lies below the 99.9th percentile (deterministic seed).
    let limit = tv_null_quantile(&chain, 4, 1_000, 400, 0.999, 3).unwrap();
    let fresh = total_variation(&chain.sample_dataset(1_000, 4, 77), &chain, 4).unwrap();
    assert!(fresh <= limit, "{fresh} > {limit}");
    assert!(tv_null_quantile(&chain, 4, 1_000, 10, 1.5, 3).is_err());
    assert!(tv_null_quantile(&chain, 4, 0, 10, 0.5, 3).is_err());
    assert!(tv_null_quantile(&chain, 4, 10, 0, 0.5, 3).is_err());
}
