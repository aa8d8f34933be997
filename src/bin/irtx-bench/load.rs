//! What the bench sends and how: STIX bundles of a chosen size made by the gateway's own
//! conversion (every message its own report and indicators, so nothing is a duplicate),
//! signed ahead by simulated peers, and posted at a fixed concurrency with each request's
//! latency kept.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use irtx::convert::Format;
use irtx::exchange::outbound::{self, Envelope};
use serde_json::{json, Value};

use crate::gateway::Api;

/// The report every bench message is made from (`tests/data/valid`), before indicators are
/// added to reach the size asked for.
const BASE: &str = include_str!("../../../tests/data/valid/event-scan-suspected.json");

/// A report `seq` with `extra` IPv4 source indicators of its own.
pub fn report(seq: u64, extra: usize) -> Value {
    let mut r: Value = serde_json::from_str(BASE).expect("the base report is JSON");
    r["id"] = json!(format!("EVT-BENCH-{seq}"));
    let list = r["indicators"].as_array_mut().expect("indicators");
    for i in 0..extra as u64 {
        let n = seq * 64 + i;
        let ip = format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255);
        list.push(json!({"type": "ipv4", "value": ip, "role": "source"}));
    }
    r
}

/// How many extra indicators make a bundle of at least `objects` objects, and that count.
pub fn extra_for(objects: usize, team: &irtx::team::Team) -> (usize, usize) {
    let mut extra = 0;
    loop {
        let n = bundle(0, extra, team)["objects"]
            .as_array()
            .map_or(0, Vec::len);
        if n >= objects || extra > 10_000 {
            return (extra, n);
        }
        extra += 1;
    }
}

/// Report `seq` as a STIX bundle written by `team`.
pub fn bundle(seq: u64, extra: usize, team: &irtx::team::Team) -> Value {
    let r = irtx::report::parse(report(seq, extra).to_string().as_bytes())
        .expect("the bench report is valid");
    irtx::convert::convert(&r, team, Format::Stix)
}

/// The smallest bundle an alert is made of: a `report` container alone, referring to
/// itself (for filling a store with many alerts).
pub fn container_only(team: &irtx::team::Team) -> Value {
    let full = bundle(0, 0, team);
    let objects: Vec<Value> = full["objects"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| o["type"] == "report")
        .map(|o| {
            let mut o = o.clone();
            o["object_refs"] = json!([o["id"].clone()]);
            o
        })
        .collect();
    json!({"type": "bundle", "id": full["id"], "objects": objects})
}

/// A simulated peer: its id and key.
pub struct Sender {
    /// Its team id.
    pub id: irtx::team::TeamId,
    /// Its signing key.
    pub key: SigningKey,
}

impl Sender {
    /// Peer `i`, with a key of its own.
    pub fn new(i: usize) -> Sender {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).expect("the OS has randomness");
        Sender {
            id: format!("bench-peer-{i}").parse().expect("a team id"),
            key: SigningKey::from_bytes(&seed),
        }
    }

    /// Its public JWK.
    pub fn jwk(&self) -> Value {
        irtx::envelope::public_jwk(&self.key.verifying_key())
    }

    /// `doc` signed as a message to `to`: the body a gateway receives.
    pub fn seal(&self, doc: Value, to: &irtx::team::TeamId) -> Vec<u8> {
        serde_json::to_vec(&self.sealed(doc, to).jws).expect("a JWS serializes")
    }

    /// `doc` signed as a message to `to`, with its parts.
    pub fn sealed(&self, doc: Value, to: &irtx::team::TeamId) -> outbound::Sealed {
        outbound::seal(
            doc,
            Format::Stix,
            irtx::tlp::Tlp::Amber,
            Envelope {
                from: &self.id,
                to,
                id: irtx::envelope::MessageId(uuid::Uuid::new_v4()),
                now: time::OffsetDateTime::now_utc(),
            },
            &self.key,
        )
    }
}

/// What a run measured.
#[derive(Debug, Default)]
pub struct Run {
    /// Each successful request's latency.
    pub latencies: Vec<Duration>,
    /// Failed requests by HTTP status (0: no answer).
    pub errors: BTreeMap<u16, u64>,
    /// From the first request to the last answer.
    pub wall: Duration,
}

impl Run {
    /// Successful requests.
    pub fn ok(&self) -> usize {
        self.latencies.len()
    }

    /// Failed requests.
    pub fn failed(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Successful requests per second.
    pub fn rate(&self) -> f64 {
        self.ok() as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    /// `p50 .. p99.9, max` as one line.
    pub fn latency_line(&self) -> String {
        latency_line(&self.latencies)
    }
}

/// Latency quantile `q` of sorted `lat`, in milliseconds.
pub fn quantile_ms(lat: &[Duration], q: f64) -> f64 {
    if lat.is_empty() {
        return f64::NAN;
    }
    let i = ((lat.len() as f64 * q).ceil() as usize).clamp(1, lat.len()) - 1;
    lat[i].as_secs_f64() * 1000.0
}

/// `p50 .. p99.9, max` of sorted `lat` as one line.
pub fn latency_line(lat: &[Duration]) -> String {
    format!(
        "p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
        quantile_ms(lat, 0.5),
        quantile_ms(lat, 0.9),
        quantile_ms(lat, 0.99),
        quantile_ms(lat, 0.999),
        quantile_ms(lat, 1.0)
    )
}

/// Posts every body with `concurrency` requests in flight, each made by `request`;
/// `ok` says which statuses count as success.
pub async fn drive<F>(
    bodies: Vec<Vec<u8>>,
    concurrency: usize,
    request: F,
    ok: fn(u16) -> bool,
) -> Run
where
    F: Fn(&reqwest::Client, Vec<u8>) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .expect("an HTTP client");
    let queue = Arc::new(std::sync::Mutex::new(bodies));
    let request = Arc::new(request);
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (http, queue, request) = (http.clone(), queue.clone(), request.clone());
        tasks.spawn(async move {
            let mut run = Run::default();
            loop {
                let Some(body) = queue.lock().expect("the queue").pop() else {
                    break;
                };
                let t = Instant::now();
                match request(&http, body).send().await {
                    Ok(r) if ok(r.status().as_u16()) => {
                        // Read the answer: the request is done when its receipt is in.
                        let _ = r.bytes().await;
                        run.latencies.push(t.elapsed());
                    }
                    Ok(r) => *run.errors.entry(r.status().as_u16()).or_default() += 1,
                    Err(_) => *run.errors.entry(0).or_default() += 1,
                }
            }
            run
        });
    }
    let mut all = Run::default();
    while let Some(part) = tasks.join_next().await {
        let part = part.expect("a load task");
        all.latencies.extend(part.latencies);
        for (k, v) in part.errors {
            *all.errors.entry(k).or_default() += v;
        }
    }
    all.wall = start.elapsed();
    all.latencies.sort();
    all
}

/// Submits reports `0..n` (each with `extra` indicators of its own) through `api`,
/// `concurrency` at a time; fails unless each is accepted.
pub async fn submit_reports(
    api: &Api,
    n: usize,
    extra: usize,
    concurrency: usize,
) -> anyhow::Result<()> {
    let api = api.clone();
    let submit = move |http: &reqwest::Client, body: Vec<u8>| {
        api.request(http, reqwest::Method::POST, "/reports")
            .header("content-type", "application/json")
            .body(body)
    };
    let reports: Vec<Vec<u8>> = (0..n as u64)
        .map(|i| report(i, extra).to_string().into_bytes())
        .collect();
    let run = drive(reports, concurrency, submit, |s| s == 201 || s == 200).await;
    anyhow::ensure!(
        run.failed() == 0,
        "{} reports were not accepted: {:?}",
        run.failed(),
        run.errors
    );
    Ok(())
}

/// Shares reports `0..n` (as [`submit_reports`] made them) with `peers` through `api`,
/// `concurrency` share calls at a time.
pub async fn share_reports(api: &Api, n: usize, peers: &[String], concurrency: usize) -> Run {
    let api = api.clone();
    let to = json!({ "peers": peers }).to_string();
    let share = move |http: &reqwest::Client, id: Vec<u8>| {
        let id = String::from_utf8_lossy(&id);
        api.request(
            http,
            reqwest::Method::POST,
            &format!("/reports/EVT-BENCH-{id}/share"),
        )
        .header("content-type", "application/json")
        .body(to.clone())
    };
    let ids: Vec<Vec<u8>> = (0..n as u64).map(|i| i.to_string().into_bytes()).collect();
    drive(ids, concurrency, share, |s| s == 200).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_pick_the_ranked_sample() {
        let lat: Vec<Duration> = (1..=1000).map(Duration::from_millis).collect();
        assert_eq!(quantile_ms(&lat, 0.5), 500.0);
        assert_eq!(quantile_ms(&lat, 0.99), 990.0);
        assert_eq!(quantile_ms(&lat, 0.999), 999.0);
        assert_eq!(quantile_ms(&lat, 1.0), 1000.0);
        assert!(quantile_ms(&[], 0.5).is_nan());
    }

    #[test]
    fn each_bench_report_is_its_own_and_reaches_the_size_asked() {
        let team = irtx::team::Team::new("bench-peer-0".parse().unwrap(), "Bench");
        let (extra, n) = extra_for(43, &team);
        assert!(n >= 43, "{n} objects");
        let a = bundle(1, extra, &team).to_string();
        let b = bundle(2, extra, &team).to_string();
        assert_ne!(a, b);
        assert!(
            !b.contains("10.0.0.64\""),
            "report 2's indicators are its own"
        );
    }
}
