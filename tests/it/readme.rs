//! Every command of the README's console examples runs as written, in order, in one shell
//! (`scripts/readme_examples.py`): two real gateways on loopback, the worked example, the
//! ledger, previews, import, versions and TAXII peers. Each exits 0, or with the code the
//! README shows after it. The few placeholders (a peer's host, the release build) are named
//! in the script and replaced there with loopback ones.

#[test]
fn every_readme_command_runs_as_written() {
    let sandbox = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("python3")
        .arg(crate::helpers::root().join("scripts/readme_examples.py"))
        .arg(crate::helpers::root().join("README.md"))
        .arg(env!("CARGO_BIN_EXE_irtx"))
        .arg(sandbox.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or("{}")).unwrap();
    assert!(
        summary["commands"].as_u64().unwrap() >= 30,
        "the README's examples were all found: {summary}"
    );
    assert_eq!(summary["failed"], 0, "{stdout}");
}
