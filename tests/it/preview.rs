//! One list of peers, and a preview that is exactly what is sent: for every profile, format
//! and clearance, `irtx convert --peer` prints byte for byte (in RFC 8785 form) the document
//! the peer then receives, and says "withhold" exactly when sharing withholds. A peer from
//! `[peers.*]` in the config and one added with `irtx peer add` behave the same.

use std::path::Path;

use irtx::app::Options;
use irtx::envelope::canonical;
use serde_json::Value;

use crate::gateway::{example, TestGateway};
use crate::helpers::root;

/// Runs irtx in `dir` with nothing from the test's environment (the team comes from the
/// config there), optionally through a running gateway.
fn irtx(dir: &Path, gateway: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_irtx"));
    cmd.current_dir(dir)
        .env_remove("RUST_LOG")
        .env_remove("IRTX_GATEWAY")
        .args(args);
    if let Some(url) = gateway {
        cmd.args(["--gateway", url]);
    }
    cmd.output().unwrap()
}

/// The preview for `cert-b`: the document, or `None` when withheld (exit 4).
fn preview(dir: &Path, gateway: Option<&str>, format: &str, report: &str) -> Option<Value> {
    let file = root().join(format!("tests/data/valid/{report}.json"));
    let out = irtx(
        dir,
        gateway,
        &[
            "convert",
            "--to",
            format,
            "--peer",
            "cert-b",
            file.to_str().unwrap(),
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => {
            assert!(err.contains("decision: send to `cert-b`"), "{err}");
            Some(serde_json::from_slice(&out.stdout).unwrap())
        }
        Some(4) => {
            assert!(err.contains("decision: withhold from `cert-b`"), "{err}");
            None
        }
        other => panic!("convert --peer exited {other:?}: {err}"),
    }
}

/// Shares `report` with cert-b and delivers; returns the document cert-b imported, or
/// `None` when the share withheld it.
async fn shared(a: &TestGateway, b: &TestGateway, report: &str) -> Option<Value> {
    let id = a.submit(&example(report)).await;
    let d = a.share_again(&id, &["cert-b"]).await;
    match d[0]["decision"].as_str() {
        Some("withheld") => None,
        Some("queued") => {
            assert_eq!(a.services().run_once().await, 1, "delivered");
            // What the peer's receipt acknowledged (a copy it held already is answered
            // `duplicate`), and the alert it holds with that document.
            let last = a.deliveries().await.last().cloned().unwrap();
            assert_eq!(last["item"]["message_id"], d[0]["message_id"]);
            let jws = serde_json::from_value(last["item"]["jws"].clone()).unwrap();
            let payload = irtx::envelope::open(&jws).unwrap().payload;
            let sent: Value = serde_json::from_slice(&payload).unwrap();
            let doc = sent["document"].clone();
            assert!(
                b.alerts().await.iter().any(|x| x["document"] == doc),
                "cert-b holds it"
            );
            Some(doc)
        }
        other => panic!("decision {other:?}: {d:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_preview_is_exactly_what_the_peer_receives() {
    let b = TestGateway::spawn("cert-b").await;
    // cert-a declares cert-b in its config.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    irtx::cli::init::initialize(dir, "cert-a", Some("CERT A"), Some("cert-a.example")).unwrap();
    std::fs::write(dir.join("cert-b.jwk"), b.jwk.to_string()).unwrap();
    let mut toml = std::fs::read_to_string(dir.join("irtx.toml")).unwrap();
    toml.push_str(&format!(
        r#"
[profiles.research]
base = "strict"
ipv4_prefix = 16
roles = {{ c2 = "keep" }}

[peers.cert-b]
url = "{}"
key_file = "cert-b.jwk"
max_tlp = "AMBER"
audience = "community"
profile = "pseudonymize"
format = "stix"
"#,
        b.url
    ));
    std::fs::write(dir.join("irtx.toml"), toml).unwrap();

    // Before any gateway ran: the list of peers is the config's, and the preview uses it.
    let list = irtx(dir, None, &["peer", "list"]);
    let text = String::from_utf8_lossy(&crate::helpers::succeeded(&list).stdout).to_string();
    assert!(text.starts_with("cert-b\t"), "{text}");
    let offline = preview(dir, None, "stix", "incident-ransomware-full");

    let options = Options {
        run_worker: false,
        ..Options::default()
    };
    let a = TestGateway::start_options(dir, "127.0.0.1:0".parse().unwrap(), |_| {}, options).await;
    b.add_peer(&a, "AMBER", "community", "none", "stix").await;
    let url = a.url.clone();

    // The config's peer, as the running gateway has it.
    let peers = a.get("/api/v1/peers").await;
    assert_eq!(peers[0]["id"], "cert-b");
    assert_eq!(peers[0]["profile"], "pseudonymize");
    let online = preview(dir, Some(&url), "stix", "incident-ransomware-full");
    assert_eq!(online, offline, "the same peer, stopped or running");
    let got = shared(&a, &b, "incident-ransomware-full").await;
    assert_eq!(
        got.as_ref().map(canonical),
        online.as_ref().map(canonical),
        "the config's peer"
    );

    // Every profile, format and clearance, with peers added through the command line.
    let clearances = [
        ("AMBER", "community"),
        ("GREEN", "community"),
        ("AMBER+STRICT", "own-organization"),
        ("CLEAR", "public"),
        ("AMBER", "client"),
    ];
    let reports = [
        "incident-ransomware-full",
        "event-malware-mail",
        "incident-ddos-minimal",
    ];
    let (mut sent, mut withheld) = (0, 0);
    let mut n = 0;
    for profile in ["none", "pseudonymize", "strict", "research"] {
        for format in ["stix", "iodef"] {
            for (max_tlp, audience) in clearances {
                n += 1;
                let key_domain = if n % 2 == 0 { "peer" } else { "federation" };
                let report = reports[n % reports.len()];
                let out = irtx(
                    dir,
                    Some(&url),
                    &[
                        "peer",
                        "add",
                        "--id",
                        "cert-b",
                        "--url",
                        &b.url,
                        "--key",
                        "@cert-b.jwk",
                        "--max-tlp",
                        max_tlp,
                        "--audience",
                        audience,
                        "--profile",
                        profile,
                        "--format",
                        format,
                        "--key-domain",
                        key_domain,
                    ],
                );
                crate::helpers::succeeded(&out);
                let what = format!("{profile} {format} {max_tlp} {audience} {key_domain} {report}");
                let want = preview(dir, Some(&url), format, report);
                let got = shared(&a, &b, report).await;
                assert_eq!(
                    got.as_ref().map(canonical),
                    want.as_ref().map(canonical),
                    "{what}"
                );
                if got.is_some() {
                    sent += 1;
                } else {
                    withheld += 1;
                }
            }
        }
    }
    assert!(
        sent >= 16 && withheld >= 8,
        "{sent} sent, {withheld} withheld"
    );
}
