//! `/api/v1/disclosures`, `/api/v1/decisions` and `/api/v1/ledger/*`: the disclosure ledger.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::ApiQuery;
use super::{blocking, AppState};
use crate::federation::ServiceError;
use crate::ledger::{self, QueryText};

/// `GET /api/v1/disclosures?peer=&report=&indicator=&since=&until=&state=`: ledger entries.
pub async fn disclosures(
    State(s): State<AppState>,
    ApiQuery(q): ApiQuery<QueryText>,
) -> Result<Json<Value>, ApiError> {
    let query = q.parse().map_err(ApiError::BadRequest)?;
    let entries = blocking(&s, move |g| {
        Ok(ledger::select(g.store.as_ref(), |e| query.matches(e))?)
    })
    .await?;
    Ok(Json(json!(entries)))
}

/// `GET /api/v1/decisions`: every decision (queued, withheld, error), from the ledger.
pub async fn decisions(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let d = blocking(&s, |g| {
        let mut out = Vec::new();
        for e in g.store.ledger_entries() {
            out.extend(ledger::Decision::of(&e?));
        }
        Ok(out)
    })
    .await?;
    Ok(Json(json!(d)))
}

/// `POST /api/v1/ledger/checkpoint`: sign the head now.
pub async fn checkpoint(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let c = blocking(&s, |g| g.checkpoint()).await?;
    Ok(Json(json!(c)))
}

/// `GET /api/v1/ledger/export`: JSON lines (header, checkpoints, entries), after a fresh
/// checkpoint, verifiable with the team's public key alone.
pub async fn export(State(s): State<AppState>) -> Result<Response, ApiError> {
    let text = blocking(&s, |g| {
        let mut out = Vec::new();
        ledger::export(
            g.store.as_ref(),
            &g.ledger,
            &g.team,
            &g.key.0,
            &mut out,
            |_| {},
        )
        .map_err(|e| ServiceError::Corrupt(e.to_string()))?;
        Ok(out)
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/jsonl")], text).into_response())
}
