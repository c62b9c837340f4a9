//! Unit tests of the losses, the estimators' regression targets and the configuration
//! (f32 NdArray, the float type of production runs).

use burn::backend::NdArray;
use burn::prelude::*;

use crate::*;

type TB = NdArray<f32>;

fn vector(values: &[f64]) -> Tensor<TB, 1> {
    let values: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    Tensor::from_data(
        TensorData::new(values.clone(), [values.len()]),
        &Default::default(),
    )
}

fn host(tensor: Tensor<TB, 1>) -> Vec<f64> {
    tensor
        .into_data()
        .to_vec::<f32>()
        .unwrap()
        .into_iter()
        .map(f64::from)
        .collect()
}

/// `-y ln σ(f) - (1 - y) ln(1 - σ(f))` written out by hand (fine at moderate `f`).
fn bce_by_hand(f: f64, y: f64) -> f64 {
    let p = 1.0 / (1.0 + (-f).exp());
    -y * p.ln() - (1.0 - y) * (1.0 - p).ln()
}

#[test]
fn bce_matches_the_hand_formula() {
    let cases = [
        (0.0, 1.0),
        (0.0, 0.0),
        (2.0, 1.0),
        (2.0, 0.0),
        (-3.0, 0.3),
        (1.5, 0.9),
    ];
    let logits: Vec<f64> = cases.iter().map(|c| c.0).collect();
    let labels: Vec<f64> = cases.iter().map(|c| c.1).collect();
    let got = host(bce_with_logits(vector(&logits), vector(&labels)));
    for ((f, y), value) in cases.iter().zip(got) {
        let expected = bce_by_hand(*f, *y);
        assert!(
            (value - expected).abs() < 1e-6,
            "BCE(f = {f}, y = {y}) = {value}, by hand {expected}"
        );
    }
    // ln 2 at f = 0 whatever the label; -ln σ(2) = ln(1 + e^-2) for the target.
    assert!((bce_by_hand(0.0, 0.7) - 2f64.ln()).abs() < 1e-15);
    assert!((bce_by_hand(2.0, 1.0) - (-2f64).exp().ln_1p()).abs() < 1e-15);
}

#[test]
fn bce_is_stable_at_large_logits() {
    // A correct sign costs ln(1 + e^-|f|) ≈ e^-|f|; a wrong sign costs |f| (+ e^-|f|).
    let logits = [100.0, -100.0, 100.0, -100.0, 1e4, -1e4];
    let labels = [1.0, 0.0, 0.0, 1.0, 0.0, 0.9];
    let got = host(bce_with_logits(vector(&logits), vector(&labels)));
    // Soft labels: softplus(f) - y f = 0 + 0.9 · 1e4 at f = -1e4.
    let expected = [(-100f64).exp(), (-100f64).exp(), 100.0, 100.0, 1e4, 9e3];
    for ((value, want), f) in got.iter().zip(expected).zip(logits) {
        assert!(value.is_finite(), "BCE at f = {f} is {value}");
        assert!(
            (value - want).abs() <= 1e-6 * want.max(1.0),
            "BCE at f = {f}: {value}, expected {want}"
        );
    }
    // burn's own softplus overflows where ours does not.
    let naive = host(burn::tensor::activation::softplus(vector(&[100.0]), 1.0));
    assert!(naive[0].is_infinite(), "naive softplus(100) = {}", naive[0]);
    // softplus(-50) = ln(1 + e^-50) ≈ e^-50, a normal f32 (e^-100 would be subnormal).
    let stable = host(softplus(vector(&[100.0, -50.0, 0.0])));
    assert_eq!(stable[0], 100.0);
    assert!(
        (stable[1] / (-50f64).exp() - 1.0).abs() < 1e-6,
        "{stable:?}"
    );
    assert!((stable[2] - 2f64.ln()).abs() < 1e-7);
}

#[test]
fn labels_and_smoothing() {
    assert_eq!((TARGET_LABEL, SOURCE_LABEL), (1.0, 0.0));
    assert_eq!(smoothed_label(TARGET_LABEL, 0.0), 1.0);
    assert_eq!(smoothed_label(SOURCE_LABEL, 0.1), 0.1);
    assert!((smoothed_label(TARGET_LABEL, 0.1) - 0.9).abs() < 1e-15);
}

#[test]
fn regression_losses_match_hand_computations() {
    let out = vector(&[0.5, -1.0, 2.0]);
    let log_r = vector(&[1.5, -1.0, 0.0]);
    let log_loss = host(RatioEstimator::LogRatio.per_row(out.clone(), log_r.clone()));
    for (value, want) in log_loss.iter().zip([1.0, 0.0, 4.0]) {
        assert!((value - want).abs() < 1e-6, "{log_loss:?}");
    }
    let ratio_loss = host(RatioEstimator::Ratio.per_row(out, log_r));
    let by_hand = [
        (0.5f64.exp() - 1.5f64.exp()).powi(2),
        0.0,
        (2f64.exp() - 1.0).powi(2),
    ];
    for (value, want) in ratio_loss.iter().zip(by_hand) {
        assert!(
            (value - want).abs() < 1e-5 * want.max(1.0),
            "{ratio_loss:?}"
        );
    }
    // Exponents beyond the clamp stay finite: (e^20 - e^20)² = 0 and (e^20 - 1)².
    let clamped =
        host(RatioEstimator::Ratio.per_row(vector(&[500.0, 90.0]), vector(&[300.0, 0.0])));
    assert_eq!(clamped[0], 0.0);
    let e20 = RATIO_EXPONENT_MAX.exp();
    assert!((clamped[1] - (e20 - 1.0).powi(2)).abs() < 1e-5 * e20 * e20);
}

#[test]
fn config_parses_the_documented_names_and_rejects_unknown_keys() {
    let config: RatioConfig = serde_json::from_str(
        r#"{"estimator": "noisy-classifier", "cycle_weight": 0.0,
            "balance": "prior-correction", "label_smoothing": 0.1}"#,
    )
    .unwrap();
    assert_eq!(config.estimator, EstimatorKind::NoisyClassifier);
    assert_eq!(config.balance, Balance::PriorCorrection);
    assert_eq!(config.estimator.regression(), None);
    config.validate("ratio").unwrap();
    let defaults: RatioConfig = serde_json::from_str("{}").unwrap();
    assert_eq!(defaults, RatioConfig::default());
    assert_eq!(defaults.estimator, EstimatorKind::NoisyClassifier);
    assert_eq!(defaults.estimator.regression(), None);
    assert_eq!(defaults.cycle_weight, 0.1);
    for (name, kind) in [("log-r", EstimatorKind::LogR), ("r", EstimatorKind::R)] {
        let parsed: EstimatorKind = serde_json::from_str(&format!("\"{name}\"")).unwrap();
        assert_eq!((parsed, parsed.name()), (kind, name));
    }
    let unknown = serde_json::from_str::<RatioConfig>(r#"{"cycle_wieght": 1.0}"#).unwrap_err();
    assert!(
        unknown.to_string().contains("unknown field `cycle_wieght`"),
        "{unknown}"
    );
    let bad = serde_json::from_str::<RatioConfig>(r#"{"estimator": "ratio"}"#).unwrap_err();
    assert!(bad.to_string().contains("unknown variant `ratio`"), "{bad}");
}

#[test]
fn out_of_range_values_name_the_key_and_the_range() {
    let message = |config: RatioConfig| config.validate("ratio").unwrap_err().to_string();
    let negative = RatioConfig {
        cycle_weight: -1.0,
        ..RatioConfig::default()
    };
    assert!(message(negative).starts_with("ratio.cycle_weight = -1: must be ≥ 0"));
    let infinite = RatioConfig {
        cycle_weight: f64::INFINITY,
        ..RatioConfig::default()
    };
    assert!(message(infinite).starts_with("ratio.cycle_weight = inf"));
    for epsilon in [0.5, -0.1, f64::NAN] {
        let smoothing = RatioConfig {
            label_smoothing: epsilon,
            ..RatioConfig::default()
        };
        assert_eq!(
            message(smoothing),
            format!("ratio.label_smoothing = {epsilon}: must be in [0, 0.5)")
        );
    }
}

#[test]
fn prior_correction_is_log_of_the_size_ratio() {
    assert_eq!(Balance::Balanced.prior_correction(900, 100), 0.0);
    let c = Balance::PriorCorrection.prior_correction(900, 100);
    assert!((c - (1.0f64 / 9.0).ln()).abs() < 1e-15);
}
