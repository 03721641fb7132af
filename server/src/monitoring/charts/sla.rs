//! The SLA trend chart: a target's value per period against its threshold (a dashed red "target"
//! line), each period's marker green when it met the target and red when it broke it.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axis::{clamp_ms, clean_value, draw_grid, time_range, y_axis_max, TimeAxis, HOUR_MS, MAX_VALUE, X_TICKS};
use super::canvas::{
    fit_text, message_svg, render, text_style, Area, DrawResult, COMPLETED, FAILED, MARGIN, MUTED, NO_DATA,
    PLOT_MARGIN_BOTTOM, PLOT_MARGIN_RIGHT, PLOT_MARGIN_TOP, STARTED, TEXT_SIZE, X_LABEL_AREA, Y_LABEL_AREA,
};
use super::legend::{draw_header, LegendEntry, Swatch};

/// An SLA target's value for one period; `actual` is `None` when the period had no data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SlaPoint {
    /// End of the period, epoch ms (UTC).
    pub period_end_ms: i64,
    /// The measured value, in the chart's unit.
    pub actual: Option<f64>,
}

pub(super) const MET: RGBColor = COMPLETED;
pub(super) const MISSED: RGBColor = FAILED;
pub(super) const TARGET: RGBColor = FAILED;
pub(super) const NEUTRAL_POINT: RGBColor = STARTED;

/// An SLA target's trend: the actual value per period (None = no data in that period) against the
/// threshold drawn as a dashed red horizontal line labelled "target". `unit` is the y axis label
/// (e.g. "p95 duration (ms)", "completion rate (%)"). Points whose value breaks the target are drawn in
/// red, met ones in green; `higher_is_better` says which side breaks it (true for rates that must stay
/// above the threshold). A value equal to the threshold meets it.
///
/// Consecutive periods with data are joined by a grey line; a period without data breaks it. A
/// non-finite threshold draws no target line, and the points in a neutral blue.
pub fn sla_trend_chart(title: &str, unit: &str, threshold: f64, higher_is_better: bool, points: &[SlaPoint]) -> String {
    let mut periods: Vec<(i64, Option<f64>)> =
        points.iter().map(|p| (clamp_ms(p.period_end_ms), p.actual.and_then(clean_value))).collect();
    if periods.iter().all(|(_, v)| v.is_none()) {
        return message_svg(title, NO_DATA);
    }
    periods.sort_by_key(|&(t, _)| t);
    let threshold = threshold.is_finite().then(|| threshold.clamp(0.0, MAX_VALUE));
    render(title, |root| draw_sla(root, title, unit, threshold, higher_is_better, &periods))
}

pub(super) fn draw_sla(
    root: &Area<'_>,
    title: &str,
    unit: &str,
    threshold: Option<f64>,
    higher_is_better: bool,
    periods: &[(i64, Option<f64>)],
) -> DrawResult {
    let legend = if threshold.is_some() {
        vec![
            LegendEntry { label: "met target".to_string(), swatch: Swatch::Dot(MET) },
            LegendEntry { label: "missed target".to_string(), swatch: Swatch::Dot(MISSED) },
        ]
    } else {
        Vec::new()
    };
    let header = draw_header(root, title, &legend)?;
    let (_, body) = root.split_vertically(header);

    let (from, to) = sla_time_range(periods);
    let max = periods.iter().filter_map(|&(_, v)| v).chain(threshold).fold(0.0, f64::max);
    let y_desc = fit_text(unit, 40);
    let y_desc = if y_desc.is_empty() { "value".to_string() } else { y_desc };
    let mut chart = ChartBuilder::on(&body)
        .margin_left(MARGIN)
        .margin_right(PLOT_MARGIN_RIGHT)
        .margin_top(PLOT_MARGIN_TOP)
        .margin_bottom(PLOT_MARGIN_BOTTOM)
        .x_label_area_size(X_LABEL_AREA)
        .y_label_area_size(Y_LABEL_AREA)
        .build_cartesian_2d(TimeAxis { from, to }, 0.0..y_axis_max(max))?;
    draw_grid(&mut chart, X_TICKS, "period end (UTC)", &y_desc)?;

    let line = MUTED.stroke_width(2);
    for segment in periods.split(|(_, v)| v.is_none()) {
        let points: Vec<(i64, f64)> = segment.iter().filter_map(|&(t, v)| v.map(|v| (t, v))).collect();
        if points.len() >= 2 {
            chart.draw_series(LineSeries::new(points, line))?;
        }
    }

    if let Some(threshold) = threshold {
        chart.draw_series(DashedLineSeries::new([(from, threshold), (to, threshold)], 8, 5, TARGET.stroke_width(2)))?;
        // Right end, just above the line: the headroom of `y_axis_max` keeps it inside the plot.
        let (x, y) = chart.backend_coord(&(to, threshold));
        root.draw_text(
            "target",
            &text_style(TEXT_SIZE, TARGET).pos(Pos::new(HPos::Right, VPos::Bottom)),
            (x - 4, y - 4),
        )?;
    }

    let markers = periods.iter().filter_map(|&(t, v)| {
        let v = v?;
        let color = match threshold {
            Some(threshold) if breaks_target(v, threshold, higher_is_better) => MISSED,
            Some(_) => MET,
            None => NEUTRAL_POINT,
        };
        Some(Circle::new((t, v), 4, color.filled()))
    });
    chart.draw_series(markers)?;
    Ok(())
}

pub(super) fn breaks_target(value: f64, threshold: f64, higher_is_better: bool) -> bool {
    if higher_is_better {
        value < threshold
    } else {
        value > threshold
    }
}

/// The x range of the SLA chart: the periods plus half the smallest gap between them on either side, so
/// the first and last markers are not cut in half by the plot's edge.
pub(super) fn sla_time_range(periods: &[(i64, Option<f64>)]) -> (i64, i64) {
    let first = periods.first().map_or(0, |&(t, _)| t);
    let last = periods.last().map_or(0, |&(t, _)| t);
    let gap = periods.windows(2).map(|w| w[1].0 - w[0].0).filter(|&g| g > 0).min().unwrap_or(HOUR_MS);
    let pad = (gap / 2).max(1);
    time_range(first.saturating_sub(pad), last.saturating_add(pad))
}
