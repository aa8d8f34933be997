//! The activity pages: the overview with its charts, the outbox (with a retry button), the
//! disclosures with their filters, and the imported alerts.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use maud::{html, Markup, PreEscaped};

use super::charts::{daily_chart, refusals_chart};
use super::layout::{
    attachment, failed, message_link, next_link, page, page_plain, peer_link, read, report_link,
    search_form, tlp_badge,
};
use super::session::{csrf_field, Session};
use crate::api::extract::ApiPath;
use crate::api::AppState;
use crate::disclosure::Entry;
use crate::ledger::QueryText;
use crate::schema::Violation;
use crate::store::{DeliveryState, SourceMeta};

/// The most rows a list page shows.
const PAGE: usize = 500;

/// `?days=` on the overview: the charts' time range.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Range {
    #[serde(default)]
    days: Option<u32>,
}

/// The ranges the overview offers, in days (0: everything).
const RANGES: [u32; 5] = [7, 30, 90, 365, 0];

/// `GET /ui?days=N`: the overview and the charts over the last N days (30 by default; 0 for
/// everything).
pub async fn overview(
    State(s): State<AppState>,
    Extension(session): Extension<Session>,
    Query(r): Query<Range>,
) -> Result<Markup, Response> {
    let days = r.days.unwrap_or(30);
    let now = time::OffsetDateTime::now_utc();
    let since = (days > 0).then(|| {
        let from = now - time::Duration::days(i64::from(days) - 1);
        crate::timestamp::rfc3339(from)[..10].to_string()
    });
    let today = crate::timestamp::rfc3339(now)[..10].to_string();
    let (from, tally) = (since.clone(), s.overview.clone());
    let (counts, outbox, alerts) = read(&s, move |g| {
        let counts = {
            let mut t = tally
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            t.catch_up(g.store.as_ref())?;
            t.since(from.as_deref())
        };
        Ok((
            counts,
            g.store.outbox_counts()?,
            g.store.alert_count_if_known()?,
        ))
    })
    .await?;
    Ok(page(
        "Overview",
        &session,
        html! {
            p { (counts.entries) " ledger entries · " (outbox.pending) " messages waiting · " (outbox.dead_lettered) " dead-lettered or refused · "
                @match alerts {
                    Some(n) => { (n) " alerts received or imported" }
                    None => { "alerts received or imported: still being counted since the start" }
                }
            }
            p #range {
                "Charts from " strong { (since.clone().unwrap_or_else(|| "the first entry".into())) } " to " strong { (today) } " (UTC): "
                @for d in RANGES {
                    @if d == days { strong { (range_name(d)) } } @else { a href={ "/ui?days=" (d) } { (range_name(d)) } }
                    " "
                }
            }
            h2 { "Disclosures per day, by peer" }
            p.note { "A disclosure is a message the peer has: delivered with its signed receipt (or a TAXII server's status), or pulled from its TAXII collection." }
            (PreEscaped(daily_chart(&counts.by_peer)))
            h2 { "Disclosures per day, by TLP" }
            (PreEscaped(daily_chart(&counts.by_tlp)))
            h2 { "Refusals and withholdings, by reason" }
            (PreEscaped(refusals_chart(&counts.refusals)))
        },
    ))
}

fn range_name(days: u32) -> String {
    match days {
        0 => "everything".into(),
        d => format!("last {d} days"),
    }
}

/// `GET /ui/outbox`.
pub async fn outbox(
    State(s): State<AppState>,
    Extension(session): Extension<Session>,
) -> Result<Markup, Response> {
    let items = read(&s, |g| Ok(g.store.outbox_page(None, PAGE)?)).await?;
    Ok(page(
        "Outbox",
        &session,
        html! {
            @if items.is_empty() { p.note { "Nothing waiting: every message was delivered." } }
            table #outbox {
                tr { th { "#" } th { "Peer" } th { "Report" } th { "Message" } th { "State" } th { "Attempts" } th { "Last error" } th {} }
                @for (seq, i) in &items {
                    @let state = i.state.as_str();
                    tr {
                        td { (seq) } td { (i.peer) } td { (i.report_id) } td { code { (i.message_id) } }
                        td class=(state) { (state) } td { (i.attempts) } td { (i.last_error.clone().unwrap_or_default()) }
                        td { @if matches!(i.state, DeliveryState::DeadLettered | DeliveryState::Refused) {
                            form.inline method="post" action={ "/ui/outbox/" (seq) "/retry" } { (csrf_field(&session)) button type="submit" class="retry" { "Retry" } }
                        } }
                    }
                }
            }
        },
    ))
}

/// `POST /ui/outbox/{seq}/retry`.
pub async fn retry(State(s): State<AppState>, ApiPath(seq): ApiPath<u64>) -> Response {
    let g = s.gateway.clone();
    match tokio::task::spawn_blocking(move || g.retry(seq, "an analyst (web)")).await {
        Ok(Ok(_)) => Redirect::to("/ui/outbox").into_response(),
        Ok(Err(e)) => (
            StatusCode::CONFLICT,
            page_plain("Cannot retry", &e.to_string()),
        )
            .into_response(),
        Err(e) => failed(e),
    }
}

/// Rows on one page of the Disclosures list.
const DISCLOSURES_PAGE: usize = 100;

/// The Disclosures list's query: the filters and where the page starts.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct DisclosuresQuery {
    #[serde(flatten)]
    filters: QueryText,
    /// The `seq` the page starts after.
    #[serde(default)]
    after: Option<String>,
    /// `csv` or `json` for the export.
    #[serde(default)]
    format: Option<String>,
}

impl DisclosuresQuery {
    fn after(&self) -> Result<Option<u64>, Violation> {
        match self
            .after
            .as_deref()
            .map(str::trim)
            .filter(|a| !a.is_empty())
        {
            None => Ok(None),
            Some(a) => a.parse().map(Some).map_err(|_| {
                Violation::new("/after", format!("`{a}` is not a position in the ledger"))
            }),
        }
    }
}

/// `GET /ui/disclosures?peer=&report=&indicator=&state=&since=&until=&after=`: a page of
/// the ledger, its filters kept on the next page's link and on the exports.
pub async fn disclosures(
    State(s): State<AppState>,
    Extension(session): Extension<Session>,
    Query(f): Query<DisclosuresQuery>,
) -> Result<Markup, Response> {
    let (query, mut problems) = match f.filters.parse() {
        Ok(q) => (Some(q), Vec::new()),
        Err(p) => (None, p),
    };
    let after = f.after().map_err(|v| problems.push(v)).ok().flatten();
    let entries: Vec<Entry> = match query.clone() {
        Some(q) if problems.is_empty() => {
            read(&s, move |g| {
                Ok(q.page(g.store.as_ref(), after, DISCLOSURES_PAGE)?)
            })
            .await?
        }
        _ => Vec::new(),
    };
    let wanted = query.and_then(|q| q.indicator);
    let filters = f.filters.to_query_string();
    let amp = if filters.is_empty() { "" } else { "&" };
    let next = (entries.len() >= DISCLOSURES_PAGE)
        .then(|| entries.last().map(|e| e.seq))
        .flatten();
    let v = |o: &Option<String>| o.clone().unwrap_or_default();
    let t = &f.filters;
    Ok(page(
        "Disclosures",
        &session,
        html! {
            form method="get" action="/ui/disclosures" #filters {
                label { "Peer " input name="peer" id="f-peer" value=(v(&t.peer)); } " "
                label { "Report " input name="report" id="f-report" value=(v(&t.report)); } " "
                label { "Indicator " input name="indicator" id="f-indicator" value=(v(&t.indicator)); } " "
                label { "State " input name="state" id="f-state" value=(v(&t.state)) placeholder="delivered"; } " "
                label { "Since " input name="since" id="f-since" value=(v(&t.since)) placeholder="2026-11-01"; } " "
                label { "Until " input name="until" id="f-until" value=(v(&t.until)) placeholder="2026-11-30"; } " "
                button type="submit" id="filter" { "Filter" }
            }
            @for p in &problems { p.err { (p.pointer.trim_start_matches('/')) ": " (p.reason) } }
            p.note.pager {
                @match (entries.first(), entries.last()) {
                    (Some(a), Some(b)) => { "Entries #" (a.seq) " to #" (b.seq) " (" (entries.len()) " shown)" }
                    _ => { "No entries" }
                }
                " "
                @if after.is_some() { a #first href={ "/ui/disclosures?" (filters) } { "First page" } }
                @if let Some(n) = next { a #next href={ "/ui/disclosures?" (filters) (amp) "after=" (n) } { "Next page" } }
                a #export-csv href={ "/ui/disclosures/export?" (filters) (amp) "format=csv" } { "Export CSV" }
                a #export-json href={ "/ui/disclosures/export?" (filters) (amp) "format=json" } { "Export JSON" }
            }
            table #disclosures {
                tr { th { "#" } th { "At" } th { "Peer" } th { "Report" } th { "Event" } th { "Marking" } th { "Profile" } th { "Removed" } th { "Message" } th { "Why" } th { "Indicator sent as" } }
                @for e in &entries {
                    tr {
                        td { (e.seq) } td { (e.body.at) } td.peer { (peer_link(e.body.peer.as_str())) } td { (report_link(e.body.report_id.as_str())) }
                        td class=(e.body.event) { (e.body.event) }
                        td { @if let Some(m) = &e.body.marking { (tlp_badge(m.as_str())) } }
                        td { (e.body.profile.clone().unwrap_or_default()) }
                        td { @for rm in &e.body.removed { code { (rm.pointer) } " " } }
                        td { @if let Some(m) = &e.body.message_id { (message_link(m)) } }
                        td.why { (e.body.reason.clone().unwrap_or_default()) }
                        td.sent-as { @if let Some(w) = &wanted {
                            @for d in e.body.indicators.iter().filter(|d| d.value.eq_ignore_ascii_case(w) || d.sent_as.eq_ignore_ascii_case(w)) {
                                @if d.value == d.sent_as { "in clear" } @else { "as " code { (d.sent_as) } }
                            }
                        } }
                    }
                }
            }
        },
    ))
}

/// `GET /ui/disclosures/export?format=csv|json&...filters`: every entry the filters keep,
/// to download.
pub async fn export(State(s): State<AppState>, Query(f): Query<DisclosuresQuery>) -> Response {
    let query = match f.filters.parse() {
        Ok(q) => q,
        Err(p) => {
            let why: Vec<String> = p
                .iter()
                .map(|v| format!("{}: {}", v.pointer, v.reason))
                .collect();
            return (
                StatusCode::BAD_REQUEST,
                page_plain("Not exported", &why.join("; ")),
            )
                .into_response();
        }
    };
    let csv = match f.format.as_deref() {
        Some("csv") => true,
        Some("json") | None => false,
        Some(other) => {
            return (
                StatusCode::BAD_REQUEST,
                page_plain(
                    "Not exported",
                    &format!("format: `{other}` is not csv or json"),
                ),
            )
                .into_response()
        }
    };
    let entries = match read(&s, move |g| {
        Ok(query.page(g.store.as_ref(), None, usize::MAX)?)
    })
    .await
    {
        Ok(e) => e,
        Err(r) => return r,
    };
    let body = if csv {
        let mut w = csv::Writer::from_writer(Vec::new());
        let write = || -> Result<Vec<u8>, Box<dyn std::error::Error>> {
            w.write_record(crate::ledger::CSV_HEADER)?;
            for e in &entries {
                w.write_record(crate::ledger::csv_record(e))?;
            }
            Ok(w.into_inner().map_err(|e| e.to_string())?)
        };
        match write() {
            Ok(b) => b,
            Err(e) => return failed(e),
        }
    } else {
        match serde_json::to_vec_pretty(&entries) {
            Ok(b) => b,
            Err(e) => return failed(e),
        }
    };
    let (kind, ext) = if csv {
        ("text/csv", "csv")
    } else {
        ("application/json", "json")
    };
    attachment(kind, &format!("disclosures.{ext}"), body)
}

/// `GET /ui/alerts`: imported alerts with provenance and marking.
pub async fn alerts(
    State(s): State<AppState>,
    Extension(session): Extension<Session>,
    Query(q): Query<Search>,
) -> Result<Markup, Response> {
    let (found, after) = (q.needle(), q.after);
    let (alerts, next) = read(&s, move |g| {
        Ok(crate::store::scan_pages(
            |a, n| g.store.alerts_page(a, n),
            |m: &crate::store::AlertMeta| {
                found.as_deref().is_none_or(|n| {
                    let from = match &m.source {
                        SourceMeta::Peer { sender, .. } => sender.to_string(),
                        SourceMeta::Taxii { taxii } => taxii.peer.to_string(),
                        SourceMeta::Import { import } => {
                            format!(
                                "{} {}",
                                import.file,
                                import.source.clone().unwrap_or_default()
                            )
                        }
                    };
                    [
                        m.id.as_str(),
                        m.title.as_deref().unwrap_or(""),
                        from.as_str(),
                    ]
                    .iter()
                    .any(|t| t.to_lowercase().contains(n))
                })
            },
            after,
            PAGE,
            crate::store::SCAN_BUDGET,
        )?)
    })
    .await?;
    Ok(page(
        "Alerts",
        &session,
        html! {
            (search_form("/ui/alerts", q.q.as_deref(), "id, title, sender or file"))
            table #alerts {
                tr { th { "Received" } th { "From" } th { "Marking" } th { "Format" } th { "Message" } th { "Signed by key" } th { "Summary" } }
                @for (_, a) in &alerts {
                    tr {
                        td { (a.received_at) }
                        @match &a.source {
                            SourceMeta::Peer { sender, kid, message_id } => {
                                td { (sender) } td { (tlp_badge(a.tlp.as_str())) } td { (a.format.wire_name()) }
                                td { code { (message_id) } } td { code { (kid) } }
                            }
                            SourceMeta::Taxii { taxii } => {
                                td { (taxii.peer) " (TAXII)" } td { (tlp_badge(a.tlp.as_str())) } td { (a.format.wire_name()) }
                                td { (taxii.how()) } td { "(not signed: TAXII)" }
                            }
                            SourceMeta::Import { import } => {
                                td { "import: " (import.source.clone().unwrap_or_else(|| import.file.clone())) }
                                td { (tlp_badge(a.tlp.as_str())) } td { (a.format.wire_name()) }
                                td { (import.file) } td { "(not signed: " (import.tool) ")" }
                            }
                        }
                        td { a href=(format!("/ui/alerts/{}", a.id)) { (a.title.clone().unwrap_or_else(|| a.id.clone())) } " — " (a.objects) " objects" @if a.retracted { " (retracted)" } }
                    }
                }
            }
            @if next.is_some() && alerts.len() < PAGE {
                p.note { "Searched " (crate::store::SCAN_BUDGET) " alerts or more for this page; the search goes on from the next page." }
            }
            (next_link("/ui/alerts", q.q.as_deref(), next.map(|n| n.to_string())))
        },
    ))
}

/// `?q=&after=` on the lists that search: words to find (case-insensitive), and the
/// position the page starts after.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Search {
    /// Words to find.
    #[serde(default)]
    pub q: Option<String>,
    /// Where the page starts.
    #[serde(default)]
    pub after: Option<u64>,
}

impl Search {
    /// What to look for, lowercased; `None` when nothing.
    pub fn needle(&self) -> Option<String> {
        super::layout::needle(self.q.as_deref())
    }
}
