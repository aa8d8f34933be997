//! `TestGateway`: a real gateway on 127.0.0.1:0 with its own temp dir, key and store, and a
//! typed method per endpoint (STYLE.md, Testing).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use std::sync::Arc;

use irtx::app::{App, Options};
use irtx::config::Config;
use irtx::federation::clock::ManualClock;
use irtx::federation::Gateway;
use serde_json::{json, Value};
use tokio::sync::oneshot;

pub struct TestGateway {
    pub team: String,
    pub url: String,
    pub token: String,
    pub jwk: Value,
    pub dir: PathBuf,
    pub addr: std::net::SocketAddr,
    /// The services, for stepping the worker with `run_once` (gone after `shutdown`, so
    /// the store is let go).
    gateway: Option<Arc<Gateway>>,
    http: reqwest::Client,
    /// One per instance (one, unless IRTX_TEST_INSTANCES asks for more).
    stop: Vec<oneshot::Sender<()>>,
    done: Vec<tokio::task::JoinHandle<()>>,
    /// The balancer in front of several instances.
    balancer: Option<tokio::task::JoinHandle<()>>,
    /// The PostgreSQL server several instances share (kept for restarts in the same dir).
    _pg: Option<Arc<crate::pg::PgServer>>,
    _tmp: Option<tempfile::TempDir>,
}

/// How many gateway instances each test team runs: `IRTX_TEST_INSTANCES` (default 1). Above
/// one, each team spawned is that many gateways on one PostgreSQL server behind a
/// round-robin balancer (scripts/test.sh runs the federation and fault tests so).
pub fn instances() -> usize {
    std::env::var("IRTX_TEST_INSTANCES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
        .max(1)
}

/// A round-robin TCP balancer on `listener`: each connection goes to the next backend that
/// accepts it. Returns its task and how many connections each backend got.
pub fn balance(
    listener: tokio::net::TcpListener,
    backends: Arc<std::sync::Mutex<Vec<String>>>,
) -> (
    tokio::task::JoinHandle<()>,
    Arc<Vec<std::sync::atomic::AtomicUsize>>,
) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let counts: Arc<Vec<AtomicUsize>> = Arc::new((0..8).map(|_| AtomicUsize::new(0)).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let c = counts.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                return;
            };
            let (backends, next, counts) = (backends.clone(), next.clone(), c.clone());
            tokio::spawn(async move {
                let list = backends.lock().unwrap().clone();
                for _ in 0..list.len() {
                    let i = next.fetch_add(1, Ordering::SeqCst) % list.len();
                    if let Ok(mut out) = tokio::net::TcpStream::connect(&list[i]).await {
                        counts[i].fetch_add(1, Ordering::SeqCst);
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                        return;
                    }
                }
            });
        }
    });
    (task, counts)
}

/// Fast retries for tests: 50 ms first delay, a second at most, 2 s per attempt.
pub fn fast(c: &mut Config) {
    c.delivery.base_delay_ms = 50;
    c.delivery.max_delay_ms = 1_000;
    c.delivery.poll_ms = 50;
    c.delivery.timeout_ms = 2_000;
}

impl TestGateway {
    /// A fresh gateway for `team`.
    pub async fn spawn(team: &str) -> Self {
        Self::spawn_with(team, |_| {}).await
    }

    /// A fresh gateway, with the config adjusted by `tune`.
    pub async fn spawn_with(team: &str, tune: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_options(team, tune, Options::default()).await
    }

    /// A fresh gateway whose worker does not run and whose clock stands still: tests step
    /// deliveries with `gateway.run_once()` and move the clock.
    pub async fn spawn_manual(
        team: &str,
        tune: impl FnOnce(&mut Config),
    ) -> (Self, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::at(time::OffsetDateTime::now_utc()));
        let options = Options {
            clock: clock.clone(),
            run_worker: false,
            wrap_store: None,
        };
        (Self::spawn_options(team, tune, options).await, clock)
    }

    /// A fresh gateway built with `options`.
    pub async fn spawn_options(
        team: &str,
        tune: impl FnOnce(&mut Config),
        options: Options,
    ) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let init = irtx::cli::init::initialize(
            &dir,
            team,
            Some(&format!("Team {team}")),
            Some(&format!("{team}.example")),
        )
        .unwrap();
        let pg = (instances() > 1).then(|| {
            // The team's instances share this server; the config says so, so a restart in
            // the same directory finds it.
            let pg = Arc::new(crate::pg::PgServer::start());
            let mut toml = std::fs::read_to_string(dir.join("irtx.toml")).unwrap();
            toml.push_str(&format!(
                "\n[store]\nbackend = \"postgres\"\nurl = \"{}\"\n",
                pg.url
            ));
            std::fs::write(dir.join("irtx.toml"), toml).unwrap();
            pg
        });
        let mut g = Self::start_options(&dir, "127.0.0.1:0".parse().unwrap(), tune, options).await;
        assert_eq!(g.jwk, init.public_jwk);
        g._tmp = Some(tmp);
        g._pg = pg;
        g
    }

    /// Starts (or restarts) the gateway in `dir` on `listen`.
    pub async fn start(
        dir: &Path,
        listen: std::net::SocketAddr,
        tune: impl FnOnce(&mut Config),
    ) -> Self {
        Self::start_options(dir, listen, tune, Options::default()).await
    }

    /// [`Self::start`] with build options.
    pub async fn start_options(
        dir: &Path,
        listen: std::net::SocketAddr,
        tune: impl FnOnce(&mut Config),
        options: Options,
    ) -> Self {
        let mut config =
            Config::load(&dir.join("irtx.toml"), Vec::<(String, String)>::new()).unwrap();
        config.listen = listen;
        fast(&mut config);
        tune(&mut config);
        let team = config.team.id.to_string();
        let mut http = reqwest::Client::builder();
        if let Some(cert) = &config.tls.cert_file {
            let pem = std::fs::read(config.path(cert)).unwrap();
            http = http.add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap());
        }
        // Several instances only of a team whose store they can share.
        let n = if config.store.backend == irtx::config::StoreBackend::Postgres {
            instances()
        } else {
            1
        };
        if n > 1 {
            // New connections per request, so the balancer spreads the test's calls.
            http = http.pool_max_idle_per_host(0);
        }
        // The first instance is built with `options`; the others share its clock and
        // whether the worker runs (a store wrapper wraps the first only).
        let (clock, run_worker) = (options.clock.clone(), options.run_worker);
        let mut first = Some(options);
        let (mut stop, mut done, mut addrs) = (Vec::new(), Vec::new(), Vec::new());
        let (mut scheme, mut gateway) = ("http", None);
        for _ in 0..n {
            let mut c = config.clone();
            if n > 1 {
                c.listen = "127.0.0.1:0".parse().unwrap();
            }
            let o = first.take().unwrap_or_else(|| Options {
                clock: clock.clone(),
                run_worker,
                wrap_store: None,
            });
            let app = App::build_with(c, o).await.unwrap();
            scheme = app.scheme();
            addrs.push(app.local_addr());
            gateway.get_or_insert_with(|| app.gateway());
            let (tx, stopped) = oneshot::channel::<()>();
            stop.push(tx);
            done.push(tokio::spawn(async move {
                app.run_until(async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
            }));
        }
        let gateway = gateway.unwrap();
        let (addr, balancer) = if n > 1 {
            let listener = tokio::net::TcpListener::bind(listen).await.unwrap();
            let addr = listener.local_addr().unwrap();
            let backends = Arc::new(std::sync::Mutex::new(
                addrs.iter().map(|a| a.to_string()).collect(),
            ));
            (addr, Some(balance(listener, backends).0))
        } else {
            (addrs[0], None)
        };
        let jwk = irtx::envelope::public_jwk(&gateway.key.current().0.verifying_key());
        let token = std::fs::read_to_string(dir.join("analyst.token"))
            .unwrap()
            .trim()
            .to_string();
        TestGateway {
            team,
            url: format!("{scheme}://{addr}"),
            token,
            jwk,
            dir: dir.to_path_buf(),
            addr,
            gateway: Some(gateway),
            http: http.build().unwrap(),
            stop,
            done,
            balancer,
            _pg: None,
            _tmp: None,
        }
    }

    /// The running gateway's services.
    pub fn services(&self) -> &Arc<Gateway> {
        self.gateway.as_ref().expect("the gateway runs")
    }

    /// Stops the gateway and waits until it has (its temp dir stays).
    pub async fn shutdown(&mut self) {
        self.gateway = None;
        if let Some(b) = self.balancer.take() {
            b.abort();
            let _ = b.await;
        }
        for s in self.stop.drain(..) {
            let _ = s.send(());
        }
        for d in self.done.drain(..) {
            let _ = d.await;
        }
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn get(&self, path: &str) -> Value {
        let (s, v) = self.call(reqwest::Method::GET, path, None).await;
        assert_eq!(s, 200, "{path}: {v}");
        v
    }

    /// Adds `other` as a peer with these settings.
    pub async fn add_peer(
        &self,
        other: &TestGateway,
        max_tlp: &str,
        audience: &str,
        profile: &str,
        format: &str,
    ) {
        let body = json!({"id": other.team, "url": other.url, "keys": [{"jwk": other.jwk}],
                          "max_tlp": max_tlp, "audience": audience, "profile": profile, "format": format});
        let (s, v) = self
            .call(reqwest::Method::POST, "/api/v1/peers", Some(body))
            .await;
        assert_eq!(s, 201, "{v}");
    }

    /// Submits a report; returns its id.
    pub async fn submit(&self, report: &Value) -> String {
        let (s, v) = self
            .call(
                reqwest::Method::POST,
                "/api/v1/reports",
                Some(report.clone()),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        v["id"].as_str().unwrap().to_string()
    }

    /// POSTs `body` to `path`, which must answer 200 with per-peer decisions; returns them.
    pub async fn post_decisions(&self, path: &str, body: Value) -> Vec<Value> {
        let (s, v) = self.call(reqwest::Method::POST, path, Some(body)).await;
        assert_eq!(s, 200, "{v}");
        v["decisions"].as_array().unwrap().clone()
    }

    /// Shares a report; returns the per-peer decisions.
    pub async fn share(&self, id: &str, peers: &[&str]) -> Vec<Value> {
        let path = format!("/api/v1/reports/{id}/share");
        self.post_decisions(&path, json!({ "peers": peers })).await
    }

    /// Shares a report again, also with peers that hold it (`resend`); the decisions.
    pub async fn share_again(&self, id: &str, peers: &[&str]) -> Vec<Value> {
        let path = format!("/api/v1/reports/{id}/share");
        self.post_decisions(&path, json!({"peers": peers, "resend": true}))
            .await
    }

    /// Retracts a report from every holder; the decisions.
    pub async fn retract(&self, id: &str, reason: &str) -> Vec<Value> {
        let path = format!("/api/v1/reports/{id}/retract");
        self.post_decisions(&path, json!({ "reason": reason }))
            .await
    }

    /// Every alert, each in full (the list holds them without documents).
    pub async fn alerts(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for a in self.alert_list().await {
            out.push(
                self.get(&format!("/api/v1/alerts/{}", a["id"].as_str().unwrap()))
                    .await,
            );
        }
        out
    }

    /// The alerts as the list shows them (no documents), all pages.
    pub async fn alert_list(&self) -> Vec<Value> {
        self.get("/api/v1/alerts?limit=1000")
            .await
            .as_array()
            .unwrap()
            .clone()
    }

    pub async fn deliveries(&self) -> Vec<Value> {
        self.get("/api/v1/deliveries")
            .await
            .as_array()
            .unwrap()
            .clone()
    }

    pub async fn outbox(&self) -> Vec<Value> {
        self.get("/api/v1/outbox").await.as_array().unwrap().clone()
    }

    /// The signed message of the outbox entry at `index`, as it would be posted.
    pub async fn outbox_jws(&self, index: usize) -> Vec<u8> {
        let outbox = self.services().store.outbox_page(None, 1000).unwrap();
        serde_json::to_vec(&outbox[index].1.jws).unwrap()
    }

    pub async fn decisions(&self) -> Vec<Value> {
        self.get("/api/v1/decisions")
            .await
            .as_array()
            .unwrap()
            .clone()
    }

    /// POSTs raw bytes to the inbox.
    pub async fn post_inbox(&self, body: Vec<u8>) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}/exchange/v1/messages", self.url))
            .header("content-type", "application/jose+json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        if let Some(b) = self.balancer.take() {
            b.abort();
        }
        for s in self.stop.drain(..) {
            let _ = s.send(());
        }
    }
}

/// Polls `check` every 50 ms until it holds or `limit` passes; the test's bound, not a sleep.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out after {limit:?} waiting for: {what}");
}

/// What `open` opens of a stopped gateway's store, once the gateway has let go of it: sled
/// lets go of its lock a moment after the gateway has stopped. Tries for 10 s.
pub async fn when_released<T, E: std::fmt::Debug>(mut open: impl FnMut() -> Result<T, E>) -> T {
    let start = Instant::now();
    loop {
        match open() {
            Ok(opened) => return opened,
            Err(e) if start.elapsed() >= Duration::from_secs(10) => {
                panic!("the stopped gateway never released its store: {e:?}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// A report from tests/data/valid.
pub fn example(name: &str) -> Value {
    crate::helpers::read_json(&crate::helpers::root().join(format!("tests/data/valid/{name}.json")))
}

/// Starts `irtx serve` in `dir` on a free port, with fast retries and `env` on top of the
/// config; returns the child and the API's base URL.
pub fn serve_process(dir: &Path, env: &[(&str, String)]) -> (std::process::Child, String) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_irtx"))
        .current_dir(dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .env("IRTX_DELIVERY__BASE_DELAY_MS", "50")
        .env("IRTX_DELIVERY__MAX_DELAY_MS", "500")
        .env("IRTX_DELIVERY__POLL_MS", "50")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = listening_url(&mut child);
    (child, url)
}

/// A proxy in front of a gateway's inbox that holds each message 100 ms before passing it
/// on, so a stream of deliveries lasts long enough for a fault to land mid-way; returns
/// its base URL.
pub async fn slow_inbox(target: &str) -> String {
    use axum::routing::post;
    let target = target.to_string();
    let proxy = axum::Router::new().route(
        "/exchange/v1/messages",
        post(move |body: axum::body::Bytes| {
            let target = target.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let r = reqwest::Client::new()
                    .post(format!("{target}/exchange/v1/messages"))
                    .header("content-type", "application/jose+json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let status = axum::http::StatusCode::from_u16(r.status().as_u16()).unwrap();
                (status, r.bytes().await.unwrap())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, proxy).await.unwrap() });
    url
}

/// Waits for a child `irtx serve` to log its address; returns its base URL.
pub fn listening_url(child: &mut std::process::Child) -> String {
    log_until_listening(child).0
}

/// Waits for a child `irtx serve` to log its address; returns its base URL and the lines it
/// logged up to then.
pub fn log_until_listening(child: &mut std::process::Child) -> (String, Vec<String>) {
    use std::io::BufRead as _;
    let stderr = child.stderr.take().expect("stderr is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut before = Vec::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(i) = line.find("listening on http") {
                let url = line[i + "listening on ".len()..]
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .to_string();
                let _ = tx.send((url, std::mem::take(&mut before)));
            } else {
                before.push(line);
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("irtx serve logs its address")
}

/// One page, read with a fresh session.
pub async fn ui_page(g: &TestGateway, path: &str) -> String {
    let (http, session) = ui_session(g).await;
    ui_text(&http, &session, &format!("{}{path}", g.url)).await
}

/// The text at `url`, read with an analyst's session cookie.
pub async fn ui_text(http: &reqwest::Client, session: &str, url: &str) -> String {
    http.get(url)
        .header("cookie", session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// An analyst logged in to the pages of `g`: a client that does not follow redirects, and
/// the session cookie.
pub async fn ui_session(g: &TestGateway) -> (reqwest::Client, String) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = http
        .post(format!("{}/ui/login", g.url))
        .header("origin", &g.url)
        .form(&[("token", g.token.as_str())])
        .send()
        .await
        .unwrap();
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    (http, cookie.split(';').next().unwrap().to_string())
}

/// The CSRF token a page's forms carry.
pub fn csrf_of(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .expect("a form with a CSRF token")
        .to_string()
}
