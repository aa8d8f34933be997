//! TAXII 2.1 (DESIGN.md section 8, OASIS TAXII 2.1), what needs no I/O: media types and
//! content negotiation, the peer's credentials, the collections and their ids, the query
//! (filters, limit, the opaque cursor), which objects a query selects, and the resources'
//! JSON. The HTTP handlers are `api::taxii`; the collections live in the store. Pure.
//!
//! The cursor (`next`) is a position in the collection's own sequence together with the
//! filters of the first request, so a page never skips or repeats an object, whatever
//! timestamps objects share, and later pages cannot drop the filters.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::timestamp::parse_rfc3339;

/// Every TAXII answer's media type, errors included.
pub const TAXII_MEDIA_TYPE: &str = "application/taxii+json;version=2.1";
/// The media type of the objects the collections hold.
pub const STIX_MEDIA_TYPE: &str = "application/stix+json;version=2.1";
/// The one API root's name: `/taxii2/irtx/`.
pub const API_ROOT: &str = "irtx";
/// Objects per page when the client gives no `limit`.
pub const DEFAULT_LIMIT: usize = 100;
/// The most objects per page, whatever `limit` says.
pub const MAX_LIMIT: usize = 1000;

/// A media type's `type/subtype` (lower case) and its parameters (names lower case).
fn media(s: &str) -> (String, Vec<(String, String)>) {
    let mut parts = s.split(';');
    let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let params = parts
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            Some((
                k.trim().to_ascii_lowercase(),
                v.trim().trim_matches('"').to_string(),
            ))
        })
        .collect();
    (essence, params)
}

fn version_is_21(params: &[(String, String)]) -> bool {
    params
        .iter()
        .find(|(k, _)| k == "version")
        .is_none_or(|(_, v)| v == "2.1")
}

/// Whether an `Accept` header lets us answer with [`TAXII_MEDIA_TYPE`]: no header, `*/*`,
/// `application/*`, `application/json`, or `application/taxii+json` (version 2.1 or none),
/// with any `q` other than 0.
pub fn accepts(accept: Option<&str>) -> bool {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return true;
    };
    accept.split(',').any(|range| {
        let (essence, params) = media(range);
        let refused = params
            .iter()
            .any(|(k, v)| k == "q" && v.parse::<f32>().is_ok_and(|q| q == 0.0));
        !refused
            && match essence.as_str() {
                "*/*" | "application/*" | "application/json" => true,
                "application/taxii+json" => version_is_21(&params),
                _ => false,
            }
    })
}

/// Whether a POST body's `Content-Type` is one we read: the TAXII or STIX 2.1 media type
/// (version 2.1 or none), or `application/json`.
pub fn readable_body(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else {
        return false;
    };
    let (essence, params) = media(ct);
    match essence.as_str() {
        "application/json" => true,
        "application/taxii+json" | "application/stix+json" => version_is_21(&params),
        _ => false,
    }
}

/// What a client presented in `Authorization`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// HTTP Basic: the peer id as user, the token as password.
    Basic {
        /// The user (a peer id).
        user: String,
        /// The password (the token).
        password: String,
    },
    /// `Bearer TOKEN` or `Token TOKEN`.
    Token(String),
}

/// Reads an `Authorization` header: `Basic`, `Bearer` or `Token`, the scheme in any case.
pub fn credentials(header: &str) -> Option<Credentials> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = STANDARD.decode(rest).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, password) = text.split_once(':')?;
        Some(Credentials::Basic {
            user: user.to_string(),
            password: password.to_string(),
        })
    } else if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token") {
        (!rest.is_empty()).then(|| Credentials::Token(rest.to_string()))
    } else {
        None
    }
}

/// The SHA-256 (hex) of a token: what a peer record keeps.
pub fn token_digest(token: &str) -> String {
    hex(&Sha256::digest(token.trim().as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The collections every peer sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CollectionKind {
    /// Read: what was disclosed to the peer, as it was disclosed.
    Shared,
    /// Write: what the peer sends us.
    Inbox,
}

impl CollectionKind {
    /// Both, in the order listed.
    pub const ALL: [CollectionKind; 2] = [CollectionKind::Shared, CollectionKind::Inbox];

    /// Its alias.
    pub fn name(self) -> &'static str {
        match self {
            CollectionKind::Shared => "shared",
            CollectionKind::Inbox => "inbox",
        }
    }

    /// Its id for `team`'s gateway: a UUIDv4 in form (as Microsoft Sentinel requires),
    /// derived from the team and the alias, so it stays the same across restarts.
    pub fn id(self, team: &str) -> String {
        let digest = Sha256::digest(format!("irtx taxii collection {team} {}", self.name()));
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string()
    }

    /// The collection whose id (or alias) is `id`.
    pub fn by_id(team: &str, id: &str) -> Option<CollectionKind> {
        CollectionKind::ALL
            .into_iter()
            .find(|k| k.id(team) == id.to_ascii_lowercase() || k.name() == id)
    }

    /// The collection resource.
    pub fn resource(self, team: &str) -> Value {
        let (title, description, read) = match self {
            CollectionKind::Shared => (
                "Shared with you",
                "What this team disclosed to you, exactly as it was disclosed: its decision, redaction and anonymization for you.",
                true,
            ),
            CollectionKind::Inbox => (
                "Inbox",
                "Post STIX 2.1 objects for this team; they are checked like any inbound document and become alerts.",
                false,
            ),
        };
        json!({
            "id": self.id(team),
            "title": title,
            "description": description,
            "alias": self.name(),
            "can_read": read,
            "can_write": !read,
            "media_types": [STIX_MEDIA_TYPE],
        })
    }
}

/// The discovery resource (`/taxii2/`).
pub fn discovery(team_name: &str) -> Value {
    let root = format!("/taxii2/{API_ROOT}/");
    json!({
        "title": format!("{team_name} (irtx)"),
        "description": "irtx exchange gateway: each client reads exactly what this team shares with it.",
        "default": root,
        "api_roots": [root],
    })
}

/// The API root resource.
pub fn api_root(team_name: &str, max_content_length: usize) -> Value {
    json!({
        "title": format!("{team_name} (irtx)"),
        "versions": [TAXII_MEDIA_TYPE],
        "max_content_length": max_content_length,
    })
}

/// A TAXII error message; `http_status` as the string TAXII 2.1 has it.
pub fn error(status: u16, title: &str, description: &str) -> Value {
    json!({
        "title": title,
        "description": description,
        "http_status": status.to_string(),
    })
}

/// Which versions of each object a query asks for (`match[version]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VersionMatch {
    /// The earliest.
    First,
    /// The latest (the default).
    Last,
    /// Every version.
    All,
    /// The version with this time (microseconds since the epoch).
    At(i128),
}

/// The filters of a query; a cursor carries them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    /// `match[id]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<String>,
    /// `match[type]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
    /// `match[version]`; empty means the latest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<VersionMatch>,
    /// `match[spec_version]`; empty means any (every object here is 2.1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spec_versions: Vec<String>,
    /// `added_after`, in microseconds since the epoch (exclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added_after: Option<i64>,
}

/// A query: what to select, how many, from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// The filters (from the cursor, when one is given).
    pub filter: Filter,
    /// Objects per page.
    pub limit: usize,
    /// The position after which to read (0: from the start).
    pub after: u64,
}

#[derive(Serialize, Deserialize)]
struct Cursor {
    /// The collection it belongs to.
    c: String,
    /// The last position served.
    a: u64,
    /// The filters.
    f: Filter,
}

/// The opaque `next` for a page that ended at position `after`.
pub fn next_cursor(collection: &str, after: u64, filter: &Filter) -> String {
    let c = Cursor {
        c: collection.to_string(),
        a: after,
        f: filter.clone(),
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).expect("a cursor serializes"))
}

/// A query parameter that cannot be served, with the parameter's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{param}: {reason}")]
pub struct QueryError {
    /// The parameter.
    pub param: String,
    /// Why.
    pub reason: String,
}

fn bad(param: &str, reason: impl Into<String>) -> QueryError {
    QueryError {
        param: param.to_string(),
        reason: reason.into(),
    }
}

/// Microseconds since the epoch of an RFC 3339 time.
pub fn micros(s: &str) -> Option<i128> {
    parse_rfc3339(s).map(|t| t.unix_timestamp_nanos() / 1000)
}

/// A time in microseconds as TAXII writes `date_added`: RFC 3339, UTC, six fraction digits.
pub fn timestamp_us(us: i64) -> String {
    crate::timestamp::Timestamp(
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH),
    )
    .to_micros()
}

/// Reads a query string's parameters for `collection`. `filters` are the `match[...]`
/// names the endpoint takes (`id`, `type`, `version`, `spec_version`). With `next`, the
/// cursor's filters apply and the others given are ignored: a client that drops or changes
/// them on later pages still gets the pages of its first request.
pub fn parse_query(
    params: &[(String, String)],
    collection: &str,
    filters: &[&str],
) -> Result<Query, QueryError> {
    let mut filter = Filter::default();
    let mut limit = DEFAULT_LIMIT;
    let mut cursor: Option<Cursor> = None;
    let list = |v: &str| -> Vec<String> {
        v.split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect()
    };
    for (k, v) in params {
        match k.as_str() {
            "limit" => {
                let n: usize = v
                    .trim()
                    .parse()
                    .map_err(|_| bad("limit", format!("`{v}` is not a whole number")))?;
                limit = if n == 0 {
                    DEFAULT_LIMIT
                } else {
                    n.min(MAX_LIMIT)
                };
            }
            "next" => {
                let bytes = URL_SAFE_NO_PAD
                    .decode(v.trim())
                    .map_err(|_| bad("next", "not a cursor this server issued"))?;
                let c: Cursor = serde_json::from_slice(&bytes)
                    .map_err(|_| bad("next", "not a cursor this server issued"))?;
                if c.c != collection {
                    return Err(bad("next", "the cursor belongs to another collection"));
                }
                cursor = Some(c);
            }
            "added_after" => {
                let t = micros(v).ok_or_else(|| {
                    bad(
                        "added_after",
                        format!("`{v}` is not an RFC 3339 time, e.g. 2026-12-01T00:00:00.000Z"),
                    )
                })?;
                filter.added_after = i64::try_from(t).ok();
            }
            _ if k.starts_with("match[") && k.ends_with(']') => {
                let name = &k[6..k.len() - 1];
                if !filters.contains(&name) {
                    return Err(bad(
                        k,
                        format!(
                            "not a filter of this endpoint (it takes {})",
                            filters
                                .iter()
                                .map(|f| format!("match[{f}]"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
                match name {
                    "id" => filter.ids.extend(list(v)),
                    "type" => filter.types.extend(list(v)),
                    "spec_version" => filter.spec_versions.extend(list(v)),
                    "version" => {
                        for x in list(v) {
                            filter.versions.push(match x.as_str() {
                                "first" => VersionMatch::First,
                                "last" => VersionMatch::Last,
                                "all" => VersionMatch::All,
                                t => VersionMatch::At(micros(t).ok_or_else(|| {
                                    bad(
                                        k,
                                        format!(
                                            "`{t}` is not first, last, all or an RFC 3339 time"
                                        ),
                                    )
                                })?),
                            });
                        }
                    }
                    _ => unreachable!("names are checked against `filters`"),
                }
            }
            // Other parameters are not TAXII's; they change nothing.
            _ => {}
        }
    }
    Ok(match cursor {
        Some(c) => Query {
            filter: c.f,
            limit,
            after: c.a,
        },
        None => Query {
            filter,
            limit,
            after: 0,
        },
    })
}

/// What the selection needs to know of one stored object.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// Its STIX id.
    pub id: &'a str,
    /// Its version (empty: it has none; the time it was added stands in).
    pub version: &'a str,
    /// Its `spec_version`.
    pub spec_version: &'a str,
    /// When the collection got it.
    pub date_added_us: i64,
}

impl Candidate<'_> {
    /// Its version in microseconds.
    pub fn version_us(&self) -> i128 {
        micros(self.version).unwrap_or(i128::from(self.date_added_us))
    }
}

/// Whether `c` is selected by `f`, given the first and last versions (microseconds) of
/// its id in the collection.
pub fn selects(f: &Filter, c: &Candidate<'_>, first_us: i128, last_us: i128) -> bool {
    if !f.ids.is_empty() && !f.ids.iter().any(|i| i == c.id) {
        return false;
    }
    let kind = c.id.split_once("--").map_or(c.id, |(t, _)| t);
    if !f.types.is_empty() && !f.types.iter().any(|t| t == kind) {
        return false;
    }
    if !f.spec_versions.is_empty() && !f.spec_versions.iter().any(|v| v == c.spec_version) {
        return false;
    }
    if f.added_after.is_some_and(|a| c.date_added_us <= a) {
        return false;
    }
    let v = c.version_us();
    let wanted = |m: &VersionMatch| match m {
        VersionMatch::All => true,
        VersionMatch::First => v == first_us,
        VersionMatch::Last => v == last_us,
        VersionMatch::At(t) => v == *t,
    };
    if f.versions.is_empty() {
        wanted(&VersionMatch::Last)
    } else {
        f.versions.iter().any(wanted)
    }
}

/// The objects of a STIX bundle as a collection holds them: `(id, version, spec_version,
/// object)`, the version being `modified`, else `created`, else empty.
pub fn objects_of_bundle(bundle: Value) -> Vec<(String, String, String, Value)> {
    let objects = match bundle {
        Value::Object(mut b) => b.remove("objects"),
        _ => None,
    };
    let objects = match objects {
        Some(Value::Array(objects)) => objects,
        _ => Vec::new(),
    };
    objects
        .into_iter()
        .filter_map(|o| {
            let id = o["id"].as_str()?.to_string();
            let version = o["modified"]
                .as_str()
                .or(o["created"].as_str())
                .unwrap_or_default()
                .to_string();
            let spec = o["spec_version"].as_str().unwrap_or("2.1").to_string();
            Some((id, version, spec, o))
        })
        .collect()
}

/// Reads what a client posts to a collection: an envelope `{"objects": [...]}` (or a
/// bundle) into a bundle, with each object's `(id, version)` for the status. The bundle's
/// id is derived from its content.
pub fn bundle_of_post(body: &Value) -> Result<(Value, Vec<(String, String)>), String> {
    let objects = body
        .get("objects")
        .and_then(Value::as_array)
        .ok_or("the body is not a TAXII envelope: no `objects` list")?;
    if objects.is_empty() {
        return Err("/objects: the envelope holds no objects".into());
    }
    let mut listed = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        let id = o
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("/objects/{i}: an object without an `id`"))?;
        let version = o["modified"]
            .as_str()
            .or(o["created"].as_str())
            .unwrap_or_default();
        listed.push((id.to_string(), version.to_string()));
    }
    let digest = Sha256::digest(serde_json::to_vec(objects).expect("JSON serializes"));
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    let id = uuid::Builder::from_random_bytes(b).into_uuid();
    Ok((
        json!({"type": "bundle", "id": format!("bundle--{id}"), "objects": objects}),
        listed,
    ))
}

/// A status resource: every object of a POST, a success or a failure with its message;
/// the counts sum to `total_count`, and nothing is pending (a POST is processed before it is
/// answered).
pub fn status(
    id: &str,
    request_timestamp: &str,
    successes: &[(String, String, String)],
    failures: &[(String, String, String)],
) -> Value {
    let detail = |(id, version, message): &(String, String, String)| {
        let mut d = json!({"id": id, "message": message});
        if !version.is_empty() {
            d["version"] = json!(version);
        }
        d
    };
    json!({
        "id": id,
        "status": "complete",
        "request_timestamp": request_timestamp,
        "total_count": successes.len() + failures.len(),
        "success_count": successes.len(),
        "successes": successes.iter().map(detail).collect::<Vec<_>>(),
        "failure_count": failures.len(),
        "failures": failures.iter().map(detail).collect::<Vec<_>>(),
        "pending_count": 0,
        "pendings": [],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Result<Query, QueryError> {
        let p: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse_query(
            &p,
            "cert-b/shared",
            &["id", "type", "version", "spec_version"],
        )
    }

    #[test]
    fn accept_headers_of_known_clients() {
        for a in [
            None,
            Some("application/taxii+json;version=2.1"),
            Some("application/taxii+json; version=2.1"),
            Some("Application/TAXII+json"),
            Some("*/*"),
            Some("application/json"),
            Some("text/html, application/json;q=0.5"),
        ] {
            assert!(accepts(a), "{a:?}");
        }
        for a in [
            "application/taxii+json;version=2.0",
            "text/html",
            "application/json;q=0",
            "application/vnd.oasis.taxii+json",
        ] {
            assert!(!accepts(Some(a)), "{a}");
        }
        for ct in [
            "application/taxii+json;version=2.1",
            "application/stix+json;version=2.1",
            "application/json",
            "application/json; charset=utf-8",
        ] {
            assert!(readable_body(Some(ct)), "{ct}");
        }
        for ct in ["text/plain", "application/stix+json;version=2.0"] {
            assert!(!readable_body(Some(ct)), "{ct}");
        }
        assert!(!readable_body(None));
    }

    #[test]
    fn the_three_schemes_in_any_case() {
        let basic = format!("basic {}", STANDARD.encode("cert-b:s3cret:x"));
        assert_eq!(
            credentials(&basic),
            Some(Credentials::Basic {
                user: "cert-b".into(),
                password: "s3cret:x".into()
            })
        );
        for h in ["Bearer t0k", "bearer t0k", "Token t0k", "TOKEN  t0k"] {
            assert_eq!(
                credentials(h),
                Some(Credentials::Token("t0k".into())),
                "{h}"
            );
        }
        for h in ["Basic !!", "Digest x", "Bearer", "t0k"] {
            assert_eq!(credentials(h), None, "{h}");
        }
    }

    #[test]
    fn collection_ids_are_uuid_v4_and_stable() {
        let a = CollectionKind::Shared.id("cert-a");
        let u = uuid::Uuid::parse_str(&a).unwrap();
        assert_eq!(u.get_version_num(), 4);
        assert_eq!(a, CollectionKind::Shared.id("cert-a"));
        assert_ne!(a, CollectionKind::Inbox.id("cert-a"));
        assert_ne!(a, CollectionKind::Shared.id("cert-b"));
        assert_eq!(
            CollectionKind::by_id("cert-a", &a),
            Some(CollectionKind::Shared)
        );
        assert_eq!(
            CollectionKind::by_id("cert-a", "inbox"),
            Some(CollectionKind::Inbox)
        );
        assert_eq!(CollectionKind::by_id("cert-a", "other"), None);
    }

    #[test]
    fn the_cursor_carries_the_filters_and_later_parameters_cannot_change_them() {
        let first = q(&[
            ("match[type]", "indicator,malware"),
            ("added_after", "2026-12-01T00:00:00Z"),
            ("limit", "7"),
        ])
        .unwrap();
        assert_eq!(first.filter.types, ["indicator", "malware"]);
        assert_eq!(first.limit, 7);
        let next = next_cursor("cert-b/shared", 42, &first.filter);
        let later = q(&[("next", &next), ("match[type]", "identity"), ("limit", "7")]).unwrap();
        assert_eq!(later.filter, first.filter);
        assert_eq!(later.after, 42);
        let other = parse_query(&[("next".into(), next)], "cert-c/shared", &["id"]);
        assert_eq!(other.unwrap_err().param, "next");
    }

    #[test]
    fn bad_parameters_say_which_and_why() {
        assert_eq!(q(&[("limit", "x")]).unwrap_err().param, "limit");
        assert_eq!(q(&[("next", "%%%")]).unwrap_err().param, "next");
        assert_eq!(
            q(&[("added_after", "yesterday")]).unwrap_err().param,
            "added_after"
        );
        assert_eq!(
            q(&[("match[version]", "newest")]).unwrap_err().param,
            "match[version]"
        );
        let e = parse_query(&[("match[type]".into(), "x".into())], "c", &["id"]).unwrap_err();
        assert!(e.reason.contains("match[id]"), "{e}");
        assert_eq!(q(&[("limit", "5000")]).unwrap().limit, MAX_LIMIT);
        assert_eq!(q(&[("limit", "0")]).unwrap().limit, DEFAULT_LIMIT);
    }

    #[test]
    fn selection_by_version_type_id_and_time() {
        let c = |version: &'static str, added: i64| Candidate {
            id: "indicator--1",
            version,
            spec_version: "2.1",
            date_added_us: added,
        };
        let (v1, v2) = ("2026-01-01T00:00:00.000Z", "2026-02-01T00:00:00.000Z");
        let (first, last) = (micros(v1).unwrap(), micros(v2).unwrap());
        let f = Filter::default();
        assert!(!selects(&f, &c(v1, 1), first, last));
        assert!(selects(&f, &c(v2, 2), first, last));
        let all = Filter {
            versions: vec![VersionMatch::All],
            ..Filter::default()
        };
        assert!(selects(&all, &c(v1, 1), first, last));
        let at = Filter {
            versions: vec![VersionMatch::First],
            ..Filter::default()
        };
        assert!(selects(&at, &c(v1, 1), first, last));
        let typed = Filter {
            types: vec!["malware".into()],
            ..all.clone()
        };
        assert!(!selects(&typed, &c(v1, 1), first, last));
        let after = Filter {
            added_after: Some(1),
            ..all.clone()
        };
        assert!(!selects(&after, &c(v1, 1), first, last));
        assert!(selects(&after, &c(v2, 2), first, last));
        let spec = Filter {
            spec_versions: vec!["2.0".into()],
            ..all
        };
        assert!(!selects(&spec, &c(v1, 1), first, last));
    }

    #[test]
    fn status_counts_sum_to_the_total() {
        let s = status(
            "s",
            "2026-12-02T00:00:00.000000Z",
            &[("indicator--1".into(), "v".into(), "imported".into())],
            &[("x--2".into(), String::new(), "refused".into())],
        );
        assert_eq!(s["total_count"], 2);
        assert_eq!(s["success_count"], 1);
        assert_eq!(s["failure_count"], 1);
        assert_eq!(s["pending_count"], 0);
        assert!(s["failures"][0].get("version").is_none());
    }

    #[test]
    fn date_added_has_microseconds() {
        assert_eq!(timestamp_us(1_000_001), "1970-01-01T00:00:01.000001Z");
    }
}
