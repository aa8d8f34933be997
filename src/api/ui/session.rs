//! Analyst sessions for the pages. The login takes the analyst token once and sets a random
//! session id in a cookie that is HttpOnly, SameSite=Strict, and Secure under TLS. Every
//! state-changing request must come from the gateway's own origin (the `Origin` header, when
//! the browser sends one) and carry the session's CSRF token from the form it was made with:
//! SameSite alone does not stop a page on another port of the same host. Failed logins are
//! limited per address (`[api] login_attempts_per_minute`).
//!
//! Sessions live in memory only: a restart logs every analyst out. That is deliberate: a
//! session cookie copied from a browser dies with the process, and nothing about sessions is
//! written to disk.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup, DOCTYPE};
use serde::Deserialize;

use super::layout::page_plain;
use crate::api::AppState;

/// How long a login lasts.
const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);
const COOKIE: &str = "irtx_session";

/// A logged-in analyst's session, as the pages see it.
#[derive(Debug, Clone)]
pub struct Session {
    /// The token every form of this session carries.
    pub csrf: String,
}

struct Entry {
    expires: Instant,
    csrf: String,
}

/// Logged-in sessions by random id, and login attempts per address.
pub struct Sessions {
    map: Mutex<HashMap<String, Entry>>,
    logins: Option<governor::DefaultKeyedRateLimiter<IpAddr>>,
    secure: bool,
}

impl Sessions {
    /// Sessions whose cookies are `Secure` when `secure` (the listener speaks TLS), with at
    /// most `logins_per_minute` login attempts per address (0: no limit).
    pub fn new(secure: bool, logins_per_minute: u32) -> Self {
        Sessions {
            map: Mutex::default(),
            logins: std::num::NonZeroU32::new(logins_per_minute)
                .map(|n| governor::RateLimiter::keyed(governor::Quota::per_minute(n))),
            secure,
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn create(&self) -> String {
        let id = crate::keys::random_hex32();
        let mut m = self.map();
        let now = Instant::now();
        m.retain(|_, e| e.expires > now);
        m.insert(
            id.clone(),
            Entry {
                expires: now + SESSION_TTL,
                csrf: crate::keys::random_hex32(),
            },
        );
        id
    }

    fn get(&self, id: &str) -> Option<Session> {
        self.map()
            .get(id)
            .filter(|e| e.expires > Instant::now())
            .map(|e| Session {
                csrf: e.csrf.clone(),
            })
    }

    fn remove(&self, id: &str) {
        self.map().remove(id);
    }

    fn cookie(&self, value: &str, max_age: u64) -> String {
        format!(
            "{COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/ui; Max-Age={max_age}{}",
            if self.secure { "; Secure" } else { "" }
        )
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

/// The hidden field that carries the session's CSRF token in a form.
pub fn csrf_field(s: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(s.csrf); }
}

fn forbidden(why: &str) -> Response {
    tracing::warn!(reason = why, "page request refused");
    (StatusCode::FORBIDDEN, page_plain("Refused", why)).into_response()
}

/// Whether a state-changing request comes from our own pages: its `Origin`, when the browser
/// sends one, must be this gateway's.
fn same_origin(s: &AppState, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let scheme = if s.sessions.secure { "https" } else { "http" };
    origin == format!("{scheme}://{host}")
}

/// Middleware: these pages need a session (without one, the login); a state-changing
/// request must also be same-origin and carry the session's CSRF token.
pub async fn require(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let Some(session) = session_of(req.headers()).and_then(|id| s.sessions.get(&id)) else {
        return Redirect::to("/ui/login").into_response();
    };
    let req = if req.method() == Method::GET || req.method() == Method::HEAD {
        req
    } else {
        if !same_origin(&s, req.headers()) {
            return forbidden("This form was not sent from the gateway's own pages.");
        }
        let (parts, body) = req.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, s.max_form_bytes).await else {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                page_plain("Refused", "The form is too large."),
            )
                .into_response();
        };
        let token = url::form_urlencoded::parse(&bytes)
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.into_owned());
        let matches = token.is_some_and(|t| {
            use sha2::Digest as _;
            // Compared as digests: the time taken says nothing about the token.
            sha2::Sha256::digest(t.as_bytes()) == sha2::Sha256::digest(session.csrf.as_bytes())
        });
        if !matches {
            return forbidden(
                "This form has no valid session token; reload the page and try again.",
            );
        }
        Request::from_parts(parts, Body::from(bytes))
    };
    let mut req = req;
    req.extensions_mut().insert(session);
    next.run(req).await
}

/// Middleware for the public pages: a login form posted from elsewhere is refused.
pub async fn same_origin_only(State(s): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::GET && !same_origin(&s, req.headers()) {
        return forbidden("This form was not sent from the gateway's own pages.");
    }
    next.run(req).await
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

/// `POST /ui/login`: a session for the analyst token; failed attempts are limited per
/// address.
pub async fn login(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    axum::Form(f): axum::Form<LoginForm>,
) -> Response {
    // Every attempt counts, so a guess is refused before it is compared.
    let limited = s
        .sessions
        .logins
        .as_ref()
        .is_some_and(|l| l.check_key(&peer.ip()).is_err());
    if limited {
        tracing::warn!(remote = %peer.ip(), "analyst logins from this address are being limited");
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "60")],
            page_plain(
                "Too many attempts",
                "Too many logins from this address; wait a minute.",
            ),
        )
            .into_response();
    }
    if !s.token.matches(&f.token) {
        tracing::warn!(remote = %peer.ip(), "analyst login refused");
        return (
            StatusCode::UNAUTHORIZED,
            page_plain("Login refused", "That is not the analyst token."),
        )
            .into_response();
    }
    let id = s.sessions.create();
    let cookie = s.sessions.cookie(&id, SESSION_TTL.as_secs());
    ([(header::SET_COOKIE, cookie)], Redirect::to("/ui")).into_response()
}

/// `POST /ui/logout`.
pub async fn logout(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(id) = session_of(&headers) {
        s.sessions.remove(&id);
    }
    let cookie = s.sessions.cookie("", 0);
    ([(header::SET_COOKIE, cookie)], Redirect::to("/ui/login")).into_response()
}
