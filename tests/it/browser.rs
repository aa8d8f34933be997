//! The analyst pages, driven in headless Chromium through WebDriver (Debian's chromium and
//! chromium-driver; `scripts/install-browser.sh` installs them, `.ci/run` runs it): log in,
//! submit a report, share it, see the decision per peer, filter disclosures by peer and by
//! indicator, retry a dead-lettered message.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fantoccini::{ClientBuilder, Locator};
use serde_json::json;

use crate::gateway::{eventually, example, TestGateway};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts chromedriver, or says loudly why the test cannot run (fails under CI).
fn chromedriver() -> Option<(Driver, u16)> {
    if !std::path::Path::new(CHROMEDRIVER).exists() || !std::path::Path::new(CHROMIUM).exists() {
        let msg = "chromium / chromium-driver are not installed (run scripts/install-browser.sh)";
        if std::env::var_os("CI").is_some() || std::env::var_os("IRTX_REQUIRE_BROWSER").is_some() {
            panic!("{msg}");
        }
        eprintln!("\n*** SKIPPED the browser test: {msg} ***\n");
        return None;
    }
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "chromedriver did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Some((Driver(child), port))
}

/// The text of `css` once the page shows `wanted` in it (pages load after a click; a
/// navigation can make a found element stale, so this polls, bounded).
async fn wait_text(c: &fantoccini::Client, css: &str, wanted: &str) -> String {
    let start = Instant::now();
    loop {
        if let Ok(e) = c.find(Locator::Css(css)).await {
            if let Ok(t) = e.text().await {
                if t.contains(wanted) {
                    return t;
                }
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "`{css}` never showed `{wanted}`"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn text(c: &fantoccini::Client, css: &str) -> String {
    wait_text(c, css, "").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analyst_shares_and_reviews_in_the_browser() {
    let Some((_driver, port)) = chromedriver() else {
        return;
    };
    irtx::federation::install_crypto_provider();

    let b = TestGateway::spawn("cert-b").await;
    let a = TestGateway::spawn_with("cert-a", |c| c.delivery.max_attempts = 1).await;
    a.add_peer(&b, "AMBER", "community", "pseudonymize", "stix")
        .await;
    b.add_peer(&a, "AMBER", "community", "none", "stix").await;
    // A peer that is down for maintenance: its message is dead-lettered after one attempt.
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let flaky = axum::Router::new().route(
        "/exchange/v1/messages",
        axum::routing::post(move || {
            h.fetch_add(1, Ordering::SeqCst);
            async { (axum::http::StatusCode::SERVICE_UNAVAILABLE, "{}") }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let flaky_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, flaky).await.unwrap() });
    let jwk = irtx::envelope::public_jwk(
        &ed25519_dalek::SigningKey::from_bytes(&[5; 32]).verifying_key(),
    );
    let (s, _) = a
        .call(
            reqwest::Method::POST,
            "/api/v1/peers",
            Some(
                json!({"id": "flaky", "url": flaky_url, "keys": [{"jwk": jwk}],
            "max_tlp": "AMBER", "audience": "community", "profile": "none", "format": "iodef"}),
            ),
        )
        .await;
    assert_eq!(s, 201);

    let caps: serde_json::Map<String, serde_json::Value> = serde_json::from_value(json!({
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--no-first-run", "--disable-quic", "--window-size=1400,1000"]
        }
    }))
    .unwrap();
    let c = ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("WebDriver session");

    // Log in.
    c.goto(&format!("{}/ui/", a.url)).await.unwrap();
    assert!(
        c.current_url().await.unwrap().path().ends_with("/ui/login"),
        "unauthenticated pages redirect to the login"
    );
    c.find(Locator::Id("token"))
        .await
        .unwrap()
        .send_keys(&a.token)
        .await
        .unwrap();
    c.find(Locator::Id("login"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(&c, "main", "ledger entries").await;

    // Submit a report through the form.
    c.goto(&format!("{}/ui/reports", a.url)).await.unwrap();
    let report = serde_json::to_string(&example("incident-ransomware-full")).unwrap();
    c.find(Locator::Id("report"))
        .await
        .unwrap()
        .send_keys(&report)
        .await
        .unwrap();
    c.find(Locator::Id("submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(&c, "main h1", "INC-2026-0142").await;

    // Share it with both peers and see the decision per peer.
    for peer in ["cert-b", "flaky"] {
        c.find(Locator::Css(&format!("input[value='{peer}']")))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }
    c.find(Locator::Id("share-button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let decisions = wait_text(&c, "#decisions", "flaky").await;
    assert!(
        decisions.contains("cert-b") && decisions.contains("flaky"),
        "{decisions}"
    );
    assert!(
        decisions.contains("/description") && decisions.contains("/reporter"),
        "removed fields shown: {decisions}"
    );
    eventually(
        Duration::from_secs(15),
        "cert-b delivered, flaky dead-lettered",
        || async { b.alerts().await.len() == 1 && hits.load(Ordering::SeqCst) == 1 },
    )
    .await;
    eventually(
        Duration::from_secs(10),
        "the page shows both outcomes",
        || async {
            c.refresh().await.unwrap();
            let t = text(&c, "#decisions").await;
            t.contains("delivered") && (t.contains("refused") || t.contains("dead-lettered"))
        },
    )
    .await;

    // Filter the disclosures by peer, then by indicator.
    c.goto(&format!("{}/ui/disclosures", a.url)).await.unwrap();
    c.find(Locator::Id("f-peer"))
        .await
        .unwrap()
        .send_keys("cert-b")
        .await
        .unwrap();
    c.find(Locator::Id("filter"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    eventually(Duration::from_secs(10), "the filtered page", || async {
        c.current_url()
            .await
            .unwrap()
            .query()
            .unwrap_or("")
            .contains("peer=cert-b")
    })
    .await;
    let peers = c
        .find_all(Locator::Css("#disclosures td.peer"))
        .await
        .unwrap();
    assert!(!peers.is_empty());
    for p in peers {
        assert_eq!(p.text().await.unwrap(), "cert-b");
    }
    c.goto(&format!("{}/ui/disclosures?indicator=10.20.1.11", a.url))
        .await
        .unwrap();
    let sent_as = text(&c, "#disclosures").await;
    assert!(
        sent_as.contains("cert-b") && sent_as.contains("as "),
        "the pseudonym cert-b got is shown: {sent_as}"
    );
    assert!(
        sent_as.contains("flaky") && sent_as.contains("in clear"),
        "{sent_as}"
    );

    // Retry the dead-lettered message.
    c.goto(&format!("{}/ui/outbox", a.url)).await.unwrap();
    assert!(text(&c, "#outbox").await.contains("dead-lettered"));
    c.find(Locator::Css("button.retry"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(&c, "main h1", "Outbox").await;
    eventually(
        Duration::from_secs(10),
        "the retry reaches the peer",
        || async { hits.load(Ordering::SeqCst) == 2 },
    )
    .await;
    c.goto(&format!("{}/ui/disclosures?state=retried", a.url))
        .await
        .unwrap();
    wait_text(&c, "#disclosures", "flaky").await; // the retry is on the ledger

    // The overview draws its charts; keep a screenshot for a person to look at.
    c.goto(&format!("{}/ui", a.url)).await.unwrap();
    wait_text(&c, "main", "Disclosures over time").await;
    assert!(!c
        .find_all(Locator::Css("main svg rect"))
        .await
        .unwrap()
        .is_empty());
    let png = c.screenshot().await.unwrap();
    let out = crate::helpers::target_dir().join("ui-overview.png");
    let _ = std::fs::write(out, png);
    c.close().await.unwrap();
}
