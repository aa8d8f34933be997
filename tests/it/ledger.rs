//! The disclosure ledger: tampering with a copy of the store is caught and named; an export
//! verifies with nothing but itself and the public key; after a federation run the sender's
//! ledger answers what each peer received, and the indicator query finds clear and
//! pseudonymized disclosures.

use std::path::Path;
use std::time::Duration;

use irtx::disclosure::{Entry, EntryBody, Event};
use serde_json::Value;

use crate::gateway::{eventually, example, when_released, TestGateway};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// Opens a stopped gateway's store once its own instance has let go of it.
async fn hold_store(dir: &Path) -> sled::Db {
    let path = dir.join("data/store");
    let db = when_released(|| sled::open(&path)).await;
    db.flush().unwrap();
    db
}

/// `irtx ledger verify` on a copy of the gateway in `dir` whose ledger `f` rewrote.
fn verify_copy(dir: &Path, f: impl FnOnce(&mut Vec<Entry>)) -> std::process::Output {
    let copy = tempfile::tempdir().unwrap();
    copy_dir(dir, copy.path());
    tamper(copy.path(), f);
    verify(copy.path())
}

fn verify(dir: &Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_irtx"))
        .current_dir(dir)
        .args(["ledger", "verify"])
        .output()
        .unwrap()
}

/// Rewrites the ledger tree of the store in `dir` with `f` applied to its entries.
fn tamper(dir: &Path, f: impl FnOnce(&mut Vec<Entry>)) {
    let db = sled::open(dir.join("data/store")).unwrap();
    let tree = db.open_tree("ledger").unwrap();
    let mut entries: Vec<Entry> = tree
        .iter()
        .map(|kv| {
            let (k, v) = kv.unwrap();
            let json = irtx::store::sled_store::record_json(&k, &v).unwrap();
            serde_json::from_slice(&json).unwrap()
        })
        .collect();
    f(&mut entries);
    tree.clear().unwrap();
    for (i, e) in entries.iter().enumerate() {
        tree.insert((i as u64).to_be_bytes(), serde_json::to_vec(e).unwrap())
            .unwrap();
    }
    db.flush().unwrap();
}

/// A sender with a ledger of a dozen entries, stopped; returns its directory and a peer.
async fn ledger_with_entries() -> (TestGateway, TestGateway) {
    let b = TestGateway::spawn("cert-b").await;
    let mut a = TestGateway::spawn("cert-a").await;
    a.add_peer(&b, "AMBER", "community", "pseudonymize", "stix")
        .await;
    b.add_peer(&a, "AMBER", "community", "none", "stix").await;
    for name in [
        "incident-ransomware-full",
        "incident-ddos-minimal",
        "event-scan-suspected",
        "vulnerability-no-cve",
    ] {
        let id = a.submit(&example(name)).await;
        a.share(&id, &["cert-b"]).await;
        // A peer not in the list is refused before anything is decided or recorded.
        let (s, v) = a
            .call(
                reqwest::Method::POST,
                &format!("/api/v1/reports/{id}/share"),
                Some(serde_json::json!({"peers": ["cert-b", "nobody"]})),
            )
            .await;
        assert_eq!(s, 422, "{v}");
        assert_eq!(v["details"][0]["pointer"], "/peers/1", "{v}");
    }
    eventually(Duration::from_secs(10), "deliveries", || async {
        a.deliveries().await.len() == 3
    })
    .await;
    a.shutdown().await;
    (a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_is_caught_and_the_first_bad_entry_named() {
    let (a, _b) = ledger_with_entries().await;
    // Hold the stopped store open (no writes) while copying it: opening succeeds only once the
    // gateway's instance has released it, so every copy is of a quiet store.
    let _held = hold_store(&a.dir).await;
    let out = verify_copy(&a.dir, |_| {});
    crate::helpers::succeeded(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("ledger intact"));

    type Tamper = Box<dyn FnOnce(&mut Vec<Entry>)>;
    let cases: Vec<(&str, Tamper, &str)> = vec![
        (
            "alter",
            Box::new(|v: &mut Vec<Entry>| v[2].body.peer = "cert-x".parse().unwrap()),
            "entry 2:",
        ),
        (
            "delete",
            Box::new(|v: &mut Vec<Entry>| {
                v.remove(3);
            }),
            "entry 3:",
        ),
        (
            "reorder",
            Box::new(|v: &mut Vec<Entry>| v.swap(1, 2)),
            "entry 1:",
        ),
        (
            "insert",
            Box::new(|v: &mut Vec<Entry>| {
                let forged = irtx::disclosure::chain::link(
                    Some(&v[3]),
                    EntryBody::new(
                        v[3].body.at.clone(),
                        Event::Delivered,
                        "forged".parse().unwrap(),
                        "cert-b".parse().unwrap(),
                    ),
                );
                v.insert(4, forged);
            }),
            "entry 5:",
        ),
        (
            "truncate",
            Box::new(|v: &mut Vec<Entry>| v.truncate(2)),
            "truncated",
        ),
    ];
    for (what, f, words) in cases {
        let out = verify_copy(&a.dir, f);
        assert_eq!(
            out.status.code(),
            Some(3),
            "{what} not caught: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("ledger broken") && err.contains(words),
            "{what}: {err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_verifies_with_nothing_but_itself_and_the_public_key() {
    let (a, _b) = ledger_with_entries().await;
    let third = tempfile::tempdir().unwrap();
    let export = third.path().join("ledger.jsonl");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_irtx"))
        .current_dir(&a.dir)
        .args(["ledger", "export", "--out", export.to_str().unwrap()])
        .output()
        .unwrap();
    crate::helpers::succeeded(&out);
    let jwk = third.path().join("cert-a.jwk");
    std::fs::write(&jwk, a.jwk.to_string()).unwrap();
    // The third party: no config, no store, only the export and the key.
    let check = |file: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_irtx"))
            .current_dir(third.path())
            .args([
                "ledger",
                "verify",
                "--export",
                file.to_str().unwrap(),
                "--key",
                &format!("@{}", jwk.display()),
            ])
            .output()
            .unwrap()
    };
    let out = check(&export);
    crate::helpers::succeeded(&out);
    // An edited export fails.
    let text = std::fs::read_to_string(&export).unwrap();
    let edited = third.path().join("edited.jsonl");
    std::fs::write(&edited, text.replacen("\"cert-b\"", "\"cert-z\"", 1)).unwrap();
    let out = check(&edited);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ledger broken"));
    // Another team's key does not verify it.
    std::fs::write(&jwk, _b_jwk()).unwrap();
    assert_eq!(check(&export).status.code(), Some(3));
}

fn _b_jwk() -> String {
    irtx::envelope::public_jwk(&ed25519_dalek::SigningKey::from_bytes(&[9; 32]).verifying_key())
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_answers_what_each_peer_received() {
    let national = TestGateway::spawn("cert-nat").await;
    let sector = TestGateway::spawn("cert-sec").await;
    let org = TestGateway::spawn("org-x").await;
    national
        .add_peer(&sector, "AMBER", "community", "pseudonymize", "stix")
        .await;
    national
        .add_peer(&org, "AMBER", "client", "none", "iodef")
        .await;
    national
        .add_peer(
            &TestGateway::spawn("cert-pub").await,
            "CLEAR",
            "public",
            "strict",
            "stix",
        )
        .await;
    sector
        .add_peer(&national, "AMBER", "community", "none", "stix")
        .await;
    org.add_peer(&national, "AMBER", "community", "none", "stix")
        .await;

    let id = national.submit(&example("incident-ransomware-full")).await;
    national
        .share(&id, &["cert-sec", "org-x", "cert-pub"])
        .await;
    eventually(Duration::from_secs(15), "both deliveries", || async {
        national.deliveries().await.len() == 2
    })
    .await;

    // Per peer: what it received (alerts there) is exactly what the ledger says was sent.
    for peer in [&sector, &org] {
        let (_, entries) = national
            .call(
                reqwest::Method::GET,
                &format!("/api/v1/disclosures?peer={}", peer.team),
                None,
            )
            .await;
        let entries = entries.as_array().unwrap();
        let queued: Vec<&Value> = entries
            .iter()
            .filter(|e| e["body"]["event"] == "queued")
            .collect();
        let delivered: Vec<&Value> = entries
            .iter()
            .filter(|e| e["body"]["event"] == "delivered")
            .collect();
        let alerts = peer.alerts().await;
        assert_eq!(
            (queued.len(), delivered.len(), alerts.len()),
            (1, 1, 1),
            "{}",
            peer.team
        );
        let (q, alert) = (queued[0], &alerts[0]);
        assert_eq!(q["body"]["message_id"], alert["message_id"]);
        assert_eq!(q["body"]["marking"], alert["tlp"]);
        assert_eq!(q["body"]["report_id"], id.as_str());
        assert_eq!(delivered[0]["body"]["message_id"], alert["message_id"]);
        assert!(delivered[0]["body"]["receipt"].is_object());
        // The removed fields are listed, and absent from what the peer holds.
        let removed: Vec<&str> = q["body"]["removed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["pointer"].as_str().unwrap())
            .collect();
        assert_eq!(removed, vec!["/description", "/reporter"]);
        let doc = alert["document"].to_string();
        assert!(!doc.contains("LockBit-style") && !doc.contains("Jana Novak"));
    }
    // The public peer got nothing; the ledger says why.
    let (_, e) = national
        .call(
            reqwest::Method::GET,
            "/api/v1/disclosures?peer=cert-pub",
            None,
        )
        .await;
    assert_eq!(e[0]["body"]["event"], "withheld");
    assert!(e[0]["body"]["reason"]
        .as_str()
        .unwrap()
        .contains("TLP:AMBER"));

    // "Who did we tell about 10.20.1.11?" — the organization in clear, the sector CERT as a
    // pseudonym; and the pseudonym finds the same disclosure.
    let (_, hits) = national
        .call(
            reqwest::Method::GET,
            "/api/v1/disclosures?indicator=10.20.1.11&state=queued",
            None,
        )
        .await;
    let hits = hits.as_array().unwrap();
    assert_eq!(hits.len(), 2, "{hits:?}");
    let how = |peer: &str| {
        let e = hits.iter().find(|e| e["body"]["peer"] == peer).unwrap();
        e["body"]["indicators"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["value"] == "10.20.1.11")
            .unwrap()["sent_as"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(how("org-x"), "10.20.1.11");
    let pseudonym = how("cert-sec");
    assert_ne!(pseudonym, "10.20.1.11");
    assert!(
        sector.alerts().await[0]["document"]
            .to_string()
            .contains(&pseudonym),
        "the sector CERT holds that pseudonym"
    );
    let (_, by_pseudonym) = national
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/disclosures?indicator={pseudonym}"),
            None,
        )
        .await;
    assert_eq!(by_pseudonym.as_array().unwrap().len(), 1);
    assert_eq!(by_pseudonym[0]["body"]["peer"], "cert-sec");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_list_filters_and_formats() {
    let (a, _b) = ledger_with_entries().await;
    let list = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_irtx"))
            .current_dir(&a.dir)
            .arg("ledger")
            .arg("list")
            .args(args)
            .output()
            .unwrap();
        crate::helpers::succeeded(&out);
        String::from_utf8(out.stdout).unwrap()
    };
    let all: Vec<Value> = serde_json::from_str(&list(&["--format", "json"])).unwrap();
    let to_b: Vec<Value> =
        serde_json::from_str(&list(&["--format", "json", "--peer", "cert-b"])).unwrap();
    assert!(!to_b.is_empty() && to_b.len() <= all.len());
    assert!(to_b.iter().all(|e| e["body"]["peer"] == "cert-b"));
    let withheld: Vec<Value> =
        serde_json::from_str(&list(&["--format", "json", "--state", "withheld"])).unwrap();
    assert_eq!(withheld.len(), 1, "the RED vulnerability report");
    let csv = list(&["--format", "csv", "--peer", "cert-b"]);
    assert_eq!(csv.lines().count(), to_b.len() + 1, "{csv}");
    assert!(csv.starts_with("seq,at,event,peer"));
    // The victim address went out pseudonymized: found by its value, shown with its pseudonym.
    let table = list(&["--indicator", "10.20.1.11"]);
    assert!(table.contains("queued") && table.contains("as "), "{table}");
    let none: Vec<Value> =
        serde_json::from_str(&list(&["--format", "json", "--indicator", "192.0.2.250"])).unwrap();
    assert!(none.is_empty());
    let later: Vec<Value> = serde_json::from_str(&list(&[
        "--format",
        "json",
        "--since",
        "2999-01-01T00:00:00Z",
    ]))
    .unwrap();
    assert!(later.is_empty());
    // Both bounds: `since` includes its instant, `until` excludes it; dates are whole days.
    let at = |i: usize| all[i]["body"]["at"].as_str().unwrap().to_string();
    let n = all.len();
    let window: Vec<Value> = serde_json::from_str(&list(&[
        "--format",
        "json",
        "--since",
        &at(1),
        "--until",
        &at(n - 1),
    ]))
    .unwrap();
    let time = |t: &str| irtx::timestamp::parse_rfc3339(t).unwrap();
    let expected = all
        .iter()
        .filter(|e| {
            let t = time(e["body"]["at"].as_str().unwrap());
            t >= time(&at(1)) && t < time(&at(n - 1))
        })
        .count();
    assert_eq!(window.len(), expected);
    assert!(window.len() < n, "until excludes the last entry");
    let today = &at(0)[..10];
    let days: Vec<Value> = serde_json::from_str(&list(&[
        "--format", "json", "--since", today, "--until", today,
    ]))
    .unwrap();
    assert_eq!(days.len(), n, "a date covers its whole day");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_irtx"))
        .current_dir(&a.dir)
        .args(["ledger", "list", "--state", "lost", "--until", "tomorrow"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--until") && err.contains("--state") && err.contains("dead-lettered"),
        "{err}"
    );
}
