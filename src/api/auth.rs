//! The analyst's token: the API takes it as `Authorization: Bearer ...`; the pages take it
//! once at the login and keep a session ([`super::ui::session`]). Only its SHA-256 is kept.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::AppState;

/// The analyst token, as its SHA-256.
#[derive(Clone)]
pub struct AnalystToken([u8; 32]);

impl AnalystToken {
    /// From the token's text (it is hashed and not kept).
    pub fn new(token: &str) -> Self {
        AnalystToken(Sha256::digest(token.trim().as_bytes()).into())
    }

    /// Whether `given` is the token. Digests are compared, so the time taken says nothing
    /// about the token.
    pub fn matches(&self, given: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(given.trim().as_bytes()).into();
        digest == self.0
    }
}

/// Middleware: the API needs the analyst token.
pub async fn require_token(
    State(s): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then_some(token)
        })
        .ok_or(ApiError::Unauthorized)?;
    if !s.token.matches(given) {
        return Err(ApiError::Unauthorized);
    }
    Ok(next.run(req).await)
}
