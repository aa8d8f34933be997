//! What every page shares: the frame with its navigation, TLP badges in FIRST's colours, the
//! style sheet, and the error pages.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use super::session::{csrf_field, Session};
use crate::api::AppState;
use crate::federation::{Gateway, ServiceError};

/// TLP 2.0 colours (FIRST): text in the label's colour on black (classes of the style
/// sheet: the pages' Content-Security-Policy allows no inline style).
pub fn tlp_badge(label: &str) -> Markup {
    let class = match label {
        "RED" => "tlp tlp-red",
        "AMBER" | "AMBER+STRICT" => "tlp tlp-amber",
        "GREEN" => "tlp tlp-green",
        _ => "tlp tlp-clear",
    };
    html! { span class=(class) { "TLP:" (label) } }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#111}\
nav{background:#111;padding:.6em 1em}nav a{color:#eee;margin-right:1.2em;text-decoration:none}\
main{padding:1em 1.5em}table{border-collapse:collapse;width:100%;margin:.5em 0}\
th,td{border-bottom:1px solid #ddd;padding:.35em .5em;text-align:left;font-size:.92em;vertical-align:top}\
th{background:#f3f3f3}.tlp{font-weight:600;padding:.1em .4em;border-radius:3px;font-family:monospace;background:#000}\
.tlp-red{color:#FF2B2B}.tlp-amber{color:#FFC000}.tlp-green{color:#33FF00}.tlp-clear{color:#FFFFFF}\
.queued,.delivered{color:#067d17}.withheld,.refused,.dead-lettered{color:#b00020}.failing{color:#a15c00}\
form.inline{display:inline}textarea{width:100%;font-family:monospace}code{font-size:.9em}\
.note{color:#555}.err{color:#b00020}.ok{color:#067d17}\
td,th,p,li{overflow-wrap:break-word}th{white-space:nowrap}.tlp{white-space:nowrap}\
td a,td code,td.why,h1,.latest a{overflow-wrap:anywhere}\
.queued,.delivered,.withheld,.refused,.dead-lettered,.failing,.retried,.error,.published,.pulled,.received,.retracted,.held,.current,.superseded{white-space:nowrap}\
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f7f7f7;padding:.5em;max-height:40em;overflow-y:auto}\
.pager a{margin-right:1em}details summary{cursor:pointer}";

/// A page in the frame, for a logged-in analyst.
pub fn page(title: &str, session: &Session, body: Markup) -> Markup {
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
                    a href="/ui/inbound" { "Inbound" }
                    form.inline method="post" action="/ui/logout" { (csrf_field(session)) button type="submit" { "Log out" } }
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

/// A bare page with one message (errors, the refused login).
pub fn page_plain(title: &str, text: &str) -> Markup {
    html! { (DOCTYPE) html { head { meta charset="utf-8"; title { (title) } } body { main { h1 { (title) } p.err { (text) } a href="/ui/login" { "Back" } } } } }
}

/// Runs a page's action off the async threads: back to `page` when it worked; invalid input
/// is a 422 page titled `failure` with every reason; any other failure is [`failed`].
pub async fn then_back<T: Send + 'static>(
    page: &str,
    failure: &str,
    f: impl FnOnce() -> Result<T, ServiceError> + Send + 'static,
) -> Response {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(_)) => axum::response::Redirect::to(page).into_response(),
        Ok(Err(ServiceError::Invalid(v))) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            page_plain(
                failure,
                &v.iter()
                    .map(|p| p.reason.clone())
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        )
            .into_response(),
        Ok(Err(e)) => failed(e),
        Err(e) => failed(e),
    }
}

/// The answer of a page that failed: logged once here; the page says only that it failed.
pub fn failed(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "page failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        page_plain("Error", "Something failed; the log says what."),
    )
        .into_response()
}

/// Runs a store-bound step off the async threads; a failure is the error page.
pub async fn read<T: Send + 'static>(
    s: &AppState,
    f: impl FnOnce(&Gateway) -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, Response> {
    let g = s.gateway.clone();
    match tokio::task::spawn_blocking(move || f(&g)).await {
        Ok(Ok(t)) => Ok(t),
        Ok(Err(e)) => Err(failed(e)),
        Err(e) => Err(failed(e)),
    }
}

/// A file to download: `body` as `content_type`, saved as `filename`.
pub fn attachment(content_type: &str, filename: &str, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// A report's id, linked to its page.
pub fn report_link(id: &str) -> Markup {
    html! { a href={ "/ui/reports/" (urlencode(id)) } { (id) } }
}

/// A message id, linked to its page.
pub fn message_link(id: &crate::envelope::MessageId) -> Markup {
    html! { a.msg href={ "/ui/messages/" (id) } { code { (id) } } }
}

/// A peer's id, linked to what was disclosed to it.
pub fn peer_link(id: &str) -> Markup {
    html! { a href={ "/ui/disclosures?peer=" (urlencode(id)) } { (id) } }
}

/// Every value a posted form gives `field` (the peers ticked: `peer=a&peer=b`), in order.
pub fn form_values(body: &[u8], field: &str) -> Vec<String> {
    url::form_urlencoded::parse(body)
        .filter(|(k, _)| k == field)
        .map(|(_, v)| v.into_owned())
        .collect()
}

/// A path segment, percent-encoded.
pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// What a search box asks for, lowercased; `None` when nothing.
pub fn needle(q: Option<&str>) -> Option<String> {
    q.map(str::trim)
        .filter(|q| !q.is_empty())
        .map(str::to_lowercase)
}

/// The search box of a list.
pub fn search_form(action: &str, q: Option<&str>, hint: &str) -> Markup {
    html! {
        form method="get" action=(action) #search {
            label { "Search " input name="q" id="q" value=(q.unwrap_or("")) placeholder=(hint); }
            " " button type="submit" id="search-button" { "Search" }
        }
    }
}

/// The link to the next page of a searched list, the search kept.
pub fn next_link(action: &str, q: Option<&str>, next: Option<String>) -> Markup {
    html! { @if let Some(n) = next { p.pager { a #next href={ (action) "?q=" (urlencode(q.unwrap_or(""))) "&after=" (urlencode(&n)) } { "Next page" } } } }
}
