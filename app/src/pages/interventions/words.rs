//! How inbox items read: kinds and choices in words, priority colours, ages and due times relative to
//! now. Pure functions, shared by the list and the detail.

use crate::components::charts::heartbeat_ms;
use crate::format;
use crate::wire::{Heartbeat, InterventionKind, PriorityLevel};

/// An item kind in words: `retries_exhausted` → "Retries exhausted".
pub fn kind_label(kind: InterventionKind) -> &'static str {
    match kind {
        InterventionKind::HumanTask => "Human task",
        InterventionKind::RetriesExhausted => "Retries exhausted",
        InterventionKind::CompensationFailed => "Compensation failed",
        InterventionKind::SlaBreach => "SLA breach",
    }
}

/// What a person is asked to do about an item of this kind.
pub fn kind_help(kind: InterventionKind) -> &'static str {
    match kind {
        InterventionKind::HumanTask => "The workflow waits for a person's decision.",
        InterventionKind::RetriesExhausted => {
            "A step failed on every attempt: retry it (with the same or a corrected input), skip it with an output, undo the run (compensate) or abort it."
        }
        InterventionKind::CompensationFailed => {
            "Undoing a step failed, so the run is stuck half undone: retry the undo, skip it, or abort."
        }
        InterventionKind::SlaBreach => "A service-level target was missed; acknowledge it once someone is on it.",
    }
}

/// A choice on its button: `retry` → "Retry", `approve` → "Approve".
pub fn choice_label(choice: &str) -> String {
    match choice {
        "retry" => "Retry the step".into(),
        "skip" => "Skip the step".into(),
        "compensate" => "Compensate (undo the run)".into(),
        "abort" => "Abort the run".into(),
        "acknowledge" => "Acknowledge".into(),
        other => capitalised(&other.replace(['_', '-'], " ")),
    }
}

/// Whether a choice gives up on the run (its button is drawn as dangerous).
pub fn is_destructive(choice: &str) -> bool {
    matches!(choice, "abort" | "compensate" | "deny" | "reject" | "suspend" | "hold")
}

/// The CSS modifier of a priority level's pill.
pub fn priority_tone(level: PriorityLevel) -> &'static str {
    match level {
        PriorityLevel::Urgent => "bad",
        PriorityLevel::High => "warn",
        PriorityLevel::Normal => "info",
        PriorityLevel::Low => "neutral",
    }
}

/// An RFC 3339 UTC time as epoch milliseconds (seconds precision), read by the heartbeat's parser.
pub fn epoch_ms(rfc3339: &str) -> Option<i64> {
    heartbeat_ms(&Heartbeat { server_time: rfc3339.to_string(), sequence: 0 })
}

/// This machine's clock, epoch milliseconds: the server's while rendering, the browser's after.
pub fn now_ms() -> i64 {
    #[cfg(feature = "hydrate")]
    {
        web_sys::js_sys::Date::now() as i64
    }
    #[cfg(not(feature = "hydrate"))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

/// How long ago `at` was, compactly: "4 min", "2 h 5 min"; "—" when unknown.
pub fn age(at: &str, now: i64) -> String {
    match epoch_ms(at) {
        Some(t) => short_duration(now.saturating_sub(t).max(0)),
        None => "—".into(),
    }
}

/// When an item is due, relative to now: "in 3 h", "2 h 5 min late"; "—" without a due time.
pub fn due_words(due_at: Option<&str>, now: i64) -> String {
    let Some(due) = due_at.and_then(epoch_ms) else {
        return "—".into();
    };
    if due >= now {
        format!("in {}", short_duration(due - now))
    } else {
        format!("{} late", short_duration(now - due))
    }
}

/// A duration without seconds once it is over a minute (an inbox does not need them, and ages that
/// tick every second pull the eye).
fn short_duration(ms: i64) -> String {
    if ms < 60_000 {
        return format!("{} s", ms / 1000);
    }
    format::duration((ms / 60_000 * 60_000) as f64)
}

/// Money in minor units as dollars: `125000` → "$1,250.00".
pub fn money(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!("{sign}${}.{:02}", format::count((abs / 100) as i64), abs % 100)
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().collect::<String>() + chars.as_str()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_choices_read_as_words() {
        assert_eq!(kind_label(InterventionKind::RetriesExhausted), "Retries exhausted");
        assert_eq!(kind_label(InterventionKind::SlaBreach), "SLA breach");
        assert_eq!(choice_label("approve"), "Approve");
        assert_eq!(choice_label("needs-info"), "Needs info");
        assert!(is_destructive("abort") && !is_destructive("approve"));
    }

    #[test]
    fn ages_and_due_times_are_relative_to_now() {
        let now = epoch_ms("2026-11-25T22:15:03Z").unwrap();
        assert_eq!(age("2026-11-25T22:10:03.500Z", now), "5 min");
        assert_eq!(age("2026-11-25T22:15:00Z", now), "3 s");
        assert_eq!(age("not a time", now), "—");
        assert_eq!(due_words(Some("2026-11-26T01:15:03Z"), now), "in 3 h");
        assert_eq!(due_words(Some("2026-11-25T20:10:03Z"), now), "2 h 5 min late");
        assert_eq!(due_words(None, now), "—");
    }

    #[test]
    fn money_is_in_dollars() {
        assert_eq!(money(125_000), "$1,250.00");
        assert_eq!(money(5), "$0.05");
        assert_eq!(money(-1999), "-$19.99");
    }
}
