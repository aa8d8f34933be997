//! The HTTP surface's edges: one JSON error shape for bad paths, queries and bodies; pages
//! that need a session, whatever their path ends in; the ledger's time bounds; `/metrics`.

use serde_json::Value;

use crate::gateway::{example, TestGateway};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_json_and_pages_need_a_session() {
    // Nothing is delivered (the worker does not run): the ledger holds still while read.
    let (a, _clock) = TestGateway::spawn_manual("cert-a", |_| {}).await;
    let b = TestGateway::spawn("cert-b").await;
    a.add_peer(&b, "AMBER", "community", "none", "stix").await;
    b.add_peer(&a, "AMBER", "community", "none", "stix").await;
    let id = a.submit(&example("incident-ddos-minimal")).await;
    a.share(&id, &["cert-b"]).await;

    // A report whose id is `login` is a report like any other: no session, no page.
    let mut report = example("incident-ddos-minimal");
    report["id"] = "login".into();
    a.submit(&report).await;
    a.share("login", &["cert-b"]).await;
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in [
        "/ui/reports/login",
        "/ui",
        "/ui/alerts",
        "/ui/reports/login/share",
    ] {
        let r = plain.get(format!("{}{path}", a.url)).send().await.unwrap();
        assert_eq!(r.status(), 303, "{path}");
        assert_eq!(r.headers()["location"], "/ui/login", "{path}");
    }
    // A path no page has leads back to the pages, showing nothing.
    let r = plain
        .get(format!("{}/ui/reports/x/style.css", a.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/ui");
    let css = plain
        .get(format!("{}/ui/style.css", a.url))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), 200);

    // Bad paths and queries answer in the API's one error shape.
    for (path, status, words) in [
        ("/api/v1/reports/has%20space", 400, "path"),
        ("/api/v1/outbox/x/retry", 405, ""),
        ("/api/v1/disclosures?since=yesterday", 400, "/since"),
        ("/api/v1/disclosures?state=lost", 400, "dead-lettered"),
        ("/api/v1/no-such-thing", 404, "no such endpoint"),
        ("/api/v1/reports/nope", 404, "report `nope` not found"),
        ("/api/v1/peers/NOT-A-PEER", 400, "not a team id"),
    ] {
        let (s, v) = a.call(reqwest::Method::GET, path, None).await;
        assert_eq!(s, status, "{path}: {v}");
        if status != 405 {
            assert!(v["error"].is_string(), "{path}: {v}");
            assert!(v.to_string().contains(words), "{path}: {v}");
        }
    }
    let (s, v) = a
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/reports/{id}/share"),
            Some(serde_json::json!({"peer": "x"})),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    assert!(
        v["details"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("peers"),
        "{v}"
    );

    // `until` excludes its instant, `since` includes it; dates are whole days (UTC).
    let all = a.get("/api/v1/disclosures").await;
    let all = all.as_array().unwrap();
    assert!(all.len() >= 2);
    let at = all[1]["body"]["at"].as_str().unwrap();
    let enc = |t: &str| url::form_urlencoded::byte_serialize(t.as_bytes()).collect::<String>();
    let before: Vec<Value> = a
        .get(&format!("/api/v1/disclosures?until={}", enc(at)))
        .await
        .as_array()
        .unwrap()
        .clone();
    assert!(before
        .iter()
        .all(|e| e["body"]["at"].as_str().unwrap() < at));
    let from: Vec<Value> = a
        .get(&format!("/api/v1/disclosures?since={}", enc(at)))
        .await
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(before.len() + from.len(), all.len());
    let day = &at[..10];
    let whole = a
        .get(&format!("/api/v1/disclosures?since={day}&until={day}"))
        .await;
    assert_eq!(whole.as_array().unwrap().len(), all.len());
}

/// One vocabulary of states: a message the peer refused for good is `refused` in the
/// outbox, in the ledger and in the filters, and an analyst may retry it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_refused_for_good_is_refused_everywhere() {
    let (a, _) = TestGateway::spawn_manual("cert-a", |_| {}).await;
    // cert-b does not know cert-a: it refuses what cert-a sends.
    let b = TestGateway::spawn("cert-b").await;
    a.add_peer(&b, "AMBER", "community", "none", "stix").await;
    let id = a.submit(&example("event-malware-mail")).await;
    a.share(&id, &["cert-b"]).await;
    a.services().run_once().await;
    let outbox = a.outbox().await;
    assert_eq!(outbox[0]["state"], "refused", "{outbox:?}");
    let refused = a.get("/api/v1/disclosures?state=refused").await;
    assert_eq!(refused.as_array().unwrap().len(), 1, "{refused}");
    let dead = a.get("/api/v1/disclosures?state=dead-lettered").await;
    assert!(dead.as_array().unwrap().is_empty(), "{dead}");
    let (s, v) = a
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/outbox/{}/retry", outbox[0]["seq"]),
            None,
        )
        .await;
    assert_eq!((s, v["state"].as_str()), (200, Some("failing")), "{v}");
    // The receiver says it refused, and why.
    let html = crate::gateway::ui_page(&b, "/ui/inbound").await;
    assert!(html.contains("1 inbound messages refused"), "{html}");
    assert!(html.contains("cert-a"), "{html}");
}

/// The reports and alerts lists search: by an indicator value, an id, a title, a sender.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lists_search_reports_and_alerts() {
    let a = TestGateway::spawn("cert-a").await;
    let b = TestGateway::spawn("cert-b").await;
    a.add_peer(&b, "AMBER", "community", "none", "stix").await;
    b.add_peer(&a, "AMBER", "community", "none", "stix").await;
    let mail = a.submit(&example("event-malware-mail")).await;
    let ransom = a.submit(&example("incident-ransomware-full")).await;
    let html = crate::gateway::ui_page(&a, "/ui/reports?q=gate.php").await;
    assert!(
        html.contains(&ransom) && !html.contains(&format!(">{mail}<")),
        "{html}"
    );
    let html = crate::gateway::ui_page(&a, &format!("/ui/reports?q={mail}")).await;
    assert!(
        html.contains(&mail) && !html.contains(&format!(">{ransom}<")),
        "{html}"
    );
    a.share(&ransom, &["cert-b"]).await;
    crate::gateway::eventually(std::time::Duration::from_secs(10), "received", || async {
        b.alerts().await.len() == 1
    })
    .await;
    let html = crate::gateway::ui_page(&b, "/ui/alerts?q=CERT-A").await;
    assert!(html.contains("/ui/alerts/"), "{html}");
    let html = crate::gateway::ui_page(&b, "/ui/alerts?q=nothing-like-this").await;
    assert!(!html.contains("/ui/alerts/"), "{html}");
}

/// A report submitted twice is stored once; other content under a stored id is a new
/// version, which `submit` refuses and points to `update`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_report_twice_is_stored_once_and_other_content_needs_an_update() {
    let a = TestGateway::spawn("cert-a").await;
    let mut r = example("event-malware-mail");
    r.as_object_mut().unwrap().remove("id");
    let first = a.submit(&r).await;
    let again = a.submit(&r).await;
    assert_eq!(first, again);
    let listed = a.get("/api/v1/reports").await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    let mut other = example("event-malware-mail");
    other["id"] = serde_json::json!(first);
    other["title"] = serde_json::json!("something else");
    let (s, v) = a
        .call(reqwest::Method::POST, "/api/v1/reports", Some(other))
        .await;
    assert_eq!(s, 409, "{v}");
    assert!(v.to_string().contains("report update"), "{v}");
}

/// The value of the sample `series` (name and labels as written) on a gateway's `/metrics`.
async fn metric(gw: &TestGateway, series: &str) -> f64 {
    sample(&metrics(gw).await, series)
}

/// A gateway's `/metrics` text.
async fn metrics(gw: &TestGateway) -> String {
    reqwest::get(format!("{}/metrics", gw.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of the sample `series` in `/metrics` text.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no `{series}` in /metrics:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_submissions_deliveries_imports_and_flushes() {
    let b = TestGateway::spawn("cert-b").await;
    let (a, _clock) = TestGateway::spawn_manual("cert-a", |_| {}).await;
    a.add_peer(&b, "AMBER", "community", "none", "stix").await;
    b.add_peer(&a, "AMBER", "community", "none", "stix").await;
    let before = metric(&a, "irtx_store_flushes").await;
    let id = a.submit(&example("incident-ddos-minimal")).await;
    a.share(&id, &["cert-b"]).await;
    assert_eq!(metric(&a, "irtx_reports_submitted_total").await, 1.0);
    assert_eq!(metric(&a, "irtx_outbox_messages").await, 1.0);
    assert_eq!(a.services().run_once().await, 1);
    assert_eq!(
        metric(&a, "irtx_delivery_attempts_total{outcome=\"delivered\"}").await,
        1.0
    );
    assert_eq!(metric(&a, "irtx_outbox_messages").await, 0.0);
    assert_eq!(
        metric(&b, "irtx_inbound_messages_total{outcome=\"accepted\"}").await,
        1.0
    );
    // Submitted, queued, published, delivered: each write durable, some flushes shared.
    let flushes = metric(&a, "irtx_store_flushes").await - before;
    assert!((1.0..=10.0).contains(&flushes), "{flushes} flushes");
    // Each of them timed: the histogram counts the same flushes.
    let text = metrics(&a).await;
    let timed = sample(&text, "irtx_store_flush_seconds_count");
    assert_eq!(timed, sample(&text, "irtx_store_flushes"), "{text}");
    assert_eq!(
        sample(&text, "irtx_store_flush_seconds_bucket{le=\"+Inf\"}"),
        timed,
        "{text}"
    );
    assert!(
        sample(&text, "irtx_store_flush_seconds_sum") > 0.0,
        "{text}"
    );
}

/// The overview's tally is kept in the store when the gateway stops, so that a start reads
/// the ledger's tail rather than the whole ledger, and counts what it counted before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_counts_the_same_after_a_restart() {
    let (mut a, _clock) = TestGateway::spawn_manual("cert-a", |_| {}).await;
    let b = TestGateway::spawn("cert-b").await;
    a.add_peer(&b, "AMBER", "community", "none", "stix").await;
    b.add_peer(&a, "AMBER", "community", "none", "stix").await;
    let id = a.submit(&example("incident-ddos-minimal")).await;
    a.share(&id, &["cert-b"]).await;
    assert_eq!(a.services().run_once().await, 1);
    let delivered = "cert-b: 1</title>";
    let before = crate::gateway::ui_page(&a, "/ui?days=0").await;
    assert!(before.contains(delivered), "{before}");
    let (dir, addr) = (a.dir.clone(), a.addr);
    a.shutdown().await;

    let config =
        irtx::config::Config::load(&dir.join("irtx.toml"), Vec::<(String, String)>::new()).unwrap();
    // Kept at the stop, up to the ledger's last entry (on sled or PostgreSQL).
    let store = crate::gateway::when_released(|| irtx::app::open_store(&config, 8 << 20)).await;
    // Off the async threads: a PostgreSQL store waits on a runtime of its own.
    tokio::task::spawn_blocking(move || {
        let entries = store.ledger_entries_after(None).count() as u64;
        assert!(entries >= 2, "queued and delivered: {entries}");
        let kept = irtx::api::ui::charts::Tally::kept(store.as_ref());
        assert_eq!(kept.since(None).entries, entries);
    })
    .await
    .unwrap();

    let again = TestGateway::start(&dir, addr, |_| {}).await;
    let after = crate::gateway::ui_page(&again, "/ui?days=0").await;
    assert!(after.contains(delivered), "{after}");
}
