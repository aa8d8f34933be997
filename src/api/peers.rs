//! `/api/v1/peers` and `/api/v1/identity`: the one list of peers, and who we are.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::{json_body, ApiPath, Body};
use super::{blocking, AppState};
use crate::envelope;
use crate::federation::ServiceError;
use crate::peer::{Peer, PeerId, PeerRequest};

/// `POST /api/v1/peers`: add or replace a peer.
pub async fn add(State(s): State<AppState>, Body(bytes): Body) -> Result<Response, ApiError> {
    let req: PeerRequest = json_body(&bytes, "a peer: {id, url, keys, max_tlp, audience, ...}")?;
    let peer = crate::exchange::check_peer(&req, &s.gateway.profiles).map_err(ApiError::Invalid)?;
    let p = peer.clone();
    blocking(&s, move |g| {
        let held = g.store.peer(&p.id)?;
        g.store.put_peer(&p.replacing(held.as_ref()))?;
        g.refresh_pins()
    })
    .await?;
    tracing::info!(peer.id = %peer.id, "peer added");
    Ok((StatusCode::CREATED, Json(peer.redacted())).into_response())
}

/// `GET /api/v1/peers`.
pub async fn list(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let p = blocking(&s, |g| Ok(g.store.peers()?)).await?;
    Ok(Json(Value::Array(p.iter().map(Peer::redacted).collect())))
}

/// `GET /api/v1/peers/{id}`.
pub async fn get(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<PeerId>,
) -> Result<Json<Value>, ApiError> {
    let p = blocking(&s, move |g| {
        g.store.peer(&id)?.ok_or_else(|| ServiceError::NotFound {
            what: "peer",
            id: id.to_string(),
        })
    })
    .await?;
    Ok(Json(p.redacted()))
}

/// `DELETE /api/v1/peers/{id}`: 204, or 404 when there is none.
pub async fn remove(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<PeerId>,
) -> Result<StatusCode, ApiError> {
    blocking(&s, move |g| {
        if g.store.remove_peer(&id)? {
            g.refresh_pins()?;
            tracing::info!(peer.id = %id, "peer removed");
            Ok(StatusCode::NO_CONTENT)
        } else {
            Err(ServiceError::NotFound {
                what: "peer",
                id: id.to_string(),
            })
        }
    })
    .await
}

/// `POST /api/v1/peers/{id}/token`: a new TAXII token for the peer (the earlier one stops
/// working); the token is in this answer only.
pub async fn token(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<PeerId>,
) -> Result<Json<Value>, ApiError> {
    let peer = id.clone();
    let token = blocking(&s, move |g| g.issue_taxii_token(&peer)).await?;
    Ok(Json(json!({"peer": id, "token": token, "basic_user": id})))
}

/// `GET /api/v1/identity`: this team's id, name, kid and public JWK.
pub async fn identity(State(s): State<AppState>) -> Json<Value> {
    let g = &s.gateway;
    Json(json!({
        "team_id": g.team.id.as_str(),
        "name": g.team.name,
        "kid": g.key.current().kid(),
        "public_jwk": envelope::public_jwk(&g.key.current().0.verifying_key()),
    }))
}

/// The body of a rotation.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateRequest {
    /// How long the old key stays valid, in seconds.
    overlap_s: u64,
}

/// `POST /api/v1/keys/rotate` `{"overlap_s": N}`: a new team key (DESIGN.md section 11).
pub async fn rotate(State(s): State<AppState>, Body(bytes): Body) -> Result<Json<Value>, ApiError> {
    let req: RotateRequest = json_body(&bytes, "{\"overlap_s\": seconds}")?;
    let overlap = time::Duration::seconds(req.overlap_s.min(i64::MAX as u64) as i64);
    let r = blocking(&s, move |g| g.rotate_key(overlap)).await?;
    Ok(Json(json!(r)))
}

/// `GET /.well-known/irtx/keys`: the team's signed key document, for anyone.
pub async fn key_document(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let d = blocking(&s, |g| g.key_document()).await?;
    Ok(Json(json!(d)))
}
