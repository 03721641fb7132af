//! How urgent an inbox item is: a score, a level, and the reasons in words. Pure: the caller passes
//! the time.
//!
//! The score adds up points from four things (see [`SCHEME`], the same text the console shows):
//!
//! - **due time** — the row's `due_at`, or when absent `opened_at` plus [`default_due_ms`] of its kind.
//!   Overdue counts most, and more the longer it is overdue;
//! - **age** since it opened;
//! - **money at stake** — [`amount_at_stake`] of the run's context (marketplace amounts are integer
//!   minor units, dollars);
//! - **kind** — a failed compensation before exhausted retries before a human task; a human task's own
//!   `priority` (set by the workflow's author) moves it up or down.
//!
//! ```
//! use app::wire::InterventionKind;
//! use switchboard::interventions::priority::{score, Inputs, HOUR_MS};
//! let opened = 0;
//! let inputs = Inputs { kind: InterventionKind::RetriesExhausted, declared: "high", opened_at: opened, due_at: None,
//!                       amount_minor: Some(125_000) };
//! let priority = score(&inputs, opened + 4 * HOUR_MS);
//! assert_eq!(priority.level, "urgent");
//! assert_eq!(priority.because[0], "overdue by 2 h (+40)");
//! ```

use serde_json::Value;

use app::wire::{InterventionKind, Priority, PriorityLevel};

pub const MINUTE_MS: i64 = 60_000;
pub const HOUR_MS: i64 = 60 * MINUTE_MS;
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// The scheme in words, for the inbox's "how is this ranked?" note and `docs/api.md`.
/// Score from which an item is `urgent`, `high` and `normal`; below the last it is `low` (shared with
/// the console, which explains them).
pub use app::wire::PRIORITY_LEVELS as LEVELS;
/// The scheme in words, as the console shows it; the tests below check its figures against [`score`].
pub use app::wire::PRIORITY_SCHEME as SCHEME;

/// The fields that carry money in the marketplace workflows (integer minor units): payout, dispute and
/// credit `amount_minor`, a call's `charge_minor`, a settlement's `gross_minor`, `paid_minor` and
/// `invoiced_minor`. Bids, rates, limits and budgets are not at stake in one run, so they do not count;
/// a bare `amount` does not either (its unit is unknown).
pub const MONEY_FIELDS: [&str; 5] = ["amount_minor", "charge_minor", "gross_minor", "paid_minor", "invoiced_minor"];

/// How long after opening an item without its own due time is due.
pub fn default_due_ms(kind: InterventionKind) -> i64 {
    match kind {
        InterventionKind::CompensationFailed => HOUR_MS,
        InterventionKind::RetriesExhausted => 2 * HOUR_MS,
        InterventionKind::SlaBreach => 4 * HOUR_MS,
        InterventionKind::HumanTask => DAY_MS,
    }
}

/// When an item is due: its own due time, else the default of its kind.
pub fn due_at(kind: InterventionKind, opened_at: i64, due_at: Option<i64>) -> i64 {
    due_at.unwrap_or_else(|| opened_at.saturating_add(default_due_ms(kind)))
}

/// What the score is computed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inputs<'a> {
    pub kind: InterventionKind,
    /// The row's priority (`low`, `normal`, `high`, `urgent`): counted for human tasks only, where the
    /// workflow's author chose it (the engine fixes it for failures, the monitor for breaches).
    pub declared: &'a str,
    pub opened_at: i64,
    /// The row's own due time, if any.
    pub due_at: Option<i64>,
    pub amount_minor: Option<i64>,
}

/// The priority of an item at `now`.
pub fn score(inputs: &Inputs<'_>, now: i64) -> Priority {
    let mut parts: Vec<(String, i64)> = Vec::new();

    let due = due_at(inputs.kind, inputs.opened_at, inputs.due_at);
    let left = due - now;
    if left < 0 {
        let hours = (-left) / HOUR_MS;
        parts.push((format!("overdue by {}", span(-left)), (30 + 5 * hours).min(60)));
    } else {
        let points = match left {
            l if l <= HOUR_MS => 25,
            l if l <= 4 * HOUR_MS => 15,
            l if l <= DAY_MS => 5,
            _ => 0,
        };
        parts.push((format!("due in {}", span(left)), points));
    }

    let (kind_words, kind_points) = match inputs.kind {
        InterventionKind::CompensationFailed => ("failed compensation", 30),
        InterventionKind::RetriesExhausted => ("retries exhausted", 20),
        InterventionKind::SlaBreach => ("SLA breach", 20),
        InterventionKind::HumanTask => ("human task", 10),
    };

    if let Some(amount) = inputs.amount_minor {
        let points = match amount {
            a if a >= 10_000_000 => 40,
            a if a >= 1_000_000 => 30,
            a if a >= 100_000 => 20,
            a if a >= 10_000 => 10,
            a if a >= 1_000 => 5,
            _ => 0,
        };
        parts.push((format!("{} at stake", money(amount)), points));
    }

    let open = (now - inputs.opened_at).max(0);
    parts.push((format!("open {}", span(open)), (2 * (open / HOUR_MS)).min(20)));

    parts.push((kind_words.to_string(), kind_points));
    if inputs.kind == InterventionKind::HumanTask {
        // The column holds the workflow's word; one that is no level counts as `normal` (nothing).
        let declared = match inputs.declared.parse::<PriorityLevel>() {
            Ok(PriorityLevel::Urgent) => Some(20),
            Ok(PriorityLevel::High) => Some(10),
            Ok(PriorityLevel::Low) => Some(-5),
            Ok(PriorityLevel::Normal) | Err(_) => None,
        };
        if let Some(points) = declared {
            parts.push((format!("marked {} by the workflow", inputs.declared), points));
        }
    }

    let score: i64 = parts.iter().map(|(_, points)| points).sum();
    Priority {
        level: level(score),
        score,
        because: parts
            .into_iter()
            .map(|(words, points)| {
                let sign = if points < 0 { "" } else { "+" };
                format!("{words} ({sign}{points})")
            })
            .collect(),
    }
}

/// The level of a score.
pub fn level(score: i64) -> PriorityLevel {
    LEVELS.iter().find(|(from, _)| score >= *from).map_or(PriorityLevel::Low, |(_, level)| *level)
}

/// The largest amount of [`MONEY_FIELDS`] found at the top of the run's input (`context.input`), of
/// each step's output (`context.steps.<state>`), and of `step_input` (a failed step's input); `None`
/// when there is none. Only positive integers count.
pub fn amount_at_stake(context: &Value, step_input: Option<&Value>) -> Option<i64> {
    let steps = context.get("steps").and_then(Value::as_object).into_iter().flat_map(|steps| steps.values());
    context
        .get("input")
        .into_iter()
        .chain(steps)
        .chain(step_input)
        .filter_map(Value::as_object)
        .flat_map(|object| MONEY_FIELDS.iter().filter_map(|field| object.get(*field)))
        .filter_map(Value::as_i64)
        .filter(|amount| *amount > 0)
        .max()
}

/// A duration in words, as precise as it matters: `25 min`, `1 h 40 min` (under 10 h), `14 h`, `2 d`
/// (whole units, rounded down, at least `1 min`).
pub fn span(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < HOUR_MS {
        format!("{} min", (ms / MINUTE_MS).max(1))
    } else if ms < 10 * HOUR_MS && ms % HOUR_MS >= MINUTE_MS {
        format!("{} h {} min", ms / HOUR_MS, (ms % HOUR_MS) / MINUTE_MS)
    } else if ms < 2 * DAY_MS {
        format!("{} h", ms / HOUR_MS)
    } else {
        format!("{} d", ms / DAY_MS)
    }
}

/// Minor units as dollars: `$1,250.00`.
pub fn money(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let minor = minor.unsigned_abs();
    let whole = (minor / 100).to_string();
    let mut grouped = String::new();
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{sign}${grouped}.{:02}", minor % 100)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn inputs(kind: &'static str) -> Inputs<'static> {
        Inputs { kind: kind.parse().unwrap(), declared: "normal", opened_at: 0, due_at: None, amount_minor: None }
    }

    /// The points of the part of `inputs`' score at `now` whose words start with `prefix`.
    fn points(inputs: &Inputs<'_>, now: i64, prefix: &str) -> i64 {
        let part = score(inputs, now).because.into_iter().find(|b| b.starts_with(prefix)).expect(prefix);
        part.rsplit_once('(').unwrap().1.trim_end_matches(')').parse().unwrap()
    }

    /// The scheme the console shows states the figures the score uses.
    #[test]
    fn the_scheme_in_words_states_the_computed_figures() {
        let text = |title: &str| SCHEME.iter().find(|(t, _)| t.contains(title)).unwrap().1.replace("\n", " ");
        let (due, age, money, kind) = (text("SLA risk"), text("Age"), text("Money"), text("Kind"));
        let task = |due_in: i64| Inputs { due_at: Some(due_in), ..inputs("retries_exhausted") };
        for (due_in, words) in [(HOUR_MS, "within 1 h"), (4 * HOUR_MS, "within 4 h"), (DAY_MS, "within 24 h")] {
            let claim = format!("{words} +{}", points(&task(due_in), 0, "due in"));
            assert!(due.contains(&claim), "{claim} in {due}");
        }
        assert!(due.contains(&format!("overdue +{}", points(&task(-1), 0, "overdue"))));
        assert!(due.contains(&format!("at most +{}", points(&task(-100 * HOUR_MS), 0, "overdue"))));
        assert!(age.contains(&format!("at most +{}", points(&inputs("human_task"), 100 * DAY_MS, "open"))));
        for (minor, dollars) in [(1_000, "$10"), (10_000, "$100"), (100_000, "$1,000"), (1_000_000, "$10,000")] {
            let claim =
                format!("{dollars} +{}", points(&Inputs { amount_minor: Some(minor), ..inputs("human_task") }, 0, "$"));
            assert!(money.contains(&claim), "{claim} in {money}");
        }
        for (kind_name, words) in
            [("compensation_failed", "failed compensation"), ("retries_exhausted", "retries exhausted")]
        {
            let claim = format!("{words} +{}", points(&inputs(kind_name), 0, words));
            assert!(kind.contains(&claim), "{claim} in {kind}");
        }
    }

    #[test]
    fn overdue_counts_most_and_grows_by_the_hour_up_to_a_cap() {
        let task = Inputs { due_at: Some(HOUR_MS), ..inputs("human_task") };
        let at = |hours_over: i64| score(&task, HOUR_MS + hours_over * HOUR_MS + 30_000);
        assert_eq!(at(0).because[0], "overdue by 1 min (+30)");
        assert_eq!(at(2).because[0], "overdue by 2 h (+40)");
        assert_eq!(at(100).because[0], "overdue by 4 d (+60)");
        assert!(at(2).score > at(0).score);
    }

    #[test]
    fn the_closer_the_due_time_the_more_points() {
        let task = Inputs { due_at: Some(10 * DAY_MS), ..inputs("human_task") };
        let due_in = |ms: i64| score(&task, 10 * DAY_MS - ms).because[0].clone();
        assert_eq!(due_in(40 * MINUTE_MS), "due in 40 min (+25)");
        assert_eq!(due_in(3 * HOUR_MS), "due in 3 h (+15)");
        assert_eq!(due_in(20 * HOUR_MS), "due in 20 h (+5)");
        assert_eq!(due_in(3 * DAY_MS), "due in 3 d (+0)");
    }

    #[test]
    fn without_a_due_time_the_kind_sets_one() {
        assert_eq!(due_at(InterventionKind::CompensationFailed, 1_000, None), 1_000 + HOUR_MS);
        assert_eq!(due_at(InterventionKind::RetriesExhausted, 1_000, None), 1_000 + 2 * HOUR_MS);
        assert_eq!(due_at(InterventionKind::SlaBreach, 1_000, None), 1_000 + 4 * HOUR_MS);
        assert_eq!(due_at(InterventionKind::HumanTask, 1_000, None), 1_000 + DAY_MS);
        assert_eq!(due_at(InterventionKind::HumanTask, 1_000, Some(5)), 5);
    }

    #[test]
    fn kinds_rank_failed_compensation_then_exhausted_retries_then_human_tasks() {
        let at = |kind| score(&Inputs { due_at: Some(100 * DAY_MS), ..inputs(kind) }, 0).score;
        assert!(at("compensation_failed") > at("retries_exhausted"));
        assert!(at("retries_exhausted") > at("human_task"));
        let marked = |declared| score(&Inputs { declared, ..inputs("human_task") }, 0).score;
        assert!(marked("urgent") > marked("high") && marked("high") > marked("normal"));
        assert!(marked("low") < marked("normal"));
        // The engine's fixed priority of failures is their kind, not counted twice.
        let failure = |declared| score(&Inputs { declared, ..inputs("retries_exhausted") }, 0).score;
        assert_eq!(failure("urgent"), failure("normal"));
    }

    #[test]
    fn money_and_age_add_points_in_words() {
        let item = Inputs { amount_minor: Some(125_000), ..inputs("retries_exhausted") };
        let priority = score(&item, 3 * HOUR_MS + 5 * MINUTE_MS);
        assert_eq!(
            priority.because,
            [
                "overdue by 1 h 5 min (+35)",
                "$1,250.00 at stake (+20)",
                "open 3 h 5 min (+6)",
                "retries exhausted (+20)"
            ]
        );
        assert_eq!(priority.score, 81);
        assert_eq!(priority.level, "urgent");
        assert_eq!(score(&inputs("human_task"), 30 * HOUR_MS).because[1], "open 30 h (+20)");
    }

    #[test]
    fn levels_follow_the_thresholds() {
        assert_eq!(level(70), "urgent");
        assert_eq!(level(69), "high");
        assert_eq!(level(45), "high");
        assert_eq!(level(15), "normal");
        assert_eq!(level(14), "low");
        assert_eq!(level(-5), "low");
        // A fresh human task due in a day is normal work; a fresh failed compensation is high.
        assert_eq!(score(&inputs("human_task"), 0).level, "normal");
        assert_eq!(score(&inputs("compensation_failed"), 0).level, "high");
    }

    #[test]
    fn the_largest_amount_of_the_money_fields_is_at_stake() {
        let context = json!({
            "input": {"payout_id": "p-1", "amount_minor": 5_000, "bid_minor": 99_999_999},
            "steps": {"calculate-charge": {"charge_minor": 12_345}, "other": "text", "limits": {"limit_minor": 1}},
        });
        assert_eq!(amount_at_stake(&context, None), Some(12_345));
        assert_eq!(amount_at_stake(&context, Some(&json!({"gross_minor": 70_000}))), Some(70_000));
        assert_eq!(amount_at_stake(&json!({"input": {"amount": 12.5, "amount_minor": "12"}}), None), None);
        assert_eq!(amount_at_stake(&Value::Null, None), None);
    }

    #[test]
    fn money_and_spans_read_well() {
        assert_eq!(money(125_000), "$1,250.00");
        assert_eq!(money(5), "$0.05");
        assert_eq!(money(123_456_789), "$1,234,567.89");
        assert_eq!(money(-100), "-$1.00");
        assert_eq!(span(0), "1 min");
        assert_eq!(span(59 * MINUTE_MS), "59 min");
        assert_eq!(span(2 * HOUR_MS - 1), "1 h 59 min");
        assert_eq!(span(3 * HOUR_MS + 30_000), "3 h");
        assert_eq!(span(47 * HOUR_MS), "47 h");
        assert_eq!(span(49 * HOUR_MS), "2 d");
    }
}
