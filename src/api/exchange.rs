//! `POST /exchange/v1/messages`: a peer's message; the answer is a signed receipt (or the
//! JSON error where the sender could not be identified). The status code of each outcome is
//! chosen here.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde_json::json;

use super::error::ApiError;
use super::extract::Body;
use super::tls::ClientCert;
use super::{blocking, AppState};
use crate::exchange::inbound::RefusalKind;
use crate::federation::InboundOutcome;

/// The status of an inbound outcome.
fn status(outcome: InboundOutcome) -> StatusCode {
    match outcome {
        InboundOutcome::Accepted | InboundOutcome::Duplicate => StatusCode::OK,
        InboundOutcome::Conflict => StatusCode::CONFLICT,
        InboundOutcome::Refused(kind) => match kind {
            RefusalKind::Malformed => StatusCode::BAD_REQUEST,
            RefusalKind::UnknownSender | RefusalKind::Forbidden => StatusCode::FORBIDDEN,
            RefusalKind::Unauthenticated | RefusalKind::UnknownKey => StatusCode::UNAUTHORIZED,
            RefusalKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            RefusalKind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
        },
    }
}

/// `POST /exchange/v1/messages`.
pub async fn inbound(
    State(s): State<AppState>,
    cert: Option<Extension<ClientCert>>,
    headers: HeaderMap,
    Body(bytes): Body,
) -> Result<Response, ApiError> {
    let cert: Option<String> = cert.and_then(|Extension(ClientCert(c))| c);
    if let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        let base = ct.split(';').next().unwrap_or("").trim();
        if !base.eq_ignore_ascii_case("application/jose+json")
            && !base.eq_ignore_ascii_case("application/json")
        {
            return Err(ApiError::UnsupportedMediaType(format!(
                "`{base}`; send application/jose+json"
            )));
        }
    }
    let (body, c) = (bytes.clone(), cert.clone());
    let mut answer = blocking(&s, move |g| g.receive(&body, c.as_deref())).await?;
    // A known peer signing with a key we do not know may have rotated: its key document
    // says, signed by a key we trust. Then the message is read again.
    if let (InboundOutcome::Refused(RefusalKind::UnknownKey), Some(peer)) =
        (answer.outcome, &answer.sender)
    {
        if s.gateway.refresh_peer_keys(peer).await? {
            answer = blocking(&s, move |g| g.receive(&bytes, cert.as_deref())).await?;
        }
    }
    let code = status(answer.outcome);
    Ok(match answer.receipt {
        Some(jws) => (
            code,
            [(header::CONTENT_TYPE, "application/jose+json")],
            serde_json::to_string(&jws).expect("a JWS serializes"),
        )
            .into_response(),
        None => {
            let details: Vec<_> = answer
                .reasons
                .iter()
                .map(|r| json!({"pointer": "", "reason": r}))
                .collect();
            (
                code,
                axum::Json(json!({"error": "message refused", "details": details})),
            )
                .into_response()
        }
    })
}
