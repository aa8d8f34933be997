//! `/healthz` and `/metrics`.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::{blocking, AppState};

/// `GET /healthz`: the process answers.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /metrics`: OpenMetrics text (prometheus-client).
pub async fn metrics(State(s): State<AppState>) -> Result<Response, ApiError> {
    blocking(&s, |g| g.refresh_gauges()).await?;
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &s.gateway.metrics.registry)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}
