//! Key rotation across three gateways (DESIGN.md section 11): A rotates; B and C take A's new
//! key from its signed key document with no manual step; during the overlap the old key is
//! still accepted; after it, a message under the old key is refused; A's ledger (checkpoints
//! under both keys) verifies, also from an export and the old key alone.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey};
use irtx::envelope;
use serde_json::{json, Value};

use crate::gateway::{eventually, example, TestGateway};
use crate::helpers::succeeded;

fn irtx(dir: &std::path::Path, gateway: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_irtx"))
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .args(args)
        .args(["--gateway", gateway])
        .output()
        .unwrap()
}

/// A message from cert-a to `to`, signed with `key`, created at `created`.
fn signed_by(key: &SigningKey, to: &str, created: time::OffsetDateTime) -> Vec<u8> {
    let r = irtx::report::parse(&serde_json::to_vec(&example("incident-ddos-minimal")).unwrap())
        .unwrap();
    let team = irtx::team::Team::new("cert-a".parse().unwrap(), "A");
    let doc = irtx::convert::convert(&r, &team, irtx::convert::Format::Stix);
    let message = json!({"id": uuid::Uuid::new_v4().to_string(), "from": "cert-a", "to": to,
        "created": irtx::timestamp::rfc3339(created), "tlp": "GREEN", "format": "stix-2.1",
        "document": doc});
    let payload = URL_SAFE_NO_PAD.encode(envelope::canonical(&message));
    let header = json!({"alg": "EdDSA", "kid": envelope::thumbprint(&key.verifying_key())});
    let protected = URL_SAFE_NO_PAD.encode(envelope::canonical(&header));
    let sig = key.sign(format!("{protected}.{payload}").as_bytes());
    serde_json::to_vec(&json!({"payload": payload, "protected": protected,
        "signature": URL_SAFE_NO_PAD.encode(sig.to_bytes())}))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_adopt_a_rotated_key_and_refuse_the_old_one_after_the_overlap() {
    let a = TestGateway::spawn("cert-a").await;
    let (b, b_clock) = TestGateway::spawn_manual("cert-b", |_| {}).await;
    let c = TestGateway::spawn("cert-c").await;
    for other in [&b, &c] {
        a.add_peer(other, "AMBER", "community", "none", "stix")
            .await;
        other
            .add_peer(&a, "AMBER", "community", "none", "stix")
            .await;
    }
    let before = a.submit(&example("incident-ddos-minimal")).await;
    a.share(&before, &["cert-b", "cert-c"]).await;
    eventually(
        Duration::from_secs(10),
        "both peers have the first report",
        || async { b.alert_list().await.len() == 1 && c.alert_list().await.len() == 1 },
    )
    .await;
    let (s, _) = a
        .call(reqwest::Method::POST, "/api/v1/ledger/checkpoint", None)
        .await;
    assert_eq!(s, 200);
    let old_hex = std::fs::read_to_string(a.dir.join("team.key")).unwrap();
    let old = SigningKey::from_bytes(irtx::anonymize::Key::from_hex(&old_hex).unwrap().bytes());
    let old_jwk = a.jwk.clone();

    // A rotates, through its running gateway, with an hour of overlap.
    let out = irtx(&a.dir, &a.url, &["key", "rotate", "--overlap", "1h"]);
    let rotated: Value = serde_json::from_slice(&succeeded(&out).stdout).unwrap();
    let new_kid = rotated["new_kid"].as_str().unwrap().to_string();
    assert_ne!(rotated["old_kid"], rotated["new_kid"]);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(a.dir.join("team.key"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "the new key file is the owner's only");
    let doc = a.get("/.well-known/irtx/keys").await;
    assert_eq!(
        doc["signatures"].as_array().unwrap().len(),
        2,
        "signed by both keys"
    );

    // A signs with the new key at once; B and C adopt it from the document, untouched.
    let after = a.submit(&example("event-scan-suspected")).await;
    a.share(&after, &["cert-b", "cert-c"]).await;
    eventually(
        Duration::from_secs(15),
        "both peers import under the new key",
        || async { b.alert_list().await.len() == 2 && c.alert_list().await.len() == 2 },
    )
    .await;
    let newest = b.alert_list().await.pop().unwrap();
    assert_eq!(newest["kid"], new_kid.as_str());
    let a_at_b = b.get("/api/v1/peers/cert-a").await;
    let keys = a_at_b["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "{a_at_b}");
    let old_entry = keys.iter().find(|k| k["jwk"]["x"] == old_jwk["x"]).unwrap();
    assert!(
        old_entry["valid_until"].is_string(),
        "the old key now ends: {old_entry}"
    );
    // The peers import before A has read their receipts: wait for those too.
    eventually(
        Duration::from_secs(15),
        "receipts verified for every message",
        || async { a.deliveries().await.len() == 4 },
    )
    .await;

    // During the overlap the old key still speaks for A; after it, it does not.
    let now = time::OffsetDateTime::now_utc();
    let (s, v) = c.post_inbox(signed_by(&old, "cert-c", now)).await;
    assert_eq!(s, 200, "{v}");
    b_clock.advance(time::Duration::hours(2));
    let (s, v) = b
        .post_inbox(signed_by(&old, "cert-b", now + time::Duration::hours(2)))
        .await;
    assert_eq!(s, 401, "{v}");
    let receipt: envelope::Jws = serde_json::from_value(v).unwrap();
    let reasons = String::from_utf8(envelope::open(&receipt).unwrap().payload).unwrap();
    assert!(reasons.contains("expired"), "{reasons}");

    // A stranger cannot ride on the refresh: a key document signed by an unknown key is not
    // taken, and the message under it is refused.
    let mallory = SigningKey::from_bytes(&[66; 32]);
    let (s, _) = c.post_inbox(signed_by(&mallory, "cert-c", now)).await;
    assert_eq!(s, 401);

    // A's ledger verifies: checkpoints under the old key and the new one.
    let out = irtx(&a.dir, &a.url, &["ledger", "verify"]);
    assert!(String::from_utf8_lossy(&succeeded(&out).stdout).contains("ledger intact"));
    let export = a.dir.join("ledger.jsonl");
    succeeded(&irtx(
        &a.dir,
        &a.url,
        &["ledger", "export", "--out", export.to_str().unwrap()],
    ));
    std::fs::write(a.dir.join("old.jwk"), old_jwk.to_string()).unwrap();
    let out = irtx(
        &a.dir,
        &a.url,
        &[
            "ledger",
            "verify",
            "--export",
            export.to_str().unwrap(),
            "--key",
            "@old.jwk",
        ],
    );
    assert!(
        String::from_utf8_lossy(&succeeded(&out).stdout).contains("ledger intact"),
        "a third party holding only the old key follows the rotation"
    );
}
