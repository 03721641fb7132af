//! `/api/instances`: start instances, find them, read their history and steps, act on them — one at a
//! time or many at once (`/api/instances/bulk`).

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::Value;

use app::wire::{
    BulkAction, BulkActionKind, BulkActionResult, BulkFailure, BulkFilter, FieldError, HistoryEntry, InstanceAction,
    InstanceDetail, InstancePage, InstanceStatus, InstanceSummary, JournalEntry, JournalRecord, StartInstance,
    StepAttempt,
};

use crate::auth::Principal;
use crate::error::ApiError;
use crate::http::json::Body;
use crate::http::time::{self, rfc3339};
use crate::runtime::{self, convert, Command, StartRequest};
use crate::state::AppState;
use crate::store::read::{OperatorAction, Selection};
use crate::store::{InstanceFilter, InstanceRow, InstanceSummaryRow};

/// The routes of this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/instances", get(list).post(start))
        .route("/api/instances/bulk", post(bulk))
        .route("/api/instances/{id}", get(detail))
        .route("/api/instances/{id}/history", get(history))
        .route("/api/instances/{id}/steps", get(steps))
        .route("/api/instances/{id}/wait", get(wait))
        .route("/api/instances/{id}/{action}", post(act))
}

/// The most a page may hold, and the default.
const MAX_PAGE: i64 = 500;
const DEFAULT_PAGE: i64 = 50;
/// The longest `wait` may hold a request.
const MAX_WAIT: Duration = Duration::from_secs(60);
/// The most instances one bulk request acts on (and the most ids it may name).
const BULK_LIMIT: u64 = 10_000;
/// Failures listed in a bulk answer.
const BULK_FAILURES_LISTED: usize = 50;
/// Ids read per page while a bulk action is applied.
const BULK_PAGE: u64 = 500;
/// Instances a bulk action works on at once (each waits for its own durable commit).
const BULK_CONCURRENCY: usize = 16;

/// `POST /api/instances`: 201 once the start is durable; 200 with the earlier instance when the
/// idempotency key was used before.
pub async fn start(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    Body(request): Body<StartInstance>,
) -> Result<(StatusCode, Json<InstanceDetail>), ApiError> {
    let header_key = headers.get("idempotency-key").and_then(|value| value.to_str().ok()).map(str::to_string);
    let idempotency_key = match (request.idempotency_key, header_key) {
        (Some(body), Some(header)) if body != header => {
            return Err(ApiError::unprocessable(
                "the body's idempotency_key and the Idempotency-Key header differ",
                vec![FieldError { field: "idempotency_key".into(), message: "differs from the header".into() }],
            ))
        }
        (Some(key), _) | (None, Some(key)) => Some(key),
        (None, None) => None,
    };
    if idempotency_key.as_deref().is_some_and(str::is_empty) {
        return Err(ApiError::unprocessable(
            "idempotency_key: must not be empty",
            vec![FieldError { field: "idempotency_key".into(), message: "must not be empty".into() }],
        ));
    }
    let input = if request.input.is_null() { Value::Object(Default::default()) } else { request.input };
    let started = state
        .runtime
        .start_instance(StartRequest {
            workflow: request.workflow,
            version: request.version,
            input,
            business_keys: request.business_keys,
            idempotency_key,
            started_by: Some(principal.name.clone()),
            reason: None,
        })
        .await?;
    let status = if started.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(detail_of(&state, started.instance).await?)))
}

/// Query of `GET /api/instances`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// The workflow type.
    workflow: Option<String>,
    /// `created`, `running`, `waiting`, `compensating`, `needs_intervention`, `completed`, `failed`,
    /// `compensated` or `cancelled`.
    status: Option<String>,
    /// The definition version.
    version: Option<u32>,
    /// A business key value: buyer, seller, call or payout id.
    key: Option<String>,
    /// Created at or after (RFC 3339).
    from: Option<String>,
    /// Created before (RFC 3339).
    to: Option<String>,
    /// Text the error contains.
    error: Option<String>,
    /// Instances per page, 1 to 500 (default 50).
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// The longest text a filter field may hold (`workflow`, `key`, `error`).
const MAX_FILTER_TEXT: usize = 200;

/// `GET /api/instances`: newest first, filtered, paged by cursor.
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<InstancePage>, ApiError> {
    let Query(query) = query.map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
    let mut problems = Vec::new();
    let parameters = BulkFilter {
        workflow: query.workflow,
        status: query.status,
        version: query.version,
        key: query.key,
        from: query.from,
        to: query.to,
        error: query.error,
    };
    let filter = filter_of(parameters, "", &mut problems);
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        problems.push(FieldError { field: "limit".into(), message: format!("must be between 1 and {MAX_PAGE}") });
    }
    if !problems.is_empty() {
        return Err(ApiError::unprocessable("the query has invalid parameters", problems));
    }
    let rows = state
        .runtime
        .store()
        .list_instances(&filter, query.cursor.as_deref(), limit + 1)
        .await
        .map_err(ApiError::from)?;
    let more = rows.len() as i64 > limit;
    let items: Vec<InstanceSummary> =
        rows.into_iter().take(limit as usize).map(summary_of).collect::<Result<_, ApiError>>()?;
    let next_cursor = if more { items.last().map(|item| item.id.clone()) } else { None };
    Ok(Json(InstancePage { items, next_cursor }))
}

/// The filter of `GET /api/instances` (its query parameters) or of a bulk action (its `filter`),
/// checked: each bad value is added to `problems`, its field named `{prefix}{parameter}`.
fn filter_of(parameters: BulkFilter, prefix: &str, problems: &mut Vec<FieldError>) -> InstanceFilter {
    if let Some(Err(error)) = parameters.status.as_deref().map(str::parse::<InstanceStatus>) {
        problems.push(FieldError {
            field: format!("{prefix}status"),
            message: format!("must be one of {}", error.allowed.join(", ")),
        });
    }
    // Text is matched with LIKE; a long pattern costs the database and means nothing to a person.
    for (name, value) in [("workflow", &parameters.workflow), ("key", &parameters.key), ("error", &parameters.error)] {
        if value.as_ref().is_some_and(|text| text.chars().count() > MAX_FILTER_TEXT) {
            problems.push(FieldError {
                field: format!("{prefix}{name}"),
                message: format!("at most {MAX_FILTER_TEXT} characters"),
            });
        }
    }
    let mut time = |name: &str, text: &Option<String>| {
        text.as_deref().and_then(|text| {
            let parsed = time::parse(text);
            if parsed.is_none() {
                problems
                    .push(FieldError { field: format!("{prefix}{name}"), message: "must be an RFC 3339 time".into() });
            }
            parsed
        })
    };
    let created_from = time("from", &parameters.from);
    let created_to = time("to", &parameters.to);
    InstanceFilter {
        workflow: parameters.workflow,
        status: parameters.status,
        version: parameters.version.map(i64::from),
        business_key: parameters.key,
        created_from,
        created_to,
        error_contains: parameters.error,
    }
}

/// `GET /api/instances/{id}`.
pub async fn detail(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<InstanceDetail>, ApiError> {
    let row = find(&state, &id).await?;
    Ok(Json(detail_of(&state, row).await?))
}

/// `GET /api/instances/{id}/history`: every applied event, oldest first.
pub async fn history(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Vec<HistoryEntry>>, ApiError> {
    find(&state, &id).await?;
    let rows = state.runtime.store().journal(&id).await.map_err(ApiError::from)?;
    let mut entries: Vec<(i64, HistoryEntry)> = rows
        .into_iter()
        .map(|row| {
            let records: Vec<engine::JournalEntry> = serde_json::from_str(&row.entries).map_err(|error| {
                crate::store::Error::Corrupt(format!("journal entry {} of instance {id}: {error}", row.seq))
            })?;
            let entry = HistoryEntry {
                seq: row.seq,
                at: rfc3339(row.at),
                event: row.event,
                actor: row.actor,
                reason: row.reason,
                records: records.into_iter().map(convert::journal_entry_of).collect(),
            };
            Ok((row.at, entry))
        })
        .collect::<Result<_, ApiError>>()?;
    // What people did about the run's inbox items that changed nothing in the run itself (claims and
    // assignments) comes from the audit trail; numbered -1, -2, … in the order they happened.
    let filter = crate::store::audit::AuditFilter {
        instance_id: Some(id.clone()),
        action: Some("intervention.".into()),
        limit: 1000,
        ..Default::default()
    };
    let mut audited = state.runtime.store().audit(&filter).await.map_err(ApiError::from)?;
    audited.reverse();
    let inbox_only = audited.into_iter().filter(|row| row.action != "intervention.resolve");
    for (number, row) in (1..).zip(inbox_only) {
        let event = match row.action.as_str() {
            "intervention.claim" => "intervention_claimed",
            "intervention.assign" => "intervention_assigned",
            "intervention.unassign" => "intervention_unassigned",
            _ => continue,
        };
        let parse = |text: &Option<String>| text.as_deref().and_then(|t| serde_json::from_str::<Value>(t).ok());
        let record = JournalRecord::Audit {
            intervention_id: row.target_id,
            before: parse(&row.before),
            after: parse(&row.after),
        };
        let records = vec![JournalEntry { at_ms: row.at, actor: None, reason: None, record }];
        let entry = HistoryEntry {
            seq: -number,
            at: rfc3339(row.at),
            event: event.to_string(),
            actor: Some(row.actor),
            reason: row.reason,
            records,
        };
        entries.push((row.at, entry));
    }
    entries.sort_by_key(|(at, entry)| (*at, entry.seq < 0, entry.seq.abs()));
    Ok(Json(entries.into_iter().map(|(_, entry)| entry).collect()))
}

/// `GET /api/instances/{id}/steps`: every finished attempt, in the order they finished.
pub async fn steps(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Vec<StepAttempt>>, ApiError> {
    find(&state, &id).await?;
    let rows = state.runtime.store().steps(&id).await.map_err(ApiError::from)?;
    let attempts = rows
        .into_iter()
        .map(|row| StepAttempt {
            step_id: row.step_id,
            state: row.state,
            kind: row.kind,
            service: row.service,
            action: row.action,
            attempt: u32::try_from(row.attempt).unwrap_or_default(),
            idempotency_key: row.idempotency_key,
            started_at: rfc3339(row.started_at),
            finished_at: rfc3339(row.finished_at),
            duration_ms: row.duration_ms,
            queue_wait_ms: row.started_at - row.scheduled_at,
            outcome: row.outcome,
            error: row.error,
        })
        .collect();
    Ok(Json(attempts))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WaitQuery {
    /// How long to wait, in milliseconds (at most 60,000; default 30,000).
    timeout_ms: Option<u64>,
}

/// `GET /api/instances/{id}/wait`: answers once the instance has settled (finished, failed, or waiting
/// for a person) or the timeout passed, with the instance as it is then.
pub async fn wait(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<WaitQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<InstanceDetail>, ApiError> {
    let Query(query) = query.map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
    let timeout = Duration::from_millis(query.timeout_ms.unwrap_or(30_000)).min(MAX_WAIT);
    let row = state.runtime.wait_settled(&id, timeout).await?;
    Ok(Json(detail_of(&state, row).await?))
}

/// `POST /api/instances/{id}/{cancel|retry|skip|pause|resume}`: answers with the instance once the
/// action is durable; 409 when the instance's state does not allow it.
pub async fn act(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path((id, action)): Path<(String, String)>,
    Body(request): Body<InstanceAction>,
) -> Result<Json<InstanceDetail>, ApiError> {
    let field = |name: &str, message: &str| FieldError { field: name.into(), message: message.into() };
    if request.reason.trim().is_empty() {
        return Err(ApiError::unprocessable("reason: say why", vec![field("reason", "must not be empty")]));
    }
    let not_for = |name: &str| {
        ApiError::unprocessable(format!("{name}: not used by {action}"), vec![field(name, "not used by this action")])
    };
    let command = match action.as_str() {
        "cancel" | "pause" | "resume" if request.input.is_some() => return Err(not_for("input")),
        "cancel" | "pause" | "resume" | "retry" if request.output.is_some() => return Err(not_for("output")),
        "skip" if request.input.is_some() => return Err(not_for("input")),
        "cancel" => Command::Cancel,
        "pause" => Command::Pause,
        "resume" => Command::Resume,
        "retry" => Command::Retry { edited_input: request.input },
        "skip" => Command::Skip { output: request.output.unwrap_or(Value::Null) },
        other => {
            return Err(ApiError::NotFound(format!("no action `{other}`; use cancel, retry, skip, pause or resume")))
        }
    };
    find(&state, &id).await?;
    // The caller is the actor (a body's `actor` is ignored: people cannot act in someone else's name).
    let row = state.runtime.command(&id, command, &principal.name, request.reason.trim()).await?;
    Ok(Json(detail_of(&state, row).await?))
}

/// `POST /api/instances/bulk`: one operator action on the instances `ids` or `filter` select. Counts
/// them (two `count(*)`s: matched, and those the action applies to); unless `preview`, applies the
/// action to each one it applies to, in id order and at most [`BULK_LIMIT`], through the same runtime
/// path as the single-instance actions (so each is in its instance's history with actor and reason).
pub async fn bulk(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Body(request): Body<BulkAction>,
) -> Result<Json<BulkActionResult>, ApiError> {
    let field = |name: &str, message: &str| FieldError { field: name.into(), message: message.into() };
    let mut problems = Vec::new();
    if request.reason.trim().is_empty() {
        problems.push(field("reason", "must not be empty"));
    }
    let selection = match (request.ids, request.filter) {
        (Some(_), Some(_)) => {
            problems.push(field("ids", "give either ids or filter, not both"));
            problems.push(field("filter", "give either ids or filter, not both"));
            None
        }
        (None, None) => {
            problems.push(field("ids", "give either ids or filter"));
            problems.push(field("filter", "give either ids or filter"));
            None
        }
        (Some(mut ids), None) => {
            ids.sort_unstable();
            ids.dedup();
            if ids.is_empty() {
                problems.push(field("ids", "must not be empty"));
            } else if ids.len() as u64 > BULK_LIMIT {
                problems.push(field("ids", &format!("at most {BULK_LIMIT} ids")));
            }
            Some(Selection::Ids(ids))
        }
        (None, Some(filter)) => {
            // An empty filter is every instance: acting on all of them must be said in so many words.
            if filter.is_empty() && !request.all && !request.preview {
                problems.push(field(
                    "all",
                    "the filter is empty, so it selects every instance; send \"all\": true to act on all of them",
                ));
            }
            if request.all && !filter.is_empty() {
                problems.push(field("all", "only goes with an empty filter; the filter already says which instances"));
            }
            Some(Selection::Filter(filter_of(filter, "filter.", &mut problems)))
        }
    };
    if request.all && selection.as_ref().is_some_and(|selection| matches!(selection, Selection::Ids(_))) {
        problems.push(field("all", "only goes with an empty filter, not with ids"));
    }
    let selection = match (selection, problems.as_slice()) {
        (Some(selection), []) => selection,
        (_, [one]) => return Err(ApiError::unprocessable(format!("{}: {}", one.field, one.message), problems)),
        _ => return Err(ApiError::unprocessable("the bulk action has invalid fields", problems)),
    };

    let store = state.runtime.store();
    let (action, command) = match request.action {
        BulkActionKind::Retry => (OperatorAction::Retry, Command::Retry { edited_input: None }),
        BulkActionKind::Cancel => (OperatorAction::Cancel, Command::Cancel),
        BulkActionKind::Pause => (OperatorAction::Pause, Command::Pause),
        BulkActionKind::Resume => (OperatorAction::Resume, Command::Resume),
    };
    let matched = store.count_selected(&selection, None).await.map_err(ApiError::from)?;
    let eligible = store.count_selected(&selection, Some(action)).await.map_err(ApiError::from)?;
    let (matched, eligible) = (u64::try_from(matched).unwrap_or(0), u64::try_from(eligible).unwrap_or(0));
    let mut result = BulkActionResult {
        preview: request.preview,
        matched,
        eligible,
        limit: BULK_LIMIT,
        applied: 0,
        failed: Vec::new(),
        failed_count: 0,
        remaining: eligible.saturating_sub(BULK_LIMIT),
    };
    if request.preview {
        return Ok(Json(result));
    }

    let actor = principal.name.as_str();
    let reason = request.reason.trim();
    let mut attempted = 0u64;
    let mut after: Option<String> = None;
    while attempted < BULK_LIMIT {
        let page = i64::try_from(BULK_PAGE.min(BULK_LIMIT - attempted)).unwrap_or(1);
        let ids = store.applicable_ids(&selection, action, after.as_deref(), page).await.map_err(ApiError::from)?;
        let Some(last) = ids.last().cloned() else { break };
        attempted += ids.len() as u64;
        after = Some(last);
        let outcomes: Vec<(String, runtime::Result<InstanceRow>)> = futures::stream::iter(ids)
            .map(|id| {
                let command = command.clone();
                let runtime = &state.runtime;
                async move {
                    let outcome = runtime.command(&id, command, actor, reason).await;
                    (id, outcome)
                }
            })
            .buffered(BULK_CONCURRENCY)
            .collect()
            .await;
        for (id, outcome) in outcomes {
            match outcome {
                Ok(_) => result.applied += 1,
                Err(error) => {
                    result.failed_count += 1;
                    if result.failed.len() < BULK_FAILURES_LISTED {
                        result.failed.push(BulkFailure { id, error: ApiError::from(error).public_message() });
                    }
                }
            }
        }
    }
    // Stopped short of the limit: nothing eligible is left (some may have moved on since they were counted).
    if attempted < BULK_LIMIT {
        result.remaining = 0;
    }
    tracing::info!(
        action = ?request.action,
        actor,
        matched,
        eligible,
        applied = result.applied,
        failed = result.failed_count,
        "bulk operator action"
    );
    Ok(Json(result))
}

async fn find(state: &AppState, id: &str) -> Result<InstanceRow, ApiError> {
    state
        .runtime
        .store()
        .instance(id)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::NotFound(format!("no instance with id `{id}`")))
}

fn summary_of(row: InstanceSummaryRow) -> Result<InstanceSummary, ApiError> {
    Ok(InstanceSummary {
        status: row.status()?,
        id: row.id,
        workflow: row.workflow,
        version: u32::try_from(row.version).unwrap_or_default(),
        current_state: row.current_state,
        paused: row.paused != 0,
        error: row.error,
        created_at: rfc3339(row.created_at),
        updated_at: rfc3339(row.updated_at),
        finished_at: row.finished_at.map(rfc3339),
    })
}

async fn detail_of(state: &AppState, row: InstanceRow) -> Result<InstanceDetail, ApiError> {
    let instance = convert::instance_of(&row).map_err(ApiError::from)?;
    let keys: BTreeMap<String, String> = state
        .runtime
        .store()
        .business_keys(&row.id)
        .await
        .map_err(ApiError::from)?
        .into_iter()
        .collect();
    let output = match &instance.status {
        engine::Status::Completed { output } => Some(output.clone()),
        _ => None,
    };
    let summary = summary_of(row.summary())?;
    Ok(InstanceDetail {
        summary,
        business_keys: keys,
        input: instance.context.get("input").cloned().unwrap_or(Value::Null),
        open_intervention: instance.open_intervention().map(str::to_string),
        engine_status: serde_json::to_value(&instance.status).unwrap_or(Value::Null),
        context: instance.context,
        output,
    })
}
