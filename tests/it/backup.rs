//! A backup taken while 1,000 messages flow in (and the gateway writes its own ledger)
//! restores into a gateway whose ledger verifies and which holds every alert acknowledged
//! before the snapshot was asked for.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey};
use irtx::envelope;
use serde_json::json;

use crate::gateway::{example, TestGateway};
use crate::helpers::succeeded;

const MESSAGES: usize = 1_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_load_restores_everything_acknowledged_before_it() {
    let b = TestGateway::spawn_with("cert-b", |c| c.exchange.max_messages_per_minute = 0).await;
    let sink = TestGateway::spawn("cert-c").await;
    b.add_peer(&sink, "AMBER", "community", "none", "stix")
        .await;
    sink.add_peer(&b, "AMBER", "community", "none", "stix")
        .await;
    // The sender: a peer whose messages are signed ahead, so the load is only HTTP.
    let key = SigningKey::from_bytes(&[21; 32]);
    let body = json!({"id": "cert-a", "url": "http://127.0.0.1:9",
        "keys": [{"jwk": envelope::public_jwk(&key.verifying_key())}],
        "max_tlp": "AMBER", "audience": "community", "profile": "none"});
    let (s, v) = b
        .call(reqwest::Method::POST, "/api/v1/peers", Some(body))
        .await;
    assert_eq!(s, 201, "{v}");
    let r = irtx::report::parse(&serde_json::to_vec(&example("event-scan-suspected")).unwrap())
        .unwrap();
    let doc = irtx::convert::convert(
        &r,
        &irtx::team::Team::new("cert-a".parse().unwrap(), "A"),
        irtx::convert::Format::Stix,
    );
    let header = URL_SAFE_NO_PAD.encode(envelope::canonical(
        &json!({"alg": "EdDSA", "kid": envelope::thumbprint(&key.verifying_key())}),
    ));
    let messages: Vec<(String, Vec<u8>)> = (0..MESSAGES)
        .map(|_| {
            let id = uuid::Uuid::new_v4().to_string();
            let m = json!({"id": id, "from": "cert-a", "to": "cert-b",
                "created": irtx::timestamp::rfc3339(time::OffsetDateTime::now_utc()),
                "tlp": "AMBER", "format": "stix-2.1", "document": crate::helpers::as_new_report(doc.clone())});
            let payload = URL_SAFE_NO_PAD.encode(envelope::canonical(&m));
            let sig = key.sign(format!("{header}.{payload}").as_bytes());
            let jws = json!({"payload": payload, "protected": header,
                "signature": URL_SAFE_NO_PAD.encode(sig.to_bytes())});
            (id, serde_json::to_vec(&jws).unwrap())
        })
        .collect();

    let queue = Arc::new(Mutex::new(messages));
    let acked: Arc<Mutex<HashSet<String>>> = Arc::default();
    let url = format!("{}/exchange/v1/messages", b.url);
    let mut senders = Vec::new();
    for _ in 0..8 {
        let (queue, acked, url) = (queue.clone(), acked.clone(), url.clone());
        senders.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            loop {
                let Some((id, body)) = queue.lock().unwrap().pop() else {
                    return;
                };
                let r = http
                    .post(&url)
                    .header("content-type", "application/jose+json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
                acked.lock().unwrap().insert(id);
            }
        }));
    }
    // Meanwhile the gateway writes its own ledger: shares to cert-c.
    let report = b.submit(&example("incident-ddos-minimal")).await;
    for _ in 0..20 {
        b.share(&report, &["cert-c"]).await;
    }
    let started = std::time::Instant::now();
    while acked.lock().unwrap().len() < MESSAGES / 3 {
        assert!(
            senders.iter().all(|s| !s.is_finished()),
            "a sender stopped early"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "too slow"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // The snapshot, while the rest flows.
    let before: HashSet<String> = acked.lock().unwrap().clone();
    let (dir, gw) = (b.dir.clone(), b.url.clone());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_irtx"))
            .current_dir(&dir)
            .args(["backup", "--out", "snapshot.bak", "--gateway", &gw])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    succeeded(&out);
    let still_flowing = acked.lock().unwrap().len() < MESSAGES;
    for s in senders {
        s.await.unwrap();
    }
    assert!(still_flowing, "the backup was taken while messages flowed");

    // Restore beside a copy of the config and keys; start a gateway on it.
    let tmp = tempfile::tempdir().unwrap();
    let restored = tmp.path().join("b");
    std::fs::create_dir(&restored).unwrap();
    for f in [
        "irtx.toml",
        "team.key",
        "analyst.token",
        "anonymize.key",
        "federation.key",
    ] {
        std::fs::copy(b.dir.join(f), restored.join(f)).unwrap();
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_irtx"))
        .args(["restore"])
        .arg(b.dir.join("snapshot.bak"))
        .arg("--dir")
        .arg(restored.join("data"))
        .output()
        .unwrap();
    succeeded(&out);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(b.dir.join("snapshot.bak"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let verify = std::process::Command::new(env!("CARGO_BIN_EXE_irtx"))
        .current_dir(&restored)
        .args(["ledger", "verify"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&succeeded(&verify).stdout).contains("ledger intact"));
    let again = TestGateway::start(&restored, "127.0.0.1:0".parse().unwrap(), |_| {}).await;
    let held: HashSet<String> = again
        .alert_list()
        .await
        .iter()
        .map(|a| a["message_id"].as_str().unwrap().to_string())
        .collect();
    let missing: Vec<&String> = before.iter().filter(|id| !held.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged alerts missing",
        missing.len()
    );
    assert!(held.len() >= before.len());
}
