//! Three gateways of one team on one PostgreSQL behind one address (DESIGN §12): real
//! `irtx serve` processes, a round-robin TCP balancer in front of them, a peer team on its own
//! sled store. Messages in both directions are spread over the three; one of them is
//! SIGKILLed in the middle of a stream of deliveries.

use std::process::{Child, Command};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::gateway::{eventually, example, TestGateway};
use crate::pg::PgServer;

/// `irtx serve` for team B's directory, on PostgreSQL.
fn serve(dir: &std::path::Path, pg_url: &str) -> (Child, String) {
    crate::gateway::serve_process(dir, &pg_env(pg_url))
}

fn pg_env(pg_url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("IRTX_STORE__BACKEND", "postgres".into()),
        ("IRTX_STORE__URL", pg_url.into()),
        // A killed gateway's claim returns after 3 s; an attempt may take 2 s.
        ("IRTX_STORE__LEASE_MS", "3000".into()),
        ("IRTX_DELIVERY__TIMEOUT_MS", "2000".into()),
    ]
}

/// A client that opens a new connection per request, so the balancer spreads them.
fn spreading() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

async fn call(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    // A request that meets the gateway being killed is sent again (to the next one).
    for _ in 0..5 {
        let mut req = http
            .request(method.clone(), format!("{url}{path}"))
            .bearer_auth(token);
        if let Some(b) = &body {
            req = req.json(b);
        }
        match req.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                return (status, r.json().await.unwrap_or(Value::Null));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    panic!("{path}: no gateway answered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_gateways_of_one_team_share_one_state_and_survive_a_kill() {
    const N: usize = 30;
    const M: usize = 12;
    let pg = PgServer::start();
    let http = spreading();

    // Team A: one gateway on its own sled store. Its inbox is behind a proxy that takes
    // 100 ms a message, so B's deliveries stream long enough for a kill to land mid-way.
    let (a, _a_clock) = TestGateway::spawn_manual("cert-a", |_| {}).await;
    let a_inbox = crate::gateway::slow_inbox(&a.url).await;

    // Team B: one directory (config, team key, analyst token), three gateways.
    let tmp = tempfile::tempdir().unwrap();
    let init = irtx::cli::init::initialize(tmp.path(), "cert-b", None, None).unwrap();
    let token = init.analyst_token.clone();
    let backends = Arc::new(std::sync::Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let b_url = format!("http://{}", listener.local_addr().unwrap());
    let (_balancer, counts) = crate::gateway::balance(listener, backends.clone());
    let (b0, url0) = serve(tmp.path(), &pg.url);
    backends
        .lock()
        .unwrap()
        .push(url0.trim_start_matches("http://").to_string());

    // Each team knows the other; B's address is the balancer's.
    let (status, _) = call(
        &http,
        &b_url,
        &token,
        reqwest::Method::POST,
        "/api/v1/peers",
        Some(json!({
        "id": "cert-a", "url": a_inbox, "keys": [{"jwk": a.jwk}], "max_tlp": "AMBER",
        "audience": "community", "profile": "none", "format": "stix"})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, v) = a
        .call(
            reqwest::Method::POST,
            "/api/v1/peers",
            Some(json!({"id": "cert-b", "url": b_url, "keys": [{"jwk": init.public_jwk}],
                        "max_tlp": "AMBER", "audience": "community", "profile": "none", "format": "stix"})),
        )
        .await;
    assert_eq!(status, 201, "{v}");

    // B shares N reports with A while only gateway 0 runs: its worker takes A's queue.
    for i in 0..N {
        let mut r = example("incident-ddos-minimal");
        r["id"] = format!("DDOS-{i}").into();
        let (status, report) = call(
            &http,
            &b_url,
            &token,
            reqwest::Method::POST,
            "/api/v1/reports",
            Some(r),
        )
        .await;
        assert_eq!(status, 201, "{report}");
        let id = report["id"].as_str().unwrap();
        let (status, d) = call(
            &http,
            &b_url,
            &token,
            reqwest::Method::POST,
            &format!("/api/v1/reports/{id}/share"),
            Some(json!({"peers": ["cert-a"]})),
        )
        .await;
        assert_eq!(status, 200, "{d}");
    }
    // Two more gateways of B join.
    let (b1, url1) = serve(tmp.path(), &pg.url);
    let (b2, url2) = serve(tmp.path(), &pg.url);
    backends
        .lock()
        .unwrap()
        .extend([url1, url2].map(|u| u.trim_start_matches("http://").to_string()));

    eventually(
        Duration::from_secs(20),
        "some, not all, delivered to A",
        || async { a.alerts().await.len() >= 5 },
    )
    .await;
    let mut b0 = b0;
    b0.kill().unwrap(); // SIGKILL, holding A's queue mid-stream
    b0.wait().unwrap();
    let at_kill = a.alerts().await.len();
    assert!(
        at_kill < N,
        "the kill came too late to test anything ({at_kill} delivered)"
    );

    // Meanwhile A sends M reports to B; each signed message is posted twice, through the
    // balancer, so the two copies land on different gateways of B at once.
    for i in 0..M {
        let mut r = example("incident-ddos-minimal");
        r["id"] = format!("FROM-A-{i}").into();
        let id = a.submit(&r).await;
        a.share(&id, &["cert-b"]).await;
    }
    let mut posts = tokio::task::JoinSet::new();
    for i in 0..M {
        let body = a.outbox_jws(i).await;
        for _ in 0..2 {
            let (http, url, body) = (http.clone(), b_url.clone(), body.clone());
            posts.spawn(async move {
                loop {
                    let r = http
                        .post(format!("{url}/exchange/v1/messages"))
                        .header("content-type", "application/jose+json")
                        .body(body.clone())
                        .send()
                        .await;
                    if let Ok(r) = r {
                        let status = r.status().as_u16();
                        let receipt: Value = r.json().await.unwrap_or(Value::Null);
                        return (status, receipt);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            });
        }
    }
    while let Some(r) = posts.join_next().await {
        let (status, receipt) = r.unwrap();
        assert!(status == 200 || status == 202, "{status}: {receipt}");
    }
    // And A's own worker delivers them too, through the balancer: all duplicates now.
    a.services().run_once().await;

    // Everything B queued reaches A exactly once, the killed gateway's claim taken over.
    eventually(
        Duration::from_secs(60),
        "every report of B imported by A",
        || async { a.alerts().await.len() == N },
    )
    .await;
    let ids: std::collections::HashSet<String> = a
        .alerts()
        .await
        .iter()
        .map(|x| x["message_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), N, "each message of B imported exactly once");
    let (_, alerts) = call(
        &http,
        &b_url,
        &token,
        reqwest::Method::GET,
        "/api/v1/alerts?limit=1000",
        None,
    )
    .await;
    assert_eq!(
        alerts.as_array().unwrap().len(),
        M,
        "each message of A one alert at B: {alerts}"
    );
    eventually(
        Duration::from_secs(20),
        "B holds a receipt for each delivery",
        || async {
            let (_, d) = call(
                &http,
                &b_url,
                &token,
                reqwest::Method::GET,
                "/api/v1/deliveries?limit=1000",
                None,
            )
            .await;
            d.as_array().unwrap().len() == N
        },
    )
    .await;
    let (_, outbox) = call(
        &http,
        &b_url,
        &token,
        reqwest::Method::GET,
        "/api/v1/outbox",
        None,
    )
    .await;
    assert!(outbox.as_array().unwrap().is_empty(), "{outbox}");
    for state in ["queued", "delivered"] {
        let (_, e) = call(
            &http,
            &b_url,
            &token,
            reqwest::Method::GET,
            &format!("/api/v1/disclosures?state={state}&limit=1000"),
            None,
        )
        .await;
        assert_eq!(
            e.as_array().unwrap().len(),
            N,
            "{state}: one ledger entry per message"
        );
    }
    // Requests really were spread over the three.
    for (i, c) in counts.iter().take(3).enumerate() {
        assert!(
            c.load(Ordering::SeqCst) > 0,
            "gateway {i} got no connection"
        );
    }
    // One ledger, verified by the command an analyst runs, from B's directory.
    let out = Command::new(env!("CARGO_BIN_EXE_irtx"))
        .current_dir(tmp.path())
        .args(["ledger", "verify"])
        .envs(pg_env(&pg.url))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ledger verify: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for mut c in [b1, b2] {
        c.kill().unwrap();
        c.wait().unwrap();
    }
}
