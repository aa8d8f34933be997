//! Bad input against a running gateway: each gets its clear 4xx answer (a signed `rejected`
//! receipt where the sender could be identified, else the JSON error) and leaves no alert.
//! The messages are built here from the wire format, not by irtx's sender.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey};
use irtx::envelope;
use serde_json::{json, Value};

use crate::gateway::{example, TestGateway};

/// Signs a message object the way any JOSE library would: JWS flattened, EdDSA, kid.
pub(crate) fn sign(message: &Value, key: &SigningKey) -> Value {
    let payload = URL_SAFE_NO_PAD.encode(envelope::canonical(message));
    let header = json!({"alg": "EdDSA", "kid": envelope::thumbprint(&key.verifying_key())});
    let protected = URL_SAFE_NO_PAD.encode(header.to_string());
    let sig = key.sign(format!("{protected}.{payload}").as_bytes());
    json!({"payload": payload, "protected": protected, "signature": URL_SAFE_NO_PAD.encode(sig.to_bytes())})
}

fn now() -> String {
    irtx::timestamp::rfc3339(time::OffsetDateTime::now_utc())
}

pub(crate) fn bundle() -> Value {
    let r = irtx::report::parse(&serde_json::to_vec(&example("incident-ddos-minimal")).unwrap())
        .unwrap();
    irtx::convert::convert(&r, &crate::helpers::team(), irtx::convert::Format::Stix)
}

pub(crate) fn message(to: &str, document: Value) -> Value {
    json!({"id": uuid::Uuid::new_v4().to_string(), "from": "cert-a", "to": to, "created": now(),
           "tlp": "GREEN", "format": "stix-2.1", "document": crate::helpers::as_new_report(document)})
}

/// A gateway `cert-b` that knows `cert-a` (whose key is `key`, valid until `until`).
pub(crate) async fn receiver(key: &SigningKey, until: Option<&str>) -> TestGateway {
    let b = TestGateway::spawn_with("cert-b", |c| c.api.max_body_bytes = 256 * 1024).await;
    let jwk = envelope::public_jwk(&key.verifying_key());
    let body = json!({"id": "cert-a", "url": "http://127.0.0.1:9", "keys": [{"jwk": jwk, "valid_until": until}],
                      "max_tlp": "AMBER", "audience": "community", "profile": "none", "format": "stix"});
    let (s, v) = b
        .call(reqwest::Method::POST, "/api/v1/peers", Some(body))
        .await;
    assert_eq!(s, 201, "{v}");
    b
}

/// The reasons of a signed rejected receipt (checked with the receiver's key).
pub(crate) fn rejected(b: &TestGateway, answer: &Value) -> Vec<String> {
    let jws: envelope::Jws = serde_json::from_value(answer.clone())
        .unwrap_or_else(|e| panic!("not a receipt ({e}): {answer}"));
    let opened = envelope::open(&jws).unwrap();
    opened
        .verify(&envelope::parse_public_jwk(&b.jwk).unwrap())
        .unwrap();
    let r: Value = serde_json::from_slice(&opened.payload).unwrap();
    assert_eq!(r["status"], "rejected");
    r["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_message_is_refused_clearly_and_leaves_no_alert() {
    let a = SigningKey::from_bytes(&[11; 32]);
    let b = receiver(&a, None).await;

    // A good message is accepted, once; the same again is a duplicate.
    let good = sign(&message("cert-b", bundle()), &a);
    let (s, v) = b.post_inbox(serde_json::to_vec(&good).unwrap()).await;
    assert_eq!(s, 200, "{v}");
    let (s, _) = b.post_inbox(serde_json::to_vec(&good).unwrap()).await;
    assert_eq!(s, 200);
    assert_eq!(b.alerts().await.len(), 1);

    let mut cases: Vec<(&str, Vec<u8>, u16, &str)> = Vec::new();
    // Tampered document: payload changed after signing.
    let mut t = sign(&message("cert-b", bundle()), &a);
    let mut m: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(t["payload"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    m["document"]["objects"][0]["name"] = "Mallory".into();
    t["payload"] = URL_SAFE_NO_PAD.encode(envelope::canonical(&m)).into();
    cases.push((
        "tampered document",
        serde_json::to_vec(&t).unwrap(),
        401,
        "signature does not verify",
    ));
    // Tampered signature.
    let mut t = sign(&message("cert-b", bundle()), &a);
    let mut sig = URL_SAFE_NO_PAD
        .decode(t["signature"].as_str().unwrap())
        .unwrap();
    sig[0] ^= 1;
    t["signature"] = URL_SAFE_NO_PAD.encode(sig).into();
    cases.push((
        "tampered signature",
        serde_json::to_vec(&t).unwrap(),
        401,
        "signature does not verify",
    ));
    // Unknown kid: cert-a's name, another key.
    let other = SigningKey::from_bytes(&[12; 32]);
    cases.push((
        "unknown kid",
        serde_json::to_vec(&sign(&message("cert-b", bundle()), &other)).unwrap(),
        401,
        "unknown key",
    ));
    // Wrong recipient.
    cases.push((
        "wrong recipient",
        serde_json::to_vec(&sign(&message("cert-c", bundle()), &a)).unwrap(),
        403,
        "addressed to `cert-c`",
    ));
    // Replay outside the window.
    let mut old = message("cert-b", bundle());
    old["created"] =
        irtx::timestamp::rfc3339(time::OffsetDateTime::now_utc() - time::Duration::days(8)).into();
    cases.push((
        "replay outside window",
        serde_json::to_vec(&sign(&old, &a)).unwrap(),
        403,
        "outside the replay window",
    ));
    // Invalid STIX: an object without `created`.
    let mut doc = bundle();
    let i = doc["objects"]
        .as_array()
        .unwrap()
        .iter()
        .position(|o| o["type"] == "incident")
        .unwrap();
    doc["objects"][i].as_object_mut().unwrap().remove("created");
    cases.push((
        "invalid STIX",
        serde_json::to_vec(&sign(&message("cert-b", doc), &a)).unwrap(),
        422,
        "created: required",
    ));
    // Invalid IODEF: no Contact.
    let r = irtx::report::parse(&serde_json::to_vec(&example("incident-ddos-minimal")).unwrap())
        .unwrap();
    let mut iodef =
        irtx::convert::convert(&r, &crate::helpers::team(), irtx::convert::Format::Iodef);
    iodef["Incident"][0]
        .as_object_mut()
        .unwrap()
        .remove("Contact");
    let mut m = message("cert-b", iodef);
    m["format"] = "iodef-2".into();
    cases.push((
        "invalid IODEF",
        serde_json::to_vec(&sign(&m, &a)).unwrap(),
        422,
        "Contact: required",
    ));
    // Wrong marking ids: a look-alike of TLP:GREEN.
    let text = bundle().to_string().replace(
        "bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
        "089a6ecb-cc15-43cc-9494-767639779123",
    );
    cases.push((
        "wrong marking ids",
        serde_json::to_vec(&sign(
            &message("cert-b", serde_json::from_str(&text).unwrap()),
            &a,
        ))
        .unwrap(),
        422,
        "not an exact TLP",
    ));
    // Acceptance criteria: a bundle with no affected asset or environment.
    let mut bare = bundle();
    let keep: Vec<Value> = bare["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| {
            matches!(
                o["type"].as_str(),
                Some("identity" | "marking-definition" | "incident")
            )
        })
        .cloned()
        .collect();
    bare["objects"] = Value::Array(keep);
    cases.push((
        "no affected asset",
        serde_json::to_vec(&sign(&message("cert-b", bare), &a)).unwrap(),
        422,
        "6.4 b 2",
    ));
    // Document marked above the message's tlp.
    let mut m = message("cert-b", bundle());
    m["tlp"] = "CLEAR".into();
    cases.push((
        "marking above tlp",
        serde_json::to_vec(&sign(&m, &a)).unwrap(),
        422,
        "above the message's TLP:CLEAR",
    ));

    for (what, body, status, words) in cases {
        let (s, v) = b.post_inbox(body).await;
        assert_eq!(s, status, "{what}: {v}");
        let reasons = rejected(&b, &v);
        assert!(
            reasons.iter().any(|r| r.contains(words)),
            "{what}: {reasons:?}"
        );
    }

    // The sender cannot be identified: the JSON error, no receipt.
    let mut stranger = message("cert-b", bundle());
    stranger["from"] = "cert-zz".into();
    let (s, v) = b
        .post_inbox(serde_json::to_vec(&sign(&stranger, &a)).unwrap())
        .await;
    assert_eq!(s, 403, "{v}");
    assert!(
        v["details"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("unknown sender `cert-zz`"),
        "{v}"
    );
    let (s, v) = b.post_inbox(b"{not json".to_vec()).await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"].is_string()
            && v["details"][0]["reason"]
                .as_str()
                .unwrap()
                .contains("not a flattened JWS"),
        "{v}"
    );
    let (s, v) = b.post_inbox(vec![b' '; 300 * 1024]).await;
    assert_eq!(s, 413, "{v}");
    assert_eq!(v["error"], "request body too large");

    // The same id with other content.
    let first = message("cert-b", bundle());
    let (s, _) = b
        .post_inbox(serde_json::to_vec(&sign(&first, &a)).unwrap())
        .await;
    assert_eq!(s, 200);
    let mut second = first.clone();
    second["tlp"] = "AMBER".into();
    let (s, v) = b
        .post_inbox(serde_json::to_vec(&sign(&second, &a)).unwrap())
        .await;
    assert_eq!(s, 409, "{v}");
    assert!(rejected(&b, &v)[0].contains("other content"));

    // Only the two good messages became alerts; the look-alike marking is quarantined.
    assert_eq!(b.alerts().await.len(), 2);
    let q = b.get("/api/v1/quarantine").await;
    assert_eq!(q.as_array().unwrap().len(), 1, "{q}");
    // The receiver's Inbound page shows its refusals, each with its reasons, and the
    // quarantine with the body to download.
    let html = crate::gateway::ui_page(&b, "/ui/inbound").await;
    assert!(!html.contains("No refusals"), "{html}");
    assert!(
        html.contains("id=\"refusals\"") && html.contains("outside the replay window"),
        "{html}"
    );
    assert!(
        html.contains("id=\"quarantine\"") && html.contains("/body"),
        "{html}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_key_is_refused_and_a_rotated_one_accepted() {
    let old = SigningKey::from_bytes(&[21; 32]);
    let b = receiver(&old, Some("2020-01-01T00:00:00Z")).await;
    let (s, v) = b
        .post_inbox(serde_json::to_vec(&sign(&message("cert-b", bundle()), &old)).unwrap())
        .await;
    assert_eq!(s, 401, "{v}");
    assert!(rejected(&b, &v)[0].contains("expired at 2020-01-01"));
    // Rotation: the peer gets a second key; messages under it are accepted.
    let new = SigningKey::from_bytes(&[22; 32]);
    let body = json!({"id": "cert-a", "url": "http://127.0.0.1:9",
        "keys": [{"jwk": envelope::public_jwk(&old.verifying_key()), "valid_until": "2020-01-01T00:00:00Z"},
                 {"jwk": envelope::public_jwk(&new.verifying_key()), "valid_from": "2020-01-01T00:00:00Z"}],
        "max_tlp": "AMBER", "audience": "community", "profile": "none", "format": "stix"});
    let (s, _) = b
        .call(reqwest::Method::POST, "/api/v1/peers", Some(body))
        .await;
    assert_eq!(s, 201);
    let (s, v) = b
        .post_inbox(serde_json::to_vec(&sign(&message("cert-b", bundle()), &new)).unwrap())
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(b.alerts().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_over_its_rate_is_told_to_come_back_later() {
    let a = SigningKey::from_bytes(&[41; 32]);
    let b = TestGateway::spawn_with("cert-b", |c| c.exchange.max_messages_per_minute = 3).await;
    let jwk = envelope::public_jwk(&a.verifying_key());
    let body = json!({"id": "cert-a", "url": "http://127.0.0.1:9", "keys": [{"jwk": jwk}],
                      "max_tlp": "AMBER", "audience": "community", "profile": "none", "format": "stix"});
    assert_eq!(
        b.call(reqwest::Method::POST, "/api/v1/peers", Some(body))
            .await
            .0,
        201
    );
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let (s, _) = b
            .post_inbox(serde_json::to_vec(&sign(&message("cert-b", bundle()), &a)).unwrap())
            .await;
        statuses.push(s);
    }
    assert_eq!(statuses, vec![200, 200, 200, 429, 429]);
    assert_eq!(b.alerts().await.len(), 3);
    // A stranger claiming to be cert-a cannot spend cert-a's quota: it fails the signature
    // check before the limit is asked.
    let b2 = TestGateway::spawn_with("cert-b", |c| c.exchange.max_messages_per_minute = 1).await;
    assert_eq!(b2.call(reqwest::Method::POST, "/api/v1/peers", Some(json!({"id": "cert-a", "url": "http://127.0.0.1:9",
        "keys": [{"jwk": envelope::public_jwk(&a.verifying_key())}], "max_tlp": "AMBER", "audience": "community"}))).await.0, 201);
    let forger = SigningKey::from_bytes(&[42; 32]);
    for _ in 0..3 {
        let (s, _) = b2
            .post_inbox(serde_json::to_vec(&sign(&message("cert-b", bundle()), &forger)).unwrap())
            .await;
        assert_eq!(s, 401);
    }
    let (s, v) = b2
        .post_inbox(serde_json::to_vec(&sign(&message("cert-b", bundle()), &a)).unwrap())
        .await;
    assert_eq!(s, 200, "{v}");
}
