//! The embedded font: registration, text measurement, fitting text into a width, and
//! drawing text aligned on its visible glyphs.

use std::sync::OnceLock;

use plotters::prelude::{IntoFont, RGBColor, Text, TextStyle};
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontDesc, FontStyle, FontTransform};

use super::{Canvas, Fault};

/// Family name the embedded font is registered under (not a generic name such as
/// "sans-serif", which another plotting module in the same process may register too).
const FAMILY: &str = "gtl-eval DejaVu Sans";
static FONT_BYTES: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// Height of capital letters as a share of the font size (DejaVu Sans: cap height 1493
/// units, ascent + descent 2384 units; plotters sizes a font by ascent + descent).
const CAP_HEIGHT: f64 = 1493.0 / 2384.0;
/// Where plotters puts the baseline of text anchored at its top, as a share of the size.
const BASELINE: f64 = 0.5;

/// Registers the embedded font once per process.
pub(crate) fn ensure_registered() -> Result<(), Fault> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FAMILY, FontStyle::Normal, FONT_BYTES).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(Fault::Draw(
            "the embedded DejaVuSans.ttf could not be loaded".to_string(),
        ))
    }
}

/// The embedded font at `size` pixels.
fn font(size: f64) -> FontDesc<'static> {
    (FAMILY, size).into_font()
}

/// Width in pixels of `text` at `size` (an estimate from the glyph advances if the font is
/// unavailable, which [`ensure_registered`] rules out before drawing).
pub(crate) fn text_width(text: &str, size: f64) -> f64 {
    let _ = ensure_registered();
    match font(size).box_size(text) {
        Ok((w, _)) => f64::from(w),
        Err(_) => 0.6 * size * text.chars().count() as f64,
    }
}

/// Line height in pixels of text at `size` (capitals plus a little room above and below).
pub(crate) fn line_height(size: f64) -> f64 {
    1.25 * size
}

/// `text` at the largest size in `[min_size, size]` (in steps of one pixel) that fits in
/// `max_width`; at `min_size` it is cut and ends in "…" if it still does not fit.
pub(crate) fn fit(text: &str, size: f64, min_size: f64, max_width: f64) -> (String, f64) {
    let mut s = size;
    while s > min_size && text_width(text, s) > max_width {
        s = (s - 1.0).max(min_size);
    }
    if text_width(text, s) <= max_width {
        return (text.to_string(), s);
    }
    let chars: Vec<char> = text.chars().collect();
    for keep in (0..chars.len()).rev() {
        let cut: String = chars[..keep]
            .iter()
            .collect::<String>()
            .trim_end()
            .to_string()
            + "…";
        if text_width(&cut, s) <= max_width {
            return (cut, s);
        }
    }
    (String::new(), s)
}

/// Where a piece of text sits relative to its anchor point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    /// Left of the text (or top of its capitals) at the anchor.
    Start,
    /// Centre of the text (or of its capitals) at the anchor.
    Center,
    /// Right of the text (or its baseline) at the anchor.
    End,
}

/// How text is drawn: size, colour, alignment, and whether it reads bottom to top.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TextSpec {
    /// Font size in pixels.
    pub size: f64,
    /// Text colour.
    pub colour: RGBColor,
    /// Alignment along the text.
    pub along: Align,
    /// Alignment across the text (capitals and baseline).
    pub across: Align,
    /// Rotated a quarter turn anticlockwise (y-axis titles).
    pub vertical: bool,
}

impl TextSpec {
    /// Black horizontal text at `size`, anchored as given.
    pub(crate) fn new(size: f64, along: Align, across: Align) -> Self {
        TextSpec {
            size,
            colour: RGBColor(0, 0, 0),
            along,
            across,
            vertical: false,
        }
    }

    /// The same text in `colour`.
    pub(crate) fn colour(self, colour: RGBColor) -> Self {
        TextSpec { colour, ..self }
    }

    /// The same text read bottom to top.
    pub(crate) fn vertical(self) -> Self {
        TextSpec {
            vertical: true,
            ..self
        }
    }
}

/// Draws `text` at `(x, y)` on `canvas`, aligned on its visible capitals rather than on
/// plotters' layout box (which puts glyphs a fifth of the size above centre).
pub(crate) fn draw_text(
    canvas: &Canvas<'_>,
    text: &str,
    (x, y): (f64, f64),
    spec: TextSpec,
) -> Result<(), Fault> {
    if text.is_empty() {
        return Ok(());
    }
    let s = spec.size;
    // Offset from the anchor to plotters' top-anchored origin, across the text.
    let across = match spec.across {
        Align::Start => (CAP_HEIGHT - BASELINE) * s,
        Align::Center => (CAP_HEIGHT / 2.0 - BASELINE) * s,
        Align::End => -BASELINE * s,
    };
    let along = match spec.along {
        Align::Start => HPos::Left,
        Align::Center => HPos::Center,
        Align::End => HPos::Right,
    };
    let mut style = TextStyle::from(font(s))
        .color(&spec.colour)
        .pos(Pos::new(along, VPos::Top));
    let pos = if spec.vertical {
        style = style.transform(FontTransform::Rotate270);
        // Rotated a quarter turn, the text's "down" points right.
        (x + across, y)
    } else {
        (x, y + across)
    };
    canvas.draw(&Text::new(
        text.to_string(),
        (pos.0.round() as i32, pos.1.round() as i32),
        style,
    ))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plot_text_fits() {
        let long = "a rather long title that will not fit";
        let w = text_width(long, 20.0);
        assert!(w > 200.0, "{w}");
        assert_eq!(fit(long, 20.0, 12.0, w + 1.0), (long.to_string(), 20.0));
        let (shrunk, size) = fit(long, 20.0, 12.0, w * 0.8);
        assert_eq!(shrunk, long);
        assert!((12.0..20.0).contains(&size));
        let (cut, size) = fit(long, 20.0, 12.0, 100.0);
        assert_eq!(size, 12.0);
        assert!(
            cut.ends_with('…') && text_width(&cut, 12.0) <= 100.0,
            "{cut}"
        );
    }
}
