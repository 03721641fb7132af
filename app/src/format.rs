//! How numbers, times and statuses read on every page, in one place so pages agree.

use crate::wire::InstanceStatus;

/// Milliseconds for people: `840 ms`, `1.2 s`, `3 min 4 s`, `2 h 5 min`, `3 d 4 h`.
pub fn duration(ms: f64) -> String {
    if !ms.is_finite() || ms < 0.0 {
        return "—".into();
    }
    let s = ms / 1000.0;
    if ms < 1000.0 {
        format!("{} ms", ms.round())
    } else if s < 60.0 {
        format!("{:.1} s", s)
    } else if s < 3600.0 {
        two_units((s / 60.0).floor(), "min", (s % 60.0).floor(), "s")
    } else if s < 86_400.0 {
        two_units((s / 3600.0).floor(), "h", ((s % 3600.0) / 60.0).floor(), "min")
    } else {
        two_units((s / 86_400.0).floor(), "d", ((s % 86_400.0) / 3600.0).floor(), "h")
    }
}

/// `3 min 4 s`, or `3 min` when the smaller unit is zero.
fn two_units(big: f64, big_unit: &str, small: f64, small_unit: &str) -> String {
    if small == 0.0 {
        format!("{big} {big_unit}")
    } else {
        format!("{big} {big_unit} {small} {small_unit}")
    }
}

/// An optional duration; `—` when there is none.
pub fn maybe_duration(ms: Option<f64>) -> String {
    ms.map(duration).unwrap_or_else(|| "—".into())
}

/// A fraction as a percentage: `0.953` → `95.3 %`; `—` when there is none.
pub fn percent(fraction: Option<f64>) -> String {
    match fraction {
        Some(f) if f.is_finite() => {
            let p = f * 100.0;
            if p == 100.0 || p == 0.0 {
                format!("{p:.0} %")
            } else {
                format!("{p:.1} %")
            }
        }
        _ => "—".into(),
    }
}

/// A count with thousands separators: `1234567` → `1,234,567`.
pub fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// An RFC 3339 time as `2026-11-25 22:15:03 UTC` (milliseconds dropped).
pub fn time(rfc3339: &str) -> String {
    match (rfc3339.get(..10), rfc3339.get(11..19)) {
        (Some(date), Some(clock)) => format!("{date} {clock} UTC"),
        _ => rfc3339.to_string(),
    }
}

/// An RFC 3339 time, compact for tables: `11-25 22:15:03`.
pub fn short_time(rfc3339: &str) -> String {
    match (rfc3339.get(5..10), rfc3339.get(11..19)) {
        (Some(date), Some(clock)) => format!("{date} {clock}"),
        _ => rfc3339.to_string(),
    }
}

/// An RFC 3339 time's clock with milliseconds, `22:15:03.120`, for timelines within a day.
pub fn clock_ms(rfc3339: &str) -> String {
    rfc3339.get(11..23).unwrap_or(rfc3339).to_string()
}

/// Epoch milliseconds as `2026-11-25 22:15 UTC`.
pub fn epoch_minute(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000) / 60_000;
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02} UTC", in_day / 60, in_day % 60)
}

/// Days since 1970-01-01 as (year, month, day) — Howard Hinnant's algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Every instance status, in the order the filters list them: moving, resting, finished, then not yet
/// started (a test checks that none is missing).
pub const STATUSES: [InstanceStatus; 9] = [
    InstanceStatus::Running,
    InstanceStatus::Waiting,
    InstanceStatus::NeedsIntervention,
    InstanceStatus::Compensating,
    InstanceStatus::Completed,
    InstanceStatus::Failed,
    InstanceStatus::Compensated,
    InstanceStatus::Cancelled,
    InstanceStatus::Created,
];

/// An instance status in words: `needs_intervention` → `needs a person`; the others read as they are.
pub fn status_label(status: InstanceStatus) -> &'static str {
    match status {
        InstanceStatus::NeedsIntervention => "needs a person",
        InstanceStatus::Created
        | InstanceStatus::Running
        | InstanceStatus::Waiting
        | InstanceStatus::Compensating
        | InstanceStatus::Completed
        | InstanceStatus::Failed
        | InstanceStatus::Compensated
        | InstanceStatus::Cancelled => status.as_str(),
    }
}

/// The CSS modifier of a status pill: its colour family.
pub fn status_tone(status: InstanceStatus) -> &'static str {
    match status {
        InstanceStatus::Completed => "ok",
        InstanceStatus::Failed => "bad",
        InstanceStatus::NeedsIntervention | InstanceStatus::Compensating | InstanceStatus::Compensated => "warn",
        InstanceStatus::Running | InstanceStatus::Created => "info",
        InstanceStatus::Waiting => "wait",
        InstanceStatus::Cancelled => "neutral",
    }
}

/// Pretty-printed JSON for reading.
pub fn json(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// A window's length, as targets and periods say it: `90 min`, `1 h`, `24 h`, `7 d` (days from two on),
/// else as [`duration`] writes it. The server describes SLA targets with it too, so both read the same.
pub fn window(ms: i64) -> String {
    const MINUTE: i64 = 60_000;
    const HOUR: i64 = 60 * MINUTE;
    const DAY: i64 = 24 * HOUR;
    match ms {
        ms if ms > 0 && ms % DAY == 0 && ms >= 2 * DAY => format!("{} d", ms / DAY),
        ms if ms > 0 && ms % HOUR == 0 => format!("{} h", ms / HOUR),
        ms if ms > 0 && ms % MINUTE == 0 => format!("{} min", ms / MINUTE),
        ms => duration(ms as f64),
    }
}

/// A generated id (a UUID) for a table or a title: its distinctive end (ids start with their creation
/// time, so neighbours share the start), after `…`. Anything else — a username, a token or schedule
/// name — is a name and reads as it is. Counted in characters, never sliced inside one.
pub fn short_id(id: &str) -> String {
    const KEEP: usize = 12;
    if !is_generated_id(id) {
        return id.to_string();
    }
    let count = id.chars().count();
    format!("…{}", id.chars().skip(count - KEEP).collect::<String>())
}

/// `8-4-4-4-12` hexadecimal digits: the ids the server generates.
fn is_generated_id(id: &str) -> bool {
    let groups: Vec<&str> = id.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(group, len)| {
            group.len() == len && group.chars().all(|c| c.is_ascii_hexdigit())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_shortened_and_names_kept() {
        assert_eq!(short_id("01a214e7-4aa7-7578-9bf8-75f5f6a89591"), "…75f5f6a89591");
        assert_eq!(short_id("admin"), "admin");
        assert_eq!(short_id("sam-1765152000123-ab12"), "sam-1765152000123-ab12");
        // Names in any script stay whole (slicing bytes here once panicked the audit page).
        assert_eq!(short_id("ğğğğğğğğğğğğğğğğğğğğğğ"), "ğğğğğğğğğğğğğğğğğğğğğğ");
        assert_eq!(short_id("用户用户用户用户-用户-用户-用户-用户用户用户"), "用户用户用户用户-用户-用户-用户-用户用户用户");
        assert_eq!(short_id("🔥🔥🔥🔥🔥🔥🔥🔥-🔥🔥🔥🔥-🔥🔥🔥🔥-🔥🔥🔥🔥-🔥🔥🔥🔥🔥🔥🔥🔥🔥🔥🔥🔥"), "🔥🔥🔥🔥🔥🔥🔥🔥-🔥🔥🔥🔥-🔥🔥🔥🔥-🔥🔥🔥🔥-🔥🔥🔥🔥🔥🔥🔥🔥🔥🔥🔥🔥");
    }

    #[test]
    fn windows_read_in_whole_units() {
        assert_eq!(window(5_400_000), "90 min");
        assert_eq!(window(3_600_000), "1 h");
        assert_eq!(window(86_400_000), "24 h");
        assert_eq!(window(604_800_000), "7 d");
        assert_eq!(window(2_000), "2.0 s");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(840.0), "840 ms");
        assert_eq!(duration(1234.0), "1.2 s");
        assert_eq!(duration(184_000.0), "3 min 4 s");
        assert_eq!(duration(7_500_000.0), "2 h 5 min");
        assert_eq!(duration(60_000.0), "1 min");
        assert_eq!(duration(3_600_000.0), "1 h");
        assert_eq!(duration(3_465_000.0), "57 min 45 s");
        assert_eq!(duration(86_400_000.0), "1 d");
        assert_eq!(duration(-1.0), "—");
    }

    #[test]
    fn counts_and_percentages() {
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(-1000), "-1,000");
        assert_eq!(count(12), "12");
        assert_eq!(percent(Some(0.953)), "95.3 %");
        assert_eq!(percent(Some(1.0)), "100 %");
        assert_eq!(percent(None), "—");
    }

    #[test]
    fn times() {
        assert_eq!(time("2026-11-25T22:15:03.120Z"), "2026-11-25 22:15:03 UTC");
        assert_eq!(clock_ms("2026-11-25T22:15:03.120Z"), "22:15:03.120");
        assert_eq!(epoch_minute(1_795_647_031_975), "2026-11-25 22:50 UTC");
        assert_eq!(epoch_minute(0), "1970-01-01 00:00 UTC");
    }

    #[test]
    fn the_status_filter_offers_every_status() {
        let mut offered = STATUSES.to_vec();
        offered.sort();
        assert_eq!(offered, InstanceStatus::ALL);
        assert_eq!(status_label(InstanceStatus::NeedsIntervention), "needs a person");
        assert_eq!(status_label(InstanceStatus::Compensated), "compensated");
    }
}
