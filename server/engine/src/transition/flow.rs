//! Control flow of the top-level graph: starting a run, entering states, choices, finishing.
//!
//! `Tx::enter_main` keeps entering states until the run has to wait for
//! something (a task call, a timer, a person) or ends: `choice` states are instantaneous,
//! `parallel` states hand over to the `parallel` module, `succeed` completes and `fail` either
//! compensates or stops with status `failed`. The workflow timeout also lands here.

use serde_json::{json, Value};

use crate::definition::{ChoiceState, Definition, FailState, State};
use crate::effect::{Effect, FinalStatus, TimerPurpose};
use crate::error::{EngineError, Result};
use crate::expr::Expr;
use crate::instance::{BranchRun, Cause, Cursor, FailedStep, Failure, ParallelRun, Status, WaitingOn};
use crate::path::{render, Path};
use crate::schema::validate_input;

use super::compensation::{outstanding, Outstanding};
use super::wait::wait_until;
use super::{missing, Tx};

impl<'d> Tx<'d, '_> {
    pub(super) fn start(&mut self, input: Value) -> Result<()> {
        validate_input(self.def, &input).map_err(EngineError::InvalidInput)?;
        self.inst.context = json!({"input": input, "steps": {}, "instance": self.inst.about()});
        for key in &self.def.business_keys {
            let Ok(path) = Path::parse(key) else { continue };
            if let Some(v) = path.get(&self.inst.context) {
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Null => continue,
                    other => other.to_string(),
                };
                self.inst.business_keys.insert(key.clone(), text);
            }
        }
        if let Some(ms) = self.def.timeouts.workflow_ms {
            let at = self.deadline(ms);
            let id = self.start_timer(at, TimerPurpose::WorkflowDeadline);
            self.inst.deadline_at_ms = Some(at);
            self.inst.deadline_timer = Some(id);
        }
        let first = self.def.start_at.clone();
        self.enter_main(first)
    }

    /// Enters a state of the top-level graph and keeps going through instantaneous states
    /// (choice) until the run has to wait for something.
    pub(super) fn enter_main(&mut self, name: String) -> Result<()> {
        let def: &'d Definition = self.def;
        let mut name = name;
        loop {
            self.entered(&name, None)?;
            let Some(state) = def.states.get(&name) else {
                return Err(missing(&name, "a state of the top-level graph"));
            };
            match state {
                State::Task(t) => {
                    let run = self.new_task(&name, t);
                    self.set_status(Status::Running(Cursor::Task(run)));
                    return Ok(());
                }
                State::Choice(c) => match self.choose(&name, c)? {
                    Some(next) => name = next,
                    None => return self.fail_workflow(no_match(&name)),
                },
                State::Parallel(p) => {
                    let mut branches = Vec::with_capacity(p.branches.len());
                    for b in &p.branches {
                        let status = self.advance_branch(b, b.start_at.clone(), Value::Null)?;
                        branches.push(BranchRun { name: b.name.clone(), status });
                    }
                    return self.settle_parallel(ParallelRun { state: name, branches, failure: None });
                }
                State::Wait(w) => {
                    return match wait_until(&name, w, &self.inst.context, self.now) {
                        Ok(fire_at_ms) => {
                            let timer_id = self.start_timer(fire_at_ms, TimerPurpose::Wait);
                            self.set_status(Status::Waiting(WaitingOn::Timer { state: name, timer_id, fire_at_ms }));
                            Ok(())
                        }
                        Err(f) => self.fail_workflow(f),
                    };
                }
                State::Human(h) => {
                    self.open_human(&name, h);
                    return Ok(());
                }
                State::Succeed(s) => {
                    let output = match &s.output {
                        Some(t) => render(t, &self.inst.context),
                        None => self.inst.context["steps"].clone(),
                    };
                    return self.complete(output);
                }
                State::Fail(f) => {
                    // The error a goto handled on the way here, if any, stays readable as the cause.
                    let cause = self.inst.context.get("error").cloned();
                    let failure = fail_state_failure(&name, f);
                    if f.compensate {
                        self.fail_workflow(failure)?;
                    } else {
                        self.finish_failed(failure, None)?;
                    }
                    if let (Some(cause), Some(Value::Object(error))) = (cause, self.inst.context.get_mut("error")) {
                        error.insert("cause".into(), cause);
                    }
                    return Ok(());
                }
            }
        }
    }

    /// Goes to `next`, or completes the workflow when there is none (`end: true`).
    pub(super) fn follow(&mut self, next: Option<&str>) -> Result<()> {
        match next {
            Some(n) => self.enter_main(n.to_string()),
            None => {
                let output = self.inst.context["steps"].clone();
                self.complete(output)
            }
        }
    }

    pub(super) fn choose(&self, name: &str, c: &ChoiceState) -> Result<Option<String>> {
        for (i, rule) in c.choices.iter().enumerate() {
            let e = Expr::parse(&rule.condition).map_err(|e| EngineError::Definition {
                state: name.to_string(),
                message: format!("condition {}: {e}", i + 1),
            })?;
            if e.eval(&self.inst.context) {
                return Ok(Some(rule.next.clone()));
            }
        }
        Ok(c.default.clone())
    }

    pub(super) fn complete(&mut self, output: Value) -> Result<()> {
        self.disarm_deadline();
        self.set_status(Status::Completed { output });
        self.emit(Effect::Finish { status: FinalStatus::Completed });
        Ok(())
    }

    pub(super) fn finish_failed(&mut self, failure: Failure, retry_from: Option<FailedStep>) -> Result<()> {
        self.disarm_deadline();
        self.set_error(&failure);
        self.set_status(Status::Failed { failure, retry_from });
        self.emit(Effect::Finish { status: FinalStatus::Failed });
        Ok(())
    }

    /// The saga default: a failure compensates the completed steps.
    pub(super) fn fail_workflow(&mut self, failure: Failure) -> Result<()> {
        self.begin_compensation(Cause::Failure(failure), Outstanding::default())
    }

    pub(super) fn workflow_timed_out(&mut self, status: &Status) -> Result<()> {
        // The timer fired, so there is nothing to cancel.
        self.inst.deadline_timer = None;
        let failure = Failure {
            state: self.inst.current_states().into_iter().next(),
            code: "workflow.timeout".into(),
            message: "the workflow did not finish within its timeout".into(),
        };
        self.begin_compensation(Cause::Failure(failure), outstanding(status))
    }
}

pub(super) fn no_match(state: &str) -> Failure {
    Failure {
        state: Some(state.to_string()),
        code: "choice.no_match".into(),
        message: "no condition matched and the choice has no default".into(),
    }
}

pub(super) fn fail_state_failure(name: &str, f: &FailState) -> Failure {
    Failure { state: Some(name.to_string()), code: f.error.clone(), message: f.message.clone() }
}
