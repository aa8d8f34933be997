//! Server-rendered pages for analysts under `/ui/` (maud; no build step, no script): the
//! reports with their per-peer decisions and timelines, the outbox with a retry button, the
//! disclosures with filters, the imported alerts with their provenance, and SVG charts.
//! Analysts log in with the analyst token ([`session`]). The login and the style sheet are on
//! their own public router; every other page needs a session.

pub mod activity;
pub mod alerts;
pub mod charts;
pub mod inbound;
pub mod layout;
pub mod messages;
pub mod reports;
pub mod session;

use axum::response::Redirect;
use axum::routing::{get, post};
use axum::{middleware, Router};

use super::AppState;

/// How often the pages' derived data is brought up to date in the background.
pub const KEEP_READY_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Brings up to date what the pages read besides the store itself, so an analyst's view
/// does not wait for it: the ledger indexes, the overview's tally, the alert count. Run at
/// start and every [`KEEP_READY_EVERY`] (a million ledger entries not yet indexed take
/// about 20 s; a view that came first would wait for them).
pub fn keep_ready(
    gateway: &crate::federation::Gateway,
    overview: &std::sync::Mutex<charts::Tally>,
) -> crate::store::Result<()> {
    gateway.store.catch_up_indexes()?;
    keep_tally(gateway, overview)?;
    gateway.store.alert_count()?;
    Ok(())
}

/// Brings the overview's tally up to date and keeps it in the store for the next start
/// (when it has counted more since it was last kept).
pub fn keep_tally(
    gateway: &crate::federation::Gateway,
    overview: &std::sync::Mutex<charts::Tally>,
) -> crate::store::Result<()> {
    let mut tally = overview
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    tally.catch_up(gateway.store.as_ref())?;
    tally.keep(gateway.store.as_ref())
}

/// The pages, nested under `/ui`.
pub fn router(state: AppState) -> Router<AppState> {
    let public = Router::new()
        .route("/login", get(session::login_page).post(session::login))
        .route("/style.css", get(layout::style))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            session::same_origin_only,
        ));
    let private = Router::new()
        .route("/", get(activity::overview))
        .route("/logout", post(session::logout))
        .route("/reports", get(reports::list).post(reports::submit))
        .route("/reports/{id}", get(reports::show))
        .route("/reports/{id}/share", post(reports::share))
        .route("/reports/{id}/retract", post(reports::retract))
        .route("/messages/{id}", get(messages::show))
        .route("/messages/{id}/document", get(messages::document))
        .route("/outbox", get(activity::outbox))
        .route("/outbox/{seq}/retry", post(activity::retry))
        .route("/disclosures", get(activity::disclosures))
        .route("/disclosures/export", get(activity::export))
        .route("/alerts", get(activity::alerts))
        .route("/inbound", get(inbound::show))
        .route("/quarantine/{seq}/body", get(inbound::body))
        .route("/alerts/{id}", get(alerts::show))
        .route("/alerts/{id}/share", post(alerts::share))
        .route_layer(middleware::from_fn_with_state(state, session::require));
    public
        .merge(private)
        .fallback(|| async { Redirect::to("/ui") })
}
