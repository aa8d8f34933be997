//! `/api/v1/reports`: submit, read and share reports.

use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::{json_body, ApiPath, ApiQuery, Body};
use super::page::{paged, PageQuery};
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

/// `GET /api/v1/reports?limit=&after=`: reports by id.
pub async fn list(
    State(s): State<AppState>,
    OriginalUri(uri): OriginalUri,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Response, ApiError> {
    let limit = q.limit();
    let after = q
        .after
        .as_deref()
        .map(|a| {
            a.parse::<ReportId>()
                .map_err(|e| ApiError::bad_request(format!("after: {e}")))
        })
        .transpose()?;
    let r = blocking(&s, move |g| {
        Ok(g.store.reports_page(after.as_ref(), limit)?)
    })
    .await?;
    let next = r.last().map(|r| r.id.to_string());
    Ok(paged(&uri, r, limit, next))
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
    /// Send even to peers that hold this version already.
    #[serde(default)]
    resend: bool,
}

/// `POST /api/v1/reports/{id}/share`: per-peer decisions.
pub async fn share(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<ReportId>,
    Body(bytes): Body,
) -> Result<Json<Value>, ApiError> {
    let req: ShareRequest =
        json_body(&bytes, "{\"peers\": [\"peer-id\", ...], \"resend\": false}")?;
    let out = blocking(&s, move |g| g.share(&id, &req.peers, req.resend)).await?;
    Ok(Json(json!({"decisions": out})))
}

/// `PUT /api/v1/reports/{id}`: a new version (DESIGN.md section 10); 200 with the
/// decisions for the peers that held an earlier version (and the routing rules'), 409 when
/// the version is not higher.
pub async fn update(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<ReportId>,
    Body(bytes): Body,
) -> Result<Json<Value>, ApiError> {
    let rid = id.clone();
    let out = blocking(&s, move |g| g.update(&rid, &bytes)).await?;
    Ok(Json(json!({"id": id, "decisions": out})))
}

/// The body of a retraction.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RetractRequest {
    reason: String,
}

/// `POST /api/v1/reports/{id}/retract` `{"reason"}`: a signed retraction to every holder
/// (DESIGN.md section 10); the per-peer outcomes.
pub async fn retract(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<ReportId>,
    Body(bytes): Body,
) -> Result<Json<Value>, ApiError> {
    let req: RetractRequest = json_body(&bytes, "{\"reason\": \"why\"}")?;
    let rid = id.clone();
    let out = blocking(&s, move |g| g.retract(&rid, &req.reason)).await?;
    Ok(Json(json!({"id": id, "decisions": out})))
}

/// `GET /api/v1/reports/{id}/holders`: per peer, the version it holds, in which form, and
/// its state (current, retracted).
pub async fn holders(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<ReportId>,
) -> Result<Json<Value>, ApiError> {
    let rid = id.clone();
    let h = blocking(&s, move |g| g.holders(&rid)).await?;
    Ok(Json(json!({"report": id, "holders": h})))
}
