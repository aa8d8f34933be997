//! irtx as a TAXII 2.1 client of the TAXII servers CERTs run: the OASIS reference server
//! medallion and EclecticIQ's OpenTAXII (both from PyPI, installed by
//! `scripts/taxii-client.sh`, started here on a loopback port with their data in a temp
//! dir). irtx pushes reports into a collection (outbox, retries, ledger; the status recorded
//! as an unsigned receipt) and taxii2-client reads them back valid; a retraction reaches
//! the server as the objects re-issued revoked; a subscription pulls the collection into
//! alerts, after a restart only what is new.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use irtx::app::Options;
use irtx::federation::clock::ManualClock;
use reqwest::Method;
use serde_json::{json, Value};

use crate::gateway::TestGateway;
use crate::helpers::{output_within, root};
use crate::taxii::big_report;

const COLLECTION: &str = "472c94ae-3113-4e3e-a4dd-a9f4ac7471d4";

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Kind {
    Medallion,
    OpenTaxii,
}

impl Kind {
    /// The venv in the build directory that holds the server, and the program that shows
    /// it is installed there.
    fn venv(self) -> (&'static str, &'static str) {
        match self {
            Kind::Medallion => ("venv-taxii", "bin/medallion"),
            Kind::OpenTaxii => ("venv-opentaxii", "bin/opentaxii-run-dev"),
        }
    }

    /// The profile of the peer irtx pushes to. Medallion 3.0.0 answers 500 to every read of
    /// a collection that holds an `extension-definition` (its `find_att` takes the
    /// definition's own `version` property, "1.0.0", for the object's version), and
    /// pseudonymized views carry the irtx-pseudonym extension's definition: the push
    /// succeeds either way, but medallion cannot serve it back (README "TAXII 2.1").
    fn profile(self) -> &'static str {
        match self {
            Kind::Medallion => "none",
            Kind::OpenTaxii => "pseudonymize",
        }
    }
}

/// A TAXII server on loopback; killed when dropped.
pub(crate) struct Server {
    kind: Kind,
    child: Child,
    /// Its discovery URL.
    discovery: String,
    /// The collection irtx writes to and reads from.
    pub(crate) collection: String,
    dir: tempfile::TempDir,
}

impl Server {
    /// What the server logged (for a failing assertion).
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn venv(kind: Kind) -> Option<PathBuf> {
    let (name, program) = kind.venv();
    let v = crate::helpers::target_dir().join(name);
    if v.join(program).exists() {
        return Some(v);
    }
    let msg = format!(
        "{kind:?} is missing from {name} in the build directory (run scripts/taxii-client.sh)"
    );
    if std::env::var_os("CI").is_some() {
        panic!("{msg}");
    }
    eprintln!("\n*** SKIPPED the {kind:?} test: {msg} ***\n");
    None
}

/// Starts a server of `kind` with one collection and the account irtx:s3cret; `None` when
/// it is not installed (outside CI).
pub(crate) async fn start(kind: Kind) -> Option<Server> {
    let venv = venv(kind)?;
    // The port is free when chosen, not reserved: another test may bind it before the
    // server does. The server is then tried again on another port.
    let mut why = String::new();
    for _ in 0..3 {
        match start_on(kind, &venv, crate::helpers::free_port()).await {
            Ok(server) => return Some(server),
            Err(e) => why = e,
        }
    }
    panic!("{kind:?} did not start: {why}");
}

/// Starts a server of `kind` on `port`; why not when it did not answer there, or what
/// answered was not this server.
async fn start_on(kind: Kind, venv: &std::path::Path, port: u16) -> Result<Server, String> {
    let dir = tempfile::tempdir().unwrap();
    // The discovery title names the server's own directory: an answer is known to be ours.
    let title = format!("irtx test server in {}", dir.path().display());
    let log = || std::fs::File::create(dir.path().join("server.log")).unwrap();
    let (child, discovery, collection) = match kind {
        Kind::Medallion => {
            let base = format!("http://127.0.0.1:{port}");
            let data = json!({
                "/discovery": {"title": title, "default": format!("{base}/api1/"), "api_roots": [format!("{base}/api1/")]},
                "api1": {
                    "information": {"title": "api1", "versions": ["application/taxii+json;version=2.1"], "max_content_length": 104857600},
                    "status": [],
                    "collections": [{"id": COLLECTION, "title": "from irtx", "can_read": true, "can_write": true,
                                     "media_types": ["application/stix+json;version=2.1"], "objects": [], "manifest": []}]
                }
            });
            std::fs::write(dir.path().join("data.json"), data.to_string()).unwrap();
            let config = json!({
                "backend": {"module": "medallion.backends.memory_backend", "module_class": "MemoryBackend",
                            "filename": dir.path().join("data.json")},
                "users": {"irtx": "s3cret"},
                "taxii": {"max_page_size": 100}
            });
            std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
            let child = Command::new(venv.join("bin/medallion"))
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .arg(dir.path().join("config.json"))
                .stdout(Stdio::null())
                .stderr(log())
                .spawn()
                .unwrap();
            (
                child,
                format!("{base}/taxii2/"),
                format!("{base}/api1/collections/{COLLECTION}/"),
            )
        }
        Kind::OpenTaxii => {
            // The launcher creates the API root, the collection and the account, prints
            // their URLs on its first line, then serves.
            let mut child = Command::new(venv.join("bin/python"))
                .arg(root().join("scripts/opentaxii_serve.py"))
                .arg(dir.path())
                .args([&port.to_string(), "irtx", "s3cret", &title])
                .stdout(Stdio::piped())
                .stderr(log())
                .spawn()
                .unwrap();
            let stdout = child.stdout.take().unwrap();
            let first = tokio::task::spawn_blocking(move || {
                use std::io::BufRead;
                let mut line = String::new();
                let mut reader = std::io::BufReader::new(stdout);
                reader.read_line(&mut line).unwrap();
                // The rest (the server's banner) is read and dropped, so it never blocks.
                std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
                line
            })
            .await
            .unwrap();
            let urls: Value = serde_json::from_str(&first).unwrap_or_else(|e| {
                panic!(
                    "OpenTAXII did not start ({e}): {first}\n{}",
                    std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default()
                )
            });
            (
                child,
                urls["discovery"].as_str().unwrap().to_string(),
                urls["collection"].as_str().unwrap().to_string(),
            )
        }
    };
    let mut server = Server {
        kind,
        child,
        discovery,
        collection,
        dir,
    };
    let http = http();
    for _ in 0..100 {
        if let Some(status) = server.child.try_wait().unwrap() {
            return Err(format!("it exited ({status}): {}", server.log()));
        }
        let answer = http
            .get(&server.discovery)
            .basic_auth("irtx", Some("s3cret"))
            .header("Accept", "application/taxii+json;version=2.1")
            .send()
            .await;
        if let Ok(r) = answer.and_then(|r| r.error_for_status()) {
            let got: Value = r.json().await.unwrap_or_default();
            if got["title"] == title.as_str() {
                return Ok(server);
            }
            return Err(format!("another server answers on port {port}: {got}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("no answer on port {port}: {}", server.log()))
}

/// An HTTP client for the test's own requests to a server: bounded, so a server that
/// takes a connection and never answers fails the test instead of hanging it.
fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// Adds the server's collection to `g` as the peer `mx` (pushed to, AMBER, community);
/// the peer as answered.
async fn pushes_to(g: &TestGateway, m: &Server) -> Value {
    let (s, v) = g
        .call(
            Method::POST,
            "/api/v1/peers",
            Some(
                json!({"id": "mx", "url": m.collection, "transport": "taxii21",
                        "auth": "irtx:s3cret", "max_tlp": "AMBER", "audience": "community",
                        "profile": m.kind.profile()}),
            ),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    v
}

async fn manual(dir: &std::path::Path) -> TestGateway {
    let options = Options {
        clock: std::sync::Arc::new(ManualClock::at(time::OffsetDateTime::now_utc())),
        run_worker: false,
        wrap_store: None,
    };
    TestGateway::start_options(dir, "127.0.0.1:0".parse().unwrap(), |_| {}, options).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn irtx_pushes_into_medallion_and_taxii2_client_reads_it_back() {
    pushes_and_retracts(Kind::Medallion).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn irtx_pushes_into_opentaxii_and_taxii2_client_reads_it_back() {
    pushes_and_retracts(Kind::OpenTaxii).await;
}

/// irtx pushes two reports into the server's collection; taxii2-client reads back exactly
/// what was pushed, valid; a retraction re-issues the retracted report's objects revoked.
async fn pushes_and_retracts(kind: Kind) {
    let Some(m) = start(kind).await else { return };
    let (g, _) = TestGateway::spawn_manual("cert-a", |_| {}).await;
    let v = pushes_to(&g, &m).await;
    assert!(
        !v.to_string().contains("s3cret"),
        "the password is never answered: {v}"
    );
    assert_eq!(v["taxii_auth_set"], true);
    let mut pushed = Vec::new();
    let mut ids_of_first = String::new();
    let mut indicators = std::collections::BTreeMap::new();
    for (n, tlp) in [(5, "AMBER"), (7, "GREEN")] {
        let id = g.submit(&big_report(n, tlp)).await;
        if ids_of_first.is_empty() {
            ids_of_first = id.clone();
        }
        let d = g.share(&id, &["mx"]).await;
        assert_eq!(d[0]["decision"], "queued", "{d:?}");
    }
    assert_eq!(g.services().run_once().await, 2);
    let delivered = g.deliveries().await;
    assert_eq!(delivered.len(), 2);
    for d in &delivered {
        let st = &d["taxii_status"];
        assert_eq!(st["status"], "complete", "{d}");
        assert!(st["success_count"].as_u64().unwrap() > 20, "{st}");
        assert!(d.get("receipt").is_none());
        let doc = irtx::envelope::open(&serde_json::from_value(d["item"]["jws"].clone()).unwrap())
            .unwrap();
        let doc: Value = serde_json::from_slice(&doc.payload).unwrap();
        indicators.insert(
            d["item"]["report_id"].as_str().unwrap().to_string(),
            doc["document"]["objects"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|o| o["type"] == "indicator")
                .map(|o| o["id"].as_str().unwrap().to_string())
                .collect::<std::collections::BTreeSet<String>>(),
        );
        pushed.extend(
            doc["document"]["objects"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["id"].as_str().unwrap().to_string()),
        );
    }
    let ledger = g.get("/api/v1/disclosures?peer=mx&state=delivered").await;
    assert!(ledger.to_string().contains("not signed"), "{ledger}");

    // taxii2-client reads the collection back from the server; every object validates.
    let out = tempfile::tempdir().unwrap();
    // taxii2-client and stix2-validator live beside medallion.
    let client = venv(Kind::Medallion).expect("venv-taxii");
    let mut cmd = Command::new(client.join("bin/python"));
    cmd.arg(root().join("scripts/taxii_client_check.py"))
        .args([&m.discovery, "irtx", "s3cret", "basic"])
        .arg(out.path())
        .arg("50");
    let run =
        tokio::task::spawn_blocking(move || output_within(&mut cmd, Duration::from_secs(180)))
            .await
            .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout).to_string();
    assert!(
        run.status.success(),
        "{stdout}\n{}\n{kind:?}: {}",
        String::from_utf8_lossy(&run.stderr),
        m.log()
    );
    let got: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(got["valid"], true);
    assert_eq!(got["objects_loop"], false);
    // OpenTAXII 0.10.0b1 answers every manifest page `more: true` with the first page
    // again and no `next`: taxii2-client would loop forever (README "TAXII 2.1").
    assert_eq!(got["manifest_loop"], kind == Kind::OpenTaxii, "{got}");
    let read: std::collections::BTreeSet<String> =
        serde_json::from_value(got["ids"].clone()).unwrap();
    let pushed: std::collections::BTreeSet<String> = pushed.into_iter().collect();
    assert_eq!(read, pushed, "{kind:?} holds exactly what irtx pushed");

    // A retraction reaches a peer's own TAXII server as the objects re-issued revoked:
    // the server's latest version of each of the report's indicators is revoked.
    let d = g.retract(&ids_of_first, "sent in error").await;
    assert_eq!(d[0]["decision"], "retracted", "{d:?}");
    assert_eq!(g.services().run_once().await, 1);
    let retraction = g.deliveries().await;
    let st = &retraction.last().unwrap()["taxii_status"];
    assert_eq!(st["status"], "complete", "{st}");
    let objects: Value = http()
        .get(format!("{}objects/?match[type]=indicator", m.collection))
        .basic_auth("irtx", Some("s3cret"))
        .header("accept", "application/taxii+json;version=2.1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let revoked: std::collections::BTreeSet<String> = objects["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["revoked"] == true)
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect();
    let first: std::collections::BTreeSet<String> = indicators[&ids_of_first]
        .iter()
        .filter(|i| indicators.values().filter(|s| s.contains(*i)).count() == 1)
        .cloned()
        .collect();
    assert!(!first.is_empty());
    assert_eq!(
        revoked, first,
        "the indicators of the retracted report only: {objects}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn irtx_pulls_a_medallion_collection_and_after_a_restart_only_what_is_new() {
    pulls_and_resumes(Kind::Medallion).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn irtx_pulls_an_opentaxii_collection_and_after_a_restart_only_what_is_new() {
    pulls_and_resumes(Kind::OpenTaxii).await;
}

/// A sends two reports into the server, one before and one while B (subscribed to the
/// collection) is stopped; B's alerts hold each once.
async fn pulls_and_resumes(kind: Kind) {
    let Some(m) = start(kind).await else { return };
    // The sender: pushes into the server.
    let (a, _) = TestGateway::spawn_manual("cert-a", |_| {}).await;
    pushes_to(&a, &m).await;
    let first = a.submit(&big_report(4, "GREEN")).await;
    a.share(&first, &["mx"]).await;
    assert_eq!(a.services().run_once().await, 1);

    // The subscriber: reads the collection into alerts.
    let (mut b, _) = TestGateway::spawn_manual("cert-s", |_| {}).await;
    let (s, v) = b
        .call(
            Method::POST,
            "/api/v1/peers",
            Some(
                json!({"id": "mx", "url": m.collection, "transport": "taxii21",
                        "auth": "irtx:s3cret", "max_tlp": "GREEN", "audience": "community",
                        "pull_every_s": 60}),
            ),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let polled = b
        .services()
        .poll_peer(&"mx".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(polled.alerts, 1, "{polled:?}");
    let alerts = b.alerts().await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        alerts[0]["taxii"]["pulled_from"],
        m.collection.trim_end_matches('/')
    );
    assert_eq!(alerts[0]["tlp"], "GREEN");
    let before: Vec<String> = ids(&alerts[0]);
    // Polling again finds nothing new.
    let again = b
        .services()
        .poll_peer(&"mx".parse().unwrap())
        .await
        .unwrap();
    assert_eq!((again.alerts, again.objects), (0, 0), "{again:?}");

    // The subscriber restarts; meanwhile the sender pushes another report.
    let dir = b.dir.clone();
    b.shutdown().await;
    let second = a.submit(&big_report(6, "GREEN")).await;
    a.share(&second, &["mx"]).await;
    assert_eq!(a.services().run_once().await, 1);
    let b2 = manual(&dir).await;
    let polled = b2
        .services()
        .poll_peer(&"mx".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(polled.alerts, 1, "{polled:?}");
    let alerts = b2.alerts().await;
    assert_eq!(alerts.len(), 2);
    let new = alerts.iter().find(|x| ids(x) != before).unwrap();
    let fresh = ids(new);
    assert!(
        fresh.iter().all(|i| !before.contains(i)),
        "only what is new: {fresh:?}"
    );
    assert!(fresh.iter().any(|i| i.starts_with("report--")));
    let _keep = b;
}

fn ids(alert: &Value) -> Vec<String> {
    alert["document"]["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect()
}
