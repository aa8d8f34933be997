//! `/api/v1/alerts` and `/api/v1/quarantine`: what peers sent, imported or held back.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::ApiPath;
use super::{blocking, AppState};
use crate::federation::ServiceError;

/// `GET /api/v1/alerts`.
pub async fn list(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let a = blocking(&s, |g| Ok(g.store.alerts()?)).await?;
    Ok(Json(json!(a)))
}

/// `GET /api/v1/alerts/{id}`.
pub async fn get(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let a = blocking(&s, move |g| {
        g.store
            .alert(&id)?
            .ok_or(ServiceError::NotFound { what: "alert", id })
    })
    .await?;
    Ok(Json(json!(a)))
}

/// `GET /api/v1/quarantine`: refused messages whose markings were not exact TLP ids.
pub async fn quarantine(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let q = blocking(&s, |g| Ok(g.store.quarantined()?)).await?;
    Ok(Json(json!(q)))
}
