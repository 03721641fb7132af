//! A minimal cron expression: five fields, UTC, and the next time it matches.
//!
//! Fields, in order: minute (0–59), hour (0–23), day of month (1–31), month (1–12), day of week (0–7,
//! 0 and 7 are Sunday). Each field is `*` or a comma-separated list of items; an item is a number `a`,
//! a range `a-b`, or a step over `*` or a range: `*/n`, `a-b/n`. Names (`MON`, `JAN`), `?`, `L`, `W`, `#`
//! and the `@daily` shorthands are not supported. As in classic cron, when both day of month and day of
//! week are restricted (neither is `*`), a day matches if *either* matches.

use std::fmt;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Timelike};

/// What is wrong with a cron expression, naming the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cron field `{field}`: {message}")]
pub struct CronError {
    /// `expression`, or one of `minute`, `hour`, `day-of-month`, `month`, `day-of-week`.
    pub field: &'static str,
    pub message: String,
}

const FIELDS: [(&str, u32, u32); 5] =
    [("minute", 0, 59), ("hour", 0, 23), ("day-of-month", 1, 31), ("month", 1, 12), ("day-of-week", 0, 7)];

/// A parsed cron expression. Each field is a bit set of the values it allows.
#[derive(Clone, PartialEq, Eq)]
pub struct Cron {
    text: String,
    minutes: u64,
    hours: u64,
    days_of_month: u64,
    months: u64,
    /// Bit 0 is Sunday … bit 6 Saturday (7 is folded onto 0).
    days_of_week: u64,
    /// Whether day of month / day of week were `*` (for the either-matches rule).
    any_day_of_month: bool,
    any_day_of_week: bool,
}

impl fmt::Debug for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cron({})", self.text)
    }
}

impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for Cron {
    type Err = CronError;

    fn from_str(text: &str) -> Result<Self, CronError> {
        Cron::parse(text)
    }
}

impl Cron {
    /// Parses five whitespace-separated fields.
    ///
    /// # Errors
    /// A [`CronError`] naming the field and what is wrong with it (or `expression` for the wrong number
    /// of fields, or a day of month that no allowed month has).
    pub fn parse(text: &str) -> Result<Self, CronError> {
        let parts: Vec<&str> = text.split_whitespace().collect();
        if parts.len() != 5 {
            return Err(CronError {
                field: "expression",
                message: format!(
                    "expected 5 fields (minute hour day-of-month month day-of-week), found {}",
                    parts.len()
                ),
            });
        }
        let mut sets = [0u64; 5];
        for (index, ((name, min, max), part)) in FIELDS.iter().zip(&parts).enumerate() {
            sets[index] = parse_field(name, part, *min, *max)?;
        }
        let mut days_of_week = sets[4];
        if days_of_week & (1 << 7) != 0 {
            days_of_week = (days_of_week & !(1 << 7)) | 1;
        }
        let cron = Cron {
            text: parts.join(" "),
            minutes: sets[0],
            hours: sets[1],
            days_of_month: sets[2],
            months: sets[3],
            days_of_week,
            any_day_of_month: parts[2] == "*",
            any_day_of_week: parts[4] == "*",
        };
        // Only the day of month can make an expression that never matches (`0 0 31 2 *`): some allowed
        // month must have some allowed day. With a restricted day of week, that alone matches.
        if cron.any_day_of_week {
            let possible = (1..=12u32)
                .filter(|month| cron.has(cron.months, *month))
                .any(|month| (1..=max_days(month)).any(|day| cron.has(cron.days_of_month, day)));
            if !possible {
                return Err(CronError {
                    field: "day-of-month",
                    message: format!("no allowed month has any of the days `{}`", parts[2]),
                });
            }
        }
        Ok(cron)
    }

    /// The expression as written (fields separated by one space).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first matching minute strictly after `epoch_ms`, in epoch milliseconds (always on a whole
    /// minute). A parsed expression always matches again within a few years (29 February included).
    pub fn next_after(&self, epoch_ms: i64) -> i64 {
        let Some(start) = DateTime::from_timestamp_millis(epoch_ms) else { return i64::MAX };
        let start = start.naive_utc();
        // The next whole minute after `start`.
        let mut time = start.with_second(0).and_then(|t| t.with_nanosecond(0)).unwrap_or(start) + Duration::minutes(1);
        // Month and day jumps make this a few hundred iterations at most; the bound only guards the loop.
        for _ in 0..100_000 {
            if !self.has(self.months, time.month()) {
                time = first_of_next_month(time.date());
                continue;
            }
            if !self.day_matches(time.date()) {
                time = midnight(time.date() + Duration::days(1));
                continue;
            }
            if !self.has(self.hours, time.hour()) {
                time = time.with_minute(0).unwrap_or(time) + Duration::hours(1);
                continue;
            }
            if !self.has(self.minutes, time.minute()) {
                time += Duration::minutes(1);
                continue;
            }
            return time.and_utc().timestamp_millis();
        }
        i64::MAX
    }

    fn has(&self, set: u64, value: u32) -> bool {
        set & (1 << value) != 0
    }

    fn day_matches(&self, date: NaiveDate) -> bool {
        let by_month = self.has(self.days_of_month, date.day());
        let by_week = self.has(self.days_of_week, date.weekday().num_days_from_sunday());
        match (self.any_day_of_month, self.any_day_of_week) {
            (true, true) => true,
            (false, true) => by_month,
            (true, false) => by_week,
            (false, false) => by_month || by_week,
        }
    }
}

fn midnight(date: NaiveDate) -> NaiveDateTime {
    date.and_hms_opt(0, 0, 0).unwrap_or_default()
}

fn first_of_next_month(date: NaiveDate) -> NaiveDateTime {
    let (year, month) = if date.month() == 12 { (date.year() + 1, 1) } else { (date.year(), date.month() + 1) };
    NaiveDate::from_ymd_opt(year, month, 1).map(midnight).unwrap_or_default()
}

/// The most days a month can have (February: 29, in leap years).
fn max_days(month: u32) -> u32 {
    match month {
        2 => 29,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn parse_field(name: &'static str, text: &str, min: u32, max: u32) -> Result<u64, CronError> {
    let error = |message: String| CronError { field: name, message };
    let number = |part: &str| -> Result<u32, CronError> {
        let value: u32 = part.parse().map_err(|_| error(format!("`{part}` is not a number ({min}-{max})")))?;
        if value < min || value > max {
            return Err(error(format!("{value} is out of range {min}-{max}")));
        }
        Ok(value)
    };
    let mut set = 0u64;
    for item in text.split(',') {
        if item.is_empty() {
            return Err(error(format!("`{text}` has an empty list item")));
        }
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => {
                let step: u32 =
                    step.parse().map_err(|_| error(format!("step `{step}` in `{item}` is not a number")))?;
                if step == 0 {
                    return Err(error(format!("step in `{item}` must be at least 1")));
                }
                (range, step)
            }
            None => (item, 1),
        };
        let (from, to) = if range == "*" {
            (min, max)
        } else if let Some((from, to)) = range.split_once('-') {
            let (from, to) = (number(from)?, number(to)?);
            if from > to {
                return Err(error(format!("range `{range}` runs backwards")));
            }
            (from, to)
        } else if step != 1 {
            return Err(error(format!("a step needs `*` or a range before it, not `{range}`")));
        } else {
            let value = number(range)?;
            (value, value)
        };
        let mut value = from;
        while value <= to {
            set |= 1 << value;
            value += step;
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn at(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text).unwrap().timestamp_millis()
    }

    fn show(ms: i64) -> String {
        Utc.timestamp_millis_opt(ms).unwrap().format("%Y-%m-%dT%H:%MZ").to_string()
    }

    fn next(cron: &str, after: &str) -> String {
        show(Cron::parse(cron).unwrap().next_after(at(after)))
    }

    #[test]
    fn every_minute_is_strictly_after() {
        assert_eq!(next("* * * * *", "2026-01-01T10:00:00Z"), "2026-01-01T10:01Z");
        assert_eq!(next("* * * * *", "2026-01-01T10:00:59.999Z"), "2026-01-01T10:01Z");
    }

    #[test]
    fn daily_at_five_past_midnight() {
        assert_eq!(next("5 0 * * *", "2026-11-24T00:05:00Z"), "2026-11-25T00:05Z");
        assert_eq!(next("5 0 * * *", "2026-11-24T00:04:59Z"), "2026-11-24T00:05Z");
        assert_eq!(next("5 0 * * *", "2026-12-31T23:59:00Z"), "2027-01-01T00:05Z");
    }

    #[test]
    fn lists_ranges_and_steps() {
        assert_eq!(next("*/15 * * * *", "2026-01-01T10:16:00Z"), "2026-01-01T10:30Z");
        assert_eq!(next("0 9-17/4 * * *", "2026-01-01T13:00:00Z"), "2026-01-01T17:00Z");
        assert_eq!(next("0 9-17/4 * * *", "2026-01-01T17:00:00Z"), "2026-01-02T09:00Z");
        assert_eq!(next("10,20 3 * * *", "2026-01-01T03:15:00Z"), "2026-01-01T03:20Z");
    }

    #[test]
    fn month_and_day_edges() {
        // The 31st skips months without one.
        assert_eq!(next("0 0 31 * *", "2026-01-31T00:00:00Z"), "2026-03-31T00:00Z");
        // 29 February waits for a leap year.
        assert_eq!(next("0 12 29 2 *", "2026-03-01T00:00:00Z"), "2028-02-29T12:00Z");
        // The last minute of a year rolls into the next.
        assert_eq!(next("59 23 31 12 *", "2026-12-31T23:59:00Z"), "2027-12-31T23:59Z");
        // A month list.
        assert_eq!(next("0 0 1 1,7 *", "2026-02-01T00:00:00Z"), "2026-07-01T00:00Z");
    }

    #[test]
    fn day_of_week_with_sunday_as_0_and_7_and_the_either_rule() {
        // 2026-11-25 is a Wednesday.
        assert_eq!(next("0 0 * * 0", "2026-11-25T00:00:00Z"), "2026-11-29T00:00Z");
        assert_eq!(next("0 0 * * 7", "2026-11-25T00:00:00Z"), "2026-11-29T00:00Z");
        assert_eq!(next("0 0 * * 1-5", "2026-11-27T12:00:00Z"), "2026-11-30T00:00Z");
        // Day of month 1 or any Friday, whichever is first.
        assert_eq!(next("0 0 1 * 5", "2026-11-25T00:00:00Z"), "2026-11-27T00:00Z");
        assert_eq!(next("0 0 1 * 5", "2026-11-28T00:00:00Z"), "2026-12-01T00:00Z");
    }

    #[test]
    fn errors_name_the_field() {
        let error = |text: &str| Cron::parse(text).unwrap_err();
        assert_eq!(error("60 * * * *").field, "minute");
        assert_eq!(error("60 * * * *").message, "60 is out of range 0-59");
        assert_eq!(error("* 24 * * *").field, "hour");
        assert_eq!(error("* * 0 * *").field, "day-of-month");
        assert_eq!(error("* * * 13 *").field, "month");
        assert_eq!(error("* * * * 8").field, "day-of-week");
        assert_eq!(error("*/0 * * * *").message, "step in `*/0` must be at least 1");
        assert_eq!(error("* 5-2 * * *").message, "range `5-2` runs backwards");
        assert_eq!(error("* x * * *").to_string(), "cron field `hour`: `x` is not a number (0-23)");
        assert_eq!(error("* * * *").field, "expression");
        assert_eq!(error("1,,2 * * * *").field, "minute");
        assert_eq!(error("5/2 * * * *").field, "minute");
        assert_eq!(error("0 0 30 2 *").field, "day-of-month");
        assert!(Cron::parse("0 0 30 2 1").is_ok(), "either rule: Mondays in February match");
    }
}
