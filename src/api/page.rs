//! Lists come in pages: `?limit=` (default [`DEFAULT_LIMIT`], at most [`MAX_LIMIT`]) and
//! `?after=` (the position of the last item of the page before). The answer is the JSON
//! array of the page; when there may be more, a `Link: <...>; rel="next"` header names the
//! next page, with the same filters. No list loads documents it does not show.

use axum::http::{header, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::error::ApiError;

/// Items on a page when the request does not say.
pub const DEFAULT_LIMIT: usize = 100;
/// The most items on a page.
pub const MAX_LIMIT: usize = 1000;

/// `?limit=&after=`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PageQuery {
    /// Items on the page.
    #[serde(default)]
    pub limit: Option<usize>,
    /// The position the page starts after.
    #[serde(default)]
    pub after: Option<String>,
}

impl PageQuery {
    /// The page size asked for, within bounds.
    pub fn limit(&self) -> usize {
        self.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
    }

    /// `after` as a sequence number.
    pub fn after_seq(&self) -> Result<Option<u64>, ApiError> {
        self.after
            .as_deref()
            .map(|a| {
                a.parse().map_err(|_| {
                    ApiError::BadRequest(vec![crate::schema::Violation::new(
                        "/after",
                        format!("`{a}` is not a position in this list"),
                    )])
                })
            })
            .transpose()
    }
}

/// The page as a JSON array, with a `Link` to the next one when the page is full. `next`
/// is the position of the page's last item.
pub fn paged<T: Serialize>(
    uri: &Uri,
    items: Vec<T>,
    limit: usize,
    next: Option<String>,
) -> Response {
    let full = items.len() >= limit;
    link_next(uri, items, limit, next.filter(|_| full))
}

/// A page of a search ([`crate::store::scan_pages`]): the `Link` to the next page whenever
/// the search has one, a page that holds fewer than `limit` included (the search stopped at
/// its budget; it goes on from there).
pub fn searched<T: Serialize>(
    uri: &Uri,
    items: Vec<T>,
    limit: usize,
    next: Option<String>,
) -> Response {
    link_next(uri, items, limit, next)
}

fn link_next<T: Serialize>(
    uri: &Uri,
    items: Vec<T>,
    limit: usize,
    next: Option<String>,
) -> Response {
    let mut res = Json(items).into_response();
    if let Some(next) = next {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
            if k != "after" && k != "limit" {
                q.append_pair(&k, &v);
            }
        }
        q.append_pair("limit", &limit.to_string());
        q.append_pair("after", &next);
        let link = format!("<{}?{}>; rel=\"next\"", uri.path(), q.finish());
        if let Ok(v) = HeaderValue::from_str(&link) {
            res.headers_mut().insert(header::LINK, v);
        }
    }
    res
}
