//! `/api/definitions`: register workflow definitions and read their versions.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::Value;

use app::wire::{DefinitionSummary, DefinitionVersion, RegisteredDefinition};

use crate::auth::Principal;
use crate::error::ApiError;
use crate::http::json::Body;
use crate::http::time::rfc3339;
use crate::state::AppState;

/// The routes of this area.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/definitions", get(list).post(register))
        .route("/api/definitions/{name}", get(versions))
        .route("/api/definitions/{name}/versions/{version}", get(version))
}

/// `POST /api/definitions`: 201 with the new version, or 200 when the body equals the latest version.
pub async fn register(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Body(body): Body<Value>,
) -> Result<(StatusCode, Json<RegisteredDefinition>), ApiError> {
    let registered = state.runtime.register_definition(body, &principal.name).await?;
    let status = if registered.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((
        status,
        Json(RegisteredDefinition {
            name: registered.definition.name.clone(),
            version: registered.definition.version,
            created: registered.created,
        }),
    ))
}

/// `GET /api/definitions`: every workflow type with its versions.
pub async fn list(State(state): State<AppState>) -> Json<Vec<DefinitionSummary>> {
    let mut by_name: BTreeMap<String, DefinitionSummary> = BTreeMap::new();
    for definition in state.runtime.definitions() {
        let entry = by_name.entry(definition.name.clone()).or_insert_with(|| DefinitionSummary {
            name: definition.name.clone(),
            description: String::new(),
            latest_version: 0,
            versions: Vec::new(),
        });
        entry.versions.push(definition.version);
        if definition.version >= entry.latest_version {
            entry.latest_version = definition.version;
            entry.description = definition.description.clone();
        }
    }
    Json(by_name.into_values().collect())
}

/// `GET /api/definitions/{name}`: every version of one workflow type, oldest first.
pub async fn versions(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Vec<DefinitionVersion>>, ApiError> {
    state.runtime.definition(&name, None)?;
    let rows = state.runtime.store().definitions().await.map_err(ApiError::from)?;
    rows.into_iter().filter(|row| row.name == name).map(version_of).collect::<Result<Vec<_>, _>>().map(Json)
}

/// `GET /api/definitions/{name}/versions/{version}`.
pub async fn version(
    State(state): State<AppState>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<DefinitionVersion>, ApiError> {
    let version: u32 =
        version.parse().map_err(|_| ApiError::bad_request(format!("`{version}` is not a version number (1, 2, …)")))?;
    let row = state
        .runtime
        .store()
        .definition(&name, i64::from(version))
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::NotFound(format!("workflow `{name}` has no version {version}")))?;
    version_of(row).map(Json)
}

fn version_of(row: crate::store::DefinitionRow) -> Result<DefinitionVersion, ApiError> {
    let definition: Value = serde_json::from_str(&row.body)
        .map_err(|error| ApiError::Internal(anyhow::anyhow!("definition body: {error}")))?;
    Ok(DefinitionVersion {
        name: row.name,
        version: u32::try_from(row.version).unwrap_or_default(),
        description: row.description,
        created_at: rfc3339(row.created_at),
        created_by: row.created_by,
        definition,
    })
}
