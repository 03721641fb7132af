//! RFC 3339 timestamps (`2026-03-01T12:00:00Z`, `2026-03-01T13:30:00.250+01:30`) as epoch
//! milliseconds, parsed by hand: the engine has no date crate (its dependency rule allows serde
//! and thiserror only), and this is all it needs of one.
//!
//! The grammar is RFC 3339 section 5.6 `date-time`: `YYYY-MM-DD`, `T` (also `t` or a space, as
//! section 5.6 allows), `hh:mm:ss`, an optional fraction of any number of digits (milliseconds
//! are kept, finer digits dropped), and `Z` (or `z`) or an offset `+hh:mm` / `-hh:mm`. Days are
//! checked against the month (29 February only in leap years). A leap second (`:60`) is read as
//! the first millisecond of the next minute.

/// Epoch milliseconds of an RFC 3339 timestamp.
///
/// # Errors
/// What is wrong, in words.
pub(crate) fn parse_rfc3339(text: &str) -> Result<i64, String> {
    let b = text.as_bytes();
    let year = digits(b, 0, 4, "year")?;
    expect(b, 4, b"-")?;
    let month = digits(b, 5, 2, "month")?;
    expect(b, 7, b"-")?;
    let day = digits(b, 8, 2, "day")?;
    expect(b, 10, b"Tt ")?;
    let hour = digits(b, 11, 2, "hour")?;
    expect(b, 13, b":")?;
    let minute = digits(b, 14, 2, "minute")?;
    expect(b, 16, b":")?;
    let second = digits(b, 17, 2, "second")?;
    let mut at = 19;
    let mut millis = 0;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let count = b[at..].iter().take_while(|d| d.is_ascii_digit()).count();
        if count == 0 {
            return Err(format!("expected the digits of a fraction of a second at position {at}"));
        }
        for (d, weight) in b[at..at + count].iter().zip([100, 10, 1]) {
            millis += i64::from(d - b'0') * weight;
        }
        at += count;
    }
    let offset_minutes = match b.get(at) {
        Some(b'Z' | b'z') => {
            at += 1;
            0
        }
        Some(sign @ (b'+' | b'-')) => {
            let sign = if *sign == b'+' { 1 } else { -1 };
            let hours = digits(b, at + 1, 2, "offset's hours")?;
            expect(b, at + 3, b":")?;
            let minutes = digits(b, at + 4, 2, "offset's minutes")?;
            if hours > 23 || minutes > 59 {
                return Err(format!("the offset {} is out of range", &text[at..at + 6]));
            }
            at += 6;
            sign * (hours * 60 + minutes)
        }
        _ => return Err(format!("expected `Z` or an offset such as +01:00 at position {at}")),
    };
    if at != b.len() {
        return Err(format!("unexpected text after the timestamp at position {at}"));
    }
    if !(1..=12).contains(&month) {
        return Err(format!("month {month} does not exist"));
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err(format!("day {day} does not exist in month {month} of {year}"));
    }
    if hour > 23 || minute > 59 || second > 60 {
        return Err(format!("the time {hour:02}:{minute:02}:{second:02} does not exist"));
    }
    let days = days_from_civil(year, month, day);
    let local = ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1_000 + millis;
    Ok(local - offset_minutes * 60_000)
}

/// The number written with `count` ASCII digits at `at`.
fn digits(b: &[u8], at: usize, count: usize, what: &str) -> Result<i64, String> {
    match b.get(at..at + count) {
        Some(part) if part.iter().all(u8::is_ascii_digit) => {
            Ok(part.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
        }
        _ => Err(format!("expected {count} digits of the {what} at position {at}")),
    }
}

fn expect(b: &[u8], at: usize, allowed: &[u8]) -> Result<(), String> {
    match b.get(at) {
        Some(c) if allowed.contains(c) => Ok(()),
        _ => {
            let wanted: Vec<String> = allowed.iter().map(|c| format!("`{}`", char::from(*c))).collect();
            Err(format!("expected {} at position {at}", wanted.join(" or ")))
        }
    }
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_every_form() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20Z"), Ok(1_700_000_000_000));
        assert_eq!(parse_rfc3339("2023-11-14t22:13:20.5z"), Ok(1_700_000_000_500));
        assert_eq!(parse_rfc3339("2023-11-14 22:13:20.123456789Z"), Ok(1_700_000_000_123));
        assert_eq!(parse_rfc3339("2023-11-15T00:13:20+02:00"), Ok(1_700_000_000_000));
        assert_eq!(parse_rfc3339("2023-11-14T20:43:20-01:30"), Ok(1_700_000_000_000));
        assert_eq!(parse_rfc3339("2024-02-29T00:00:00Z"), Ok(1_709_164_800_000));
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59.999Z"), Ok(-1));
        assert_eq!(parse_rfc3339("2016-12-31T23:59:60Z"), parse_rfc3339("2017-01-01T00:00:00Z"));
        assert_eq!(parse_rfc3339("0000-03-01T00:00:00Z"), Ok(-62_162_035_200_000));
    }

    #[test]
    fn what_is_not_a_timestamp_says_why() {
        let bad = |text: &str| parse_rfc3339(text).unwrap_err();
        assert_eq!(bad("tomorrow"), "expected 4 digits of the year at position 0");
        assert_eq!(bad("2023-11-14"), "expected `T` or `t` or ` ` at position 10");
        assert_eq!(bad("2023-11-14T22:13:20"), "expected `Z` or an offset such as +01:00 at position 19");
        assert_eq!(bad("2023-02-29T00:00:00Z"), "day 29 does not exist in month 2 of 2023");
        assert_eq!(bad("2023-13-01T00:00:00Z"), "month 13 does not exist");
        assert_eq!(bad("2023-11-14T24:00:00Z"), "the time 24:00:00 does not exist");
        assert_eq!(bad("2023-11-14T22:13:20.Z"), "expected the digits of a fraction of a second at position 20");
        assert_eq!(bad("2023-11-14T22:13:20+2:00"), "expected 2 digits of the offset's hours at position 20");
        assert_eq!(bad("2023-11-14T22:13:20Z and more"), "unexpected text after the timestamp at position 20");
        assert_eq!(bad("2023-11-14T22:13:20+24:00"), "the offset +24:00 is out of range");
        assert!(parse_rfc3339("２０２３-11-14T22:13:20Z").is_err(), "only ASCII digits");
        assert!(parse_rfc3339("").is_err());
    }
}
