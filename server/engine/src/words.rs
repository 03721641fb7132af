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

/// Finds the name a typo was probably meant to be, within a budget of work per definition: a
/// definition with a thousand typos among a thousand long, similar names must not make a
/// million comparisons. Once the budget is spent there are no more guesses.
pub(crate) struct Suggester {
    /// Cells of the edit-distance table left to compute.
    cells_left: usize,
}

impl Default for Suggester {
    fn default() -> Self {
        Suggester { cells_left: 1_000_000 }
    }
}

impl Suggester {
    /// The closest candidate within a small edit distance (1 for names up to 4 characters, 2
    /// above), if any and if the budget allows; ties go to the first candidate.
    pub(crate) fn closest<'a>(&mut self, typo: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
        const LONGEST: usize = 64;
        let typo: Vec<char> = typo.chars().take(LONGEST + 1).collect();
        if typo.len() < 2 || typo.len() > LONGEST {
            return None;
        }
        let max = if typo.len() <= 4 { 1 } else { 2 };
        let cost = typo.len() * (2 * max + 1);
        let mut best: Option<(usize, &str)> = None;
        let mut chars: Vec<char> = Vec::new();
        for candidate in candidates {
            if self.cells_left < cost {
                break;
            }
            chars.clear();
            chars.extend(candidate.chars().take(LONGEST + 1));
            if chars.len().abs_diff(typo.len()) > max || chars == typo {
                continue;
            }
            self.cells_left -= cost;
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
/// most `max`. Only the band of cells within `max` of the diagonal is computed.
fn distance_within(a: &[char], b: &[char], max: usize) -> Option<usize> {
    const FAR: usize = usize::MAX / 2;
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    // Optimal string alignment distance, row by row; stops as soon as a row exceeds `max`.
    let mut before: Vec<usize> = vec![FAR; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).map(|j| if j <= max { j } else { FAR }).collect();
    for i in 1..=a.len() {
        let mut row = vec![FAR; b.len() + 1];
        if i <= max {
            row[0] = i;
        }
        let (from, to) = (i.saturating_sub(max).max(1), (i + max).min(b.len()));
        for j in from..=to {
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
        let mut poor = Suggester { cells_left: 30 };
        assert_eq!(poor.closest("payot", names.into_iter()), Some("payout"), "5 x 5 cells for `payout`");
        assert_eq!(poor.closest("payot", names.into_iter()), None, "the budget is spent");
        assert_eq!(distance_within(&['a', 'b'], &['b', 'a'], 1), Some(1), "a swap is one edit");
        assert_eq!(distance_within(&['a'; 10], &['b'; 10], 2), None);
    }
}
