//! `/api/v1/alerts` and `/api/v1/quarantine`: what peers sent, imported or held back. Lists
//! come in pages and without documents; one alert or quarantined body is read by its id.

use axum::extract::{OriginalUri, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::{ApiPath, ApiQuery};
use super::page::{paged, PageQuery};
use super::{blocking, AppState};
use crate::federation::ServiceError;

/// `GET /api/v1/alerts?limit=&after=`: alerts without their documents, oldest first.
pub async fn list(
    State(s): State<AppState>,
    OriginalUri(uri): OriginalUri,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Response, ApiError> {
    let (after, limit) = (q.after_seq()?, q.limit());
    let page = blocking(&s, move |g| Ok(g.store.alerts_page(after, limit)?)).await?;
    let next = page.last().map(|(seq, _)| seq.to_string());
    let items: Vec<_> = page.into_iter().map(|(_, a)| a).collect();
    Ok(paged(&uri, items, limit, next))
}

/// `GET /api/v1/alerts/{id}`: one alert, with its document and the signed message.
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

/// `GET /api/v1/quarantine?limit=&after=`: refused messages whose markings were not exact
/// TLP ids: who sent them, when and why (the bodies apart).
pub async fn quarantine(
    State(s): State<AppState>,
    OriginalUri(uri): OriginalUri,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Response, ApiError> {
    let (after, limit) = (q.after_seq()?, q.limit());
    let page = blocking(&s, move |g| Ok(g.store.quarantine_page(after, limit)?)).await?;
    let next = page.last().map(|(seq, _)| seq.to_string());
    let items: Vec<Value> = page
        .into_iter()
        .map(|(seq, mut r)| {
            r["seq"] = seq.into();
            r
        })
        .collect();
    Ok(paged(&uri, items, limit, next))
}

/// `GET /api/v1/quarantine/{seq}/body`: a quarantined message as it was received.
pub async fn quarantined_body(
    State(s): State<AppState>,
    ApiPath(seq): ApiPath<u64>,
) -> Result<Response, ApiError> {
    let body = blocking(&s, move |g| {
        g.store
            .quarantined_body(seq)?
            .ok_or_else(|| ServiceError::NotFound {
                what: "quarantined message",
                id: seq.to_string(),
            })
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], body).into_response())
}
