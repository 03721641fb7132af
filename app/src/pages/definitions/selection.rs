//! What the Definitions page shows, as its URL holds it:
//! `/definitions?workflow=call-lifecycle&version=1&period=24h&diff=1..2&state=find-buyer&sort=p95`.
//!
//! Every field is kept as written, so a bad value can be named back to the reader; the accessors parse
//! (`period`, `version`, `diff`). A link to another view is this selection with one field changed
//! ([`Selection::url`]), so links and the browser's history carry the whole view.

/// The periods the page offers, as the monitoring API names them.
pub const PERIODS: [&str; 4] = ["1h", "24h", "7d", "30d"];

/// The period shown when the URL names none.
pub const DEFAULT_PERIOD: &str = "24h";

/// Ways to order the state table, as named in the URL; the empty string is the flow order.
pub const SORTS: [&str; 6] = ["", "now", "passed", "p95", "errors", "share"];

/// The page's view.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// The chosen workflow type; empty: the first one.
    pub workflow: String,
    /// The chosen version; empty: the latest.
    pub version: String,
    /// `1h`, `24h`, `7d` or `30d`; empty: [`DEFAULT_PERIOD`].
    pub period: String,
    /// Two versions to compare, `1..2`; empty: the two latest.
    pub diff: String,
    /// The selected state.
    pub state: String,
    /// One of [`SORTS`].
    pub sort: String,
}

impl Selection {
    /// Reads the selection from the URL's query. A plain form (no JavaScript) sends the two versions to
    /// compare as `from` and `to`; they become `diff`.
    pub fn from_query(get: impl Fn(&str) -> Option<String>) -> Selection {
        let field = |name: &str| get(name).map(|v| v.trim().to_string()).unwrap_or_default();
        let mut diff = field("diff");
        let (from, to) = (field("from"), field("to"));
        if diff.is_empty() && !from.is_empty() && !to.is_empty() {
            diff = format!("{from}..{to}");
        }
        Selection {
            workflow: field("workflow"),
            version: field("version"),
            period: field("period"),
            diff,
            state: field("state"),
            sort: field("sort"),
        }
    }

    /// The period to show: the one asked for, or the default. `Err` names a period the page does not
    /// offer (the page then shows the default and says so).
    pub fn period(&self) -> Result<&str, String> {
        match self.period.as_str() {
            "" => Ok(DEFAULT_PERIOD),
            p if PERIODS.contains(&p) => Ok(p),
            other => Err(other.to_string()),
        }
    }

    /// The period actually shown.
    pub fn period_or_default(&self) -> &str {
        self.period().unwrap_or(DEFAULT_PERIOD)
    }

    /// The version asked for: `Ok(None)` for the latest, `Err` for something that is not a version number.
    pub fn version(&self) -> Result<Option<u32>, String> {
        match self.version.as_str() {
            "" | "latest" => Ok(None),
            v => v.parse::<u32>().ok().filter(|n| *n > 0).map(Some).ok_or_else(|| v.to_string()),
        }
    }

    /// The two versions to compare: `Ok(None)` when none are asked for, `Err` when `diff` is not `A..B`.
    pub fn diff(&self) -> Result<Option<(u32, u32)>, String> {
        if self.diff.is_empty() {
            return Ok(None);
        }
        let parse = |s: &str| s.trim().trim_start_matches('v').parse::<u32>().ok().filter(|n| *n > 0);
        match self.diff.split_once("..") {
            Some((a, b)) => match (parse(a), parse(b)) {
                (Some(a), Some(b)) => Ok(Some((a, b))),
                _ => Err(self.diff.clone()),
            },
            None => Err(self.diff.clone()),
        }
    }

    /// The sort key, or the flow order for one the page does not know.
    pub fn sort(&self) -> &str {
        SORTS.iter().find(|s| **s == self.sort).copied().unwrap_or("")
    }

    /// The page's URL for this selection; empty fields are left out.
    pub fn url(&self) -> String {
        let pairs = [
            ("workflow", &self.workflow),
            ("version", &self.version),
            ("period", &self.period),
            ("diff", &self.diff),
            ("state", &self.state),
            ("sort", &self.sort),
        ];
        format!("/definitions{}", crate::client::query_string(pairs.iter().map(|(k, v)| (*k, v.as_str()))))
    }

    /// Another workflow: its latest version, nothing selected; the period and sort stay.
    pub fn with_workflow(&self, workflow: &str) -> Selection {
        Selection {
            workflow: workflow.to_string(),
            period: self.period.clone(),
            sort: self.sort.clone(),
            ..Selection::default()
        }
    }

    /// Another version (`None`: the latest) of the same workflow.
    pub fn with_version(&self, version: Option<u32>) -> Selection {
        Selection { version: version.map(|v| v.to_string()).unwrap_or_default(), ..self.clone() }
    }

    /// Another period.
    pub fn with_period(&self, period: &str) -> Selection {
        Selection { period: period.to_string(), ..self.clone() }
    }

    /// Another selected state (`None`: none).
    pub fn with_state(&self, state: Option<&str>) -> Selection {
        Selection { state: state.unwrap_or_default().to_string(), ..self.clone() }
    }

    /// Another order of the state table.
    pub fn with_sort(&self, sort: &str) -> Selection {
        Selection { sort: sort.to_string(), ..self.clone() }
    }

    /// Two versions to compare.
    pub fn with_diff(&self, from: u32, to: u32) -> Selection {
        Selection { diff: format!("{from}..{to}"), ..self.clone() }
    }
}

/// The period in words for a sentence: `the last 24 h`.
pub fn period_words(period: &str) -> String {
    match period {
        "1h" => "the last hour".into(),
        "24h" => "the last 24 h".into(),
        "7d" => "the last 7 days".into(),
        "30d" => "the last 30 days".into(),
        other => format!("the last {other}"),
    }
}

/// The period as a short label for a button: `24 h`.
pub fn period_label(period: &str) -> String {
    match period {
        "1h" => "1 h".into(),
        "24h" => "24 h".into(),
        "7d" => "7 days".into(),
        "30d" => "30 days".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn query(pairs: &[(&str, &str)]) -> Selection {
        let map: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Selection::from_query(|k| map.get(k).cloned())
    }

    #[test]
    fn the_url_round_trips_and_leaves_out_what_is_not_set() {
        let s = query(&[("workflow", "call-lifecycle"), ("version", "1"), ("period", "24h"), ("diff", "1..2")]);
        assert_eq!(s.url(), "/definitions?workflow=call-lifecycle&version=1&period=24h&diff=1..2");
        assert_eq!(query(&[]).url(), "/definitions");
        assert_eq!(s.with_state(Some("find-buyer")).url(), format!("{}&state=find-buyer", s.url()));
    }

    #[test]
    fn values_are_parsed_and_bad_ones_named() {
        let s = query(&[("period", "7d"), ("version", "3"), ("diff", "v1..2")]);
        assert_eq!(s.period(), Ok("7d"));
        assert_eq!(s.version(), Ok(Some(3)));
        assert_eq!(s.diff(), Ok(Some((1, 2))));
        let defaults = query(&[]);
        assert_eq!(defaults.period(), Ok("24h"));
        assert_eq!(defaults.version(), Ok(None));
        assert_eq!(defaults.diff(), Ok(None));
        let bad = query(&[("period", "2w"), ("version", "x"), ("diff", "1-2"), ("sort", "colour")]);
        assert_eq!(bad.period(), Err("2w".to_string()));
        assert_eq!(bad.period_or_default(), "24h");
        assert_eq!(bad.version(), Err("x".to_string()));
        assert_eq!(bad.diff(), Err("1-2".to_string()));
        assert_eq!(bad.sort(), "");
        assert_eq!(query(&[("version", "0")]).version(), Err("0".to_string()));
    }

    #[test]
    fn the_plain_compare_form_becomes_a_diff() {
        let s = query(&[("workflow", "w"), ("from", "1"), ("to", "3")]);
        assert_eq!(s.diff(), Ok(Some((1, 3))));
        assert_eq!(s.url(), "/definitions?workflow=w&diff=1..3");
    }

    #[test]
    fn another_workflow_keeps_only_the_period_and_the_sort() {
        let s = query(&[("workflow", "a"), ("version", "2"), ("period", "7d"), ("state", "x"), ("sort", "p95")]);
        assert_eq!(s.with_workflow("b").url(), "/definitions?workflow=b&period=7d&sort=p95");
        assert_eq!(s.with_version(None).url(), "/definitions?workflow=a&period=7d&state=x&sort=p95");
        assert_eq!(s.with_diff(1, 2).diff, "1..2");
    }
}
