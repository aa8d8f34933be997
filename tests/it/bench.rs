//! The load generator (`irtx-bench`, README "Performance") through its command line, on
//! small counts: it starts real gateways, drives them, and reports what it measured. Its
//! figures are not asserted (this machine is shared and noisy); that it counts right is.

use std::process::Command;

use crate::taxii_servers::{start, Kind};

fn bench(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_irtx-bench"))
        .arg("--irtx")
        .arg(env!("CARGO_BIN_EXE_irtx"))
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn inbound_after_a_fill_counts_every_message_and_reports_the_server() {
    let (ok, out) = bench(&[
        "inbound",
        "-n",
        "60",
        "-c",
        "4",
        "--peers",
        "3",
        "--fill",
        "40",
        "--fill-objects",
        "1",
        "--page-reads",
        "2",
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("filled 40 alerts"), "{out}");
    // The fill went into the store the gateway serves from.
    assert!(out.contains("the store holds 100 alerts"), "{out}");
    assert!(out.contains("signed 60 messages of 47 objects"), "{out}");
    assert!(
        out.contains("inbound, concurrency 4, 40 stored before: 60 ok, 0 failed"),
        "{out}"
    );
    for shown in [
        "p50 ",
        "p90 ",
        "p99 ",
        "p99.9 ",
        "CPU ",
        "peak RSS ",
        "store ",
    ] {
        assert!(out.contains(shown), "{shown}: {out}");
    }
    // Every page and list was read and answered 2xx (a failed read fails the run).
    assert!(out.contains("pages and lists, median of 2 reads"), "{out}");
    for page in [
        "/api/v1/alerts?limit=100&after=50:",
        "/ui/alerts?q=bench-peer-3:",
        "/ui/disclosures:",
    ] {
        assert!(out.contains(page), "{page}: {out}");
    }
}

#[test]
fn outbound_counts_deliveries_with_verified_receipts_and_times_idle_pushes() {
    let (ok, out) = bench(&["outbound", "-n", "8", "--receivers", "2", "--idle", "3"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("8 reports shared with 2 receivers: 16 messages delivered"),
        "{out}"
    );
    assert!(out.contains("(3 pushes): p50 "), "{out}");
    assert!(out.contains("bench-receiver-1: CPU "), "{out}");
}

#[test]
fn taxii_posts_to_the_inbox_shares_reads_every_page_and_polls() {
    let (ok, out) = bench(&[
        "taxii", "--inbox", "6", "-n", "5", "-c", "2", "--limit", "50", "--polls", "3",
    ]);
    assert!(ok, "{out}");
    assert!(
        out.contains("TAXII inbox, concurrency 2: 6 ok, 0 failed"),
        "{out}"
    );
    assert!(
        out.contains("shared with the TAXII client (published), concurrency 2: 5 ok, 0 failed"),
        "{out}"
    );
    // Five reports' objects take several pages of 50 (the bench fails on a repeated one).
    let read = out
        .lines()
        .find(|l| l.starts_with("TAXII read of the whole collection, limit 50: "))
        .unwrap_or_else(|| panic!("{out}"));
    let pages: usize = read
        .split(" objects in ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{read}"));
    assert!(pages > 2, "{read}");
    for shown in [
        "a poll that finds nothing new (3 reads): p50 ",
        "one object by id (3 reads): p50 ",
        "the manifest's first page, limit 50 (3 reads): p50 ",
        "the store holds 6 alerts",
    ] {
        assert!(out.contains(shown), "{shown}: {out}");
    }
}

#[test]
fn import_counts_files_imported_stopped_and_serving() {
    let (ok, out) = bench(&["import", "-n", "4", "-c", "2"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("imported 4, duplicates 0, quarantined 0, refused 0"),
        "{out}"
    );
    assert!(
        out.contains("POST /api/v1/imports, the gateway serving, concurrency 2: 4 ok, 0 failed"),
        "{out}"
    );
    assert!(out.contains("the store holds 8 alerts"), "{out}");
}

#[test]
fn a_missing_irtx_binary_is_a_clear_failure() {
    let out = Command::new(env!("CARGO_BIN_EXE_irtx-bench"))
        .args(["--irtx", "/nonexistent/irtx", "inbound", "-n", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no irtx binary at /nonexistent/irtx"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn compare_sends_the_same_bundles_to_medallion_and_irtx() {
    let Some(server) = start(Kind::Medallion).await else {
        return;
    };
    let (ok, out) = tokio::task::spawn_blocking(move || {
        let r = bench(&[
            "compare",
            "--taxii",
            &server.collection,
            "--auth",
            "irtx:s3cret",
            "--stored",
            "0,300",
            "-n",
            "3",
            "-c",
            "2",
        ]);
        drop(server);
        r
    })
    .await
    .unwrap();
    assert!(ok, "{out}");
    // Step 0: nothing stored; step 300: 7 bundles of 47 objects filled into each (329,
    // above the 141 the first step's 3 timed messages left).
    assert!(out.contains("0 / 0 |"), "{out}");
    assert!(out.contains("329 / 329 |"), "{out}");
    assert!(out.contains("TAXII server latency p50"), "{out}");
}

#[test]
fn scale_spreads_messages_over_gateways_sharing_one_postgresql_and_counts_them() {
    let pg = crate::pg::PgServer::start();
    let pid = std::fs::read_to_string(pg.data_dir().join("postmaster.pid")).unwrap();
    let (ok, out) = bench(&[
        "scale",
        "--postgres",
        &pg.url,
        "--server-pid",
        pid.lines().next().unwrap(),
        "--instances",
        "1,2",
        "-n",
        "40",
        "-c",
        "4",
        "--peers",
        "2",
    ]);
    assert!(ok, "{out}");
    for step in ["1 gateway(s)", "2 gateway(s)"] {
        assert!(
            out.contains(&format!(
                "{step} on one PostgreSQL, concurrency 4: 40 ok, 0 failed"
            )),
            "{out}"
        );
    }
    assert_eq!(
        out.matches("the database holds 40 alerts").count(),
        2,
        "{out}"
    );
    assert!(out.contains("per message: PostgreSQL "), "{out}");
}
