//! `/api/interventions`: list and count the inbox, read one item, claim, assign and resolve — one item
//! or many (`bulk-resolve`). Every change is made as the signed-in caller ([`Principal`]) and leaves an
//! audit entry written with it; each is announced on the event bus.
//!
//! Thin handlers: read and check the request, call one [`Inbox`](super::inbox::Inbox) method (in
//! `AppState`), answer with the wire types; the inbox's errors become responses in `crate::error`.

use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use futures::StreamExt;
use serde::Deserialize;

use app::wire::{
    AssignIntervention, BulkResolve, BulkResolveFailure, BulkResolveResult, FieldError, InboxCounts,
    InterventionDetail, InterventionItem, InterventionKind, InterventionList, PriorityLevel, ResolveIntervention,
};

use super::inbox::{item_of, Answer};
use super::store::{Holder, InboxQuery, InboxRow, ViewCounts};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::http::json::Body;
use crate::state::AppState;

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

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/interventions", get(list))
        .route("/api/interventions/counts", get(counts))
        .route("/api/interventions/bulk-resolve", post(bulk_resolve))
        .route("/api/interventions/{id}", get(detail))
        .route("/api/interventions/{id}/claim", post(claim))
        .route("/api/interventions/{id}/assign", post(assign))
        .route("/api/interventions/{id}/resolve", post(resolve))
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
    one_of("kind", &query.kind, InterventionKind::WORDS, &mut problems);
    one_of("priority", &query.priority, PriorityLevel::WORDS, &mut problems);
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        problems.push(crate::error::field("limit", format!("must be between 1 and {MAX_LIMIT}")));
    }
    if !problems.is_empty() {
        return Err(ApiError::unprocessable("the query has invalid parameters", problems));
    }

    let now = state.inbox.now_ms();
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
    let rows = state.inbox.items(&selection).await?;
    // Checked above: a priority in the query is a level.
    let level: Option<PriorityLevel> = query.priority.as_deref().and_then(|level| level.parse().ok());
    let mut items: Vec<(i64, &InboxRow, InterventionItem)> =
        rows.iter().map(|row| Ok((row.opened_at, row, item_of(row, now)?))).collect::<Result<_, ApiError>>()?;
    items.retain(|(_, _, item)| level.is_none_or(|level| item.priority.level == level));
    if !resolved {
        items.sort_by(|(a_at, a, a_item), (b_at, b, b_item)| {
            b_item.priority.score.cmp(&a_item.priority.score).then(a_at.cmp(b_at)).then(a.id.cmp(&b.id))
        });
    }
    let items = items.into_iter().take(usize::try_from(limit).unwrap_or(0)).map(|(_, _, item)| item).collect();
    let counts = wire_counts(state.inbox.counts(&principal.name, now).await?);
    Ok(Json(InterventionList { items, counts }))
}

/// `GET /api/interventions/counts`: open items per view, for the navigation's badge.
async fn counts(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<InboxCounts>, ApiError> {
    let now = state.inbox.now_ms();
    let counts = state.inbox.counts(&principal.name, now).await?;
    Ok(Json(wire_counts(counts)))
}

/// `GET /api/interventions/{id}`.
async fn detail(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<InterventionDetail>, ApiError> {
    let row = state.inbox.find(&id).await?;
    Ok(Json(state.inbox.detail(row).await?))
}

/// `POST /api/interventions/{id}/claim` (no body, or `{}`): the item becomes the caller's. Of many
/// claims at once exactly one wins; claiming one's own item again is fine.
async fn claim(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<InterventionDetail>, ApiError> {
    let row = state.inbox.claim(&id, &principal.name).await?;
    Ok(Json(state.inbox.detail(row).await?))
}

/// `POST /api/interventions/{id}/assign`: gives the item to a user who may work interventions, or
/// (`assignee: null`) to nobody.
async fn assign(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    Body(request): Body<AssignIntervention>,
) -> Result<Json<InterventionDetail>, ApiError> {
    let row = state.inbox.assign(&id, &principal.name, request.assignee, request.reason.as_deref()).await?;
    Ok(Json(state.inbox.detail(row).await?))
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
        return Err(ApiError::unprocessable(
            "reason: say why",
            vec![crate::error::field("reason", "must not be empty")],
        ));
    }
    let answer = Answer {
        choice: request.choice.trim(),
        reason,
        input: request.input,
        output: request.output,
        data: request.data,
    };
    let row = state.inbox.resolve(&id, &principal.name, answer).await?;
    Ok(Json(state.inbox.detail(row).await?))
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
            let (inbox, data) = (&state.inbox, data.clone());
            async move {
                let outcome = async {
                    let row = inbox.find(&id).await?;
                    let answer = Answer { choice, reason, input: None, output: None, data };
                    inbox.resolve_row(me, &row, answer).await
                }
                .await;
                (id, outcome.map_err(ApiError::from))
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

fn wire_counts(counts: ViewCounts) -> InboxCounts {
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    InboxCounts {
        mine: count(counts.mine),
        unassigned: count(counts.unassigned),
        all: count(counts.all),
        overdue: count(counts.overdue),
    }
}
