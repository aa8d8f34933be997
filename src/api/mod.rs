//! The HTTP surface (DESIGN.md section 4): the analyst API under `/api/v1` (bearer token),
//! the peer inbox `/exchange/v1/messages` (signatures), the analyst pages under `/ui`,
//! `/healthz` and `/metrics`. One file per resource; handlers are thin: extract, call one
//! service, map the result. [`error::ApiError`] is the one place that turns errors into
//! status codes and the JSON error shape.

pub mod alerts;
pub mod auth;
pub mod error;
pub mod exchange;
pub mod extract;
pub mod ledger;
pub mod listener;
pub mod ops;
pub mod outbox;
pub mod page;
pub mod peers;
pub mod reports;
pub mod taxii;
pub mod tls;
pub mod ui;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{middleware, Extension, Router};

use crate::federation::{Gateway, ServiceError};
use auth::AnalystToken;
use error::ApiError;
use extract::BodyLimit;

/// `[api]` limits the router applies.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Largest file `POST /api/v1/imports` takes, in bytes (`[import] max_file_bytes`).
    pub max_import_bytes: usize,
    /// Longest a request may take.
    pub request_timeout: Duration,
}

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    /// The services.
    pub gateway: Arc<Gateway>,
    /// The analyst token (its digest).
    pub token: AnalystToken,
    /// Web sessions of logged-in analysts.
    pub sessions: Arc<ui::session::Sessions>,
    /// The largest form a page may post, in bytes.
    pub max_form_bytes: usize,
    /// The overview's counts, kept up to date from the ledger's tail.
    pub overview: Arc<std::sync::Mutex<ui::charts::Tally>>,
}

/// Runs a store-bound service call off the async threads (sled is synchronous and flushes).
pub async fn blocking<T: Send + 'static>(
    s: &AppState,
    f: impl FnOnce(&Gateway) -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, ApiError> {
    let g = s.gateway.clone();
    Ok(tokio::task::spawn_blocking(move || f(&g)).await??)
}

/// The headers every answer carries: nothing is framed, sniffed, cached or sent on as a
/// referrer beyond the gateway, and the pages load nothing but their own style sheet (no script at all).
async fn security_headers(mut res: axum::response::Response) -> axum::response::Response {
    use axum::http::header::{self, HeaderValue};
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // `same-origin`, not `no-referrer`: under `no-referrer` browsers send `Origin: null` with
    // form posts, and the pages check the origin of every post.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    res
}

/// Builds the router.
pub fn router(state: AppState, limits: Limits) -> Router {
    let api = Router::new()
        .route("/reports", post(reports::submit).get(reports::list))
        .route("/reports/{id}", get(reports::get).put(reports::update))
        .route("/reports/{id}/holders", get(reports::holders))
        .route("/reports/{id}/retract", post(reports::retract))
        .route("/reports/{id}/share", post(reports::share))
        .route("/alerts", get(alerts::list))
        .route("/alerts/{id}", get(alerts::get))
        .route("/alerts/{id}/share", post(alerts::share))
        .route(
            "/imports",
            post(alerts::import)
                .layer::<_, std::convert::Infallible>(Extension(BodyLimit(limits.max_import_bytes)))
                .layer::<_, std::convert::Infallible>(DefaultBodyLimit::max(
                    limits.max_import_bytes,
                )),
        )
        .route("/quarantine", get(alerts::quarantine))
        .route("/quarantine/{seq}/body", get(alerts::quarantined_body))
        .route("/outbox", get(outbox::list))
        .route("/outbox/{seq}/retry", post(outbox::retry))
        .route("/deliveries", get(outbox::delivered))
        .route("/messages/{id}", get(outbox::message))
        .route("/messages/{id}/delivery", get(outbox::delivery))
        .route("/decisions", get(ledger::decisions))
        .route("/disclosures", get(ledger::disclosures))
        .route("/ledger/checkpoint", post(ledger::checkpoint))
        .route("/ledger/export", get(ledger::export))
        .route("/backup", get(ledger::backup))
        .route("/peers", post(peers::add).get(peers::list))
        .route("/peers/{id}", get(peers::get).delete(peers::remove))
        .route("/peers/{id}/token", post(peers::token))
        .route("/identity", get(peers::identity))
        .route("/keys/rotate", post(peers::rotate))
        .fallback(|| async { ApiError::NotFound("no such endpoint".into()) })
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    Router::new()
        .nest("/api/v1", api)
        .nest("/ui", ui::router(state.clone()))
        .route(
            "/ui/",
            get(|| async { axum::response::Redirect::to("/ui") }),
        )
        .nest("/taxii2", taxii::router(state.clone()))
        .route("/taxii2/", taxii::discovery_route(state.clone()))
        .route("/exchange/v1/messages", post(exchange::inbound))
        .route(crate::exchange::keydoc::PATH, get(peers::key_document))
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
        .layer(middleware::map_response(security_headers))
        .layer(Extension(BodyLimit(limits.max_body_bytes)))
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .with_state(state)
}
