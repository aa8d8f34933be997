//! `/api/v1/outbox` and `/api/v1/deliveries`: what is waiting, what failed, what arrived.

use axum::extract::{OriginalUri, State};
use axum::response::Response;
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::{ApiPath, ApiQuery};
use super::page::{paged, PageQuery};
use super::{blocking, AppState};

/// `GET /api/v1/outbox?limit=&after=`: messages not yet delivered, without their documents.
pub async fn list(
    State(s): State<AppState>,
    OriginalUri(uri): OriginalUri,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Response, ApiError> {
    let (after, limit) = (q.after_seq()?, q.limit());
    let o = blocking(&s, move |g| Ok(g.store.outbox_page(after, limit)?)).await?;
    let next = o.last().map(|(seq, _)| seq.to_string());
    let items: Vec<Value> = o
        .into_iter()
        .map(|(seq, i)| {
            json!({"seq": seq, "message_id": i.message_id, "report_id": i.report_id, "peer": i.peer,
                   "state": i.state, "attempts": i.attempts, "last_error": i.last_error,
                   "last_cause": i.last_cause, "queued_at": i.queued_at,
                   "next_attempt_ms": i.next_attempt_ms})
        })
        .collect();
    Ok(paged(&uri, items, limit, next))
}

/// `POST /api/v1/outbox/{seq}/retry`: a dead-lettered message goes round again.
pub async fn retry(
    State(s): State<AppState>,
    ApiPath(seq): ApiPath<u64>,
) -> Result<Json<Value>, ApiError> {
    let i = blocking(&s, move |g| g.retry(seq, "an analyst (API)")).await?;
    Ok(Json(
        json!({"seq": seq, "message_id": i.message_id, "state": i.state}),
    ))
}

/// `GET /api/v1/deliveries?limit=&after=`: delivered messages, each with the peer's
/// signed receipt.
pub async fn delivered(
    State(s): State<AppState>,
    OriginalUri(uri): OriginalUri,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Response, ApiError> {
    let (after, limit) = (q.after_seq()?, q.limit());
    let d = blocking(&s, move |g| Ok(g.store.delivered_page(after, limit)?)).await?;
    let next = d.last().map(|(seq, _)| seq.to_string());
    let items: Vec<_> = d.into_iter().map(|(_, d)| d).collect();
    Ok(paged(&uri, items, limit, next))
}
