//! The PostgreSQL backend (DESIGN §12), against a real server each test starts.

use irtx::store::postgres_store::{Connect, PgStore};

use crate::pg::PgServer;

pub fn connect(url: &str) -> Connect {
    Connect {
        url: url.to_string(),
        password: None,
        ca_file: None,
        pool_size: 8,
        lease_ms: 60_000,
    }
}

#[test]
fn postgres_passes_the_conformance_suite() {
    let pg = PgServer::start();
    let s = PgStore::open(&connect(&pg.url)).unwrap();
    irtx::store::conformance::suite(&s);
    irtx::store::conformance::finds_messages_while_they_are_delivered(&s, 200);
    // Opened again (a second gateway, or a restart), the schema is found, not made twice,
    // and what was written is there.
    let again = PgStore::open(&connect(&pg.url)).unwrap();
    use irtx::store::Store;
    assert!(!again.reports_page(None, 10).unwrap().is_empty());
    assert!(again.alert_count().unwrap() > 0);
    use irtx::store::conformance::{KEPT_IN_SUITE, KEPT_LAST};
    assert_eq!(
        again.kept_derived(KEPT_IN_SUITE).unwrap().as_deref(),
        Some(KEPT_LAST)
    );
}

/// Runs SQL on the server as a client of its own (what an earlier release left behind).
fn sql(url: &str, statements: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client.batch_execute(statements).await.unwrap();
    });
}

#[test]
fn a_schema_1_database_is_upgraded_and_finds_its_messages_by_id() {
    let pg = PgServer::start();
    let (messages, alerts) = {
        let s = PgStore::open(&connect(&pg.url)).unwrap();
        irtx::store::conformance::suite(&s);
        use irtx::store::Store;
        (
            irtx::store::conformance::suite_messages(&s),
            s.alert_count().unwrap(),
        )
    };
    assert!(alerts > 0);
    // Back to schema 1 as the first release wrote it: no message ids beside the records,
    // nothing kept for the next start, the ledger found by message and report alone.
    sql(
        &pg.url,
        "ALTER TABLE outbox DROP COLUMN message_id; \
         ALTER TABLE delivered DROP COLUMN message_id; \
         DROP TABLE kept; \
         ALTER TABLE ledger DROP COLUMN peer, DROP COLUMN event, DROP COLUMN at_us; \
         DROP TABLE ledger_indicators; \
         DROP TABLE alert_counts; \
         UPDATE irtx_meta SET v = 1 WHERE k = 'schema'",
    );
    let upgraded = PgStore::open(&connect(&pg.url)).unwrap();
    irtx::store::conformance::finds_messages(&upgraded, &messages);
    use irtx::store::Store;
    // The alerts imported before schema 5 are counted by its upgrade.
    assert_eq!(upgraded.alert_count().unwrap(), alerts);
    assert_eq!(upgraded.kept_derived("overview-tally").unwrap(), None);
    upgraded.keep_derived("overview-tally", b"{}").unwrap();
    // Opened again, the schema is at its latest and not upgraded twice.
    PgStore::open(&connect(&pg.url)).unwrap();
}

#[test]
fn two_gateways_on_one_database_keep_one_ledger_and_import_a_message_once() {
    let pg = PgServer::start();
    let (a, b) = (
        PgStore::open(&connect(&pg.url)).unwrap(),
        PgStore::open(&connect(&pg.url)).unwrap(),
    );
    irtx::store::conformance::shared_suite(&a, &b);
}

#[test]
fn a_peers_queue_is_worked_by_one_gateway_and_a_lapsed_claim_is_taken_over() {
    use irtx::store::Store;
    let pg = PgServer::start();
    let short = Connect {
        lease_ms: 300,
        ..connect(&pg.url)
    };
    let (a, b) = (
        PgStore::open(&short).unwrap(),
        PgStore::open(&short).unwrap(),
    );
    let (x, y): (irtx::peer::PeerId, irtx::peer::PeerId) =
        ("cert-x".parse().unwrap(), "cert-y".parse().unwrap());
    assert!(a.claim_queue(&x).unwrap());
    assert!(a.claim_queue(&x).unwrap(), "a gateway renews its own claim");
    assert!(!b.claim_queue(&x).unwrap(), "held by a");
    assert!(b.claim_queue(&y).unwrap(), "another peer's queue is free");
    a.release_queue(&x).unwrap();
    assert!(b.claim_queue(&x).unwrap(), "released");
    assert!(!a.claim_queue(&x).unwrap());
    // b stops renewing (as a gateway that was killed): after the lease, a takes over.
    std::thread::sleep(std::time::Duration::from_millis(600));
    assert!(a.claim_queue(&x).unwrap(), "a lapsed claim returns");
    assert!(!b.claim_queue(&x).unwrap());
}

/// What an analyst reads of a gateway, by endpoint.
async fn answers(
    g: &crate::gateway::TestGateway,
    report: &str,
    alert: &str,
) -> Vec<(String, serde_json::Value)> {
    let mut out = Vec::new();
    for path in [
        "/api/v1/reports?limit=1000".to_string(),
        format!("/api/v1/reports/{report}"),
        format!("/api/v1/reports/{report}/holders"),
        "/api/v1/alerts?limit=1000".to_string(),
        format!("/api/v1/alerts/{alert}"),
        "/api/v1/outbox?limit=1000".to_string(),
        "/api/v1/deliveries?limit=1000".to_string(),
        "/api/v1/decisions?limit=1000".to_string(),
        "/api/v1/disclosures?limit=1000".to_string(),
        "/api/v1/peers".to_string(),
        "/api/v1/quarantine".to_string(),
    ] {
        let (status, v) = g.call(reqwest::Method::GET, &path, None).await;
        assert_eq!(status, 200, "{path}: {v}");
        out.push((path, v));
    }
    // Each message the ledger names, found by its id (queued, delivered or retracted).
    let messages: std::collections::BTreeSet<String> = out
        .iter()
        .filter(|(p, _)| p.starts_with("/api/v1/disclosures"))
        .flat_map(|(_, v)| v.as_array().cloned().unwrap_or_default())
        .filter_map(|e| e["body"]["message_id"].as_str().map(str::to_string))
        .collect();
    assert!(!messages.is_empty());
    for m in messages {
        let path = format!("/api/v1/messages/{m}");
        let (status, v) = g.call(reqwest::Method::GET, &path, None).await;
        assert_eq!(status, 200, "{path}: {v}");
        assert!(v["document"].is_object(), "{path}: {v}");
        out.push((path, v));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migrated_sled_store_serves_the_same_answers_from_postgres() {
    use crate::gateway::{eventually, example, TestGateway};
    use std::time::Duration;
    let pg = PgServer::start();
    let mut a = TestGateway::spawn("cert-a").await;
    let b = TestGateway::spawn("cert-b").await;
    a.add_peer(&b, "AMBER", "community", "none", "stix").await;
    b.add_peer(&a, "AMBER", "community", "none", "stix").await;
    // A shares two reports with B and retracts one; B shares one with A.
    let mut ids = Vec::new();
    for i in 0..2 {
        let mut r = example("incident-ddos-minimal");
        r["id"] = format!("MIG-{i}").into();
        let id = a.submit(&r).await;
        a.share(&id, &["cert-b"]).await;
        ids.push(id);
    }
    let from_b = b.submit(&example("incident-ddos-minimal")).await;
    b.share(&from_b, &["cert-a"]).await;
    eventually(Duration::from_secs(20), "deliveries both ways", || async {
        a.deliveries().await.len() == 2 && a.alerts().await.len() == 1
    })
    .await;
    a.retract(&ids[0], "sent too early").await;
    eventually(
        Duration::from_secs(20),
        "the retraction delivered",
        || async { a.deliveries().await.len() == 3 },
    )
    .await;
    let alert = a.alert_list().await[0]["id"].as_str().unwrap().to_string();
    let before = answers(&a, &ids[0], &alert).await;
    a.shutdown().await;

    // `irtx` in A's directory; on the PostgreSQL store, or as the config says.
    let irtx = |args: &[&str], on_pg: bool| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_irtx"));
        cmd.current_dir(&a.dir).args(args);
        if on_pg {
            cmd.env("IRTX_STORE__BACKEND", "postgres")
                .env("IRTX_STORE__URL", &pg.url);
        }
        cmd.output().unwrap()
    };
    let to = format!("postgres:{}", pg.url);
    let migrate = ["migrate", "--from", "sled:data", "--to", &to];
    let out = irtx(&migrate, false);
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{said}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("ledger verified on both"), "{said}");
    assert!(
        said.contains("alerts             sled          1  postgres          1"),
        "{said}"
    );
    // A second migration into the same database is refused: it holds records now.
    let again = irtx(&migrate, false);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("holds records already"));

    let url = pg.url.clone();
    // On the same address, which B knows.
    let mut moved = TestGateway::start(&a.dir, a.addr, move |c| {
        c.store.backend = irtx::config::StoreBackend::Postgres;
        c.store.url = Some(url);
    })
    .await;
    let after = answers(&moved, &ids[0], &alert).await;
    for ((path, x), (_, y)) in before.iter().zip(&after) {
        assert_eq!(x, y, "{path} answers differently from PostgreSQL");
    }
    // It goes on from there: a new report from B is imported, a new share delivered, and
    // the ledger still verifies.
    let mut r = example("incident-ddos-minimal");
    r["id"] = "AFTER-MOVE".into();
    let fresh = b.submit(&r).await;
    b.share(&fresh, &["cert-a"]).await;
    let id = moved.submit(&r).await;
    moved.share(&id, &["cert-b"]).await;
    eventually(
        Duration::from_secs(20),
        "both ways after the move",
        || async { moved.alerts().await.len() == 2 && moved.deliveries().await.len() == 4 },
    )
    .await;
    moved.shutdown().await;
    let verify = irtx(&["ledger", "verify"], true);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );

    // A backup of the PostgreSQL store restores into a sled store that holds the same.
    let file = a.dir.join("pg.backup");
    let backup = irtx(&["backup", "--out", file.to_str().unwrap()], true);
    assert!(
        backup.status.success(),
        "{}",
        String::from_utf8_lossy(&backup.stderr)
    );
    let restored = tempfile::tempdir().unwrap();
    let (store, _) =
        irtx::store::sled_store::SledStore::restore(&restored.path().join("store"), &file).unwrap();
    use irtx::store::Store;
    assert_eq!(store.alert_count().unwrap(), 2);
    assert_eq!(store.delivered_page(None, 100).unwrap().len(), 4);
    let pgs = PgStore::open(&connect(&pg.url)).unwrap();
    assert_eq!(
        store.ledger_last().unwrap().map(|e| e.hash),
        pgs.ledger_last().unwrap().map(|e| e.hash)
    );
    assert_eq!(store.alert("x").unwrap(), None);
    let first = pgs.alerts_page(None, 10).unwrap();
    assert_eq!(store.alerts_page(None, 10).unwrap(), first);
    // The alerts loaded are counted.
    assert_eq!(pgs.alert_count().unwrap(), first.len() as u64);
    assert_eq!(
        store.alert(&first[0].1.id).unwrap(),
        pgs.alert(&first[0].1.id).unwrap()
    );
}

#[test]
fn a_database_over_tls_is_checked_against_the_ca_it_is_given() {
    use irtx::store::Store;
    let pg = PgServer::start_tls();
    let url = format!("{}?sslmode=require", pg.url);
    let s = PgStore::open(&Connect {
        ca_file: Some(pg.ca_file()),
        ..connect(&url)
    })
    .unwrap();
    assert!(
        s.encrypted().unwrap(),
        "the database says the connection is TLS"
    );
    irtx::store::conformance::suite(&s);
    assert!(s.alert_count().unwrap() > 0);
    // The public CAs do not vouch for this server: refused, and the error says why, without
    // a password.
    let refused = PgStore::open(&connect(&url))
        .err()
        .expect("an unknown issuer is refused");
    let said = refused.to_string();
    assert!(
        said.contains("certificate") || said.contains("UnknownIssuer"),
        "{said}"
    );
    // Without sslmode the connection still prefers TLS where the server offers it.
    let preferred = PgStore::open(&Connect {
        ca_file: Some(pg.ca_file()),
        ..connect(&pg.url)
    })
    .unwrap();
    assert!(preferred.encrypted().unwrap());
}

#[test]
fn sslmode_require_refuses_a_database_without_tls() {
    let pg = PgServer::start();
    let url = format!("{}?sslmode=require", pg.url);
    assert!(PgStore::open(&connect(&url)).is_err());
    let plain = PgStore::open(&connect(&pg.url)).unwrap();
    assert!(!plain.encrypted().unwrap());
    let disabled = PgStore::open(&connect(&format!("{}?sslmode=disable", pg.url))).unwrap();
    assert!(!disabled.encrypted().unwrap());
}

#[test]
fn pages_of_the_disclosures_by_query_are_the_ledgers_written_upgraded_and_migrated() {
    use irtx::ledger::conformance::pages_of_queries_are_the_ledgers;
    use irtx::store::conformance::varied_ledger;
    use irtx::store::Store;
    let pg = PgServer::start();
    // Written by this release: each entry's columns and indicators with it.
    let s = PgStore::open(&connect(&pg.url)).unwrap();
    varied_ledger(&s, 700);
    pages_of_queries_are_the_ledgers(&s);
    drop(s);
    // The last entries written by a gateway of an earlier release, still running after
    // another upgraded the database: filled at the next start.
    sql(
        &pg.url,
        "UPDATE ledger SET peer = NULL, event = NULL, at_us = NULL WHERE seq >= 600; \
         DELETE FROM ledger_indicators WHERE seq >= 600",
    );
    pages_of_queries_are_the_ledgers(&PgStore::open(&connect(&pg.url)).unwrap());
    // Written before schema 4, then upgraded: the columns filled from the records.
    sql(
        &pg.url,
        "ALTER TABLE ledger DROP COLUMN peer, DROP COLUMN event, DROP COLUMN at_us; \
         DROP TABLE ledger_indicators; \
         DROP TABLE alert_counts; \
         UPDATE irtx_meta SET v = 3 WHERE k = 'schema'",
    );
    let upgraded = PgStore::open(&connect(&pg.url)).unwrap();
    pages_of_queries_are_the_ledgers(&upgraded);
    assert_eq!(upgraded.ledger_entries().count(), 700);
    // Loaded from a sled store (`irtx migrate`).
    let sled = irtx::store::sled_store::SledStore::temporary().unwrap();
    varied_ledger(&sled, 700);
    sql(&pg.url, "CREATE DATABASE migrated");
    let migrated = PgStore::open(&connect(&pg.url.replace("/postgres", "/migrated"))).unwrap();
    migrated.load(sled.records(), |_| {}).unwrap();
    pages_of_queries_are_the_ledgers(&migrated);
}
