//! One alert's page: where it came from and under which marking, what it says (the report
//! form irtx reads from it, and what that form does not carry), the Share form for onward
//! sharing, and the decision per peer with the source each names.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use maud::{html, Markup};

use super::layout::{form_values, page, page_plain, read, then_back, tlp_badge, urlencode};
use super::session::{csrf_field, Session};
use crate::api::extract::ApiPath;
use crate::api::AppState;
use crate::disclosure::Entry;
use crate::intake::{self, Intake};
use crate::peer::PeerId;
use crate::store::AlertSource;

/// `GET /ui/alerts/{id}`.
pub async fn show(
    State(s): State<AppState>,
    Extension(session): Extension<Session>,
    ApiPath(id): ApiPath<String>,
) -> Result<Markup, Response> {
    let rid = intake::report_id_of_alert(&id);
    let key = id.clone();
    let (alert, peers, timeline, signature) = read(&s, move |g| {
        let timeline = match rid.parse::<crate::report::ReportId>() {
            Ok(rid) => g.store.ledger_of_report(&rid)?,
            Err(_) => Vec::new(),
        };
        let alert = g.store.alert(&key)?;
        let signature = match alert.as_ref().map(|a| &a.source) {
            Some(AlertSource::Peer { sender, jws, .. }) => Some(g.check_signed(sender, jws)?),
            _ => None,
        };
        Ok((alert, g.store.peers()?, timeline, signature))
    })
    .await?;
    let Some(alert) = alert else {
        return Err((
            StatusCode::NOT_FOUND,
            page_plain("Not found", "No such alert."),
        )
            .into_response());
    };
    let received = crate::report::Timestamp::parse(&alert.received_at)
        .unwrap_or(crate::report::Timestamp(time::OffsetDateTime::UNIX_EPOCH));
    let doc = intake::Document {
        pointer: String::new(),
        format: alert.format,
        value: alert.document.clone(),
    };
    let read = intake::read(&doc, alert.tlp, received);
    let latest: BTreeMap<PeerId, &Entry> =
        timeline.iter().map(|e| (e.body.peer.clone(), e)).collect();
    let meta = alert.meta();
    Ok(page(
        &format!("Alert {id}"),
        &session,
        html! {
            p { (tlp_badge(alert.tlp.as_str())) " " strong { (meta.title.clone().unwrap_or_default()) } " — " (alert.format.wire_name()) ", " (meta.objects) " objects, received " (alert.received_at) }
            @if let Some(r) = &alert.retracted {
                p #retracted .refused {
                    strong { "Retracted by its sender" } " at " (r.at) ": " (r.reason)
                    " (message " code { (r.message_id) } ")"
                    @if !r.revoked.is_empty() { "; " (r.revoked.len()) " of its objects re-issued revoked" }
                    ". Kept for audit; never shared onward."
                }
            }
            table #source {
                @match &alert.source {
                    AlertSource::Peer { sender, kid, message_id, jws } => {
                        tr { th { "From" } td { "peer " (sender) } }
                        tr { th { "Message" } td { code { (message_id) } } }
                        tr { th { "Signed by key" } td { code { (kid) } } }
                        @match &signature {
                            Some(Ok(how)) => { tr { th { "Signature, checked now" } td #signature .ok { (how) } } }
                            Some(Err(why)) => { tr { th { "Signature, checked now" } td #signature .err { (why) } } }
                            None => {}
                        }
                        tr { th { "Signed message" } td { details { summary { "the JWS as received" } pre { (serde_json::to_string_pretty(jws).unwrap_or_default()) } } } }
                    }
                    AlertSource::Taxii { taxii } => {
                        tr { th { "From" } td { "peer " (taxii.peer) ", " (taxii.how()) } }
                        tr { th { "Provenance" } td { "TAXII credentials; not signed" } }
                    }
                    AlertSource::Import { import } => {
                        tr { th { "From" } td { "import of " (import.file) } }
                        tr { th { "Written by" } td { (import.tool) } }
                        tr { th { "Source" } td { (import.source.clone().unwrap_or_else(|| "(not named)".into())) } }
                        tr { th { "Marking" } td { (import.marking) } }
                        tr { th { "AMBER to service providers" } td { @if import.provider_permission { "allowed by the source" } @else { "not allowed" } } }
                    }
                }
            }
            h2 { "What it says" }
            @match &read {
                Intake::Ready(r) => {
                    table #indicators {
                        tr { th { "Value" } th { "Type" } th { "Role" } }
                        @for i in &r.report.indicators {
                            tr { td { code { (i.value) } } td { (i.kind.as_str()) } td { (i.role.as_str()) } }
                        }
                    }
                    @if !r.lost.is_empty() {
                        p { "Not carried when shared onward (kept in the stored document):" }
                        ul #lost { @for l in &r.lost { li { (l) } } }
                    }
                }
                Intake::Quarantine(reasons) | Intake::Refuse(reasons) => {
                    p #unreadable { "This document cannot be shared onward: " (reasons.join("; ")) }
                }
            }
            h2 { "Share onward" }
            p { "TLP's audience rules decide per peer; the peer's profile applies; the ledger records the alert's source with each decision." }
            form method="post" action={ "/ui/alerts/" (urlencode(&id)) "/share" } #share {
                (csrf_field(&session))
                @for p in &peers {
                    label { input type="checkbox" name="peer" value=(p.id); " " (p.id) " (" (p.audience) ", " (p.profile) ", " (p.format) ")" } br;
                }
                button type="submit" id="share-button" { "Share with the selected peers" }
            }
            h2 { "Decision per peer" }
            table #decisions {
                tr { th { "Peer" } th { "State" } th { "Marking" } th { "Source" } th { "Detail" } }
                @for (peer, e) in &latest {
                    tr {
                        td { (peer) }
                        td class=(e.body.event) { (e.body.event) }
                        td { @if let Some(m) = &e.body.marking { (tlp_badge(m.as_str())) } }
                        td { @if let Some(o) = &e.body.onward { (o.source) " (" (o.via) ", received TLP:" (o.received_as) ")" } }
                        td { (e.body.reason.clone().unwrap_or_default()) }
                    }
                }
            }
        },
    ))
}

/// `POST /ui/alerts/{id}/share`: share onward with the peers ticked.
pub async fn share(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<String>,
    body: Bytes,
) -> Response {
    let peers = form_values(&body, "peer");
    let g = s.gateway.clone();
    let aid = id.clone();
    then_back(
        &format!("/ui/alerts/{}", urlencode(&id)),
        "Not shared",
        move || g.share_alert(&aid, &peers),
    )
    .await
}
