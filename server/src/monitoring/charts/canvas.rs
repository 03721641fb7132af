//! The canvas every chart is drawn on: its size, fonts, colours and margins, text that fits, the title,
//! and rendering with its fallbacks ("No data in this period", "Chart unavailable", and a hand-written
//! SVG as the last resort), so a broken chart never breaks the page around it.

use std::error::Error as StdError;
use std::panic::{self, AssertUnwindSafe};

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub(super) const WIDTH: u32 = 800;
pub(super) const HEIGHT: u32 = 320;

pub(super) const NO_DATA: &str = "No data in this period";
pub(super) const UNAVAILABLE: &str = "Chart unavailable";

pub(super) const FONT: &str = "sans-serif";
// plotters sizes are in its own unit: the SVG gets `font-size = size / 1.24`.
pub(super) const TITLE_SIZE: f64 = 20.0;
pub(super) const TEXT_SIZE: f64 = 14.0;
pub(super) const MESSAGE_SIZE: f64 = 18.0;

pub(super) const TEXT: RGBColor = RGBColor(33, 37, 41);
pub(super) const MUTED: RGBColor = RGBColor(108, 117, 125);
pub(super) const GRID: RGBColor = RGBColor(228, 231, 235);
pub(super) const AXIS: RGBColor = RGBColor(150, 156, 164);

// The outcome colours, shared by the throughput lines and the SLA markers.
pub(super) const STARTED: RGBColor = RGBColor(76, 120, 168);
pub(super) const COMPLETED: RGBColor = RGBColor(44, 160, 44);
pub(super) const FAILED: RGBColor = RGBColor(214, 39, 40);
pub(super) const COMPENSATED: RGBColor = RGBColor(230, 145, 0);
pub(super) const CANCELLED: RGBColor = RGBColor(140, 140, 140);

// Layout, in pixels.
pub(super) const MARGIN: i32 = 12;
pub(super) const TITLE_TOP: i32 = 10;
/// Height of the header without a legend: the title line.
pub(super) const HEADER_BASE: u32 = 36;
pub(super) const LEGEND_ROW: i32 = 20;
pub(super) const MAX_LEGEND_ROWS: i32 = 3;
pub(super) const SWATCH_WIDTH: i32 = 22;
pub(super) const LEGEND_GAP: i32 = 18;
pub(super) const PLOT_MARGIN_TOP: u32 = 8;
pub(super) const PLOT_MARGIN_RIGHT: u32 = 24;
pub(super) const PLOT_MARGIN_BOTTOM: u32 = 6;
pub(super) const X_LABEL_AREA: u32 = 44;
pub(super) const X_LABEL_AREA_ROTATED: u32 = 112;
pub(super) const Y_LABEL_AREA: u32 = 72;
pub(super) const PLOT_WIDTH: i32 = WIDTH as i32 - MARGIN - Y_LABEL_AREA as i32 - PLOT_MARGIN_RIGHT as i32;
/// Horizontal space one tick label character takes at `TEXT_SIZE`, slightly generous so that estimated
/// labels never touch (plotters' own estimate for SVG is just as crude: it cannot measure the browser's font).
pub(super) const CHAR_WIDTH: f64 = 6.6;
pub(super) const TITLE_CHAR_WIDTH: f64 = 9.4;

pub(super) type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
pub(super) type DrawResult<T = ()> = Result<T, Box<dyn StdError>>;

pub(super) fn text_style(size: f64, color: RGBColor) -> TextStyle<'static> {
    // Set directly: `TextStyle::color` wants a reference that outlives the style.
    let mut style = TextStyle::from((FONT, size).into_font());
    style.color = color.to_backend_color();
    style
}

/// User text made safe and short for a label: control characters become spaces (XML forbids most of
/// them), and a text longer than `max_chars` ends in an ellipsis.
pub(super) fn fit_text(text: &str, max_chars: usize) -> String {
    let clean: String = text.trim().chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if clean.chars().count() <= max_chars {
        return clean;
    }
    let mut short: String = clean.chars().take(max_chars.saturating_sub(1)).collect();
    short.truncate(short.trim_end().len());
    short.push('…');
    short
}

pub(super) fn draw_title(root: &Area<'_>, title: &str) -> DrawResult {
    let max_chars = ((WIDTH as i32 - 2 * MARGIN) as f64 / TITLE_CHAR_WIDTH) as usize;
    let mut style = TextStyle::from((FONT, TITLE_SIZE, FontStyle::Bold).into_font());
    style.color = TEXT.to_backend_color();
    root.draw_text(&fit_text(title, max_chars), &style.pos(Pos::new(HPos::Left, VPos::Top)), (MARGIN, TITLE_TOP))?;
    Ok(())
}

/// Draws a chart into a fresh SVG; any plotters error (or panic inside plotters) gives the "Chart
/// unavailable" placeholder instead, because a broken chart must not break the page around it.
pub(super) fn render(title: &str, draw: impl FnOnce(&Area<'_>) -> DrawResult) -> String {
    try_render(draw).unwrap_or_else(|| message_svg(title, UNAVAILABLE))
}

/// An SVG with only the title and a message in the middle.
pub(super) fn message_svg(title: &str, message: &str) -> String {
    let drawn = try_render(|root| {
        draw_title(root, title)?;
        let style = text_style(MESSAGE_SIZE, MUTED).pos(Pos::new(HPos::Center, VPos::Center));
        root.draw_text(message, &style, (WIDTH as i32 / 2, HEIGHT as i32 / 2))?;
        Ok(())
    });
    drawn.unwrap_or_else(|| plain_message_svg(message))
}

/// The last resort, written by hand. Only our constant messages get here, so it needs no escaping.
pub(super) fn plain_message_svg(message: &str) -> String {
    format!(
        "<svg width=\"{WIDTH}\" height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" \
         xmlns=\"http://www.w3.org/2000/svg\">\n<rect width=\"{WIDTH}\" height=\"{HEIGHT}\" fill=\"#FFFFFF\"/>\n\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-family=\"{FONT}\" font-size=\"14\" \
         fill=\"#6C757D\">{message}</text>\n</svg>\n",
        WIDTH / 2,
        HEIGHT / 2
    )
}

pub(super) fn try_render(draw: impl FnOnce(&Area<'_>) -> DrawResult) -> Option<String> {
    let mut buf = String::new();
    let drawn = {
        let root = SVGBackend::with_string(&mut buf, (WIDTH, HEIGHT)).into_drawing_area();
        // plotters asserts on some inputs (a NaN axis range, for one); the inputs are cleaned so that this
        // should not happen, and catching the unwind keeps a chart bug from taking a request down with it.
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| -> DrawResult {
            root.fill(&WHITE)?;
            draw(&root)?;
            root.present()?;
            Ok(())
        }));
        matches!(outcome, Ok(Ok(())))
    };
    (drawn && buf.starts_with("<svg")).then_some(buf)
}
