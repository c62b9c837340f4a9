//! Heatmaps, grids of heatmaps and confusion matrices.

use super::{entries, png_size, temp_dir};
use crate::plot::*;

fn transition_matrix(n: usize, shift: f64) -> Vec<Vec<f64>> {
    (0..n)
        .map(|i| {
            let raw: Vec<f64> = (0..n)
                .map(|j| 1.0 / (1.0 + (i as f64 - j as f64 - shift).abs()))
                .collect();
            let sum: f64 = raw.iter().sum();
            raw.into_iter().map(|v| v / sum).collect()
        })
        .collect()
}

#[test]
fn plot_heatmap_png() {
    let dir = temp_dir("heat");
    let mut rows = transition_matrix(5, 0.0);
    rows[4][4] = f64::NAN; // drawn grey, not an error
    rows[0][1] = f64::INFINITY;
    let path = dir.join("p.png");
    Heatmap::transition("P", &rows).write_png(&path).unwrap();
    assert_eq!(png_size(&path), Heatmap::SIZE);
    // Rectangular, named, 1x1 and large matrices work as well.
    let wide = vec![vec![0.1, 0.5, 0.9]; 2];
    let names = ["left".to_string(), "middle".into(), "right".into()];
    let path = dir.join("wide.png");
    Heatmap {
        col_names: &names,
        ..Heatmap::transition("wide", &wide)
    }
    .write_png(&path)
    .unwrap();
    assert_eq!(png_size(&path), Heatmap::SIZE);
    let one = vec![vec![2.0]];
    Heatmap::transition("one", &one)
        .write_png(&dir.join("one.png"))
        .unwrap();
    let big = transition_matrix(60, 2.0);
    Heatmap::transition("big", &big)
        .write_png(&dir.join("big.png"))
        .unwrap();
    assert_eq!(entries(&dir), ["big.png", "one.png", "p.png", "wide.png"]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn plot_heatmap_rejects_bad_input() {
    let dir = temp_dir("ragged");
    let path = dir.join("bad.png");
    let ragged = vec![vec![0.1, 0.2], vec![0.3]];
    let msg = Heatmap::transition("R", &ragged)
        .write_png(&path)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("ragged") && msg.contains("row 1") && msg.contains("bad.png"),
        "{msg}"
    );
    let msg = Heatmap::transition("E", &[])
        .write_png(&path)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("no rows"), "{msg}");
    let ok = vec![vec![0.5]];
    let flat = Heatmap {
        min: 1.0,
        max: 1.0,
        ..Heatmap::transition("F", &ok)
    };
    let msg = flat.write_png(&path).unwrap_err().to_string();
    assert!(msg.contains("min < max"), "{msg}");
    let names = ["a".to_string(), "b".into()];
    let msg = Heatmap {
        row_names: &names,
        ..Heatmap::transition("N", &ok)
    }
    .write_png(&path)
    .unwrap_err()
    .to_string();
    assert!(msg.contains("1 rows but 2 names"), "{msg}");
    // A bad panel fails the whole grid before anything is written.
    let good = transition_matrix(3, 1.0);
    let panels = [
        Heatmap::transition("good", &good),
        Heatmap::transition("R", &ragged),
    ];
    let msg = grid_png(&path, 2, &panels).unwrap_err().to_string();
    assert!(msg.contains("panel 1") && msg.contains("ragged"), "{msg}");
    assert!(grid_png(&path, 0, &panels[..1]).is_err());
    assert!(grid_png(&path, 2, &[]).is_err());
    assert!(entries(&dir).is_empty());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn plot_heatmap_grid_png() {
    let dir = temp_dir("grid");
    let mats: Vec<Vec<Vec<f64>>> = (0..30)
        .map(|k| transition_matrix(5, f64::from(k % 4)))
        .collect();
    let titles: Vec<String> = (0..30).map(|k| format!("method {k}: diag 0.800")).collect();
    let panels: Vec<Heatmap> = titles
        .iter()
        .zip(&mats)
        .map(|(t, m)| Heatmap::transition(t, m))
        .collect();
    let path = dir.join("grid.png");
    // Three panels in rows of two.
    grid_png(&path, 2, &panels[..3]).unwrap();
    assert_eq!(png_size(&path), (2 * 380 + 110, 2 * 380));
    // Thirty panels asked in rows of ten: rows of six, 2,390 px wide.
    grid_png(&path, 10, &panels).unwrap();
    assert_eq!(png_size(&path), (6 * 380 + 110, 5 * 380));
    // Three groups of ten (target + nine methods per setting): two rows of five each.
    let groups: Vec<PanelGroup> = (0..3)
        .map(|g| PanelGroup {
            heading: format!("n = {}", [20, 100, 1000][g]),
            panels: panels[g * 10..g * 10 + 10].to_vec(),
        })
        .collect();
    let grid = HeatmapGrid {
        title: "Transition matrices",
        groups: &groups,
        ..HeatmapGrid::default()
    };
    assert_eq!(grid.size(), (5 * 380 + 110, 44 + 3 * (34 + 2 * 380)));
    grid.write_png(&path).unwrap();
    assert_eq!(png_size(&path), grid.size());
    // Larger panels shrink to keep the grid 2,400 px wide.
    let wide = HeatmapGrid {
        panel_size: 600,
        max_columns: 6,
        ..grid.clone()
    };
    let (w, _) = wide.size();
    assert!(w <= 2400, "{w}");
    assert_eq!(entries(&dir), ["grid.png"]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn plot_confusion_matrix_png() {
    let dir = temp_dir("confusion");
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
        vec![0, 0, 0, 0],
        vec![9, 41, 5, 145],
    ];
    for (cells, name) in [
        (CellText::Both, "both.png"),
        (CellText::Counts, "counts.png"),
        (CellText::Shares, "shares.png"),
    ] {
        let path = dir.join(name);
        ConfusionMatrix {
            title: "Phylum",
            labels: &labels,
            counts: &counts,
            cells,
            ..ConfusionMatrix::default()
        }
        .write_png(&path)
        .unwrap();
        assert_eq!(png_size(&path), ConfusionMatrix::SIZE);
    }
    let msg = ConfusionMatrix {
        labels: &labels[..3],
        counts: &counts,
        ..ConfusionMatrix::default()
    }
    .write_png(&dir.join("bad.png"))
    .unwrap_err()
    .to_string();
    assert!(msg.contains("3 labels") && msg.contains("3 × 3"), "{msg}");
    assert_eq!(entries(&dir), ["both.png", "counts.png", "shares.png"]);
    std::fs::remove_dir_all(dir).unwrap();
}
