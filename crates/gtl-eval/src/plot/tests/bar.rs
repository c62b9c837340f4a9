//! Grouped bar charts.

use super::{entries, png_size, temp_dir};
use crate::plot::*;

#[test]
fn plot_bar_chart_png() {
    let dir = temp_dir("bars");
    let categories: Vec<String> = ["mean diagonal", "1 − TV", "memorised"]
        .map(String::from)
        .to_vec();
    let bars: Vec<Bars> = (0..9)
        .map(|m| {
            let v = [
                0.5 + 0.03 * f64::from(m),
                0.7,
                if m == 4 {
                    f64::NAN
                } else {
                    0.01 * f64::from(m)
                },
            ];
            Bars::new(format!("method {m}"), v).with_intervals(v.map(|x| (x - 0.02, x + 0.02)))
        })
        .collect();
    let references = [ReferenceLine::new("target 0.8", 0.8)];
    let path = dir.join("bars.png");
    BarChart {
        title: "Per-method metrics",
        y_label: "value",
        categories: &categories,
        bars: &bars,
        references: &references,
        ..BarChart::default()
    }
    .write_png(&path)
    .unwrap();
    assert_eq!(png_size(&path), BarChart::SIZE);
    // Negative values and long category names (written bottom to top).
    let long: Vec<String> = (0..8)
        .map(|i| format!("a long category name {i}"))
        .collect();
    let negative = [Bars::new("delta", (0..8).map(|i| f64::from(i) - 4.0))];
    let path = dir.join("long.png");
    BarChart {
        categories: &long,
        bars: &negative,
        size: (800, 500),
        ..BarChart::default()
    }
    .write_png(&path)
    .unwrap();
    assert_eq!(png_size(&path), (800, 500));
    let msg = BarChart {
        categories: &long,
        bars: &bars,
        ..BarChart::default()
    }
    .write_png(&dir.join("bad.png"))
    .unwrap_err()
    .to_string();
    assert!(msg.contains("3 values for 8 categories"), "{msg}");
    let nan = [Bars::new("nan", [f64::NAN; 3])];
    let msg = BarChart {
        categories: &categories,
        bars: &nan,
        ..BarChart::default()
    }
    .write_png(&dir.join("bad.png"))
    .unwrap_err()
    .to_string();
    assert!(msg.contains("no finite value"), "{msg}");
    assert_eq!(entries(&dir), ["bars.png", "long.png"]);
    std::fs::remove_dir_all(dir).unwrap();
}
