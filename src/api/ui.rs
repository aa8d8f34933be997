//! Server-rendered pages for analysts under `/ui/` (maud; no build step, no script): the
//! reports with their per-peer decisions and timelines, the outbox with a retry button, the
//! disclosures with filters, the imported alerts with their provenance, and an SVG chart of
//! disclosures over time by peer and by TLP, and of refusals by reason. Analysts log in with
//! the analyst token; the session cookie is HttpOnly and SameSite=Strict (no cross-site
//! form posts).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::AppState;
use crate::ledger::chain::Entry;
use crate::store::DeliveryState;

/// How long a login lasts.
const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);
const COOKIE: &str = "irtx_session";

/// Logged-in sessions: random id -> expiry.
#[derive(Default)]
pub struct Sessions(Mutex<HashMap<String, Instant>>);

impl Sessions {
    fn create(&self) -> String {
        let id = crate::keys::random_hex32();
        let mut m = self.0.lock().expect("sessions");
        let now = Instant::now();
        m.retain(|_, exp| *exp > now);
        m.insert(id.clone(), now + SESSION_TTL);
        id
    }

    fn valid(&self, id: &str) -> bool {
        self.0
            .lock()
            .expect("sessions")
            .get(id)
            .is_some_and(|exp| *exp > Instant::now())
    }

    fn remove(&self, id: &str) {
        self.0.lock().expect("sessions").remove(id);
    }
}

fn session_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

/// Middleware: pages other than the login need a session.
pub async fn require_session(State(s): State<AppState>, req: Request, next: Next) -> Response {
    // Inside the nested router the path may or may not keep its `/ui` prefix.
    let path = req.uri().path();
    if path.ends_with("/login") || path.ends_with("/style.css") {
        return next.run(req).await;
    }
    match session_of(req.headers()) {
        Some(id) if s.sessions.valid(&id) => next.run(req).await,
        _ => Redirect::to("/ui/login").into_response(),
    }
}

/// TLP 2.0 colours (FIRST): text in the label's colour on black.
fn tlp_badge(label: &str) -> Markup {
    let colour = match label {
        "RED" => "#FF2B2B",
        "AMBER" | "AMBER+STRICT" => "#FFC000",
        "GREEN" => "#33FF00",
        _ => "#FFFFFF",
    };
    html! { span.tlp style=(format!("color:{colour};background:#000")) { "TLP:" (label) } }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#111}\
nav{background:#111;padding:.6em 1em}nav a{color:#eee;margin-right:1.2em;text-decoration:none}\
main{padding:1em 1.5em}table{border-collapse:collapse;width:100%;margin:.5em 0}\
th,td{border-bottom:1px solid #ddd;padding:.35em .5em;text-align:left;font-size:.92em;vertical-align:top}\
th{background:#f3f3f3}.tlp{font-weight:600;padding:.1em .4em;border-radius:3px;font-family:monospace}\
.queued,.delivered{color:#067d17}.withheld,.refused,.dead-lettered{color:#b00020}.failing{color:#a15c00}\
form.inline{display:inline}textarea{width:100%;font-family:monospace}code{font-size:.9em}\
.note{color:#555}.err{color:#b00020}";

fn page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "irtx — " (title) }
                link rel="stylesheet" href="/ui/style.css";
            }
            body {
                nav {
                    a href="/ui" { "Overview" }
                    a href="/ui/reports" { "Reports" }
                    a href="/ui/outbox" { "Outbox" }
                    a href="/ui/disclosures" { "Disclosures" }
                    a href="/ui/alerts" { "Alerts" }
                    form.inline method="post" action="/ui/logout" { button type="submit" { "Log out" } }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

/// `GET /ui/style.css`.
pub async fn style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css")], STYLE)
}

/// `GET /ui/login`.
pub async fn login_page() -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" { head { meta charset="utf-8"; title { "irtx — log in" } link rel="stylesheet" href="/ui/style.css"; }
        body { main {
            h1 { "irtx — analyst login" }
            form method="post" action="/ui/login" {
                label { "Analyst token " input type="password" name="token" id="token" autocomplete="off"; }
                " " button type="submit" id="login" { "Log in" }
            }
        } } }
    }
}

/// The login form.
#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
}

/// `POST /ui/login`: a session for the analyst token.
pub async fn login(State(s): State<AppState>, axum::Form(f): axum::Form<LoginForm>) -> Response {
    let digest: [u8; 32] = Sha256::digest(f.token.trim().as_bytes()).into();
    if digest != s.token_sha256 {
        tracing::warn!("analyst login refused");
        return (
            StatusCode::UNAUTHORIZED,
            page_plain("Login refused", "That is not the analyst token."),
        )
            .into_response();
    }
    let id = s.sessions.create();
    let cookie = format!(
        "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/ui; Max-Age={}",
        SESSION_TTL.as_secs()
    );
    ([(header::SET_COOKIE, cookie)], Redirect::to("/ui")).into_response()
}

/// `POST /ui/logout`.
pub async fn logout(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(id) = session_of(&headers) {
        s.sessions.remove(&id);
    }
    let cookie = format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/ui; Max-Age=0");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/ui/login")).into_response()
}

fn page_plain(title: &str, text: &str) -> Markup {
    html! { (DOCTYPE) html { head { meta charset="utf-8"; title { (title) } } body { main { h1 { (title) } p.err { (text) } a href="/ui/login" { "Back" } } } } }
}

/// Runs a store read off the async threads.
async fn read<T: Send + 'static>(
    s: &AppState,
    f: impl FnOnce(&crate::federation::Gateway) -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Result<T, Response> {
    let g = s.gateway.clone();
    tokio::task::spawn_blocking(move || f(&g))
        .await
        .map_err(|e| internal(e.to_string()))?
        .map_err(|e| internal(e.to_string()))
}

fn internal(e: String) -> Response {
    tracing::error!(error = %e, "page failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        page_plain("Error", "Something failed; the log says what."),
    )
        .into_response()
}

/// Per day, counts per series (a peer, a TLP label).
type Daily = BTreeMap<String, BTreeMap<String, usize>>;

/// What the overview draws, gathered in one pass over the ledger.
#[derive(Default)]
struct Counts {
    entries: u64,
    by_peer: Daily,
    by_tlp: Daily,
    refusals: BTreeMap<String, usize>,
}

impl Counts {
    fn add(&mut self, e: &Entry) {
        self.entries += 1;
        let b = &e.body;
        match b.event.as_str() {
            "queued" => {
                let day = b.at.get(..10).unwrap_or("?").to_string();
                let tlp = format!("TLP:{}", b.marking.clone().unwrap_or_default());
                *self
                    .by_peer
                    .entry(day.clone())
                    .or_default()
                    .entry(b.peer.clone())
                    .or_default() += 1;
                *self.by_tlp.entry(day).or_default().entry(tlp).or_default() += 1;
            }
            "withheld" | "refused" | "dead-lettered" => {
                // Group by the reason's shape, not its details.
                let reason = b.reason.clone().unwrap_or_default();
                let short: String = reason
                    .split(':')
                    .next()
                    .unwrap_or("")
                    .chars()
                    .take(60)
                    .collect();
                *self
                    .refusals
                    .entry(format!("{}: {}", b.event, short))
                    .or_default() += 1;
            }
            _ => {}
        }
    }
}

/// `GET /ui`: the overview and the charts.
pub async fn overview(State(s): State<AppState>) -> Result<Markup, Response> {
    let (counts, outbox, alerts) = read(&s, |g| {
        let mut counts = Counts::default();
        for e in g.store.ledger_entries() {
            counts.add(&e?);
        }
        Ok((counts, g.store.outbox()?, g.store.alerts()?.len()))
    })
    .await?;
    let dead = outbox
        .iter()
        .filter(|(_, i)| i.state == DeliveryState::DeadLettered)
        .count();
    Ok(page(
        "Overview",
        html! {
            p { (counts.entries) " ledger entries · " (outbox.len() - dead) " messages waiting · " (dead) " dead-lettered · " (alerts) " alerts imported" }
            h2 { "Disclosures over time, by peer" }
            (PreEscaped(daily_chart(&counts.by_peer)))
            h2 { "Disclosures over time, by TLP" }
            (PreEscaped(daily_chart(&counts.by_tlp)))
            h2 { "Refusals and withholdings, by reason" }
            (PreEscaped(refusals_chart(&counts.refusals)))
        },
    ))
}

/// Colours for chart series: TLP labels in FIRST's colours, others from a fixed palette.
fn series_colour(name: &str, i: usize) -> &'static str {
    match name {
        "TLP:RED" => "#FF2B2B",
        "TLP:AMBER" => "#FFC000",
        "TLP:AMBER+STRICT" => "#CC9A00",
        "TLP:GREEN" => "#33CC00",
        "TLP:CLEAR" => "#9E9E9E",
        _ => [
            "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
        ][i % 8],
    }
}

/// A stacked bar chart (SVG) of disclosures per day, one colour per series.
fn daily_chart(days: &Daily) -> String {
    if days.is_empty() {
        return "<p class=\"note\">No disclosures yet.</p>".into();
    }
    let series: Vec<&String> = days
        .values()
        .flat_map(|m| m.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let max = days
        .values()
        .map(|m| m.values().sum::<usize>())
        .max()
        .unwrap_or(1)
        .max(1);
    let (w, h, bar) = (60 + days.len() * 50, 220usize, 30usize);
    let mut svg = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" width=\"{}\" height=\"{}\" font-size=\"11\">", w + 200, h + 40);
    for (i, (day, counts)) in days.iter().enumerate() {
        let x = 50 + i * 50;
        let mut y = h;
        for (si, name) in series.iter().enumerate() {
            let n = counts.get(*name).copied().unwrap_or(0);
            if n == 0 {
                continue;
            }
            let bh = n * (h - 20) / max;
            y -= bh;
            svg.push_str(&format!(
                "<rect x=\"{x}\" y=\"{y}\" width=\"{bar}\" height=\"{bh}\" fill=\"{}\" stroke=\"#333\"><title>{} {}: {n}</title></rect>",
                series_colour(name, si), esc(day), esc(name)
            ));
        }
        svg.push_str(&format!(
            "<text x=\"{x}\" y=\"{}\">{}</text>",
            h + 14,
            esc(&day[5..])
        ));
    }
    svg.push_str(&format!(
        "<text x=\"5\" y=\"20\">{max}</text><text x=\"5\" y=\"{h}\">0</text>"
    ));
    for (si, name) in series.iter().enumerate() {
        let y = 20 + si * 16;
        svg.push_str(&format!(
            "<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\" stroke=\"#333\"/><text x=\"{}\" y=\"{}\">{}</text>",
            w + 10, y, series_colour(name, si), w + 28, y + 10, esc(name)
        ));
    }
    svg.push_str("</svg>");
    svg
}

/// A horizontal bar chart (SVG) of refusals and withholdings by reason.
fn refusals_chart(by: &BTreeMap<String, usize>) -> String {
    if by.is_empty() {
        return "<p class=\"note\">No refusals.</p>".into();
    }
    let max = by.values().copied().max().unwrap_or(1).max(1);
    let mut svg = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" width=\"900\" height=\"{}\" font-size=\"11\">", by.len() * 22 + 10);
    for (i, (reason, n)) in by.iter().enumerate() {
        let y = 5 + i * 22;
        let wdt = n * 300 / max;
        svg.push_str(&format!(
            "<rect x=\"0\" y=\"{y}\" width=\"{wdt}\" height=\"16\" fill=\"#b00020\"><title>{n}</title></rect><text x=\"{}\" y=\"{}\">{n} — {}</text>",
            wdt + 6, y + 12, esc(reason)
        ));
    }
    svg.push_str("</svg>");
    svg
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The latest event per peer, for entries of one report.
fn per_peer(entries: &[Entry]) -> BTreeMap<String, Entry> {
    entries
        .iter()
        .map(|e| (e.body.peer.clone(), e.clone()))
        .collect()
}

/// `GET /ui/reports`.
pub async fn reports(State(s): State<AppState>) -> Result<Markup, Response> {
    // One pass: the latest event per (report, peer).
    let (reports, latest) = read(&s, |g| {
        let mut latest: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for e in g.store.ledger_entries() {
            let e = e?;
            latest
                .entry(e.body.report_id)
                .or_default()
                .insert(e.body.peer, e.body.event);
        }
        Ok((g.store.reports()?, latest))
    })
    .await?;
    Ok(page(
        "Reports",
        html! {
            h2 { "Submit a report" }
            form method="post" action="/ui/reports" {
                textarea name="report" id="report" rows="8" placeholder="{ \"kind\": \"incident\", ... } (schemas/report.schema.json)" {}
                button type="submit" id="submit" { "Submit" }
            }
            h2 { "Reports" }
            table #reports {
                tr { th { "Report" } th { "Kind" } th { "Title" } th { "TLP" } th { "Per peer" } }
                @for r in &reports {
                    tr {
                        td { a href={ "/ui/reports/" (r.id) } { (r.id) } }
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
pub async fn submit(State(s): State<AppState>, axum::Form(f): axum::Form<ReportForm>) -> Response {
    let g = s.gateway.clone();
    match tokio::task::spawn_blocking(move || g.submit_and_route(f.report.as_bytes())).await {
        Ok(Ok((id, _))) => Redirect::to(&format!("/ui/reports/{}", urlencode(&id))).into_response(),
        Ok(Err(crate::federation::ServiceError::Invalid(v))) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            page("Report refused", html! {
                p.err { "The report is not valid:" }
                ul #problems { @for p in &v { li { code { (if p.pointer.is_empty() { "(document)" } else { &p.pointer }) } ": " (p.reason) } } }
                a href="/ui/reports" { "Back" }
            }),
        )
            .into_response(),
        Ok(Err(e)) => internal(e.to_string()),
        Err(e) => internal(e.to_string()),
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `GET /ui/reports/{id}`: the report, the share form, the decisions and the timeline.
pub async fn report(State(s): State<AppState>, Path(id): Path<String>) -> Result<Markup, Response> {
    let rid = id.clone();
    let (report, peers, timeline) = read(&s, move |g| {
        let timeline = crate::ledger::select(g.store.as_ref(), |e| e.body.report_id == rid)?;
        Ok((g.store.report(&rid)?, g.store.peers()?, timeline))
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
        html! {
            p { (tlp_badge(r["tlp"].as_str().unwrap_or(""))) " " strong { (r["title"].as_str().unwrap_or("")) } " — " (r["kind"].as_str().unwrap_or("")) ", submitted " (report.submitted_at) }
            h2 { "Share" }
            form method="post" action={ "/ui/reports/" (urlencode(&id)) "/share" } #share {
                @for p in &peers {
                    label { input type="checkbox" name="peer" value=(p.id); " " (p.id) " (max TLP:" (p.max_tlp) ", " (p.audience) ", " (p.profile) ", " (p.format) ")" } br;
                }
                button type="submit" id="share-button" { "Share with the selected peers" }
            }
            h2 { "Decision per peer" }
            table #decisions {
                tr { th { "Peer" } th { "State" } th { "Marking" } th { "Removed" } th { "Detail" } }
                @for (peer, e) in per_peer(&timeline) {
                    tr {
                        td { (peer) }
                        td class=(e.body.event) { (e.body.event) }
                        td { @if let Some(m) = &e.body.marking { (tlp_badge(m)) } }
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
                         td { code { (e.body.message_id.clone().unwrap_or_default()) } } td { (e.body.reason.clone().unwrap_or_default()) } }
                }
            }
        },
    ))
}

/// `POST /ui/reports/{id}/share` (form: `peer=a&peer=b`).
pub async fn share(State(s): State<AppState>, Path(id): Path<String>, body: Bytes) -> Response {
    let peers: Vec<String> = url::form_urlencoded::parse(&body)
        .filter(|(k, _)| k == "peer")
        .map(|(_, v)| v.into_owned())
        .collect();
    let g = s.gateway.clone();
    let rid = id.clone();
    match tokio::task::spawn_blocking(move || g.share(&rid, &peers)).await {
        Ok(Ok(_)) => Redirect::to(&format!("/ui/reports/{}", urlencode(&id))).into_response(),
        Ok(Err(e)) => internal(e.to_string()),
        Err(e) => internal(e.to_string()),
    }
}

/// `GET /ui/outbox`.
pub async fn outbox(State(s): State<AppState>) -> Result<Markup, Response> {
    let items = read(&s, |g| g.store.outbox()).await?;
    Ok(page(
        "Outbox",
        html! {
            @if items.is_empty() { p.note { "Nothing waiting: every message was delivered." } }
            table #outbox {
                tr { th { "#" } th { "Peer" } th { "Report" } th { "Message" } th { "State" } th { "Attempts" } th { "Last error" } th {} }
                @for (seq, i) in &items {
                    @let state = match i.state { DeliveryState::Queued => "queued", DeliveryState::Failing => "failing", DeliveryState::DeadLettered => "dead-lettered" };
                    tr {
                        td { (seq) } td { (i.peer) } td { (i.report_id) } td { code { (i.message_id) } }
                        td class=(state) { (state) } td { (i.attempts) } td { (i.last_error.clone().unwrap_or_default()) }
                        td { @if i.state == DeliveryState::DeadLettered {
                            form.inline method="post" action={ "/ui/outbox/" (seq) "/retry" } { button type="submit" class="retry" { "Retry" } }
                        } }
                    }
                }
            }
        },
    ))
}

/// `POST /ui/outbox/{seq}/retry`.
pub async fn retry(State(s): State<AppState>, Path(seq): Path<u64>) -> Response {
    let g = s.gateway.clone();
    match tokio::task::spawn_blocking(move || g.retry(seq, "an analyst (web)")).await {
        Ok(Ok(_)) => Redirect::to("/ui/outbox").into_response(),
        Ok(Err(e)) => (
            StatusCode::CONFLICT,
            page_plain("Cannot retry", &e.to_string()),
        )
            .into_response(),
        Err(e) => internal(e.to_string()),
    }
}

/// The disclosure filters.
#[derive(Deserialize, Default)]
pub struct DisclosureFilter {
    #[serde(default)]
    peer: String,
    #[serde(default)]
    report: String,
    #[serde(default)]
    indicator: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    since: String,
}

/// `GET /ui/disclosures?peer=&report=&indicator=&state=&since=`.
pub async fn disclosures(
    State(s): State<AppState>,
    Query(f): Query<DisclosureFilter>,
) -> Result<Markup, Response> {
    let some = |v: &str| (!v.trim().is_empty()).then(|| v.trim().to_string());
    let since = some(&f.since).and_then(|t| {
        time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339).ok()
    });
    let bad_since = some(&f.since).is_some() && since.is_none();
    let q = crate::ledger::Query {
        peer: some(&f.peer),
        report: some(&f.report),
        indicator: some(&f.indicator),
        since,
        until: None,
        state: some(&f.state),
    };
    let entries: Vec<Entry> = read(&s, move |g| {
        crate::ledger::select(g.store.as_ref(), |e| q.matches(e))
    })
    .await?;
    let wanted = some(&f.indicator).map(|v| v.to_lowercase());
    Ok(page(
        "Disclosures",
        html! {
            form method="get" action="/ui/disclosures" #filters {
                label { "Peer " input name="peer" id="f-peer" value=(f.peer); } " "
                label { "Report " input name="report" id="f-report" value=(f.report); } " "
                label { "Indicator " input name="indicator" id="f-indicator" value=(f.indicator); } " "
                label { "State " input name="state" id="f-state" value=(f.state); } " "
                label { "Since " input name="since" id="f-since" value=(f.since) placeholder="2026-11-01T00:00:00Z"; } " "
                button type="submit" id="filter" { "Filter" }
            }
            @if bad_since { p.err { "`Since` must be an RFC 3339 time such as 2026-11-01T00:00:00Z; it was ignored." } }
            p.note { (entries.len()) " entries" }
            table #disclosures {
                tr { th { "#" } th { "At" } th { "Peer" } th { "Report" } th { "Event" } th { "Marking" } th { "Profile" } th { "Removed" } th { "Indicator sent as" } }
                @for e in &entries {
                    tr {
                        td { (e.seq) } td { (e.body.at) } td.peer { (e.body.peer) } td { (e.body.report_id) }
                        td class=(e.body.event) { (e.body.event) }
                        td { @if let Some(m) = &e.body.marking { (tlp_badge(m)) } }
                        td { (e.body.profile.clone().unwrap_or_default()) }
                        td { @for rm in &e.body.removed { code { (rm.pointer) } " " } }
                        td.sent-as { @if let Some(w) = &wanted {
                            @for d in e.body.indicators.iter().filter(|d| d.value.to_lowercase() == *w || d.sent_as.to_lowercase() == *w) {
                                @if d.value == d.sent_as { "in clear" } @else { "as " code { (d.sent_as) } }
                            }
                        } }
                    }
                }
            }
        },
    ))
}

/// `GET /ui/alerts`: imported alerts with provenance and marking.
pub async fn alerts(State(s): State<AppState>) -> Result<Markup, Response> {
    let alerts = read(&s, |g| g.store.alerts()).await?;
    Ok(page(
        "Alerts",
        html! {
            table #alerts {
                tr { th { "Received" } th { "From" } th { "Marking" } th { "Format" } th { "Message" } th { "Signed by key" } th { "Summary" } }
                @for a in &alerts {
                    tr {
                        td { (a.received_at) } td { (a.sender) } td { (tlp_badge(&a.tlp)) } td { (a.format) }
                        td { code { (a.message_id) } } td { code { (a.kid) } } td { (summary(&a.document)) }
                    }
                }
            }
        },
    ))
}

/// A one-line summary of an exchange document.
fn summary(doc: &Value) -> String {
    if let Some(objects) = doc["objects"].as_array() {
        let main = objects
            .iter()
            .find(|o| matches!(o["type"].as_str(), Some("incident" | "vulnerability")));
        let name = main
            .and_then(|o| o["name"].as_str())
            .unwrap_or("(no incident)");
        let n = objects.iter().filter(|o| o["type"] == "indicator").count();
        return format!("{name} — {n} indicators");
    }
    let inc = &doc["Incident"][0];
    let name = inc["Description"][0].as_str().unwrap_or("(no description)");
    let n = inc["Indicator"].as_array().map_or(0, Vec::len);
    format!("{name} — {n} indicators")
}
