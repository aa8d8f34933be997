//! `/api/v1/outbox` and `/api/v1/deliveries`: what is waiting, what failed, what arrived.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::ApiPath;
use super::{blocking, AppState};

/// `GET /api/v1/outbox`: messages not yet delivered, without their documents.
pub async fn list(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let o = blocking(&s, |g| Ok(g.store.outbox()?)).await?;
    let items: Vec<Value> = o
        .into_iter()
        .map(|(seq, i)| {
            json!({"seq": seq, "message_id": i.message_id, "report_id": i.report_id, "peer": i.peer,
                   "state": i.state, "attempts": i.attempts, "last_error": i.last_error,
                   "last_cause": i.last_cause, "queued_at": i.queued_at,
                   "next_attempt_ms": i.next_attempt_ms})
        })
        .collect();
    Ok(Json(json!(items)))
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

/// `GET /api/v1/deliveries`: delivered messages, each with the peer's signed receipt.
pub async fn delivered(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let d = blocking(&s, |g| Ok(g.store.delivered()?)).await?;
    Ok(Json(json!(d)))
}
