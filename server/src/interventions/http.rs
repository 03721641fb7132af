//! `/api/interventions`: list and count the inbox, read one item, claim, assign and resolve — one item
//! or many (`bulk-resolve`). Every change is made as the signed-in caller ([`Principal`]) and leaves an
//! audit entry written with it; each is announced on the event bus.

use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};

use app::wire::{
    AssignIntervention, BulkResolve, BulkResolveFailure, BulkResolveResult, FieldError, InboxCounts,
    InterventionChange, InterventionDetail, InterventionEvent, InterventionItem, InterventionList, LiveEvent,
    Permission, ResolveIntervention, Role,
};
use engine::instance::Blocked;
use engine::{Event, Instance, Resolution, Status};

use super::priority;
use super::store::{Holder, InboxQuery, InboxRow, ViewCounts};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::http::api::json::Body;
use crate::http::api::time::rfc3339;
use crate::runtime;
use crate::state::AppState;
use crate::store::audit::AuditFilter;
use crate::store::AuditRow;

/// Items a list answers by default, and at most.
const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 500;
/// Open items ranked per list request: the oldest this many that match (ranking needs each item's run).
const RANKED: i64 = 5_000;
/// Ids one bulk resolve may name.
const BULK_LIMIT: usize = 500;
/// Items a bulk resolve works on at once (each waits for its own durable commit).
const BULK_CONCURRENCY: usize = 8;

const VIEWS: [&str; 5] = ["mine", "unassigned", "all", "overdue", "resolved"];
const KINDS: [&str; 4] = ["human_task", "retries_exhausted", "compensation_failed", "sla_breach"];
const LEVELS: [&str; 4] = ["urgent", "high", "normal", "low"];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/interventions", get(list))
        .route("/api/interventions/counts", get(counts))
        .route("/api/interventions/bulk-resolve", post(bulk_resolve))
        .route("/api/interventions/{id}", get(detail))
        .route("/api/interventions/{id}/claim", post(claim))
        .route("/api/interventions/{id}/assign", post(assign))
        .route("/api/interventions/{id}/resolve", post(resolve))
        .layer(DefaultBodyLimit::max(crate::http::api::MAX_BODY_BYTES))
}

/// Query of `GET /api/interventions`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// `mine`, `unassigned`, `all` (default), `overdue` or `resolved`.
    view: Option<String>,
    /// `human_task`, `retries_exhausted`, `compensation_failed` or `sla_breach`.
    kind: Option<String>,
    /// Only this workflow type.
    workflow: Option<String>,
    /// `urgent`, `high`, `normal` or `low`.
    priority: Option<String>,
    /// At most this many, 1 to 500 (default 100).
    limit: Option<i64>,
}

/// `GET /api/interventions`: open items of a view, most urgent first (score, then oldest); `resolved`:
/// closed items, most recently closed first. With the open views' counts.
async fn list(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<InterventionList>, ApiError> {
    let Query(query) = query.map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
    let mut problems = Vec::new();
    let one_of = |name: &str, value: &Option<String>, allowed: &[&str], problems: &mut Vec<FieldError>| {
        if value.as_deref().is_some_and(|v| !allowed.contains(&v)) {
            problems.push(crate::error::field(name, format!("must be one of {}", allowed.join(", "))));
        }
    };
    one_of("view", &query.view, &VIEWS, &mut problems);
    one_of("kind", &query.kind, &KINDS, &mut problems);
    one_of("priority", &query.priority, &LEVELS, &mut problems);
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        problems.push(crate::error::field("limit", format!("must be between 1 and {MAX_LIMIT}")));
    }
    if !problems.is_empty() {
        return Err(ApiError::unprocessable("the query has invalid parameters", problems));
    }

    let now = state.runtime.now_ms();
    let store = state.runtime.store();
    let view = query.view.as_deref().unwrap_or("all");
    let resolved = view == "resolved";
    let selection = InboxQuery {
        open: !resolved,
        holder: match view {
            "mine" => Holder::Is(principal.name.clone()),
            "unassigned" => Holder::Nobody,
            _ => Holder::Anyone,
        },
        due_before: (view == "overdue").then_some(now),
        kind: query.kind,
        workflow: query.workflow,
        limit: if resolved && query.priority.is_none() { limit } else { RANKED },
    };
    let rows = store.inbox_items(&selection).await.map_err(ApiError::from)?;
    let mut items: Vec<(i64, &InboxRow, InterventionItem)> = rows
        .iter()
        .map(|row| (row.opened_at, row, item_of(row, now)))
        .filter(|(_, _, item)| query.priority.as_deref().is_none_or(|level| item.priority.level == level))
        .collect();
    if !resolved {
        items.sort_by(|(a_at, a, a_item), (b_at, b, b_item)| {
            b_item.priority.score.cmp(&a_item.priority.score).then(a_at.cmp(b_at)).then(a.id.cmp(&b.id))
        });
    }
    let items = items.into_iter().take(usize::try_from(limit).unwrap_or(0)).map(|(_, _, item)| item).collect();
    let counts = wire_counts(store.inbox_counts(&principal.name, now).await.map_err(ApiError::from)?);
    Ok(Json(InterventionList { items, counts }))
}

/// `GET /api/interventions/counts`: open items per view, for the navigation's badge.
async fn counts(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<InboxCounts>, ApiError> {
    let now = state.runtime.now_ms();
    let counts = state.runtime.store().inbox_counts(&principal.name, now).await.map_err(ApiError::from)?;
    Ok(Json(wire_counts(counts)))
}

/// `GET /api/interventions/{id}`.
async fn detail(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<InterventionDetail>, ApiError> {
    let row = find(&state, &id).await?;
    Ok(Json(detail_of(&state, row).await?))
}

/// `POST /api/interventions/{id}/claim` (no body, or `{}`): the item becomes the caller's. Of many
/// claims at once exactly one wins; claiming one's own item again is fine.
async fn claim(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<InterventionDetail>, ApiError> {
    let me = principal.name.as_str();
    let now = state.runtime.now_ms();
    let row = find(&state, &id).await?;
    if !claimable(&row, me, now)? {
        let audit = audit_row(me, "intervention.claim", &row, now)
            .before(&json!({ "assignee": null }))
            .after(&json!({ "assignee": me }));
        let store = state.runtime.store();
        if store.claim_intervention(&id, me, now, &audit).await.map_err(ApiError::from)? {
            publish(&state, &row, "claimed", Some(me));
        } else {
            // Someone else got there first (or it was resolved meanwhile): say who.
            let row = find(&state, &id).await?;
            if !claimable(&row, me, now)? {
                return Err(ApiError::Conflict("the item changed meanwhile; look again".into()));
            }
        }
    }
    let row = find(&state, &id).await?;
    Ok(Json(detail_of(&state, row).await?))
}

/// Whether `me` may claim the item: `Ok(true)` when it is theirs already, `Ok(false)` when it is free,
/// 409 when it is resolved or held by someone else.
fn claimable(row: &InboxRow, me: &str, now: i64) -> Result<bool, ApiError> {
    if !row.is_open() {
        return Err(already_resolved(row, now));
    }
    match row.assignee.as_deref() {
        Some(holder) if holder == me => Ok(true),
        Some(holder) => Err(ApiError::Conflict(format!(
            "already claimed by {holder} at {}",
            clock(row.assigned_at.unwrap_or(now), now)
        ))),
        None => Ok(false),
    }
}

/// `POST /api/interventions/{id}/assign`: gives the item to a user who may work interventions, or
/// (`assignee: null`) to nobody.
async fn assign(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    Body(request): Body<AssignIntervention>,
) -> Result<Json<InterventionDetail>, ApiError> {
    let me = principal.name.as_str();
    let now = state.runtime.now_ms();
    let row = find(&state, &id).await?;
    let after = request.assignee.map(|name| name.trim().to_string());
    if let Some(name) = &after {
        check_assignee(&state, name).await?;
    }
    if !row.is_open() {
        return Err(already_resolved(&row, now));
    }
    if row.assignee == after {
        return Ok(Json(detail_of(&state, row).await?));
    }
    let action = if after.is_some() { "intervention.assign" } else { "intervention.unassign" };
    let mut audit = audit_row(me, action, &row, now)
        .before(&json!({ "assignee": row.assignee }))
        .after(&json!({ "assignee": after }));
    if let Some(reason) = request.reason.as_deref().map(str::trim).filter(|reason| !reason.is_empty()) {
        audit = audit.reason(reason);
    }
    let store = state.runtime.store();
    let moved = store
        .reassign_intervention(&id, row.assignee.as_deref(), after.as_deref(), now, &audit)
        .await
        .map_err(ApiError::from)?;
    let current = find(&state, &id).await?;
    if !moved {
        if !current.is_open() {
            return Err(already_resolved(&current, now));
        }
        let holder = current.assignee.as_deref().unwrap_or("nobody");
        return Err(ApiError::Conflict(format!("the item changed meanwhile: it is now held by {holder}; look again")));
    }
    publish(&state, &current, if after.is_some() { "assigned" } else { "unassigned" }, after.as_deref());
    Ok(Json(detail_of(&state, current).await?))
}

/// 422 naming `assignee` unless `name` is an enabled user whose role may work interventions.
async fn check_assignee(state: &AppState, name: &str) -> Result<(), ApiError> {
    let refuse = |message: String| Err(ApiError::unprocessable(format!("assignee: {message}"), vec![crate::error::field("assignee", message)]));
    if name.is_empty() {
        return refuse("must not be empty; send null to unassign".into());
    }
    let Some(user) = state.access.store.user_by_name(name).await.map_err(ApiError::from)? else {
        return refuse(format!("there is no user named {name}"));
    };
    if user.disabled_at.is_some() {
        return refuse(format!("{name} is disabled"));
    }
    let role = Role::parse(&user.role);
    if !role.is_some_and(|role| role.allows(Permission::WorkInterventions)) {
        return refuse(format!(
            "{name} is {}, a role that may not work interventions; choose a reviewer or an admin",
            role.map_or(user.role.as_str(), |role| role.as_str())
        ));
    }
    Ok(())
}

/// `POST /api/interventions/{id}/resolve`: answers the item with one of its choices, as the caller.
async fn resolve(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    Body(request): Body<ResolveIntervention>,
) -> Result<Json<InterventionDetail>, ApiError> {
    let reason = request.reason.trim();
    if reason.is_empty() {
        return Err(ApiError::unprocessable("reason: say why", vec![crate::error::field("reason", "must not be empty")]));
    }
    let row = find(&state, &id).await?;
    let answer = Answer {
        choice: request.choice.trim(),
        reason,
        input: request.input,
        output: request.output,
        data: request.data,
    };
    resolve_row(&state, &principal.name, &row, answer).await?;
    let row = find(&state, &id).await?;
    Ok(Json(detail_of(&state, row).await?))
}

/// `POST /api/interventions/bulk-resolve`: one choice and reason for many items, each resolved as
/// `resolve` would; the refused ones are listed with why.
async fn bulk_resolve(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Body(request): Body<BulkResolve>,
) -> Result<Json<BulkResolveResult>, ApiError> {
    let mut problems = Vec::new();
    let reason = request.reason.trim();
    if reason.is_empty() {
        problems.push(crate::error::field("reason", "must not be empty"));
    }
    let choice = request.choice.trim();
    if choice.is_empty() {
        problems.push(crate::error::field("choice", "must not be empty"));
    }
    let mut ids = Vec::with_capacity(request.ids.len());
    for id in request.ids {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    if ids.is_empty() {
        problems.push(crate::error::field("ids", "must not be empty"));
    } else if ids.len() > BULK_LIMIT {
        problems.push(crate::error::field("ids", format!("at most {BULK_LIMIT} ids")));
    }
    match problems.as_slice() {
        [] => {}
        [one] => return Err(ApiError::unprocessable(format!("{}: {}", one.field, one.message), problems)),
        _ => return Err(ApiError::unprocessable("the bulk resolve has invalid fields", problems)),
    }

    let me = principal.name.as_str();
    let data = request.data;
    let outcomes: Vec<(String, Result<(), ApiError>)> = futures::stream::iter(ids)
        .map(|id| {
            let (state, data) = (&state, data.clone());
            async move {
                let outcome = async {
                    let row = find(state, &id).await?;
                    let answer = Answer { choice, reason, input: None, output: None, data };
                    resolve_row(state, me, &row, answer).await
                }
                .await;
                (id, outcome)
            }
        })
        .buffered(BULK_CONCURRENCY)
        .collect()
        .await;
    let mut result = BulkResolveResult { resolved: 0, refused: Vec::new() };
    for (id, outcome) in outcomes {
        match outcome {
            Ok(()) => result.resolved += 1,
            Err(error) => result.refused.push(BulkResolveFailure { id, message: ApiError::public_message(error) }),
        }
    }
    tracing::info!(actor = me, choice, resolved = result.resolved, refused = result.refused.len(), "bulk resolve");
    Ok(Json(result))
}

/// What a resolver chose.
struct Answer<'a> {
    choice: &'a str,
    reason: &'a str,
    input: Option<Value>,
    output: Option<Value>,
    data: Option<Value>,
}

/// Resolves one item as `me`: checks it is open and not someone else's, that the choice is one of its
/// choices and the fields fit the choice, then answers it — an event to its run, or for an SLA breach
/// the row closed here. Returns once the resolution is durable.
async fn resolve_row(state: &AppState, me: &str, row: &InboxRow, answer: Answer<'_>) -> Result<(), ApiError> {
    let now = state.runtime.now_ms();
    if !row.is_open() {
        return Err(already_resolved(row, now));
    }
    if let Some(holder) = row.assignee.as_deref().filter(|holder| *holder != me) {
        return Err(held_by(holder));
    }
    let choices = choices_of(row);
    let compensation = row.kind == "compensation_failed";
    let mut problems = Vec::new();
    if !choices.iter().any(|c| c == answer.choice) {
        problems.push(crate::error::field("choice", format!("must be one of {}", choices.join(", "))));
    }
    if answer.input.is_some() {
        if compensation {
            problems.push(crate::error::field("input", "a compensation is retried with its own input; leave input out"));
        } else if answer.choice != "retry" {
            problems.push(crate::error::field("input", "only with the choice retry"));
        }
    }
    if answer.output.is_some() {
        if compensation {
            problems.push(crate::error::field("output", "a skipped compensation counts as done by hand; it has no output"));
        } else if answer.choice != "skip" {
            problems.push(crate::error::field("output", "only with the choice skip"));
        }
    }
    if answer.data.is_some() && row.kind != "human_task" {
        problems.push(crate::error::field("data", "only for human tasks"));
    }
    match problems.as_slice() {
        [] => {}
        [one] => return Err(ApiError::unprocessable(format!("{}: {}", one.field, one.message), problems)),
        _ => return Err(ApiError::unprocessable("the resolution has invalid fields", problems)),
    }

    let (actor, reason) = (me.to_string(), answer.reason.to_string());
    let intervention_id = row.id.clone();
    let event = match (row.kind.as_str(), answer.choice) {
        ("sla_breach", _) => return acknowledge(state, me, row, answer.reason, now).await,
        ("human_task", decision) => Event::HumanDecided {
            intervention_id,
            decision: decision.to_string(),
            data: answer.data.unwrap_or(Value::Null),
            actor,
            reason,
        },
        (_, choice) => {
            let resolution = match choice {
                "retry" => Resolution::Retry { edited_input: answer.input },
                "skip" => Resolution::Skip { output: answer.output.unwrap_or(Value::Null) },
                "compensate" => Resolution::Compensate,
                "abort" => Resolution::Abort,
                other => return Err(ApiError::Conflict(format!("the engine has no resolution `{other}`"))),
            };
            Event::InterventionResolved { intervention_id, resolution, actor, reason }
        }
    };
    match state.runtime.send(&row.instance_id, event).await {
        Ok(_) => Ok(()),
        // The engine refuses an answer to an intervention that is no longer open: another answer got
        // there first, or the run moved on. Say which.
        Err(runtime::Error::Rejected(message)) => match find(state, &row.id).await {
            Ok(current) if !current.is_open() => Err(already_resolved(&current, now)),
            _ => Err(ApiError::Conflict(message)),
        },
        Err(error) => Err(error.into()),
    }
}

/// Closes an SLA breach item with its audit entry, in one transaction, and announces it.
async fn acknowledge(state: &AppState, me: &str, row: &InboxRow, reason: &str, now: i64) -> Result<(), ApiError> {
    let resolution = json!({ "choice": "acknowledge", "reason": reason });
    let audit = audit_row(me, "intervention.resolve", row, now)
        .reason(reason)
        .before(&json!({ "status": "open", "assignee": row.assignee }))
        .after(&json!({ "status": "closed", "resolved_by": me, "applied": { "choice": "acknowledge" } }));
    let store = state.runtime.store();
    if store.close_intervention(&row.id, me, now, &resolution.to_string(), &audit).await.map_err(ApiError::from)? {
        publish(state, row, "resolved", row.assignee.as_deref());
        return Ok(());
    }
    let current = find(state, &row.id).await?;
    match current.assignee.as_deref() {
        _ if !current.is_open() => Err(already_resolved(&current, now)),
        Some(holder) if holder != me => Err(held_by(holder)),
        _ => Err(ApiError::Conflict("the item changed meanwhile; look again".into())),
    }
}

/// The item as the list shows it, ranked at `now` (a resolved item as it stood when it was resolved).
fn item_of(row: &InboxRow, now: i64) -> InterventionItem {
    let instance = instance_of(row);
    let amount_minor = instance.as_ref().and_then(|instance| {
        let (step_input, _) = failure_of(instance, &row.id);
        priority::amount_at_stake(&instance.context, step_input)
    });
    let at = if row.is_open() { now } else { row.closed_at.unwrap_or(now) };
    let due = priority::due_at(&row.kind, row.opened_at, row.due_at);
    let inputs = priority::Inputs {
        kind: &row.kind,
        declared: &row.priority,
        opened_at: row.opened_at,
        due_at: row.due_at,
        amount_minor,
    };
    InterventionItem {
        id: row.id.clone(),
        kind: row.kind.clone(),
        reason: row.reason.clone(),
        workflow: row.workflow.clone(),
        instance_id: (!row.instance_id.is_empty()).then(|| row.instance_id.clone()),
        state: match (&row.breach_target, row.kind.as_str()) {
            (Some(target), "sla_breach") => target.clone(),
            _ => row.state.clone(),
        },
        choices: choices_of(row),
        priority: priority::score(&inputs, at),
        opened_at: rfc3339(row.opened_at),
        due_at: Some(rfc3339(due)),
        overdue: due < at,
        assignee: row.assignee.clone(),
        assigned_at: row.assigned_at.map(rfc3339),
        status: if row.is_open() { "open" } else { "resolved" }.into(),
        resolved_by: row.resolved_by.clone(),
        resolved_at: row.closed_at.map(rfc3339),
        resolution: row.resolution.as_deref().and_then(|text| serde_json::from_str(text).ok()),
        amount_minor,
        instance_status: row.instance_status.clone(),
    }
}

/// The item, its run's context (an SLA breach: the breach's figures), the failed step's input and
/// error, and its history.
async fn detail_of(state: &AppState, row: InboxRow) -> Result<InterventionDetail, ApiError> {
    let store = state.runtime.store();
    let item = item_of(&row, state.runtime.now_ms());
    let (context, step_input, mut error) = if row.kind == "sla_breach" {
        let breach = store.breach_of_intervention(&row.id).await.map_err(ApiError::from)?;
        let figures = breach.map(|b| {
            json!({
                "breach_id": b.id, "target_id": b.target_id, "workflow": b.workflow, "metric": b.metric,
                "threshold": b.threshold, "actual": b.actual, "window_ms": b.window_ms,
                "breached_at": rfc3339(b.breached_at), "recovered_at": b.recovered_at.map(rfc3339),
            })
        });
        (figures.unwrap_or(Value::Null), None, None)
    } else {
        match instance_of(&row) {
            Some(instance) => {
                let (input, error) = failure_of(&instance, &row.id);
                let input = input.cloned();
                (instance.context, input, error)
            }
            None => (Value::Null, None, None),
        }
    };
    if error.is_none() && matches!(row.kind.as_str(), "retries_exhausted" | "compensation_failed") {
        // Resolved already, so the run no longer holds the failure: its last failed call still says why.
        let kind = if row.kind == "retries_exhausted" { "task" } else { "compensation" };
        let steps = store.steps(&row.instance_id).await.map_err(ApiError::from)?;
        error = steps
            .into_iter()
            .filter(|s| s.state == row.state && s.kind == kind && s.finished_at <= row.opened_at)
            .filter_map(|s| s.error)
            .next_back();
    }
    let history = history_of(state, &row).await?;
    Ok(InterventionDetail { item, context, step_input, error, history })
}

/// The item's history, oldest first: opened (from the row), then its audit entries; a row the run
/// closed by moving on (a cancel, an operator's retry of the instance) gets its `resolved` from the row.
async fn history_of(state: &AppState, row: &InboxRow) -> Result<Vec<InterventionEvent>, ApiError> {
    let filter = AuditFilter {
        target_kind: Some("intervention".into()),
        target_id: Some(row.id.clone()),
        limit: 1_000,
        ..AuditFilter::default()
    };
    let entries = state.runtime.store().audit(&filter).await.map_err(ApiError::from)?;
    let mut events = vec![(
        row.opened_at,
        InterventionEvent {
            at: rfc3339(row.opened_at),
            action: "opened".into(),
            actor: None,
            reason: Some(row.reason.clone()),
            detail: Some(json!({ "kind": row.kind, "state": row.state })),
        },
    )];
    let parse = |text: &Option<String>| text.as_deref().and_then(|t| serde_json::from_str::<Value>(t).ok());
    for entry in entries.iter().rev() {
        let action = match entry.action.as_str() {
            "intervention.claim" => "claimed",
            "intervention.assign" => "assigned",
            "intervention.unassign" => "unassigned",
            "intervention.resolve" => "resolved",
            other => other.trim_start_matches("intervention."),
        };
        events.push((
            entry.at,
            InterventionEvent {
                at: rfc3339(entry.at),
                action: action.into(),
                actor: Some(entry.actor.clone()),
                reason: entry.reason.clone(),
                detail: Some(json!({ "before": parse(&entry.before), "after": parse(&entry.after) })),
            },
        ));
    }
    if let (false, Some(closed_at)) = (row.is_open(), row.closed_at) {
        if !events.iter().any(|(_, event)| event.action == "resolved") {
            let resolution = parse(&row.resolution);
            events.push((
                closed_at,
                InterventionEvent {
                    at: rfc3339(closed_at),
                    action: "resolved".into(),
                    actor: row.resolved_by.clone(),
                    reason: resolution
                        .as_ref()
                        .and_then(|r| r.get("reason"))
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    detail: resolution,
                },
            ));
        }
    }
    events.sort_by_key(|(at, _)| *at);
    Ok(events.into_iter().map(|(_, event)| event).collect())
}

/// The engine's instance of the item's run, when it has one that reads.
fn instance_of(row: &InboxRow) -> Option<Instance> {
    let state = row.instance_state.as_deref()?;
    match serde_json::from_str(state) {
        Ok(instance) => Some(instance),
        Err(error) => {
            tracing::warn!(instance = %row.instance_id, %error, "an instance's state does not read");
            None
        }
    }
}

/// While the run is blocked on this intervention: the failed call's input and its error.
fn failure_of<'a>(instance: &'a Instance, intervention_id: &str) -> (Option<&'a Value>, Option<String>) {
    match &instance.status {
        Status::NeedsIntervention(Blocked::StepFailed { intervention_id: id, step, error })
            if id == intervention_id =>
        {
            (Some(&step.input), Some(error.message.clone()))
        }
        Status::NeedsIntervention(Blocked::CompensationFailed { intervention_id: id, index, error, .. })
            if id == intervention_id =>
        {
            let input = instance.completed.get(*index).and_then(|step| step.compensation.as_ref()).map(|c| &c.input);
            (input, Some(error.message.clone()))
        }
        _ => (None, None),
    }
}

fn choices_of(row: &InboxRow) -> Vec<String> {
    serde_json::from_str(&row.decisions).unwrap_or_default()
}

fn wire_counts(counts: ViewCounts) -> InboxCounts {
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    InboxCounts {
        mine: count(counts.mine),
        unassigned: count(counts.unassigned),
        all: count(counts.all),
        overdue: count(counts.overdue),
    }
}

fn audit_row(me: &str, action: &str, row: &InboxRow, now: i64) -> AuditRow {
    let audit = AuditRow::ok(me, action, "intervention", &row.id, now);
    if row.instance_id.is_empty() {
        audit
    } else {
        audit.instance(row.instance_id.clone())
    }
}

fn publish(state: &AppState, row: &InboxRow, change: &str, assignee: Option<&str>) {
    state.events.announce(LiveEvent::Intervention(InterventionChange {
        id: row.id.clone(),
        instance_id: (!row.instance_id.is_empty()).then(|| row.instance_id.clone()),
        change: change.into(),
        status: if change == "resolved" { "resolved" } else { "open" }.into(),
        assignee: assignee.map(str::to_string),
    }));
}

async fn find(state: &AppState, id: &str) -> Result<InboxRow, ApiError> {
    state
        .runtime
        .store()
        .inbox_item(id)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::NotFound(format!("no intervention with id `{id}`")))
}

fn already_resolved(row: &InboxRow, now: i64) -> ApiError {
    let at = clock(row.closed_at.unwrap_or(now), now);
    match row.resolved_by.as_deref() {
        Some(by) => ApiError::Conflict(format!("already resolved by {by} at {at}")),
        None => ApiError::Conflict(format!("already closed at {at}: the run moved on without it")),
    }
}

fn held_by(holder: &str) -> ApiError {
    ApiError::Conflict(format!("claimed by {holder}; ask them or have it reassigned"))
}

/// A time for a message: `10:02:11 UTC` today, `2026-11-25 10:02:11 UTC` another day.
fn clock(at: i64, now: i64) -> String {
    let time = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
    let (at, now) = (time(at), time(now));
    if at.date_naive() == now.date_naive() {
        at.format("%H:%M:%S UTC").to_string()
    } else {
        at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
    }
}



