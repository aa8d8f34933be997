//! The OASIS taxii2-client (PyPI, installed by `scripts/taxii-client.sh`) reads a running
//! gateway as two different peers: it discovers the server, lists the collections, and pages
//! through objects and manifest (`as_pages`, 7 per request). Each peer gets exactly what
//! its share holds, nothing above its clearance, and every object validates with the OASIS
//! stix2-validator.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{output_within, root};
use crate::taxii::{big_report, gateway_with_pullers};

fn python() -> Option<PathBuf> {
    let p = crate::helpers::target_dir().join("venv-taxii/bin/python");
    if p.exists() {
        return Some(p);
    }
    let msg = "venv-taxii is missing from the build directory (run scripts/taxii-client.sh)";
    if std::env::var_os("CI").is_some() {
        panic!("{msg}");
    }
    eprintln!("\n*** SKIPPED the taxii2-client test: {msg} ***\n");
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taxii2_client_pages_through_each_peers_share() {
    let Some(py) = python() else { return };
    let (g, b, c) = gateway_with_pullers().await;
    let amber = g.submit(&big_report(20, "AMBER")).await;
    let green = g.submit(&big_report(30, "GREEN")).await;
    g.share(&amber, &["cert-b", "cert-c"]).await;
    g.share(&green, &["cert-b", "cert-c"]).await;
    let url = format!("{}/taxii2/", g.url);
    let amber_marking = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421";
    let mut seen = Vec::new();
    for (peer, token, scheme) in [("cert-b", &b, "basic"), ("cert-c", &c, "token")] {
        let out = tempfile::tempdir().unwrap();
        let py = py.clone();
        let args = [
            root()
                .join("scripts/taxii_client_check.py")
                .display()
                .to_string(),
            url.clone(),
            peer.to_string(),
            token.to_string(),
            scheme.to_string(),
            out.path().display().to_string(),
            "7".to_string(),
        ];
        let run = tokio::task::spawn_blocking(move || {
            output_within(Command::new(py).args(args), Duration::from_secs(180))
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&run.stdout).to_string();
        assert!(
            run.status.success(),
            "{peer}: {stdout}\n{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let got: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
        assert_eq!(got["valid"], true, "{stdout}");
        assert_eq!(got["versions"][0], "application/taxii+json;version=2.1");
        // Exactly the peer's collection, in order, once each.
        let held: Vec<String> = g
            .services()
            .store
            .taxii_page(peer, 0, 100_000)
            .unwrap()
            .into_iter()
            .map(|(_, o)| o.id)
            .collect();
        let ids: Vec<String> = serde_json::from_value(got["ids"].clone()).unwrap();
        assert_eq!(ids, held, "{peer}");
        assert_eq!(got["manifest"], got["ids"], "{peer}");
        assert_eq!(
            (&got["objects_loop"], &got["manifest_loop"]),
            (&json!(false), &json!(false)),
            "{peer}: no listing repeats a page"
        );
        assert!(ids.len() > 50, "{peer}: {}", ids.len());
        // cert-c (GREEN) never sees the AMBER report nor its marking.
        let has_amber = ids.iter().any(|i| i == amber_marking);
        assert_eq!(has_amber, peer == "cert-b", "{peer}");
        seen.push(ids);
    }
    assert_ne!(seen[0], seen[1]);
}
