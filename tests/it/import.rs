//! Import (DESIGN.md section 9): STIX 2.1 bundles and MISP events written by other tools,
//! through `irtx import` and `POST /api/v1/imports`; and onward sharing of what a gateway
//! received, through `POST /api/v1/alerts/{id}/share` and `irtx alert share`, on real
//! gateways.

use std::time::Duration;

use serde_json::{json, Value};

use crate::gateway::{eventually, example, fast, TestGateway};
use crate::helpers::{files_under, shared_reference};

/// Runs the irtx binary with the gateway's config (its store, when no gateway holds it).
fn irtx_in(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_irtx"))
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .args(args)
        .output()
        .unwrap()
}

/// The summary line's counts: imported, duplicates, quarantined, refused.
fn counts(stdout: &str) -> [usize; 4] {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with("imported "))
        .unwrap_or_else(|| panic!("no summary in:\n{stdout}"));
    let n: Vec<usize> = line
        .split([',', ' ', '('])
        .filter_map(|w| w.parse().ok())
        .collect();
    [n[0], n[1], n[2], n[3]]
}

#[test]
fn the_reference_samples_import_with_their_markings_and_nothing_lost_silently() {
    let Some(reference) = shared_reference("the_reference_samples_import (samples from ../shared)")
    else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    irtx::cli::init::initialize(tmp.path(), "cert-t", None, None).unwrap();
    let samples = reference.join("samples");
    let dirs: Vec<String> = ["pymisp", "misp-stix", "cti-stix-validator"]
        .iter()
        .map(|d| samples.join(d).display().to_string())
        .collect();
    let mut args = vec!["import"];
    args.extend(dirs.iter().map(String::as_str));
    let out = irtx_in(tmp.path(), &args);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    // 25 files: 4 pymisp events, 11 misp-stix files (6 MISP searches holding 10 events or
    // search results, 5 STIX bundles), 10 validator examples.
    assert_eq!(counts(&stdout), [22, 1, 0, 4], "{stdout}");
    // Refused: exit 3, each with where and why.
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    for (file, reason) in [
        ("invalid_braces.json", "refused: not JSON"),
        (
            "invalid_comma.json",
            "refused: not JSON: trailing comma at line 9",
        ),
        (
            "invalid_identity.json",
            "refused: /objects/0/modified: required",
        ),
        (
            "invalid_timestamp.json",
            "refused: /objects/0/modified: before `created`",
        ),
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.contains(file) && l.contains(reason)),
            "{file}: {reason}\n{stdout}"
        );
    }
    // Markings carried: MISP's tlp:white as CLEAR, the rest (no marking at all) as the
    // default, and said so.
    let tlp_of = |file: &str| -> String {
        stdout
            .lines()
            .find(|l| l.contains(file) && l.contains("imported as alert"))
            .unwrap_or_else(|| panic!("{file} not imported:\n{stdout}"))
            .to_string()
    };
    assert!(tlp_of("57c4445b").contains("(TLP:CLEAR, MISP tag tlp:white)"));
    assert!(tlp_of("existing_event.json").contains("(TLP:CLEAR, MISP tag tlp:white)"));
    assert!(tlp_of("misp_event.json").contains("TLP:AMBER, no TLP tag in the event: the default"));
    assert!(tlp_of("test_event1_stix21.json").contains("no TLP marking in the bundle: the default"));
    // What the report form does not carry is listed, not dropped silently.
    assert!(stdout.contains("14 galaxy clusters"), "{stdout}");
    assert!(
        stdout.contains("1 MISP attributes of type `regkey|value`"),
        "{stdout}"
    );
    assert!(
        stdout.contains("indicators whose pattern joins values (AND, FOLLOWEDBY)"),
        "{stdout}"
    );

    // The same again: every document a duplicate, nothing new.
    let again = irtx_in(tmp.path(), &args);
    let stdout = String::from_utf8_lossy(&again.stdout).to_string();
    assert_eq!(counts(&stdout), [0, 23, 0, 4], "{stdout}");
}

/// A STIX bundle marked with `marking` (the object given whole, so it can be altered).
fn bundle(marking: Value, domain: &str) -> Value {
    let mid = marking["id"].as_str().unwrap().to_string();
    json!({
        "type": "bundle",
        "id": "bundle--2e8b2f0a-8c5e-4f0e-9a57-6d1b5f3e7c11",
        "objects": [
            marking,
            {
                "type": "indicator", "spec_version": "2.1",
                "id": "indicator--6b1e3c2a-1f0d-4a8e-9c3b-5d2f7e8a9b01",
                "created": "2026-11-01T00:00:00.000Z", "modified": "2026-11-01T00:00:00.000Z",
                "name": "C2", "pattern": format!("[domain-name:value = '{domain}']"),
                "pattern_type": "stix", "valid_from": "2026-11-01T00:00:00Z",
                "indicator_types": ["malicious-activity"],
                "object_marking_refs": [mid],
            }
        ]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markings_are_exact_or_quarantined_and_the_default_is_configured() {
    let g = TestGateway::spawn_with("cert-t", |c| {
        c.import.default_tlp = irtx::tlp::Tlp::Green;
    })
    .await;
    let post = |body: Value, file: &str| {
        let url = format!("{}/api/v1/imports?file={file}", g.url);
        let token = g.token.clone();
        async move {
            let resp = reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap())
        }
    };
    let tlp2_amber = irtx::tlp::Tlp::Amber.stix_marking_definition();
    let tlp1_green = irtx::tlp::Tlp::published_marking(
        "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
    )
    .unwrap();

    // Exact TLP 2.0 and TLP 1.0 objects: imported under their labels.
    let (s, v) = post(bundle(tlp2_amber.clone(), "a.evil.example"), "amber.json").await;
    assert_eq!((s, v["imported"].as_u64()), (200, Some(1)), "{v}");
    assert_eq!(v["items"][0]["tlp"], "AMBER");
    let amber_id = v["items"][0]["alert_id"].as_str().unwrap().to_string();
    let (s, v) = post(bundle(tlp1_green, "g.evil.example"), "green1.json").await;
    assert_eq!(
        (s, v["items"][0]["tlp"].as_str()),
        (200, Some("GREEN")),
        "{v}"
    );

    // An altered TLP object (the AMBER id, another definition) and an unknown id:
    // quarantined with the reason, not guessed.
    let mut altered = tlp2_amber.clone();
    altered["name"] = "TLP:AMBER (internal)".into();
    let (s, v) = post(bundle(altered, "x.evil.example"), "altered.json").await;
    assert_eq!((s, v["quarantined"].as_u64()), (200, Some(1)), "{v}");
    assert!(
        v["items"][0]["reasons"][0]
            .as_str()
            .unwrap()
            .contains("not the published object"),
        "{v}"
    );
    let mut unknown = tlp2_amber.clone();
    unknown["id"] = "marking-definition--00000000-0000-4000-8000-000000000001".into();
    let (_, v) = post(bundle(unknown, "y.evil.example"), "unknown.json").await;
    assert_eq!(v["quarantined"], 1, "{v}");

    // MISP: tags case-insensitive, several events in one search result; an unknown tlp tag
    // quarantines that event only; no tag takes the configured default (GREEN here).
    let events = json!({"response": [
        {"Event": {"info": "tagged", "Tag": [{"name": "TLP:Amber+Strict"}],
                   "Attribute": [{"type": "ip-src", "value": "203.0.113.5", "to_ids": true, "category": "Network activity"}]}},
        {"Event": {"info": "odd tag", "Tag": [{"name": "tlp:ex:chr"}], "Attribute": []}},
        {"Event": {"info": "untagged", "Attribute": [{"type": "domain", "value": "u.evil.example", "to_ids": true}]}},
    ]});
    let (s, v) = post(events.clone(), "search.json").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["imported"].as_u64(), v["quarantined"].as_u64()),
        (Some(2), Some(1)),
        "{v}"
    );
    let items = v["items"].as_array().unwrap();
    assert_eq!(items[0]["tlp"], "AMBER+STRICT");
    assert_eq!(items[1]["pointer"], "/response/1");
    assert_eq!(items[2]["tlp"], "GREEN");
    assert!(items[2]["marking"].as_str().unwrap().contains("default"));
    // Again: duplicates by content (the quarantined one is quarantined again).
    let (_, v) = post(events, "search-again.json").await;
    assert_eq!(v["duplicates"], 2, "{v}");

    // The quarantine lists each with where it came from and why.
    let q = g.get("/api/v1/quarantine").await;
    let q = q.as_array().unwrap();
    assert_eq!(q.len(), 4, "{q:?}");
    assert!(q
        .iter()
        .any(|r| r["import"]["file"] == "search.json#/response/1"));

    // Not a document: 422 with the summary; nothing stored.
    let before = g.alert_list().await.len();
    let (s, v) = post(json!({"hello": "world"}), "odd.json").await;
    assert_eq!((s, v["refused"].as_u64()), (422, Some(1)), "{v}");
    assert_eq!(g.alert_list().await.len(), before);

    // An imported alert records its source: the file, the tool, the marking.
    let a = g.get(&format!("/api/v1/alerts/{amber_id}")).await;
    assert_eq!(a["import"]["file"], "amber.json");
    assert_eq!(a["import"]["tool"], "stix");
    assert_eq!(a["import"]["marking"], "STIX marking TLP:AMBER");
    assert_eq!(a["format"], "stix-2.1");
}

/// A report from the examples with another id and label.
fn report(name: &str, id: &str, tlp: &str) -> Value {
    let mut r = example(name);
    r["id"] = id.into();
    r["tlp"] = tlp.into();
    r.as_object_mut().unwrap().remove("field_tlp");
    r
}

/// The decisions recorded about alert `alert_id` (shared under `alert:<id>`).
async fn onward(g: &TestGateway, alert_id: &str) -> Vec<Value> {
    let rid = format!("alert:{alert_id}");
    g.decisions()
        .await
        .into_iter()
        .filter(|e| e["report_id"] == rid.as_str())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_gateways_share_onward_under_the_audience_rules() {
    let a = TestGateway::spawn_with("cert-a", fast).await;
    let b = TestGateway::spawn_with("cert-b", fast).await;
    let c = TestGateway::spawn_with("cert-c", fast).await;
    // A sends B its own reports up to AMBER+STRICT; B passes on to C, a community peer,
    // pseudonymized; S is B's service provider (never reached in this test: the decision
    // is what counts).
    a.add_peer(&b, "AMBER+STRICT", "own-organization", "none", "stix")
        .await;
    b.add_peer(&a, "AMBER", "community", "none", "stix").await;
    b.add_peer(&c, "AMBER+STRICT", "community", "pseudonymize", "stix")
        .await;
    c.add_peer(&b, "AMBER", "community", "none", "stix").await;
    let (s, v) = b
        .call(
            reqwest::Method::POST,
            "/api/v1/peers",
            Some(
                json!({"id": "cert-s", "url": "http://127.0.0.1:9", "keys": [{"jwk": a.jwk}],
                        "max_tlp": "AMBER", "audience": "service-provider", "profile": "none"}),
            ),
        )
        .await;
    assert_eq!(s, 201, "{v}");

    let green = report("incident-ddos-minimal", "DDOS-GREEN", "GREEN");
    let strict = report("incident-ddos-minimal", "DDOS-STRICT", "AMBER+STRICT");
    let amber = report("incident-ddos-minimal", "DDOS-AMBER", "AMBER");
    for r in [&green, &strict, &amber] {
        let id = a.submit(r).await;
        let d = a.share(&id, &["cert-b"]).await;
        assert_eq!(d[0]["decision"], "queued", "{d:?}");
    }
    eventually(
        Duration::from_secs(20),
        "B receives A's three reports",
        || async { b.alert_list().await.len() == 3 },
    )
    .await;
    let alerts = b.alert_list().await;
    let alert = |tlp: &str| {
        alerts
            .iter()
            .find(|x| x["tlp"] == tlp)
            .unwrap_or_else(|| panic!("no {tlp} alert in {alerts:?}"))["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (g_id, s_id, a_id) = (alert("GREEN"), alert("AMBER+STRICT"), alert("AMBER"));

    // GREEN goes on to the community; AMBER+STRICT is refused (own organisation only).
    let share = |id: String, peers: Vec<&'static str>| {
        let b = &b;
        async move {
            b.post_decisions(
                &format!("/api/v1/alerts/{id}/share"),
                json!({ "peers": peers }),
            )
            .await
        }
    };
    let d = share(g_id.clone(), vec!["cert-c"]).await;
    assert_eq!(d[0]["decision"], "queued", "{d:?}");
    let d = share(s_id.clone(), vec!["cert-c"]).await;
    assert_eq!(
        (d[0]["decision"].as_str(), d[0]["cause"].as_str()),
        (Some("withheld"), Some("audience")),
        "{d:?}"
    );
    // AMBER to a service provider: only with the source's recorded permission.
    let d = share(a_id.clone(), vec!["cert-s"]).await;
    assert_eq!(d[0]["cause"], "provider-permission", "{d:?}");
    let (s, v) = b
        .call(
            reqwest::Method::POST,
            "/api/v1/peers",
            Some(
                json!({"id": "cert-a", "url": a.url, "keys": [{"jwk": a.jwk}],
                        "max_tlp": "AMBER", "audience": "community", "profile": "none",
                        "provider_permission": true}),
            ),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let d = share(a_id.clone(), vec!["cert-s"]).await;
    assert_eq!(d[0]["decision"], "queued", "{d:?}");

    // C gets the GREEN alert from B, as B's, marked GREEN, pseudonymized by C's profile.
    eventually(
        Duration::from_secs(20),
        "C receives the onward share",
        || async { c.alert_list().await.len() == 1 },
    )
    .await;
    let at_c = &c.alerts().await[0];
    assert_eq!(
        (at_c["sender"].as_str(), at_c["tlp"].as_str()),
        (Some("cert-b"), Some("GREEN"))
    );
    let objects = at_c["document"]["objects"].as_array().unwrap();
    let container = objects.iter().find(|o| o["type"] == "report").unwrap();
    assert_eq!(container["name"], green["title"]);
    assert!(
        !at_c["document"].to_string().contains("NOC Example Bank"),
        "the reporter (victim side) is not passed on under `pseudonymize`"
    );

    // B's ledger: each decision names the alert's source and how it came.
    let recorded = onward(&b, &g_id).await;
    assert_eq!(recorded[0]["decision"], "queued");
    assert_eq!(recorded[0]["onward"]["source"], "cert-a");
    assert_eq!(recorded[0]["onward"]["via"], "peer");
    assert_eq!(recorded[0]["onward"]["received_as"], "GREEN");
    let recorded = onward(&b, &s_id).await;
    assert_eq!(
        (
            recorded[0]["decision"].as_str(),
            recorded[0]["cause"].as_str()
        ),
        (Some("withheld"), Some("audience"))
    );
    assert_eq!(recorded[0]["onward"]["received_as"], "AMBER+STRICT");
    let recorded = onward(&b, &a_id).await;
    assert_eq!(recorded.len(), 2);
    assert_eq!(recorded[0]["cause"], "provider-permission");
    assert_eq!(recorded[1]["onward"]["provider_permission"], true);
    // A's ledger: its own decisions, with no onward source.
    let at_a = a.decisions().await;
    assert!(at_a.iter().filter(|e| e["decision"] == "queued").count() >= 3);
    assert!(at_a.iter().all(|e| e.get("onward").is_none()));

    // The same through the alert's page: the Share form, then the decision with its source.
    let (http, session) = crate::gateway::ui_session(&b).await;
    let page = |path: String| {
        let http = http.clone();
        let session = session.clone();
        let url = format!("{}{path}", b.url);
        async move { crate::gateway::ui_text(&http, &session, &url).await }
    };
    let html = page(format!("/ui/alerts/{a_id}")).await;
    assert!(
        html.contains("peer cert-a") && html.contains("id=\"share\""),
        "{html}"
    );
    let token = crate::gateway::csrf_of(&html);
    let resp = http
        .post(format!("{}/ui/alerts/{a_id}/share", b.url))
        .header("cookie", &session)
        .header("origin", &b.url)
        .form(&[("peer", "cert-c"), ("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let html = page(format!("/ui/alerts/{a_id}")).await;
    assert!(html.contains("cert-a (peer, received TLP:AMBER)"), "{html}");
    assert_eq!(onward(&b, &a_id).await.len(), 3);

    // The same through the command line: `irtx alert share`.
    let out = tokio::task::spawn_blocking({
        let dir = b.dir.clone();
        let url = b.url.clone();
        move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_irtx"))
                .current_dir(&dir)
                .env_remove("RUST_LOG")
                .args([
                    "--gateway",
                    &url,
                    "alert",
                    "share",
                    &s_id,
                    "--peer",
                    "cert-c",
                ])
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    // Withheld from every peer asked: exit 4, and the reason.
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(stdout.contains("cert-c: withheld: "), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_alerts_share_onward_in_both_formats() {
    let Some(reference) = shared_reference("imported_alerts_share_onward (samples from ../shared)")
    else {
        return;
    };
    let g = TestGateway::spawn("cert-t").await;
    for (id, format) in [("cert-x", "stix"), ("cert-y", "iodef")] {
        let (s, v) = g
            .call(
                reqwest::Method::POST,
                "/api/v1/peers",
                Some(
                    json!({"id": id, "url": "http://127.0.0.1:9", "keys": [{"jwk": g.jwk}],
                            "max_tlp": "AMBER", "audience": "client", "profile": "pseudonymize",
                            "format": format}),
                ),
            )
            .await;
        assert_eq!(s, 201, "{v}");
    }
    let files: Vec<_> = ["pymisp", "misp-stix"]
        .iter()
        .flat_map(|dir| files_under(&reference.join("samples").join(dir), "json"))
        .collect();
    let (mut shared, mut alerts) = (0, 0);
    for f in files {
        let body: Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
        let (_, v) = g
            .call(
                reqwest::Method::POST,
                "/api/v1/imports?file=sample.json",
                Some(body),
            )
            .await;
        for item in v["items"].as_array().unwrap() {
            let Some(id) = item["alert_id"].as_str() else {
                continue;
            };
            alerts += 1;
            let (s, d) = g
                .call(
                    reqwest::Method::POST,
                    &format!("/api/v1/alerts/{id}/share"),
                    Some(json!({"peers": ["cert-x", "cert-y"]})),
                )
                .await;
            assert_eq!(s, 200, "{}: {d}", f.display());
            for x in d["decisions"].as_array().unwrap() {
                assert_eq!(x["decision"], "queued", "{}: {x}", f.display());
                shared += 1;
            }
        }
    }
    // Every imported alert went out in both forms (a queued share passed the output checks).
    assert!(alerts >= 15, "{alerts}");
    assert_eq!(shared, 2 * alerts);
}

#[test]
fn files_are_imported_in_the_order_named_and_one_that_cannot_be_read_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    irtx::cli::init::initialize(tmp.path(), "cert-t", None, None).unwrap();
    // Twelve files, the same document in the first and the last, and a link to nothing.
    let green = irtx::tlp::Tlp::Green.stix_marking_definition();
    let doc = bundle(green.clone(), "first.example");
    let mut args = vec!["import".to_string()];
    for i in 0..12 {
        let path = tmp.path().join(format!("f{i:02}.json"));
        let body = if i == 0 || i == 11 {
            doc.clone()
        } else {
            bundle(green.clone(), &format!("d{i}.example"))
        };
        std::fs::write(&path, body.to_string()).unwrap();
        args.push(path.display().to_string());
        if i == 5 {
            let gone = tmp.path().join("gone.json");
            std::os::unix::fs::symlink(tmp.path().join("nowhere"), &gone).unwrap();
            args.push(gone.display().to_string());
        }
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = irtx_in(tmp.path(), &args);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert_eq!(counts(&stdout), [11, 1, 0, 1], "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("gone.json") && l.contains("refused: cannot read it")),
        "{stdout}"
    );
    // The first named imports the document; the last is its duplicate; lines in order.
    let first = stdout
        .lines()
        .position(|l| l.contains("f00.json: imported"));
    let last = stdout
        .lines()
        .position(|l| l.contains("f11.json: duplicate"));
    assert!(
        first.is_some() && last.is_some() && first < last,
        "{stdout}"
    );
}
