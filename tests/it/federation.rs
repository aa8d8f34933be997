//! Three gateways on loopback — a national CERT, a sector CERT and an organization — as
//! peers of each other: what policy allows arrives, in each peer's format and anonymization,
//! verified and imported; the sender holds a valid signed receipt per delivery; what policy
//! forbids never leaves, and the decision is recorded.

use std::time::Duration;

use irtx::envelope::{self, Jws};
use serde_json::Value;

use crate::gateway::{eventually, example, TestGateway};

/// Checks a stored delivery: the receipt verifies with the receiver's public key and names
/// exactly the bytes that were sent.
fn assert_receipt(d: &Value, receiver: &TestGateway) {
    let receipt_jws: Jws = serde_json::from_value(d["receipt_jws"].clone()).unwrap();
    let opened = envelope::open(&receipt_jws).unwrap();
    let key = envelope::parse_public_jwk(&receiver.jwk).unwrap();
    opened
        .verify(&key)
        .expect("the receipt is signed by the receiver");
    let receipt: Value = serde_json::from_slice(&opened.payload).unwrap();
    let sent: Jws = serde_json::from_value(d["item"]["jws"].clone()).unwrap();
    let sent_payload = envelope::open(&sent).unwrap().payload;
    assert_eq!(
        receipt["message_sha256"],
        envelope::sha256_hex(&sent_payload)
    );
    assert_eq!(receipt["from"], receiver.team.as_str());
    assert_eq!(receipt["status"], "accepted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_gateways_share_by_policy() {
    let national = TestGateway::spawn("cert-nat").await;
    let sector = TestGateway::spawn("cert-sec").await;
    let org = TestGateway::spawn("org-x").await;

    // The organization forwards incidents to the sector CERT it outsources response to, and
    // shares GREEN with the national CERT.
    org.add_peer(&sector, "AMBER+STRICT", "service-provider", "none", "stix")
        .await;
    org.add_peer(&national, "GREEN", "community", "pseudonymize", "iodef")
        .await;
    // The national CERT shares with the sector CERT (pseudonymized STIX) and its constituent.
    national
        .add_peer(&sector, "AMBER", "community", "pseudonymize", "stix")
        .await;
    national
        .add_peer(&org, "AMBER", "client", "none", "iodef")
        .await;
    // Everyone knows everyone's key, so receipts and messages verify.
    sector
        .add_peer(&org, "AMBER", "client", "strict", "iodef")
        .await;
    sector
        .add_peer(&national, "AMBER", "community", "none", "stix")
        .await;

    // 1. An AMBER incident at the organization: to the sector CERT in full (its RED reporter
    //    removed); withheld from the national CERT (GREEN only).
    let incident = example("incident-ransomware-full");
    let id = org.submit(&incident).await;
    let decisions = org.share(&id, &["cert-sec", "cert-nat"]).await;
    assert_eq!(decisions[0]["decision"], "queued", "{decisions:?}");
    assert!(decisions[0]["removed"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["pointer"] == "/reporter"));
    assert_eq!(decisions[1]["decision"], "withheld");
    assert!(decisions[1]["reason"]
        .as_str()
        .unwrap()
        .contains("above TLP:GREEN"));

    eventually(
        Duration::from_secs(15),
        "the sector CERT imports the incident",
        || async { sector.alerts().await.len() == 1 },
    )
    .await;
    let alert = &sector.alerts().await[0];
    assert_eq!(alert["sender"], "org-x");
    assert_eq!(alert["format"], "stix-2.1");
    assert_eq!(alert["tlp"], "AMBER+STRICT");
    let doc = alert["document"].to_string();
    assert!(
        doc.contains("10.20.1.11"),
        "profile none keeps the victim side for the outsourced IRT"
    );
    assert!(!doc.contains("Jana Novak"), "the RED reporter never leaves");
    assert!(
        irtx::convert::check_output(&alert["document"], irtx::convert::Format::Stix).is_empty()
    );

    // 2. A CLEAR report at the national CERT: to both peers, each in its own format and
    //    anonymization.
    let phishing = example("incident-phishing-clear");
    let id = national.submit(&phishing).await;
    let d = national.share(&id, &["cert-sec", "org-x"]).await;
    assert!(d.iter().all(|x| x["decision"] == "queued"), "{d:?}");
    eventually(
        Duration::from_secs(15),
        "both peers import the phishing report",
        || async { sector.alerts().await.len() == 2 && org.alerts().await.len() == 1 },
    )
    .await;
    let at_sector = sector
        .alerts()
        .await
        .into_iter()
        .find(|a| a["sender"] == "cert-nat")
        .unwrap();
    assert_eq!(at_sector["format"], "stix-2.1");
    let text = at_sector["document"].to_string();
    assert!(
        !text.contains("Constituent abuse desk") && !text.contains("abuse@cert.example.net"),
        "pseudonymize drops the reporter"
    );
    assert!(
        text.contains("tax-refund.phish.example"),
        "attacker indicators stay usable"
    );
    let at_org = &org.alerts().await[0];
    assert_eq!(at_org["format"], "iodef-2");
    assert!(
        at_org["document"]
            .to_string()
            .contains("abuse@cert.example.net"),
        "profile none keeps the reporter"
    );

    // 3. The senders hold a valid signed receipt per delivery; nothing is left queued.
    eventually(Duration::from_secs(10), "receipts stored", || async {
        org.deliveries().await.len() == 1 && national.deliveries().await.len() == 2
    })
    .await;
    for d in org.deliveries().await {
        assert_receipt(&d, &sector);
    }
    for d in national.deliveries().await {
        let receiver = if d["item"]["peer"] == "cert-sec" {
            &sector
        } else {
            &org
        };
        assert_receipt(&d, receiver);
    }
    assert!(org.outbox().await.is_empty() && national.outbox().await.is_empty());

    // 4. The national CERT got nothing from the organization, and the decision is on record.
    assert!(national.alerts().await.is_empty());
    let withheld: Vec<Value> = org
        .decisions()
        .await
        .into_iter()
        .filter(|d| d["decision"] == "withheld")
        .collect();
    assert_eq!(withheld.len(), 1);
    assert_eq!(withheld[0]["peer"], "cert-nat");

    // 5. The senders' ledgers answer what each peer received (tests/it/ledger.rs goes
    //    further: a pseudonymized disclosure found by its original value and its pseudonym).
    let (_, to_sector) = org
        .call(
            reqwest::Method::GET,
            "/api/v1/disclosures?peer=cert-sec&state=queued",
            None,
        )
        .await;
    assert_eq!(to_sector[0]["body"]["marking"], "AMBER+STRICT");
    assert_eq!(to_sector[0]["body"]["removed"][0]["pointer"], "/reporter");
    let (_, about) = national
        .call(
            reqwest::Method::GET,
            "/api/v1/disclosures?indicator=tax-refund.phish.example&state=queued",
            None,
        )
        .await;
    let peers: Vec<&str> = about
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["body"]["peer"].as_str().unwrap())
        .collect();
    assert_eq!(
        peers,
        vec!["cert-sec", "org-x"],
        "attacker indicators went to both, in clear"
    );
    let (_, nat) = org
        .call(
            reqwest::Method::GET,
            "/api/v1/disclosures?peer=cert-nat",
            None,
        )
        .await;
    assert_eq!(nat[0]["body"]["event"], "withheld");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_rules_share_matching_reports_on_submission() {
    let b = TestGateway::spawn("cert-b").await;
    let a = TestGateway::spawn_with("cert-a", |c| {
        c.routing.push(irtx::config::RoutingRule {
            peers: vec!["cert-b".into()],
            categories: vec!["malicious-code/*".into()],
            kinds: vec![],
            max_tlp: Some(irtx::tlp::Tlp::Amber),
        })
    })
    .await;
    a.add_peer(&b, "AMBER+STRICT", "community", "none", "stix")
        .await;
    b.add_peer(&a, "AMBER", "community", "none", "stix").await;

    let (s, v) = a
        .call(
            reqwest::Method::POST,
            "/api/v1/reports",
            Some(example("incident-ransomware-full")),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(v["routed"][0]["peer"], "cert-b");
    assert_eq!(v["routed"][0]["decision"], "queued");
    let (_, v) = a
        .call(
            reqwest::Method::POST,
            "/api/v1/reports",
            Some(example("incident-ddos-minimal")),
        )
        .await;
    assert!(
        v["routed"].as_array().unwrap().is_empty(),
        "a DDoS report matches no rule"
    );
    eventually(
        Duration::from_secs(10),
        "the routed report arrives",
        || async { b.alerts().await.len() == 1 },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_talk_https_when_a_certificate_is_configured() {
    // B serves HTTPS with a self-signed certificate; A trusts it through delivery.ca_file.
    let tmp = tempfile::tempdir().unwrap();
    let bdir = tmp.path().join("b");
    irtx::cli::init::initialize(&bdir, "cert-b", None, None).unwrap();
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    std::fs::write(bdir.join("tls.crt"), cert.cert.pem()).unwrap();
    irtx::keys::write_secret_file(&bdir.join("tls.key"), &cert.signing_key.serialize_pem())
        .unwrap();
    let b = TestGateway::start(&bdir, "127.0.0.1:0".parse().unwrap(), |c| {
        c.tls.cert_file = Some("tls.crt".into());
        c.tls.key_file = Some("tls.key".into());
    })
    .await;
    assert!(b.url.starts_with("https://"), "{}", b.url);
    let ca = bdir.join("tls.crt");
    let a = TestGateway::spawn_with("cert-a", move |c| c.delivery.ca_file = Some(ca)).await;
    a.add_peer(&b, "AMBER", "community", "none", "stix").await;
    b.add_peer(&a, "AMBER", "community", "none", "stix").await;
    let id = a.submit(&example("incident-ddos-minimal")).await;
    a.share(&id, &["cert-b"]).await;
    eventually(Duration::from_secs(10), "delivered over HTTPS", || async {
        b.alerts().await.len() == 1
    })
    .await;
    eventually(Duration::from_secs(10), "receipt stored", || async {
        a.deliveries().await.len() == 1
    })
    .await;
    // A client that does not trust the certificate gets no answer.
    assert!(
        reqwest::get(format!("{}/healthz", b.url)).await.is_err(),
        "an untrusted certificate was accepted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_that_cannot_be_applied_sends_nothing_and_says_why() {
    let b = TestGateway::spawn("cert-b").await;
    // No federation key: a `pseudonymize` peer in the federation key domain cannot be served.
    let a = TestGateway::spawn_with("cert-a", |c| c.anonymize.federation_key_file = None).await;
    a.add_peer(&b, "AMBER", "community", "pseudonymize", "stix")
        .await;
    let id = a.submit(&example("incident-ddos-minimal")).await;
    let d = a.share(&id, &["cert-b"]).await;
    assert_eq!(d[0]["decision"], "error");
    assert_eq!(d[0]["cause"], "no-key");
    assert!(
        d[0]["reason"]
            .as_str()
            .unwrap()
            .contains("needs the anonymization key of domain `federation`"),
        "{d:?}"
    );
    assert!(a.outbox().await.is_empty(), "nothing queued");
    let (_, e) = a
        .call(
            reqwest::Method::GET,
            "/api/v1/disclosures?state=error",
            None,
        )
        .await;
    assert_eq!(e.as_array().unwrap().len(), 1, "{e}");
}

/// Adds peer `id` to `g`, known by key `jwk`, at an address where no gateway answers.
async fn add_down_peer(g: &TestGateway, id: &str, jwk: &Value) {
    let down = serde_json::json!({"id": id, "url": "http://127.0.0.1:9",
        "keys": [{"jwk": jwk}], "max_tlp": "AMBER", "audience": "community"});
    let (s, v) = g
        .call(reqwest::Method::POST, "/api/v1/peers", Some(down))
        .await;
    assert_eq!(s, 201, "{v}");
}

/// A message queued wakes the delivery worker for its peer alone; a peer backing off is
/// still tried again when due, however often other peers' messages wake the worker (every
/// outbox is looked through at least once a poll).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_backing_off_is_retried_while_others_keep_the_worker_busy() {
    let a = TestGateway::spawn_with("cert-a", |c| {
        c.delivery.base_delay_ms = 20;
        c.delivery.max_delay_ms = 40;
        // Much longer than the gaps between the shares below: only the looks the worker
        // makes on its own find the peer that is down due again.
        c.delivery.poll_ms = 400;
        c.delivery.timeout_ms = 2_000;
    })
    .await;
    let b = TestGateway::spawn("cert-b").await;
    a.add_peer(&b, "AMBER", "community", "none", "stix").await;
    b.add_peer(&a, "AMBER", "community", "none", "stix").await;
    add_down_peer(&a, "cert-c", &b.jwk).await;
    let id = a.submit(&example("incident-ddos-minimal")).await;
    let d = a.share(&id, &["cert-c"]).await;
    assert_eq!(d[0]["decision"], "queued", "{d:?}");
    // Shares to B, one after the other, for 2.5 s: the worker is woken for B far more often
    // than once a poll.
    let until = std::time::Instant::now() + Duration::from_millis(2_500);
    let mut shares = 0;
    while std::time::Instant::now() < until {
        let d = a.share_again(&id, &["cert-b"]).await;
        assert_eq!(d[0]["decision"], "queued", "{d:?}");
        shares += 1;
    }
    let attempts = a
        .outbox()
        .await
        .iter()
        .find(|m| m["peer"] == "cert-c")
        .map(|m| m["attempts"].as_u64().unwrap_or(0))
        .unwrap_or(0);
    assert!(
        attempts >= 3,
        "cert-c tried {attempts} times in 2.5 s, during {shares} shares to cert-b"
    );
}

/// `irtx report share --wait` and `?wait=` on a message: the answer comes once the peer's
/// receipt is verified, or says where a message stands when the wait runs out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_can_wait_for_the_receipt() {
    let a = TestGateway::spawn_with("cert-a", crate::gateway::fast).await;
    let b = TestGateway::spawn("cert-b").await;
    a.add_peer(&b, "AMBER", "community", "none", "stix").await;
    b.add_peer(&a, "AMBER", "community", "none", "stix").await;
    add_down_peer(&a, "cert-c", &b.jwk).await;
    let file = a.dir.join("report.json");
    std::fs::write(&file, example("incident-ddos-minimal").to_string()).unwrap();
    let on = |g: &TestGateway, args: &str| {
        let (dir, url) = (g.dir.clone(), g.url.clone());
        let args: Vec<String> = args.split(' ').map(String::from).collect();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_irtx"))
                .current_dir(&dir)
                .env_remove("RUST_LOG")
                .args(&args)
                .args(["--gateway", &url])
                .output()
                .unwrap()
        })
    };
    let cli = |args: String| on(&a, &args);

    let out = cli(format!(
        "report submit {} --share cert-b --wait 30",
        file.display()
    ))
    .await
    .unwrap();
    crate::helpers::succeeded(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("cert-b: queued as message")
            && text.contains("cert-b: delivered, receipt accepted (signature verified)"),
        "{text}"
    );
    // Delivered by the time the command returned.
    assert_eq!(a.deliveries().await.len(), 1);
    let id = text
        .split('`')
        .nth(1)
        .unwrap_or_else(|| panic!("no report id in {text}"))
        .to_string();

    let out = cli(format!("report share {id} --peer cert-c --wait 1"))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let (text, err) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(text.contains("cert-c: queued as message"), "{text}");
    assert!(
        text.contains("cert-c: failing after") || text.contains("cert-c: queued after"),
        "{text}"
    );
    assert!(
        err.contains("not delivered within 1 s: cert-c (")
            && err.contains("the gateway keeps trying"),
        "{err}"
    );
    let out = cli(format!("report share {id} --peer cert-b --wait 1"))
        .await
        .unwrap();
    crate::helpers::succeeded(&out);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("cert-b: held already"),
        "nothing queued, nothing to wait for: {out:?}"
    );

    // Onward, the same: B shares the alert it received back to A.
    let alert = b.alert_list().await[0]["id"].as_str().unwrap().to_string();
    let out = on(&b, &format!("alert share {alert} --peer cert-a --wait 30"))
        .await
        .unwrap();
    crate::helpers::succeeded(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("cert-a: delivered, receipt accepted (signature verified)"),
        "{text}"
    );

    // The API: the message as it stands once the wait runs out; bad waits are refused.
    let message = a.outbox().await[0]["message_id"]
        .as_str()
        .unwrap()
        .to_string();
    let v = a.get(&format!("/api/v1/messages/{message}?wait=1")).await;
    assert!(
        matches!(v["state"].as_str(), Some("queued" | "failing")),
        "{v}"
    );
    // Its delivery alone, what a waiting client asks: where it stands, without the document.
    let d = a
        .get(&format!("/api/v1/messages/{message}/delivery?wait=1"))
        .await;
    assert!(
        matches!(d["state"].as_str(), Some("queued" | "failing"))
            && d["peer"] == "cert-c"
            && d.get("document").is_none()
            && d.get("receipt").is_none(),
        "{d}"
    );
    let sent = a.deliveries().await[0]["item"]["message_id"]
        .as_str()
        .unwrap()
        .to_string();
    let d = a.get(&format!("/api/v1/messages/{sent}/delivery")).await;
    assert!(
        d["state"] == "delivered"
            && d["peer"] == "cert-b"
            && d["receipt"]["status"] == "accepted"
            && d["receipt"]["verified"] == true
            && d["delivered_at"].is_string(),
        "{d}"
    );
    for path in ["", "/delivery"] {
        for (wait, why) in [("61", "at most 60 seconds"), ("soon", "wait")] {
            let (s, v) = a
                .call(
                    reqwest::Method::GET,
                    &format!("/api/v1/messages/{message}{path}?wait={wait}"),
                    None,
                )
                .await;
            assert_eq!(s, 400, "{v}");
            assert!(v.to_string().contains(why), "{v}");
        }
        let nobody = uuid::Uuid::new_v4();
        let (s, v) = a
            .call(
                reqwest::Method::GET,
                &format!("/api/v1/messages/{nobody}{path}?wait=1"),
                None,
            )
            .await;
        assert_eq!(s, 404, "{v}");
    }

    // A pull-only peer: published to its collection, nothing to wait for.
    let puller = serde_json::json!({"id": "cert-p", "transport": "taxii-pull",
        "max_tlp": "AMBER", "audience": "community"});
    let (s, v) = a
        .call(reqwest::Method::POST, "/api/v1/peers", Some(puller))
        .await;
    assert_eq!(s, 201, "{v}");
    let out = cli(format!("report share {id} --peer cert-p --wait 30"))
        .await
        .unwrap();
    crate::helpers::succeeded(&out);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("cert-p: published to its TAXII collection"),
        "{out:?}"
    );

    // A retraction waits the same way (the peer that is down is removed first: it is
    // skipped); the pull-only peer's is in its collection, no message.
    let (s, v) = a
        .call(reqwest::Method::DELETE, "/api/v1/peers/cert-c", None)
        .await;
    assert!(s == 200 || s == 204, "{s} {v}");
    let out = cli(format!(
        "report retract {id} --reason sent-in-error --wait 30"
    ))
    .await
    .unwrap();
    crate::helpers::succeeded(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("cert-b: retraction queued as message")
            && text.contains("cert-b: delivered, receipt accepted (signature verified)")
            && text.contains("cert-p: retracted; no message to deliver"),
        "{text}"
    );
}
