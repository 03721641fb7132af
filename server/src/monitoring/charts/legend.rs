//! The header above each plot: the title and, below it, the legend — wrapped over at most
//! `MAX_LEGEND_ROWS` rows, with a "+N more" note when the entries do not fit, so it never covers the data.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::canvas::{
    draw_title, fit_text, text_style, Area, DrawResult, CHAR_WIDTH, HEADER_BASE, LEGEND_GAP, LEGEND_ROW, MARGIN,
    MAX_LEGEND_ROWS, MUTED, PLOT_MARGIN_RIGHT, SWATCH_WIDTH, TEXT, TEXT_SIZE, WIDTH, Y_LABEL_AREA,
};

/// How an entry is marked: a line (throughput), a block (bars), a dot (SLA markers).
pub(super) enum Swatch {
    Line(RGBColor),
    Block(RGBColor),
    Dot(RGBColor),
}

pub(super) struct LegendEntry {
    pub(super) label: String,
    pub(super) swatch: Swatch,
}

/// Draws the title and, below it, the legend (wrapped over up to `MAX_LEGEND_ROWS` rows, so it never
/// covers the data); returns the header's height, where the plot starts.
pub(super) fn draw_header(root: &Area<'_>, title: &str, legend: &[LegendEntry]) -> DrawResult<u32> {
    draw_title(root, title)?;
    let left = MARGIN + Y_LABEL_AREA as i32;
    let labels: Vec<String> = legend.iter().map(|e| fit_text(&e.label, 28)).collect();
    let layout = layout_legend(&labels, WIDTH as i32 - left - PLOT_MARGIN_RIGHT as i32);
    let style = text_style(TEXT_SIZE, TEXT).pos(Pos::new(HPos::Left, VPos::Center));
    let row_middle = |row: i32| HEADER_BASE as i32 + row * LEGEND_ROW + LEGEND_ROW / 2;
    for ((entry, label), &(x, row)) in legend.iter().zip(&labels).zip(&layout.places) {
        let (x, y) = (left + x, row_middle(row));
        match entry.swatch {
            Swatch::Line(color) => {
                root.draw(&PathElement::new([(x, y), (x + SWATCH_WIDTH, y)], color.stroke_width(3)))?
            }
            Swatch::Block(color) => root.draw(&Rectangle::new([(x + 4, y - 6), (x + 18, y + 6)], color.filled()))?,
            Swatch::Dot(color) => root.draw(&Circle::new((x + SWATCH_WIDTH / 2, y), 5, color.filled()))?,
        }
        root.draw_text(label, &style, (x + SWATCH_WIDTH + 6, y))?;
    }
    if let Some((more, (x, row))) = &layout.more {
        root.draw_text(
            more,
            &text_style(TEXT_SIZE, MUTED).pos(Pos::new(HPos::Left, VPos::Center)),
            (left + x, row_middle(*row)),
        )?;
    }
    let rows = layout
        .places
        .iter()
        .chain(layout.more.as_ref().map(|(_, place)| place))
        .map(|&(_, row)| row + 1)
        .max()
        .unwrap_or(0);
    // A few pixels between the last legend row and the plot.
    let legend_height = if rows > 0 { rows * LEGEND_ROW + 4 } else { 0 };
    Ok(HEADER_BASE + legend_height as u32)
}

/// Where the legend entries go: `(x, row)` for each entry shown, in order, and, when they do not all fit
/// in `MAX_LEGEND_ROWS` rows, a "+N more" note in place of the last ones, so the plot keeps its height.
pub(super) struct LegendLayout {
    pub(super) places: Vec<(i32, i32)>,
    pub(super) more: Option<(String, (i32, i32))>,
}

pub(super) fn layout_legend(labels: &[String], width: i32) -> LegendLayout {
    let rows = |places: &[(i32, i32)]| places.last().map_or(0, |&(_, row)| row + 1);
    let places = place_legend_entries(labels, width);
    if rows(&places) <= MAX_LEGEND_ROWS {
        return LegendLayout { places, more: None };
    }
    // No more than this many entries fit in the rows anyway; starting there bounds the search.
    let most = labels.len().min(width.max(0) as usize / SWATCH_WIDTH as usize * MAX_LEGEND_ROWS as usize);
    for shown in (0..most).rev() {
        let more = format!("+{} more", labels.len() - shown);
        let mut candidate = labels[..shown].to_vec();
        candidate.push(more.clone());
        let mut places = place_legend_entries(&candidate, width);
        if rows(&places) <= MAX_LEGEND_ROWS {
            let more_place = places.pop().map(|place| (more, place));
            return LegendLayout { places, more: more_place };
        }
    }
    LegendLayout { places: Vec::new(), more: None }
}

/// Places legend entries left to right, wrapping to a new row when the next would not fit: `(x, row)` each.
pub(super) fn place_legend_entries(labels: &[String], width: i32) -> Vec<(i32, i32)> {
    let mut places = Vec::with_capacity(labels.len());
    let (mut x, mut row) = (0, 0);
    for label in labels {
        let entry_width = SWATCH_WIDTH + 6 + (label.chars().count() as f64 * CHAR_WIDTH).ceil() as i32;
        if x > 0 && x + entry_width > width {
            x = 0;
            row += 1;
        }
        places.push((x, row));
        x += entry_width + LEGEND_GAP;
    }
    places
}
