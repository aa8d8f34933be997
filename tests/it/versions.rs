//! Report versions and recall (DESIGN.md section 10): sharing a version a peer
//! already holds is a no-op that says so (`resend` forces it); a new version goes to every
//! peer that holds an earlier one, under a fresh decision, with the same STIX ids and a later
//! `modified`; where the peer may no longer have it, it gets a signed retraction; a
//! retraction follows the data to onward copies; only the original sender retracts; the
//! holders view says who holds which version in which form.

use reqwest::Method;
use serde_json::{json, Value};

use crate::gateway::{example, TestGateway};

fn report(version: u64, tlp: &str) -> Value {
    let mut r = example("event-malware-mail");
    r["id"] = json!("EV-VERSIONS-1");
    r["version"] = json!(version);
    r["updated_at"] = json!(format!("2026-11-2{version}T10:00:00Z"));
    r["tlp"] = json!(tlp);
    r.as_object_mut().unwrap().remove("field_tlp");
    r
}

async fn update(g: &TestGateway, r: &Value) -> (u16, Value) {
    g.call(
        Method::PUT,
        &format!("/api/v1/reports/{}", r["id"].as_str().unwrap()),
        Some(r.clone()),
    )
    .await
}

fn modified_of(alert: &Value, kind: &str) -> Vec<(String, String)> {
    alert["document"]["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["type"] == kind)
        .map(|o| {
            (
                o["id"].as_str().unwrap().to_string(),
                o["modified"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_version_reaches_the_holders_and_a_held_version_is_not_sent_twice() {
    let (a, _) = TestGateway::spawn_manual("cert-a", |_| {}).await;
    let b = TestGateway::spawn("cert-b").await;
    let c = TestGateway::spawn("cert-c").await;
    a.add_peer(&b, "AMBER", "client", "none", "stix").await;
    a.add_peer(&c, "GREEN", "community", "none", "stix").await;
    b.add_peer(&a, "AMBER", "community", "none", "stix").await;
    c.add_peer(&a, "AMBER", "community", "none", "stix").await;

    let id = a.submit(&report(1, "GREEN")).await;
    let d = a.share(&id, &["cert-b", "cert-c"]).await;
    assert!(d.iter().all(|x| x["decision"] == "queued"), "{d:?}");
    assert_eq!(a.services().run_once().await, 2);

    // The same version again: nothing sent, and the answer says why.
    let d = a.share(&id, &["cert-b"]).await;
    assert_eq!(d[0]["decision"], "held", "{d:?}");
    assert!(
        d[0]["reason"].as_str().unwrap().contains("version 1"),
        "{d:?}"
    );
    assert!(a.outbox().await.is_empty());
    // `resend` forces it.
    let (s, v) = a
        .call(
            Method::POST,
            &format!("/api/v1/reports/{id}/share"),
            Some(json!({"peers": ["cert-b"], "resend": true})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["decisions"][0]["decision"], "queued");
    assert_eq!(a.services().run_once().await, 1);

    // A version that is not higher is refused, with why; so is one written no later.
    let (s, v) = update(&a, &report(1, "GREEN")).await;
    assert_eq!(s, 409, "{v}");
    assert!(v.to_string().contains("version"), "{v}");
    let mut same_time = report(2, "GREEN");
    same_time["updated_at"] = report(1, "GREEN")["updated_at"].clone();
    let (s, v) = update(&a, &same_time).await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["details"][0]["pointer"], "/updated_at");

    // Version 2, still GREEN: both holders get it, and only they.
    let (s, v) = update(&a, &report(2, "GREEN")).await;
    assert_eq!(s, 200, "{v}");
    let mut sent: Vec<(String, String)> = v["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["peer"].as_str().unwrap().to_string(),
                d["decision"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    sent.sort();
    assert_eq!(
        sent,
        [
            ("cert-b".into(), "queued".into()),
            ("cert-c".into(), "queued".into())
        ]
    );
    assert_eq!(a.services().run_once().await, 2);
    let alerts = c.alerts().await;
    assert_eq!(alerts.len(), 2);
    // Same STIX ids, a later `modified`.
    let (v1, v2) = (
        modified_of(&alerts[0], "incident"),
        modified_of(&alerts[1], "incident"),
    );
    assert_eq!(v1[0].0, v2[0].0, "the same incident id");
    assert!(v2[0].1 > v1[0].1, "a later modified: {v1:?} {v2:?}");

    // Version 3 raises the label to AMBER: cert-b (AMBER) gets it; cert-c (GREEN) may no
    // longer have the report: it gets a retraction of both versions it holds.
    let (s, v) = update(&a, &report(3, "AMBER")).await;
    assert_eq!(s, 200, "{v}");
    let by_peer = |p: &str| {
        v["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["peer"] == p)
            .cloned()
            .unwrap()
    };
    assert_eq!(by_peer("cert-b")["decision"], "queued");
    assert_eq!(by_peer("cert-c")["decision"], "withheld");
    assert_eq!(a.services().run_once().await, 2);
    let on_c = c.alerts().await;
    assert!(on_c.iter().all(|x| x["retracted"].is_object()), "{on_c:?}");

    // The holders view: who holds which version, in which form and state.
    let h = a.get(&format!("/api/v1/reports/{id}/holders")).await;
    let row = |p: &str| {
        h["holders"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["peer"] == p)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        (
            row("cert-b")["version"].as_u64(),
            row("cert-b")["state"].as_str()
        ),
        (Some(3), Some("current"))
    );
    assert_eq!(
        (
            row("cert-c")["version"].as_u64(),
            row("cert-c")["state"].as_str()
        ),
        (Some(2), Some("retracted"))
    );
    assert_eq!(row("cert-b")["format"], "stix-2.1");
    assert!(row("cert-b")["message_id"].is_string());

    // The same from the command line.
    let cli = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_irtx"))
            .current_dir(&a.dir)
            .env_remove("RUST_LOG")
            .args(args)
            .args(["--gateway", &a.url])
            .output()
            .unwrap()
    };
    let out = cli(&["report", "holders", &id]);
    crate::helpers::succeeded(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("cert-c") && text.contains("retracted") && text.contains("may not go to it"),
        "{text}"
    );
    let out = cli(&["report", "share", &id, "--peer", "cert-b"]);
    crate::helpers::succeeded(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("cert-b: held already"));
    let v4 = a.dir.join("v4.json");
    std::fs::write(&v4, report(4, "AMBER").to_string()).unwrap();
    let out = cli(&["report", "update", v4.to_str().unwrap()]);
    crate::helpers::succeeded(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("version 4") && text.contains("cert-b: queued"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retraction_follows_the_data_and_only_the_sender_retracts() {
    let (a, b, c, d) = four_gateways().await;

    let id = a.submit(&report(1, "GREEN")).await;
    a.share(&id, &["cert-b", "cert-c"]).await;
    assert_eq!(a.services().run_once().await, 2);
    // B passes it on to D (GREEN to community).
    let alert_on_b = b.alert_list().await[0]["id"].as_str().unwrap().to_string();
    let (s, v) = b
        .call(
            Method::POST,
            &format!("/api/v1/alerts/{alert_on_b}/share"),
            Some(json!({"peers": ["cert-d"]})),
        )
        .await;
    assert_eq!(
        (s, v["decisions"][0]["decision"].as_str()),
        (200, Some("queued")),
        "{v}"
    );
    assert_eq!(b.services().run_once().await, 1);
    assert_eq!(d.alerts().await.len(), 1);

    // A retraction from anyone but the original sender changes nothing: C names the
    // message A sent to B.
    let msg_to_b = b.alerts().await[0]["message_id"]
        .as_str()
        .unwrap()
        .to_string();
    let forged = irtx::exchange::outbound::seal_retraction(
        &irtx::exchange::inbound::RetractionDoc {
            report: id.clone(),
            versions: vec![1],
            messages: vec![irtx::envelope::MessageId(msg_to_b.parse().unwrap())],
            reason: "forged".into(),
            objects: vec![],
        },
        irtx::tlp::Tlp::Green,
        irtx::exchange::outbound::Envelope {
            from: &"cert-c".parse().unwrap(),
            to: &"cert-b".parse().unwrap(),
            id: irtx::envelope::MessageId(uuid::Uuid::new_v4()),
            now: time::OffsetDateTime::now_utc(),
        },
        &c.services().key.current().0,
    );
    let (status, _) = b.post_inbox(serde_json::to_vec(&forged.jws).unwrap()).await;
    assert_eq!(status, 403);
    assert!(
        b.alerts().await[0]["retracted"].is_null(),
        "nothing changed"
    );

    // A retracts: B's copy is retracted, and B retracts D's in turn; C too.
    assert_eq!(a.retract(&id, "sent in error").await.len(), 2);
    assert_eq!(a.services().run_once().await, 2);
    let on_b = b.alerts().await;
    assert_eq!(on_b[0]["retracted"]["reason"], "sent in error");
    // A STIX peer also receives the objects re-issued revoked: the report's own SDOs, each
    // with a `modified` later than the version it held, and nothing that was not its.
    let held: Vec<(String, String)> = modified_of(&on_b[0], "indicator");
    let revoked = on_b[0]["retracted"]["revoked"].as_array().unwrap();
    assert!(
        !held.is_empty() && revoked.len() >= held.len(),
        "{revoked:?}"
    );
    for (id, modified) in &held {
        let r = revoked.iter().find(|o| o["id"] == id.as_str()).unwrap();
        assert_eq!(r["revoked"], true);
        assert!(r["modified"].as_str().unwrap() > modified.as_str(), "{r}");
    }
    let creator = on_b[0]["document"]["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["type"] == "indicator")
        .unwrap()["created_by_ref"]
        .clone();
    assert!(
        revoked
            .iter()
            .all(|o| o["type"] != "marking-definition" && o["id"] != creator),
        "{revoked:?}"
    );
    assert_eq!(
        b.services().run_once().await,
        1,
        "B retracts its onward copy"
    );
    let on_d = d.alerts().await;
    assert!(
        on_d[0]["retracted"]["reason"]
            .as_str()
            .unwrap()
            .contains("sent in error"),
        "{on_d:?}"
    );
    assert!(c.alerts().await[0]["retracted"].is_object());
    let html = crate::gateway::ui_page(&b, &format!("/ui/alerts/{alert_on_b}")).await;
    assert!(
        html.contains("Retracted by its sender") && html.contains("re-issued revoked"),
        "{html}"
    );
    // A retracted alert is never shared onward again.
    let (s, v) = b
        .call(
            Method::POST,
            &format!("/api/v1/alerts/{alert_on_b}/share"),
            Some(json!({"peers": ["cert-d"]})),
        )
        .await;
    assert_eq!(s, 409, "{v}");
    // Both sides' ledgers record it; the holders agree.
    let holders = a.get(&format!("/api/v1/reports/{id}/holders")).await;
    assert!(
        holders["holders"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["state"] == "retracted"),
        "{holders}"
    );
    let on_b_holders = b
        .get(&format!("/api/v1/reports/alert:{alert_on_b}/holders"))
        .await;
    assert_eq!(
        on_b_holders["holders"][0]["state"], "retracted",
        "{on_b_holders}"
    );
    for (g, peer) in [
        (&a, "cert-b"),
        (&b, "cert-a"),
        (&b, "cert-d"),
        (&d, "cert-b"),
    ] {
        let l = g
            .get(&format!("/api/v1/disclosures?peer={peer}&state=retracted"))
            .await;
        assert!(
            l.to_string().contains("\"retracted\""),
            "{} about {peer}: {l}",
            g.team
        );
    }
}

/// A (its worker stepped by the test) shares with B (a client, AMBER) and C (community,
/// GREEN); B (stepped too) passes on to D (community) and knows C; C and D know their
/// senders.
async fn four_gateways() -> (TestGateway, TestGateway, TestGateway, TestGateway) {
    let (a, _) = TestGateway::spawn_manual("cert-a", |_| {}).await;
    let (b, _) = TestGateway::spawn_manual("cert-b", |_| {}).await;
    let c = TestGateway::spawn("cert-c").await;
    let d = TestGateway::spawn("cert-d").await;
    a.add_peer(&b, "AMBER", "client", "none", "stix").await;
    a.add_peer(&c, "GREEN", "community", "none", "stix").await;
    b.add_peer(&a, "AMBER", "community", "none", "stix").await;
    b.add_peer(&d, "AMBER", "community", "none", "stix").await;
    b.add_peer(&c, "AMBER", "community", "none", "stix").await;
    c.add_peer(&a, "AMBER", "community", "none", "stix").await;
    c.add_peer(&b, "AMBER", "community", "none", "stix").await;
    d.add_peer(&b, "AMBER", "community", "none", "stix").await;
    (a, b, c, d)
}

/// `irtx ledger verify` on a gateway's data dir, through its running API.
fn ledger_verifies(g: &TestGateway) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_irtx"))
        .current_dir(&g.dir)
        .env_remove("RUST_LOG")
        .args(["ledger", "verify", "--gateway", &g.url])
        .output()
        .unwrap();
    crate::helpers::succeeded(&out);
}

fn state_of(holders: &Value, peer: &str) -> (u64, String) {
    let h = holders["holders"]
        .as_array()
        .unwrap()
        .iter()
        .rfind(|h| h["peer"] == peer && h["state"] != "superseded")
        .cloned()
        .unwrap_or_else(|| panic!("{peer} holds nothing: {holders}"));
    (
        h["version"].as_u64().unwrap(),
        h["state"].as_str().unwrap().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_gateways_follow_versions_raises_and_retraction() {
    let (a, b, c, d) = four_gateways().await;

    // v1 GREEN: A to B (client) and C (community); B on to D (community of B).
    let id = a.submit(&report(1, "GREEN")).await;
    a.share(&id, &["cert-b", "cert-c"]).await;
    assert_eq!(a.services().run_once().await, 2);
    let on_b = b.alert_list().await[0]["id"].as_str().unwrap().to_string();
    let (s, _) = b
        .call(
            Method::POST,
            &format!("/api/v1/alerts/{on_b}/share"),
            Some(json!({"peers": ["cert-d"]})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(b.services().run_once().await, 1);

    // Sharing the same version twice gives one alert; resend gives a `duplicate` receipt.
    assert_eq!(a.share(&id, &["cert-c"]).await[0]["decision"], "held");
    let (_, v) = a
        .call(
            Method::POST,
            &format!("/api/v1/reports/{id}/share"),
            Some(json!({"peers": ["cert-c"], "resend": true})),
        )
        .await;
    assert_eq!(v["decisions"][0]["decision"], "queued");
    assert_eq!(a.services().run_once().await, 1);
    assert_eq!(c.alert_list().await.len(), 1, "still one alert");
    let last = a.deliveries().await.last().cloned().unwrap();
    assert_eq!(last["receipt"]["status"], "duplicate", "{last}");

    // v2 still GREEN: B, C and (through B) D hold version 2.
    let (s, v) = update(&a, &report(2, "GREEN")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(a.services().run_once().await, 2);
    assert_eq!(
        b.services().run_once().await,
        1,
        "B passes version 2 on to D"
    );
    assert_eq!(d.alert_list().await.len(), 2);
    assert_eq!(
        state_of(
            &a.get(&format!("/api/v1/reports/{id}/holders")).await,
            "cert-c"
        ),
        (2, "current".into())
    );

    // v3 AMBER: C gets a retraction; B gets v3 and retracts D's copy (AMBER does not go to
    // a community peer).
    let (s, v) = update(&a, &report(3, "AMBER")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(a.services().run_once().await, 2);
    assert!(c.alerts().await.iter().all(|x| x["retracted"].is_object()));
    assert_eq!(b.services().run_once().await, 1, "B retracts D's copy");
    let on_d = d.alerts().await;
    assert_eq!(on_d.len(), 2);
    assert!(on_d.iter().all(|x| x["retracted"].is_object()), "{on_d:?}");
    let a_holders = a.get(&format!("/api/v1/reports/{id}/holders")).await;
    assert_eq!(state_of(&a_holders, "cert-b"), (3, "current".into()));
    assert_eq!(state_of(&a_holders, "cert-c"), (2, "retracted".into()));

    // A retracts the report, from its page: B's copies are retracted.
    let (http, session) = crate::gateway::ui_session(&a).await;
    let html = http
        .get(format!("{}/ui/reports/{id}", a.url))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("id=\"holders\"") && html.contains("id=\"retract\""),
        "{html}"
    );
    let resp = http
        .post(format!("{}/ui/reports/{id}/retract", a.url))
        .header("cookie", &session)
        .header("origin", &a.url)
        .form(&[
            ("reason", "wrong customer"),
            ("csrf", crate::gateway::csrf_of(&html).as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(a.services().run_once().await, 1);
    let on_b = b.alerts().await;
    assert_eq!(on_b.len(), 3);
    assert!(
        on_b.iter()
            .all(|x| x["retracted"]["reason"] == "wrong customer"),
        "{on_b:?}"
    );
    assert_eq!(
        b.services().run_once().await,
        0,
        "D's copy was retracted already"
    );
    assert_eq!(
        state_of(
            &a.get(&format!("/api/v1/reports/{id}/holders")).await,
            "cert-b"
        ),
        (3, "retracted".into())
    );
    for g in [&a, &b, &c, &d] {
        ledger_verifies(g);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_down_during_a_retraction_gets_it_in_order_when_it_returns() {
    let (a, clock) = TestGateway::spawn_manual("cert-a", |_| {}).await;
    let mut b = TestGateway::spawn("cert-b").await;
    a.add_peer(&b, "AMBER", "client", "none", "stix").await;
    b.add_peer(&a, "AMBER", "community", "none", "stix").await;
    let id = a.submit(&report(1, "GREEN")).await;
    a.share(&id, &["cert-b"]).await;
    assert_eq!(a.services().run_once().await, 1);
    // B goes down; A sends version 2, then retracts.
    let (dir, addr) = (b.dir.clone(), b.addr);
    b.shutdown().await;
    update(&a, &report(2, "GREEN")).await;
    a.retract(&id, "recalled").await;
    assert_eq!(a.services().run_once().await, 0);
    let outbox = a.outbox().await;
    assert_eq!(outbox.len(), 2, "{outbox:?}");
    // B comes back on the same address; both go, in order: the version, then the retraction.
    let b2 = TestGateway::start(&dir, addr, |_| {}).await;
    clock.advance(time::Duration::hours(1));
    assert_eq!(a.services().run_once().await, 2);
    let alerts = b2.alerts().await;
    assert_eq!(alerts.len(), 2);
    assert!(
        alerts
            .iter()
            .all(|x| x["retracted"]["reason"] == "recalled"),
        "{alerts:?}"
    );
    let _keep = b;
}
