//! The report pages: the list with each peer's latest event and a submit form; one report
//! with its share form, its holders (with a retract form), the decision per peer and its
//! timeline.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::{failed, page, page_plain, read, then_back, tlp_badge, urlencode};
use super::session::{csrf_field, Session};
use crate::api::extract::ApiPath;
use crate::api::AppState;
use crate::disclosure::{Entry, Event};
use crate::federation::ServiceError;
use crate::peer::PeerId;
use crate::report::ReportId;

/// `GET /ui/reports`.
pub async fn list(
    State(s): State<AppState>,
    Extension(session): Extension<Session>,
) -> Result<Markup, Response> {
    // One pass: the latest event per (report, peer).
    let (reports, latest) = read(&s, |g| {
        let mut latest: BTreeMap<ReportId, BTreeMap<PeerId, Event>> = BTreeMap::new();
        for e in g.store.ledger_entries() {
            let e = e?;
            latest
                .entry(e.body.report_id)
                .or_default()
                .insert(e.body.peer, e.body.event);
        }
        Ok((g.store.reports_page(None, 500)?, latest))
    })
    .await?;
    Ok(page(
        "Reports",
        &session,
        html! {
            h2 { "Submit a report" }
            form method="post" action="/ui/reports" {
                (csrf_field(&session))
                textarea name="report" id="report" rows="8" placeholder="{ \"kind\": \"incident\", ... } (schemas/report.schema.json)" {}
                button type="submit" id="submit" { "Submit" }
            }
            h2 { "Reports" }
            table #reports {
                tr { th { "Report" } th { "Kind" } th { "Title" } th { "TLP" } th { "Per peer" } }
                @for r in &reports {
                    tr {
                        td { a href={ "/ui/reports/" (urlencode(r.id.as_str())) } { (r.id) } }
                        td { (r.report["kind"].as_str().unwrap_or("")) }
                        td { (r.report["title"].as_str().unwrap_or("")) }
                        td { (tlp_badge(r.report["tlp"].as_str().unwrap_or(""))) }
                        td { @for (peer, event) in latest.get(&r.id).into_iter().flatten() { span class=(event) { (peer) ": " (event) } " " } }
                    }
                }
            }
        },
    ))
}

/// The report submission form.
#[derive(Deserialize)]
pub struct ReportForm {
    report: String,
}

/// `POST /ui/reports`: submit (and route).
pub async fn submit(
    State(s): State<AppState>,
    Extension(session): Extension<Session>,
    axum::Form(f): axum::Form<ReportForm>,
) -> Response {
    let g = s.gateway.clone();
    match tokio::task::spawn_blocking(move || g.submit_and_route(f.report.as_bytes())).await {
        Ok(Ok((id, _))) => {
            Redirect::to(&format!("/ui/reports/{}", urlencode(id.as_str()))).into_response()
        }
        Ok(Err(ServiceError::Invalid(v))) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            page("Report refused", &session, html! {
                p.err { "The report is not valid:" }
                ul #problems { @for p in &v { li { code { (if p.pointer.is_empty() { "(document)" } else { &p.pointer }) } ": " (p.reason) } } }
                a href="/ui/reports" { "Back" }
            }),
        )
            .into_response(),
        Ok(Err(e)) => failed(e),
        Err(e) => failed(e),
    }
}

/// The latest event per peer, for entries of one report.
fn per_peer(entries: &[Entry]) -> BTreeMap<PeerId, Entry> {
    entries
        .iter()
        .map(|e| (e.body.peer.clone(), e.clone()))
        .collect()
}

/// `GET /ui/reports/{id}`: the report, the share form, the decisions and the timeline.
pub async fn show(
    State(s): State<AppState>,
    Extension(session): Extension<Session>,
    ApiPath(id): ApiPath<ReportId>,
) -> Result<Markup, Response> {
    let rid = id.clone();
    let (report, peers, timeline, holders) = read(&s, move |g| {
        let timeline = crate::ledger::select(g.store.as_ref(), |e| e.body.report_id == rid)?;
        Ok((
            g.store.report(&rid)?,
            g.store.peers()?,
            timeline,
            g.store.holdings(&rid)?,
        ))
    })
    .await?;
    let Some(report) = report else {
        return Err((
            StatusCode::NOT_FOUND,
            page_plain("Not found", "No such report."),
        )
            .into_response());
    };
    let r = &report.report;
    Ok(page(
        &format!("Report {id}"),
        &session,
        html! {
            p { (tlp_badge(r["tlp"].as_str().unwrap_or(""))) " " strong { (r["title"].as_str().unwrap_or("")) } " — " (r["kind"].as_str().unwrap_or("")) ", submitted " (report.submitted_at) }
            h2 { "Share" }
            form method="post" action={ "/ui/reports/" (urlencode(id.as_str())) "/share" } #share {
                (csrf_field(&session))
                @for p in &peers {
                    label { input type="checkbox" name="peer" value=(p.id); " " (p.id) " (max TLP:" (p.max_tlp) ", " (p.audience) ", " (p.profile) ", " (p.format) ")" } br;
                }
                button type="submit" id="share-button" { "Share with the selected peers" }
            }
            h2 { "Holders" }
            table #holders {
                tr { th { "Peer" } th { "Version" } th { "Form" } th { "Marking" } th { "State" } th { "Message" } th { "Since" } th { "Why" } }
                @for h in &holders {
                    tr {
                        td { (h.peer) } td { (h.version) } td { (h.format.wire_name()) }
                        td { @if let Some(m) = &h.marking { (tlp_badge(m.as_str())) } }
                        td class=(format!("{:?}", h.state).to_lowercase()) { (format!("{:?}", h.state).to_lowercase()) }
                        td { code { (h.message_id) } } td { (h.at) } td { (h.reason.clone().unwrap_or_default()) }
                    }
                }
            }
            @if holders.iter().any(|h| h.state == crate::store::HoldingState::Current) {
                form method="post" action={ "/ui/reports/" (urlencode(id.as_str())) "/retract" } #retract {
                    (csrf_field(&session))
                    label { "Reason " input type="text" name="reason" required; }
                    " "
                    button type="submit" id="retract-button" { "Retract from every holder" }
                }
            }
            h2 { "Decision per peer" }
            table #decisions {
                tr { th { "Peer" } th { "State" } th { "Marking" } th { "Removed" } th { "Detail" } }
                @for (peer, e) in per_peer(&timeline) {
                    tr {
                        td { (peer) }
                        td class=(e.body.event) { (e.body.event) }
                        td { @if let Some(m) = &e.body.marking { (tlp_badge(m.as_str())) } }
                        td { @for rm in &e.body.removed { code { (rm.pointer) } " " } }
                        td { (e.body.reason.clone().unwrap_or_default()) }
                    }
                }
            }
            h2 { "Timeline" }
            table #timeline {
                tr { th { "#" } th { "At" } th { "Peer" } th { "Event" } th { "Message" } th { "Detail" } }
                @for e in &timeline {
                    tr { td { (e.seq) } td { (e.body.at) } td { (e.body.peer) } td class=(e.body.event) { (e.body.event) }
                         td { code { @if let Some(m) = e.body.message_id { (m) } } } td { (e.body.reason.clone().unwrap_or_default()) } }
                }
            }
        },
    ))
}

/// `POST /ui/reports/{id}/retract` (form: `reason=...`): a signed retraction to every
/// holder.
pub async fn retract(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<ReportId>,
    body: Bytes,
) -> Response {
    let reason: String = url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == "reason")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let g = s.gateway.clone();
    let rid = id.clone();
    then_back(&report_page(&id), "Not retracted", move || {
        g.retract(&rid, &reason)
    })
    .await
}

/// `POST /ui/reports/{id}/share` (form: `peer=a&peer=b`).
pub async fn share(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<ReportId>,
    body: Bytes,
) -> Response {
    let peers: Vec<String> = url::form_urlencoded::parse(&body)
        .filter(|(k, _)| k == "peer")
        .map(|(_, v)| v.into_owned())
        .collect();
    let g = s.gateway.clone();
    let rid = id.clone();
    then_back(&report_page(&id), "Not shared", move || {
        g.share(&rid, &peers, false)
    })
    .await
}

/// A report's page.
fn report_page(id: &ReportId) -> String {
    format!("/ui/reports/{}", urlencode(id.as_str()))
}
