//! What came in and was turned away: the latest inbound refusals with every reason (kept in
//! memory, the latest 200, and counted since start), and the quarantine (messages whose
//! markings were not exactly TLP, kept with their bodies, to download and look at).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use maud::{html, Markup};

use super::layout::{attachment, page, page_plain, peer_link, read};
use super::session::Session;
use crate::api::extract::ApiPath;
use crate::api::AppState;

/// Quarantined messages on one page.
const QUARANTINE_PAGE: usize = 100;

/// `?after=` on the quarantine list.
#[derive(Debug, Default, serde::Deserialize)]
pub struct After {
    #[serde(default)]
    after: Option<u64>,
}

/// `GET /ui/inbound`.
pub async fn show(
    State(s): State<AppState>,
    Extension(session): Extension<Session>,
    Query(q): Query<After>,
) -> Result<Markup, Response> {
    let after = q.after;
    let ((total, latest), quarantined) = read(&s, move |g| {
        Ok((
            g.refusals.latest(),
            g.store.quarantine_page(after, QUARANTINE_PAGE)?,
        ))
    })
    .await?;
    let next = (quarantined.len() >= QUARANTINE_PAGE)
        .then(|| quarantined.last().map(|(seq, _)| *seq))
        .flatten();
    Ok(page(
        "Inbound",
        &session,
        html! {
            h2 { "Refused" }
            p.note { (total) " inbound messages refused since this gateway started; the latest "
                (latest.len()) " below, newest first (the sender got every reason, signed when it could be named)." }
            @if latest.is_empty() { p #no-refusals { "No refusals since start." } }
            @else {
                table #refusals {
                    tr { th { "At" } th { "From" } th { "Message" } th { "Kind" } th { "Why" } }
                    @for r in &latest {
                        tr {
                            td { (r.at) }
                            td { @match &r.sender { Some(p) => (peer_link(p.as_str())), None => "unknown" } }
                            td { @if let Some(m) = &r.message_id { code { (m) } } }
                            td { (r.kind) @if r.quarantined { " (quarantined)" } }
                            td.why { ul { @for why in &r.reasons { li { (why) } } } }
                        }
                    }
                }
            }
            h2 { "Quarantine" }
            p.note { "Messages refused because a marking was not exactly TLP: kept as received, for a person to look at." }
            @if quarantined.is_empty() { p #no-quarantine { "Nothing quarantined." } }
            @else {
                table #quarantine {
                    tr { th { "#" } th { "Received" } th { "From" } th { "Message" } th { "Bytes" } th { "Why" } th { "Body" } }
                    @for (seq, q) in &quarantined {
                        tr {
                            td { (seq) }
                            td { (q["received_at"].as_str().unwrap_or("")) }
                            td { @if let Some(p) = q["sender"].as_str() { (peer_link(p)) } @else { "unknown" } }
                            td { code { (q["message_id"].as_str().unwrap_or("")) } }
                            td { (q["bytes"]) }
                            td.why { ul { @for why in q["reasons"].as_array().into_iter().flatten() { li { (why.as_str().unwrap_or("")) } } } }
                            td { a href={ "/ui/quarantine/" (seq) "/body" } download { "download" } }
                        }
                    }
                }
                @if let Some(n) = next { p.pager { a #next href={ "/ui/inbound?after=" (n) } { "Next page" } } }
            }
        },
    ))
}

/// `GET /ui/quarantine/{seq}/body`: a quarantined message as received.
pub async fn body(State(s): State<AppState>, ApiPath(seq): ApiPath<u64>) -> Response {
    match read(&s, move |g| Ok(g.store.quarantined_body(seq)?)).await {
        Ok(Some(b)) => attachment(
            "application/octet-stream",
            &format!("quarantined-{seq}.jws"),
            b,
        ),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            page_plain("Not found", "No such quarantined message."),
        )
            .into_response(),
        Err(r) => r,
    }
}
