//! A data dir written by an earlier release still opens, reads back and verifies
//! (tests/data/compat/README.md says what the fixture holds).

use crate::gateway::TestGateway;
use crate::helpers::{root, succeeded};

/// Unpacks the fixture into a fresh temp dir.
fn unpack() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("tar")
        .arg("xzf")
        .arg(root().join("tests/data/compat/release-21dcafd.tar.gz"))
        .arg("-C")
        .arg(tmp.path())
        .status()
        .unwrap();
    assert!(status.success());
    tmp
}

fn irtx_in(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_irtx"))
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn ledgers_of_the_earlier_release_verify() {
    let tmp = unpack();
    for (team, entries) in [("cert-a", 8), ("cert-b", 2)] {
        let out = irtx_in(&tmp.path().join(team), &["ledger", "verify"]);
        let text = String::from_utf8_lossy(&succeeded(&out).stdout).to_string();
        assert!(
            text.contains(&format!("ledger intact: {entries} entries")),
            "{team}: {text}"
        );
        let out = irtx_in(
            &tmp.path().join(team),
            &["ledger", "list", "--format", "json"],
        );
        let list: Vec<serde_json::Value> = serde_json::from_slice(&succeeded(&out).stdout).unwrap();
        assert_eq!(list.len(), entries);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_of_the_earlier_release_serves_its_state() {
    let tmp = unpack();
    // The earlier release left its data dir readable by others: refused, with the fix.
    let dir = tmp.path().join("cert-a");
    let data = dir.join("data");
    let config =
        irtx::config::Config::load(&dir.join("irtx.toml"), Vec::<(String, String)>::new()).unwrap();
    let err = match irtx::app::App::build(config).await {
        Ok(_) => panic!("a data dir others may read was accepted"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        err.contains(&format!("chmod 700 {}", data.display())),
        "{err}"
    );
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    let a = TestGateway::start(
        &tmp.path().join("cert-a"),
        "127.0.0.1:0".parse().unwrap(),
        |_| {},
    )
    .await;
    let peers = a.get("/api/v1/peers").await;
    let ids: Vec<&str> = peers
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["cert-b", "cert-gone"]);
    assert_eq!(peers[1]["key_domain"], "peer");
    assert_eq!(a.get("/api/v1/reports").await.as_array().unwrap().len(), 2);
    assert_eq!(a.alerts().await.len(), 1);
    assert_eq!(a.deliveries().await.len(), 2);
    let outbox = a.outbox().await;
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0]["state"], "dead-lettered");
    let decisions = a.decisions().await;
    assert_eq!(decisions.len(), 4);
    let report = a.get("/api/v1/reports/INC-2026-0142").await;
    assert_eq!(report["report"]["tlp"], "AMBER");
}
