//! Time on the wire: RFC 3339 in UTC with milliseconds, from the epoch milliseconds the store keeps.

use chrono::{DateTime, SecondsFormat};

pub fn rfc3339(epoch_ms: i64) -> String {
    DateTime::from_timestamp_millis(epoch_ms)
        .map(|time| time.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_else(|| epoch_ms.to_string())
}

/// Parses an RFC 3339 time from a query parameter.
pub fn parse(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text).ok().map(|time| time.timestamp_millis())
}
