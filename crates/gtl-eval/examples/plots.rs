//! Writes one example of every plot kind, with data shaped like the experiments', to look
//! at: `cargo run -p gtl-eval --features plot --example plots -- /tmp/gtl-plots`.

use std::path::PathBuf;

use gtl_eval::plot::{
    BarChart, Bars, CellText, ConfusionMatrix, Heatmap, HeatmapGrid, IntervalStyle, LinePlot,
    PanelGroup, PlotError, ReferenceLine, Scale, Series,
};

const METHODS: [&str; 9] = [
    "source",
    "target-only",
    "full-finetune",
    "last-blocks",
    "lora",
    "gtl",
    "gtl-exact-ratio",
    "gtl-oracles",
    "exact-guidance",
];
const SIZES: [f64; 3] = [20.0, 100.0, 1000.0];

/// Mean diagonal of method `m` at target size `n` (three guided methods coincide).
fn mean_diagonal(m: usize, n: f64) -> f64 {
    let l = n.log10();
    match METHODS[m] {
        "source" => 0.2,
        "target-only" => 0.35 + 0.15 * l,
        "full-finetune" => 0.45 + 0.11 * l,
        "last-blocks" => 0.40 + 0.08 * l,
        "lora" => 0.42 + 0.09 * l,
        "gtl" => 0.79 - 0.005 * l,
        _ => 0.8,
    }
}

/// A 5×5 transition matrix with `diag` on the diagonal and the rest spread evenly.
fn transition(diag: f64, wobble: f64) -> Vec<Vec<f64>> {
    (0..5)
        .map(|i| {
            (0..5)
                .map(|j| {
                    let off = (1.0 - diag) / 4.0;
                    let w = wobble * (((i * 5 + j) as f64 * 1.7).sin());
                    if i == j { diag - w } else { off + w / 4.0 }
                })
                .collect()
        })
        .collect()
}

fn main() -> Result<(), PlotError> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "/tmp/gtl-plots".into()),
    );

    // Mean diagonal over target sizes, with 95 % intervals over seeds.
    let series: Vec<Series> = (0..METHODS.len())
        .map(|m| {
            let half = if m == 0 {
                0.0
            } else {
                0.06 / (1.0 + (m % 3) as f64)
            };
            Series::new(METHODS[m], SIZES.map(|n| (n, mean_diagonal(m, n)))).with_intervals(
                SIZES.map(|n| (mean_diagonal(m, n) - half, mean_diagonal(m, n) + half)),
            )
        })
        .collect();
    let references = [
        ReferenceLine::new("target 0.8", 0.8),
        ReferenceLine::new("source 0.2", 0.2),
    ];
    let mean_diagonal_plot = LinePlot {
        title: "Mean diagonal of the sampled transition matrix (95 % intervals over 5 seeds)",
        x_label: "target sequences n (training + validation)",
        y_label: "mean diagonal",
        x_scale: Scale::Log,
        series: &series,
        references: &references,
        ..LinePlot::default()
    };
    mean_diagonal_plot.write_png(&dir.join("mean-diagonal.png"))?;
    LinePlot {
        intervals: IntervalStyle::Band,
        ..mean_diagonal_plot.clone()
    }
    .write_png(&dir.join("mean-diagonal-band.png"))?;

    // Target sizes 20, 100, 500, 1000 (the crowded end of a log axis).
    let crowded: Vec<Series> = (0..4)
        .map(|m| {
            Series::new(
                METHODS[m + 2],
                [20.0, 100.0, 500.0, 1000.0].map(|n| (n, mean_diagonal(m + 2, n))),
            )
        })
        .collect();
    LinePlot {
        series: &crowded,
        references: &references[..1],
        ..mean_diagonal_plot.clone()
    }
    .write_png(&dir.join("mean-diagonal-500.png"))?;

    // Ratio error by t: ten bins, log y.
    let ratio: Vec<Series> = SIZES
        .iter()
        .map(|&n| {
            Series::new(
                format!("n = {n}"),
                (0..10).map(|b| {
                    let t = 0.05 + 0.1 * f64::from(b);
                    (t, 0.02 * (1.0 + 30.0 * t * t) / n.log10())
                }),
            )
        })
        .collect();
    LinePlot {
        title: "Ratio error on noised target sequences: MSE of log h_t by t",
        x_label: "t",
        y_label: "MSE against the exact log h_t",
        y_scale: Scale::Log,
        series: &ratio,
        ..LinePlot::default()
    }
    .write_png(&dir.join("ratio-error.png"))?;

    // A loss curve: many x values, round ticks.
    let loss = [
        Series::new(
            "train",
            (1..=400).map(|s| (f64::from(s * 25), 2.0 / (1.0 + f64::from(s) / 30.0) + 0.3)),
        ),
        Series::new(
            "validation",
            (1..=40).map(|s| (f64::from(s * 250), 2.1 / (1.0 + f64::from(s) / 3.0) + 0.35)),
        ),
    ];
    LinePlot {
        title: "Training loss",
        x_label: "step",
        y_label: "NELBO per token",
        series: &loss,
        ..LinePlot::default()
    }
    .write_png(&dir.join("loss.png"))?;

    // Transition matrices: three settings × (target + nine methods).
    let mut matrices = Vec::new();
    let mut titles = Vec::new();
    for (s, n) in SIZES.iter().enumerate() {
        matrices.push(transition(0.8, 0.0));
        titles.push("target".to_string());
        for (m, name) in METHODS.iter().enumerate() {
            let d = mean_diagonal(m, *n);
            matrices.push(transition(d, 0.02 * (s + m) as f64 % 0.05));
            titles.push(format!("{name}: diag {d:.3}"));
        }
    }
    let panels: Vec<Heatmap> = titles
        .iter()
        .zip(&matrices)
        .map(|(t, m)| Heatmap::transition(t, m))
        .collect();
    let groups: Vec<PanelGroup> = SIZES
        .iter()
        .enumerate()
        .map(|(s, n)| PanelGroup {
            heading: format!("n = {n} target sequences"),
            panels: panels[s * 10..s * 10 + 10].to_vec(),
        })
        .collect();
    HeatmapGrid {
        title: "Transition matrices of the samples",
        groups: &groups,
        ..HeatmapGrid::default()
    }
    .write_png(&dir.join("transition-matrices.png"))?;
    gtl_eval::plot::grid_png(&dir.join("transition-matrices-flat.png"), 10, &panels)?;
    Heatmap::transition("gtl, n = 100: diag 0.790", &matrices[16])
        .write_png(&dir.join("transition-gtl.png"))?;

    // A four-phylum confusion matrix.
    let labels: Vec<String> = [
        "Firmicutes",
        "Proteobacteria",
        "Bacteroidetes",
        "Actinobacteria",
    ]
    .map(String::from)
    .to_vec();
    let counts = vec![
        vec![412, 31, 40, 17],
        vec![25, 380, 12, 33],
        vec![38, 9, 290, 3],
        vec![9, 41, 5, 145],
    ];
    ConfusionMatrix {
        title: "Phylum classifier on held-out sequences",
        labels: &labels,
        counts: &counts,
        cells: CellText::Both,
        true_label: "true phylum",
        predicted_label: "predicted phylum",
    }
    .write_png(&dir.join("confusion.png"))?;

    // Per-method metrics at n = 100, with intervals.
    let categories: Vec<String> = [
        "mean diagonal",
        "1 − transition error",
        "memorised share",
        "distinct share",
    ]
    .map(String::from)
    .to_vec();
    let bars: Vec<Bars> = (0..METHODS.len())
        .map(|m| {
            let v = [
                mean_diagonal(m, 100.0),
                0.9 - 0.02 * m as f64,
                0.02 * (m % 4) as f64,
                0.97 - 0.01 * m as f64,
            ];
            Bars::new(METHODS[m], v)
                .with_intervals(v.map(|x| ((x - 0.03).max(0.0), (x + 0.03).min(1.0))))
        })
        .collect();
    BarChart {
        title: "Per-method metrics at n = 100 (95 % intervals over 5 seeds)",
        y_label: "value",
        categories: &categories,
        bars: &bars,
        references: &references[..1],
        ..BarChart::default()
    }
    .write_png(&dir.join("metrics-bars.png"))?;

    // Edge cases: a 60-state chain (names thinned, no cell text), long category names
    // (written bottom to top) and negative values.
    let big: Vec<Vec<f64>> = (0..60)
        .map(|i| {
            (0..60)
                .map(|j| if (i + 1) % 60 == j { 0.7 } else { 0.3 / 59.0 })
                .collect()
        })
        .collect();
    Heatmap::transition("A 60-state cycle", &big).write_png(&dir.join("transition-60.png"))?;
    let long: Vec<String> = (0..8)
        .map(|i| format!("configuration number {i}"))
        .collect();
    let deltas = [
        Bars::new(
            "gtl − full-finetune",
            (0..8).map(|i| 0.05 * (f64::from(i) - 3.5)),
        ),
        Bars::new(
            "gtl − lora",
            (0..8).map(|i| {
                if i == 5 {
                    f64::NAN
                } else {
                    0.03 * (4.0 - f64::from(i))
                }
            }),
        ),
    ];
    BarChart {
        title: "Difference in mean diagonal by configuration",
        y_label: "difference",
        categories: &long,
        bars: &deltas,
        ..BarChart::default()
    }
    .write_png(&dir.join("bars-long-names.png"))?;
    println!("wrote example plots to {}", dir.display());
    Ok(())
}
