//! One transition on its way to the database: timed for the metrics and traced as a span.
//!
//! [`Committing::of`] is taken when the runtime hands a [`TransitionWrite`] to the group-commit writer
//! (`runtime::writer::Writer::commit`, the one path of every start, event and operator action);
//! [`Committing::done`] when the write is durable. The engine's apply comes microseconds before the
//! hand-off, so the latency is, in practice, event to committed: waiting for the batch and writing it.
//! A write that does not land (fenced, failed) is not counted; its span ends with `committed = false`.

use std::time::Instant;

use tracing::Span;

use super::traces::OTEL_TARGET;
use crate::store::write::TransitionWrite;

/// A transition handed to the writer and not yet durable.
pub struct Committing {
    /// `None` for writes without an instance row: nothing to count or trace.
    workflow: Option<String>,
    began: Instant,
    span: Span,
    committed: bool,
}

impl Committing {
    /// Starts timing (and, with trace export on, a span naming the instance, workflow and state).
    pub fn of(write: &TransitionWrite) -> Self {
        let row = write.instance.as_ref();
        let span = match row {
            Some(row) => tracing::info_span!(
                target: OTEL_TARGET,
                "transition",
                otel.name = %format!("transition {}", row.workflow),
                instance.id = %row.id,
                workflow = %row.workflow,
                state = row.current_state.as_deref().unwrap_or(""),
                status = %row.status,
                committed = tracing::field::Empty,
            ),
            None => Span::none(),
        };
        Self { workflow: row.map(|row| row.workflow.clone()), began: Instant::now(), span, committed: false }
    }

    /// The write is durable.
    pub fn done(mut self) {
        if let Some(workflow) = &self.workflow {
            super::metrics::transition_committed(workflow, self.began.elapsed());
        }
        self.committed = true;
        self.span.record("committed", true);
    }
}

impl Drop for Committing {
    /// Recorded once, at the end: an exporter may keep every value a field was given.
    fn drop(&mut self) {
        if !self.committed {
            self.span.record("committed", false);
        }
    }
}
