//! MAUVE (Pillutla et al., 2021): how far a set of generated texts is from a set of
//! reference texts, as the area under a divergence curve between their histograms over a
//! k-means quantisation of feature vectors.
//!
//! Both sets of feature vectors are clustered together (k-means++, several seeded restarts,
//! the lowest inertia kept); P̂ and Q̂ are the shares of the generated and of the reference
//! vectors per cluster. For λ on a grid in (0, 1) and `R_λ = λ P̂ + (1 − λ) Q̂`, the curve
//! holds the points `(exp(−c · KL(Q̂ ‖ R_λ)), exp(−c · KL(P̂ ‖ R_λ)))` with scaling c, plus the
//! end points (0, 1) and (1, 0); MAUVE is its trapezoidal area, in (0, 1], 1 when P̂ = Q̂. The
//! score is averaged over several k-means seeds.

use serde::Serialize;

use crate::EvalError;
use crate::kmeans::{Points, kmeans};
use crate::tfidf::{HashedTfidf, TfidfConfig};

/// How MAUVE quantises and scores.
#[derive(Clone, Debug)]
pub struct MauveConfig {
    /// Number of k-means clusters; `None` (default) takes the smaller set's size / 10,
    /// rounded, at least 2.
    pub clusters: Option<usize>,
    /// k-means++ restarts per seed, the lowest inertia kept; default 5.
    pub restarts: usize,
    /// Most Lloyd iterations per restart; default 300.
    pub max_iterations: usize,
    /// Number of k-means seeds the score is averaged over; default 5.
    pub seeds: usize,
    /// The first k-means seed (then `seed + 1`, …); default 0.
    pub seed: u64,
    /// The scaling constant c; default 5.
    pub scaling: f64,
    /// Number of λ values, evenly spaced in (0, 1) at `i / (grid + 1)`; default 25.
    pub grid: usize,
}

impl Default for MauveConfig {
    fn default() -> Self {
        MauveConfig {
            clusters: None,
            restarts: 5,
            max_iterations: 300,
            seeds: 5,
            seed: 0,
            scaling: 5.0,
            grid: 25,
        }
    }
}

/// A MAUVE score.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Mauve {
    /// The mean over k-means seeds.
    pub score: f64,
    /// The score of each seed.
    pub per_seed: Vec<f64>,
    /// The number of clusters used.
    pub clusters: usize,
}

/// `KL(a ‖ r)` in nats, where `r > 0` wherever `a > 0`.
fn kl(a: &[f64], r: &[f64]) -> f64 {
    a.iter()
        .zip(r)
        .filter(|(a, _)| **a > 0.0)
        .map(|(a, r)| a * (a / r).ln())
        .sum()
}

/// MAUVE of two histograms over the same bins (normalised here): the area under the
/// divergence curve with scaling `scaling` over `grid` values of λ. Errors when the
/// histograms differ in length, have a negative or non-finite entry or no mass, or when
/// `scaling ≤ 0` or `grid = 0`.
pub fn mauve_of_histograms(
    p: &[f64],
    q: &[f64],
    scaling: f64,
    grid: usize,
) -> Result<f64, EvalError> {
    let normalised = |h: &[f64]| -> Result<Vec<f64>, EvalError> {
        let total: f64 = h.iter().sum();
        if h.iter().any(|v| !(v.is_finite() && *v >= 0.0)) || total <= 0.0 || !total.is_finite() {
            return Err(EvalError::Input(format!(
                "a MAUVE histogram needs finite non-negative entries and some mass: {h:?}"
            )));
        }
        Ok(h.iter().map(|v| v / total).collect())
    };
    if p.len() != q.len() {
        return Err(EvalError::Input(format!(
            "MAUVE histograms of {} and {} bins",
            p.len(),
            q.len()
        )));
    }
    if !(scaling > 0.0 && scaling.is_finite()) || grid == 0 {
        return Err(EvalError::Input(format!(
            "mauve.scaling = {scaling}, grid = {grid}: need scaling > 0 and grid ≥ 1"
        )));
    }
    let (p, q) = (normalised(p)?, normalised(q)?);
    let mut curve: Vec<(f64, f64)> = vec![(0.0, 1.0), (1.0, 0.0)];
    for i in 1..=grid {
        let lambda = i as f64 / (grid + 1) as f64;
        let r: Vec<f64> = p
            .iter()
            .zip(&q)
            .map(|(p, q)| lambda * p + (1.0 - lambda) * q)
            .collect();
        curve.push(((-scaling * kl(&q, &r)).exp(), (-scaling * kl(&p, &r)).exp()));
    }
    // The curve falls from (0, 1) to (1, 0): by x, and down a vertical stretch at equal x.
    curve.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)));
    Ok(curve
        .windows(2)
        .map(|w| (w[1].0 - w[0].0) * (w[0].1 + w[1].1) / 2.0)
        .sum())
}

/// MAUVE of the `generated` feature vectors against the `reference` ones (all of one
/// length). Errors when a set is empty, the lengths differ, a coordinate is not finite, or
/// the configuration is out of range.
pub fn mauve(
    generated: &[Vec<f32>],
    reference: &[Vec<f32>],
    config: &MauveConfig,
) -> Result<Mauve, EvalError> {
    let dim = generated.first().map_or(0, Vec::len);
    if generated.is_empty() || reference.is_empty() || dim == 0 {
        return Err(EvalError::Input(format!(
            "MAUVE needs non-empty sets of non-empty vectors (got {} and {})",
            generated.len(),
            reference.len()
        )));
    }
    let all = generated.iter().chain(reference);
    if let Some(v) = all
        .clone()
        .find(|v| v.len() != dim || v.iter().any(|x| !x.is_finite()))
    {
        return Err(EvalError::Input(format!(
            "MAUVE features must all have {dim} finite coordinates (one has {})",
            v.len()
        )));
    }
    let n = generated.len() + reference.len();
    let k = config.clusters.unwrap_or_else(|| {
        ((generated.len().min(reference.len()) as f64 / 10.0).round() as usize).max(2)
    });
    if k == 0 || k > n || config.seeds == 0 {
        return Err(EvalError::Input(format!(
            "mauve.clusters = {k}, seeds = {}: need 1 ≤ clusters ≤ {n} points and seeds ≥ 1",
            config.seeds
        )));
    }
    let data: Vec<f32> = all.flatten().copied().collect();
    let points = Points { data: &data, dim };
    let mut per_seed = Vec::with_capacity(config.seeds);
    for s in 0..config.seeds as u64 {
        let clustering = kmeans(
            &points,
            k,
            config.restarts,
            config.max_iterations,
            config.seed.wrapping_add(s),
        );
        let (mut p, mut q) = (vec![0.0; k], vec![0.0; k]);
        for (i, &c) in clustering.assignment.iter().enumerate() {
            if i < generated.len() {
                p[c] += 1.0;
            } else {
                q[c] += 1.0;
            }
        }
        per_seed.push(mauve_of_histograms(&p, &q, config.scaling, config.grid)?);
    }
    Ok(Mauve {
        score: per_seed.iter().sum::<f64>() / per_seed.len() as f64,
        per_seed,
        clusters: k,
    })
}

/// "MAUVE on hashed TF-IDF features": MAUVE of `generated` against `reference` texts under
/// [`HashedTfidf`] features whose IDF weights are fitted on both sets together. Comparable
/// only with scores under the same feature and MAUVE settings and set sizes, never with
/// MAUVE on language-model features.
pub fn hashed_tfidf_mauve<S: AsRef<str>>(
    generated: &[S],
    reference: &[S],
    features: &TfidfConfig,
    config: &MauveConfig,
) -> Result<Mauve, EvalError> {
    let both: Vec<&str> = generated
        .iter()
        .chain(reference)
        .map(AsRef::as_ref)
        .collect();
    let map = HashedTfidf::fit(&both, features)?;
    let embed =
        |texts: &[S]| -> Vec<Vec<f32>> { texts.iter().map(|t| map.embed(t.as_ref())).collect() };
    mauve(&embed(generated), &embed(reference), config)
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// Curves small enough to draw by hand.
    #[test]
    fn areas_of_hand_computed_curves() {
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        // Equal histograms: every grid point is (1, 1); the area is the unit square.
        assert!(close(
            mauve_of_histograms(&[1.0, 3.0], &[2.0, 6.0], 5.0, 25).unwrap(),
            1.0
        ));
        // Disjoint P = (1, 0), Q = (0, 1): KL(Q‖R) = −ln(1 − λ), KL(P‖R) = −ln λ, so the
        // points are ((1 − λ)^c, λ^c). With c = 1 they lie on x + y = 1: area ½ exactly.
        assert!(close(
            mauve_of_histograms(&[1.0, 0.0], &[0.0, 1.0], 1.0, 7).unwrap(),
            0.5
        ));
        // With c = 5 and λ = ½ alone: (0, 1), (1/32, 1/32), (1, 0) enclose 1/32.
        assert!(close(
            mauve_of_histograms(&[1.0, 0.0], &[0.0, 1.0], 5.0, 1).unwrap(),
            1.0 / 32.0
        ));
        // As the grid refines, the c = 5 area tends to ∫₀¹ (1 − x^{1/5})^5 dx = 5 B(5, 6)
        // = 1/252 (substitute x = t^5). The trapezoid rule's excess on this convex curve is
        // 6e-8 at 1,000 points and shrinks as 1 / grid², so about 1.5e-8 at 2,000.
        let fine = mauve_of_histograms(&[1.0, 0.0], &[0.0, 1.0], 5.0, 2000).unwrap();
        assert!((fine - 1.0 / 252.0).abs() < 1e-7, "{fine}");
        // P = (½, ½), Q = (1, 0), c = 1, λ = ½: R = (¾, ¼), KL(Q‖R) = ln(4/3),
        // KL(P‖R) = ½ ln(4/3), so the point is (¾, √¾).
        let y = 0.75f64.sqrt();
        let area = 0.75 * (1.0 + y) / 2.0 + 0.25 * y / 2.0;
        assert!(close(
            mauve_of_histograms(&[0.5, 0.5], &[1.0, 0.0], 1.0, 1).unwrap(),
            area
        ));
        assert!(mauve_of_histograms(&[1.0], &[1.0, 0.0], 5.0, 25).is_err());
        assert!(mauve_of_histograms(&[0.0, 0.0], &[1.0, 0.0], 5.0, 25).is_err());
        assert!(mauve_of_histograms(&[1.0, 0.0], &[1.0, 0.0], 5.0, 0).is_err());
    }

    fn blob(rng: &mut ChaCha8Rng, n: usize, center: f32) -> Vec<Vec<f32>> {
        (0..n)
            .map(|_| (0..8).map(|_| center + rng.random::<f32>() - 0.5).collect())
            .collect()
    }

    /// Identical sets share every cluster equally (MAUVE 1 up to rounding); two blobs ten
    /// widths apart fill disjoint clusters, which gives the disjoint-histogram curve
    /// of the 25-point grid, about 0.004 (far below any overlapping pair).
    #[test]
    fn identical_sets_score_one_and_separated_sets_near_zero() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let a = blob(&mut rng, 200, 0.0);
        let far = blob(&mut rng, 200, 10.0);
        let config = MauveConfig::default();
        let same = mauve(&a, &a, &config).unwrap();
        assert!((same.score - 1.0).abs() < 1e-12, "{}", same.score);
        assert_eq!(same.clusters, 20);
        let apart = mauve(&a, &far, &config).unwrap();
        let disjoint = mauve_of_histograms(&[1.0, 0.0], &[0.0, 1.0], 5.0, 25).unwrap();
        assert!((apart.score - disjoint).abs() < 1e-9, "{}", apart.score);
        assert!(apart.score < 0.01);
        assert!(mauve(&a, &[], &config).is_err());
        assert!(mauve(&a, &[vec![0.0; 3]], &config).is_err());
    }

    /// On texts: two samples of one word distribution score high, texts over disjoint
    /// vocabularies score near the disjoint-histogram value.
    #[test]
    fn hashed_tfidf_mauve_tells_domains_apart() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut texts = |prefix: &str, n: usize| -> Vec<String> {
            (0..n)
                .map(|_| {
                    (0..30)
                        .map(|_| {
                            format!(
                                "{prefix}{}",
                                rng.random_range(0..40u32).min(rng.random_range(0..40))
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect()
        };
        let (a, b, c) = (texts("x", 300), texts("x", 300), texts("y", 300));
        let features = TfidfConfig::default();
        let config = MauveConfig {
            seeds: 2,
            restarts: 2,
            ..MauveConfig::default()
        };
        let same = hashed_tfidf_mauve(&a, &b, &features, &config).unwrap();
        let apart = hashed_tfidf_mauve(&a, &c, &features, &config).unwrap();
        assert!(same.score > 0.8, "same distribution: {}", same.score);
        assert!(apart.score < 0.01, "disjoint vocabularies: {}", apart.score);
    }
}
