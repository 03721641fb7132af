//! The axes: the grid with its tick labels, the time axis over epoch milliseconds (UTC) ticked on round
//! times (`HH:MM` up to 48 h, `MM-DD` beyond), the y axis's rounded top and compact numbers, and the
//! clamping that keeps values and timestamps in ranges plotters and chrono handle.

use std::ops::Range;

use chrono::DateTime;
use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::canvas::{text_style, DrawResult, AXIS, GRID, MUTED, TEXT, TEXT_SIZE};

pub(super) const X_TICKS: usize = 10;
pub(super) const Y_TICKS: usize = 6;

/// Values beyond this are clamped: nothing we chart gets near it, and it keeps axis ranges and tick
/// arithmetic far from overflow.
pub(super) const MAX_VALUE: f64 = 1e12;
/// 9999-12-31T23:59:59.999Z: timestamps are clamped to years 0000..=9999, which chrono formats and whose
/// differences cannot overflow an `i64`.
pub(super) const MAX_MS: i64 = 253_402_300_799_999;
pub(super) const MIN_MS: i64 = -62_167_219_200_000;

pub(super) const MINUTE_MS: i64 = 60_000;
pub(super) const HOUR_MS: i64 = 3_600_000;
pub(super) const DAY_MS: i64 = 86_400_000;
/// Ranges up to this long are ticked with times of day, longer ones with dates.
pub(super) const TIME_OF_DAY_SPAN_MS: i64 = 48 * HOUR_MS;

/// Draws the light grid, the axes, their tick labels and their descriptions.
pub(super) fn draw_grid<X>(
    chart: &mut ChartContext<'_, SVGBackend<'_>, Cartesian2d<X, RangedCoordf64>>,
    x_ticks: usize,
    x_desc: &str,
    y_desc: &str,
) -> DrawResult
where
    X: Ranged + ValueFormatter<X::ValueType>,
{
    chart
        .configure_mesh()
        .x_labels(x_ticks)
        .y_labels(Y_TICKS)
        // One grid line per tick is enough; plotters' extra light lines in between make the grid busy.
        .max_light_lines(0)
        .bold_line_style(GRID.stroke_width(1))
        .axis_style(AXIS.stroke_width(1))
        .label_style(text_style(TEXT_SIZE, TEXT))
        .axis_desc_style(text_style(TEXT_SIZE, MUTED))
        .y_label_formatter(&|v| format_number(*v))
        .x_desc(x_desc)
        .y_desc(y_desc)
        .draw()?;
    Ok(())
}

/// A finite value clamped to `0..=MAX_VALUE`; `None` for NaN and infinities.
pub(super) fn clean_value(v: f64) -> Option<f64> {
    v.is_finite().then(|| v.clamp(0.0, MAX_VALUE))
}

pub(super) fn clamp_ms(ms: i64) -> i64 {
    ms.clamp(MIN_MS, MAX_MS)
}

/// A non-empty, ordered, clamped time range; swapped bounds are taken as meant the other way round.
pub(super) fn time_range(from_ms: i64, to_ms: i64) -> (i64, i64) {
    let (from, to) = (clamp_ms(from_ms.min(to_ms)), clamp_ms(from_ms.max(to_ms)));
    if from < to {
        (from, to)
    } else if to + MINUTE_MS <= MAX_MS {
        (from, to + MINUTE_MS)
    } else {
        (from - MINUTE_MS, to)
    }
}

/// The top of a y axis that starts at 0: a round number with about 10 % headroom above `max`, and 1 when
/// there is nothing above 0, so the range is never empty.
pub(super) fn y_axis_max(max: f64) -> f64 {
    let target = max * 1.1;
    if !(target.is_finite() && target > 0.0) {
        return 1.0;
    }
    let magnitude = 10f64.powf(target.log10().floor());
    [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|&candidate| candidate >= target)
        .unwrap_or(10.0 * magnitude)
}

/// A compact axis number: at most two decimals, thousands as k, millions as M, billions as G.
pub(super) fn format_number(v: f64) -> String {
    let (scaled, suffix) = match v.abs() {
        a if a >= 1e9 => (v / 1e9, "G"),
        a if a >= 1e6 => (v / 1e6, "M"),
        a if a >= 1e4 => (v / 1e3, "k"),
        _ => (v, ""),
    };
    let mut text = format!("{scaled:.2}");
    if text.contains('.') {
        text.truncate(text.trim_end_matches('0').trim_end_matches('.').len());
    }
    if text == "-0" {
        text = "0".to_string();
    }
    text + suffix
}

/// An x axis over epoch milliseconds (UTC) whose ticks fall on round times (whole minutes, hours, days)
/// rather than on the round millisecond counts plotters would pick for a plain integer range.
pub(super) struct TimeAxis {
    pub(super) from: i64,
    pub(super) to: i64,
}

impl Ranged for TimeAxis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = i64;

    fn map(&self, value: &i64, limit: (i32, i32)) -> i32 {
        // In f64: the difference of two clamped timestamps fits, but a point far outside the range need not.
        let span = (self.to as f64 - self.from as f64).max(1.0);
        let fraction = (*value as f64 - self.from as f64) / span;
        // `as` saturates, so a far-off point lands at the edge of the pixel space instead of wrapping.
        (f64::from(limit.0) + fraction * (f64::from(limit.1) - f64::from(limit.0))).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<i64> {
        time_ticks(self.from, self.to, hint.max_num_points())
    }

    fn range(&self) -> Range<i64> {
        self.from..self.to
    }
}

impl ValueFormatter<i64> for TimeAxis {
    fn format(value: &i64) -> String {
        format_time(*value, "%Y-%m-%d %H:%M")
    }

    fn format_ext(&self, value: &i64) -> String {
        format_tick(*value, self.to - self.from)
    }
}

/// Tick positions in `[from, to]`: multiples of the smallest round step that gives at most `max` ticks.
/// Steps are multiples of UTC days from a day up, so day ticks fall on UTC midnight.
pub(super) fn time_ticks(from: i64, to: i64, max: usize) -> Vec<i64> {
    const STEPS: [i64; 16] = [
        MINUTE_MS,
        2 * MINUTE_MS,
        5 * MINUTE_MS,
        10 * MINUTE_MS,
        15 * MINUTE_MS,
        30 * MINUTE_MS,
        HOUR_MS,
        2 * HOUR_MS,
        3 * HOUR_MS,
        6 * HOUR_MS,
        12 * HOUR_MS,
        DAY_MS,
        2 * DAY_MS,
        7 * DAY_MS,
        14 * DAY_MS,
        28 * DAY_MS,
    ];
    if max == 0 || to <= from {
        return Vec::new();
    }
    let count = |step: i64| to.div_euclid(step) - (from + step - 1).div_euclid(step) + 1;
    let step = STEPS.iter().copied().find(|&step| count(step) <= max as i64).unwrap_or_else(|| {
        let days = (to - from) / DAY_MS / max as i64 + 1;
        days * DAY_MS
    });
    let first = (from + step - 1).div_euclid(step) * step;
    (0..).map(|k| first + k * step).take_while(|&t| t <= to).take(max).collect()
}

/// A tick label for a time axis spanning `span_ms`: `HH:MM` up to 48 hours, `MM-DD` beyond.
pub(super) fn format_tick(ms: i64, span_ms: i64) -> String {
    format_time(ms, if span_ms <= TIME_OF_DAY_SPAN_MS { "%H:%M" } else { "%m-%d" })
}

pub(super) fn format_time(ms: i64, pattern: &str) -> String {
    DateTime::from_timestamp_millis(ms).map(|t| t.format(pattern).to_string()).unwrap_or_default()
}
