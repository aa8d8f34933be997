//! The TAXII 2.1 server as the clients in the field call it (DESIGN.md section 8): media
//! types and Accept variants, the three auth schemes in any case, paging that never skips or
//! repeats and keeps its filters, manifest and versions paging, each peer's own share,
//! pulls in the ledger, and the inbox. taxii2-client itself runs in `taxii_client.rs`.

use std::collections::HashSet;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use reqwest::Method;
use serde_json::{json, Value};

use crate::gateway::{example, TestGateway};

/// A request (method, path, headers, body) and the status it must get.
type Case = (
    Method,
    String,
    Vec<(&'static str, &'static str)>,
    Option<Vec<u8>>,
    u16,
);

const TAXII: &str = "application/taxii+json;version=2.1";

/// A gateway with two pull-only peers: `cert-b` (community, AMBER, pseudonymize) and
/// `cert-c` (client, GREEN, strict); returns their tokens.
pub async fn gateway_with_pullers() -> (TestGateway, String, String) {
    gateway_with_pullers_tuned(|_| {}).await
}

/// [`gateway_with_pullers`], its config adjusted by `tune`.
pub async fn gateway_with_pullers_tuned(
    tune: impl FnOnce(&mut irtx::config::Config),
) -> (TestGateway, String, String) {
    let g = TestGateway::spawn_with("cert-a", tune).await;
    for (id, max, audience, profile) in [
        ("cert-b", "AMBER", "community", "pseudonymize"),
        ("cert-c", "GREEN", "client", "strict"),
    ] {
        let (s, v) = g
            .call(
                Method::POST,
                "/api/v1/peers",
                Some(json!({"id": id, "transport": "taxii-pull", "max_tlp": max,
                            "audience": audience, "profile": profile})),
            )
            .await;
        assert_eq!(s, 201, "{v}");
    }
    let token = |v: Value| v["token"].as_str().unwrap().to_string();
    let b = token(g.get_post("/api/v1/peers/cert-b/token").await);
    let c = token(g.get_post("/api/v1/peers/cert-c/token").await);
    (g, b, c)
}

/// A report with `n` attacker IPs besides the example's indicators, marked `tlp`.
pub fn big_report(n: usize, tlp: &str) -> Value {
    let mut r = example("incident-ransomware-full");
    r["id"] = json!(format!("INC-BIG-{n}-{tlp}"));
    r["tlp"] = json!(tlp);
    r.as_object_mut().unwrap().remove("field_tlp");
    let list = r["indicators"].as_array_mut().unwrap();
    for i in 0..n {
        list.push(
            json!({"type": "ipv4", "value": format!("203.0.113.{}", 100 + i), "role": "source"}),
        );
    }
    r
}

struct Client {
    http: reqwest::Client,
    base: String,
    auth: String,
}

struct Answer {
    status: u16,
    content_type: String,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Client {
    fn new(g: &TestGateway, auth: String) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: format!("{}/taxii2", g.url),
            auth,
        }
    }

    fn basic(g: &TestGateway, user: &str, token: &str) -> Client {
        Client::new(
            g,
            format!("Basic {}", STANDARD.encode(format!("{user}:{token}"))),
        )
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Answer {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("Authorization", &self.auth);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let content_type = headers
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let text = res.text().await.unwrap();
        Answer {
            status,
            content_type,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, &[("Accept", TAXII)], None)
            .await
    }

    /// Every page of `path` (objects or manifest) with `limit`, following `next`; with
    /// `again`, each later request repeats these parameters (clients do).
    async fn all_pages(&self, path: &str, first: &str, again: &str, key: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut url = format!("{path}?{first}");
        for _ in 0..500 {
            let a = self.get(&url).await;
            assert_eq!(a.status, 200, "{url}: {}", a.body);
            assert_eq!(a.content_type, TAXII);
            out.extend(a.body[key].as_array().cloned().unwrap_or_default());
            if a.body["more"] != true {
                assert!(a.body.get("next").is_none(), "{}", a.body);
                return out;
            }
            let next = a.body["next"].as_str().expect("more without next");
            url = format!("{path}?{again}&next={next}");
        }
        panic!("paging did not end");
    }
}

trait GetPost {
    async fn get_post(&self, path: &str) -> Value;
}

impl GetPost for TestGateway {
    async fn get_post(&self, path: &str) -> Value {
        let (s, v) = self.call(Method::POST, path, None).await;
        assert_eq!(s, 200, "{path}: {v}");
        v
    }
}

fn shared_path(team: &str) -> String {
    format!(
        "/irtx/collections/{}/objects/",
        irtx::taxii::CollectionKind::Shared.id(team)
    )
}

fn inbox_path(team: &str) -> String {
    format!(
        "/irtx/collections/{}/objects/",
        irtx::taxii::CollectionKind::Inbox.id(team)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_has_the_taxii_media_type_and_each_client_style_is_served() {
    let (g, b, _) = gateway_with_pullers().await;
    let basic = Client::basic(&g, "cert-b", &b);

    // The three schemes, the scheme's name in any case (MISP sends `basic`).
    for auth in [
        format!("basic {}", STANDARD.encode(format!("cert-b:{b}"))),
        format!("BASIC {}", STANDARD.encode(format!("cert-b:{b}"))),
        format!("Bearer {b}"),
        format!("bearer {b}"),
        format!("Token {b}"),
    ] {
        let a = Client::new(&g, auth.clone()).get("/").await;
        assert_eq!(a.status, 200, "{auth}: {}", a.body);
        assert_eq!(a.content_type, TAXII);
        assert_eq!(a.body["api_roots"], json!(["/taxii2/irtx/"]));
    }
    // Wrong or missing credentials: 401, TAXII-shaped, with a challenge.
    for auth in [
        format!("Basic {}", STANDARD.encode(format!("cert-c:{b}"))),
        "Bearer nope".to_string(),
        "Digest x".to_string(),
        String::new(),
    ] {
        let a = Client::new(&g, auth.clone()).get("/irtx/").await;
        assert_eq!(a.status, 401, "{auth}");
        assert_eq!(a.content_type, TAXII);
        assert_eq!(a.body["http_status"], "401");
        assert!(a.headers.contains_key("www-authenticate"));
    }
    // The analyst token is not a peer's.
    let a = Client::new(&g, format!("Bearer {}", g.token))
        .get("/")
        .await;
    assert_eq!(a.status, 401);

    // Accept variants of the clients in the field; one that allows nothing is a 406.
    for accept in [
        TAXII,
        "application/taxii+json",
        "*/*",
        "application/json",
        "application/taxii+json; version=2.1",
    ] {
        let a = basic
            .send(Method::GET, "/irtx/", &[("Accept", accept)], None)
            .await;
        assert_eq!(a.status, 200, "{accept}");
        assert_eq!(a.content_type, TAXII);
        assert_eq!(a.body["versions"], json!([TAXII]));
    }
    let a = basic.send(Method::GET, "/irtx/", &[], None).await;
    assert_eq!(a.status, 200);
    for accept in ["text/html", "application/taxii+json;version=2.0"] {
        let a = basic
            .send(Method::GET, "/irtx/", &[("Accept", accept)], None)
            .await;
        assert_eq!(a.status, 406, "{accept}");
        assert_eq!(a.content_type, TAXII);
    }

    // Collections: UUIDv4 ids, the same on every call; by id, by alias, with or without
    // the trailing slash.
    let a = basic.get("/irtx/collections/").await;
    let cols = a.body["collections"].as_array().unwrap().clone();
    assert_eq!(cols.len(), 2);
    for c in &cols {
        let id = uuid::Uuid::parse_str(c["id"].as_str().unwrap()).unwrap();
        assert_eq!(id.get_version_num(), 4);
        let one = basic.get(&format!("/irtx/collections/{id}/")).await;
        assert_eq!(one.body, *c);
        let bare = basic.get(&format!("/irtx/collections/{id}")).await;
        assert_eq!(bare.body, *c);
    }
    assert_eq!(
        basic.get("/irtx/collections/").await.body["collections"],
        json!(cols)
    );
    let shared = &cols[0];
    assert_eq!(
        (
            shared["alias"].as_str(),
            shared["can_read"].as_bool(),
            shared["can_write"].as_bool()
        ),
        (Some("shared"), Some(true), Some(false))
    );

    // MISP's GET carries a Content-Type; OpenCTI's a Bearer token: both read.
    let a = basic
        .send(
            Method::GET,
            &shared_path("cert-a"),
            &[
                ("Content-Type", "application/taxii+json;version=2.1"),
                ("Accept", TAXII),
            ],
            None,
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["more"], false);

    // Errors, each with its status and the TAXII shape.
    let cases: Vec<Case> = vec![
        (Method::GET, "/nope/".into(), vec![], None, 404),
        (
            Method::GET,
            "/irtx/collections/6ba7b810-9dad-41d1-80b4-00c04fd430c8/".into(),
            vec![],
            None,
            404,
        ),
        (Method::GET, inbox_path("cert-a"), vec![], None, 403),
        (
            Method::POST,
            shared_path("cert-a"),
            vec![("Content-Type", TAXII)],
            Some(b"{\"objects\":[]}".to_vec()),
            403,
        ),
        (
            Method::POST,
            inbox_path("cert-a"),
            vec![("Content-Type", "text/plain")],
            Some(b"x".to_vec()),
            415,
        ),
        (
            Method::POST,
            inbox_path("cert-a"),
            vec![("Content-Type", TAXII)],
            Some(b"{\"objects\":[]}".to_vec()),
            400,
        ),
        (
            Method::POST,
            inbox_path("cert-a"),
            vec![("Content-Type", TAXII)],
            Some(b"{\"objects\":[{\"id\":1},".to_vec()),
            400,
        ),
        (Method::PUT, shared_path("cert-a"), vec![], None, 405),
        (
            Method::DELETE,
            format!(
                "{}indicator--6ba7b810-9dad-41d1-80b4-00c04fd430c8/",
                shared_path("cert-a")
            ),
            vec![],
            None,
            403,
        ),
        (
            Method::GET,
            format!("{}?limit=seven", shared_path("cert-a")),
            vec![],
            None,
            400,
        ),
        (
            Method::GET,
            format!("{}?next=garbage", shared_path("cert-a")),
            vec![],
            None,
            400,
        ),
        (
            Method::GET,
            format!("{}?added_after=yesterday", shared_path("cert-a")),
            vec![],
            None,
            400,
        ),
        (
            Method::GET,
            format!("{}?match[version]=newest", shared_path("cert-a")),
            vec![],
            None,
            400,
        ),
        (
            Method::GET,
            format!(
                "{}indicator--6ba7b810-9dad-41d1-80b4-00c04fd430c8/",
                shared_path("cert-a")
            ),
            vec![],
            None,
            404,
        ),
        (
            Method::GET,
            "/irtx/status/6ba7b810-9dad-41d1-80b4-00c04fd430c8/".into(),
            vec![],
            None,
            404,
        ),
        (
            Method::POST,
            inbox_path("cert-a"),
            vec![("Content-Type", TAXII)],
            Some(vec![b' '; 5 << 20]),
            413,
        ),
    ];
    for (method, path, headers, body, want) in cases {
        let a = basic.send(method.clone(), &path, &headers, body).await;
        assert_eq!(a.status, want, "{method} {path}: {}", a.body);
        assert_eq!(a.content_type, TAXII, "{method} {path}");
        assert_eq!(a.body["http_status"], want.to_string(), "{method} {path}");
        assert!(a.body["title"].is_string());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_never_skip_or_repeat_keep_their_filters_and_pulls_are_recorded() {
    let (g, b, _) = gateway_with_pullers().await;
    let id = g.submit(&big_report(120, "GREEN")).await;
    let d = g.share(&id, &["cert-b"]).await;
    assert_eq!(d[0]["decision"], "published", "{d:?}");
    assert!(
        g.outbox().await.is_empty(),
        "a pull-only peer gets nothing pushed"
    );
    let client = Client::basic(&g, "cert-b", &b);
    let path = shared_path("cert-a");

    // Everything in one go, then 7 at a time: the same objects, none twice.
    let whole = client.all_pages(&path, "limit=1000", "", "objects").await;
    assert!(whole.len() >= 500, "{}", whole.len());
    // Most of them share one timestamp (the report version's), the case where paging by
    // time loses or repeats objects.
    let mut by_time: std::collections::BTreeMap<&str, usize> = Default::default();
    for o in &whole {
        *by_time
            .entry(o["modified"].as_str().unwrap_or("-"))
            .or_default() += 1;
    }
    let most = by_time.values().max().copied().unwrap_or(0);
    assert!(most >= 500, "{by_time:?}");
    let ids = |v: &[Value]| {
        v.iter()
            .map(|o| o["id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let paged = client
        .all_pages(&path, "limit=7", "limit=7", "objects")
        .await;
    assert_eq!(ids(&paged), ids(&whole));
    assert_eq!(
        ids(&paged).into_iter().collect::<HashSet<_>>().len(),
        whole.len()
    );

    // A filter kept by the cursor, whatever later requests send (some clients drop it,
    // some send `added_after` again with `next`).
    let first_added = client.get(&format!("{path}?limit=1")).await;
    let after = first_added.headers["x-taxii-date-added-first"]
        .to_str()
        .unwrap()
        .to_string();
    let typed = client
        .all_pages(
            &path,
            &format!("match[type]=indicator&added_after={after}&limit=7"),
            &format!("added_after={after}&limit=7"),
            "objects",
        )
        .await;
    let want: Vec<String> = ids(&whole)
        .into_iter()
        .skip(1)
        .filter(|i| i.starts_with("indicator--"))
        .collect();
    assert_eq!(ids(&typed), want);
    assert!(want.len() >= 120);

    // The manifest pages the same way, with date_added strictly increasing.
    let manifest = client
        .all_pages(
            &path.replace("/objects/", "/manifest/"),
            "limit=9",
            "limit=9",
            "objects",
        )
        .await;
    assert_eq!(
        manifest
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>(),
        ids(&whole)
    );
    let added: Vec<&str> = manifest
        .iter()
        .map(|m| m["date_added"].as_str().unwrap())
        .collect();
    assert!(
        added.windows(2).all(|w| w[0] < w[1]),
        "date_added strictly increases"
    );
    assert!(manifest
        .iter()
        .all(|m| m["media_type"] == "application/stix+json;version=2.1"));

    // One object by id, and its versions.
    let one = &whole[5];
    let oid = one["id"].as_str().unwrap();
    let a = client.get(&format!("{path}{oid}/")).await;
    assert_eq!(a.body["objects"], json!([one]));
    let v = client.get(&format!("{path}{oid}/versions/")).await;
    assert_eq!(v.status, 200, "{}", v.body);
    assert_eq!(v.body["versions"].as_array().unwrap().len(), 1);

    // The first pull of the disclosure is one ledger entry; later pulls add none.
    let pulled = |entries: &Vec<Value>| {
        entries
            .iter()
            .filter(|e| e["body"]["event"] == "pulled")
            .count()
    };
    let ledger = g.get("/api/v1/disclosures?peer=cert-b").await;
    let entries = ledger["entries"]
        .as_array()
        .or(ledger.as_array())
        .cloned()
        .unwrap_or_default();
    assert_eq!(pulled(&entries), 1, "{ledger}");
    assert!(entries.iter().any(|e| e["body"]["event"] == "published"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_peer_reads_exactly_its_own_share() {
    let (g, b, c) = gateway_with_pullers().await;
    let amber = g.submit(&big_report(3, "AMBER")).await;
    let green = g.submit(&big_report(4, "GREEN")).await;
    let d = g.share(&amber, &["cert-b", "cert-c"]).await;
    assert_eq!(
        (d[0]["decision"].as_str(), d[1]["decision"].as_str()),
        (Some("published"), Some("withheld"))
    );
    let d = g.share(&green, &["cert-b", "cert-c"]).await;
    assert!(d.iter().all(|x| x["decision"] == "published"), "{d:?}");
    let path = shared_path("cert-a");
    let of_b = Client::basic(&g, "cert-b", &b)
        .all_pages(&path, "limit=50", "limit=50", "objects")
        .await;
    let of_c = Client::new(&g, format!("Token {c}"))
        .all_pages(&path, "limit=50", "limit=50", "objects")
        .await;
    let amber_id = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421";
    for (who, objs, cap) in [("cert-b", &of_b, "AMBER"), ("cert-c", &of_c, "GREEN")] {
        let held: HashSet<&str> = objs.iter().map(|o| o["id"].as_str().unwrap()).collect();
        for o in objs.iter() {
            // Every reference resolves inside what this peer got.
            let mut refs = Vec::new();
            collect_refs(o, &mut refs);
            for r in refs {
                assert!(
                    held.contains(r.as_str()),
                    "{who}: {} refers to {r}, which it did not get",
                    o["id"]
                );
            }
            if cap == "GREEN" {
                assert_ne!(o["id"], amber_id, "{who} got the AMBER marking definition");
                assert!(!o.to_string().contains(amber_id), "{who}: {o}");
            }
        }
    }
    // cert-b got both reports, cert-c only the GREEN one, pseudonymized differently.
    let reports = |objs: &[Value]| objs.iter().filter(|o| o["type"] == "report").count();
    assert_eq!((reports(&of_b), reports(&of_c)), (2, 1));
    let names = |objs: &[Value]| {
        objs.iter()
            .filter(|o| o["type"] == "ipv4-addr")
            .map(|o| o["value"].as_str().unwrap().to_string())
            .collect::<HashSet<_>>()
    };
    assert!(
        names(&of_b).contains("203.0.113.100"),
        "attacker IPs in clear under pseudonymize"
    );
    assert!(
        !names(&of_c).contains("203.0.113.100"),
        "and truncated under strict"
    );
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k.ends_with("_ref") {
                    if let Some(s) = x.as_str() {
                        out.push(s.to_string());
                    }
                } else if k.ends_with("_refs") {
                    out.extend(
                        x.as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|s| s.as_str().map(str::to_string)),
                    );
                } else {
                    collect_refs(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_peer_posts_to_the_inbox_is_checked_and_becomes_an_alert() {
    let (g, b, c) = gateway_with_pullers().await;
    let green = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb";
    let objects = json!([
        {"type": "indicator", "spec_version": "2.1", "id": "indicator--a1f0bd1c-5a4b-4c9a-8a3e-6f0a3b5b2c11",
         "created": "2026-12-01T10:00:00.000Z", "modified": "2026-12-01T10:00:00.000Z",
         "name": "C2", "pattern": "[ipv4-addr:value = '203.0.113.77']", "pattern_type": "stix",
         "valid_from": "2026-12-01T10:00:00Z", "indicator_types": ["malicious-activity"],
         "object_marking_refs": [green]},
    ]);
    let post = |body: Value| body.to_string().into_bytes();
    // MISP posts and does not poll; the status is final in the answer.
    let misp = Client::new(
        &g,
        format!("basic {}", STANDARD.encode(format!("cert-b:{b}"))),
    );
    let a = misp
        .send(
            Method::POST,
            &inbox_path("cert-a"),
            &[
                ("Content-Type", "application/stix+json;version=2.1"),
                ("Accept", TAXII),
            ],
            Some(post(json!({"objects": objects}))),
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    assert_eq!(a.content_type, TAXII);
    let s = &a.body;
    assert_eq!(
        (
            s["status"].as_str(),
            s["total_count"].as_u64(),
            s["success_count"].as_u64(),
            s["failure_count"].as_u64(),
            s["pending_count"].as_u64()
        ),
        (Some("complete"), Some(1), Some(1), Some(0), Some(0))
    );
    let status_id = s["id"].as_str().unwrap();
    let again = misp.get(&format!("/irtx/status/{status_id}/")).await;
    assert_eq!(again.body, *s);
    // Another peer cannot read it.
    let other = Client::basic(&g, "cert-c", &c)
        .get(&format!("/irtx/status/{status_id}/"))
        .await;
    assert_eq!(other.status, 404);

    let alerts = g.alerts().await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["taxii"]["peer"], "cert-b");
    assert_eq!(alerts[0]["tlp"], "GREEN");
    let ledger = g.get("/api/v1/disclosures?peer=cert-b").await;
    assert!(ledger.to_string().contains("\"received\""), "{ledger}");

    // The same again is a duplicate, not a second alert.
    let a = misp
        .send(
            Method::POST,
            &inbox_path("cert-a"),
            &[("Content-Type", "application/json")],
            Some(post(json!({"objects": objects}))),
        )
        .await;
    assert_eq!(a.status, 202);
    assert!(a.body["successes"][0]["message"]
        .as_str()
        .unwrap()
        .contains("duplicate"));
    assert_eq!(g.alerts().await.len(), 1);

    // A marking that is not exactly TLP is quarantined; an invalid object is refused.
    let mut odd = objects.clone();
    odd[0]["object_marking_refs"] =
        json!(["marking-definition--6ba7b810-9dad-41d1-80b4-00c04fd430c8"]);
    odd[0]["id"] = json!("indicator--b1f0bd1c-5a4b-4c9a-8a3e-6f0a3b5b2c11");
    let a = misp
        .send(
            Method::POST,
            &inbox_path("cert-a"),
            &[("Content-Type", TAXII)],
            Some(post(json!({"objects": odd}))),
        )
        .await;
    assert_eq!(
        (
            a.status,
            a.body["failure_count"].as_u64(),
            a.body["total_count"].as_u64()
        ),
        (202, Some(1), Some(1)),
        "{}",
        a.body
    );
    assert!(a.body["failures"][0]["message"]
        .as_str()
        .unwrap()
        .starts_with("quarantined"));
    let mut broken = objects.clone();
    broken[0]["pattern"] = json!(42);
    let a = misp
        .send(
            Method::POST,
            &inbox_path("cert-a"),
            &[("Content-Type", TAXII)],
            Some(post(json!({"objects": broken}))),
        )
        .await;
    assert_eq!(a.body["failure_count"], 1, "{}", a.body);
    assert!(a.body["failures"][0]["message"]
        .as_str()
        .unwrap()
        .starts_with("refused"));
    assert_eq!(g.alerts().await.len(), 1);
    let q = g.get("/api/v1/quarantine").await;
    assert!(q.to_string().contains("cert-b"), "{q}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_keeps_to_the_storage_quota_and_to_none_when_there_is_none() {
    let green = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb";
    // Envelope `i`: one indicator of its own.
    let envelope = |i: u32| {
        json!({"objects": [
            {"type": "indicator", "spec_version": "2.1",
             "id": format!("indicator--a1f0bd1c-5a4b-4c9a-8a3e-{i:012x}"),
             "created": "2026-12-01T10:00:00.000Z", "modified": "2026-12-01T10:00:00.000Z",
             "name": "C2", "pattern": format!("[ipv4-addr:value = '203.0.113.{}']", i % 250),
             "pattern_type": "stix", "valid_from": "2026-12-01T10:00:00Z",
             "indicator_types": ["malicious-activity"], "object_marking_refs": [green]},
        ]})
        .to_string()
        .into_bytes()
    };
    // `max_bytes_per_peer` 0 is no limit (as for signed messages), not a quota of nothing.
    // A quota of 3.75 envelopes holds 3 alerts (each counted as its bundle: the envelope's
    // objects and a few bytes more).
    let size = envelope(0).len() as u64;
    for (quota, accepted) in [(0u64, 6usize), (size * 15 / 4, 3)] {
        let (g, b, _) = gateway_with_pullers_tuned(|c| c.exchange.max_bytes_per_peer = quota).await;
        let client = Client::basic(&g, "cert-b", &b);
        let mut statuses = Vec::new();
        for i in 0..6 {
            let a = client
                .send(
                    Method::POST,
                    &inbox_path("cert-a"),
                    &[("Content-Type", TAXII)],
                    Some(envelope(i)),
                )
                .await;
            if a.status == 429 {
                assert!(
                    a.body["description"]
                        .as_str()
                        .is_some_and(|d| d.contains("max_bytes_per_peer")),
                    "{}",
                    a.body
                );
            }
            statuses.push(a.status);
        }
        let ok = statuses.iter().filter(|s| **s == 202).count();
        assert_eq!(
            (ok, statuses.len() - ok),
            (accepted, 6 - accepted),
            "quota {quota}: {statuses:?}"
        );
        assert_eq!(g.alerts().await.len(), accepted, "quota {quota}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retracted_report_is_served_revoked() {
    let (g, b, _) = gateway_with_pullers().await;
    let id = g.submit(&big_report(2, "GREEN")).await;
    g.share(&id, &["cert-b"]).await;
    let client = Client::basic(&g, "cert-b", &b);
    let path = shared_path("cert-a");
    let before = client.all_pages(&path, "limit=1000", "", "objects").await;
    let revocable = before
        .iter()
        .filter(|o| o["modified"].is_string() && o["type"] != "marking-definition")
        .count();
    assert!(revocable > 5, "{revocable}");

    g.retract(&id, "sent in error").await;
    let after = client.all_pages(&path, "limit=1000", "", "objects").await;
    // The latest version of every revocable object is the revoked one, later than before.
    let revoked: Vec<&Value> = after.iter().filter(|o| o["revoked"] == true).collect();
    assert_eq!(
        revoked.len(),
        revocable - count_untouched(&before),
        "{revoked:?}"
    );
    for r in &revoked {
        let old = before.iter().find(|o| o["id"] == r["id"]).unwrap();
        assert!(r["modified"].as_str() > old["modified"].as_str(), "{r}");
    }
    let report = after.iter().find(|o| o["type"] == "report").unwrap();
    assert_eq!(report["revoked"], true);
    let v = client
        .get(&format!(
            "{path}{}/versions/",
            report["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        v.body["versions"].as_array().unwrap().len(),
        2,
        "{}",
        v.body
    );
    let h = g.get(&format!("/api/v1/reports/{id}/holders")).await;
    assert_eq!(h["holders"][0]["state"], "retracted");
}

/// Objects shared by every disclosure (the team's and irtx's identities, the extension
/// definition): they carry `modified` but belong to no one report, and stay as they are.
fn count_untouched(objects: &[Value]) -> usize {
    objects
        .iter()
        .filter(|o| {
            o["modified"].is_string()
                && o["type"] != "marking-definition"
                && (o["type"] == "identity" || o["type"] == "extension-definition")
        })
        .count()
}
