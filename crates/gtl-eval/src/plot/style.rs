//! How series look: colours, marker shapes, dash patterns, the heatmap colour map, and
//! drawing markers and dashed lines in pixel coordinates.

use plotters::prelude::{
    Circle, Color, PathElement, Polygon, RGBColor, Rectangle, ShapeStyle, WHITE,
};

use super::{Canvas, Fault};

/// Series colours in order (Tableau 10); series beyond ten reuse them with another marker
/// and dash.
pub(crate) const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Grid lines, axis frame, tick marks and secondary text.
pub(crate) const GRID: RGBColor = RGBColor(225, 225, 225);
pub(crate) const FRAME: RGBColor = RGBColor(90, 90, 90);
pub(crate) const MUTED: RGBColor = RGBColor(60, 60, 60);
/// Reference lines.
pub(crate) const REFERENCE: RGBColor = RGBColor(40, 40, 40);
/// Heatmap cells whose value is NaN or infinite.
pub(crate) const MISSING: RGBColor = RGBColor(205, 205, 205);

/// Shape of the point markers of one series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Marker {
    Circle,
    Square,
    TriangleUp,
    Diamond,
    TriangleDown,
    Cross,
    Pentagon,
    Plus,
}

impl Marker {
    /// Drawn as strokes rather than a filled shape (a filled neighbour would cover it).
    pub(crate) fn is_thin(self) -> bool {
        matches!(self, Marker::Cross | Marker::Plus)
    }
}

/// Marker shapes in series order; with [`PALETTE`] and [`DASHES`] (10, 8 and 4 entries)
/// the combination repeats only after 40 series.
const MARKERS: [Marker; 8] = [
    Marker::Circle,
    Marker::Square,
    Marker::TriangleUp,
    Marker::Diamond,
    Marker::TriangleDown,
    Marker::Cross,
    Marker::Pentagon,
    Marker::Plus,
];

/// Dash patterns in series order: alternating on and off lengths in pixels; empty is solid.
pub(crate) const DASHES: [&[f64]; 4] = [&[], &[10.0, 5.0], &[3.0, 4.0], &[12.0, 4.0, 3.0, 4.0]];

/// Dash patterns of reference lines, in order.
pub(crate) const REFERENCE_DASHES: [&[f64]; 3] = [&[8.0, 6.0], &[2.0, 4.0], &[14.0, 5.0, 3.0, 5.0]];

/// The look of series `i`: colour, marker, dash pattern.
pub(crate) fn series_style(i: usize) -> (RGBColor, Marker, &'static [f64]) {
    (
        PALETTE[i % PALETTE.len()],
        MARKERS[i % MARKERS.len()],
        DASHES[i % DASHES.len()],
    )
}

/// Share of a line that the dash pattern `dash` draws (1 for solid).
pub(crate) fn ink(dash: &[f64]) -> f64 {
    let on: f64 = dash.iter().step_by(2).sum();
    let all: f64 = dash.iter().sum();
    if all > 0.0 { on / all } else { 1.0 }
}

/// Draws `marker` of radius `r` centred on `(x, y)`, filled in `colour` with a white rim so
/// that overlapping markers stay apart.
pub(crate) fn draw_marker(
    canvas: &Canvas<'_>,
    marker: Marker,
    (x, y): (f64, f64),
    r: f64,
    colour: RGBColor,
) -> Result<(), Fault> {
    let rim = 1.5;
    match marker {
        Marker::Circle => {
            let c = (x.round() as i32, y.round() as i32);
            canvas.draw(&Circle::new(c, (r + rim).round() as i32, WHITE.filled()))?;
            canvas.draw(&Circle::new(c, r.round() as i32, colour.filled()))?;
        }
        Marker::Square => {
            let s = r * 0.88;
            for (h, style) in [(s + rim, WHITE.filled()), (s, colour.filled())] {
                canvas.draw(&Rectangle::new(
                    [
                        ((x - h).round() as i32, (y - h).round() as i32),
                        ((x + h).round() as i32, (y + h).round() as i32),
                    ],
                    style,
                ))?;
            }
        }
        Marker::Cross | Marker::Plus => {
            let arms: [(f64, f64); 2] = if marker == Marker::Cross {
                [(1.0, 1.0), (1.0, -1.0)]
            } else {
                [(1.0, 0.0), (0.0, 1.0)]
            };
            let h = if marker == Marker::Cross {
                r * 0.85
            } else {
                r * 1.1
            };
            for (width, style_colour) in [(5.0, WHITE), (2.6, colour)] {
                for (dx, dy) in arms {
                    let ends = vec![
                        ((x - dx * h).round() as i32, (y - dy * h).round() as i32),
                        ((x + dx * h).round() as i32, (y + dy * h).round() as i32),
                    ];
                    canvas.draw(&PathElement::new(ends, stroke(style_colour, width)))?;
                }
            }
        }
        _ => {
            let (corners, turn, scale): (usize, f64, f64) = match marker {
                Marker::TriangleUp => (3, -90.0, 1.25),
                Marker::TriangleDown => (3, 90.0, 1.25),
                Marker::Diamond => (4, -90.0, 1.2),
                _ => (5, -90.0, 1.1),
            };
            for (rr, style) in [
                (r * scale + 1.6 * rim, WHITE.filled()),
                (r * scale, colour.filled()),
            ] {
                let points: Vec<(i32, i32)> = (0..corners)
                    .map(|k| {
                        let a = (turn + 360.0 * k as f64 / corners as f64).to_radians();
                        (
                            (x + rr * a.cos()).round() as i32,
                            (y + rr * a.sin()).round() as i32,
                        )
                    })
                    .collect();
                canvas.draw(&Polygon::new(points, style))?;
            }
        }
    }
    Ok(())
}

/// A line style of `width` pixels in `colour`.
pub(crate) fn stroke(colour: RGBColor, width: f64) -> ShapeStyle {
    ShapeStyle {
        color: colour.to_rgba(),
        filled: false,
        stroke_width: width.round().max(1.0) as u32,
    }
}

/// Draws the polyline through `points` with the dash pattern `dash` (empty: solid).
pub(crate) fn draw_polyline(
    canvas: &Canvas<'_>,
    points: &[(f64, f64)],
    dash: &[f64],
    style: ShapeStyle,
) -> Result<(), Fault> {
    let px = |p: (f64, f64)| (p.0.round() as i32, p.1.round() as i32);
    if points.len() < 2 {
        return Ok(());
    }
    if dash.is_empty() {
        canvas.draw(&PathElement::new(
            points.iter().map(|&p| px(p)).collect::<Vec<_>>(),
            style,
        ))?;
        return Ok(());
    }
    for piece in dashes(points, dash) {
        canvas.draw(&PathElement::new(
            piece.into_iter().map(px).collect::<Vec<_>>(),
            style,
        ))?;
    }
    Ok(())
}

/// The "on" pieces of the polyline through `points` under the pattern `dash`, which runs
/// on continuously across corners.
pub(crate) fn dashes(points: &[(f64, f64)], dash: &[f64]) -> Vec<Vec<(f64, f64)>> {
    let mut pieces = Vec::new();
    let mut current: Vec<(f64, f64)> = Vec::new();
    let (mut k, mut left) = (0usize, dash[0]);
    for w in points.windows(2) {
        let (a, b) = (w[0], w[1]);
        let len = ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt();
        let mut at = 0.0;
        while at < len {
            let step = left.min(len - at);
            let p = |t: f64| (a.0 + (b.0 - a.0) * t / len, a.1 + (b.1 - a.1) * t / len);
            if k % 2 == 0 {
                if current.is_empty() {
                    current.push(p(at));
                }
                current.push(p(at + step));
            }
            at += step;
            left -= step;
            if left <= 1e-9 {
                if k % 2 == 0 && current.len() >= 2 {
                    pieces.push(std::mem::take(&mut current));
                }
                current.clear();
                k = (k + 1) % dash.len();
                left = dash[k];
            }
        }
    }
    if current.len() >= 2 {
        pieces.push(current);
    }
    pieces
}

/// Viridis sampled at nine evenly spaced points, low to high.
const VIRIDIS: [(u8, u8, u8); 9] = [
    (68, 1, 84),
    (71, 44, 122),
    (59, 81, 139),
    (44, 113, 142),
    (33, 144, 141),
    (39, 173, 129),
    (92, 200, 99),
    (170, 220, 50),
    (253, 231, 37),
];

/// Viridis colour for `t` in [0, 1] (clamped), linearly interpolated.
pub(crate) fn colormap(t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0) * (VIRIDIS.len() - 1) as f64;
    let i = (t.floor() as usize).min(VIRIDIS.len() - 2);
    let f = t - i as f64;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    let mix = |x: u8, y: u8| (f64::from(x) + f * (f64::from(y) - f64::from(x))).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Black or white, whichever reads better on `fill` (Rec. 709 luminance).
pub(crate) fn text_on(fill: RGBColor) -> RGBColor {
    let luminance =
        (0.2126 * f64::from(fill.0) + 0.7152 * f64::from(fill.1) + 0.0722 * f64::from(fill.2))
            / 255.0;
    if luminance > 0.45 {
        RGBColor(0, 0, 0)
    } else {
        RGBColor(255, 255, 255)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plot_dash_pieces() {
        // A 30 px line under 10 on, 5 off: on 0–10, 15–25, then on again from 30.
        let pieces = dashes(&[(0.0, 0.0), (30.0, 0.0)], &[10.0, 5.0]);
        assert_eq!(
            pieces,
            vec![
                vec![(0.0, 0.0), (10.0, 0.0)],
                vec![(15.0, 0.0), (25.0, 0.0)]
            ]
        );
        // The pattern runs on across a corner.
        let pieces = dashes(&[(0.0, 0.0), (6.0, 0.0), (6.0, 20.0)], &[10.0, 5.0]);
        assert_eq!(pieces[0], vec![(0.0, 0.0), (6.0, 0.0), (6.0, 4.0)]);
        assert_eq!(pieces[1], vec![(6.0, 9.0), (6.0, 19.0)]);
    }

    #[test]
    fn plot_styles() {
        assert_eq!(colormap(0.0), RGBColor(68, 1, 84));
        assert_eq!(colormap(1.0), RGBColor(253, 231, 37));
        assert_eq!(colormap(-3.0), colormap(0.0));
        assert_eq!(colormap(f64::INFINITY), colormap(1.0));
        assert_eq!(text_on(colormap(0.0)), RGBColor(255, 255, 255));
        assert_eq!(text_on(colormap(1.0)), RGBColor(0, 0, 0));
        // The first 40 series differ in colour, marker or dash.
        let looks: Vec<_> = (0..40).map(series_style).collect();
        for i in 0..40 {
            for j in 0..i {
                assert_ne!(looks[i], looks[j], "series {i} and {j}");
            }
        }
    }
}
