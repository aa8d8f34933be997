//! One message's page: what was sent to which peer about which report, in what form, where
//! its delivery stands, and the peer's signed receipt, verified when the page is drawn; the
//! document as sent, shown and downloadable.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use maud::{html, Markup};

use super::layout::{
    attachment, failed, message_link, page, page_plain, peer_link, read, report_link, tlp_badge,
};
use super::session::Session;
use crate::api::extract::ApiPath;
use crate::api::AppState;
use crate::envelope::MessageId;
use crate::federation::messages::MessageView;

async fn view(s: &AppState, id: MessageId) -> Result<MessageView, Response> {
    match read(s, move |g| g.message(&id)).await? {
        Some(v) => Ok(v),
        None => Err((
            StatusCode::NOT_FOUND,
            page_plain("Not found", "No ledger entry names this message."),
        )
            .into_response()),
    }
}

/// `GET /ui/messages/{id}`.
pub async fn show(
    State(s): State<AppState>,
    Extension(session): Extension<Session>,
    ApiPath(id): ApiPath<MessageId>,
) -> Result<Markup, Response> {
    let v = view(&s, id).await?;
    let first = v.entries.first().map(|e| e.body.clone());
    let pretty = v
        .document
        .as_ref()
        .map(|d| serde_json::to_string_pretty(d).unwrap_or_default());
    Ok(page(
        &format!("Message {id}"),
        &session,
        html! {
            table #message {
                tr { th { "Report" } td { (report_link(v.report_id.as_str())) } }
                tr { th { "Peer" } td { (peer_link(v.peer.as_str())) } }
                tr { th { "State" } td class=(v.state) { (v.state) } }
                @if let Some(b) = &first {
                    tr { th { "Decided" } td { (b.at) } }
                    tr { th { "Marking" } td { @if let Some(m) = &b.marking { (tlp_badge(m.as_str())) } } }
                    tr { th { "Form" } td { (v.format.clone().unwrap_or_default()) } }
                    tr { th { "Profile" } td { (b.profile.clone().unwrap_or_default()) " (pseudonyms: " (b.key_domain.clone().unwrap_or_else(|| "none".into())) ")" } }
                    tr { th { "Removed" } td #removed { @for r in &b.removed { code { (r.pointer) } " (" (r.reason) ")" br; } @if b.removed.is_empty() { "nothing" } } }
                }
                tr { th { "Attempts" } td { (v.attempts) } }
                @if let Some(e) = &v.last_error { tr { th { "Last failure" } td.err { (e) } } }
                @if v.pulls > 0 { tr { th { "Pulls" } td { (v.pulls) } } }
            }
            h2 { "Receipt" }
            @match &v.receipt {
                Some(r) => {
                    p #receipt class=(if r.verified { "ok" } else { "err" }) {
                        @if r.verified { "Signed receipt verified: " } @else { "Receipt NOT verified (" (r.problem.clone().unwrap_or_default()) "): " }
                        strong { (r.status) } " at " (r.received) ", key " code { (r.kid) }
                    }
                    @if !r.reasons.is_empty() { ul #receipt-reasons { @for why in &r.reasons { li { (why) } } } }
                    details { summary { "The signed receipt (JWS)" } pre { (serde_json::to_string_pretty(&r.jws).unwrap_or_default()) } }
                }
                None => @match &v.taxii_status {
                    Some(st) => { p #receipt { "The peer's TAXII server answered (unsigned): " (st["status"].as_str().unwrap_or("?")) ", " (st["success_count"]) " of " (st["total_count"]) " objects added" } }
                    None => { p #receipt.note { "No receipt yet." } }
                }
            }
            h2 { "Document as sent" }
            @match &pretty {
                Some(text) => {
                    p { a #download href={ "/ui/messages/" (id) "/document" } download { "Download (JSON)" } }
                    pre #document { (text) }
                }
                None => { p.note { "Nothing was sent (withheld), or the message is no longer kept." } }
            }
            h2 { "Ledger entries" }
            table #entries {
                tr { th { "#" } th { "At" } th { "Event" } th { "Detail" } }
                @for e in &v.entries {
                    tr { td { (e.seq) } td { (e.body.at) } td class=(e.body.event) { (e.body.event) } td { (e.body.reason.clone().unwrap_or_default()) } }
                }
            }
            p { "Message " (message_link(&id)) " — the same as JSON: " code { "GET /api/v1/messages/" (id) } }
        },
    ))
}

/// `GET /ui/messages/{id}/document`: the document as sent, to download.
pub async fn document(State(s): State<AppState>, ApiPath(id): ApiPath<MessageId>) -> Response {
    let v = match view(&s, id).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(doc) = v.document else {
        return (
            StatusCode::NOT_FOUND,
            page_plain("Not found", "No document was sent in this message."),
        )
            .into_response();
    };
    match serde_json::to_vec_pretty(&doc) {
        Ok(body) => attachment("application/json", &format!("{}-{id}.json", v.peer), body),
        Err(e) => failed(e),
    }
}
