//! Line plots: sizes, intervals, reference lines, log axes, nothing to draw.

use super::{entries, png_size, temp_dir};
use crate::plot::*;

fn curve(name: &str, f: impl Fn(f64) -> f64) -> Series {
    Series::new(name, (1..=20).map(|i| (f64::from(i), f(f64::from(i)))))
}

fn plot<'a>(series: &'a [Series], x_scale: Scale, y_scale: Scale) -> LinePlot<'a> {
    LinePlot {
        title: "Training loss",
        x_label: "step",
        y_label: "loss",
        x_scale,
        y_scale,
        series,
        ..LinePlot::default()
    }
}

#[test]
fn plot_line_png_all_scales() {
    let mut series = vec![
        curve("baseline", |x| 2.0 / x),
        curve("ratio", |x| 1.0 / (x * x) + 0.01),
    ];
    // Non-finite points are skipped, not fatal.
    series[0].points.push((21.0, f64::NAN));
    series[1].points.push((f64::INFINITY, 1.0));
    let dir = temp_dir("line");
    for (i, (xs, ys)) in [
        (Scale::Linear, Scale::Linear),
        (Scale::Linear, Scale::Log),
        (Scale::Log, Scale::Linear),
        (Scale::Log, Scale::Log),
    ]
    .into_iter()
    .enumerate()
    {
        // Also exercises creation of missing parent directories.
        let path = dir.join("nested").join(format!("loss{i}.png"));
        plot(&series, xs, ys).write_png(&path).unwrap();
        assert_eq!(png_size(&path), LinePlot::SIZE);
    }
    // Overwriting an existing file, at another size, works too.
    let path = dir.join("nested").join("loss0.png");
    LinePlot {
        size: (640, 400),
        ..plot(&series[..1], Scale::Linear, Scale::Linear)
    }
    .write_png(&path)
    .unwrap();
    assert_eq!(png_size(&path), (640, 400));
    assert_eq!(
        entries(&dir.join("nested")),
        ["loss0.png", "loss1.png", "loss2.png", "loss3.png"]
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn plot_line_intervals_references_and_many_series() {
    let dir = temp_dir("intervals");
    let xs = [20.0, 100.0, 1000.0];
    let series: Vec<Series> = (0..12)
        .map(|i| {
            let y = |x: f64| 0.5 + 0.02 * f64::from(i) + 0.05 * x.log10();
            let mut s = Series::new(format!("method {i}"), xs.map(|x| (x, y(x))))
                .with_intervals(xs.map(|x| (y(x) - 0.03, y(x) + 0.03)));
            if i == 3 {
                // A point without an interval, and one without a value.
                s.intervals.as_mut().unwrap()[1] = (f64::NAN, f64::NAN);
                s.points[2].1 = f64::NAN;
            }
            s
        })
        .collect();
    let references = [
        ReferenceLine::new("target 0.8", 0.8),
        ReferenceLine::new("source 0.2", 0.2),
    ];
    for (style, name) in [
        (IntervalStyle::Bars, "bars.png"),
        (IntervalStyle::Band, "band.png"),
    ] {
        let path = dir.join(name);
        LinePlot {
            references: &references,
            intervals: style,
            ..plot(&series, Scale::Log, Scale::Linear)
        }
        .write_png(&path)
        .unwrap();
        assert_eq!(png_size(&path), LinePlot::SIZE);
    }
    // One interval per point, or none.
    let mut short = series[0].clone();
    short.intervals.as_mut().unwrap().pop();
    let err = plot(&[short], Scale::Log, Scale::Linear)
        .write_png(&dir.join("short.png"))
        .unwrap_err();
    assert!(matches!(err, PlotError::Invalid { .. }), "{err}");
    assert!(
        err.to_string().contains("3 points but 2 intervals"),
        "{err}"
    );
    assert!(err.to_string().contains("short.png"), "{err}");
    assert_eq!(entries(&dir), ["band.png", "bars.png"]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn plot_line_single_point_and_flat_series() {
    let dir = temp_dir("flat");
    let series = [Series::new("one", [(3.0, 0.5)]), Series::new("empty", [])];
    let path = dir.join("single.png");
    plot(&series, Scale::Log, Scale::Log)
        .write_png(&path)
        .unwrap();
    assert_eq!(png_size(&path), LinePlot::SIZE);
    let flat = [curve("zero", |_| 0.0)];
    let path = dir.join("flat.png");
    plot(&flat, Scale::Linear, Scale::Linear)
        .write_png(&path)
        .unwrap();
    assert_eq!(png_size(&path), LinePlot::SIZE);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn plot_log_scale_rejects_non_positive() {
    let dir = temp_dir("log");
    let path = dir.join("log.png");
    let series = [curve("fine", |x| x), curve("has-zero", |x| x - 1.0)];
    let err = plot(&series, Scale::Linear, Scale::Log)
        .write_png(&path)
        .unwrap_err();
    match &err {
        PlotError::NotPositive {
            path: p,
            axis,
            what,
            value,
        } => {
            assert_eq!(
                (p, *axis, what.as_str(), *value),
                (&path, 'y', "series 'has-zero' y", 0.0)
            );
        }
        other => panic!("{other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("log.png") && msg.contains("log-scale y axis"),
        "{msg}"
    );
    let series = [Series::new("neg-x", [(-1.0, 1.0), (1.0, 2.0)])];
    let msg = plot(&series, Scale::Log, Scale::Linear)
        .write_png(&path)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("neg-x") && msg.contains("log-scale x"),
        "{msg}"
    );
    // Interval bounds and reference lines count too.
    let series = [Series::new("ci", [(1.0, 1.0)]).with_intervals([(-0.5, 2.0)])];
    let msg = plot(&series, Scale::Linear, Scale::Log)
        .write_png(&path)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("interval low"), "{msg}");
    let ok = [Series::new("ok", [(1.0, 1.0)])];
    let references = [ReferenceLine::new("zero", 0.0)];
    let msg = LinePlot {
        references: &references,
        ..plot(&ok, Scale::Linear, Scale::Log)
    }
    .write_png(&path)
    .unwrap_err()
    .to_string();
    assert!(msg.contains("reference line 'zero'"), "{msg}");
    assert!(entries(&dir).is_empty());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn plot_without_finite_points_is_refused() {
    let dir = temp_dir("nan");
    let path = dir.join("nan.png");
    let series = [
        curve("nan", |_| f64::NAN),
        Series::new("inf", [(f64::INFINITY, 1.0)]),
    ];
    let msg = plot(&series, Scale::Linear, Scale::Linear)
        .write_png(&path)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("no series has a finite point"), "{msg}");
    // Drawable data, but no room to draw it in.
    let ok = [Series::new("ok", [(1.0, 1.0)])];
    let msg = LinePlot {
        size: (0, 600),
        ..plot(&ok, Scale::Linear, Scale::Linear)
    }
    .write_png(&path)
    .unwrap_err()
    .to_string();
    assert!(msg.contains("too small"), "{msg}");
    let msg = plot(&[], Scale::Linear, Scale::Linear)
        .write_png(&path)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("nothing to draw"), "{msg}");
    assert!(entries(&dir).is_empty());
    std::fs::remove_dir_all(dir).unwrap();
}
