//! `irtx-bench taxii` and `irtx-bench import`: the paths by which documents reach a gateway
//! and leave it besides signed messages. A TAXII client posts envelopes into its inbox
//! collection and reads what was shared with it from its `shared` collection; files of STIX
//! bundles are imported with the gateway stopped (`irtx import DIR`) and through the running
//! gateway (`POST /api/v1/imports`).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use clap::Args;
use serde_json::{json, Value};

use crate::gateway::{dir_size, Gateway};
use crate::load;
use crate::{print_run, print_server, Bundle, UNLIMITED};

/// The TAXII 2.1 media type, sent and asked for.
const TAXII: &str = "application/taxii+json;version=2.1";

#[derive(Debug, Args)]
pub struct TaxiiArgs {
    /// Envelopes (one STIX bundle's objects each) posted to the client's inbox collection.
    #[arg(long, default_value_t = 1000)]
    inbox: usize,
    /// Reports shared with the client (published into its `shared` collection), then read
    /// back whole by TAXII.
    #[arg(long, short = 'n', default_value_t = 1000)]
    reports: usize,
    /// Requests in flight while posting and sharing.
    #[arg(long, short = 'c', default_value_t = 16)]
    concurrency: usize,
    /// Objects a page asks for when the collection is read whole (`limit`; at most 1,000).
    #[arg(long, default_value_t = 1000)]
    limit: usize,
    /// Then time this many reads of each: a poll that finds nothing new (`added_after` the
    /// last object), one object by id, a page of the manifest.
    #[arg(long, default_value_t = 200)]
    polls: usize,
    #[command(flatten)]
    bundle: Bundle,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Files (one STIX bundle each) imported with the gateway stopped, then as many other
    /// files through the running gateway.
    #[arg(long, short = 'n', default_value_t = 1000)]
    files: usize,
    /// Import requests in flight through the running gateway.
    #[arg(long, short = 'c', default_value_t = 4)]
    concurrency: usize,
    #[command(flatten)]
    bundle: Bundle,
}

/// A TAXII client's view of a gateway: its collections' URLs and its token.
struct Client {
    http: reqwest::Client,
    root: String,
    token: String,
}

impl Client {
    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{path}", self.root))
            .bearer_auth(&self.token)
            .header("accept", TAXII)
    }

    /// A GET that must answer 200: its body and `X-TAXII-Date-Added-Last`, timed.
    async fn read(&self, path: &str) -> Result<(Value, Option<String>, Duration)> {
        let t = Instant::now();
        let r = self.get(path).send().await?;
        let status = r.status();
        let last = r
            .headers()
            .get("x-taxii-date-added-last")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = r.bytes().await?;
        let took = t.elapsed();
        if status != reqwest::StatusCode::OK {
            bail!("GET {path}: {status}: {}", String::from_utf8_lossy(&body));
        }
        Ok((serde_json::from_slice(&body)?, last, took))
    }

    /// Every page of `path` (objects or manifest) with `limit`, following `next`: the
    /// items' ids, the last page's `X-TAXII-Date-Added-Last`, and each page's latency.
    async fn read_all(
        &self,
        path: &str,
        field: &str,
        limit: usize,
    ) -> Result<(Vec<String>, Option<String>, Vec<Duration>)> {
        let (mut ids, mut last, mut lat) = (Vec::new(), None, Vec::new());
        let mut next: Option<String> = None;
        loop {
            let page = match &next {
                None => format!("{path}?limit={limit}"),
                Some(n) => format!("{path}?limit={limit}&next={n}"),
            };
            let (v, added_last, took) = self.read(&page).await?;
            lat.push(took);
            let items = v[field].as_array().map(Vec::as_slice).unwrap_or_default();
            ids.extend(
                items
                    .iter()
                    .filter_map(|o| o["id"].as_str().map(str::to_string)),
            );
            last = added_last.or(last);
            match (v["more"].as_bool(), v["next"].as_str()) {
                (Some(true), Some(n)) => next = Some(n.to_string()),
                (Some(true), None) => bail!("{page}: more, and no next"),
                _ => break,
            }
            ensure!(lat.len() < 1_000_000, "{path}: a million pages and more");
        }
        lat.sort();
        Ok((ids, last, lat))
    }
}

/// Reads timed one after another, as a latency line.
fn timed_line(mut lat: Vec<Duration>) -> String {
    lat.sort();
    load::latency_line(&lat)
}

pub async fn taxii(irtx: &Path, dir: &Path, a: TaxiiArgs) -> Result<()> {
    let mut gw = Gateway::init(irtx, dir, "bench-taxii")?;
    gw.serve(&UNLIMITED).await?;
    let http = reqwest::Client::new();
    let peer = "bench-client";
    let added = gw
        .api(&http, reqwest::Method::POST, "/peers")
        .json(
            &json!({"id": peer, "transport": "taxii-pull", "max_tlp": "AMBER",
                      "audience": "community", "profile": "pseudonymize"}),
        )
        .send()
        .await?;
    ensure!(
        added.status().is_success(),
        "adding the TAXII client: {}",
        added.status()
    );
    let issued: Value = gw
        .api(
            &http,
            reqwest::Method::POST,
            &format!("/peers/{peer}/token"),
        )
        .send()
        .await?
        .json()
        .await?;
    let client = Client {
        http: http.clone(),
        root: format!("{}/taxii2/irtx/collections/", gw.url),
        token: issued["token"]
            .as_str()
            .context("the client's token")?
            .to_string(),
    };
    let team = irtx::team::Team::new(peer.parse()?, "Bench client");
    let (extra, per) = load::extra_for(a.bundle.objects, &team);

    // (1) The inbox: each envelope checked as an inbound document and imported (202, its
    // final status), durably.
    let envelopes: Vec<Vec<u8>> = (0..a.inbox as u64)
        .map(|i| {
            json!({"objects": load::bundle(i, extra, &team)["objects"]})
                .to_string()
                .into_bytes()
        })
        .collect();
    let u0 = gw.usage()?;
    let post = {
        let (url, token) = (
            format!("{}inbox/objects/", client.root),
            client.token.clone(),
        );
        move |http: &reqwest::Client, body: Vec<u8>| {
            http.post(&url)
                .bearer_auth(&token)
                .header("content-type", TAXII)
                .header("accept", TAXII)
                .body(body)
        }
    };
    let inbox = load::drive(envelopes, a.concurrency, post, |s| s == 202).await;
    let u1 = gw.usage()?;
    if a.inbox > 0 {
        print_run(
            &format!("TAXII inbox, concurrency {}", a.concurrency),
            &inbox,
            per,
            "envelopes",
        );
        print_server("server", u0, u1, inbox.wall, dir_size(&gw.data_dir()));
    }
    ensure!(
        inbox.failed() == 0,
        "envelopes not accepted: {:?}",
        inbox.errors
    );

    // (2) Sharing with the client: each report decided, anonymized for it and published
    // into its collection (ledger `published`); submitted first, untimed.
    let api = gw.api_handle();
    load::submit_reports(&api, a.reports, extra, a.concurrency).await?;
    let u2 = gw.usage()?;
    let shares = load::share_reports(&api, a.reports, &[peer.to_string()], a.concurrency).await;
    let u3 = gw.usage()?;
    print_run(
        &format!(
            "shared with the TAXII client (published), concurrency {}",
            a.concurrency
        ),
        &shares,
        per,
        "reports",
    );
    print_server("server", u2, u3, shares.wall, dir_size(&gw.data_dir()));
    ensure!(
        shares.failed() == 0,
        "shares that failed: {:?}",
        shares.errors
    );

    // (3) The client reads its collection whole, page by page.
    let t = Instant::now();
    let (objects, last, pages) = client
        .read_all("shared/objects/", "objects", a.limit)
        .await?;
    let wall = t.elapsed();
    let u4 = gw.usage()?;
    // Objects every disclosure shares (identities, markings) are held once; each report's
    // own are its own. No page skips or repeats one.
    let distinct: std::collections::HashSet<&String> = objects.iter().collect();
    ensure!(
        distinct.len() == objects.len() && objects.len() > a.reports,
        "the collection read back holds {} objects, {} distinct, for {} reports",
        objects.len(),
        distinct.len(),
        a.reports
    );
    println!(
        "TAXII read of the whole collection, limit {}: {} objects in {} pages, {:.2} s: {:.0} objects/s",
        a.limit,
        objects.len(),
        pages.len(),
        wall.as_secs_f64(),
        objects.len() as f64 / wall.as_secs_f64()
    );
    println!("  page latency {}", load::latency_line(&pages));
    print_server("server", u3, u4, wall, dir_size(&gw.data_dir()));

    // (4) What a client polling on a schedule asks, one request at a time.
    if a.polls > 0 {
        let last = last.context("no X-TAXII-Date-Added-Last on the last page")?;
        let after = urlencoding(&last);
        let mut lat = Vec::new();
        for _ in 0..a.polls {
            let (v, _, took) = client
                .read(&format!("shared/objects/?added_after={after}"))
                .await?;
            ensure!(
                v["objects"].as_array().is_none_or(Vec::is_empty),
                "a poll after the last object found some"
            );
            lat.push(took);
        }
        println!(
            "a poll that finds nothing new ({} reads): {}",
            a.polls,
            timed_line(lat)
        );
        let mut lat = Vec::new();
        for i in 0..a.polls {
            let id = &objects[(i * 7919) % objects.len()];
            let (v, _, took) = client.read(&format!("shared/objects/{id}/")).await?;
            ensure!(v["objects"][0]["id"] == id.as_str(), "GET object {id}: {v}");
            lat.push(took);
        }
        println!("one object by id ({} reads): {}", a.polls, timed_line(lat));
        let mut lat = Vec::new();
        for _ in 0..a.polls {
            let (v, _, took) = client
                .read(&format!("shared/manifest/?limit={}", a.limit))
                .await?;
            ensure!(
                v["objects"].as_array().is_some_and(|o| !o.is_empty()),
                "an empty manifest"
            );
            lat.push(took);
        }
        println!(
            "the manifest's first page, limit {} ({} reads): {}",
            a.limit,
            a.polls,
            timed_line(lat)
        );
    }
    gw.stop()?;
    // Every envelope posted became an alert; shares make none.
    held_alerts(&gw, inbox.ok() as u64)
}

/// `added_after`'s timestamp made safe in a query (its `+` and `:`).
fn urlencoding(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub async fn import(irtx: &Path, dir: &Path, a: ImportArgs) -> Result<()> {
    let mut gw = Gateway::init(irtx, dir, "bench-import")?;
    let team = irtx::team::Team::new("bench-source".parse()?, "Bench source");
    let (extra, per) = load::extra_for(a.bundle.objects, &team);
    // Every file a bundle of its own report (nothing is a duplicate).
    let files = dir.join("import-files");
    std::fs::create_dir_all(&files)?;
    let mut online = Vec::new();
    for i in 0..(2 * a.files) as u64 {
        let body = load::bundle(i, extra, &team).to_string().into_bytes();
        if i < a.files as u64 {
            std::fs::write(files.join(format!("bundle-{i}.json")), body)?;
        } else {
            online.push(body);
        }
    }
    let bytes = dir_size(&files);
    println!(
        "wrote {} bundles of {per} objects ({:.0} KB each) to import",
        2 * a.files,
        bytes as f64 / a.files.max(1) as f64 / 1e3
    );

    // (1) With the gateway stopped: `irtx import DIR`, straight into the store.
    let t = Instant::now();
    let out = Command::new(irtx)
        .arg("--config")
        .arg(gw.config())
        .arg("import")
        .arg(&files)
        .output()
        .context("running irtx import")?;
    let wall = t.elapsed();
    let text = String::from_utf8_lossy(&out.stdout);
    let summary = text.lines().last().unwrap_or_default();
    ensure!(
        out.status.success(),
        "irtx import: {}{}",
        summary,
        String::from_utf8_lossy(&out.stderr)
    );
    println!(
        "irtx import of {} files, the gateway stopped: {:.2} s, {:.0} files/s ({:.0} objects/s); {summary}",
        a.files,
        wall.as_secs_f64(),
        a.files as f64 / wall.as_secs_f64(),
        (a.files * per) as f64 / wall.as_secs_f64()
    );

    // (2) Through the running gateway, one file a request.
    gw.serve(&UNLIMITED).await?;
    let u0 = gw.usage()?;
    let seq = std::sync::atomic::AtomicUsize::new(0);
    let post = {
        let api = gw.api_handle();
        move |http: &reqwest::Client, body: Vec<u8>| {
            let i = seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            api.request(
                http,
                reqwest::Method::POST,
                &format!("/imports?file=online-{i}.json"),
            )
            .header("content-type", "application/json")
            .body(body)
        }
    };
    let run = load::drive(online, a.concurrency, post, |s| s == 200).await;
    let u1 = gw.usage()?;
    print_run(
        &format!(
            "POST /api/v1/imports, the gateway serving, concurrency {}",
            a.concurrency
        ),
        &run,
        per,
        "files",
    );
    print_server("server", u0, u1, run.wall, dir_size(&gw.data_dir()));
    ensure!(run.failed() == 0, "imports that failed: {:?}", run.errors);
    gw.stop()?;
    held_alerts(&gw, (a.files + run.ok()) as u64)
}

/// Says how many alerts the stopped gateway's store holds; fails unless it is `want`.
fn held_alerts(gw: &Gateway, want: u64) -> Result<()> {
    let held = gw.open_store()?.alert_count()?;
    println!("the store holds {held} alerts");
    ensure!(held == want, "the store holds {held} alerts, not {want}");
    Ok(())
}
