//! Inbound load on one gateway over loopback: N distinct signed messages (pre-signed, so the
//! client only does HTTP), posted with C concurrent requests. Prints accepted messages per
//! second and latency percentiles. Every acknowledged import is flushed to disk first (the
//! durable path). Bounded by N; loopback only.
//!
//! Usage: cargo run --release --example inbound_load -- [N] [C]

use std::sync::Arc;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use irtx::convert::Format;
use serde_json::json;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(2000, |v| v.parse().expect("N"));
    let conc: usize = args.next().map_or(16, |v| v.parse().expect("C"));
    let dir = tempfile::tempdir().unwrap();
    irtx::cli::init::initialize(dir.path(), "cert-b", None, None).unwrap();
    let mut config = irtx::config::Config::load(
        &dir.path().join("irtx.toml"),
        Vec::<(String, String)>::new(),
    )
    .unwrap();
    config.listen = "127.0.0.1:0".parse().unwrap();
    let app = irtx::app::App::build(config).await.unwrap();
    let url = format!("http://{}/exchange/v1/messages", app.local_addr());
    let gateway = app.gateway();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));

    // The sender: a peer with its own key, and a 15-object-ish bundle per message.
    let key = SigningKey::from_bytes(&[77; 32]);
    let jwk = irtx::envelope::public_jwk(&key.verifying_key());
    let record = irtx::exchange::check_peer(
        &serde_json::from_value(
            json!({"id": "cert-a", "url": "http://127.0.0.1:9", "keys": [{"jwk": jwk}],
            "max_tlp": "AMBER", "audience": "community", "profile": "none", "format": "stix"}),
        )
        .unwrap(),
        &gateway.profiles,
    )
    .unwrap();
    gateway.store.put_peer(&record).unwrap();
    let report = irtx::report::parse(include_bytes!(
        "../tests/data/valid/event-scan-suspected.json"
    ))
    .unwrap();
    let team = irtx::team::Team::new("cert-a".parse().unwrap(), "CERT A");
    let doc = irtx::convert::convert(&report, &team, Format::Stix);
    let (from, to) = ("cert-a".parse().unwrap(), "cert-b".parse().unwrap());
    let t0 = Instant::now();
    let bodies: Vec<Vec<u8>> = (0..n)
        .map(|_| {
            // Each message a report of its own: a receiver holds a sender's version of a
            // report once.
            let container = doc["objects"]
                .as_array()
                .and_then(|o| o.iter().find(|x| x["type"] == "report"))
                .and_then(|r| r["id"].as_str())
                .unwrap_or_default();
            let fresh = format!("report--{}", uuid::Uuid::new_v4());
            let doc: serde_json::Value =
                serde_json::from_str(&doc.to_string().replace(container, &fresh)).unwrap();
            let s = irtx::exchange::outbound::seal(
                doc,
                Format::Stix,
                irtx::tlp::Tlp::Amber,
                irtx::exchange::outbound::Envelope {
                    from: &from,
                    to: &to,
                    id: irtx::envelope::MessageId(uuid::Uuid::new_v4()),
                    now: time::OffsetDateTime::now_utc(),
                },
                &key,
            );
            serde_json::to_vec(&s.jws).unwrap()
        })
        .collect();
    eprintln!(
        "signed {n} messages ({} bytes each) in {:.2}s",
        bodies[0].len(),
        t0.elapsed().as_secs_f64()
    );

    let client = reqwest::Client::new();
    let queue = Arc::new(tokio::sync::Mutex::new(bodies));
    let flushes_before = gateway.store.flushes();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conc {
        let (client, queue, url) = (client.clone(), queue.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let Some(body) = queue.lock().await.pop() else {
                    break;
                };
                let t = Instant::now();
                let r = client
                    .post(&url)
                    .header("content-type", "application/jose+json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut lat: Vec<Duration> = Vec::new();
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    let secs = start.elapsed().as_secs_f64();
    lat.sort();
    let p =
        |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)].as_secs_f64() * 1000.0;
    println!(
        "inbound: {n} messages, concurrency {conc}: {:.0} accepted/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (durable: flushed before each receipt)",
        n as f64 / secs, p(0.50), p(0.99), p(1.0)
    );
    let flushes = gateway.store.flushes() - flushes_before;
    println!(
        "flushes: {flushes} for {n} acknowledged messages ({:.2} per message; group commit shares them)",
        flushes as f64 / n as f64
    );
    assert_eq!(gateway.store.alert_count().unwrap(), n as u64);
    let _ = stop.send(());
    let _ = server.await;
}
