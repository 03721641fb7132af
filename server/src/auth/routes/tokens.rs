//! `/api/tokens`: create API tokens with a role (the secret in the answer only), list and revoke them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::json;

use app::wire::{CreateToken, CreatedToken, Role, TokenSummary, TOKEN_NAME_MAX_CHARS};

use crate::auth::{now_ms, Principal, Via};
use crate::error::ApiError;
use crate::http::json::Body;
use crate::http::time::rfc3339;
use crate::state::AppState;
use crate::store::AuditRow;
use crate::store::access::TokenListing;

fn token_summary(listing: &TokenListing) -> TokenSummary {
    let row = &listing.token;
    TokenSummary {
        id: row.id.clone(),
        name: row.name.clone(),
        role: Role::parse(&row.role).unwrap_or(Role::Support),
        created_by: row.created_by.clone(),
        created_at: rfc3339(row.created_at),
        last_used_at: row.last_used_at.map(rfc3339),
        revoked: row.revoked_at.is_some(),
        suspended: listing.suspended && row.revoked_at.is_none(),
    }
}

/// `GET /api/tokens`.
pub(super) async fn list_tokens(State(state): State<AppState>) -> Result<Json<Vec<TokenSummary>>, ApiError> {
    let tokens = state.access.store.list_tokens().await.map_err(ApiError::from)?;
    Ok(Json(tokens.iter().map(token_summary).collect()))
}

/// `POST /api/tokens`: the secret is in this answer only. The token belongs to the caller (a token
/// created with a token belongs to that token's owner): it is suspended while they are disabled.
pub(super) async fn create_token(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Body(request): Body<CreateToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let name = request.name.trim().to_string();
    if name.is_empty() || name.chars().count() > TOKEN_NAME_MAX_CHARS {
        return Err(ApiError::invalid_fields(vec![crate::error::field("name", format!("must be 1 to {TOKEN_NAME_MAX_CHARS} characters"))]));
    }
    let store = &state.access.store;
    let owner_id = match &principal.via {
        Via::Session { .. } => store.user_by_name(&principal.name).await.map_err(ApiError::from)?.map(|user| user.id),
        Via::Token { id } => store.token(id).await.map_err(ApiError::from)?.and_then(|creator| creator.token.owner_id),
    };
    let (row, secret) =
        crate::auth::issue_token_for(store, &name, request.role, &principal.name, owner_id).await.map_err(ApiError::from)?;
    let listing = TokenListing { token: row, suspended: false };
    Ok((StatusCode::CREATED, Json(CreatedToken { token: token_summary(&listing), secret })))
}

/// `POST /api/tokens/{id}/revoke`.
pub(super) async fn revoke_token(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<TokenSummary>, ApiError> {
    let now = now_ms();
    let entry = AuditRow::ok(&principal.name, "token.revoke", "token", &id, now)
        .before(&json!({ "revoked": false }))
        .after(&json!({ "revoked": true }));
    match state.access.store.revoke_token(&id, now, &entry).await.map_err(ApiError::from)? {
        None => return Err(ApiError::NotFound(format!("no token {id}"))),
        Some(false) => return Err(ApiError::Conflict(format!("token {id} is revoked already"))),
        Some(true) => state.access.changes.announce(), // its open streams end now
    }
    let row = state.access.store.token(&id).await.map_err(ApiError::from)?;
    let row = row.ok_or_else(|| ApiError::NotFound(format!("no token {id}")))?;
    Ok(Json(token_summary(&row)))
}
