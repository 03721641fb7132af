//! The two ways a run waits without a service call: `wait` timers and `human` tasks.
//!
//! A wait state's due time comes from `duration_ms` or a context path (`wait_until`); a bad
//! time is a failure of the run. A human state opens a `human_task` intervention and resumes
//! at the state its decision names, storing the decision in the context.

use serde_json::{json, Value};

use crate::definition::{HumanState, WaitState};
use crate::effect::{Effect, InterventionKind};
use crate::error::{EngineError, Result};
use crate::instance::{Failure, Status, WaitingOn};
use crate::journal::Record;
use crate::path::Path;
use crate::timestamp::parse_rfc3339;
use crate::words::shorten;

use super::Tx;

impl<'d> Tx<'d, '_> {
    /// A `wait` state's timer fired: the run moves on.
    pub(super) fn wait_timer_fired(&mut self, state: &str) -> Result<()> {
        let w = self.wait_def(state)?;
        self.follow(w.next.as_deref())
    }

    pub(super) fn open_human(&mut self, name: &str, h: &HumanState) {
        let intervention_id = self.env.new_id();
        let due_at_ms = h.due_in_ms.map(|d| self.now.saturating_add(i64::try_from(d).unwrap_or(i64::MAX)));
        let decisions: Vec<String> = h.decisions.iter().map(|d| d.name.clone()).collect();
        self.emit(Effect::OpenIntervention {
            intervention_id: intervention_id.clone(),
            kind: InterventionKind::HumanTask,
            state: name.to_string(),
            decisions: decisions.clone(),
            assignee_group: Some(h.assignee_group.clone()),
            priority: h.priority,
            due_at_ms,
            reason: if h.title.is_empty() { format!("decision needed at '{name}'") } else { h.title.clone() },
        });
        self.note(Record::InterventionOpened {
            intervention_id: intervention_id.clone(),
            kind: InterventionKind::HumanTask,
        });
        self.set_status(Status::Waiting(WaitingOn::Human {
            state: name.to_string(),
            intervention_id,
            decisions,
            due_at_ms,
        }));
    }

    pub(super) fn human_decided(
        &mut self,
        state: &str,
        intervention_id: &str,
        decision: String,
        data: Value,
        actor: String,
        reason: String,
    ) -> Result<()> {
        let h = self.human_def(state)?;
        let Some(d) = h.decisions.iter().find(|d| d.name == decision) else {
            return Err(EngineError::UnknownDecision {
                decision,
                allowed: h.decisions.iter().map(|d| d.name.clone()).collect(),
            });
        };
        let record = json!({
            "decision": decision, "data": data, "actor": actor, "reason": reason,
            "decided_at_ms": self.now,
        });
        Self::result_path(state, h.result_path.as_ref())?.set(&mut self.inst.context, record);
        self.close_intervention(intervention_id);
        self.enter_main(d.next.clone())
    }
}

/// When a wait state's timer is due; a bad `until_path` is a failure of the run.
///
/// The path holds the time as epoch milliseconds (a JSON number without a fraction) or as RFC
/// 3339 text (`2026-03-01T12:00:00Z`, see [`parse_rfc3339`]).
pub(super) fn wait_until(name: &str, w: &WaitState, ctx: &Value, now: i64) -> std::result::Result<i64, Failure> {
    let fail = |message: String| Failure { state: Some(name.to_string()), code: "wait.bad_time".into(), message };
    if let Some(d) = w.duration_ms {
        return Ok(now.saturating_add(i64::try_from(d).unwrap_or(i64::MAX)));
    }
    let Some(p) = &w.until_path else {
        return Err(fail("the wait state has neither duration_ms nor until_path".into()));
    };
    let path = Path::parse(p).map_err(|e| fail(format!("until_path: {e}")))?;
    const WANT: &str = "epoch milliseconds (a whole number) or an RFC 3339 timestamp such as 2026-03-01T12:00:00Z";
    let at = shorten(p, 60);
    match path.get(ctx) {
        None | Some(Value::Null) => Err(fail(format!("`{at}` is missing; it must hold {WANT}"))),
        Some(Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
            (Some(ms), _) => Ok(ms),
            // Whole numbers written with a fraction or an exponent (1.7e12) are still milliseconds.
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
            _ => Err(fail(format!("`{at}` holds the number {n}, which is not {WANT}"))),
        },
        Some(Value::String(text)) => parse_rfc3339(text).map_err(|why| {
            let shown = Value::String(shorten(text, 40));
            fail(format!(
                "`{at}` holds the text {shown}, which is not an RFC 3339 timestamp ({why}); it must hold {WANT}"
            ))
        }),
        Some(other) => {
            let kind = if other.is_boolean() {
                "a boolean"
            } else if other.is_array() {
                "a list"
            } else {
                "an object"
            };
            Err(fail(format!("`{at}` holds {kind}; it must hold {WANT}")))
        }
    }
}
