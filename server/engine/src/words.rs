//! How problems put things into words: values found, lists of names, "did you mean".
//!
//! Everything taken from a definition is shortened before it goes into a message, so a hostile
//! definition cannot make its problems larger than itself many times over.

use serde_json::Value;

/// At most `keep` characters of `text`, with `…` when something was cut.
pub(crate) fn shorten(text: &str, keep: usize) -> String {
    match text.char_indices().nth(keep) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// A name in backticks, shortened to 60 characters.
pub(crate) fn code(name: &str) -> String {
    format!("`{}`", shorten(name, 60))
}

/// What a JSON value is, in words: `the text "5s"`, `the number -1`, `true`, `null`, `a list`,
/// `an object`.
pub(crate) fn found(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the text {}", Value::String(shorten(s, 40))),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// `` `a`, `b`, `c` ``.
pub(crate) fn codes(names: &[&str]) -> String {
    names.iter().map(|n| code(n)).collect::<Vec<_>>().join(", ")
}

/// Up to ten names in backticks, then how many more: `` `a`, `b` and 3 more ``.
pub(crate) fn some_names<'a>(names: impl ExactSizeIterator<Item = &'a str>) -> String {
    const SHOWN: usize = 10;
    let total = names.len();
    let mut text = names.take(SHOWN).map(code).collect::<Vec<_>>().join(", ");
    if total > SHOWN {
        text.push_str(&format!(" and {} more", total - SHOWN));
    }
    text
}

/// Finds the name a typo was probably meant to be, within a budget of look-ups per definition
/// (each compares against every candidate, so a definition with thousands of typos must not
/// make thousands of them).
pub(crate) struct Suggester {
    left: usize,
}

impl Default for Suggester {
    fn default() -> Self {
        Suggester { left: 64 }
    }
}

impl Suggester {
    /// The closest candidate within a small edit distance (1 for names up to 4 characters, 2
    /// above), if any and if the budget allows; ties go to the first candidate.
    pub(crate) fn closest<'a>(&mut self, typo: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
        const LONGEST: usize = 40;
        let typo: Vec<char> = typo.chars().collect();
        if typo.len() < 2 || typo.len() > LONGEST || self.left == 0 {
            return None;
        }
        self.left -= 1;
        let max = if typo.len() <= 4 { 1 } else { 2 };
        let mut best: Option<(usize, &str)> = None;
        for candidate in candidates {
            let chars: Vec<char> = candidate.chars().collect();
            if chars.len() > LONGEST || chars == typo {
                continue;
            }
            if let Some(d) = distance_within(&typo, &chars, max) {
                if best.is_none_or(|(b, _)| d < b) {
                    best = Some((d, candidate));
                }
            }
        }
        best.map(|(_, c)| c)
    }
}

/// The edit distance (insert, delete, substitute, swap two neighbours) of `a` and `b` if it is at
/// most `max`.
fn distance_within(a: &[char], b: &[char], max: usize) -> Option<usize> {
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    // Optimal string alignment distance, row by row; stops as soon as a row exceeds `max`.
    let mut before: Vec<usize> = Vec::new();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut row = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(row[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            row[j] = d;
        }
        if row.iter().all(|&d| d > max) {
            return None;
        }
        before = std::mem::replace(&mut prev, row);
    }
    Some(prev[b.len()]).filter(|&d| d <= max)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn values_in_words() {
        assert_eq!(found(&json!("5s")), "the text \"5s\"");
        assert_eq!(found(&json!(-1)), "the number -1");
        assert_eq!(found(&json!(null)), "null");
        assert_eq!(found(&json!([1])), "a list");
        assert_eq!(found(&json!("x".repeat(100))), format!("the text \"{}…\"", "x".repeat(40)));
        assert_eq!(some_names(["a", "b"].into_iter()), "`a`, `b`");
        let many: Vec<String> = (0..12).map(|i| format!("s{i}")).collect();
        assert!(some_names(many.iter().map(String::as_str)).ends_with("`s9` and 2 more"));
    }

    #[test]
    fn suggestions() {
        let mut s = Suggester::default();
        let names = ["payout", "notify", "reserve-funds"];
        assert_eq!(s.closest("payot", names.into_iter()), Some("payout"));
        assert_eq!(s.closest("reserve-fudns", names.into_iter()), Some("reserve-funds"));
        assert_eq!(s.closest("nowhere", names.into_iter()), None);
        assert_eq!(s.closest("retyr", ["retry", "result_path"].into_iter()), Some("retry"));
        assert_eq!(s.closest("x", names.into_iter()), None, "one letter is too short to guess");
        let mut poor = Suggester { left: 1 };
        assert!(poor.closest("payot", names.into_iter()).is_some());
        assert_eq!(poor.closest("payot", names.into_iter()), None, "the budget is spent");
    }
}
