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

use super::layout::{
    failed, form_values, message_link, needle, next_link, page, page_plain, peer_link, read,
    search_form, then_back, tlp_badge, urlencode,
};
use super::session::{csrf_field, Session};
use crate::api::extract::ApiPath;
use crate::api::AppState;
use crate::disclosure::{Entry, Event};
use crate::envelope::MessageId;
use crate::federation::messages::MessageView;
use crate::federation::{Gateway, ServiceError};
use crate::peer::PeerId;
use crate::report::ReportId;

/// Reports on one page of the list.
const REPORTS_PAGE: usize = 200;

/// `?q=&after=` on the reports list: words to find in a report's id, title, kind,
/// category, status or indicator values (case-insensitive), and the id the page starts after.
#[derive(Debug, Default, Deserialize)]
pub struct ReportSearch {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    after: Option<String>,
}

/// Whether a report mentions `needle` (lowercased) where an analyst would look.
fn mentions(r: &serde_json::Value, id: &str, needle: &str) -> bool {
    let fields = ["title", "kind", "category", "status", "severity"];
    id.to_lowercase().contains(needle)
        || fields
            .iter()
            .filter_map(|f| r[*f].as_str())
            .any(|t| t.to_lowercase().contains(needle))
        || r["indicators"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i["value"].as_str())
            .any(|v| v.to_lowercase().contains(needle))
}

/// `GET /ui/reports?q=&after=`.
pub async fn list(
    State(s): State<AppState>,
    Extension(session): Extension<Session>,
    axum::extract::Query(q): axum::extract::Query<ReportSearch>,
) -> Result<Markup, Response> {
    let needle = needle(q.q.as_deref());
    let after: Option<ReportId> = q.after.as_deref().and_then(|a| a.parse().ok());
    let (reports, latest, next) = read(&s, move |g| {
        let mut reports = Vec::new();
        let mut at = after;
        let next = loop {
            let page = g.store.reports_page(at.as_ref(), REPORTS_PAGE)?;
            let full = page.len() >= REPORTS_PAGE;
            let Some(last) = page.last().map(|r| r.id.clone()) else {
                break None;
            };
            at = Some(last);
            reports.extend(page.into_iter().filter(|r| {
                needle
                    .as_deref()
                    .is_none_or(|n| mentions(&r.report, r.id.as_str(), n))
            }));
            if reports.len() >= REPORTS_PAGE {
                reports.truncate(REPORTS_PAGE);
                break reports.last().map(|r| r.id.clone());
            }
            if !full {
                break None;
            }
        };
        // The latest event per peer of each report shown, from the ledger's index.
        let mut latest: BTreeMap<ReportId, BTreeMap<PeerId, Event>> = BTreeMap::new();
        for r in &reports {
            let per_peer = latest.entry(r.id.clone()).or_default();
            for e in g.store.ledger_of_report(&r.id)? {
                per_peer.insert(e.body.peer, e.body.event);
            }
        }
        Ok((reports, latest, next))
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
            (search_form("/ui/reports", q.q.as_deref(), "id, title, category, indicator value"))
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
            (next_link("/ui/reports", q.q.as_deref(), next.map(|n| n.to_string())))
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
        Ok(Err(ServiceError::Conflict(why))) => (
            StatusCode::CONFLICT,
            page("Report not stored", &session, html! {
                p.err #conflict { (why) }
                a href="/ui/reports" { "Back" }
            }),
        )
            .into_response(),
        Ok(Err(e)) => failed(e),
        Err(e) => failed(e),
    }
}

/// The most ledger entries a peer's history shows on the report page (the Disclosures
/// list, filtered, has all of them).
const HISTORY: usize = 50;

/// One peer's side of a report: every ledger entry about it, oldest first, and the latest
/// message it was sent, with its document and verified receipt.
struct PeerStory {
    entries: Vec<Entry>,
    latest: Option<MessageView>,
}

impl PeerStory {
    /// The latest decision (what was sent, under which marking, with what removed): later
    /// entries (delivered, refused) say how it went, not what it was.
    fn decision(&self) -> Option<&Entry> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.body.event.is_decision() || e.body.marking.is_some())
            .or(self.entries.last())
    }
}

/// Per peer, in the order peers first appear in the timeline.
fn stories(g: &Gateway, timeline: &[Entry]) -> Result<Vec<(PeerId, PeerStory)>, ServiceError> {
    let mut order: Vec<PeerId> = Vec::new();
    let mut by_peer: BTreeMap<PeerId, Vec<Entry>> = BTreeMap::new();
    for e in timeline {
        if !by_peer.contains_key(&e.body.peer) {
            order.push(e.body.peer.clone());
        }
        by_peer
            .entry(e.body.peer.clone())
            .or_default()
            .push(e.clone());
    }
    order
        .into_iter()
        .map(|peer| {
            let entries = by_peer.remove(&peer).unwrap_or_default();
            let latest = match entries.iter().rev().find_map(|e| e.body.message_id) {
                Some(m) => g.message(&m)?,
                None => None,
            };
            Ok((peer, PeerStory { entries, latest }))
        })
        .collect()
}

/// `GET /ui/reports/{id}`: the report, the share form, the holders, and per peer what it
/// was told, when, in what form, and whether it got it.
pub async fn show(
    State(s): State<AppState>,
    Extension(session): Extension<Session>,
    ApiPath(id): ApiPath<ReportId>,
) -> Result<Markup, Response> {
    let rid = id.clone();
    let (report, peers, timeline, holders, stories) = read(&s, move |g| {
        let timeline = g.store.ledger_of_report(&rid)?;
        let stories = stories(g, &timeline)?;
        Ok((
            g.store.report(&rid)?,
            g.store.peers()?,
            timeline,
            g.store.holdings(&rid)?,
            stories,
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
    // The version each message carried, from the holdings' history.
    let version_of: BTreeMap<MessageId, u32> = holders
        .iter()
        .flat_map(|h| {
            h.sent
                .iter()
                .copied()
                .chain(std::iter::once((h.version, h.message_id)))
                .map(|(v, m)| (m, v))
        })
        .collect();
    let r = &report.report;
    Ok(page(
        &format!("Report {id}"),
        &session,
        html! {
            p { (tlp_badge(r["tlp"].as_str().unwrap_or(""))) " " strong { (r["title"].as_str().unwrap_or("")) } " — " (r["kind"].as_str().unwrap_or("")) ", version " (r["version"].as_u64().unwrap_or(1)) ", submitted " (report.submitted_at) }
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
                        td { (peer_link(h.peer.as_str())) } td { (h.version) } td { (h.format.wire_name()) }
                        td { @if let Some(m) = &h.marking { (tlp_badge(m.as_str())) } }
                        td class=(format!("{:?}", h.state).to_lowercase()) { (format!("{:?}", h.state).to_lowercase()) }
                        td { (message_link(&h.message_id)) } td { (h.at) } td.why { (h.reason.clone().unwrap_or_default()) }
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
                tr { th { "Peer" } th { "State" } th { "At" } th { "Marking" } th { "Removed" } th { "Receipt" } th { "Detail" } }
                @for (peer, story) in &stories {
                    @if let (Some(e), Some(d)) = (story.entries.last(), story.decision()) {
                        tr {
                            td { a href={ "#peer-" (peer) } { (peer) } }
                            td class=(e.body.event) { (e.body.event) }
                            td { (e.body.at) }
                            td { @if let Some(m) = &d.body.marking { (tlp_badge(m.as_str())) } }
                            td { @for rm in &d.body.removed { code { (rm.pointer) } " " } }
                            td { (receipt_cell(story.latest.as_ref())) }
                            td.why { (e.body.reason.clone().unwrap_or_default()) }
                        }
                    }
                }
            }
            h2 { "What each peer was told" }
            @for (peer, story) in &stories {
                section.peer id={ "peer-" (peer) } {
                    h3 { (peer_link(peer.as_str())) }
                    @if let Some(m) = &story.latest {
                        p.latest {
                            "Latest message " (message_link(&m.message_id)) ": " span class=(m.state) { (m.state) }
                            @if let Some(v) = version_of.get(&m.message_id) { ", version " (v) }
                            @if let Some(f) = &m.format { ", " (f) }
                            "; receipt: " (receipt_cell(Some(m)))
                        }
                        @if let Some(doc) = &m.document {
                            details.document {
                                summary { "The document as sent (" a href={ "/ui/messages/" (m.message_id) "/document" } download { "download" } ")" }
                                pre { (serde_json::to_string_pretty(doc).unwrap_or_default()) }
                            }
                        }
                    }
                    @if story.entries.len() > HISTORY {
                        p.note { "The latest " (HISTORY) " of " (story.entries.len()) " entries; "
                            a href={ "/ui/disclosures?peer=" (urlencode(peer.as_str())) "&report=" (urlencode(id.as_str())) } { "all of them" } "." }
                    }
                    table.history {
                        tr { th { "At" } th { "Event" } th { "Version" } th { "Marking" } th { "Profile" } th { "Removed" } th { "Message" } th { "Detail" } }
                        @for e in story.entries.iter().rev().take(HISTORY).rev() {
                            tr {
                                td { (e.body.at) }
                                td class=(e.body.event) { (e.body.event) }
                                td { @if let Some(v) = e.body.message_id.and_then(|m| version_of.get(&m)) { (v) } }
                                td { @if let Some(m) = &e.body.marking { (tlp_badge(m.as_str())) } }
                                td { (e.body.profile.clone().unwrap_or_default()) @if let Some(k) = &e.body.key_domain { " (" (k) ")" } }
                                td { @for rm in &e.body.removed { code { (rm.pointer) } " " } }
                                td { @if let Some(m) = &e.body.message_id { (message_link(m)) } }
                                td.why { (e.body.reason.clone().unwrap_or_default()) }
                            }
                        }
                    }
                }
            }
            p.note { (timeline.len()) " ledger entries about this report. The same as JSON: " code { "GET /api/v1/reports/" (id) "/holders" } " and " code { "GET /api/v1/messages/{id}" } "." }
        },
    ))
}

/// A message's receipt in a word: verified or not, and what it says.
fn receipt_cell(m: Option<&MessageView>) -> Markup {
    html! {
        @match m.and_then(|m| m.receipt.as_ref()) {
            Some(r) if r.verified => span.ok.receipt { "signed, verified: " (r.status) }
            Some(r) => span.err.receipt { "NOT verified: " (r.problem.clone().unwrap_or_default()) }
            None => @match m.and_then(|m| m.taxii_status.as_ref()) {
                Some(st) => span.receipt { "TAXII status (unsigned): " (st["status"].as_str().unwrap_or("?")) }
                None => span.note { "none" }
            }
        }
    }
}

/// `POST /ui/reports/{id}/retract` (form: `reason=...`): a signed retraction to every
/// holder.
pub async fn retract(
    State(s): State<AppState>,
    ApiPath(id): ApiPath<ReportId>,
    body: Bytes,
) -> Response {
    let reason = form_values(&body, "reason")
        .into_iter()
        .next()
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
    let peers = form_values(&body, "peer");
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
