//! The TAXII 2.1 server under `/taxii2/` (DESIGN.md section 8): discovery, the API root
//! `irtx`, the collections `shared` (read) and `inbox` (write), objects, object by id,
//! versions, manifest and status. Each peer authenticates with its token (Basic with its id,
//! Bearer or Token, the scheme in any case) and sees only its own share. Every answer,
//! errors included, is `application/taxii+json;version=2.1`.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use serde_json::{json, Value};

use super::extract::BodyLimit;
use super::AppState;
use crate::federation::taxii::{Page, View};
use crate::federation::ServiceError;
use crate::peer::Peer;
use crate::taxii::{self, CollectionKind, TAXII_MEDIA_TYPE};

/// A TAXII answer: its status and its JSON, with the TAXII media type.
struct Taxii(StatusCode, Value, Vec<(&'static str, String)>);

impl IntoResponse for Taxii {
    fn into_response(self) -> Response {
        let mut res = (self.0, self.1.to_string()).into_response();
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(TAXII_MEDIA_TYPE),
        );
        for (name, value) in self.2 {
            if let Ok(v) = HeaderValue::from_str(&value) {
                h.insert(name, v);
            }
        }
        res
    }
}

fn ok(v: Value) -> Taxii {
    Taxii(StatusCode::OK, v, Vec::new())
}

/// A TAXII error message with its status.
fn error(status: StatusCode, title: &str, description: impl Into<String>) -> Taxii {
    let description = description.into();
    Taxii(
        status,
        taxii::error(status.as_u16(), title, &description),
        Vec::new(),
    )
}

impl From<ServiceError> for Taxii {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid(v) => error(
                StatusCode::BAD_REQUEST,
                "bad request",
                v.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            e @ ServiceError::NotFound { .. } => {
                error(StatusCode::NOT_FOUND, "not found", e.to_string())
            }
            ServiceError::Conflict(w) => error(StatusCode::TOO_MANY_REQUESTS, "try later", w),
            ServiceError::Store(e) => {
                tracing::error!(error = %format!("{e:#}"), "the store failed; answered 503");
                let mut t = error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the gateway's store is unavailable; retry later",
                );
                t.2.push(("retry-after", "5".into()));
                t
            }
            e @ ServiceError::Corrupt(_) => {
                tracing::error!(error = %e, "TAXII request failed");
                error(StatusCode::INTERNAL_SERVER_ERROR, "internal error", "")
            }
        }
    }
}

/// Runs a service call off the async threads.
async fn blocking<T: Send + 'static>(
    s: &AppState,
    f: impl FnOnce(&crate::federation::Gateway) -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, Taxii> {
    let g = s.gateway.clone();
    match tokio::task::spawn_blocking(move || f(&g)).await {
        Ok(r) => r.map_err(Taxii::from),
        Err(e) => Err(ServiceError::Corrupt(format!("task failed: {e}")).into()),
    }
}

/// The peer a request is from: its credentials checked, the `Accept` header served.
async fn authenticate(
    State(s): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, Taxii> {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    if !taxii::accepts(accept) {
        return Err(error(
            StatusCode::NOT_ACCEPTABLE,
            "not acceptable",
            format!("answers are {TAXII_MEDIA_TYPE}; the Accept header allows none of it"),
        ));
    }
    let creds = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(taxii::credentials);
    let unauthorized = || {
        let mut t = error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a peer's TAXII token is required: HTTP Basic with the peer id as user, or Bearer, or Token (`irtx peer token ID` issues it)",
        );
        t.2.push(("www-authenticate", "Basic realm=\"irtx TAXII\"".into()));
        t
    };
    let Some(creds) = creds else {
        return Err(unauthorized());
    };
    let peer = blocking(&s, move |g| g.taxii_peer(&creds))
        .await?
        .ok_or_else(unauthorized)?;
    req.extensions_mut().insert(peer);
    Ok(next.run(req).await)
}

/// Gives every error answer the TAXII shape and media type, whoever made it (a method
/// not allowed, a timeout, a path that does not parse).
async fn taxii_errors(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let is_taxii = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == TAXII_MEDIA_TYPE.as_bytes());
    if (res.status().is_client_error() || res.status().is_server_error()) && !is_taxii {
        {
            let status = res.status();
            let title = status.canonical_reason().unwrap_or("error").to_lowercase();
            let mut t = error(status, &title, title.clone());
            if let Some(allow) = res.headers().get(header::ALLOW) {
                t.2.push(("allow", allow.to_str().unwrap_or_default().to_string()));
            }
            return t.into_response();
        }
    }
    res
}

/// The TAXII router, to be nested at `/taxii2` (with [`discovery_route`] at `/taxii2/`).
/// Every path answers with and without its trailing slash.
pub fn router(state: AppState) -> Router<AppState> {
    let mut r = Router::new();
    let routes: [(&str, axum::routing::MethodRouter<AppState>); 9] = [
        ("/", get(discovery)),
        ("/{root}/", get(api_root)),
        ("/{root}/status/{id}/", get(status)),
        ("/{root}/collections/", get(collections)),
        ("/{root}/collections/{cid}/", get(collection)),
        (
            "/{root}/collections/{cid}/objects/",
            get(objects).post(add_objects),
        ),
        (
            "/{root}/collections/{cid}/objects/{oid}/",
            get(object).delete(delete_object),
        ),
        (
            "/{root}/collections/{cid}/objects/{oid}/versions/",
            get(versions),
        ),
        ("/{root}/collections/{cid}/manifest/", get(manifest)),
    ];
    for (path, handler) in routes {
        r = r.route(path, handler.clone());
        if path != "/" {
            r = r.route(path.trim_end_matches('/'), handler);
        }
    }
    r.fallback(|| async { error(StatusCode::NOT_FOUND, "not found", "no such TAXII resource") })
        .route_layer(middleware::from_fn_with_state(state, authenticate))
        .layer(middleware::from_fn(taxii_errors))
}

/// Discovery at `/taxii2/` (the nested router has it at `/taxii2`).
pub fn discovery_route(state: AppState) -> axum::routing::MethodRouter<AppState> {
    get(discovery)
        .route_layer(middleware::from_fn_with_state(state, authenticate))
        .layer(middleware::from_fn(taxii_errors))
}

fn root_checked(root: &str) -> Result<(), Taxii> {
    if root == taxii::API_ROOT {
        Ok(())
    } else {
        Err(error(
            StatusCode::NOT_FOUND,
            "not found",
            format!(
                "no API root `{root}`; this server has `/taxii2/{}/`",
                taxii::API_ROOT
            ),
        ))
    }
}

fn collection_of(s: &AppState, root: &str, cid: &str) -> Result<CollectionKind, Taxii> {
    root_checked(root)?;
    CollectionKind::by_id(s.gateway.team.id.as_str(), cid).ok_or_else(|| {
        error(
            StatusCode::NOT_FOUND,
            "not found",
            format!("no collection `{cid}`"),
        )
    })
}

fn readable(kind: CollectionKind) -> Result<(), Taxii> {
    match kind {
        CollectionKind::Shared => Ok(()),
        CollectionKind::Inbox => Err(error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the inbox collection is write-only (can_read: false)",
        )),
    }
}

/// The query string's parameters, decoded.
fn params(uri: &Uri) -> Vec<(String, String)> {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

async fn discovery(State(s): State<AppState>) -> Taxii {
    ok(taxii::discovery(&s.gateway.team.name))
}

async fn api_root(
    State(s): State<AppState>,
    axum::extract::Path(root): axum::extract::Path<String>,
    Extension(BodyLimit(limit)): Extension<BodyLimit>,
) -> Result<Taxii, Taxii> {
    root_checked(&root)?;
    Ok(ok(taxii::api_root(&s.gateway.team.name, limit)))
}

async fn status(
    State(s): State<AppState>,
    Extension(peer): Extension<Peer>,
    axum::extract::Path((root, id)): axum::extract::Path<(String, String)>,
) -> Result<Taxii, Taxii> {
    root_checked(&root)?;
    Ok(ok(blocking(&s, move |g| g.taxii_status(&peer, &id)).await?))
}

async fn collections(
    State(s): State<AppState>,
    axum::extract::Path(root): axum::extract::Path<String>,
) -> Result<Taxii, Taxii> {
    root_checked(&root)?;
    let team = s.gateway.team.id.as_str();
    Ok(ok(json!({
        "collections": CollectionKind::ALL.iter().map(|k| k.resource(team)).collect::<Vec<_>>()
    })))
}

async fn collection(
    State(s): State<AppState>,
    axum::extract::Path((root, cid)): axum::extract::Path<(String, String)>,
) -> Result<Taxii, Taxii> {
    let kind = collection_of(&s, &root, &cid)?;
    Ok(ok(kind.resource(s.gateway.team.id.as_str())))
}

/// A page as TAXII answers it: `X-TAXII-Date-Added-First/Last` for what it holds.
fn paged(page: &Page, body: Value) -> Taxii {
    answer(date_added_bounds(page), body)
}

/// The `date_added` of a page's first and last objects, when it has any.
fn date_added_bounds(page: &Page) -> Option<(i64, i64)> {
    let (first, last) = (page.objects.first()?, page.objects.last()?);
    Some((first.date_added_us, last.date_added_us))
}

/// A page's answer: `body`, with the `date_added` of its first and last objects as headers.
fn answer(added: Option<(i64, i64)>, body: Value) -> Taxii {
    let headers = added.map_or_else(Vec::new, |(first, last)| {
        vec![
            ("x-taxii-date-added-first", taxii::timestamp_us(first)),
            ("x-taxii-date-added-last", taxii::timestamp_us(last)),
        ]
    });
    Taxii(StatusCode::OK, body, headers)
}

/// An envelope: `more`, `next` when there is more, `objects` when there are any.
fn envelope(page: &Page, items: Vec<Value>, key: &str) -> Value {
    let mut v = json!({"more": page.more});
    if let Some(n) = &page.next {
        v["next"] = json!(n);
    }
    if !items.is_empty() {
        v[key] = Value::Array(items);
    }
    v
}

async fn read_page(
    s: &AppState,
    peer: Peer,
    root: &str,
    cid: &str,
    view: View,
    uri: &Uri,
) -> Result<Page, Taxii> {
    let kind = collection_of(s, root, cid)?;
    readable(kind)?;
    let params = params(uri);
    blocking(s, move |g| g.taxii_page(&peer, &view, &params)).await
}

fn objects_envelope(mut page: Page) -> Taxii {
    let added = date_added_bounds(&page);
    // The objects move into the answer (a page of 1,000 is about a megabyte).
    let objects = std::mem::take(&mut page.objects);
    let items = objects.into_iter().map(|o| o.object).collect();
    answer(added, envelope(&page, items, "objects"))
}

async fn objects(
    State(s): State<AppState>,
    Extension(peer): Extension<Peer>,
    axum::extract::Path((root, cid)): axum::extract::Path<(String, String)>,
    uri: Uri,
) -> Result<Taxii, Taxii> {
    let page = read_page(&s, peer, &root, &cid, View::Objects, &uri).await?;
    Ok(objects_envelope(page))
}

async fn object(
    State(s): State<AppState>,
    Extension(peer): Extension<Peer>,
    axum::extract::Path((root, cid, oid)): axum::extract::Path<(String, String, String)>,
    uri: Uri,
) -> Result<Taxii, Taxii> {
    let page = read_page(&s, peer, &root, &cid, View::Object(oid), &uri).await?;
    Ok(objects_envelope(page))
}

async fn versions(
    State(s): State<AppState>,
    Extension(peer): Extension<Peer>,
    axum::extract::Path((root, cid, oid)): axum::extract::Path<(String, String, String)>,
    uri: Uri,
) -> Result<Taxii, Taxii> {
    let page = read_page(&s, peer, &root, &cid, View::Versions(oid), &uri).await?;
    let items = page.objects.iter().map(|o| json!(version_of(o))).collect();
    Ok(paged(&page, envelope(&page, items, "versions")))
}

fn version_of(o: &crate::store::TaxiiObject) -> String {
    if o.version.is_empty() {
        taxii::timestamp_us(o.date_added_us)
    } else {
        o.version.clone()
    }
}

async fn manifest(
    State(s): State<AppState>,
    Extension(peer): Extension<Peer>,
    axum::extract::Path((root, cid)): axum::extract::Path<(String, String)>,
    uri: Uri,
) -> Result<Taxii, Taxii> {
    let page = read_page(&s, peer, &root, &cid, View::Manifest, &uri).await?;
    let items = page
        .objects
        .iter()
        .map(|o| {
            json!({
                "id": o.id,
                "date_added": taxii::timestamp_us(o.date_added_us),
                "version": version_of(o),
                "media_type": taxii::STIX_MEDIA_TYPE,
            })
        })
        .collect();
    Ok(paged(&page, envelope(&page, items, "objects")))
}

async fn delete_object(
    State(s): State<AppState>,
    axum::extract::Path((root, cid, _)): axum::extract::Path<(String, String, String)>,
) -> Result<Taxii, Taxii> {
    collection_of(&s, &root, &cid)?;
    Err(error(
        StatusCode::FORBIDDEN,
        "forbidden",
        "objects are not deleted over TAXII; the sending team retracts a report instead",
    ))
}

async fn add_objects(
    State(s): State<AppState>,
    Extension(peer): Extension<Peer>,
    Extension(BodyLimit(limit)): Extension<BodyLimit>,
    axum::extract::Path((root, cid)): axum::extract::Path<(String, String)>,
    headers: HeaderMap,
    method: Method,
    body: Body,
) -> Result<Taxii, Taxii> {
    debug_assert_eq!(method, Method::POST);
    let kind = collection_of(&s, &root, &cid)?;
    if kind != CollectionKind::Inbox {
        return Err(error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the shared collection is read-only (can_write: false); post to the inbox collection",
        ));
    }
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if !taxii::readable_body(ct) {
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported media type",
            format!(
                "`{}` is not read here; post {TAXII_MEDIA_TYPE}, {} or application/json",
                ct.unwrap_or("(no Content-Type)"),
                taxii::STIX_MEDIA_TYPE
            ),
        ));
    }
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too large",
            format!("the limit is {limit} bytes (max_content_length)"),
        )
    })?;
    let status = blocking(&s, move |g| g.taxii_post(&peer, &bytes)).await?;
    Ok(Taxii(StatusCode::ACCEPTED, status, Vec::new()))
}
