//! A hostile peer and the open internet against a running gateway: each attack of the
//! hardening table gets its clear answer, and all the while another peer (`cert-z`) is
//! served.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::SigningKey;
use irtx::envelope;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt as _;

use crate::gateway::{eventually, example, TestGateway};
use crate::inbound::{bundle, message, rejected, sign};

/// The hostile peer's key (`cert-a`) and the other peer's (`cert-z`).
fn hostile() -> SigningKey {
    SigningKey::from_bytes(&[31; 32])
}
fn honest() -> SigningKey {
    SigningKey::from_bytes(&[32; 32])
}

/// A gateway `cert-b` that knows `cert-a` and `cert-z`.
async fn gateway(tune: impl FnOnce(&mut irtx::config::Config)) -> TestGateway {
    let b = TestGateway::spawn_with("cert-b", tune).await;
    for (id, key) in [("cert-a", hostile()), ("cert-z", honest())] {
        let body = json!({"id": id, "url": "http://127.0.0.1:9",
            "keys": [{"jwk": envelope::public_jwk(&key.verifying_key())}],
            "max_tlp": "AMBER", "audience": "community", "profile": "none"});
        let (s, v) = b
            .call(reqwest::Method::POST, "/api/v1/peers", Some(body))
            .await;
        assert_eq!(s, 201, "{v}");
    }
    b
}

/// A message from `from` to cert-b.
fn from(from: &str, document: Value) -> Value {
    let mut m = message("cert-b", document);
    m["from"] = from.into();
    m
}

/// The other peer sends a good message, and it is accepted.
async fn still_served(b: &TestGateway) {
    let (s, v) = b
        .post_inbox(serde_json::to_vec(&sign(&from("cert-z", bundle()), &honest())).unwrap())
        .await;
    assert_eq!(s, 200, "the other peer is served: {v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_trickle_are_closed_and_others_served() {
    let b = gateway(|c| {
        c.api.header_read_timeout_ms = 1_000;
        c.api.max_connections = 64;
    })
    .await;
    // 150 connections, each trickling a header byte every 200 ms, more than the cap.
    let mut slow = Vec::new();
    for _ in 0..150 {
        if let Ok(s) = tokio::net::TcpStream::connect(b.addr).await {
            slow.push(s);
        }
    }
    let trickle = tokio::spawn(async move {
        let mut open = slow.len();
        for _ in 0..15 {
            open = 0;
            for s in slow.iter_mut() {
                if s.write_all(b"X").await.is_ok() {
                    open += 1;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        open
    });
    // Within the header timeout, the slow ones are dropped and the other peer gets in.
    eventually(
        Duration::from_secs(10),
        "the other peer is served",
        || async {
            let body = serde_json::to_vec(&sign(&from("cert-z", bundle()), &honest())).unwrap();
            reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()
                .unwrap()
                .post(format!("{}/exchange/v1/messages", b.url))
                .header("content-type", "application/jose+json")
                .body(body)
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        },
    )
    .await;
    let still_open = trickle.await.unwrap();
    assert_eq!(
        still_open, 0,
        "trickling connections were closed by the server"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_answer_is_not_read_past_the_cap() {
    // A "peer" that answers every delivery with a body that never ends.
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = sent.clone();
    let app = axum::Router::new().route(
        "/exchange/v1/messages",
        axum::routing::post(move || {
            let counter = counter.clone();
            async move { axum::body::Body::from_stream(futures_stream(counter)) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let (a, _clock) = TestGateway::spawn_manual("cert-a", |_| {}).await;
    let body = json!({"id": "huge", "url": url,
        "keys": [{"jwk": envelope::public_jwk(&hostile().verifying_key())}],
        "max_tlp": "AMBER", "audience": "community", "profile": "none"});
    let (s, _) = a
        .call(reqwest::Method::POST, "/api/v1/peers", Some(body))
        .await;
    assert_eq!(s, 201);
    let c = TestGateway::spawn("cert-c").await;
    a.add_peer(&c, "AMBER", "community", "none", "stix").await;
    c.add_peer(&a, "AMBER", "community", "none", "stix").await;
    let id = a.submit(&example("incident-ddos-minimal")).await;
    a.share(&id, &["huge", "cert-c"]).await;
    assert_eq!(a.services().run_once().await, 1, "the other peer is served");
    let item = a
        .outbox()
        .await
        .into_iter()
        .find(|i| i["peer"] == "huge")
        .unwrap();
    assert_eq!(item["last_cause"], "answer-too-large", "{item}");
    let bytes = sent.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        bytes < 8 << 20,
        "{bytes} bytes were sent before the client stopped reading"
    );
}

/// An endless body, counting the bytes handed over.
fn futures_stream(
    counter: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> tokio_util::io::ReaderStream<Counting> {
    tokio_util::io::ReaderStream::new(Counting(counter, tokio::io::repeat(b'x')))
}

/// Reads that count.
struct Counting(
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
    tokio::io::Repeat,
);

impl tokio::io::AsyncRead for Counting {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = std::pin::Pin::new(&mut self.1).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        self.0.fetch_add(n, std::sync::atomic::Ordering::SeqCst);
        r
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_messages_get_their_clear_refusals() {
    let b = gateway(|c| c.exchange.max_bytes_per_peer = 120_000).await;
    let post = |body: Vec<u8>| {
        let b = &b;
        async move { b.post_inbox(body).await }
    };
    let signed = |m: &Value| serde_json::to_vec(&sign(m, &hostile())).unwrap();

    // A key past its validity, with `created` set back before its end: refused, now.
    let body = json!({"id": "cert-old", "url": "http://127.0.0.1:9",
        "keys": [{"jwk": envelope::public_jwk(&hostile().verifying_key()),
                  "valid_until": irtx::timestamp::rfc3339(time::OffsetDateTime::now_utc() - time::Duration::hours(1))}],
        "max_tlp": "AMBER", "audience": "community", "profile": "none"});
    let (s, _) = b
        .call(reqwest::Method::POST, "/api/v1/peers", Some(body))
        .await;
    assert_eq!(s, 201);
    let mut m = from("cert-old", bundle());
    m["created"] =
        irtx::timestamp::rfc3339(time::OffsetDateTime::now_utc() - time::Duration::hours(2)).into();
    let (s, v) = post(signed(&m)).await;
    assert_eq!(s, 401, "{v}");
    assert!(rejected(&b, &v)[0].contains("expired"));
    still_served(&b).await;

    // A TLP 1.0 id whose definition says RED: quarantined, not read as CLEAR.
    let mut doc = bundle();
    let objects = doc["objects"].as_array_mut().unwrap();
    let white = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9";
    let mut forged = irtx::tlp::Tlp::published_marking(white).unwrap();
    forged["definition"]["handling"] = "treat as TLP:RED".into();
    objects.push(forged);
    for o in objects.iter_mut() {
        if o["object_marking_refs"].is_array() {
            o["object_marking_refs"] = json!([white]);
        }
    }
    let (s, v) = post(signed(&from("cert-a", doc))).await;
    assert_eq!(s, 422, "{v}");
    let reasons = rejected(&b, &v);
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("TLP 1.0 id of TLP:CLEAR but not the published object")),
        "{reasons:?}"
    );
    let (_, q) = b
        .call(reqwest::Method::GET, "/api/v1/quarantine", None)
        .await;
    assert_eq!(q.as_array().unwrap().len(), 1);
    still_served(&b).await;

    // The same key twice (RED, then GREEN): refused, not read as the last one.
    let text = serde_json::to_string(&from("cert-a", bundle())).unwrap();
    let red = irtx::tlp::Tlp::Red.stix_marking_id();
    let twice = text.replacen(
        "\"object_marking_refs\":[",
        &format!("\"object_marking_refs\":[\"{red}\"],\"object_marking_refs\":["),
        1,
    );
    assert_ne!(twice, text);
    let payload = URL_SAFE_NO_PAD.encode(twice.as_bytes());
    let jws = sign(&from("cert-a", bundle()), &hostile());
    let header = jws["protected"].as_str().unwrap().to_string();
    use ed25519_dalek::Signer as _;
    let sig = hostile().sign(format!("{header}.{payload}").as_bytes());
    let body = json!({"payload": payload, "protected": header,
        "signature": URL_SAFE_NO_PAD.encode(sig.to_bytes())});
    let (s, v) = post(serde_json::to_vec(&body).unwrap()).await;
    assert_eq!(s, 400, "{v}");
    assert!(v.to_string().contains("appears twice"), "{v}");
    still_served(&b).await;

    // A message id that is not a UUID.
    let mut m = from("cert-a", bundle());
    m["id"] = "<script>".into();
    let (s, v) = post(signed(&m)).await;
    assert_eq!(s, 400, "{v}");
    assert!(v.to_string().contains("not a UUID"), "{v}");

    // 100,000 empty objects: refused on their count, with a small receipt.
    let mut m = from(
        "cert-a",
        json!({"type": "bundle", "id": "bundle--2b1f8e29-5f2c-4c6a-8a4c-7f2b9f6b0e11",
        "objects": vec![json!({}); 100_000]}),
    );
    m["tlp"] = "GREEN".into();
    let (s, v) = post(signed(&m)).await;
    assert_eq!(s, 422);
    assert!(
        v.to_string().len() < 4_096,
        "a receipt of {} bytes",
        v.to_string().len()
    );
    assert!(rejected(&b, &v)[0].contains("at most 10000"));

    // `b64: false` without `crit`.
    let payload = URL_SAFE_NO_PAD.encode(envelope::canonical(&from("cert-a", bundle())));
    let header = URL_SAFE_NO_PAD.encode(
        json!({"alg": "EdDSA", "kid": envelope::thumbprint(&hostile().verifying_key()), "b64": false})
            .to_string(),
    );
    let sig = hostile().sign(format!("{header}.{payload}").as_bytes());
    let body = json!({"payload": payload, "protected": header, "signature": URL_SAFE_NO_PAD.encode(sig.to_bytes())});
    let (s, v) = post(serde_json::to_vec(&body).unwrap()).await;
    assert_eq!(s, 400, "{v}");
    assert!(v.to_string().contains("RFC 7797"), "{v}");
    still_served(&b).await;

    // The storage quota: a peer that filled its share is told to come back later; the list
    // of alerts never carries documents.
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(post(signed(&from("cert-a", bundle()))).await.0);
    }
    assert!(
        statuses.contains(&200) && statuses.last() == Some(&429),
        "{statuses:?}"
    );
    // Over its quota, a peer's document costs no validation: an invalid one (the bundle
    // that did not fit, and an object that is no STIX object) hears of the quota (429), not
    // of its problems (422).
    let mut invalid = bundle();
    invalid["objects"].as_array_mut().unwrap().push(json!({}));
    let (s, v) = post(signed(&from("cert-a", invalid))).await;
    assert_eq!(s, 429, "{v}");
    assert!(
        rejected(&b, &v)[0].contains("storage quota of `cert-a` is full"),
        "{v}"
    );
    let list = b.alert_list().await;
    assert!(list
        .iter()
        .all(|a| a.get("document").is_none() && a["bytes"].as_u64() > Some(0)));
    still_served(&b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_refuse_forged_forms_and_repeated_guesses() {
    let b = gateway(|_| {}).await;
    let id = b.submit(&example("incident-ddos-minimal")).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let origin = b.url.clone();
    // Log in, keep the cookie, read the share form's token.
    let resp = http
        .post(format!("{}/ui/login", b.url))
        .header("origin", &origin)
        .form(&[("token", b.token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    let session = cookie.split(';').next().unwrap().to_string();
    let page = http
        .get(format!("{}/ui/reports/{id}", b.url))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    for (h, want) in [
        ("content-security-policy", "frame-ancestors 'none'"),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("cache-control", "no-store"),
    ] {
        let got = page.headers()[h].to_str().unwrap();
        assert!(got.contains(want), "{h}: {got}");
    }
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("<script") && !html.contains("style=\""),
        "no inline script or style"
    );
    let token = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .unwrap()
        .to_string();
    let share = |origin: Option<&str>, csrf: Option<&str>| {
        let mut req = http
            .post(format!("{}/ui/reports/{id}/share", b.url))
            .header("cookie", &session);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        let mut form = vec![("peer", "cert-z")];
        if let Some(t) = csrf {
            form.push(("csrf", t));
        }
        req.form(&form).send()
    };
    // A page on another port of the same host, with the victim's cookie: refused.
    let other = format!("http://127.0.0.1:{}", b.addr.port() + 1);
    assert_eq!(
        share(Some(&other), Some(&token)).await.unwrap().status(),
        403
    );
    // Same origin but no token (a form an attacker wrote): refused.
    assert_eq!(share(Some(&origin), None).await.unwrap().status(), 403);
    assert_eq!(
        share(Some(&origin), Some("0000")).await.unwrap().status(),
        403
    );
    assert!(b.decisions().await.is_empty(), "nothing was shared");
    // The real form: shared.
    assert_eq!(
        share(Some(&origin), Some(&token)).await.unwrap().status(),
        303
    );
    assert_eq!(b.decisions().await.len(), 1);

    // Guessing the token: limited after ten tries a minute, the right one included.
    let mut statuses = Vec::new();
    for i in 0..30 {
        let r = http
            .post(format!("{}/ui/login", b.url))
            .header("origin", &origin)
            .form(&[("token", format!("guess-{i}"))])
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert!(statuses[..9].iter().all(|s| *s == 401), "{statuses:?}");
    assert!(statuses[20..].iter().all(|s| *s == 429), "{statuses:?}");
    still_served(&b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_are_the_owners_and_loose_ones_refused_at_start() {
    use std::os::unix::fs::PermissionsExt as _;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("gw");
    irtx::cli::init::initialize(&dir, "cert-b", None, None).unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir.join("data")), 0o700);
    assert_eq!(mode(&dir.join("irtx.toml")), 0o600);
    for k in [
        "team.key",
        "analyst.token",
        "anonymize.key",
        "federation.key",
    ] {
        assert_eq!(mode(&dir.join(k)), 0o600, "{k}");
    }
    // An anonymization key others may read: refused at start, with the fix.
    std::fs::set_permissions(
        dir.join("anonymize.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let config =
        irtx::config::Config::load(&dir.join("irtx.toml"), Vec::<(String, String)>::new()).unwrap();
    let err = match irtx::app::App::build(config.clone()).await {
        Ok(_) => panic!("a loose key was accepted"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        err.contains("chmod 600") && err.contains("anonymize.key"),
        "{err}"
    );
    std::fs::set_permissions(
        dir.join("anonymize.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    std::fs::set_permissions(dir.join("data"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let err = match irtx::app::App::build(config).await {
        Ok(_) => panic!("a loose data dir was accepted"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("chmod 700"), "{err}");
    std::fs::set_permissions(dir.join("data"), std::fs::Permissions::from_mode(0o700)).unwrap();
    let b = TestGateway::start(&dir, "127.0.0.1:0".parse().unwrap(), |_| {}).await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_irtx"))
        .current_dir(&dir)
        .args([
            "ledger",
            "export",
            "--out",
            "ledger.jsonl",
            "--gateway",
            &b.url,
        ])
        .output()
        .unwrap();
    crate::helpers::succeeded(&out);
    assert_eq!(mode(&dir.join("ledger.jsonl")), 0o600);
}
