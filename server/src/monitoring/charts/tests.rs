//! The charts' tests: each chart's content and labels, its axes and legend, and the fallbacks; a
//! property test feeds every chart arbitrary input and expects a complete SVG.

use plotters::prelude::*;
use proptest::prelude::*;

use super::axis::*;
use super::canvas::*;
use super::legend::*;
use super::sla::*;
use super::steps::*;
use super::throughput::*;

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
    for wanted in ["Checkout p95", "p95 duration (ms)", "period end (UTC)", "target", "met target", "missed target"] {
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
    let same_time = [SlaPoint { period_end_ms: T0, actual: Some(1.0) }, SlaPoint { period_end_ms: T0, actual: None }];
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
