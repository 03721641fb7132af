//! Where an SLA target stands, in the words a manager reads: met, at risk, breached, or no data.
//!
//! The API judges a target met, breached or without data ([`SlaStatus`]). The console adds **at risk**:
//! met, but with at most a tenth of its allowance left — a p95 of 1.8 s or more against a target of
//! 2 s, a completion rate of 95.5 % or less against 95 % (90 % of the 5 % allowed failures used). The
//! rule lives here, once, for the overview's tiles and the SLA page.
//!
//! [`Metric`] says how a target's metric reads (name, direction, units) and formats its values.

use crate::format;
use crate::wire::{SlaResult, SlaStatus};

/// The share of a target's allowance above which a met target is at risk.
pub const AT_RISK_SHARE: f64 = 0.9;

/// A target's standing now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Standing {
    // Declared worst first: sorting puts what needs attention on top.
    Breached,
    AtRisk,
    Met,
    NoData,
}

impl Standing {
    /// Every standing, worst first.
    pub const ALL: [Standing; 4] = [Standing::Breached, Standing::AtRisk, Standing::Met, Standing::NoData];

    /// The word on the pill.
    pub fn label(self) -> &'static str {
        match self {
            Standing::Met => "Met",
            Standing::AtRisk => "At risk",
            Standing::Breached => "Breached",
            Standing::NoData => "No data",
        }
    }

    /// The colour family (`.pill.ok`, `.tile.bad`, …).
    pub fn tone(self) -> &'static str {
        match self {
            Standing::Met => "ok",
            Standing::AtRisk => "warn",
            Standing::Breached => "bad",
            Standing::NoData => "neutral",
        }
    }

    /// A stable name for tests and CSS (`data-standing`).
    pub fn key(self) -> &'static str {
        match self {
            Standing::Met => "met",
            Standing::AtRisk => "at_risk",
            Standing::Breached => "breached",
            Standing::NoData => "no_data",
        }
    }

    /// What the standing means, one sentence.
    pub fn meaning(self) -> &'static str {
        match self {
            Standing::Met => "Within target over its window.",
            Standing::AtRisk => "Still met, but less than a tenth of the allowance is left.",
            Standing::Breached => "Outside target over its window.",
            Standing::NoData => "Nothing finished in the window, so nothing to judge.",
        }
    }
}

/// What a target measures, as the API names it (`p95_duration_ms`, `completion_rate`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metric(&'static str);

impl Metric {
    /// Every metric the API knows, with its name in words, in the order forms offer them.
    pub const ALL: [(&'static str, &'static str); 8] = [
        ("p95_duration_ms", "p95 duration"),
        ("p99_duration_ms", "p99 duration"),
        ("p50_duration_ms", "median (p50) duration"),
        ("avg_duration_ms", "average duration"),
        ("completion_rate", "completion rate"),
        ("error_rate", "error rate"),
        ("compensation_rate", "compensation rate"),
        ("manual_intervention_rate", "manual intervention rate"),
    ];

    /// The metric of that API name; an unknown name reads as a rate that must stay low.
    pub fn of(name: &str) -> Metric {
        Metric(Self::ALL.iter().find(|(n, _)| *n == name).map_or("", |(n, _)| n))
    }

    /// Its name in words: "p95 duration".
    pub fn words(self) -> &'static str {
        Self::ALL.iter().find(|(n, _)| *n == self.0).map_or("metric", |(_, w)| w)
    }

    /// Whether values are milliseconds (else fractions).
    pub fn is_duration(self) -> bool {
        self.0.ends_with("_duration_ms")
    }

    /// Whether the target is a floor (completion rate) rather than a ceiling.
    pub fn higher_is_better(self) -> bool {
        self.0 == "completion_rate"
    }

    /// "at least" or "at most".
    pub fn direction(self) -> &'static str {
        if self.higher_is_better() {
            "at least"
        } else {
            "at most"
        }
    }

    /// A value of this metric for people: `4.4 s`, `96.4 %`.
    pub fn show(self, value: f64) -> String {
        if self.is_duration() {
            format::duration(value)
        } else {
            format::percent(Some(value))
        }
    }

    /// An optional value; `—` without one.
    pub fn show_maybe(self, value: Option<f64>) -> String {
        value.map(|v| self.show(v)).unwrap_or_else(|| "—".into())
    }

    /// The threshold as a sentence fragment: "≤ 2.0 s", "≥ 95 %".
    pub fn bound(self, threshold: f64) -> String {
        let sign = if self.higher_is_better() { "≥" } else { "≤" };
        format!("{sign} {}", self.show(threshold))
    }

    /// How far the actual value is from the threshold, in words: "1.6 s to spare", "1.6 pts short".
    pub fn margin(self, threshold: f64, actual: f64) -> String {
        let spare = if self.higher_is_better() { actual - threshold } else { threshold - actual };
        let amount =
            if self.is_duration() { format::duration(spare.abs()) } else { format!("{:.1} pts", spare.abs() * 100.0) };
        match (spare >= 0.0, self.higher_is_better()) {
            (true, _) => format!("{amount} to spare"),
            (false, true) => format!("{amount} short"),
            (false, false) => format!("{amount} over"),
        }
    }

    /// Whether a met value has used more than [`AT_RISK_SHARE`] of the allowance.
    pub fn at_risk(self, threshold: f64, actual: f64) -> bool {
        if self.higher_is_better() {
            // The allowance is the failures the floor permits: 1 − threshold.
            let allowed = 1.0 - threshold;
            allowed > 0.0 && (1.0 - actual) >= AT_RISK_SHARE * allowed
        } else {
            threshold > 0.0 && actual >= AT_RISK_SHARE * threshold
        }
    }
}

/// Where a result stands: the API's verdict, with met split into met and at risk.
pub fn standing(result: &SlaResult) -> Standing {
    match (result.status, result.actual) {
        (SlaStatus::Breached, _) => Standing::Breached,
        (SlaStatus::NoData, _) | (SlaStatus::Met, None) => Standing::NoData,
        (SlaStatus::Met, Some(actual)) => {
            if Metric::of(&result.target.metric).at_risk(result.target.threshold, actual) {
                Standing::AtRisk
            } else {
                Standing::Met
            }
        }
    }
}

/// How many results stand each way, in [`Standing::ALL`] order.
pub fn tally(results: &[SlaResult]) -> [(Standing, usize); 4] {
    Standing::ALL.map(|s| (s, results.iter().filter(|r| standing(r) == s).count()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::SlaTarget;

    fn result(metric: &str, threshold: f64, actual: Option<f64>, status: SlaStatus) -> SlaResult {
        SlaResult {
            target: SlaTarget {
                id: "t".into(),
                workflow: "w".into(),
                metric: metric.into(),
                threshold,
                window_ms: 3_600_000,
                open_intervention: false,
                description: String::new(),
                updated_at_ms: 0,
                updated_by: "system".into(),
            },
            actual,
            status,
            sample: 10,
            from_ms: 0,
            to_ms: 0,
            trend: Vec::new(),
            open_breach: None,
        }
    }

    #[test]
    fn a_met_target_close_to_its_limit_is_at_risk() {
        let p95 = |actual| standing(&result("p95_duration_ms", 2000.0, Some(actual), SlaStatus::Met));
        assert_eq!(p95(1000.0), Standing::Met);
        assert_eq!(p95(1800.0), Standing::AtRisk);
        assert_eq!(p95(2000.0), Standing::AtRisk);
        let completion = |actual| standing(&result("completion_rate", 0.95, Some(actual), SlaStatus::Met));
        assert_eq!(completion(0.99), Standing::Met);
        assert_eq!(completion(0.954), Standing::AtRisk);
        // A floor of 100 % leaves no allowance to use up: met is met.
        assert_eq!(standing(&result("completion_rate", 1.0, Some(1.0), SlaStatus::Met)), Standing::Met);
    }

    #[test]
    fn the_api_verdicts_pass_through() {
        assert_eq!(standing(&result("error_rate", 0.05, Some(0.2), SlaStatus::Breached)), Standing::Breached);
        assert_eq!(standing(&result("error_rate", 0.05, None, SlaStatus::NoData)), Standing::NoData);
        let all = [
            result("error_rate", 0.05, Some(0.2), SlaStatus::Breached),
            result("error_rate", 0.05, Some(0.0), SlaStatus::Met),
            result("error_rate", 0.05, Some(0.01), SlaStatus::Met),
        ];
        assert_eq!(
            tally(&all),
            [(Standing::Breached, 1), (Standing::AtRisk, 0), (Standing::Met, 2), (Standing::NoData, 0)]
        );
    }

    #[test]
    fn values_and_margins_read_naturally() {
        let p95 = Metric::of("p95_duration_ms");
        assert_eq!(p95.bound(2000.0), "≤ 2.0 s");
        assert_eq!(p95.margin(2000.0, 4432.0), "2.4 s over");
        assert_eq!(p95.margin(2000.0, 1500.0), "500 ms to spare");
        let completion = Metric::of("completion_rate");
        assert_eq!(completion.bound(0.98), "≥ 98.0 %");
        assert_eq!(completion.margin(0.98, 0.9641), "1.6 pts short");
        assert_eq!(Metric::of("error_rate").margin(0.3, 0.1), "20.0 pts to spare");
        assert_eq!(Metric::of("p95_duration_ms").bound(60_000.0), "≤ 1 min");
        assert_eq!(format::duration(3_600_000.0), "1 h");
        assert_eq!(format::duration(3_465_000.0), "57 min 45 s");
    }
}
