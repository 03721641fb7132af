//! `GET /api/audit`: the audit trail, newest first, filtered and in keyset pages.

use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;

use app::wire::{AuditEntry, AuditPage};

use crate::error::ApiError;
use crate::http::time::{parse as parse_time, rfc3339};
use crate::state::AppState;
use crate::store::AuditRow;
use crate::store::audit::AuditFilter;

/// Query of `GET /api/audit`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Who acted (a username).
    actor: Option<String>,
    /// An action name, or a prefix ending in `.` (`instance.`).
    action: Option<String>,
    /// What kind of thing was acted on (`instance`, `user`, `token`, …).
    target_kind: Option<String>,
    /// The id or name of the thing acted on.
    target_id: Option<String>,
    /// Entries about this instance.
    instance: Option<String>,
    /// At or after (RFC 3339).
    from: Option<String>,
    /// Before (RFC 3339).
    until: Option<String>,
    /// The `next_before` of the previous page.
    before: Option<String>,
    /// Entries per page, 1 to 500 (default 100).
    limit: Option<i64>,
}

/// The audit entry as the API shows it.
pub fn audit_entry(row: &AuditRow) -> AuditEntry {
    let parse = |text: &Option<String>| text.as_deref().and_then(|t| serde_json::from_str(t).ok());
    AuditEntry {
        id: row.id.clone(),
        at: rfc3339(row.at),
        actor: row.actor.clone(),
        action: row.action.clone(),
        target_kind: row.target_kind.clone(),
        target_id: row.target_id.clone(),
        instance_id: row.instance_id.clone(),
        reason: row.reason.clone(),
        before: parse(&row.before),
        after: parse(&row.after),
        outcome: row.outcome.clone(),
    }
}

/// `GET /api/audit`: newest first, filtered, in keyset pages (`before` = the last id seen).
pub(super) async fn audit(
    State(state): State<AppState>,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AuditPage>, ApiError> {
    let Query(query) = query.map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
    let blank = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let mut problems = Vec::new();
    let mut time = |name: &str, value: Option<String>| match blank(value) {
        Some(text) => match parse_time(&text) {
            Some(ms) => Some(ms),
            None => {
                problems.push(crate::error::field(name, "use RFC 3339, e.g. 2026-11-26T08:00:00Z"));
                None
            }
        },
        None => None,
    };
    let from = time("from", query.from);
    let until = time("until", query.until);
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        problems.push(crate::error::field("limit", "must be 1 to 500"));
    }
    if !problems.is_empty() {
        return Err(ApiError::invalid_fields(problems));
    }
    let filter = AuditFilter {
        actor: blank(query.actor),
        action: blank(query.action),
        target_kind: blank(query.target_kind),
        target_id: blank(query.target_id),
        instance_id: blank(query.instance),
        from,
        until,
        before: blank(query.before),
        limit: limit + 1,
    };
    let mut rows = state.runtime.store().audit(&filter).await.map_err(ApiError::from)?;
    let more = rows.len() as i64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(100));
    let next_before = if more { rows.last().map(|r| r.id.clone()) } else { None };
    Ok(Json(AuditPage { entries: rows.iter().map(audit_entry).collect(), next_before }))
}
