//! Charts and the period they cover, shared by the analysis pages (overview, SLA, bottlenecks).
//!
//! The charts are SVG documents the server draws (`/api/charts/…`, see docs/api.md); [`ChartImage`]
//! embeds one as an `<img>` with its size reserved, so it shows without JavaScript and a refreshed chart
//! replaces the old one without moving anything. [`PeriodPicker`] is a row of plain links that put the
//! period into the page's URL (`/sla?period=7d`), so a view can be shared and works without JavaScript.
//!
//! ```text
//! view! {
//!     <PeriodPicker current=period href=Callback::new(|p: &'static str| format!("/sla?period={p}")) />
//!     <ChartImage src="/api/charts/throughput.svg?period=2h" alt="Throughput of the last 2 hours" />
//! }
//! ```

use leptos::prelude::*;

use crate::wire::Heartbeat;

/// The periods the analysis pages offer: (value for the API and the URL, short label, long label).
pub const PERIODS: [(&str, &str, &str); 4] = [
    ("1h", "1 h", "the last hour"),
    ("24h", "24 h", "the last 24 hours"),
    ("7d", "7 d", "the last 7 days"),
    ("30d", "30 d", "the last 30 days"),
];

/// The period a page shows when its URL names none.
pub const DEFAULT_PERIOD: &str = "24h";

/// A period in words for sentences: `24h` → "the last 24 hours"; other values as `the last 90m`.
pub fn period_words(period: &str) -> String {
    PERIODS
        .iter()
        .find(|(value, _, _)| *value == period)
        .map(|(_, _, long)| long.to_string())
        .unwrap_or_else(|| format!("the last {period}"))
}

/// A period's length in milliseconds: `24h` → 86 400 000; `None` for what is not a period.
pub fn period_ms(period: &str) -> Option<i64> {
    let unit = match period.chars().last()? {
        'm' => 60_000,
        'h' => 3_600_000,
        'd' => 86_400_000,
        _ => return None,
    };
    let number: i64 = period.get(..period.len() - 1)?.parse().ok()?;
    number.checked_mul(unit).filter(|_| number > 0)
}

/// The natural size of every server-drawn chart (docs/api.md, "Charts").
const CHART_WIDTH: u32 = 800;
const CHART_HEIGHT: u32 = 320;

/// A server-drawn SVG chart. The `<img>` carries the chart's natural size, so the browser reserves
/// its box before the image arrives and a new `src` swaps the picture in place.
#[component]
pub fn ChartImage(
    /// The chart's URL under `/api/charts/`.
    #[prop(into)]
    src: Signal<String>,
    /// What the chart shows, for people who cannot see it.
    #[prop(into)]
    alt: String,
    /// `data-testid` of the image, for the browser tests.
    #[prop(optional)]
    testid: &'static str,
) -> impl IntoView {
    view! {
        <figure class="chart">
            <img src=src alt=alt width=CHART_WIDTH height=CHART_HEIGHT decoding="async" data-testid=testid />
        </figure>
    }
}

/// In the browser: the chart at `url` fetched anew, as a `data:` URL for an `<img>`.
///
/// Browsers reuse an image already shown in the page for the same URL, whatever its `Cache-Control`,
/// so a chart whose URL takes no parameter to vary (`/api/charts/sla/{id}.svg`) would stay as first
/// drawn; its text, fetched again, is always the current picture.
#[cfg(feature = "hydrate")]
pub async fn fetch_chart(url: String) -> Option<String> {
    let response = gloo_net::http::Request::get(&url).send().await.ok()?;
    if !response.ok() {
        return None;
    }
    let svg = response.text().await.ok()?;
    Some(format!("data:image/svg+xml;charset=utf-8,{}", crate::client::encode_query_value(&svg)))
}

/// A segmented control of [`PERIODS`]; each is a link made by `href`, the current one marked.
#[component]
pub fn PeriodPicker(
    /// The period the page shows now.
    #[prop(into)]
    current: Signal<String>,
    /// The page's URL for a period; reactive, so it may read the page's other URL parameters.
    href: Callback<&'static str, String>,
) -> impl IntoView {
    view! {
        <nav class="period-picker" aria-label="Period" data-testid="period-picker">
            <span class="period-caption">"Period"</span>
            {PERIODS
                .iter()
                .map(|(value, short, long)| {
                    let selected = move || current.get() == *value;
                    view! {
                        <a
                            href=move || href.run(value)
                            class=move || if selected() { "period selected" } else { "period" }
                            aria-current=move || selected().then_some("true")
                            title=format!("Show {long}")
                            data-period=*value
                        >
                            {*short}
                        </a>
                    }
                })
                .collect_view()}
        </nav>
    }
}

/// A heartbeat's server time as epoch milliseconds (`2026-11-25T22:15:03Z` → 1795645503000): the
/// server's "now", for the `end` of a chart that should follow the live feed.
pub fn heartbeat_ms(beat: &Heartbeat) -> Option<i64> {
    rfc3339_seconds_ms(&beat.server_time)
}

/// `YYYY-MM-DDTHH:MM:SS…Z` as epoch milliseconds (seconds precision, UTC only).
fn rfc3339_seconds_ms(text: &str) -> Option<i64> {
    let number = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    Some(seconds * 1000)
}

/// Days since 1970-01-01 of a proleptic Gregorian date — Howard Hinnant's algorithm (the inverse of
/// the one in `format`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_times_become_epoch_milliseconds() {
        assert_eq!(rfc3339_seconds_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(rfc3339_seconds_ms("2026-11-25T22:50:31Z"), Some(1_795_647_031_000));
        assert_eq!(rfc3339_seconds_ms("2024-02-29T12:00:00Z"), Some(1_709_208_000_000));
        assert_eq!(rfc3339_seconds_ms("not a time"), None);
        assert_eq!(rfc3339_seconds_ms("2026-13-25T22:50:31Z"), None);
    }

    #[test]
    fn periods_read_as_words() {
        assert_eq!(period_words("24h"), "the last 24 hours");
        assert_eq!(period_words("90m"), "the last 90m");
        assert_eq!(period_ms("24h"), Some(86_400_000));
        assert_eq!(period_ms("90m"), Some(5_400_000));
        assert_eq!(period_ms("1w"), None);
        assert_eq!(period_ms("0h"), None);
    }
}
