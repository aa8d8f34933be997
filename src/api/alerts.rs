//! `/api/v1/alerts`, `/api/v1/imports` and `/api/v1/quarantine`: what peers sent and what
//! analysts imported, shared onward, or held back. Lists come in pages and without
//! documents; one alert or quarantined body is read by its id.

use axum::extract::{OriginalUri, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::{json_body, ApiPath, ApiQuery, Body};
use super::page::{paged, PageQuery};
use super::{blocking, AppState};
use crate::federation::import::{FileSummary, ItemOutcome};
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

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ShareRequest {
    peers: Vec<String>,
}

/// `POST /api/v1/alerts/{id}/share` `{"peers": [...]}`: onward sharing of a received or
/// imported alert; per-peer decisions under the TLP audience rules.
pub async fn share(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
    Body(bytes): Body,
) -> Result<Json<Value>, ApiError> {
    let req: ShareRequest = json_body(&bytes, "{\"peers\": [\"peer-id\", ...]}")?;
    let out = blocking(&s, move |g| g.share_alert(&id, &req.peers)).await?;
    Ok(Json(json!({"decisions": out})))
}

/// The query of `POST /api/v1/imports`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    /// The file's name, for the alerts' provenance. Default `api`.
    #[serde(default)]
    file: Option<String>,
    /// The source allows passing its TLP:AMBER on to service providers.
    #[serde(default)]
    provider_permission: bool,
}

/// The answer to an import: the counts and every document's outcome.
pub fn summary_json(s: &FileSummary) -> Value {
    json!({
        "file": s.file,
        "imported": s.count(ItemOutcome::Imported),
        "duplicates": s.count(ItemOutcome::Duplicate),
        "quarantined": s.count(ItemOutcome::Quarantined),
        "refused": s.count(ItemOutcome::Refused),
        "items": s.items,
    })
}

/// `POST /api/v1/imports?file=NAME&provider_permission=true`: a STIX 2.1 bundle or MISP
/// event(s) (DESIGN.md section 9). 200 with the summary; 422 with the summary when a
/// document was refused (what was imported stays imported).
pub async fn import(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<ImportQuery>,
    Body(bytes): Body,
) -> Result<Response, ApiError> {
    let file = q.file.unwrap_or_else(|| "api".into());
    if file.is_empty() || file.chars().count() > 200 || file.chars().any(char::is_control) {
        return Err(ApiError::Invalid(vec![crate::schema::Violation::new(
            "/file",
            "a file name is 1 to 200 printable characters",
        )]));
    }
    let permission = q.provider_permission;
    let summary = blocking(&s, move |g| g.import(&bytes, &file, permission)).await?;
    let status = if summary.count(ItemOutcome::Refused) > 0 {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    } else {
        axum::http::StatusCode::OK
    };
    Ok((status, Json(summary_json(&summary))).into_response())
}
