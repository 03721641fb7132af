//! The throughput chart: instances per time bucket, one line per outcome, each outcome in its fixed
//! colour (others share a fallback palette); buckets missing inside the range are drawn as 0.

use std::collections::BTreeMap;

use plotters::prelude::*;

use super::axis::{
    clean_value, draw_grid, time_range, y_axis_max, TimeAxis, DAY_MS, HOUR_MS, MAX_VALUE, MINUTE_MS, X_TICKS,
};
use super::canvas::{
    fit_text, message_svg, render, Area, DrawResult, CANCELLED, COMPENSATED, COMPLETED, FAILED, MARGIN, MUTED, NO_DATA,
    PLOT_MARGIN_BOTTOM, PLOT_MARGIN_RIGHT, PLOT_MARGIN_TOP, STARTED, X_LABEL_AREA, Y_LABEL_AREA,
};
use super::legend::{draw_header, LegendEntry, Swatch};

/// One line/series over time: bucket start (epoch ms, UTC) -> value.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeSeries {
    /// The outcome ("started", "completed", …); it names the line in the legend and picks its colour.
    pub label: String,
    /// `(bucket start in epoch ms, value)`, in any order.
    pub points: Vec<(i64, f64)>,
}

/// For outcomes without a colour of their own, in order of appearance.
pub(super) const FALLBACK_PALETTE: [RGBColor; 5] = [
    RGBColor(148, 103, 189),
    RGBColor(23, 190, 207),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(188, 189, 34),
];

/// Filling absent buckets with zeros stops here; a range this fine is drawn from the points as given.
pub(super) const MAX_FILLED_BUCKETS: i64 = 20_000;

/// Throughput over time by outcome: one line per series (e.g. "started", "completed", "failed",
/// "compensated", "cancelled"), y = instances per bucket. `bucket_ms` is the bucket width (60_000, 3_600_000
/// or 86_400_000), [from_ms, to_ms) the x range. Y axis label "instances per minute"/"per hour"/"per day"
/// from bucket_ms.
///
/// Buckets missing from a series inside the range are drawn as 0: rollups only store buckets in which
/// something happened, and a line straight across a quiet hour would claim activity that never was.
pub fn throughput_chart(title: &str, from_ms: i64, to_ms: i64, bucket_ms: i64, series: &[TimeSeries]) -> String {
    let (from, to) = time_range(from_ms, to_ms);
    let Some(lines) = prepare_throughput(from, to, bucket_ms, series) else {
        return message_svg(title, NO_DATA);
    };
    render(title, |root| draw_throughput(root, title, from, to, bucket_ms, &lines))
}

pub(super) fn draw_throughput(
    root: &Area<'_>,
    title: &str,
    from: i64,
    to: i64,
    bucket_ms: i64,
    lines: &[Line],
) -> DrawResult {
    let legend: Vec<LegendEntry> =
        lines.iter().map(|line| LegendEntry { label: line.label.clone(), swatch: Swatch::Line(line.color) }).collect();
    let header = draw_header(root, title, &legend)?;
    let (_, body) = root.split_vertically(header);

    let max = lines.iter().flat_map(|line| line.points.iter().map(|&(_, v)| v)).fold(0.0, f64::max);
    let mut chart = ChartBuilder::on(&body)
        .margin_left(MARGIN)
        .margin_right(PLOT_MARGIN_RIGHT)
        .margin_top(PLOT_MARGIN_TOP)
        .margin_bottom(PLOT_MARGIN_BOTTOM)
        .x_label_area_size(X_LABEL_AREA)
        .y_label_area_size(Y_LABEL_AREA)
        .build_cartesian_2d(TimeAxis { from, to }, 0.0..y_axis_max(max))?;
    draw_grid(&mut chart, X_TICKS, "time (UTC)", &per_bucket_label(bucket_ms))?;

    for Line { color, points, .. } in lines {
        // Markers make sparse series (a single bucket draws no line at all) visible; on dense ones they
        // would only blur the line.
        let marker = if points.len() <= 31 { 3 } else { 0 };
        let style = ShapeStyle { color: color.to_rgba(), filled: true, stroke_width: 2 };
        chart.draw_series(LineSeries::new(points.iter().copied(), style).point_size(marker))?;
    }
    Ok(())
}

/// One series of the throughput chart, ready to draw.
pub(super) struct Line {
    pub(super) label: String,
    pub(super) color: RGBColor,
    pub(super) points: Vec<(i64, f64)>,
}

/// The series to draw, with their colours, or `None` when no series has a point to draw.
pub(super) fn prepare_throughput(from: i64, to: i64, bucket_ms: i64, series: &[TimeSeries]) -> Option<Vec<Line>> {
    let mut buckets: Vec<BTreeMap<i64, f64>> = series
        .iter()
        .map(|s| {
            let mut map = BTreeMap::new();
            for &(t, v) in &s.points {
                if let (true, Some(v)) = ((from..to).contains(&t), clean_value(v)) {
                    // Two entries for one bucket (say, from two workflow types) add up.
                    let total: &mut f64 = map.entry(t).or_insert(0.0);
                    *total = (*total + v).min(MAX_VALUE);
                }
            }
            map
        })
        .collect();
    let anchor = buckets.iter().find_map(|map| map.keys().next().copied())?;

    if bucket_ms > 0 {
        // The bucket grid is the one the points are on, so filled zeros fall between them, not beside them.
        let first = from + (anchor - from).rem_euclid(bucket_ms);
        let count = (to - first + bucket_ms - 1) / bucket_ms;
        if count <= MAX_FILLED_BUCKETS {
            for k in 0..count {
                let t = first + k * bucket_ms;
                for map in &mut buckets {
                    map.entry(t).or_insert(0.0);
                }
            }
        }
    }

    let mut fallback = FALLBACK_PALETTE.iter().cycle();
    let lines = series
        .iter()
        .zip(buckets)
        .map(|(s, map)| {
            let label = fit_text(&s.label, 28);
            let label = if label.is_empty() { "(unnamed)".to_string() } else { label };
            let color = outcome_color(&s.label).unwrap_or_else(|| *fallback.next().unwrap_or(&MUTED));
            Line { label, color, points: map.into_iter().collect() }
        })
        .collect();
    Some(lines)
}

pub(super) fn outcome_color(label: &str) -> Option<RGBColor> {
    match label.trim().to_ascii_lowercase().as_str() {
        "started" => Some(STARTED),
        "completed" => Some(COMPLETED),
        "failed" => Some(FAILED),
        "compensated" => Some(COMPENSATED),
        "cancelled" | "canceled" => Some(CANCELLED),
        _ => None,
    }
}

pub(super) fn per_bucket_label(bucket_ms: i64) -> String {
    let per = match bucket_ms {
        MINUTE_MS => "minute".to_string(),
        HOUR_MS => "hour".to_string(),
        DAY_MS => "day".to_string(),
        b if b > 0 && b % DAY_MS == 0 => format!("{} days", b / DAY_MS),
        b if b > 0 && b % HOUR_MS == 0 => format!("{} hours", b / HOUR_MS),
        b if b > 0 && b % MINUTE_MS == 0 => format!("{} minutes", b / MINUTE_MS),
        b if b > 0 && b % 1_000 == 0 => format!("{} s", b / 1_000),
        _ => "bucket".to_string(),
    };
    format!("instances per {per}")
}
