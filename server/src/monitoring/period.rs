//! Periods: `15m`, `1h`, `24h`, `7d`, … turned into a range of whole rollup buckets.
//!
//! A period of length `L` ending at `end` is read at the finest resolution that keeps the number of
//! buckets small — minutes up to 2 hours, hours up to 3 days, days beyond — and covers the
//! `ceil(L / resolution)` buckets up to and including the one holding `end` (the current bucket,
//! still growing). So "the last hour" at 10:30:20 is 09:31:00 to 10:31:00.

use app::wire::PeriodInfo;

use super::rollup::{bucket_of, DAY, HOUR, MINUTE};

/// The longest period accepted: 400 days.
pub const MAX_PERIOD_MS: i64 = 400 * DAY;

/// Why a period was refused; the message names the value and what is expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PeriodError(pub String);

/// A range of whole buckets at one resolution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Period {
    pub label: String,
    pub from_ms: i64,
    pub to_ms: i64,
    pub resolution_ms: i64,
}

impl Period {
    /// The resolution for a period of `length_ms`.
    pub fn resolution_for(length_ms: i64) -> i64 {
        if length_ms <= 2 * HOUR {
            MINUTE
        } else if length_ms <= 3 * DAY {
            HOUR
        } else {
            DAY
        }
    }

    /// The period of `length_ms` ending with the bucket that holds `end_ms`.
    pub fn ending_at(length_ms: i64, end_ms: i64, label: impl Into<String>) -> Period {
        Period::ending_at_with(length_ms, end_ms, Period::resolution_for(length_ms), label)
    }

    /// [`Period::ending_at`] at a given resolution.
    pub fn ending_at_with(length_ms: i64, end_ms: i64, resolution_ms: i64, label: impl Into<String>) -> Period {
        let buckets = (length_ms.max(1) + resolution_ms - 1) / resolution_ms;
        let to_ms = bucket_of(end_ms, resolution_ms) + resolution_ms;
        Period { label: label.into(), from_ms: to_ms - buckets * resolution_ms, to_ms, resolution_ms }
    }

    /// Parses `<number><unit>` with unit `m` (minutes), `h` (hours) or `d` (days), e.g. `90m`, `24h`,
    /// `7d`, and builds the period ending at `end_ms`.
    ///
    /// # Errors
    /// A message naming the value when it is not of that form, zero, or longer than 400 days.
    pub fn parse(text: &str, end_ms: i64) -> Result<Period, PeriodError> {
        Ok(Period::ending_at(parse_length(text)?, end_ms, text.trim()))
    }

    /// The bucket starts of the period, oldest first.
    pub fn buckets(&self) -> impl Iterator<Item = i64> + '_ {
        (self.from_ms..self.to_ms).step_by(usize::try_from(self.resolution_ms).unwrap_or(usize::MAX))
    }

    pub fn info(&self) -> PeriodInfo {
        PeriodInfo {
            label: self.label.clone(),
            from_ms: self.from_ms,
            to_ms: self.to_ms,
            resolution_ms: self.resolution_ms,
        }
    }
}

/// The length of `<number><unit>` in milliseconds.
///
/// # Errors
/// See [`Period::parse`].
pub fn parse_length(text: &str) -> Result<i64, PeriodError> {
    let text = text.trim();
    let refuse = || {
        PeriodError(format!(
            "{text:?} is not a period: use a whole number and a unit, m (minutes), h (hours) or d (days), \
             e.g. 15m, 24h, 7d; at most 400d"
        ))
    };
    // The unit is the last character, which need not be one byte long (`1é`, `🔥`).
    let (number, unit_ms) = match text.char_indices().last() {
        Some((at, 'm')) => (&text[..at], MINUTE),
        Some((at, 'h')) => (&text[..at], HOUR),
        Some((at, 'd')) => (&text[..at], DAY),
        _ => return Err(refuse()),
    };
    let number: i64 = number.parse().map_err(|_| refuse())?;
    if number <= 0 {
        return Err(refuse());
    }
    let length = number.checked_mul(unit_ms).ok_or_else(refuse)?;
    if length > MAX_PERIOD_MS {
        return Err(refuse());
    }
    Ok(length)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_hour_is_sixty_minute_buckets_including_the_current_one() {
        // 10:30:20 on day 0.
        let now = 10 * HOUR + 30 * MINUTE + 20_000;
        let period = Period::parse("1h", now).unwrap();
        assert_eq!(period.resolution_ms, MINUTE);
        assert_eq!(period.to_ms, 10 * HOUR + 31 * MINUTE);
        assert_eq!(period.from_ms, 9 * HOUR + 31 * MINUTE);
        assert_eq!(period.buckets().count(), 60);
    }

    #[test]
    fn longer_periods_use_coarser_buckets() {
        assert_eq!(Period::parse("120m", 0).unwrap().resolution_ms, MINUTE);
        assert_eq!(Period::parse("121m", 0).unwrap().resolution_ms, HOUR);
        assert_eq!(Period::parse("3d", 0).unwrap().resolution_ms, HOUR);
        assert_eq!(Period::parse("4d", 0).unwrap().resolution_ms, DAY);
        let month = Period::parse("30d", 100 * DAY + 5).unwrap();
        assert_eq!((month.resolution_ms, month.buckets().count()), (DAY, 30));
    }

    #[test]
    fn periods_ending_in_a_multi_byte_character_are_refused_not_a_panic() {
        for text in ["1é", "🔥", "1🔥", "é", "7dé"] {
            assert!(parse_length(text).is_err(), "{text}");
        }
    }

    #[test]
    fn bad_periods_are_refused_with_the_value_named() {
        for bad in ["", "h", "0h", "-1h", "1w", "1.5h", "401d", "99999999999999999d"] {
            let error = Period::parse(bad, 0).unwrap_err();
            assert!(error.0.contains(&format!("{bad:?}")), "{error}");
        }
    }
}
