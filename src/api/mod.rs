//! The HTTP surface (DESIGN.md section 4): the analyst API under `/api/v1` (bearer token),
//! the peer inbox `/exchange/v1/messages` (signatures), `/healthz` and `/metrics`. Handlers
//! are thin: extract, call one service, map the result. [`ApiError`] is the one place that
//! turns errors into status codes and the JSON error shape.

pub mod ui;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::envelope;
use crate::federation::{Gateway, ServiceError};
use crate::schema::Violation;
use crate::store::{PeerKeyRecord, PeerRecord};

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    /// The services.
    pub gateway: Arc<Gateway>,
    /// SHA-256 of the analyst token (the token itself is not kept in memory longer than
    /// needed to hash it).
    pub token_sha256: [u8; 32],
    /// Web sessions of logged-in analysts.
    pub sessions: Arc<ui::Sessions>,
}

/// Every error an endpoint answers with.
#[derive(Debug)]
pub enum ApiError {
    /// 400: the request is malformed.
    BadRequest(String),
    /// 401: no valid analyst token.
    Unauthorized,
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
    /// 500: logged here, once; the answer says nothing more.
    Internal(String),
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid(v) => ApiError::Invalid(v),
            ServiceError::NotFound(w) => ApiError::NotFound(w),
            ServiceError::Conflict(w) => ApiError::Conflict(w),
            ServiceError::Store(e) => ApiError::Internal(e.to_string()),
            ServiceError::Internal(e) => ApiError::Internal(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, error, details) = match self {
            ApiError::BadRequest(w) => (
                StatusCode::BAD_REQUEST,
                "bad request",
                vec![Violation::new("", w)],
            ),
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "a valid analyst token is required (Authorization: Bearer ...)",
                vec![],
            ),
            ApiError::NotFound(w) => (
                StatusCode::NOT_FOUND,
                "not found",
                vec![Violation::new("", w)],
            ),
            ApiError::Conflict(w) => (
                StatusCode::CONFLICT,
                "conflict",
                vec![Violation::new("", w)],
            ),
            ApiError::TooLarge(n) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large",
                vec![Violation::new("", format!("the limit is {n} bytes"))],
            ),
            ApiError::UnsupportedMediaType(w) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported media type",
                vec![Violation::new("", w)],
            ),
            ApiError::Invalid(v) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid document", v),
            ApiError::Internal(err) => {
                tracing::error!(error = %err, "request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error", vec![])
            }
        };
        (status, Json(json!({"error": error, "details": details}))).into_response()
    }
}

/// Builds the router.
pub fn router(state: AppState) -> Router {
    let limit = state.gateway.config.api.max_body_bytes;
    let timeout = Duration::from_millis(state.gateway.config.api.request_timeout_ms);
    let api = Router::new()
        .route("/reports", post(submit_report).get(list_reports))
        .route("/reports/{id}", get(get_report))
        .route("/reports/{id}/share", post(share_report))
        .route("/alerts", get(list_alerts))
        .route("/alerts/{id}", get(get_alert))
        .route("/outbox", get(list_outbox))
        .route("/outbox/{seq}/retry", post(retry_outbox))
        .route("/deliveries", get(list_deliveries))
        .route("/decisions", get(list_decisions))
        .route("/quarantine", get(list_quarantine))
        .route("/peers", post(add_peer).get(list_peers))
        .route("/peers/{id}", get(get_peer).delete(remove_peer))
        .route("/identity", get(identity))
        .route("/disclosures", get(disclosures))
        .route("/ledger/checkpoint", post(ledger_checkpoint))
        .route("/ledger/export", get(ledger_export))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    let pages = Router::new()
        .route("/", get(ui::overview))
        .route("/login", get(ui::login_page).post(ui::login))
        .route("/logout", post(ui::logout))
        .route("/style.css", get(ui::style))
        .route("/reports", get(ui::reports).post(ui::submit))
        .route("/reports/{id}", get(ui::report))
        .route("/reports/{id}/share", post(ui::share))
        .route("/outbox", get(ui::outbox))
        .route("/outbox/{seq}/retry", post(ui::retry))
        .route("/disclosures", get(ui::disclosures))
        .route("/alerts", get(ui::alerts))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            ui::require_session,
        ));
    Router::new()
        .nest("/api/v1", api)
        .nest("/ui", pages)
        .route(
            "/ui/",
            get(|| async { axum::response::Redirect::to("/ui") }),
        )
        .route("/exchange/v1/messages", post(inbound))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(limit))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .with_state(state)
}

async fn require_token(
    State(s): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(ApiError::Unauthorized)?;
    // Comparing digests: the time taken says nothing about the token.
    let digest: [u8; 32] = Sha256::digest(given.trim().as_bytes()).into();
    if digest != s.token_sha256 {
        return Err(ApiError::Unauthorized);
    }
    Ok(next.run(req).await)
}

fn body(b: Result<Bytes, BytesRejection>, limit: usize) -> Result<Bytes, ApiError> {
    b.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(limit)
        } else {
            ApiError::BadRequest(e.body_text())
        }
    })
}

/// Runs a store-bound service call off the async threads (sled is synchronous and flushes).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("task failed: {e}")))?
        .map_err(ApiError::from)
}

/// `POST /api/v1/reports`: validate and store; 201 with the id.
async fn submit_report(
    State(s): State<AppState>,
    b: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let bytes = body(b, s.gateway.config.api.max_body_bytes)?;
    let g = s.gateway.clone();
    let (id, routed) = blocking(move || g.submit_and_route(&bytes)).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": id, "routed": routed})),
    )
        .into_response())
}

async fn list_reports(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let g = s.gateway.clone();
    let r = blocking(move || Ok(g.store.reports()?)).await?;
    Ok(Json(json!(r)))
}

async fn get_report(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let g = s.gateway.clone();
    let r = blocking(move || {
        g.store
            .report(&id)?
            .ok_or_else(|| ServiceError::NotFound(format!("report `{id}`")))
    })
    .await?;
    Ok(Json(json!(r)))
}

#[derive(Deserialize)]
struct ShareRequest {
    peers: Vec<String>,
}

/// `POST /api/v1/reports/{id}/share`: per-peer decisions.
async fn share_report(
    State(s): State<AppState>,
    Path(id): Path<String>,
    b: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let bytes = body(b, s.gateway.config.api.max_body_bytes)?;
    let req: ShareRequest = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::Invalid(vec![Violation::new(
            "/peers",
            format!("expected {{\"peers\": [\"peer-id\", ...]}}: {e}"),
        )])
    })?;
    let g = s.gateway.clone();
    let out = blocking(move || g.share(&id, &req.peers)).await?;
    Ok(Json(json!({"decisions": out})))
}

async fn list_alerts(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let g = s.gateway.clone();
    let a = blocking(move || Ok(g.store.alerts()?)).await?;
    Ok(Json(json!(a)))
}

async fn get_alert(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let g = s.gateway.clone();
    let a = blocking(move || {
        g.store
            .alert(&id)?
            .ok_or_else(|| ServiceError::NotFound(format!("alert `{id}`")))
    })
    .await?;
    Ok(Json(json!(a)))
}

async fn list_outbox(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let g = s.gateway.clone();
    let o = blocking(move || Ok(g.store.outbox()?)).await?;
    let items: Vec<Value> = o
        .into_iter()
        .map(|(seq, i)| {
            json!({"seq": seq, "message_id": i.message_id, "report_id": i.report_id, "peer": i.peer,
                   "state": i.state, "attempts": i.attempts, "last_error": i.last_error,
                   "queued_at": i.queued_at, "next_attempt_ms": i.next_attempt_ms})
        })
        .collect();
    Ok(Json(json!(items)))
}

async fn retry_outbox(
    State(s): State<AppState>,
    Path(seq): Path<u64>,
) -> Result<Json<Value>, ApiError> {
    let g = s.gateway.clone();
    let i = blocking(move || g.retry(seq, "an analyst (API)")).await?;
    Ok(Json(
        json!({"seq": seq, "message_id": i.message_id, "state": i.state}),
    ))
}

async fn list_deliveries(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let g = s.gateway.clone();
    let d = blocking(move || Ok(g.store.delivered()?)).await?;
    Ok(Json(json!(d)))
}

/// `GET /api/v1/decisions`: every decision (queued, withheld, error), from the ledger.
async fn list_decisions(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let g = s.gateway.clone();
    let d = blocking(move || {
        let mut out = Vec::new();
        for e in g.store.ledger_entries() {
            out.extend(crate::ledger::Decision::of(&e?));
        }
        Ok(out)
    })
    .await?;
    Ok(Json(json!(d)))
}

async fn list_quarantine(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let g = s.gateway.clone();
    let q = blocking(move || Ok(g.store.quarantined()?)).await?;
    Ok(Json(json!(q)))
}

/// A peer as `POST /api/v1/peers` takes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPeer {
    /// Peer id.
    pub id: String,
    /// Base URL.
    pub url: String,
    /// Public JWK(s).
    pub keys: Vec<NewKey>,
    /// Max TLP.
    pub max_tlp: String,
    /// Audience.
    pub audience: String,
    /// Profile (default `pseudonymize`).
    #[serde(default)]
    pub profile: Option<String>,
    /// Format (default `stix`).
    #[serde(default)]
    pub format: Option<String>,
    /// Key domain (default `federation`).
    #[serde(default)]
    pub key_domain: Option<String>,
}

/// A key as `POST /api/v1/peers` takes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// Public JWK.
    pub jwk: Value,
    /// Valid from (RFC 3339).
    #[serde(default)]
    pub valid_from: Option<String>,
    /// Valid until (RFC 3339).
    #[serde(default)]
    pub valid_until: Option<String>,
}

/// Checks a new peer, every problem with a pointer.
pub fn check_new_peer(
    p: &NewPeer,
    config: &crate::config::Config,
) -> Result<PeerRecord, Vec<Violation>> {
    let mut v = Vec::new();
    if p.id.parse::<crate::peer::PeerId>().is_err() {
        v.push(Violation::new(
            "/id",
            format!(
                "`{}` is not a peer id (lowercase letters, digits, '-')",
                p.id
            ),
        ));
    }
    match url::Url::parse(&p.url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => {}
        _ => v.push(Violation::new(
            "/url",
            format!("`{}` is not an http(s) URL", p.url),
        )),
    }
    if let Err(e) = p.max_tlp.parse::<crate::tlp::Tlp>() {
        v.push(Violation::new("/max_tlp", e.to_string()));
    }
    if let Err(e) = p.audience.parse::<crate::peer::Audience>() {
        v.push(Violation::new("/audience", e));
    }
    let profile = p.profile.clone().unwrap_or_else(|| "pseudonymize".into());
    if let Err(e) = config.profile(&profile) {
        v.push(Violation::new("/profile", e));
    }
    let format = p.format.clone().unwrap_or_else(|| "stix".into());
    if let Err(e) = format.parse::<crate::convert::Format>() {
        v.push(Violation::new("/format", e));
    }
    let key_domain = p.key_domain.clone().unwrap_or_else(|| "federation".into());
    if key_domain != "federation" && key_domain != "peer" {
        v.push(Violation::new(
            "/key_domain",
            "must be `federation` or `peer`",
        ));
    }
    if p.keys.is_empty() {
        v.push(Violation::new("/keys", "at least one public key is needed"));
    }
    let mut keys = Vec::new();
    for (i, k) in p.keys.iter().enumerate() {
        match envelope::parse_public_jwk(&k.jwk) {
            Ok(key) => keys.push(PeerKeyRecord {
                jwk: envelope::public_jwk(&key),
                kid: envelope::thumbprint(&key),
                valid_from: k.valid_from.clone(),
                valid_until: k.valid_until.clone(),
            }),
            Err(e) => v.push(Violation::new(format!("/keys/{i}/jwk"), e.to_string())),
        }
        for (field, t) in [
            ("valid_from", &k.valid_from),
            ("valid_until", &k.valid_until),
        ] {
            if let Some(t) = t {
                if time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                    .is_err()
                {
                    v.push(Violation::new(
                        format!("/keys/{i}/{field}"),
                        format!("`{t}` is not an RFC 3339 time"),
                    ));
                }
            }
        }
    }
    if !v.is_empty() {
        return Err(v);
    }
    Ok(PeerRecord {
        id: p.id.clone(),
        url: p.url.trim_end_matches('/').to_string(),
        keys,
        max_tlp: p
            .max_tlp
            .parse::<crate::tlp::Tlp>()
            .map(|t| t.as_str().to_string())
            .unwrap_or_default(),
        audience: p.audience.clone(),
        profile,
        format,
        key_domain,
    })
}

/// `POST /api/v1/peers`: add or replace a peer.
async fn add_peer(
    State(s): State<AppState>,
    b: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let bytes = body(b, s.gateway.config.api.max_body_bytes)?;
    let p: NewPeer = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::Invalid(vec![Violation::new("", e.to_string())]))?;
    let record = check_new_peer(&p, &s.gateway.config).map_err(ApiError::Invalid)?;
    let g = s.gateway.clone();
    let r = record.clone();
    blocking(move || Ok(g.store.put_peer(&r)?)).await?;
    tracing::info!(peer.id = %record.id, "peer added");
    Ok((StatusCode::CREATED, Json(json!(record))).into_response())
}

async fn list_peers(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let g = s.gateway.clone();
    let p = blocking(move || Ok(g.store.peers()?)).await?;
    Ok(Json(json!(p)))
}

async fn get_peer(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let g = s.gateway.clone();
    let p = blocking(move || {
        g.store
            .peer(&id)?
            .ok_or_else(|| ServiceError::NotFound(format!("peer `{id}`")))
    })
    .await?;
    Ok(Json(json!(p)))
}

async fn remove_peer(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let g = s.gateway.clone();
    let existed = blocking(move || Ok(g.store.remove_peer(&id)?)).await?;
    Ok(if existed {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    })
}

async fn identity(State(s): State<AppState>) -> Json<Value> {
    let g = &s.gateway;
    Json(json!({
        "team_id": g.team.id.as_str(),
        "name": g.team.name,
        "kid": g.key.kid(),
        "public_jwk": envelope::public_jwk(&g.key.0.verifying_key()),
    }))
}

/// `POST /exchange/v1/messages`: a peer's message; the answer is a signed receipt.
async fn inbound(
    State(s): State<AppState>,
    headers: HeaderMap,
    b: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    if let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        let base = ct.split(';').next().unwrap_or("").trim();
        if base != "application/jose+json" && base != "application/json" {
            return Err(ApiError::UnsupportedMediaType(format!(
                "`{base}`; send application/jose+json"
            )));
        }
    }
    let bytes = body(b, s.gateway.config.api.max_body_bytes)?;
    let g = s.gateway.clone();
    let answer = blocking(move || g.receive(&bytes)).await?;
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_REQUEST);
    let ct = if answer.body.get("signature").is_some() {
        "application/jose+json"
    } else {
        "application/json"
    };
    Ok((
        status,
        [(header::CONTENT_TYPE, ct)],
        answer.body.to_string(),
    )
        .into_response())
}

/// Query of `GET /api/v1/disclosures`.
#[derive(Debug, Deserialize)]
struct DisclosureQuery {
    peer: Option<String>,
    report: Option<String>,
    indicator: Option<String>,
    since: Option<String>,
    until: Option<String>,
    state: Option<String>,
}

/// `GET /api/v1/disclosures?peer=&report=&indicator=&since=&until=&state=`: ledger entries.
async fn disclosures(
    State(s): State<AppState>,
    axum::extract::Query(q): axum::extract::Query<DisclosureQuery>,
) -> Result<Json<Value>, ApiError> {
    let time = |name: &str, v: &Option<String>| -> Result<Option<time::OffsetDateTime>, ApiError> {
        v.as_deref()
            .map(|t| {
                time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                    .map_err(|_| {
                        ApiError::Invalid(vec![Violation::new(
                            format!("/{name}"),
                            format!("`{t}` is not an RFC 3339 time"),
                        )])
                    })
            })
            .transpose()
    };
    let query = crate::ledger::Query {
        since: time("since", &q.since)?,
        until: time("until", &q.until)?,
        peer: q.peer,
        report: q.report,
        indicator: q.indicator,
        state: q.state,
    };
    let g = s.gateway.clone();
    let entries = blocking(move || {
        Ok(crate::ledger::select(g.store.as_ref(), |e| {
            query.matches(e)
        })?)
    })
    .await?;
    Ok(Json(json!(entries)))
}

/// `POST /api/v1/ledger/checkpoint`: sign the head now.
async fn ledger_checkpoint(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let g = s.gateway.clone();
    let c = blocking(move || {
        let at = crate::exchange::outbound::rfc3339(time::OffsetDateTime::now_utc());
        Ok(g.ledger
            .checkpoint(g.store.as_ref(), g.team.id.as_str(), &at, &g.key.0)?)
    })
    .await?;
    Ok(Json(json!(c)))
}

/// `GET /api/v1/ledger/export`: JSON lines (header, checkpoints, entries), after a fresh
/// checkpoint, verifiable with the team's public key alone.
async fn ledger_export(State(s): State<AppState>) -> Result<Response, ApiError> {
    let g = s.gateway.clone();
    let text = blocking(move || {
        let mut out = Vec::new();
        crate::ledger::export(g.store.as_ref(), &g.ledger, &g.team, &g.key.0, &mut out)
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        Ok(out)
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/jsonl")], text).into_response())
}

async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn metrics(State(s): State<AppState>) -> Result<Response, ApiError> {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &s.gateway.metrics.registry)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let g = s.gateway.clone();
    let outbox = blocking(move || Ok(g.store.outbox()?)).await?;
    let dead = outbox
        .iter()
        .filter(|(_, i)| i.state == crate::store::DeliveryState::DeadLettered)
        .count();
    let body = text.replace(
        "# EOF\n",
        &format!(
            "# HELP irtx_outbox_messages Messages waiting in the outbox.\n# TYPE irtx_outbox_messages gauge\nirtx_outbox_messages {}\n# HELP irtx_outbox_dead_lettered Messages dead-lettered.\n# TYPE irtx_outbox_dead_lettered gauge\nirtx_outbox_dead_lettered {dead}\n# EOF\n",
            outbox.len() - dead
        ),
    );
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response())
}
