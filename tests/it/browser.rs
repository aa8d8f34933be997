//! The analyst pages, driven in headless Chromium through WebDriver (Debian's chromium and
//! chromium-driver; `scripts/install-browser.sh` installs them, `.ci/run` runs it): log in,
//! submit a report, share it, see the decision per peer, filter disclosures by peer and by
//! indicator, retry a dead-lettered message.

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
    let port = crate::helpers::free_port();
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

/// A headless Chromium session `width` px wide, logged in to `g`'s pages.
async fn logged_in(port: u16, g: &TestGateway, width: u32) -> fantoccini::Client {
    let caps: serde_json::Map<String, serde_json::Value> = serde_json::from_value(json!({
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--no-first-run", "--disable-quic", "--hide-scrollbars",
                     format!("--window-size={width},1000")]
        }
    }))
    .unwrap();
    let c = ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("WebDriver session");
    c.goto(&format!("{}/ui/", g.url)).await.unwrap();
    assert!(
        c.current_url().await.unwrap().path().ends_with("/ui/login"),
        "unauthenticated pages redirect to the login"
    );
    c.find(Locator::Id("token"))
        .await
        .unwrap()
        .send_keys(&g.token)
        .await
        .unwrap();
    c.find(Locator::Id("login"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(&c, "main", "ledger entries").await;
    c
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

    let c = logged_in(port, &a, 1400).await;

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
    wait_text(&c, "main", "Disclosures per day").await;
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

/// The longest peer id a team id allows (63), so the pages are checked with it.
const LONG_PEER: &str = "cert-b-national-coordination-centre-for-incident-response-abcd";

/// Asserts the page now shown has no horizontal overflow, and keeps its screenshot in
/// the build directory (`ui-screens/NAME.png`; docs/screenshots/ holds a copy).
async fn no_overflow(c: &fantoccini::Client, name: &str) {
    let widths = c
        .execute(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth];",
            vec![],
        )
        .await
        .unwrap();
    let (scroll, client) = (widths[0].as_u64().unwrap(), widths[1].as_u64().unwrap());
    assert!(
        scroll <= client,
        "{name}: the page is {scroll} px wide in a {client} px window"
    );
    let dir = crate::helpers::target_dir().join("ui-screens");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(format!("{name}.png")),
        c.screenshot().await.unwrap(),
    )
    .unwrap();
}

/// "What did we tell this peer about this report, when, in what form, and did they get
/// it?" answered from the report page alone: the marking, the removed fields, the document
/// as sent, the receipt verified (and shown unverified once the peer's key no longer
/// matches), the time. The Disclosures list pages through 5,000 entries with its filter
/// kept. Every page, at 1280 px, has no horizontal overflow with the longest ids.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_page_answers_the_analyst_and_lists_page_through_thousands() {
    let Some((_driver, port)) = chromedriver() else {
        return;
    };
    irtx::federation::install_crypto_provider();
    let b = TestGateway::spawn(LONG_PEER).await;
    let a = TestGateway::spawn("cert-a").await;
    a.add_peer(&b, "AMBER", "community", "pseudonymize", "stix")
        .await;
    b.add_peer(&a, "AMBER", "community", "none", "stix").await;
    let mut report = example("incident-ransomware-full");
    let long_id = format!(
        "INC-2026-0142:{}",
        "ransomware-regional-hospital-".repeat(3)
    );
    report["id"] = json!(long_id);
    let id = a.submit(&report).await;
    let d = a.share(&id, &[LONG_PEER]).await;
    assert_eq!(d[0]["decision"], "queued", "{d:?}");
    eventually(
        Duration::from_secs(15),
        "delivered with a receipt",
        || async { a.deliveries().await.len() == 1 },
    )
    .await;
    let delivered = a
        .get(&format!(
            "/api/v1/disclosures?peer={LONG_PEER}&state=delivered"
        ))
        .await;
    let at = delivered[0]["body"]["at"].as_str().unwrap().to_string();
    let message = delivered[0]["body"]["message_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Deliveries filter by peer and report.
    let mine = a
        .get(&format!("/api/v1/deliveries?peer={LONG_PEER}&report={id}"))
        .await;
    let none = a.get("/api/v1/deliveries?peer=cert-noise").await;
    assert_eq!(
        (
            mine.as_array().unwrap().len(),
            none.as_array().unwrap().len()
        ),
        (1, 0)
    );
    // The API says the same as the page will.
    let m = a.get(&format!("/api/v1/messages/{message}")).await;
    assert_eq!(m["receipt"]["verified"], true, "{m}");
    assert_eq!(m["state"], "delivered");
    assert_eq!(m["document"]["type"], "bundle");

    let c = logged_in(port, &a, 1280).await;
    let page = format!("{}/ui/reports/{}", a.url, id);
    c.goto(&page).await.unwrap();
    let row = wait_text(&c, "#decisions", LONG_PEER).await;
    for wanted in [
        "delivered",
        &at,
        "TLP:AMBER",
        "/reporter",
        "signed, verified: accepted",
    ] {
        assert!(row.contains(wanted), "`{wanted}` in {row}");
    }
    // The document as sent, on the same page: pseudonymized as the peer's profile says.
    c.find(Locator::Css(&format!(
        "#peer-{LONG_PEER} details.document summary"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    let doc = text(&c, &format!("#peer-{LONG_PEER} details.document pre")).await;
    assert!(doc.contains("\"type\": \"bundle\""), "{doc}");
    assert!(
        !doc.contains("10.20.1.11"),
        "the peer got a pseudonym, not the address"
    );
    let history = text(&c, &format!("#peer-{LONG_PEER} table.history")).await;
    assert!(
        history.contains("queued") && history.contains("delivered") && history.contains(&message),
        "{history}"
    );
    no_overflow(&c, "report").await;

    // The message's own page, one click away.
    c.find(Locator::Css(&format!("#peer-{LONG_PEER} p.latest a.msg")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let receipt = wait_text(&c, "#receipt", "verified").await;
    assert!(receipt.starts_with("Signed receipt verified"), "{receipt}");
    no_overflow(&c, "message").await;

    // Should the peer's key no longer match, the page says the receipt does not verify.
    let other = irtx::envelope::public_jwk(
        &ed25519_dalek::SigningKey::from_bytes(&[9; 32]).verifying_key(),
    );
    let (s, v) = a
        .call(
            reqwest::Method::POST,
            "/api/v1/peers",
            Some(
                json!({"id": LONG_PEER, "url": b.url, "keys": [{"jwk": other}],
                        "max_tlp": "AMBER", "audience": "community", "profile": "pseudonymize"}),
            ),
        )
        .await;
    assert!(s == 200 || s == 201, "{v}");
    c.goto(&page).await.unwrap();
    let row = wait_text(&c, "#decisions", "NOT verified").await;
    assert!(row.contains("unknown key") || row.contains("key"), "{row}");

    // 5,000 more ledger entries, half about the peer, each with a long reason.
    let services = a.services().clone();
    let rid: irtx::report::ReportId = id.parse().unwrap();
    tokio::task::spawn_blocking(move || {
        for n in 0..5000 {
            let peer = if n % 2 == 0 { LONG_PEER } else { "cert-noise" };
            let mut e = irtx::disclosure::EntryBody::new(
                irtx::timestamp::rfc3339(time::OffsetDateTime::now_utc()),
                irtx::disclosure::Event::Withheld,
                rid.clone(),
                peer.parse().unwrap(),
            );
            e.reason = Some(format!(
                "the report is TLP:RED and the peer's clearance is TLP:AMBER; withheld by policy (entry {n}, {})",
                "x".repeat(80)
            ));
            services.record(e).unwrap();
        }
    })
    .await
    .unwrap();
    let expected = irtx::ledger::select(a.services().store.as_ref(), |e| {
        e.body.peer.as_str() == LONG_PEER
    })
    .unwrap()
    .len();
    assert!(expected > 2500);

    c.goto(&format!("{}/ui/disclosures?peer={LONG_PEER}", a.url))
        .await
        .unwrap();
    let mut seen = 0;
    let mut pages = 0;
    loop {
        let cells = c
            .find_all(Locator::Css("#disclosures td.peer"))
            .await
            .unwrap();
        for cell in &cells {
            assert_eq!(cell.text().await.unwrap(), LONG_PEER);
        }
        seen += cells.len();
        pages += 1;
        if pages == 2 {
            no_overflow(&c, "disclosures").await;
        }
        let Ok(next) = c.find(Locator::Id("next")).await else {
            break;
        };
        let before = c.current_url().await.unwrap();
        next.click().await.unwrap();
        eventually(Duration::from_secs(10), "the next page", || async {
            c.current_url().await.unwrap() != before
        })
        .await;
        let url = c.current_url().await.unwrap();
        let query = url.query().unwrap_or("");
        assert!(
            query.contains(&format!("peer={LONG_PEER}")) && query.contains("after="),
            "the filter is kept: {url}"
        );
        assert!(pages < 100, "paging never ends");
    }
    assert_eq!(seen, expected, "every entry once, over {pages} pages");
    assert!(pages >= 26, "{pages}");

    // The report page stays short: the latest entries per peer, a link to all of them.
    c.goto(&page).await.unwrap();
    let note = wait_text(&c, &format!("#peer-{LONG_PEER} p.note"), "of").await;
    assert!(
        note.contains(&format!("The latest 50 of {expected}")),
        "{note}"
    );
    no_overflow(&c, "report-busy").await;

    // The export keeps the filter too.
    let (http, session) = crate::gateway::ui_session(&a).await;
    let csv = crate::gateway::ui_text(
        &http,
        &session,
        &format!(
            "{}/ui/disclosures/export?peer={LONG_PEER}&format=csv",
            a.url
        ),
    )
    .await;
    assert_eq!(
        csv.lines().count(),
        expected + 1,
        "a header and every entry"
    );

    // Every other page at 1280 px.
    for (name, path) in [
        ("overview", "/ui".to_string()),
        ("reports", "/ui/reports".to_string()),
        ("outbox", "/ui/outbox".to_string()),
        ("alerts", "/ui/alerts".to_string()),
        ("inbound", "/ui/inbound".to_string()),
    ] {
        c.goto(&format!("{}{path}", a.url)).await.unwrap();
        wait_text(&c, "main h1", "").await;
        no_overflow(&c, name).await;
    }
    c.close().await.unwrap();
    let alert = b.alerts().await[0]["id"].as_str().unwrap().to_string();
    let cb = logged_in(port, &b, 1280).await;
    cb.goto(&format!("{}/ui/alerts/{alert}", b.url))
        .await
        .unwrap();
    wait_text(&cb, "#source", "cert-a").await;
    let signature = text(&cb, "#signature").await;
    assert!(
        signature.starts_with("verified with `cert-a`'s key"),
        "{signature}"
    );
    no_overflow(&cb, "alert").await;
    cb.close().await.unwrap();
}
