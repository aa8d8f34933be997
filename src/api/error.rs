//! The one error shape of the HTTP API (DESIGN.md section 4): `{"error": "...", "details":
//! [{"pointer", "reason"}]}`, for handler errors and for rejected paths, queries and bodies
//! alike. This is the only place that turns errors into status codes.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::federation::ServiceError;
use crate::schema::Violation;

/// Every error an endpoint answers with.
#[derive(Debug)]
pub enum ApiError {
    /// 400: the request is malformed.
    BadRequest(Vec<Violation>),
    /// 401: no valid analyst token.
    Unauthorized,
    /// 403: the request is not allowed (a cross-site form post, say).
    Forbidden(String),
    /// 404.
    NotFound(String),
    /// 409.
    Conflict(String),
    /// 413: body over the limit.
    TooLarge(usize),
    /// 415.
    UnsupportedMediaType(String),
    /// 422: invalid document, with every problem.
    Invalid(Vec<Violation>),
    /// 503: the store failed; the caller should retry. Logged here, once.
    Unavailable(String),
    /// 500: logged here, once; the answer says nothing more.
    Internal(String),
}

impl ApiError {
    /// A 400 with one reason about the whole request.
    pub fn bad_request(reason: impl Into<String>) -> Self {
        ApiError::BadRequest(vec![Violation::new("", reason)])
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid(v) => ApiError::Invalid(v),
            e @ ServiceError::NotFound { .. } => ApiError::NotFound(e.to_string()),
            ServiceError::Conflict(w) => ApiError::Conflict(w),
            ServiceError::Store(e) => ApiError::Unavailable(format!("{e:#}")),
            e @ ServiceError::Corrupt(_) => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError::Internal(format!("task failed: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let one = |w: String| vec![Violation::new("", w)];
        let (status, error, details) = match self {
            ApiError::BadRequest(v) => (StatusCode::BAD_REQUEST, "bad request", v),
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "a valid analyst token is required (Authorization: Bearer ...)",
                vec![],
            ),
            ApiError::Forbidden(w) => (StatusCode::FORBIDDEN, "forbidden", one(w)),
            ApiError::NotFound(w) => (StatusCode::NOT_FOUND, "not found", one(w)),
            ApiError::Conflict(w) => (StatusCode::CONFLICT, "conflict", one(w)),
            ApiError::TooLarge(n) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large",
                one(format!("the limit is {n} bytes")),
            ),
            ApiError::UnsupportedMediaType(w) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported media type",
                one(w),
            ),
            ApiError::Invalid(v) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid document", v),
            ApiError::Unavailable(err) => {
                tracing::error!(error = %err, "the store failed; answered 503");
                let body = json!({"error": "the gateway's store is unavailable; retry later", "details": []});
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::RETRY_AFTER, "5")],
                    Json(body),
                )
                    .into_response();
            }
            ApiError::Internal(err) => {
                tracing::error!(error = %err, "request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error", vec![])
            }
        };
        (status, Json(json!({"error": error, "details": details}))).into_response()
    }
}
