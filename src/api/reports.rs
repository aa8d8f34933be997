//! `/api/v1/reports`: submit, read and share reports.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::{json_body, ApiPath, Body};
use super::{blocking, AppState};
use crate::federation::ServiceError;
use crate::report::ReportId;

/// `POST /api/v1/reports`: validate and store; 201 with the id and the routed decisions.
pub async fn submit(State(s): State<AppState>, Body(bytes): Body) -> Result<Response, ApiError> {
    let (id, routed) = blocking(&s, move |g| g.submit_and_route(&bytes)).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": id, "routed": routed})),
    )
        .into_response())
}

/// `GET /api/v1/reports`.
pub async fn list(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let r = blocking(&s, |g| Ok(g.store.reports()?)).await?;
    Ok(Json(json!(r)))
}

/// `GET /api/v1/reports/{id}`.
pub async fn get(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<ReportId>,
) -> Result<Json<Value>, ApiError> {
    let r = blocking(&s, move |g| {
        g.store.report(&id)?.ok_or_else(|| ServiceError::NotFound {
            what: "report",
            id: id.to_string(),
        })
    })
    .await?;
    Ok(Json(json!(r)))
}

/// The body of a share.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShareRequest {
    peers: Vec<String>,
}

/// `POST /api/v1/reports/{id}/share`: per-peer decisions.
pub async fn share(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<ReportId>,
    Body(bytes): Body,
) -> Result<Json<Value>, ApiError> {
    let req: ShareRequest = json_body(&bytes, "{\"peers\": [\"peer-id\", ...]}")?;
    let out = blocking(&s, move |g| g.share(&id, &req.peers)).await?;
    Ok(Json(json!({"decisions": out})))
}
