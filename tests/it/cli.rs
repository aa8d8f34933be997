//! The command line, driven as a user would: exit codes, output, config, standard input.

use std::io::Write as _;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{data_files, irtx, valid_reports};

#[test]
fn validate_accepts_every_valid_example() {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<String> = data_files("valid")
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let mut args = vec!["validate"];
    args.extend(files.iter().map(String::as_str));
    let out = irtx(dir.path(), &args);
    crate::helpers::succeeded(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().filter(|l| l.contains(": ok (")).count(),
        files.len(),
        "{stdout}"
    );
}

#[test]
fn validate_detects_stix_and_iodef_documents() {
    let dir = tempfile::tempdir().unwrap();
    let report = crate::helpers::root().join("tests/data/valid/incident-ransomware-full.json");
    for (fmt, word) in [("stix", "STIX 2.1 bundle"), ("iodef", "IODEF v2 document")] {
        let conv = irtx(
            dir.path(),
            &["convert", "--to", fmt, report.to_str().unwrap()],
        );
        assert_eq!(conv.status.code(), Some(0));
        let file = dir.path().join(format!("out.{fmt}.json"));
        std::fs::write(&file, &conv.stdout).unwrap();
        let out = irtx(dir.path(), &["validate", file.to_str().unwrap()]);
        crate::helpers::succeeded(&out);
        assert!(String::from_utf8_lossy(&out.stdout).contains(word));
        // Break it: a STIX object without `created`, an IODEF incident without Contact.
        let mut doc: Value = serde_json::from_slice(&conv.stdout).unwrap();
        let broken = if fmt == "stix" {
            let i = doc["objects"]
                .as_array()
                .unwrap()
                .iter()
                .position(|o| o["type"] == "incident")
                .unwrap();
            doc["objects"][i].as_object_mut().unwrap().remove("created");
            Box::leak(format!("/objects/{i}/created: required, but missing").into_boxed_str())
        } else {
            doc["Incident"][0]
                .as_object_mut()
                .unwrap()
                .remove("Contact");
            "/Incident/0/Contact: required, but missing"
        };
        std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
        let out = irtx(dir.path(), &["validate", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(3));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(broken),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn convert_prints_the_library_document() {
    let dir = tempfile::tempdir().unwrap();
    for (path, r) in valid_reports() {
        for fmt in [irtx::convert::Format::Stix, irtx::convert::Format::Iodef] {
            let out = irtx(
                dir.path(),
                &["convert", "--to", fmt.as_str(), path.to_str().unwrap()],
            );
            crate::helpers::succeeded(&out);
            let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(
                doc,
                irtx::convert::convert(&r, &crate::helpers::team(), fmt)
            );
        }
    }
}

#[test]
fn convert_reads_standard_input_and_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("irtx.toml"),
        "[team]\nid = \"cert-file\"\nname = \"CERT from file\"\ndomain = \"cert-file.example\"\n",
    )
    .unwrap();
    let report =
        std::fs::read(crate::helpers::root().join("tests/data/valid/incident-ddos-minimal.json"))
            .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_irtx"))
        .current_dir(dir.path())
        .env_remove("IRTX_TEAM__ID")
        .args(["convert", "--to", "iodef", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&report).unwrap();
    let out = child.wait_with_output().unwrap();
    crate::helpers::succeeded(&out);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        doc["Incident"][0]["IncidentID"]["name"],
        "cert-file.example"
    );
    assert_eq!(
        doc["Incident"][0]["Contact"][0]["ContactName"][0],
        "CERT from file"
    );
}

#[test]
fn a_bad_config_is_a_runtime_error_that_says_why() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("irtx.toml"),
        "[team]\nid = \"Not A Slug\"\n",
    )
    .unwrap();
    let report = crate::helpers::root().join("tests/data/valid/incident-ddos-minimal.json");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_irtx"))
        .current_dir(dir.path())
        .env_remove("IRTX_TEAM__ID")
        .args(["convert", "--to", "stix", report.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("irtx.toml") && err.contains("not a team id"),
        "{err}"
    );
}

#[test]
fn usage_errors_exit_2_and_help_is_useful() {
    let dir = tempfile::tempdir().unwrap();
    let out = irtx(dir.path(), &["convert", "--to", "xml", "x.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected one of stix, iodef"));
    assert_eq!(irtx(dir.path(), &["validate"]).status.code(), Some(2));
    assert_eq!(irtx(dir.path(), &["frobnicate"]).status.code(), Some(2));
    let help = irtx(dir.path(), &["--help"]);
    let text = String::from_utf8_lossy(&help.stdout);
    for word in ["validate", "convert", "vocab", "Exit codes", "IRTX_"] {
        assert!(text.contains(word), "--help lacks {word}:\n{text}");
    }
}

#[test]
fn the_binary_allocates_with_jemalloc_and_its_built_in_settings() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_irtx"))
        .current_dir(dir.path())
        .env("_RJEM_MALLOC_CONF", "stats_print:true")
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stats = String::from_utf8_lossy(&out.stderr);
    for setting in ["opt.dirty_decay_ms: 1000", "opt.muzzy_decay_ms: 0"] {
        assert!(stats.contains(setting), "no `{setting}` in:\n{stats}");
    }
}

#[test]
fn a_missing_file_is_a_runtime_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = irtx(dir.path(), &["validate", "does-not-exist.json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does-not-exist.json"));
}

#[test]
fn vocab_lists_the_whole_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let out = irtx(dir.path(), &["vocab", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        doc["categories"].as_array().unwrap().len(),
        irtx::report::vocab::CATEGORIES.len()
    );
    assert_eq!(doc["severities"].as_array().unwrap().len(), 4);
    let table = irtx(dir.path(), &["vocab"]);
    assert!(
        String::from_utf8_lossy(&table.stdout).contains("rsit:intrusions=\"system-compromise\"")
    );
}

#[test]
fn the_readme_run_command_serves_and_answers_healthz() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new("bash")
        .arg(crate::helpers::root().join("scripts/run.sh"))
        .args(["--listen", "127.0.0.1:0"])
        .env("IRTX_BIN", env!("CARGO_BIN_EXE_irtx"))
        .env("IRTX_DIR", dir.path().join("gw"))
        .env("IRTX_TEAM_ID", "cert-readme")
        .env("IRTX_STORE__CACHE_MIB", "16")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (url, log) = crate::gateway::log_until_listening(&mut child);
    // The store's page cache is the one the environment set (the default is 48 MiB).
    assert!(
        log.iter()
            .any(|l| l.contains("store opened: sled") && l.contains("page_cache_mib=16")),
        "{log:#?}"
    );
    // It compiles its schemas before it says it listens: the first message after a start
    // does not wait for them.
    assert!(
        log.iter().any(|l| l.contains("schemas compiled")),
        "{log:#?}"
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let health: Value = rt.block_on(async {
        reqwest::get(format!("{url}/healthz"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    assert_eq!(health["status"], "ok");
    // The API wants the analyst token that init wrote with mode 0600.
    let token = dir.path().join("gw/analyst.token");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&token).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let status = rt.block_on(async {
        reqwest::get(format!("{url}/api/v1/reports"))
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    assert_eq!(status, 401);
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Runs the irtx binary in a gateway's directory, reaching its API at `url`.
fn irtx_at(dir: &std::path::Path, url: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_irtx"))
        .current_dir(dir)
        .env("IRTX_API__URL", url)
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_report_and_ledger_commands_work_against_a_running_gateway() {
    let a = crate::gateway::TestGateway::spawn("cert-a").await;
    let b = crate::gateway::TestGateway::spawn("cert-b").await;
    b.add_peer(&a, "AMBER", "community", "none", "stix").await;
    let jwk = a.dir.join("cert-b.jwk");
    std::fs::write(&jwk, b.jwk.to_string()).unwrap();
    let (dir, url) = (a.dir.clone(), a.url.clone());
    let run = move |args: Vec<String>| {
        let (dir, url) = (dir.clone(), url.clone());
        async move {
            tokio::task::spawn_blocking(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                irtx_at(&dir, &url, &args)
            })
            .await
            .unwrap()
        }
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();

    // A bad peer is refused with every problem, pointer by pointer.
    let out = run(s(&[
        "peer",
        "add",
        "--id",
        "cert-b",
        "--url",
        "ftp://x",
        "--key",
        &format!("@{}", jwk.display()),
        "--max-tlp",
        "PURPLE",
        "--audience",
        "community",
    ]))
    .await;
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/url") && err.contains("/max_tlp"), "{err}");

    let out = run(s(&[
        "peer",
        "add",
        "--id",
        "cert-b",
        "--url",
        &b.url,
        "--key",
        &format!("@{}", jwk.display()),
        "--max-tlp",
        "AMBER",
        "--audience",
        "community",
        "--profile",
        "pseudonymize",
    ]))
    .await;
    crate::helpers::succeeded(&out);
    let out = run(s(&["peer", "list"])).await;
    assert!(String::from_utf8_lossy(&out.stdout).contains("cert-b"));
    let out = run(s(&["peer", "show", "cert-b", "--jwk"])).await;
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown[0]["x"], b.jwk["x"]);

    // Submit and share through the CLI; the decision and removals are printed.
    let report = crate::helpers::root().join("tests/data/valid/incident-ransomware-full.json");
    let out = run(s(&[
        "report",
        "submit",
        report.to_str().unwrap(),
        "--share",
        "cert-b",
    ]))
    .await;
    crate::helpers::succeeded(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("submitted report `INC-2026-0142`")
            && text.contains("cert-b: queued as message"),
        "{text}"
    );
    assert!(text.contains("removed /reporter (TLP:RED)"), "{text}");
    crate::gateway::eventually(Duration::from_secs(10), "delivered", || async {
        b.alerts().await.len() == 1
    })
    .await;
    crate::gateway::eventually(Duration::from_secs(10), "receipt", || async {
        a.deliveries().await.len() == 1
    })
    .await;

    // The store is in use by the gateway: the ledger commands go through its API.
    let out = run(s(&[
        "ledger", "list", "--peer", "cert-b", "--format", "json",
    ]))
    .await;
    crate::helpers::succeeded(&out);
    let entries: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(entries.iter().any(|e| e["body"]["event"] == "delivered"));
    let out = run(s(&["ledger", "verify"])).await;
    crate::helpers::succeeded(&out);

    // An invalid report is refused with its pointers and exit 3; a missing peer on remove too.
    let bad = crate::helpers::root().join("tests/data/invalid/cidr-host-bits-set.json");
    let out = run(s(&["report", "submit", bad.to_str().unwrap()])).await;
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/indicators/0/value"));
    let out = run(s(&["peer", "remove", "cert-b"])).await;
    assert_eq!(out.status.code(), Some(0));
    let out = run(s(&["peer", "remove", "cert-b"])).await;
    assert_eq!(out.status.code(), Some(3));
}

/// `deploy/demo.sh` runs from the repository with one command, twice in a row (free ports
/// each time), and stops every gateway it started: afterwards no process is left in its
/// working directories.
#[test]
fn the_demo_runs_twice_and_leaves_nothing_running() {
    let tmp = tempfile::tempdir().unwrap();
    for run in 0..2 {
        let out = std::process::Command::new("bash")
            .arg(crate::helpers::root().join("deploy/demo.sh"))
            .env("IRTX_BIN", env!("CARGO_BIN_EXE_irtx"))
            .env("TMPDIR", tmp.path())
            .env_remove("KEEP")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "run {run}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("cert-sec received 1 alert(s)"), "{stdout}");
        assert!(stdout.contains("ledger intact"), "{stdout}");
    }
    let prefix = tmp.path().to_string_lossy().to_string();
    let left: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|p| {
            let cwd = std::fs::read_link(p.path().join("cwd")).ok()?;
            cwd.to_string_lossy()
                .starts_with(&prefix)
                .then(|| p.file_name().to_string_lossy().to_string())
        })
        .collect();
    assert!(left.is_empty(), "processes left running: {left:?}");
}

/// `irtx ledger list` on a store no gateway holds reads a page at a time through the store's
/// indexes: each filter lists exactly the entries of the ledger it keeps, across pages.
#[test]
fn ledger_list_reads_every_page_of_a_filter_from_the_store() {
    use irtx::store::Store;
    let tmp = tempfile::tempdir().unwrap();
    let init = crate::helpers::irtx(tmp.path(), &["init", "--team-id", "cert-a", "--dir", "gw"]);
    crate::helpers::succeeded(&init);
    let dir = tmp.path().join("gw");
    let all = {
        let s = irtx::store::sled_store::SledStore::open(&dir.join("data/store")).unwrap();
        irtx::store::conformance::varied_ledger(&s, 3500);
        s.ledger_entries().map(Result::unwrap).collect::<Vec<_>>()
    };
    let seqs_of = |keep: &dyn Fn(&irtx::disclosure::Entry) -> bool| {
        all.iter()
            .filter(|e| keep(e))
            .map(|e| e.seq)
            .collect::<Vec<_>>()
    };
    let cert_b = |e: &irtx::disclosure::Entry| e.body.peer == *"cert-b";
    let cases: [(&[&str], Vec<u64>); 5] = [
        (&[], seqs_of(&|_| true)),
        (&["--peer", "cert-b"], seqs_of(&cert_b)),
        (
            &["--peer", "cert-b", "--state", "refused"],
            seqs_of(&|e| cert_b(e) && e.body.event.to_string() == "refused"),
        ),
        (
            &["--indicator", "10.0.0.7"],
            seqs_of(&|e| e.body.indicators.iter().any(|d| d.sent_as == "10.0.0.7")),
        ),
        (&["--peer", "nobody"], vec![]),
    ];
    // More than a page (1,000) for the first two.
    assert!(cases[1].1.len() > 1000, "{}", cases[1].1.len());
    for (filters, want) in cases {
        let mut args = vec!["ledger", "list", "--format", "json"];
        args.extend(filters);
        let out = crate::helpers::irtx(&dir, &args);
        crate::helpers::succeeded(&out);
        let listed: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        let got: Vec<u64> = listed.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
        assert_eq!(got, want, "{filters:?}");
    }
}
