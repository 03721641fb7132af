//! The step duration chart: for each step a group of three bars (p50, p95, p99), in milliseconds or,
//! from 10 s up, in seconds; step names shortened, rotated or thinned out to fit under their bars.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axis::{clean_value, draw_grid, y_axis_max};
use super::canvas::{
    fit_text, message_svg, render, text_style, Area, DrawResult, CHAR_WIDTH, MARGIN, NO_DATA, PLOT_MARGIN_BOTTOM,
    PLOT_MARGIN_RIGHT, PLOT_MARGIN_TOP, PLOT_WIDTH, TEXT, TEXT_SIZE, X_LABEL_AREA, X_LABEL_AREA_ROTATED, Y_LABEL_AREA,
};
use super::legend::{draw_header, LegendEntry, Swatch};

/// Duration percentiles of one step, in milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct StepPercentiles {
    /// The step's name, shown under its bars.
    pub step: String,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

/// p50, p95, p99: one hue, darker for the slower percentile, so the three read as one family.
pub(super) const PERCENTILE_COLORS: [RGBColor; 3] =
    [RGBColor(158, 202, 225), RGBColor(66, 146, 198), RGBColor(8, 81, 156)];

/// Duration percentiles per step: for each step a group of three bars (p50, p95, p99), y in milliseconds
/// (switched to seconds, labelled "duration (s)", when the largest value is >= 10_000 ms).
///
/// A non-finite percentile is left out (its bar is missing); a step whose three percentiles are all
/// non-finite still gets its slot, so the steps stay in the order given.
pub fn step_duration_chart(title: &str, steps: &[StepPercentiles]) -> String {
    let bars: Vec<[Option<f64>; 3]> = steps.iter().map(|s| [s.p50_ms, s.p95_ms, s.p99_ms].map(clean_value)).collect();
    if bars.iter().flatten().all(Option::is_none) {
        return message_svg(title, NO_DATA);
    }
    render(title, |root| draw_step_durations(root, title, steps, &bars))
}

pub(super) fn draw_step_durations(
    root: &Area<'_>,
    title: &str,
    steps: &[StepPercentiles],
    bars: &[[Option<f64>; 3]],
) -> DrawResult {
    let legend: Vec<LegendEntry> = ["p50", "p95", "p99"]
        .iter()
        .zip(PERCENTILE_COLORS)
        .map(|(label, color)| LegendEntry { label: (*label).to_string(), swatch: Swatch::Block(color) })
        .collect();
    let header = draw_header(root, title, &legend)?;
    let (_, body) = root.split_vertically(header);

    let max_ms = bars.iter().flatten().flatten().copied().fold(0.0, f64::max);
    let (scale, y_desc) = if max_ms >= 10_000.0 { (1_000.0, "duration (s)") } else { (1.0, "duration (ms)") };
    let labels = step_labels(steps.len());
    let x_area = if labels.rotated { X_LABEL_AREA_ROTATED } else { X_LABEL_AREA };

    let n = steps.len() as f64;
    let mut chart = ChartBuilder::on(&body)
        .margin_left(MARGIN)
        .margin_right(PLOT_MARGIN_RIGHT)
        .margin_top(PLOT_MARGIN_TOP)
        .margin_bottom(PLOT_MARGIN_BOTTOM)
        .x_label_area_size(x_area)
        .y_label_area_size(Y_LABEL_AREA)
        .build_cartesian_2d(0.0..n, 0.0..y_axis_max(max_ms / scale))?;
    // The step names are drawn below by hand: plotters centres rotated tick labels on the tick, which puts
    // half of each name inside the plot.
    draw_grid(&mut chart, 0, "step", y_desc)?;

    // Each step owns the unit interval [i, i + 1); its three bars fill the middle of it.
    const GROUP_START: f64 = 0.12;
    const BAR_WIDTH: f64 = 0.76 / 3.0;
    const BAR_GAP: f64 = 0.02;
    let rects = bars.iter().enumerate().flat_map(|(i, values)| {
        values.iter().zip(PERCENTILE_COLORS).enumerate().filter_map(move |(j, (value, color))| {
            let x0 = i as f64 + GROUP_START + j as f64 * BAR_WIDTH;
            value.map(|v| {
                Rectangle::new([(x0 + BAR_GAP / 2.0, 0.0), (x0 + BAR_WIDTH - BAR_GAP / 2.0, v / scale)], color.filled())
            })
        })
    });
    chart.draw_series(rects)?;

    let style = text_style(TEXT_SIZE, TEXT);
    let (style, anchor) = if labels.rotated {
        (style.transform(FontTransform::Rotate270), Pos::new(HPos::Right, VPos::Center))
    } else {
        (style, Pos::new(HPos::Center, VPos::Top))
    };
    let style = style.pos(anchor);
    for (i, step) in steps.iter().enumerate().step_by(labels.every) {
        let (x, y) = chart.backend_coord(&(i as f64 + 0.5, 0.0));
        root.draw_text(&fit_text(&step.step, labels.max_chars), &style, (x, y + 6))?;
    }
    Ok(())
}

/// How the step names fit under the bars: shortened to `max_chars`, written upright when there is room
/// for a readable name, else rotated, and only every `every`-th one when even rotated names would touch.
pub(super) struct StepLabels {
    pub(super) max_chars: usize,
    pub(super) rotated: bool,
    pub(super) every: usize,
}

pub(super) fn step_labels(steps: usize) -> StepLabels {
    const MIN_UPRIGHT_CHARS: usize = 8;
    /// Rotated names need a line of text each.
    const ROTATED_LINE: f64 = 14.0;
    let slot = f64::from(PLOT_WIDTH) / steps.max(1) as f64;
    let upright_chars = ((slot - 8.0) / CHAR_WIDTH).floor().max(0.0) as usize;
    if upright_chars >= MIN_UPRIGHT_CHARS {
        return StepLabels { max_chars: upright_chars, rotated: false, every: 1 };
    }
    // The rotated names share the label area with the axis description ("step") below them.
    let rotated_chars = ((f64::from(X_LABEL_AREA_ROTATED) - 30.0) / CHAR_WIDTH).floor() as usize;
    let every = (ROTATED_LINE / slot).ceil().max(1.0) as usize;
    StepLabels { max_chars: rotated_chars, rotated: true, every }
}
