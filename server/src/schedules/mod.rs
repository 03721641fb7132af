//! Cron schedules for recurring workflows: durable, fired once per slot however many processes share
//! the database, with one rule for runs missed while no process was up.
//!
//! - [`cron`]: the five-field cron expression ([`Cron::parse`], [`Cron::next_after`]), UTC.
//! - [`store`]: the `schedules` table.
//! - [`http`]: `GET /api/schedules`, `PUT /api/schedules/{name}`, `POST /api/schedules/{name}/run`.
//! - [`Scheduler`]: the handle (in `AppState`) and its background task ([`Scheduler::spawn`]), which
//!   wakes at the earliest due slot and at least every [`MAX_SLEEP_MS`].
//!
//! **Firing a slot.** A due schedule is first *claimed* with a conditional UPDATE that moves
//! `next_run_at` from the value read to the next slot (`WHERE name = $1 AND next_run_at = $old`): of
//! several schedulers sharing one database exactly one wins, and only the winner starts the instance.
//! The start carries the idempotency key `schedule:<name>:<slot, minute precision, UTC>` (e.g.
//! `schedule:daily-settlement:2026-11-25T00:05Z`), so a start repeated for the same slot — after a
//! crash between claim and start, which the next tick repairs once [`CLAIM_GRACE_MS`] has passed — returns
//! the instance started the first time (`instances.start_key` is unique).
//!
//! **Missed runs.** When a schedule is found due with several of its slots in the past (no process was
//! running at those times), it runs **once**, for the most recent missed slot, and `next_run_at` moves
//! to the first slot after now; the older missed slots are skipped (and logged). A schedule that was
//! disabled does not catch up when enabled again: enabling sets `next_run_at` to the next future slot.
//!
//! **Input templates.** A schedule's input is JSON in which these placeholders, anywhere inside string
//! values, are replaced with values of the slot being fired (for a manual run: the time of the request):
//! `{{slot}}` (RFC 3339, `2026-11-25T00:05:00Z`), `{{slot_date}}` (`2026-11-25`) and
//! `{{slot_date_minus_1}}` (the day before, `2026-11-24`). Any other `{{…}}` is refused.

pub mod cron;
pub mod http;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::db::Database;
use crate::runtime::clock::Clock;
use crate::runtime::{self, Runtime, StartRequest};
use crate::store::AuditRow;

pub use self::cron::{Cron, CronError};
pub use self::http::router;
pub use self::store::ScheduleRow;

/// The longest the scheduler sleeps between looks at the table (other processes may add schedules).
pub const MAX_SLEEP_MS: i64 = 5_000;
/// How long a claimed slot may stay without a recorded instance before another tick starts it (with the
/// same idempotency key) — long enough for the claiming process to finish its start.
pub const CLAIM_GRACE_MS: i64 = 30_000;
/// How many past slots a late schedule skips at most while looking for the latest one.
const MAX_SKIPPED_SLOTS: u32 = 1_000_000;

/// The daily settlement: every day at 00:05 UTC, settle the day that just ended.
pub const DAILY_SETTLEMENT: &str = "daily-settlement";
const DAILY_SETTLEMENT_CRON: &str = "5 0 * * *";

/// Errors of schedules.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Cron(#[from] CronError),
    /// The input template is not usable; the message says why.
    #[error("input: {0}")]
    Template(String),
    #[error("no schedule named `{0}`")]
    NotFound(String),
    /// Starting the workflow failed (unknown workflow, input refused, database).
    #[error(transparent)]
    Runtime(#[from] runtime::Error),
    #[error(transparent)]
    Store(#[from] crate::store::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a schedule should be: the input of [`Scheduler::upsert`].
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduleSpec {
    pub name: String,
    pub workflow: String,
    /// Five fields, UTC (see [`cron`]).
    pub cron: String,
    /// The input template (see the module docs for placeholders).
    pub input: Value,
    /// Used when the schedule is created; an existing schedule keeps its flag.
    pub enabled: bool,
}

impl ScheduleSpec {
    /// The daily settlement schedule shipped by default: `5 0 * * *` with input
    /// `{"date": "{{slot_date_minus_1}}"}` — at 00:05 UTC, settle the previous day.
    pub fn daily_settlement() -> Self {
        Self {
            name: DAILY_SETTLEMENT.into(),
            workflow: DAILY_SETTLEMENT.into(),
            cron: DAILY_SETTLEMENT_CRON.into(),
            input: json!({"date": "{{slot_date_minus_1}}"}),
            enabled: true,
        }
    }
}

/// One slot fired (or a manual run).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fired {
    pub schedule: String,
    /// The slot, epoch milliseconds (for a manual run: when it was asked for).
    pub slot: i64,
    pub idempotency_key: String,
    pub instance_id: String,
    /// `false` when an earlier start with the same key had created the instance.
    pub created: bool,
    /// Older slots that were missed and skipped (the missed-run rule runs only the latest).
    pub skipped: u32,
}

/// The scheduler's handle: reads and changes schedules, fires due slots ([`Scheduler::tick`]), and runs
/// in the background ([`Scheduler::spawn`]). Cheap to clone.
#[derive(Clone)]
pub struct Scheduler {
    inner: Arc<Inner>,
}

struct Inner {
    runtime: Runtime,
    clock: Arc<dyn Clock>,
    wake: Notify,
}

impl Scheduler {
    /// A scheduler over the runtime's database, reading time from `clock`. Nothing runs until
    /// [`Scheduler::spawn`] (or [`Scheduler::tick`] in tests).
    pub fn new(runtime: Runtime, clock: Arc<dyn Clock>) -> Self {
        Self { inner: Arc::new(Inner { runtime, clock, wake: Notify::new() }) }
    }

    fn database(&self) -> &Database {
        self.inner.runtime.store().database()
    }

    fn now(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// Creates or updates a schedule. The cron and the input template are checked first (a bad cron
    /// names its field); an existing schedule keeps its `enabled` flag, and its `next_run_at` unless the
    /// cron changed.
    ///
    /// # Errors
    /// [`Error::Cron`], [`Error::Template`], or the workflow is not registered.
    pub async fn upsert(&self, spec: &ScheduleSpec) -> Result<ScheduleRow> {
        self.upsert_by(spec, None).await
    }

    /// [`Scheduler::upsert`] by an operator: the change and its audit entry (`schedule.update`, with
    /// the schedule before and after) are written in one transaction.
    ///
    /// # Errors
    /// As [`Scheduler::upsert`].
    pub async fn upsert_by(&self, spec: &ScheduleSpec, actor: Option<&str>) -> Result<ScheduleRow> {
        let cron = Cron::parse(&spec.cron)?;
        let now = self.now();
        render(&spec.input, now)?;
        self.inner.runtime.definition(&spec.workflow, None)?;
        let row = ScheduleRow {
            name: spec.name.clone(),
            workflow: spec.workflow.clone(),
            cron: cron.as_str().to_string(),
            input: spec.input.to_string(),
            enabled: i64::from(spec.enabled),
            next_run_at: cron.next_after(now),
            last_run_at: None,
            last_instance_id: None,
            updated_at: now,
        };
        let audit = match actor {
            Some(actor) => {
                let before = store::get(self.database(), &spec.name).await?;
                let facts = |r: &ScheduleRow| serde_json::json!({ "workflow": r.workflow, "cron": r.cron, "input": r.input, "enabled": r.enabled != 0 });
                let entry = AuditRow::ok(actor, "schedule.update", "schedule", &spec.name, now).after(&facts(&row));
                Some(match before {
                    Some(before) => entry.before(&facts(&before)),
                    None => entry,
                })
            }
            None => None,
        };
        store::upsert(self.database(), &row, audit.as_ref()).await?;
        self.inner.wake.notify_one();
        self.get(&spec.name).await
    }

    /// Registers the schedules shipped by default ([`ScheduleSpec::daily_settlement`]); needs the
    /// marketplace workflows.
    ///
    /// # Errors
    /// As [`Scheduler::upsert`].
    pub async fn register_defaults(&self) -> Result<()> {
        self.upsert(&ScheduleSpec::daily_settlement()).await.map(drop)
    }

    /// Every schedule, by name.
    pub async fn list(&self) -> Result<Vec<ScheduleRow>> {
        Ok(store::all(self.database()).await?)
    }

    /// One schedule.
    ///
    /// # Errors
    /// [`Error::NotFound`].
    pub async fn get(&self, name: &str) -> Result<ScheduleRow> {
        store::get(self.database(), name).await?.ok_or_else(|| Error::NotFound(name.into()))
    }

    /// Turns a schedule on or off. Turned on again, it resumes at the next future slot (no catch-up).
    ///
    /// # Errors
    /// [`Error::NotFound`].
    pub async fn set_enabled(&self, name: &str, enabled: bool) -> Result<ScheduleRow> {
        self.set_enabled_by(name, enabled, None).await
    }

    /// [`Scheduler::set_enabled`] by an operator, with its audit entry in the same transaction.
    ///
    /// # Errors
    /// As [`Scheduler::set_enabled`].
    pub async fn set_enabled_by(&self, name: &str, enabled: bool, actor: Option<&str>) -> Result<ScheduleRow> {
        let row = self.get(name).await?;
        let now = self.now();
        let next = Cron::parse(&row.cron)?.next_after(now);
        let action = if enabled { "schedule.enable" } else { "schedule.disable" };
        let audit = actor.map(|actor| {
            AuditRow::ok(actor, action, "schedule", name, now)
                .before(&serde_json::json!({ "enabled": row.enabled != 0 }))
                .after(&serde_json::json!({ "enabled": enabled }))
        });
        if !store::set_enabled(self.database(), name, enabled, next, now, audit.as_ref()).await? {
            return Err(Error::NotFound(name.into()));
        }
        self.inner.wake.notify_one();
        self.get(name).await
    }

    /// Starts the schedule's workflow now, by hand, with the key `schedule:<name>:manual:<now>`.
    ///
    /// # Errors
    /// [`Error::NotFound`], a template that does not render, or the start failed.
    pub async fn run_now(&self, name: &str, actor: &str) -> Result<Fired> {
        let row = self.get(name).await?;
        let now = self.now();
        let key = format!("schedule:{name}:manual:{}", rfc3339(now));
        let reason = format!("run by hand from schedule {name}");
        let started = self.start(&row, now, key.clone(), actor, &reason).await?;
        store::record_manual_run(self.database(), name, now, &started.instance.id).await?;
        Ok(Fired {
            schedule: row.name,
            slot: now,
            idempotency_key: key,
            instance_id: started.instance.id,
            created: started.created,
            skipped: 0,
        })
    }

    /// Fires every due slot once: first repairs slots claimed long ago whose start was never recorded,
    /// then claims and starts each due schedule (its latest due slot: see the missed-run rule in the
    /// module docs). A schedule whose start fails is logged and retried after [`CLAIM_GRACE_MS`].
    ///
    /// # Errors
    /// The schedules table cannot be read or updated.
    pub async fn tick(&self) -> Result<Vec<Fired>> {
        let database = self.database();
        let now = self.now();
        let mut fired = Vec::new();
        for row in store::unfinished(database, now - CLAIM_GRACE_MS).await? {
            let Some(slot) = row.last_run_at else { continue };
            // Take over the repair with the same kind of conditional update, so one process does it.
            if !store::reclaim(database, &row.name, slot, row.updated_at, now).await? {
                continue;
            }
            tracing::warn!(schedule = %row.name, slot = %rfc3339(slot), "starting a slot whose start was not recorded");
            fired.extend(self.fire(&row, slot, 0, now).await);
        }
        for row in store::due(database, now).await? {
            let cron = match Cron::parse(&row.cron) {
                Ok(cron) => cron,
                Err(error) => {
                    tracing::error!(schedule = %row.name, %error, "a stored schedule has a bad cron; skipped");
                    continue;
                }
            };
            let (slot, next, skipped) = latest_slot(&cron, row.next_run_at, now);
            if !store::claim(database, &row.name, row.next_run_at, next, slot, now).await? {
                continue; // another process fired this slot
            }
            if skipped > 0 {
                tracing::info!(
                    schedule = %row.name,
                    skipped,
                    slot = %rfc3339(slot),
                    "missed slots while no process was running: running the latest once"
                );
            }
            fired.extend(self.fire(&row, slot, skipped, now).await);
        }
        Ok(fired)
    }

    /// Starts the instance of a claimed slot and records it; a failure is logged (the slot stays
    /// unrecorded and is repaired by a later tick).
    async fn fire(&self, row: &ScheduleRow, slot: i64, skipped: u32, now: i64) -> Option<Fired> {
        let key = slot_key(&row.name, slot);
        let outcome = async {
            let reason = format!("schedule {} fired for {}", row.name, rfc3339(slot));
            let started = self.start(row, slot, key.clone(), &format!("schedule:{}", row.name), &reason).await?;
            store::record_instance(self.database(), &row.name, slot, &started.instance.id, now).await?;
            Ok::<_, Error>(started)
        }
        .await;
        match outcome {
            Ok(started) => {
                tracing::info!(schedule = %row.name, slot = %rfc3339(slot), instance = %started.instance.id, "schedule fired");
                Some(Fired {
                    schedule: row.name.clone(),
                    slot,
                    idempotency_key: key,
                    instance_id: started.instance.id,
                    created: started.created,
                    skipped,
                })
            }
            Err(error) => {
                tracing::error!(schedule = %row.name, slot = %rfc3339(slot), %error, "a scheduled start failed");
                None
            }
        }
    }

    /// Starts the schedule's workflow for `slot`, recording `actor` (a person, or `schedule:NAME` when
    /// it fired on its own) as who started it.
    async fn start(&self, row: &ScheduleRow, slot: i64, key: String, actor: &str, reason: &str) -> Result<runtime::Started> {
        let template: Value = serde_json::from_str(&row.input)
            .map_err(|error| Error::Template(format!("the stored template is not JSON: {error}")))?;
        let request = StartRequest {
            workflow: row.workflow.clone(),
            input: render(&template, slot)?,
            business_keys: [("schedule".to_string(), row.name.clone())].into(),
            idempotency_key: Some(key),
            started_by: Some(actor.to_string()),
            reason: Some(reason.to_string()),
            ..StartRequest::default()
        };
        Ok(self.inner.runtime.start_instance(request).await?)
    }

    /// Runs [`Scheduler::tick`] in the background: at once (which applies the missed-run rule to what
    /// was due while no process ran), then at the earliest next slot and at least every
    /// [`MAX_SLEEP_MS`]. Errors are logged and the loop goes on.
    pub fn spawn(&self) -> JoinHandle<()> {
        let scheduler = self.clone();
        tokio::spawn(async move {
            loop {
                // Of several nodes on one database, the leader fires the schedules (the conditional
                // claim keeps a slot single even if two nodes both believed they led for a moment).
                if !scheduler.inner.runtime.node().is_leader() {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
                if let Err(error) = scheduler.tick().await {
                    tracing::error!(%error, "the scheduler could not fire due schedules");
                }
                let now = scheduler.now();
                let earliest = store::earliest_due(scheduler.database()).await.ok().flatten();
                let wait = match earliest {
                    Some(at) if at > now => (at - now).min(MAX_SLEEP_MS),
                    // Due but not fired (e.g. a slot that just came due, or a row another process
                    // holds): look again soon, without spinning.
                    Some(_) => 1_000,
                    None => MAX_SLEEP_MS,
                };
                let wake = scheduler.inner.wake.notified();
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(wait.max(10).unsigned_abs())) => {}
                    () = wake => {}
                }
            }
        })
    }
}

/// The latest slot at or before `now`, starting from the due `next_run_at`; the first slot after `now`;
/// and how many older slots were passed over.
fn latest_slot(cron: &Cron, next_run_at: i64, now: i64) -> (i64, i64, u32) {
    let mut slot = next_run_at;
    let mut skipped = 0;
    loop {
        let next = cron.next_after(slot);
        if next > now || skipped >= MAX_SKIPPED_SLOTS {
            return (slot, cron.next_after(now.max(slot)), skipped);
        }
        slot = next;
        skipped += 1;
    }
}

/// The idempotency key of a scheduled slot: `schedule:<name>:<YYYY-MM-DDTHH:MMZ>`.
pub fn slot_key(name: &str, slot: i64) -> String {
    let time = DateTime::from_timestamp_millis(slot).unwrap_or_default();
    format!("schedule:{name}:{}", time.format("%Y-%m-%dT%H:%MZ"))
}

/// RFC 3339, UTC, milliseconds.
pub fn rfc3339(epoch_ms: i64) -> String {
    DateTime::from_timestamp_millis(epoch_ms)
        .map(|time| time.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_else(|| epoch_ms.to_string())
}

/// Replaces the placeholders (module docs) in every string of `template` with values of `slot`.
///
/// # Errors
/// [`Error::Template`] for an unknown or unclosed placeholder.
pub fn render(template: &Value, slot: i64) -> Result<Value> {
    let time: DateTime<Utc> = DateTime::from_timestamp_millis(slot).unwrap_or_default();
    let values = [
        ("slot", time.to_rfc3339_opts(SecondsFormat::Secs, true)),
        ("slot_date", time.format("%Y-%m-%d").to_string()),
        ("slot_date_minus_1", (time - chrono::Duration::days(1)).format("%Y-%m-%d").to_string()),
    ];
    render_value(template, &values, "input")
}

fn render_value(value: &Value, values: &[(&str, String)], path: &str) -> Result<Value> {
    Ok(match value {
        Value::String(text) => Value::String(render_text(text, values, path)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(index, item)| render_value(item, values, &format!("{path}[{index}]")))
                .collect::<Result<_>>()?,
        ),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(key, item)| Ok((key.clone(), render_value(item, values, &format!("{path}.{key}"))?)))
                .collect::<Result<_>>()?,
        ),
        other => other.clone(),
    })
}

fn render_text(text: &str, values: &[(&str, String)], path: &str) -> Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            return Err(Error::Template(format!("{path}: `{{{{` without a closing `}}}}`")));
        };
        let name = after[..close].trim();
        let Some((_, value)) = values.iter().find(|(known, _)| *known == name) else {
            let known: Vec<_> = values.iter().map(|(known, _)| format!("{{{{{known}}}}}")).collect();
            return Err(Error::Template(format!(
                "{path}: unknown placeholder `{{{{{name}}}}}` (known: {})",
                known.join(", ")
            )));
        };
        out.push_str(value);
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text).unwrap().timestamp_millis()
    }

    #[test]
    fn templates_fill_the_slot_and_the_day_before() {
        let slot = at("2026-03-01T00:05:00Z");
        let input = json!({"date": "{{slot_date_minus_1}}", "note": "run {{ slot }} for {{slot_date}}", "n": [1, "{{slot_date}}"]});
        assert_eq!(
            render(&input, slot).unwrap(),
            json!({"date": "2026-02-28", "note": "run 2026-03-01T00:05:00Z for 2026-03-01", "n": [1, "2026-03-01"]})
        );
        let error = render(&json!({"a": ["{{tomorrow}}"]}), slot).unwrap_err().to_string();
        assert!(error.starts_with("input: input.a[0]: unknown placeholder `{{tomorrow}}`"), "{error}");
        assert!(render(&json!("{{slot"), slot).is_err());
    }

    #[test]
    fn slot_keys_have_minute_precision() {
        assert_eq!(
            slot_key("daily-settlement", at("2026-11-25T00:05:00Z")),
            "schedule:daily-settlement:2026-11-25T00:05Z"
        );
    }

    #[test]
    fn a_late_schedule_runs_only_its_latest_slot() {
        let cron = Cron::parse("5 0 * * *").unwrap();
        let due = at("2026-11-20T00:05:00Z");
        let (slot, next, skipped) = latest_slot(&cron, due, at("2026-11-25T10:00:00Z"));
        assert_eq!((slot, next, skipped), (at("2026-11-25T00:05:00Z"), at("2026-11-26T00:05:00Z"), 5));
        let (slot, next, skipped) = latest_slot(&cron, due, due);
        assert_eq!((slot, next, skipped), (due, at("2026-11-21T00:05:00Z"), 0));
    }
}
