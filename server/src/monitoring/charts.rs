//! Server-side charts for the monitoring pages, drawn with plotters as standalone SVG documents.
//!
//! Three charts, each a function from plain data to a complete `<svg …>` document of 800 × 320 px, with a
//! title, labelled axes, a legend above the plot and a light grid on white:
//!
//! - [`throughput_chart`]: instances per time bucket, one line per outcome ([`TimeSeries`]), with a fixed
//!   colour per outcome (started blue, completed green, failed red, compensated amber, cancelled grey).
//! - [`step_duration_chart`]: the p50 / p95 / p99 durations of each step ([`StepPercentiles`]) as groups of
//!   three bars, in milliseconds, or in seconds once the largest value reaches 10 s.
//! - [`sla_trend_chart`]: an SLA target's value per period ([`SlaPoint`]) against its threshold, drawn as a
//!   dashed red line labelled "target"; periods that met the target are green, the others red.
//!
//! The module is pure: data in, SVG text out, no I/O, no clock, no fonts read from the system (text stays
//! SVG `<text>` sized with plotters' built-in estimate, so the browser renders it). Time axes are in UTC,
//! ticked `HH:MM` up to a 48 h range and `MM-DD` beyond. The functions never fail and never panic: input
//! with nothing to draw gives a chart that says "No data in this period", non-finite values are skipped,
//! negative ones clamp to 0, and an internal drawing error gives a "Chart unavailable" placeholder.
//!
//! ```
//! use switchboard::monitoring::charts::{sla_trend_chart, SlaPoint};
//!
//! let hour = 3_600_000;
//! let points: Vec<SlaPoint> = [Some(420.0), Some(515.0), None, Some(380.0)]
//!     .into_iter()
//!     .enumerate()
//!     .map(|(i, actual)| SlaPoint { period_end_ms: 1_700_000_000_000 + i as i64 * hour, actual })
//!     .collect();
//! // p95 must stay at or below 500 ms: the second hour breaks the target, the third has no data.
//! let svg = sla_trend_chart("Checkout p95", "p95 duration (ms)", 500.0, false, &points);
//! assert!(svg.starts_with("<svg"));
//! assert!(svg.contains("target"));
//! assert!(svg.contains("Checkout p95"));
//! ```

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::ops::Range;
use std::panic::{self, AssertUnwindSafe};

use chrono::DateTime;
use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One line/series over time: bucket start (epoch ms, UTC) -> value.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeSeries {
    /// The outcome ("started", "completed", …); it names the line in the legend and picks its colour.
    pub label: String,
    /// `(bucket start in epoch ms, value)`, in any order.
    pub points: Vec<(i64, f64)>,
}

/// Duration percentiles of one step, in milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct StepPercentiles {
    /// The step's name, shown under its bars.
    pub step: String,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

/// An SLA target's value for one period; `actual` is `None` when the period had no data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SlaPoint {
    /// End of the period, epoch ms (UTC).
    pub period_end_ms: i64,
    /// The measured value, in the chart's unit.
    pub actual: Option<f64>,
}

const WIDTH: u32 = 800;
const HEIGHT: u32 = 320;

const NO_DATA: &str = "No data in this period";
const UNAVAILABLE: &str = "Chart unavailable";

const FONT: &str = "sans-serif";
// plotters sizes are in its own unit: the SVG gets `font-size = size / 1.24`.
const TITLE_SIZE: f64 = 20.0;
const TEXT_SIZE: f64 = 14.0;
const MESSAGE_SIZE: f64 = 18.0;

const TEXT: RGBColor = RGBColor(33, 37, 41);
const MUTED: RGBColor = RGBColor(108, 117, 125);
const GRID: RGBColor = RGBColor(228, 231, 235);
const AXIS: RGBColor = RGBColor(150, 156, 164);

const STARTED: RGBColor = RGBColor(76, 120, 168);
const COMPLETED: RGBColor = RGBColor(44, 160, 44);
const FAILED: RGBColor = RGBColor(214, 39, 40);
const COMPENSATED: RGBColor = RGBColor(230, 145, 0);
const CANCELLED: RGBColor = RGBColor(140, 140, 140);
/// For outcomes without a colour of their own, in order of appearance.
const FALLBACK_PALETTE: [RGBColor; 5] = [
    RGBColor(148, 103, 189),
    RGBColor(23, 190, 207),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(188, 189, 34),
];

/// p50, p95, p99: one hue, darker for the slower percentile, so the three read as one family.
const PERCENTILE_COLORS: [RGBColor; 3] = [RGBColor(158, 202, 225), RGBColor(66, 146, 198), RGBColor(8, 81, 156)];

const MET: RGBColor = COMPLETED;
const MISSED: RGBColor = FAILED;
const TARGET: RGBColor = FAILED;
const NEUTRAL_POINT: RGBColor = STARTED;

// Layout, in pixels.
const MARGIN: i32 = 12;
const TITLE_TOP: i32 = 10;
/// Height of the header without a legend: the title line.
const HEADER_BASE: u32 = 36;
const LEGEND_ROW: i32 = 20;
const MAX_LEGEND_ROWS: i32 = 3;
const SWATCH_WIDTH: i32 = 22;
const LEGEND_GAP: i32 = 18;
const PLOT_MARGIN_TOP: u32 = 8;
const PLOT_MARGIN_RIGHT: u32 = 24;
const PLOT_MARGIN_BOTTOM: u32 = 6;
const X_LABEL_AREA: u32 = 44;
const X_LABEL_AREA_ROTATED: u32 = 112;
const Y_LABEL_AREA: u32 = 72;
const PLOT_WIDTH: i32 = WIDTH as i32 - MARGIN - Y_LABEL_AREA as i32 - PLOT_MARGIN_RIGHT as i32;
/// Horizontal space one tick label character takes at `TEXT_SIZE`, slightly generous so that estimated
/// labels never touch (plotters' own estimate for SVG is just as crude: it cannot measure the browser's font).
const CHAR_WIDTH: f64 = 6.6;
const TITLE_CHAR_WIDTH: f64 = 9.4;

const X_TICKS: usize = 10;
const Y_TICKS: usize = 6;

/// Values beyond this are clamped: nothing we chart gets near it, and it keeps axis ranges and tick
/// arithmetic far from overflow.
const MAX_VALUE: f64 = 1e12;
/// 9999-12-31T23:59:59.999Z: timestamps are clamped to years 0000..=9999, which chrono formats and whose
/// differences cannot overflow an `i64`.
const MAX_MS: i64 = 253_402_300_799_999;
const MIN_MS: i64 = -62_167_219_200_000;
/// Filling absent buckets with zeros stops here; a range this fine is drawn from the points as given.
const MAX_FILLED_BUCKETS: i64 = 20_000;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;
/// Ranges up to this long are ticked with times of day, longer ones with dates.
const TIME_OF_DAY_SPAN_MS: i64 = 48 * HOUR_MS;

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type DrawResult<T = ()> = Result<T, Box<dyn StdError>>;

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

// ---------------------------------------------------------------------------------------------------------
// Drawing

fn draw_throughput(root: &Area<'_>, title: &str, from: i64, to: i64, bucket_ms: i64, lines: &[Line]) -> DrawResult {
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

fn draw_step_durations(
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

fn draw_sla(
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

/// Draws the light grid, the axes, their tick labels and their descriptions.
fn draw_grid<X>(
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

enum Swatch {
    Line(RGBColor),
    Block(RGBColor),
    Dot(RGBColor),
}

struct LegendEntry {
    label: String,
    swatch: Swatch,
}

/// Draws the title and, below it, the legend (wrapped over up to `MAX_LEGEND_ROWS` rows, so it never
/// covers the data); returns the header's height, where the plot starts.
fn draw_header(root: &Area<'_>, title: &str, legend: &[LegendEntry]) -> DrawResult<u32> {
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

fn draw_title(root: &Area<'_>, title: &str) -> DrawResult {
    let max_chars = ((WIDTH as i32 - 2 * MARGIN) as f64 / TITLE_CHAR_WIDTH) as usize;
    let mut style = TextStyle::from((FONT, TITLE_SIZE, FontStyle::Bold).into_font());
    style.color = TEXT.to_backend_color();
    root.draw_text(&fit_text(title, max_chars), &style.pos(Pos::new(HPos::Left, VPos::Top)), (MARGIN, TITLE_TOP))?;
    Ok(())
}

/// Where the legend entries go: `(x, row)` for each entry shown, in order, and, when they do not all fit
/// in `MAX_LEGEND_ROWS` rows, a "+N more" note in place of the last ones, so the plot keeps its height.
struct LegendLayout {
    places: Vec<(i32, i32)>,
    more: Option<(String, (i32, i32))>,
}

fn layout_legend(labels: &[String], width: i32) -> LegendLayout {
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
fn place_legend_entries(labels: &[String], width: i32) -> Vec<(i32, i32)> {
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

fn text_style(size: f64, color: RGBColor) -> TextStyle<'static> {
    // Set directly: `TextStyle::color` wants a reference that outlives the style.
    let mut style = TextStyle::from((FONT, size).into_font());
    style.color = color.to_backend_color();
    style
}

// ---------------------------------------------------------------------------------------------------------
// Rendering and fallbacks

/// Draws a chart into a fresh SVG; any plotters error (or panic inside plotters) gives the "Chart
/// unavailable" placeholder instead, because a broken chart must not break the page around it.
fn render(title: &str, draw: impl FnOnce(&Area<'_>) -> DrawResult) -> String {
    try_render(draw).unwrap_or_else(|| message_svg(title, UNAVAILABLE))
}

/// An SVG with only the title and a message in the middle.
fn message_svg(title: &str, message: &str) -> String {
    let drawn = try_render(|root| {
        draw_title(root, title)?;
        let style = text_style(MESSAGE_SIZE, MUTED).pos(Pos::new(HPos::Center, VPos::Center));
        root.draw_text(message, &style, (WIDTH as i32 / 2, HEIGHT as i32 / 2))?;
        Ok(())
    });
    drawn.unwrap_or_else(|| plain_message_svg(message))
}

/// The last resort, written by hand. Only our constant messages get here, so it needs no escaping.
fn plain_message_svg(message: &str) -> String {
    format!(
        "<svg width=\"{WIDTH}\" height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" \
         xmlns=\"http://www.w3.org/2000/svg\">\n<rect width=\"{WIDTH}\" height=\"{HEIGHT}\" fill=\"#FFFFFF\"/>\n\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-family=\"{FONT}\" font-size=\"14\" \
         fill=\"#6C757D\">{message}</text>\n</svg>\n",
        WIDTH / 2,
        HEIGHT / 2
    )
}

fn try_render(draw: impl FnOnce(&Area<'_>) -> DrawResult) -> Option<String> {
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

// ---------------------------------------------------------------------------------------------------------
// Data preparation

/// One series of the throughput chart, ready to draw.
struct Line {
    label: String,
    color: RGBColor,
    points: Vec<(i64, f64)>,
}

/// The series to draw, with their colours, or `None` when no series has a point to draw.
fn prepare_throughput(from: i64, to: i64, bucket_ms: i64, series: &[TimeSeries]) -> Option<Vec<Line>> {
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

fn outcome_color(label: &str) -> Option<RGBColor> {
    match label.trim().to_ascii_lowercase().as_str() {
        "started" => Some(STARTED),
        "completed" => Some(COMPLETED),
        "failed" => Some(FAILED),
        "compensated" => Some(COMPENSATED),
        "cancelled" | "canceled" => Some(CANCELLED),
        _ => None,
    }
}

fn breaks_target(value: f64, threshold: f64, higher_is_better: bool) -> bool {
    if higher_is_better {
        value < threshold
    } else {
        value > threshold
    }
}

fn per_bucket_label(bucket_ms: i64) -> String {
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

/// A finite value clamped to `0..=MAX_VALUE`; `None` for NaN and infinities.
fn clean_value(v: f64) -> Option<f64> {
    v.is_finite().then(|| v.clamp(0.0, MAX_VALUE))
}

fn clamp_ms(ms: i64) -> i64 {
    ms.clamp(MIN_MS, MAX_MS)
}

/// A non-empty, ordered, clamped time range; swapped bounds are taken as meant the other way round.
fn time_range(from_ms: i64, to_ms: i64) -> (i64, i64) {
    let (from, to) = (clamp_ms(from_ms.min(to_ms)), clamp_ms(from_ms.max(to_ms)));
    if from < to {
        (from, to)
    } else if to + MINUTE_MS <= MAX_MS {
        (from, to + MINUTE_MS)
    } else {
        (from - MINUTE_MS, to)
    }
}

/// The x range of the SLA chart: the periods plus half the smallest gap between them on either side, so
/// the first and last markers are not cut in half by the plot's edge.
fn sla_time_range(periods: &[(i64, Option<f64>)]) -> (i64, i64) {
    let first = periods.first().map_or(0, |&(t, _)| t);
    let last = periods.last().map_or(0, |&(t, _)| t);
    let gap = periods.windows(2).map(|w| w[1].0 - w[0].0).filter(|&g| g > 0).min().unwrap_or(HOUR_MS);
    let pad = (gap / 2).max(1);
    time_range(first.saturating_sub(pad), last.saturating_add(pad))
}

/// The top of a y axis that starts at 0: a round number with about 10 % headroom above `max`, and 1 when
/// there is nothing above 0, so the range is never empty.
fn y_axis_max(max: f64) -> f64 {
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
fn format_number(v: f64) -> String {
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

/// How the step names fit under the bars: shortened to `max_chars`, written upright when there is room
/// for a readable name, else rotated, and only every `every`-th one when even rotated names would touch.
struct StepLabels {
    max_chars: usize,
    rotated: bool,
    every: usize,
}

fn step_labels(steps: usize) -> StepLabels {
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

/// User text made safe and short for a label: control characters become spaces (XML forbids most of
/// them), and a text longer than `max_chars` ends in an ellipsis.
fn fit_text(text: &str, max_chars: usize) -> String {
    let clean: String = text.trim().chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if clean.chars().count() <= max_chars {
        return clean;
    }
    let mut short: String = clean.chars().take(max_chars.saturating_sub(1)).collect();
    short.truncate(short.trim_end().len());
    short.push('…');
    short
}

// ---------------------------------------------------------------------------------------------------------
// The time axis

/// An x axis over epoch milliseconds (UTC) whose ticks fall on round times (whole minutes, hours, days)
/// rather than on the round millisecond counts plotters would pick for a plain integer range.
struct TimeAxis {
    from: i64,
    to: i64,
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
fn time_ticks(from: i64, to: i64, max: usize) -> Vec<i64> {
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
fn format_tick(ms: i64, span_ms: i64) -> String {
    format_time(ms, if span_ms <= TIME_OF_DAY_SPAN_MS { "%H:%M" } else { "%m-%d" })
}

fn format_time(ms: i64, pattern: &str) -> String {
    DateTime::from_timestamp_millis(ms).map(|t| t.format(pattern).to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// 2023-11-14T22:00:00Z.
    const T0: i64 = 1_700_000_000_000 - 1_700_000_000_000 % HOUR_MS;

    /// The text of every `<text>` element, unescaped.
    fn texts(svg: &str) -> Vec<String> {
        svg.split("<text")
            .skip(1)
            .filter_map(|rest| {
                let body = &rest[rest.find('>')? + 1..];
                let body = &body[..body.find("</text>")?];
                Some(
                    body.trim()
                        .replace("&lt;", "<")
                        .replace("&gt;", ">")
                        .replace("&quot;", "\"")
                        .replace("&apos;", "'")
                        .replace("&amp;", "&"),
                )
            })
            .collect()
    }

    fn has_text(svg: &str, wanted: &str) -> bool {
        texts(svg).iter().any(|t| t == wanted)
    }

    /// A complete document whose every `<text` is closed.
    fn assert_well_formed(svg: &str) {
        assert!(svg.starts_with("<svg"), "does not start with <svg: {}", &svg[..svg.len().min(80)]);
        assert!(svg.trim_end().ends_with("</svg>"), "not closed");
        let opened = svg.matches("<text").count();
        assert!(opened > 0, "no text at all");
        assert_eq!(opened, svg.matches("</text>").count(), "unbalanced <text> tags");
        assert_eq!(texts(svg).len(), opened);
    }

    fn assert_chart(svg: &str) {
        assert_well_formed(svg);
        assert!(!has_text(svg, NO_DATA), "drew the no-data message");
        assert!(!has_text(svg, UNAVAILABLE), "drew the unavailable message");
    }

    fn series(label: &str, points: &[(i64, f64)]) -> TimeSeries {
        TimeSeries { label: label.to_string(), points: points.to_vec() }
    }

    fn minute_series(label: &str, values: &[f64]) -> TimeSeries {
        let points: Vec<(i64, f64)> = values.iter().enumerate().map(|(i, &v)| (T0 + i as i64 * MINUTE_MS, v)).collect();
        series(label, &points)
    }

    fn step(name: &str, p50: f64, p95: f64, p99: f64) -> StepPercentiles {
        StepPercentiles { step: name.to_string(), p50_ms: p50, p95_ms: p95, p99_ms: p99 }
    }

    fn hourly(values: &[Option<f64>]) -> Vec<SlaPoint> {
        values
            .iter()
            .enumerate()
            .map(|(i, &actual)| SlaPoint { period_end_ms: T0 + (i as i64 + 1) * HOUR_MS, actual })
            .collect()
    }

    /// `fill="#RRGGBB"` as the SVG backend writes a filled shape.
    fn fill_of(color: RGBColor) -> String {
        format!("fill=\"#{:02X}{:02X}{:02X}\"", color.0, color.1, color.2)
    }

    /// Filled circles (markers and legend dots) of one colour.
    fn dots_of(svg: &str, color: RGBColor) -> usize {
        svg.split('<').filter(|tag| tag.starts_with("circle") && tag.contains(&fill_of(color))).count()
    }

    fn stroke_of(color: RGBColor) -> String {
        format!("stroke=\"#{:02X}{:02X}{:02X}\"", color.0, color.1, color.2)
    }

    #[test]
    fn throughput_chart_has_title_axes_and_a_legend_entry_per_series() {
        let svg = throughput_chart(
            "Orders <last hour>",
            T0,
            T0 + HOUR_MS,
            MINUTE_MS,
            &[
                minute_series("started", &[3.0, 5.0, 4.0, 6.0]),
                minute_series("completed", &[2.0, 4.0, 4.0, 5.0]),
                minute_series("failed", &[1.0, 0.0, 0.0, 1.0]),
                minute_series("compensated", &[0.0, 1.0]),
                minute_series("cancelled", &[0.0, 0.0, 1.0]),
                minute_series("escalated", &[1.0]),
            ],
        );
        assert_chart(&svg);
        for wanted in [
            "Orders <last hour>",
            "time (UTC)",
            "instances per minute",
            "started",
            "completed",
            "failed",
            "compensated",
            "cancelled",
            "escalated",
        ] {
            assert!(has_text(&svg, wanted), "missing {wanted:?} in {:?}", texts(&svg));
        }
        for color in [STARTED, COMPLETED, FAILED, COMPENSATED, CANCELLED, FALLBACK_PALETTE[0]] {
            assert!(svg.contains(&stroke_of(color)), "no line in {color:?}");
        }
    }

    #[test]
    fn outcome_colours_are_fixed_and_unknown_outcomes_share_the_fallback_palette() {
        assert_eq!(outcome_color("completed"), Some(COMPLETED));
        assert_eq!(outcome_color(" Failed "), Some(FAILED));
        assert_eq!(outcome_color("compensated"), Some(COMPENSATED));
        assert_eq!(outcome_color("mystery"), None);
        let lines = prepare_throughput(
            T0,
            T0 + HOUR_MS,
            MINUTE_MS,
            &[minute_series("a", &[1.0]), minute_series("failed", &[1.0]), minute_series("b", &[1.0])],
        )
        .unwrap_or_default();
        let colors: Vec<RGBColor> = lines.iter().map(|line| line.color).collect();
        assert_eq!(colors, vec![FALLBACK_PALETTE[0], FAILED, FALLBACK_PALETTE[1]]);
    }

    #[test]
    fn the_y_axis_names_the_bucket_width() {
        assert_eq!(per_bucket_label(MINUTE_MS), "instances per minute");
        assert_eq!(per_bucket_label(HOUR_MS), "instances per hour");
        assert_eq!(per_bucket_label(DAY_MS), "instances per day");
        assert_eq!(per_bucket_label(5 * MINUTE_MS), "instances per 5 minutes");
        assert_eq!(per_bucket_label(0), "instances per bucket");
        let svg = throughput_chart("Daily", T0, T0 + 30 * DAY_MS, DAY_MS, &[series("started", &[(T0, 40.0)])]);
        assert!(has_text(&svg, "instances per day"), "{:?}", texts(&svg));
    }

    #[test]
    fn missing_buckets_are_zero_and_points_outside_the_range_are_dropped() {
        let lines = prepare_throughput(
            T0,
            T0 + 5 * MINUTE_MS,
            MINUTE_MS,
            &[series("started", &[(T0 + MINUTE_MS, 4.0), (T0 + 3 * MINUTE_MS, 2.0), (T0 + 5 * MINUTE_MS, 9.0)])],
        )
        .unwrap_or_default();
        let points = &lines[0].points;
        let expected: Vec<(i64, f64)> =
            [0.0, 4.0, 0.0, 2.0, 0.0].iter().enumerate().map(|(i, &v)| (T0 + i as i64 * MINUTE_MS, v)).collect();
        assert_eq!(points, &expected);
    }

    #[test]
    fn time_ticks_are_hours_and_minutes_for_an_hour_and_dates_for_a_month() {
        let hour = throughput_chart("Last hour", T0, T0 + HOUR_MS, MINUTE_MS, &[minute_series("started", &[1.0, 2.0])]);
        let hour_ticks: Vec<String> = texts(&hour).into_iter().filter(|t| t.contains(':')).collect();
        // T0 is 22:00 UTC; the range gets ticks every 10 minutes, from 22:00 to 23:00.
        assert_eq!(hour_ticks, ["22:00", "22:10", "22:20", "22:30", "22:40", "22:50", "23:00"]);

        let month = throughput_chart("Last 30 days", T0, T0 + 30 * DAY_MS, DAY_MS, &[series("started", &[(T0, 1.0)])]);
        let month_ticks: Vec<String> = texts(&month)
            .into_iter()
            .filter(|t| t.len() == 5 && t.as_bytes()[2] == b'-' && t.bytes().filter(u8::is_ascii_digit).count() == 4)
            .collect();
        assert!(month_ticks.len() >= 3, "too few date ticks: {:?}", texts(&month));
        assert!(month_ticks.iter().all(|t| t.starts_with("11-") || t.starts_with("12-")), "{month_ticks:?}");
        assert!(!texts(&month).iter().any(|t| t.len() == 5 && t.as_bytes()[2] == b':'), "time of day on a month");

        assert_eq!(format_tick(T0, HOUR_MS), "22:00");
        assert_eq!(format_tick(T0, 48 * HOUR_MS), "22:00");
        assert_eq!(format_tick(T0, 30 * DAY_MS), "11-14");
    }

    #[test]
    fn time_ticks_fall_on_round_utc_times() {
        let ticks = time_ticks(T0 + 7 * MINUTE_MS, T0 + 2 * HOUR_MS, 10);
        assert!(ticks.iter().all(|t| t % (15 * MINUTE_MS) == 0), "{ticks:?}");
        assert!(ticks.len() <= 10 && ticks.len() >= 5, "{ticks:?}");
        let days = time_ticks(T0, T0 + 30 * DAY_MS, 10);
        assert!(days.iter().all(|t| t % DAY_MS == 0), "{days:?}");
        assert!(time_ticks(T0, T0, 10).is_empty());
        assert!(time_ticks(T0, T0 + HOUR_MS, 0).is_empty());
        // Centuries fall back to whole days and still respect the limit.
        assert!(time_ticks(MIN_MS, MAX_MS, 10).len() <= 10);
    }

    #[test]
    fn step_duration_chart_labels_steps_percentiles_and_the_unit() {
        let svg = step_duration_chart(
            "Checkout steps",
            &[
                step("reserve", 120.0, 480.0, 900.0),
                step("charge", 300.0, 1_200.0, 2_500.0),
                step("ship", 50.0, 80.0, 95.0),
            ],
        );
        assert_chart(&svg);
        for wanted in ["Checkout steps", "step", "duration (ms)", "p50", "p95", "p99", "reserve", "charge", "ship"] {
            assert!(has_text(&svg, wanted), "missing {wanted:?} in {:?}", texts(&svg));
        }
        for color in PERCENTILE_COLORS {
            assert!(svg.contains(&fill_of(color)), "no bar in {color:?}");
        }
    }

    #[test]
    fn long_durations_switch_the_axis_to_seconds() {
        let svg = step_duration_chart("Slow", &[step("wait for approval", 4_000.0, 9_000.0, 10_000.0)]);
        assert_chart(&svg);
        assert!(has_text(&svg, "duration (s)"), "{:?}", texts(&svg));
        assert!(!has_text(&svg, "duration (ms)"));
        let svg = step_duration_chart("Fast", &[step("a", 4_000.0, 9_000.0, 9_999.0)]);
        assert!(has_text(&svg, "duration (ms)"));
    }

    #[test]
    fn long_step_names_are_shortened_and_many_steps_are_rotated() {
        let long = "validate-the-customer-address-against-the-postal-registry";
        let svg = step_duration_chart("Few", &[step(long, 1.0, 2.0, 3.0), step("b", 1.0, 2.0, 3.0)]);
        let shortened: Vec<String> = texts(&svg).into_iter().filter(|t| t.starts_with("validate")).collect();
        assert_eq!(shortened.len(), 1, "{:?}", texts(&svg));
        assert!(shortened[0].ends_with('…') && shortened[0].chars().count() < long.len(), "{shortened:?}");
        // Only the y axis description is rotated.
        assert_eq!(svg.matches("rotate(").count(), 1, "few steps should stay upright");

        let steps: Vec<StepPercentiles> = (0..30).map(|i| step(&format!("{long}-{i}"), 1.0, 2.0, 3.0)).collect();
        let svg = step_duration_chart("Many", &steps);
        assert_chart(&svg);
        assert!(svg.matches("rotate(270").count() > 10, "many steps should be rotated");
        let names = texts(&svg).into_iter().filter(|t| t.starts_with("valid")).count();
        assert!((10..=30).contains(&names), "{names} step names");

        let steps: Vec<StepPercentiles> = (0..200).map(|i| step(&format!("s{i}"), 1.0, 2.0, 3.0)).collect();
        let svg = step_duration_chart("Very many", &steps);
        assert_chart(&svg);
        let names = texts(&svg).into_iter().filter(|t| t.starts_with('s') && t[1..].parse::<u32>().is_ok()).count();
        assert!(names < 60, "{names} step names cannot fit");
    }

    #[test]
    fn sla_chart_draws_the_target_and_colours_points_by_the_side_that_breaks_it() {
        let points = hourly(&[Some(420.0), Some(515.0), None, Some(380.0)]);
        let svg = sla_trend_chart("Checkout p95", "p95 duration (ms)", 500.0, false, &points);
        assert_chart(&svg);
        for wanted in ["Checkout p95", "p95 duration (ms)", "period end (UTC)", "target", "met target", "missed target"]
        {
            assert!(has_text(&svg, wanted), "missing {wanted:?} in {:?}", texts(&svg));
        }
        // The legend has one dot of each colour; the markers add 2 green and 1 red.
        assert_eq!(dots_of(&svg, MET), 1 + 2);
        assert_eq!(dots_of(&svg, MISSED), 1 + 1);
        assert!(svg.contains(&stroke_of(TARGET)), "no red target line");

        // The same values as a rate that must stay above 500: now three break it.
        let svg = sla_trend_chart("Rate", "completion rate (%)", 500.0, true, &points);
        assert_eq!(dots_of(&svg, MET), 1 + 1);
        assert_eq!(dots_of(&svg, MISSED), 1 + 2);

        assert!(breaks_target(99.0, 99.5, true));
        assert!(!breaks_target(99.5, 99.5, true));
        assert!(breaks_target(501.0, 500.0, false));
        assert!(!breaks_target(500.0, 500.0, false));
    }

    #[test]
    fn sla_ticks_follow_the_span_of_the_periods() {
        let daily: Vec<SlaPoint> =
            (0..14).map(|i| SlaPoint { period_end_ms: T0 + i * DAY_MS, actual: Some(90.0 + i as f64 / 2.0) }).collect();
        let svg = sla_trend_chart("Completion", "completion rate (%)", 95.0, true, &daily);
        assert_chart(&svg);
        assert!(texts(&svg).iter().any(|t| t.starts_with("11-") && t.len() == 5), "{:?}", texts(&svg));
        let svg = sla_trend_chart("One", "p95 duration (ms)", 500.0, false, &hourly(&[Some(100.0)]));
        assert_chart(&svg);
        assert!(texts(&svg).iter().any(|t| t.len() == 5 && t.as_bytes()[2] == b':'), "{:?}", texts(&svg));
    }

    #[test]
    fn empty_inputs_say_there_is_no_data() {
        let no_data = |svg: String| {
            assert_well_formed(&svg);
            assert!(has_text(&svg, NO_DATA), "{:?}", texts(&svg));
            assert!(has_text(&svg, "Empty"), "the title stays: {:?}", texts(&svg));
        };
        no_data(throughput_chart("Empty", T0, T0 + HOUR_MS, MINUTE_MS, &[]));
        no_data(throughput_chart("Empty", T0, T0 + HOUR_MS, MINUTE_MS, &[series("started", &[])]));
        no_data(throughput_chart(
            "Empty",
            T0,
            T0 + HOUR_MS,
            MINUTE_MS,
            &[series("started", &[(T0 - DAY_MS, 5.0), (T0 + 1, f64::NAN)])],
        ));
        no_data(step_duration_chart("Empty", &[]));
        no_data(step_duration_chart("Empty", &[step("a", f64::NAN, f64::INFINITY, f64::NAN)]));
        no_data(sla_trend_chart("Empty", "p95 duration (ms)", 500.0, false, &[]));
        no_data(sla_trend_chart("Empty", "p95 duration (ms)", 500.0, false, &hourly(&[None, Some(f64::NAN)])));
    }

    #[test]
    fn the_fallbacks_are_complete_documents() {
        let svg = message_svg("Broken", UNAVAILABLE);
        assert_well_formed(&svg);
        assert!(has_text(&svg, UNAVAILABLE) && has_text(&svg, "Broken"), "{:?}", texts(&svg));
        let svg = plain_message_svg(UNAVAILABLE);
        assert_well_formed(&svg);
        assert_eq!(texts(&svg), [UNAVAILABLE]);
        // A drawing error turns into the placeholder rather than a half-written document.
        let svg = render("Failing", |_| Err("boom".into()));
        assert!(has_text(&svg, UNAVAILABLE) && has_text(&svg, "Failing"), "{:?}", texts(&svg));
        // So does a panic inside the drawing (the test output shows its message; that is expected).
        let svg = render("Panicking", |_| panic!("a plotters bug"));
        assert!(has_text(&svg, UNAVAILABLE) && has_text(&svg, "Panicking"), "{:?}", texts(&svg));
    }

    #[test]
    fn all_zero_values_still_draw_a_chart() {
        let svg = throughput_chart("Quiet", T0, T0 + HOUR_MS, MINUTE_MS, &[minute_series("failed", &[0.0, 0.0])]);
        assert_chart(&svg);
        assert!(has_text(&svg, "1"), "y axis should run to 1: {:?}", texts(&svg));
        assert_chart(&step_duration_chart("Instant", &[step("noop", 0.0, 0.0, 0.0)]));
        assert_chart(&sla_trend_chart("Zero", "errors", 0.0, false, &hourly(&[Some(0.0), Some(0.0)])));
    }

    #[test]
    fn nan_negative_and_huge_values_do_not_break_the_charts() {
        let svg = throughput_chart(
            "Odd",
            i64::MAX,
            i64::MIN,
            -5,
            &[
                series("started", &[(T0, f64::NAN), (T0 + MINUTE_MS, -3.0), (T0 + 2 * MINUTE_MS, f64::MAX)]),
                series("", &[(i64::MIN, 1.0), (T0, f64::NEG_INFINITY)]),
                series("\u{0}\u{7}<&>", &[(T0, 1.0)]),
            ],
        );
        assert_chart(&svg);
        let svg = throughput_chart("Reversed", T0 + HOUR_MS, T0, MINUTE_MS, &[minute_series("started", &[1.0])]);
        assert_chart(&svg);
        let svg = throughput_chart("Same", T0, T0, MINUTE_MS, &[series("started", &[(T0, 1.0)])]);
        assert_chart(&svg);

        let svg = step_duration_chart("Odd", &[step("a", f64::NAN, -1.0, 1e300), step("", -0.0, f64::MIN, 5.0)]);
        assert_chart(&svg);
        assert!(has_text(&svg, "duration (s)"));

        let odd = [
            SlaPoint { period_end_ms: i64::MIN, actual: Some(-5.0) },
            SlaPoint { period_end_ms: i64::MAX, actual: Some(f64::INFINITY) },
            SlaPoint { period_end_ms: T0, actual: Some(1e308) },
        ];
        assert_chart(&sla_trend_chart("Odd", "", f64::NAN, true, &odd));
        assert_chart(&sla_trend_chart("Odd", "x", -10.0, false, &odd));
        assert_chart(&sla_trend_chart("Odd", "x", f64::INFINITY, false, &hourly(&[Some(1.0)])));
        let same_time =
            [SlaPoint { period_end_ms: T0, actual: Some(1.0) }, SlaPoint { period_end_ms: T0, actual: None }];
        assert_chart(&sla_trend_chart("Same time", "x", 1.0, false, &same_time));
    }

    #[test]
    fn labels_are_shortened_with_an_ellipsis_and_cleaned() {
        assert_eq!(fit_text("short", 10), "short");
        assert_eq!(fit_text("exactly-10", 10), "exactly-10");
        assert_eq!(fit_text("a much longer name", 10), "a much lo…");
        assert_eq!(fit_text("a much longer name", 8), "a much…");
        assert_eq!(fit_text("line\nbreak", 20), "line break");
        assert_eq!(fit_text("anything", 0), "…");
        let long_title = "x".repeat(500);
        let svg = throughput_chart(&long_title, T0, T0 + HOUR_MS, MINUTE_MS, &[minute_series("started", &[1.0])]);
        assert!(texts(&svg).iter().any(|t| t.starts_with("xxx") && t.ends_with('…') && t.len() < 200));
    }

    #[test]
    fn axis_numbers_are_compact_and_the_y_axis_has_headroom() {
        assert_eq!(format_number(0.0), "0");
        assert_eq!(format_number(2.5), "2.5");
        assert_eq!(format_number(1.0 / 3.0), "0.33");
        assert_eq!(format_number(2_000.0), "2000");
        assert_eq!(format_number(25_000.0), "25k");
        assert_eq!(format_number(1_500_000.0), "1.5M");
        assert_eq!(format_number(3e9), "3G");
        assert_eq!(y_axis_max(0.0), 1.0);
        assert_eq!(y_axis_max(f64::NAN), 1.0);
        assert_eq!(y_axis_max(9.0), 10.0);
        assert_eq!(y_axis_max(100.0), 120.0);
        assert!(y_axis_max(MAX_VALUE) >= MAX_VALUE * 1.1);
    }

    #[test]
    fn the_legend_wraps_instead_of_running_off_the_chart() {
        let labels: Vec<String> = (0..10).map(|i| format!("outcome number {i}")).collect();
        let layout = layout_legend(&labels, 600);
        let places = &layout.places;
        assert_eq!(places.len(), 10);
        assert!(layout.more.is_none());
        assert!(places.iter().any(|&(_, row)| row > 0), "{places:?}");
        for (&(x, _), label) in places.iter().zip(&labels) {
            assert!(x + SWATCH_WIDTH + 6 + (label.len() as f64 * CHAR_WIDTH) as i32 <= 600, "{places:?}");
        }
        let two = layout_legend(&["a".to_string(), "b".to_string()], 600);
        assert_eq!(two.places, vec![(0, 0), (SWATCH_WIDTH + 6 + 7 + LEGEND_GAP, 0)]);

        // Too many for the rows: the rest is summed up, and the whole still fits.
        let labels: Vec<String> = (0..500).map(|i| format!("outcome number {i}")).collect();
        let layout = layout_legend(&labels, 600);
        let Some((more, (_, more_row))) = layout.more else { panic!("no +N more note") };
        assert_eq!(more, format!("+{} more", 500 - layout.places.len()));
        assert!(more_row < MAX_LEGEND_ROWS && layout.places.iter().all(|&(_, row)| row < MAX_LEGEND_ROWS));
        let series: Vec<TimeSeries> = labels.iter().map(|l| minute_series(l, &[1.0])).collect();
        let svg = throughput_chart("Crowded", T0, T0 + HOUR_MS, MINUTE_MS, &series);
        assert_chart(&svg);
        assert!(has_text(&svg, &more), "{:?}", texts(&svg));
    }

    fn any_f64() -> impl Strategy<Value = f64> {
        prop_oneof![
            3 => 0.0..1e6f64,
            1 => prop::num::f64::ANY,
            1 => Just(f64::NAN),
            1 => -1e6..0.0f64,
        ]
    }

    fn any_ms() -> impl Strategy<Value = i64> {
        prop_oneof![4 => T0..T0 + 40 * DAY_MS, 1 => any::<i64>()]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn any_input_gives_a_complete_svg(
            from in any_ms(),
            to in any_ms(),
            bucket in prop_oneof![Just(MINUTE_MS), Just(HOUR_MS), Just(DAY_MS), any::<i64>()],
            points in prop::collection::vec((any_ms(), any_f64()), 0..40),
            percentiles in prop::collection::vec((".{0,40}", any_f64(), any_f64(), any_f64()), 0..25),
            threshold in any_f64(),
            higher in any::<bool>(),
            sla in prop::collection::vec((any_ms(), prop::option::of(any_f64())), 0..30),
        ) {
            let series = [series("started", &points), series("other", &points[points.len() / 2..])];
            let svg = throughput_chart("t", from, to, bucket, &series);
            assert_well_formed(&svg);
            prop_assert!(!has_text(&svg, UNAVAILABLE));

            let steps: Vec<StepPercentiles> =
                percentiles.iter().map(|(name, a, b, c)| step(name, *a, *b, *c)).collect();
            let svg = step_duration_chart("s", &steps);
            assert_well_formed(&svg);
            prop_assert!(!has_text(&svg, UNAVAILABLE));

            let sla: Vec<SlaPoint> = sla.iter().map(|&(t, v)| SlaPoint { period_end_ms: t, actual: v }).collect();
            let svg = sla_trend_chart("l", "u", threshold, higher, &sla);
            assert_well_formed(&svg);
            prop_assert!(!has_text(&svg, UNAVAILABLE));
        }
    }
}
