//! `irtx-bench`: the load generator. It drives real gateways (`irtx serve` processes, set up
//! with `irtx init` and `irtx peer add`) on loopback only, and prints throughput, latency
//! percentiles, errors, the servers' CPU and peak resident memory, and the store's size.
//!
//! - `inbound`: simulated peers post pre-signed messages to one gateway;
//! - `inbound --fill N`: first N alerts are written into its store, then the same;
//! - `outbound`: one gateway shares reports with receivers that answer with signed receipts;
//! - `compare`: the same messages into a TAXII 2.1 server (medallion) and into irtx, at
//!   growing store sizes (scripts/medallion-compare.sh starts medallion);
//! - `taxii`: a TAXII client posts into its inbox collection and reads its shared one;
//! - `import`: files of STIX bundles imported offline and through the running gateway.
//!
//! Every run is bounded by the counts given. README "Performance" shows the figures.

mod gateway;
mod load;
mod taxii;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use gateway::{dir_size, sum_counter, Gateway, Usage};
use load::{Run, Sender};
use serde_json::json;

/// Load generator for irtx: drives real `irtx serve` processes on loopback and prints
/// throughput, latency (p50/p90/p99/p99.9), errors, server CPU, peak RSS and store size.
#[derive(Debug, Parser)]
#[command(name = "irtx-bench", version)]
struct Cli {
    /// The irtx binary to run (default: the `irtx` beside this program).
    #[arg(long, global = true, value_name = "PATH")]
    irtx: Option<PathBuf>,
    /// Keep the gateways' directories here (default: a temporary directory, removed after).
    #[arg(long, global = true, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// What to measure.
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Simulated peers post pre-signed messages to one gateway (durable: each answer is a
    /// signed receipt for an import already flushed to disk).
    Inbound(InboundArgs),
    /// One gateway shares reports with receiver gateways; counts messages delivered with
    /// verified receipts, then times single pushes on an idle system.
    Outbound(OutboundArgs),
    /// The same messages into a TAXII 2.1 collection and into irtx, at each store size:
    /// objects per second of each and their ratio.
    Compare(CompareArgs),
    /// Inbound into 1, 2, 3... gateways of one team sharing one PostgreSQL database
    /// (scripts/scale-bench.sh starts a temporary PostgreSQL server): each step in a new
    /// database, messages spread round-robin over the gateways.
    Scale(ScaleArgs),
    /// A TAXII 2.1 client of one gateway posts envelopes into its inbox collection, is
    /// shared reports (published into its collection), then reads that collection whole and
    /// polls it.
    Taxii(taxii::TaxiiArgs),
    /// STIX bundle files imported with the gateway stopped (`irtx import DIR`), then as
    /// many through the running gateway (`POST /api/v1/imports`).
    Import(taxii::ImportArgs),
}

#[derive(Debug, Args)]
struct ScaleArgs {
    /// A PostgreSQL server URL whose user may create databases
    /// (`postgres://USER@127.0.0.1:PORT/postgres`).
    #[arg(long, value_name = "URL")]
    postgres: String,
    /// Gateways at each step, comma separated.
    #[arg(long, default_value = "1,2,3", value_delimiter = ',')]
    instances: Vec<usize>,
    /// Messages at each step.
    #[arg(long, short = 'n', default_value_t = 2000)]
    messages: usize,
    /// Requests in flight.
    #[arg(long, short = 'c', default_value_t = 16)]
    concurrency: usize,
    /// Simulated peers.
    #[arg(long, default_value_t = 8)]
    peers: usize,
    /// The PostgreSQL server's process id (its postmaster): its CPU and its backends' is
    /// reported too.
    #[arg(long, value_name = "PID")]
    server_pid: Option<u32>,
    #[command(flatten)]
    bundle: Bundle,
}

#[derive(Debug, Args)]
struct Bundle {
    /// Objects in each message's STIX bundle (at least; indicators are added to reach it).
    #[arg(long, default_value_t = 43)]
    objects: usize,
}

#[derive(Debug, Args)]
struct InboundArgs {
    /// Messages to send.
    #[arg(long, short = 'n', default_value_t = 3000)]
    messages: usize,
    /// Requests in flight.
    #[arg(long, short = 'c', default_value_t = 16)]
    concurrency: usize,
    /// Simulated peers (each with its own key; messages are spread over them).
    #[arg(long, default_value_t = 8)]
    peers: usize,
    /// First write this many alerts into the gateway's store (stopped), then start it and
    /// send: how it fares once full.
    #[arg(long, default_value_t = 0)]
    fill: u64,
    /// The filled alerts' bundles: 1 for a bundle holding only its report container (small:
    /// a million full-size alerts take about 60 GB in sled 0.34), otherwise as `--objects`.
    #[arg(long, value_name = "N")]
    fill_objects: Option<usize>,
    /// Then time each analyst page and list endpoint this many times.
    #[arg(long, default_value_t = 5)]
    page_reads: usize,
    #[command(flatten)]
    bundle: Bundle,
}

#[derive(Debug, Args)]
struct OutboundArgs {
    /// Reports to submit and share with every receiver.
    #[arg(long, short = 'n', default_value_t = 1000)]
    reports: usize,
    /// Receiver gateways.
    #[arg(long, default_value_t = 3)]
    receivers: usize,
    /// Share requests in flight.
    #[arg(long, short = 'c', default_value_t = 8)]
    concurrency: usize,
    /// Single pushes timed one at a time afterwards (submit to verified receipt).
    #[arg(long, default_value_t = 200)]
    idle: usize,
    /// The receivers' anonymization profile.
    #[arg(long, default_value = "pseudonymize")]
    profile: String,
    #[command(flatten)]
    bundle: Bundle,
}

#[derive(Debug, Args)]
struct CompareArgs {
    /// The TAXII 2.1 collection's URL (ending in `/`); objects are posted to `{URL}objects/`.
    #[arg(long, value_name = "URL")]
    taxii: String,
    /// HTTP Basic user and password for it, as USER:PASSWORD.
    #[arg(long, value_name = "USER:PASSWORD")]
    auth: String,
    /// Stored objects before each timed step, comma separated.
    #[arg(long, default_value = "0,10000,20000", value_delimiter = ',')]
    stored: Vec<usize>,
    /// Messages timed at each step, on each side.
    #[arg(long, short = 'n', default_value_t = 40)]
    messages: usize,
    /// Messages timed at each step on irtx (more: it is faster; default: `--messages`).
    #[arg(long)]
    irtx_messages: Option<usize>,
    /// Requests in flight.
    #[arg(long, short = 'c', default_value_t = 16)]
    concurrency: usize,
    #[command(flatten)]
    bundle: Bundle,
}

/// The receiver's settings for a bench: no per-peer rate limit or storage quota (they would
/// measure the policy, not the gateway); everything else as configured by `irtx init`.
const UNLIMITED: [(&str, &str); 2] = [
    ("IRTX_EXCHANGE__MAX_MESSAGES_PER_MINUTE", "0"),
    ("IRTX_EXCHANGE__MAX_BYTES_PER_PEER", "0"),
];

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("irtx-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    let irtx = match cli.irtx {
        Some(p) => p,
        None => std::env::current_exe()?
            .parent()
            .context("this program's directory")?
            .join("irtx"),
    };
    if !irtx.is_file() {
        bail!(
            "no irtx binary at {} (build it, or give --irtx PATH)",
            irtx.display()
        );
    }
    let temp;
    let dir = match cli.dir {
        Some(d) => {
            std::fs::create_dir_all(&d)?;
            d
        }
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_path_buf()
        }
    };
    println!(
        "irtx-bench: {} on {} CPUs; gateways in {}",
        irtx.display(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        dir.display()
    );
    match cli.mode {
        Mode::Inbound(a) => inbound(&irtx, &dir, a).await,
        Mode::Outbound(a) => outbound(&irtx, &dir, a).await,
        Mode::Compare(a) => compare(&irtx, &dir, a).await,
        Mode::Scale(a) => scale(&irtx, &dir, a).await,
        Mode::Taxii(a) => taxii::taxii(&irtx, &dir, a).await,
        Mode::Import(a) => taxii::import(&irtx, &dir, a).await,
    }
}

/// A receiver with `peers` simulated senders added, not yet serving; `env` on top of its
/// config for every command it runs.
fn receiver_with_senders(
    irtx: &std::path::Path,
    dir: &std::path::Path,
    peers: usize,
    env: Vec<(String, String)>,
) -> Result<(Gateway, Vec<Sender>)> {
    let mut gw = Gateway::init(irtx, dir, "bench-receiver")?;
    gw.env = env;
    let senders: Vec<Sender> = (0..peers.max(1)).map(Sender::new).collect();
    for s in &senders {
        gw.add_peer(s.id.as_str(), "http://127.0.0.1:9", &s.jwk(), "none")?;
    }
    Ok((gw, senders))
}

/// `n` messages spread over `senders`, each a bundle of its own (sequence from `first`).
fn messages(
    senders: &[Sender],
    to: &irtx::team::TeamId,
    first: u64,
    n: usize,
    objects: usize,
) -> (Vec<Vec<u8>>, usize) {
    let team = irtx::team::Team::new(senders[0].id.clone(), "Bench peer");
    let (extra, count) = load::extra_for(objects, &team);
    let bodies = (0..n as u64)
        .map(|i| {
            let s = &senders[i as usize % senders.len()];
            let team = irtx::team::Team::new(s.id.clone(), "Bench peer");
            s.seal(load::bundle(first + i, extra, &team), to)
        })
        .collect();
    (bodies, count)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// A run's counts and rate (`unit`s a second, and objects: `objects` a unit), and its
/// latency.
fn print_run(what: &str, run: &Run, objects: usize, unit: &str) {
    println!(
        "{what}: {} ok, {} failed {:?} in {:.2} s: {:.0} {unit}/s ({:.0} objects/s)",
        run.ok(),
        run.failed(),
        run.errors,
        run.wall.as_secs_f64(),
        run.rate(),
        run.rate() * objects as f64
    );
    println!("  latency {}", run.latency_line());
}

/// The histogram of a gateway's disk flushes (group commit: one covers every write waiting
/// for it): how many, and how long they took.
const FLUSH_SECONDS: &str = "irtx_store_flush_seconds";

/// What a gateway's `/metrics` says of its store's disk flushes that wrote something, or
/// the difference between two such readings.
#[derive(Debug, Clone, Default)]
struct Flushes {
    /// How many.
    count: f64,
    /// The seconds they took, together.
    seconds: f64,
    /// (a bound in seconds, how many took at most that), the bounds increasing.
    within: Vec<(f64, f64)>,
}

impl Flushes {
    /// Reads a gateway's flushes now.
    async fn read(http: &reqwest::Client, g: &Gateway) -> Result<Self> {
        Ok(Self::parse(&g.metrics(http).await?))
    }

    /// The flushes `/metrics` text says of (none, from a store that does not time them).
    fn parse(text: &str) -> Self {
        let bucket = format!("{FLUSH_SECONDS}_bucket{{le=\"");
        let within = text
            .lines()
            .filter_map(|l| {
                let (le, n) = l.strip_prefix(&bucket)?.split_once("\"} ")?;
                Some((le.parse().ok()?, n.trim().parse().ok()?))
            })
            .collect();
        Flushes {
            count: sum_counter(text, &format!("{FLUSH_SECONDS}_count"), ""),
            seconds: sum_counter(text, &format!("{FLUSH_SECONDS}_sum"), ""),
            within,
        }
    }

    /// Each of these gateways' flushes now.
    async fn read_all(
        http: &reqwest::Client,
        gateways: impl IntoIterator<Item = &Gateway>,
    ) -> Result<Vec<Self>> {
        let mut out = Vec::new();
        for g in gateways {
            out.push(Self::read(http, g).await?);
        }
        Ok(out)
    }

    /// The flushes run between `before` and these.
    fn since(&self, before: &Flushes) -> Flushes {
        Flushes {
            count: self.count - before.count,
            seconds: self.seconds - before.seconds,
            within: self
                .within
                .iter()
                .map(|(le, n)| {
                    let was = before
                        .within
                        .iter()
                        .find(|(b, _)| b == le)
                        .map_or(0.0, |b| b.1);
                    (*le, n - was)
                })
                .collect(),
        }
    }

    /// The smallest bound that every flush stayed within (seconds), if one did (`+Inf`, the
    /// last, is no bound).
    fn slowest_within(&self) -> Option<f64> {
        self.within
            .iter()
            .find(|(le, n)| le.is_finite() && *n >= self.count)
            .map(|(le, _)| *le)
    }

    /// How many took longer than `bound` seconds (one of the histogram's bounds).
    fn over(&self, bound: f64) -> f64 {
        self.within
            .iter()
            .find(|(le, _)| *le == bound)
            .map_or(0.0, |(_, n)| self.count - n)
    }

    fn print(&self, what: &str, messages: f64) {
        let slowest = match self.slowest_within() {
            Some(s) => format!("the slowest within {:.1} ms", s * 1e3),
            None => "the slowest beyond the histogram's last bound".to_string(),
        };
        println!(
            "  {what}: {:.0} disk flushes, {:.2} a message; {:.2} ms each on average, {slowest}, {:.0} over 10 ms",
            self.count,
            self.count / messages.max(1.0),
            self.seconds * 1e3 / self.count.max(1.0),
            self.over(0.01)
        );
    }
}

fn print_server(what: &str, before: Usage, after: Usage, wall: Duration, store: u64) {
    println!(
        "  {what}: CPU {:.2} s ({:.2} cores), peak RSS {:.1} MiB, wrote {:.1} MiB, store {:.1} MiB",
        after.cpu_s - before.cpu_s,
        (after.cpu_s - before.cpu_s) / wall.as_secs_f64().max(1e-9),
        mib(after.peak_rss),
        mib(after.written.saturating_sub(before.written)),
        mib(store)
    );
}

async fn inbound(irtx: &std::path::Path, dir: &std::path::Path, a: InboundArgs) -> Result<()> {
    let (mut gw, senders) = receiver_with_senders(irtx, dir, a.peers, Vec::new())?;
    let to: irtx::team::TeamId = gw.team.parse()?;
    if a.fill > 0 {
        fill(
            &gw,
            &senders,
            a.fill,
            a.fill_objects.unwrap_or(a.bundle.objects),
        )?;
    }
    let t = Instant::now();
    let (bodies, objects) = messages(&senders, &to, a.fill, a.messages, a.bundle.objects);
    println!(
        "signed {} messages of {objects} objects ({} bytes each) from {} peers in {:.2} s",
        bodies.len(),
        bodies.first().map_or(0, Vec::len),
        senders.len(),
        t.elapsed().as_secs_f64()
    );
    gw.serve(&UNLIMITED).await?;
    let http = reqwest::Client::new();
    let flushes = Flushes::read(&http, &gw).await?;
    let before = gw.usage()?;
    let url = format!("{}/exchange/v1/messages", gw.url);
    let run = Sink::Irtx { urls: vec![url] }
        .send(bodies, a.concurrency)
        .await;
    let after = gw.usage()?;
    let flushes = Flushes::read(&http, &gw).await?.since(&flushes);
    print_run(
        &format!(
            "inbound, concurrency {}, {} stored before",
            a.concurrency, a.fill
        ),
        &run,
        objects,
        "messages",
    );
    if a.page_reads > 0 {
        pages(&gw, a.page_reads, (a.fill + a.messages as u64) / 2).await?;
    }
    gw.stop()?;
    print_server("server", before, after, run.wall, dir_size(&gw.data_dir()));
    flushes.print("server", run.ok() as f64);
    if run.failed() > 0 {
        bail!("{} messages were not accepted", run.failed());
    }
    // What the gateway holds now: every filled alert and every message accepted.
    let held = gw.open_store()?.alert_count()?;
    println!("the store holds {held} alerts");
    if held != a.fill + run.ok() as u64 {
        bail!(
            "the store holds {held} alerts, not the {} filled and accepted",
            a.fill + run.ok() as u64
        );
    }
    Ok(())
}

/// Makes database `name` on the server at `url` (dropping one left by an earlier run);
/// returns its URL.
async fn fresh_database(url: &str, name: &str) -> Result<String> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .with_context(|| {
            format!(
                "connecting to {}",
                irtx::store::postgres_store::redacted(url)
            )
        })?;
    tokio::spawn(conn);
    // One statement each: neither runs inside a transaction block.
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
        .await?;
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await?;
    let mut u = url::Url::parse(url)?;
    u.set_path(&format!("/{name}"));
    Ok(u.to_string())
}

async fn scale(irtx: &std::path::Path, dir: &std::path::Path, a: ScaleArgs) -> Result<()> {
    for &n in &a.instances {
        let db = fresh_database(&a.postgres, &format!("irtx_scale_{n}")).await?;
        let step = dir.join(format!("scale-{n}"));
        std::fs::create_dir_all(&step)?;
        let (mut gw, senders) = receiver_with_senders(
            irtx,
            &step,
            a.peers,
            vec![
                ("IRTX_STORE__BACKEND".into(), "postgres".into()),
                ("IRTX_STORE__URL".into(), db),
            ],
        )?;
        let to: irtx::team::TeamId = gw.team.parse()?;
        let (bodies, objects) = messages(&senders, &to, 0, a.messages, a.bundle.objects);
        gw.serve(&UNLIMITED).await?;
        let mut urls = vec![gw.url.clone()];
        for _ in 1..n.max(1) {
            urls.push(gw.serve_another(&UNLIMITED).await?);
        }
        let before = gw.usage()?;
        let db_before = a.server_pid.map(gateway::tree_cpu_s).transpose()?;
        let inboxes = urls
            .iter()
            .map(|u| format!("{u}/exchange/v1/messages"))
            .collect();
        let run = Sink::Irtx { urls: inboxes }
            .send(bodies, a.concurrency)
            .await;
        let after = gw.usage()?;
        let db_after = a.server_pid.map(gateway::tree_cpu_s).transpose()?;
        print_run(
            &format!(
                "{n} gateway(s) on one PostgreSQL, concurrency {}",
                a.concurrency
            ),
            &run,
            objects,
            "messages",
        );
        gw.stop()?;
        print_server("gateways (CPU summed)", before, after, run.wall, 0);
        if let (Some(b), Some(e)) = (db_before, db_after) {
            let per = |s: f64| s * 1000.0 / run.ok().max(1) as f64;
            println!(
                "  PostgreSQL: CPU {:.2} s ({:.2} cores); per message: PostgreSQL {:.2} ms, gateways {:.2} ms",
                e - b,
                (e - b) / run.wall.as_secs_f64().max(1e-9),
                per(e - b),
                per(after.cpu_s - before.cpu_s)
            );
        }
        let held = gw.open_store()?.alert_count()?;
        println!("  the database holds {held} alerts");
        if run.failed() > 0 || held != run.ok() as u64 {
            bail!(
                "{} messages were not accepted; the database holds {held} alerts for {} accepted",
                run.failed(),
                run.ok()
            );
        }
    }
    Ok(())
}

/// Writes `n` alerts straight into the stopped gateway's store, as the import of verified
/// messages would: each a bundle of its own report from one of `senders`, through the
/// store's own `import` (dedup records, quotas, metadata and all), from several threads.
fn fill(gw: &Gateway, senders: &[Sender], n: u64, objects: usize) -> Result<()> {
    use irtx::store::{Alert, AlertSource};
    let store = gw.open_store()?;
    let to: irtx::team::TeamId = gw.team.parse()?;
    // One sealed template per sender; each alert gets its own ids and report id.
    let (extra, _) = load::extra_for(objects, &irtx::team::Team::new(to.clone(), "Bench"));
    let templates: Vec<Alert> = senders
        .iter()
        .map(|s| {
            let team = irtx::team::Team::new(s.id.clone(), "Bench peer");
            let doc = if objects <= 1 {
                load::container_only(&team)
            } else {
                load::bundle(u64::MAX / 128, extra, &team)
            };
            let sealed = s.sealed(doc, &to);
            let message = sealed.message;
            Alert {
                id: String::new(),
                source: AlertSource::Peer {
                    sender: s.id.clone(),
                    kid: irtx::envelope::thumbprint(&s.key.verifying_key()),
                    message_id: message.id,
                    jws: sealed.jws,
                },
                received_at: irtx::timestamp::rfc3339(time::OffsetDateTime::now_utc()),
                sha256: String::new(),
                tlp: irtx::tlp::Tlp::Amber,
                format: irtx::store::AlertFormat::Stix,
                document: message.document,
                retracted: None,
            }
        })
        .collect();
    // Counted first, as a gateway's first start counts its alerts (none yet): from then on
    // each import keeps the count in the store, and a start does not walk the alerts.
    store.alert_count()?;
    let store = Arc::new(store);
    let done = std::sync::atomic::AtomicU64::new(0);
    let t = Instant::now();
    let threads = 8u64;
    std::thread::scope(|scope| -> Result<()> {
        let mut handles = Vec::new();
        for w in 0..threads {
            let (store, templates, done) = (store.clone(), &templates, &done);
            handles.push(scope.spawn(move || -> Result<()> {
                let mut i = w;
                while i < n {
                    let mut alert = templates[(i % templates.len() as u64) as usize].clone();
                    let uuid = uuid::Uuid::new_v4();
                    alert.id = uuid.to_string();
                    alert.sha256 = format!("{:064x}", u128::from(i));
                    if let AlertSource::Peer { message_id, .. } = &mut alert.source {
                        *message_id = irtx::envelope::MessageId(uuid);
                    }
                    if let Some(r) = alert.document["objects"]
                        .as_array_mut()
                        .and_then(|o| o.iter_mut().find(|o| o["type"] == "report"))
                    {
                        r["id"] = json!(format!("report--{uuid}"));
                    }
                    store.import(&alert, None)?;
                    let d = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                    if d % (n / 10).max(1) == 0 {
                        eprintln!(
                            "fill: {d} of {n} alerts in {:.0} s",
                            t.elapsed().as_secs_f64()
                        );
                    }
                    i += threads;
                }
                Ok(())
            }));
        }
        for h in handles {
            h.join().expect("a fill thread")?;
        }
        Ok(())
    })?;
    println!(
        "filled {n} alerts in {:.1} s ({:.0}/s), store {:.1} MiB",
        t.elapsed().as_secs_f64(),
        n as f64 / t.elapsed().as_secs_f64(),
        mib(dir_size(&gw.data_dir()))
    );
    Ok(())
}

/// Times the analyst's pages and the list endpoints on a serving gateway, `reads` times
/// each: the median and the slowest.
/// `middle`: a sequence number for a page from the middle of the alerts.
async fn pages(gw: &Gateway, reads: usize, middle: u64) -> Result<()> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let login = http
        .post(format!("{}/ui/login", gw.url))
        .header("origin", &gw.url)
        .form(&[("token", gw.token.as_str())])
        .send()
        .await?;
    let cookie = login
        .headers()
        .get("set-cookie")
        .and_then(|c| c.to_str().ok())
        .and_then(|c| c.split(';').next())
        .context("the login gave no session")?
        .to_string();
    let first: serde_json::Value = gw
        .api(&http, reqwest::Method::GET, "/alerts?limit=100")
        .send()
        .await?
        .json()
        .await?;
    let alert = first[0]["id"].as_str().unwrap_or_default().to_string();
    let api = [
        "/alerts?limit=100".to_string(),
        format!("/alerts?limit=100&after={middle}"),
        format!("/alerts/{alert}"),
        "/disclosures?limit=100".to_string(),
        "/outbox?limit=100".to_string(),
    ];
    let ui = [
        "/ui".to_string(),
        "/ui/alerts".to_string(),
        "/ui/alerts?q=bench-peer-3".to_string(),
        // Found nowhere: the search reads every alert's metadata.
        "/ui/alerts?q=no-such-alert".to_string(),
        format!("/ui/alerts/{alert}"),
        "/ui/reports".to_string(),
        "/ui/disclosures".to_string(),
        "/ui/outbox".to_string(),
        "/ui/inbound".to_string(),
    ];
    println!("pages and lists, median of {reads} reads (slowest):");
    for (path, is_api) in api
        .iter()
        .map(|p| (p, true))
        .chain(ui.iter().map(|p| (p, false)))
    {
        let mut lat = Vec::new();
        for _ in 0..reads {
            let req = if is_api {
                gw.api(&http, reqwest::Method::GET, path)
            } else {
                http.get(format!("{}{path}", gw.url))
                    .header("cookie", &cookie)
            };
            let t = Instant::now();
            let r = req.send().await?;
            let status = r.status();
            let _ = r.bytes().await?;
            if !status.is_success() {
                bail!("GET {path}: {status}");
            }
            lat.push(t.elapsed());
        }
        lat.sort();
        let shown = if is_api {
            format!("/api/v1{path}")
        } else {
            path.clone()
        };
        println!(
            "  {shown}: {:.1} ms ({:.1} ms)",
            load::quantile_ms(&lat, 0.5),
            load::quantile_ms(&lat, 1.0)
        );
    }
    Ok(())
}

async fn outbound(irtx: &std::path::Path, dir: &std::path::Path, a: OutboundArgs) -> Result<()> {
    let mut sender = Gateway::init(irtx, dir, "bench-sender")?;
    let mut receivers = Vec::new();
    for i in 0..a.receivers.max(1) {
        let r = Gateway::init(irtx, dir, &format!("bench-receiver-{i}"))?;
        r.add_peer(&sender.team, &sender.url, &sender.jwk, "none")?;
        sender.add_peer(&r.team, &r.url, &r.jwk, &a.profile)?;
        receivers.push(r);
    }
    for r in &mut receivers {
        r.serve(&UNLIMITED).await?;
    }
    sender.serve(&UNLIMITED).await?;
    let http = reqwest::Client::new();
    let team = irtx::team::Team::new(sender.team.parse()?, "Bench");
    let (extra, objects) = load::extra_for(a.bundle.objects, &team);
    let peers: Vec<String> = receivers.iter().map(|r| r.team.clone()).collect();

    // Submitted first (not timed): what is measured is sharing and delivery.
    let total = a.reports + a.idle;
    let t = Instant::now();
    let api = sender.api_handle();
    load::submit_reports(&api, total, extra, a.concurrency).await?;
    println!(
        "submitted {total} reports (bundles of {objects} objects) in {:.2} s",
        t.elapsed().as_secs_f64()
    );

    let name = "irtx_delivery_attempts_total";
    let delivered = "\"delivered\"";
    let usage = |s: &Gateway, rs: &[Gateway]| -> Result<(Usage, Vec<Usage>)> {
        Ok((
            s.usage()?,
            rs.iter().map(Gateway::usage).collect::<Result<_>>()?,
        ))
    };
    let (s0, r0) = usage(&sender, &receivers)?;
    let f0 = Flushes::read_all(&http, std::iter::once(&sender).chain(&receivers)).await?;
    let start = Instant::now();
    let shares = load::share_reports(&api, a.reports, &peers, a.concurrency).await;
    let want = (a.reports * peers.len()) as f64;
    let until = Instant::now() + Duration::from_secs(600);
    loop {
        let n = sender.counter(&http, name, delivered).await?;
        if n >= want {
            break;
        }
        if Instant::now() > until {
            bail!("only {n} of {want} messages delivered within 600 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let wall = start.elapsed();
    let (s1, r1) = usage(&sender, &receivers)?;
    let f1 = Flushes::read_all(&http, std::iter::once(&sender).chain(&receivers)).await?;
    println!(
        "outbound: {} reports shared with {} receivers: {want} messages delivered with verified receipts in {:.2} s: {:.0} messages/s ({} share calls failed)",
        a.reports,
        peers.len(),
        wall.as_secs_f64(),
        want / wall.as_secs_f64(),
        shares.failed()
    );
    println!("  share call latency {}", shares.latency_line());
    // One push at a time on an otherwise idle system: share to the first receiver, then ask
    // the sender where the message's delivery stands, waiting (`?wait=`) until it is
    // delivered: the answer comes once its receipt is verified and recorded.
    let (mut lat, mut calls) = (Vec::new(), Vec::new());
    let (s2, r2) = (sender.usage()?, receivers[0].usage()?);
    for i in 0..a.idle as u64 {
        let id = a.reports as u64 + i;
        let t = Instant::now();
        let r = sender
            .api(
                &http,
                reqwest::Method::POST,
                &format!("/reports/EVT-BENCH-{id}/share"),
            )
            .header("content-type", "application/json")
            .body(json!({"peers": [&peers[0]]}).to_string())
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("share of EVT-BENCH-{id}: {}", r.status());
        }
        let decisions: serde_json::Value = r.json().await?;
        calls.push(t.elapsed());
        let message = decisions["decisions"][0]["message_id"]
            .as_str()
            .with_context(|| format!("share of EVT-BENCH-{id} queued nothing: {decisions}"))?
            .to_string();
        let m: serde_json::Value = sender
            .api(
                &http,
                reqwest::Method::GET,
                &format!("/messages/{message}/delivery?wait=30"),
            )
            .send()
            .await?
            .json()
            .await?;
        if m["state"] != "delivered" {
            bail!(
                "message {message} not delivered within 30 s: {}",
                m["state"]
            );
        }
        lat.push(t.elapsed());
    }
    lat.sort();
    if !lat.is_empty() {
        println!(
            "idle single push, submit to verified receipt ({} pushes): {}",
            lat.len(),
            load::latency_line(&lat)
        );
        calls.sort();
        println!(
            "  of which the share call (decided, signed, queued): {}",
            load::latency_line(&calls)
        );
        let pushes = lat.len() as f64;
        let each = |b: Usage, a: Usage| {
            format!(
                "{:.2} ms of CPU, {:.1} KB written",
                (a.cpu_s - b.cpu_s) * 1e3 / pushes,
                a.written.saturating_sub(b.written) as f64 / 1e3 / pushes
            )
        };
        println!(
            "  a push costs the sender {}; {} {}",
            each(s2, sender.usage()?),
            receivers[0].team,
            each(r2, receivers[0].usage()?)
        );
        // The two flushes each push waits for: the sender's, before the message leaves;
        // the receiver's, before its receipt.
        let f2 = Flushes::read_all(&http, [&sender, &receivers[0]]).await?;
        f2[0].since(&f1[0]).print("sender", lat.len() as f64);
        f2[1]
            .since(&f1[1])
            .print(&receivers[0].team, lat.len() as f64);
    }
    sender.stop()?;
    println!("the {want} messages delivered:");
    print_server("sender", s0, s1, wall, dir_size(&sender.data_dir()));
    f1[0].since(&f0[0]).print("sender", want);
    let each = a.reports as f64;
    for (((r, b), a), (f1, f0)) in receivers
        .iter_mut()
        .zip(r0)
        .zip(r1)
        .zip(f1[1..].iter().zip(&f0[1..]))
    {
        r.stop()?;
        print_server(&r.team.clone(), b, a, wall, dir_size(&r.data_dir()));
        f1.since(f0).print(&r.team.clone(), each);
    }
    Ok(())
}

/// Where `compare` sends a message: a TAXII collection gets its bundle's objects as an
/// envelope, irtx the signed message itself.
#[derive(Clone)]
enum Sink {
    Taxii {
        objects_url: String,
        user: String,
        password: String,
    },
    /// Gateways' inbox URLs: requests go round-robin over them.
    Irtx { urls: Vec<String> },
}

impl Sink {
    async fn send(&self, bodies: Vec<Vec<u8>>, concurrency: usize) -> Run {
        match self.clone() {
            Sink::Taxii {
                objects_url,
                user,
                password,
            } => {
                let envelopes = bodies.iter().map(|b| envelope(b)).collect();
                let post = move |http: &reqwest::Client, body: Vec<u8>| {
                    http.post(&objects_url)
                        .basic_auth(&user, Some(&password))
                        .header("content-type", "application/taxii+json;version=2.1")
                        .header("accept", "application/taxii+json;version=2.1")
                        .body(body)
                };
                load::drive(envelopes, concurrency, post, |s| s == 202 || s == 200).await
            }
            Sink::Irtx { urls } => {
                let next = std::sync::atomic::AtomicUsize::new(0);
                let post = move |http: &reqwest::Client, body: Vec<u8>| {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    http.post(&urls[i % urls.len()])
                        .header("content-type", "application/jose+json")
                        .body(body)
                };
                load::drive(bodies, concurrency, post, |s| s == 200).await
            }
        }
    }
}

/// A signed message's bundle objects as a TAXII envelope.
fn envelope(body: &[u8]) -> Vec<u8> {
    let jws: irtx::envelope::Jws = serde_json::from_slice(body).expect("our own JWS");
    let opened = irtx::envelope::open(&jws).expect("our own JWS opens");
    let m: irtx::envelope::Message = serde_json::from_slice(&opened.payload).expect("ours");
    json!({"objects": m.document["objects"]})
        .to_string()
        .into_bytes()
}

async fn compare(irtx: &std::path::Path, dir: &std::path::Path, a: CompareArgs) -> Result<()> {
    let (user, password) = a.auth.split_once(':').context("--auth is USER:PASSWORD")?;
    let (mut gw, senders) = receiver_with_senders(irtx, dir, 8, Vec::new())?;
    gw.serve(&UNLIMITED).await?;
    let to: irtx::team::TeamId = gw.team.parse()?;
    // The same bundles both ways.
    let taxii = Sink::Taxii {
        objects_url: format!("{}objects/", a.taxii),
        user: user.to_string(),
        password: password.to_string(),
    };
    let to_irtx = Sink::Irtx {
        urls: vec![format!("{}/exchange/v1/messages", gw.url)],
    };
    let team = irtx::team::Team::new(senders[0].id.clone(), "Bench peer");
    let (_, per) = load::extra_for(a.bundle.objects, &team);
    let mut seq = 0u64;
    let mut next = |n: usize| {
        let (bodies, _) = messages(&senders, &to, seq, n, a.bundle.objects);
        seq += n as u64;
        bodies
    };
    let (mut stored_taxii, mut stored_irtx) = (0usize, 0usize);
    let irtx_n = a.irtx_messages.unwrap_or(a.messages);
    println!(
        "stored objects before (TAXII server / irtx) | TAXII server objects/s | irtx objects/s | ratio"
    );
    for &target in &a.stored {
        // Fill both to `target` objects (not timed).
        for (sink, stored) in [(&taxii, &mut stored_taxii), (&to_irtx, &mut stored_irtx)] {
            if *stored >= target {
                continue;
            }
            let n = (target - *stored).div_ceil(per);
            let run = sink.send(next(n), a.concurrency).await;
            if run.failed() > 0 {
                bail!("filling: {} failed {:?}", run.failed(), run.errors);
            }
            *stored += n * per;
        }
        let on_taxii = taxii.send(next(a.messages), a.concurrency).await;
        let on_irtx = to_irtx.send(next(irtx_n), a.concurrency).await;
        if on_taxii.failed() + on_irtx.failed() > 0 {
            bail!(
                "failed requests: TAXII server {:?}, irtx {:?}",
                on_taxii.errors,
                on_irtx.errors
            );
        }
        let (x, y) = (on_taxii.rate() * per as f64, on_irtx.rate() * per as f64);
        println!(
            "{:>43} | {:>22.0} | {:>14.0} | {:>5.0}x",
            format!("{stored_taxii} / {stored_irtx}"),
            x,
            y,
            y / x
        );
        println!("  TAXII server latency {}", on_taxii.latency_line());
        println!("  irtx latency {}", on_irtx.latency_line());
        stored_taxii += a.messages * per;
        stored_irtx += irtx_n * per;
    }
    gw.stop()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::metrics::histogram::Histogram;

    /// `/metrics` text of flush histogram `h`, as a gateway writes it.
    fn metrics(h: &Histogram) -> String {
        let mut r = prometheus_client::registry::Registry::with_prefix("irtx");
        r.register("store_flush_seconds", "flushes", h.clone());
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &r).unwrap();
        text
    }

    #[test]
    fn flushes_between_two_readings_are_counted_and_the_slowest_is_bounded() {
        let h = Histogram::new([0.001, 0.01, 0.1]);
        h.observe(0.0004);
        let before = Flushes::parse(&metrics(&h));
        assert_eq!((before.count, before.slowest_within()), (1.0, Some(0.001)));
        for s in [0.0003, 0.002, 0.05] {
            h.observe(s);
        }
        let run = Flushes::parse(&metrics(&h)).since(&before);
        assert_eq!(run.count, 3.0);
        assert!((run.seconds - 0.0523).abs() < 1e-9, "{}", run.seconds);
        assert_eq!(run.slowest_within(), Some(0.1));
        assert_eq!((run.over(0.01), run.over(0.001)), (1.0, 2.0));
        h.observe(3.0);
        let slow = Flushes::parse(&metrics(&h)).since(&before);
        assert_eq!(slow.slowest_within(), None, "beyond the last bound");
        // A store that does not time its flushes: nothing.
        let none = Flushes::parse("irtx_store_flushes 12\n");
        assert_eq!((none.count, none.within.len()), (0.0, 0));
    }
}
