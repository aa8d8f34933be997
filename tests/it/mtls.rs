//! Mutual TLS between peers (DESIGN.md section 11): B pins A's client certificate. A
//! delivers with it; a client with another certificate is refused during the TLS handshake;
//! a connection without one may reach the pages but not speak for A in the inbox; TLS 1.2
//! is refused (TLS 1.3 only by default).

use irtx::app::Options;

use crate::gateway::{example, TestGateway};

fn self_signed(name: &str) -> rcgen::CertifiedKey<rcgen::KeyPair> {
    rcgen::generate_simple_self_signed(vec![name.into(), "127.0.0.1".into()]).unwrap()
}

fn identity(c: &rcgen::CertifiedKey<rcgen::KeyPair>) -> reqwest::Identity {
    let pem = format!("{}\n{}", c.cert.pem(), c.signing_key.serialize_pem());
    reqwest::Identity::from_pem(pem.as_bytes()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_client_certificate_is_required_and_another_refused_at_the_handshake() {
    irtx::federation::install_crypto_provider();
    let tmp = tempfile::tempdir().unwrap();
    // B: HTTPS, asking clients for certificates.
    let bdir = tmp.path().join("b");
    irtx::cli::init::initialize(&bdir, "cert-b", None, None).unwrap();
    let server = self_signed("localhost");
    std::fs::write(bdir.join("tls.crt"), server.cert.pem()).unwrap();
    irtx::keys::write_secret_file(&bdir.join("tls.key"), &server.signing_key.serialize_pem())
        .unwrap();
    let b = TestGateway::start(&bdir, "127.0.0.1:0".parse().unwrap(), |c| {
        c.tls.cert_file = Some("tls.crt".into());
        c.tls.key_file = Some("tls.key".into());
        c.tls.peer_client_certs = true;
    })
    .await;
    // A: presents its own client certificate, trusts B's.
    let adir = tmp.path().join("a");
    irtx::cli::init::initialize(&adir, "cert-a", None, None).unwrap();
    let client = self_signed("cert-a");
    std::fs::write(adir.join("client.crt"), client.cert.pem()).unwrap();
    irtx::keys::write_secret_file(
        &adir.join("client.key"),
        &client.signing_key.serialize_pem(),
    )
    .unwrap();
    let ca = bdir.join("tls.crt");
    let options = Options {
        run_worker: false,
        ..Options::default()
    };
    let a = TestGateway::start_options(
        &adir,
        "127.0.0.1:0".parse().unwrap(),
        move |c| {
            c.delivery.ca_file = Some(ca);
            c.delivery.client_cert_file = Some("client.crt".into());
            c.delivery.client_key_file = Some("client.key".into());
        },
        options,
    )
    .await;
    a.add_peer(&b, "AMBER", "community", "none", "stix").await;
    // B pins A's certificate (the CLI does this from the PEM file with --client-cert).
    let pin = irtx::keys::cert_fingerprint_file(&adir.join("client.crt")).unwrap();
    let body = serde_json::json!({"id": "cert-a", "url": a.url, "keys": [{"jwk": a.jwk}],
        "max_tlp": "AMBER", "audience": "community", "profile": "none",
        "client_cert_sha256": pin});
    let (s, v) = b
        .call(reqwest::Method::POST, "/api/v1/peers", Some(body))
        .await;
    assert_eq!(s, 201, "{v}");

    let id = a.submit(&example("incident-ddos-minimal")).await;
    a.share(&id, &["cert-b"]).await;
    let message = a.outbox_jws(0).await;
    let trusting = || {
        reqwest::Client::builder().add_root_certificate(
            reqwest::Certificate::from_pem(server.cert.pem().as_bytes()).unwrap(),
        )
    };

    // Without a certificate the TLS layer lets a browser in, but the inbox does not take A's
    // message from it.
    let (s, _) = b.call(reqwest::Method::GET, "/api/v1/peers", None).await;
    assert_eq!(s, 200, "the analyst API needs no client certificate");
    let resp = trusting()
        .build()
        .unwrap()
        .post(format!("{}/exchange/v1/messages", b.url))
        .header("content-type", "application/jose+json")
        .body(message)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let receipt: irtx::envelope::Jws = resp.json().await.unwrap();
    let text = String::from_utf8(irtx::envelope::open(&receipt).unwrap().payload).unwrap();
    assert!(text.contains("pinned TLS client certificate"), "{text}");

    // Another certificate: refused during the handshake, before any HTTP.
    let mallory = self_signed("mallory");
    let err = trusting()
        .identity(identity(&mallory))
        .build()
        .unwrap()
        .get(format!("{}/healthz", b.url))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect() || err.is_request(), "{err:?}");

    // TLS 1.2: refused.
    let old = trusting()
        .max_tls_version(reqwest::tls::Version::TLS_1_2)
        .build()
        .unwrap()
        .get(format!("{}/healthz", b.url))
        .send()
        .await;
    assert!(old.is_err(), "TLS 1.2 was accepted");

    // A, with its pinned certificate, is served.
    assert_eq!(a.services().run_once().await, 1);
    assert_eq!(b.alert_list().await.len(), 1);
    let ok = trusting()
        .identity(identity(&client))
        .build()
        .unwrap()
        .get(format!("{}/healthz", b.url))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}
