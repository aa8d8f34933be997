//! The wire format against a standard JOSE library (joserfc, PyPI) and a standard RFC 8785
//! library (rfc8785, PyPI), installed by `scripts/jose-interop.sh`: they verify irtx's
//! messages and receipts, and a running gateway accepts a message they sign (with the
//! RFC 9864 `Ed25519` algorithm name, which irtx's own sender does not use).

use std::path::PathBuf;
use std::process::Command;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::SigningKey;
use irtx::convert::Format;
use irtx::envelope;
use serde_json::{json, Value};

use crate::gateway::{example, TestGateway};
use crate::helpers::root;

fn python() -> Option<PathBuf> {
    let p = crate::helpers::target_dir().join("venv-jose/bin/python");
    if p.exists() {
        return Some(p);
    }
    let msg = "venv-jose is missing from the build directory (run scripts/jose-interop.sh)";
    if std::env::var_os("CI").is_some() {
        panic!("{msg}");
    }
    eprintln!("\n*** SKIPPED the JOSE interop test: {msg} ***\n");
    None
}

fn jose(py: &PathBuf, args: &[&str]) -> std::process::Output {
    Command::new(py)
        .arg(root().join("scripts/jose_interop.py"))
        .args(args)
        .output()
        .unwrap()
}

/// joserfc's verdict on a JWS file: it must verify; returns the payload digest and id lines.
fn verified(py: &PathBuf, jws: &str, jwk: &str) -> Vec<String> {
    let out = jose(py, &["verify", jws, jwk]);
    crate::helpers::succeeded(&out);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standard_jose_library_verifies_irtx_and_irtx_accepts_it() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, v: &Value| {
        let p = dir.path().join(name);
        std::fs::write(&p, v.to_string()).unwrap();
        p.to_str().unwrap().to_string()
    };

    // 1. joserfc verifies a message irtx sealed, and names the same payload digest.
    let irtx_key = SigningKey::from_bytes(&[31; 32]);
    let r = irtx::report::parse(&serde_json::to_vec(&example("incident-ddos-minimal")).unwrap())
        .unwrap();
    let doc = irtx::convert::convert(&r, &crate::helpers::team(), Format::Stix);
    let (a, b) = ("cert-a".parse().unwrap(), "cert-b".parse().unwrap());
    let sealed = irtx::exchange::outbound::seal(
        doc.clone(),
        Format::Stix,
        irtx::tlp::Tlp::Green,
        irtx::exchange::outbound::Envelope {
            from: &a,
            to: &b,
            id: irtx::envelope::MessageId(uuid::Uuid::new_v4()),
            now: time::OffsetDateTime::now_utc(),
        },
        &irtx_key,
    );
    let jws_file = write("message.json", &serde_json::to_value(&sealed.jws).unwrap());
    let jwk_file = write(
        "cert-a.jwk",
        &envelope::public_jwk(&irtx_key.verifying_key()),
    );
    let lines = verified(&py, &jws_file, &jwk_file);
    assert_eq!(lines[0], sealed.sha256, "the same bytes were signed");
    assert_eq!(lines[1], sealed.message.id.to_string());
    // ... and refuses it once tampered.
    let mut tampered = serde_json::to_value(&sealed.jws).unwrap();
    tampered["payload"] = URL_SAFE_NO_PAD.encode(b"{\"id\":\"x\"}").into();
    let out = jose(
        &py,
        &["verify", &write("tampered.json", &tampered), &jwk_file],
    );
    assert_ne!(
        out.status.code(),
        Some(0),
        "joserfc accepted a tampered message"
    );

    // 2. A peer whose software is joserfc + rfc8785 sends to a running gateway.
    let b = TestGateway::spawn("cert-b").await;
    let py_key = SigningKey::from_bytes(&[32; 32]);
    let private_jwk = json!({"kty": "OKP", "crv": "Ed25519",
        "d": URL_SAFE_NO_PAD.encode(py_key.to_bytes()), "x": URL_SAFE_NO_PAD.encode(py_key.verifying_key().as_bytes())});
    let body = json!({"id": "cert-py", "url": "http://127.0.0.1:9", "keys": [{"jwk": envelope::public_jwk(&py_key.verifying_key())}],
        "max_tlp": "AMBER", "audience": "community", "profile": "none", "format": "stix"});
    assert_eq!(
        b.call(reqwest::Method::POST, "/api/v1/peers", Some(body))
            .await
            .0,
        201
    );
    let message = json!({"id": uuid::Uuid::new_v4().to_string(), "from": "cert-py", "to": "cert-b",
        "created": irtx::timestamp::rfc3339(time::OffsetDateTime::now_utc()),
        "tlp": "GREEN", "format": "stix-2.1", "document": doc});
    let out = jose(
        &py,
        &[
            "sign",
            &write("to-send.json", &message),
            &write("py.jwk", &private_jwk),
            "Ed25519",
        ],
    );
    crate::helpers::succeeded(&out);
    let (status, receipt) = b.post_inbox(out.stdout).await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(b.alerts().await.len(), 1);

    // 3. joserfc verifies the gateway's signed receipt.
    let receipt_file = write("receipt.json", &receipt);
    let lines = verified(&py, &receipt_file, &write("cert-b.jwk", &b.jwk));
    assert_eq!(lines[1], message["id"].as_str().unwrap());
}
