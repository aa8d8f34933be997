//! Analyst sessions for the pages: the login takes the analyst token once and sets a random
//! session id in a cookie that is HttpOnly and SameSite=Strict (no cross-site form posts).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup, DOCTYPE};
use serde::Deserialize;

use super::layout::page_plain;
use crate::api::AppState;

/// How long a login lasts.
const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);
const COOKIE: &str = "irtx_session";

/// Logged-in sessions: random id -> expiry.
#[derive(Default)]
pub struct Sessions(Mutex<HashMap<String, Instant>>);

impl Sessions {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn create(&self) -> String {
        let id = crate::keys::random_hex32();
        let mut m = self.map();
        let now = Instant::now();
        m.retain(|_, exp| *exp > now);
        m.insert(id.clone(), now + SESSION_TTL);
        id
    }

    fn valid(&self, id: &str) -> bool {
        self.map().get(id).is_some_and(|exp| *exp > Instant::now())
    }

    fn remove(&self, id: &str) {
        self.map().remove(id);
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

/// Middleware: these pages need a session; without one, the login.
pub async fn require(State(s): State<AppState>, req: Request, next: Next) -> Response {
    match session_of(req.headers()) {
        Some(id) if s.sessions.valid(&id) => next.run(req).await,
        _ => Redirect::to("/ui/login").into_response(),
    }
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
    if !s.token.matches(&f.token) {
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
