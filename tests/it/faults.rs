//! Faults on loopback: a peer that is down and comes back, a peer that answers 500, one that
//! hangs, and a sender killed with SIGKILL in the middle of a stream of deliveries.

use std::process::Child;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::routing::post;
use serde_json::{json, Value};

use irtx::federation::clock::ManualClock;

use crate::gateway::{eventually, example, TestGateway};

/// A peer that answers every message with `status` after `delay`, counting the hits.
async fn fake_peer(status: u16, delay: Duration) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let app = axum::Router::new().route(
        "/exchange/v1/messages",
        post(move || {
            let h = h.clone();
            async move {
                h.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                (
                    axum::http::StatusCode::from_u16(status).unwrap(),
                    "{\"error\": \"down for maintenance\"}",
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, hits)
}

async fn add_raw_peer(a: &TestGateway, id: &str, url: &str) {
    let jwk = irtx::envelope::public_jwk(
        &ed25519_dalek::SigningKey::from_bytes(&[5; 32]).verifying_key(),
    );
    let body = json!({"id": id, "url": url, "keys": [{"jwk": jwk}], "max_tlp": "AMBER", "audience": "community", "profile": "none", "format": "stix"});
    let (s, v) = a
        .call(reqwest::Method::POST, "/api/v1/peers", Some(body))
        .await;
    assert_eq!(s, 201, "{v}");
}

/// Moves `a`'s clock past the longest retry delay of the fast test settings.
fn past_backoff(clock: &ManualClock) {
    clock.advance(time::Duration::milliseconds(1_100));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_down_for_a_while_gets_every_message_once_in_order() {
    let (a, clock) = TestGateway::spawn_manual("cert-a", |_| {}).await;
    let mut b = TestGateway::spawn("cert-b").await;
    a.add_peer(&b, "AMBER", "community", "none", "stix").await;
    b.add_peer(&a, "AMBER", "community", "none", "stix").await;
    let (dir, addr) = (b.dir.clone(), b.addr);
    b.shutdown().await;

    // Five reports (a receiver holds one version of one report once).
    let mut sent = Vec::new();
    for i in 0..5 {
        let mut r = example("incident-ddos-minimal");
        r["id"] = format!("DDOS-{i}").into();
        let id = a.submit(&r).await;
        let d = a.share(&id, &["cert-b"]).await;
        sent.push(d[0]["message_id"].as_str().unwrap().to_string());
    }
    // The peer is down: the head of its queue fails and waits for its backoff.
    assert_eq!(a.services().run_once().await, 0);
    past_backoff(&clock);
    assert_eq!(a.services().run_once().await, 0);
    let head = &a.outbox().await[0];
    assert_eq!(
        (head["attempts"].as_u64(), head["state"].as_str()),
        (Some(2), Some("failing"))
    );
    assert_eq!(head["last_cause"], "unreachable", "{head}");

    // The peer comes back on the same address, with the same store.
    let b = TestGateway::start(&dir, addr, |_| {}).await;
    past_backoff(&clock);
    assert_eq!(
        a.services().run_once().await,
        5,
        "the whole queue, in one round"
    );
    let got: Vec<String> = b
        .alerts()
        .await
        .iter()
        .map(|x| x["message_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, sent, "in the order queued, each once");
    assert_eq!(a.deliveries().await.len(), 5);
    assert!(a.outbox().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_and_hanging_peers_are_retried_with_backoff_and_block_no_one() {
    let (a, clock) = TestGateway::spawn_manual("cert-a", |_| {}).await;
    let c = TestGateway::spawn("cert-c").await;
    a.add_peer(&c, "AMBER", "community", "none", "stix").await;
    c.add_peer(&a, "AMBER", "community", "none", "stix").await;
    let (url500, hits500) = fake_peer(500, Duration::ZERO).await;
    let (url_hang, hits_hang) = fake_peer(200, Duration::from_secs(30)).await;
    add_raw_peer(&a, "fails", &url500).await;
    add_raw_peer(&a, "hangs", &url_hang).await;

    let id = a.submit(&example("incident-ddos-minimal")).await;
    let d = a.share(&id, &["hangs", "fails", "cert-c"]).await;
    assert!(d.iter().all(|x| x["decision"] == "queued"), "{d:?}");
    // One round works every peer at once: the healthy peer is served while the hanging
    // one's attempt runs into its timeout (2 s here).
    let g = a.services().clone();
    let round = tokio::spawn(async move { g.run_once().await });
    eventually(
        Duration::from_secs(5),
        "cert-c imports while the round still waits for the hanging peer",
        || async { c.alerts().await.len() == 1 },
    )
    .await;
    assert!(!round.is_finished(), "the round waits for the hanging peer");
    assert_eq!(round.await.unwrap(), 1);

    let outbox = a.outbox().await;
    let failing = outbox.iter().find(|i| i["peer"] == "fails").unwrap();
    assert_eq!(failing["state"], "failing");
    assert_eq!(failing["last_cause"], "peer-error");
    assert!(
        failing["last_error"].as_str().unwrap().starts_with("500"),
        "{failing}"
    );
    let hanging = outbox.iter().find(|i| i["peer"] == "hangs").unwrap();
    assert_eq!(hanging["last_cause"], "timeout", "{hanging}");
    assert_eq!(hits_hang.load(Ordering::SeqCst), 1);
    // Backoff: nothing is due until the clock moves, however often the worker looks.
    for _ in 0..5 {
        a.services().run_once().await;
    }
    assert_eq!(hits500.load(Ordering::SeqCst), 1);
    past_backoff(&clock);
    a.services().run_once().await;
    assert_eq!(hits500.load(Ordering::SeqCst), 2);
    assert_eq!(hits_hang.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_lettered_message_can_be_retried() {
    let (a, clock) = TestGateway::spawn_manual("cert-a", |c| c.delivery.max_attempts = 2).await;
    let (url, hits) = fake_peer(503, Duration::ZERO).await;
    add_raw_peer(&a, "flaky", &url).await;
    let id = a.submit(&example("incident-ddos-minimal")).await;
    a.share(&id, &["flaky"]).await;
    a.services().run_once().await;
    assert_eq!(a.outbox().await[0]["state"], "failing");
    // Not due yet: no attempt, however often the worker looks.
    a.services().run_once().await;
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "backoff, not a retry every poll"
    );
    past_backoff(&clock);
    a.services().run_once().await;
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    let item = &a.outbox().await[0];
    assert_eq!(item["state"], "dead-lettered", "{item}");
    assert_eq!(item["last_cause"], "peer-error", "{item}");
    let seq = item["seq"].as_u64().unwrap();
    let (s, v) = a
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/outbox/{seq}/retry"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    // Retrying what is not dead-lettered is a conflict.
    let (s, _) = a
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/outbox/{seq}/retry"),
            None,
        )
        .await;
    assert_eq!(s, 409);
    a.services().run_once().await;
    past_backoff(&clock);
    a.services().run_once().await;
    assert_eq!(hits.load(Ordering::SeqCst), 4, "two more attempts");
    let events: Vec<String> = a
        .get("/api/v1/disclosures?peer=flaky")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["body"]["event"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        events,
        [
            "queued",
            "failing",
            "dead-lettered",
            "retried",
            "failing",
            "dead-lettered"
        ]
    );
}

fn serve(dir: &std::path::Path) -> (Child, String) {
    crate::gateway::serve_process(dir, &[])
}

async fn api(
    url: &str,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let mut req = reqwest::Client::new()
        .request(method, format!("{url}{path}"))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_killed_mid_stream_delivers_everything_once_after_restart() {
    const N: usize = 30;
    let b = TestGateway::spawn("cert-b").await;
    // Each delivery takes 100 ms through this proxy, so the kill lands mid-stream.
    let proxy_url = crate::gateway::slow_inbox(&b.url).await;

    let tmp = tempfile::tempdir().unwrap();
    let init = irtx::cli::init::initialize(tmp.path(), "cert-a", None, None).unwrap();
    let token = init.analyst_token.clone();
    let body = json!({"id": "cert-a", "url": "http://127.0.0.1:9", "keys": [{"jwk": init.public_jwk}],
                      "max_tlp": "AMBER", "audience": "community", "profile": "none", "format": "stix"});
    assert_eq!(
        b.call(reqwest::Method::POST, "/api/v1/peers", Some(body))
            .await
            .0,
        201
    );

    let (mut child, url) = serve(tmp.path());
    let peer = json!({"id": "cert-b", "url": proxy_url, "keys": [{"jwk": b.jwk}], "max_tlp": "AMBER",
                      "audience": "community", "profile": "none", "format": "stix"});
    api(
        &url,
        &token,
        reqwest::Method::POST,
        "/api/v1/peers",
        Some(peer),
    )
    .await;
    // N reports (a receiver holds one version of one report once).
    for i in 0..N {
        let mut r = example("incident-ddos-minimal");
        r["id"] = format!("DDOS-{i}").into();
        let report = api(
            &url,
            &token,
            reqwest::Method::POST,
            "/api/v1/reports",
            Some(r),
        )
        .await;
        let id = report["id"].as_str().unwrap().to_string();
        api(
            &url,
            &token,
            reqwest::Method::POST,
            &format!("/api/v1/reports/{id}/share"),
            Some(json!({"peers": ["cert-b"]})),
        )
        .await;
    }
    eventually(
        Duration::from_secs(20),
        "some, not all, delivered",
        || async { b.alerts().await.len() >= 5 },
    )
    .await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = b.alerts().await.len();
    assert!(
        before < N,
        "the kill came too late to test anything ({before} delivered)"
    );

    let (mut child, url) = serve(tmp.path());
    eventually(
        Duration::from_secs(30),
        "everything queued is imported",
        || async { b.alerts().await.len() == N },
    )
    .await;
    let ids: std::collections::HashSet<String> = b
        .alerts()
        .await
        .iter()
        .map(|a| a["message_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), N, "each message imported exactly once");
    let url2 = url.clone();
    let token2 = token.clone();
    eventually(
        Duration::from_secs(10),
        "the sender holds a receipt for each",
        move || {
            let (u, t) = (url2.clone(), token2.clone());
            async move {
                api(&u, &t, reqwest::Method::GET, "/api/v1/deliveries", None)
                    .await
                    .as_array()
                    .unwrap()
                    .len()
                    == N
            }
        },
    )
    .await;
    let outbox = api(&url, &token, reqwest::Method::GET, "/api/v1/outbox", None).await;
    assert!(outbox.as_array().unwrap().is_empty(), "{outbox}");
    // The ledger survived the kill whole: one queued and one delivered entry per message
    // (each written atomically with its outbox change), and the chain verifies.
    for state in ["queued", "delivered"] {
        let e = api(
            &url,
            &token,
            reqwest::Method::GET,
            &format!("/api/v1/disclosures?state={state}"),
            None,
        )
        .await;
        let ids: std::collections::HashSet<String> = e
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["body"]["message_id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(ids.len(), N, "{state}");
        assert_eq!(
            e.as_array().unwrap().len(),
            N,
            "{state}: one entry per message"
        );
    }
    let export = reqwest::Client::new()
        .get(format!("{url}/api/v1/ledger/export"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let key = irtx::envelope::parse_public_jwk(&init.public_jwk).unwrap();
    irtx::ledger::verify_export(std::io::Cursor::new(export), &key)
        .expect("the ledger verifies after the kill");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_answering_429_is_retried_not_dead_lettered() {
    let (a, clock) = TestGateway::spawn_manual("cert-a", |c| c.delivery.max_attempts = 50).await;
    let (url, hits) = fake_peer(429, Duration::ZERO).await;
    add_raw_peer(&a, "busy", &url).await;
    let id = a.submit(&example("incident-ddos-minimal")).await;
    a.share(&id, &["busy"]).await;
    for _ in 0..3 {
        a.services().run_once().await;
        past_backoff(&clock);
    }
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    let item = &a.outbox().await[0];
    assert_eq!(item["state"], "failing", "{item}");
    assert_eq!(item["last_cause"], "rate-limited", "{item}");
}
