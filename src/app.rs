//! Composition: `App::build(config)` does all fallible setup and logs each step (open the
//! store, load the key, bind), `local_addr()` says where it listens, and
//! `run_until(shutdown)` serves the API and runs the delivery worker until `shutdown`
//! resolves; undelivered messages stay in the outbox for the next start.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{bail, Context as _};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::api::auth::AnalystToken;
use crate::api::ui::session::Sessions;
use crate::api::{self, AppState};
use crate::config::Config;
use crate::federation::clock::{Clock, SystemClock};
use crate::federation::{Gateway, Parts};
use crate::keys::{self, TeamKey};
use crate::store::sled_store::SledStore;
use crate::store::Store;

/// A built gateway, bound and ready to run.
pub struct App {
    listener: TcpListener,
    state: AppState,
    limits: api::Limits,
    bounds: api::listener::Bounds,
    run_worker: bool,
    tls: Option<axum_server::tls_rustls::RustlsConfig>,
}

/// How a gateway is built beyond its config.
pub struct Options {
    /// Where the services read the time.
    pub clock: Arc<dyn Clock>,
    /// Run the delivery worker (tests that step it with `run_once` turn it off).
    pub run_worker: bool,
    /// Wraps the store the gateway uses (fault-injection tests).
    pub wrap_store: Option<StoreWrapper>,
}

/// A function that wraps a store in another (fault injection).
pub type StoreWrapper = Box<dyn Fn(Arc<dyn Store>) -> Arc<dyn Store> + Send + Sync>;

impl Default for Options {
    fn default() -> Self {
        Options {
            clock: Arc::new(SystemClock),
            run_worker: true,
            wrap_store: None,
        }
    }
}

/// Opens the store the config names: the sled store in the data directory (with
/// `cache_bytes` of page cache), or the PostgreSQL database of `[store]`, whose password is
/// read from `password_file` (mode 0600) when given.
pub fn open_store(config: &Config, cache_bytes: u64) -> crate::store::Result<Box<dyn Store>> {
    use crate::config::StoreBackend;
    use crate::store::StoreError;
    match config.store.backend {
        StoreBackend::Sled => Ok(Box::new(SledStore::open_with_cache(
            &config.store_dir(),
            cache_bytes,
        )?)),
        StoreBackend::Postgres => {
            let url = config.store.url.clone().ok_or_else(|| {
                StoreError::Backend("[store] backend = \"postgres\" needs `url`".into())
            })?;
            let password = match &config.store.password_file {
                Some(f) => Some(keys::read_secret_text(&config.path(f)).map_err(|e| {
                    StoreError::Backend(format!("store.password_file: {e}").into())
                })?),
                None => None,
            };
            let local = url::Url::parse(&url).is_ok_and(|u| {
                matches!(
                    u.host_str(),
                    None | Some("localhost" | "127.0.0.1" | "[::1]")
                )
            });
            let store = crate::store::postgres_store::PgStore::open(
                &crate::store::postgres_store::Connect {
                    url,
                    password,
                    ca_file: config.store.ca_file.as_ref().map(|f| config.path(f)),
                    pool_size: config.store.pool_size,
                    lease_ms: config.store.lease_ms,
                },
            )?;
            if store.encrypted()? {
                tracing::info!(
                    database = store.place(),
                    "the connection to PostgreSQL is encrypted (TLS)"
                );
            } else if !local {
                tracing::warn!(
                    database = store.place(),
                    "the connection to PostgreSQL is not encrypted: add ?sslmode=require to store.url (and store.ca_file for a private CA)"
                );
            }
            Ok(Box::new(store))
        }
    }
}

/// Writes the config's `[peers.*]` into the store's list of peers (each replacing a peer of
/// the same id); returns how many.
pub fn seed_peers(
    store: &dyn Store,
    config: &Config,
    profiles: &crate::anonymize::Profiles,
) -> anyhow::Result<usize> {
    let seeds = config.peer_seeds(profiles)?;
    for peer in &seeds {
        let held = store
            .peer(&peer.id)
            .with_context(|| format!("reading peer `{}`", peer.id))?;
        store
            .put_peer(&peer.clone().replacing(held.as_ref()))
            .with_context(|| format!("writing peer `{}` from the config", peer.id))?;
    }
    Ok(seeds.len())
}

impl App {
    /// Opens the store, loads the keys, and binds the listener.
    pub async fn build(config: Config) -> anyhow::Result<App> {
        Self::build_with(config, Options::default()).await
    }

    /// [`Self::build`], with the clock and the worker chosen (tests).
    pub async fn build_with(config: Config, options: Options) -> anyhow::Result<App> {
        crate::federation::install_crypto_provider();
        let data = config.path(&config.data_dir);
        keys::create_private_dir(&data)
            .with_context(|| format!("cannot create the data directory `{}`", data.display()))?;
        keys::check_private_dir(&data)?;
        let opened: Arc<dyn Store> = open_store(&config, config.store.cache_mib << 20)
            .map_err(anyhow::Error::from)
            .with_context(|| match config.store.backend {
                crate::config::StoreBackend::Sled => {
                    format!("opening the store in `{}`", data.display())
                }
                crate::config::StoreBackend::Postgres => format!(
                    "opening the PostgreSQL store at `{}`",
                    crate::store::postgres_store::redacted(
                        config.store.url.as_deref().unwrap_or_default()
                    )
                ),
            })?
            .into();
        match config.store.backend {
            crate::config::StoreBackend::Sled => tracing::info!(
                data_dir = %data.display(),
                page_cache_mib = config.store.cache_mib,
                "store opened: sled"
            ),
            crate::config::StoreBackend::Postgres => tracing::info!(
                data_dir = %data.display(),
                "store opened: PostgreSQL"
            ),
        }
        // Counted once now, before anything is served: the first count of the outbox walks
        // it while holding writes back (0.34 s at 100,000 queued messages, a peer down for
        // long), which a `/metrics` read soon after a start would otherwise do under load.
        // Writes keep the count after.
        let counts = opened.outbox_counts().context("counting the outbox")?;
        tracing::info!(
            pending = counts.pending,
            dead_lettered = counts.dead_lettered,
            "outbox counted"
        );
        let store: Arc<dyn Store> = match &options.wrap_store {
            Some(wrap) => wrap(opened),
            None => opened,
        };
        let key_file = config.path(&config.team.key_file);
        keys::finish_rotation(store.as_ref(), &key_file)
            .context("completing a key rotation that was cut short")?;
        let key = TeamKey::load(&key_file).context("loading the team key")?;
        tracing::info!(kid = %key.kid(), team.id = %config.team.id, "team key loaded");
        let token = keys::read_secret_text(&config.path(&config.api.analyst_token_file))
            .context("loading the analyst token")?;
        if token.len() < 16 {
            bail!(
                "the analyst token in `{}` is shorter than 16 characters",
                config.api.analyst_token_file.display()
            );
        }
        let profiles = config.profiles().context("the anonymization profiles")?;
        let key_ring = config
            .key_ring()
            .context("loading the anonymization keys ([anonymize])")?;
        let seeded = seed_peers(store.as_ref(), &config, &profiles)?;
        if seeded > 0 {
            tracing::info!(
                peers = seeded,
                "peers from the config applied to the list of peers"
            );
        }
        let pins: Arc<crate::federation::Pins> = Arc::default();
        let tls = match (&config.tls.cert_file, &config.tls.key_file) {
            (Some(cert), Some(key)) => {
                let (cert, key) = (config.path(cert), config.path(key));
                // The private key is a secret: same rule as every key file.
                keys::read_secret_text(&key).context("the TLS private key")?;
                let c = api::tls::server_config(
                    &cert,
                    &key,
                    config.tls.peer_client_certs.then(|| pins.clone()),
                    config.tls.allow_tls12,
                )?;
                tracing::info!(cert = %cert.display(), mutual = config.tls.peer_client_certs, "TLS certificate loaded");
                Some(c)
            }
            _ => None,
        };
        if tls.is_none() && !config.listen.ip().is_loopback() && !config.tls.allow_plain_http {
            bail!(
                "refusing to serve plain HTTP on {} (not loopback): messages between teams must not be readable on the way. Configure [tls], or set tls.allow_plain_http = true if a proxy terminates TLS",
                config.listen
            );
        }
        let roots = match &config.delivery.ca_file {
            Some(ca) => {
                let path = config.path(ca);
                Some(std::fs::read(&path).with_context(|| {
                    format!("cannot read delivery.ca_file `{}`", path.display())
                })?)
            }
            None => None,
        };
        let identity = match (
            config
                .delivery
                .client_cert_file
                .as_ref()
                .or(config.tls.cert_file.as_ref()),
            config
                .delivery
                .client_key_file
                .as_ref()
                .or(config.tls.key_file.as_ref()),
        ) {
            (Some(cert), Some(key)) => {
                let (cert, key) = (config.path(cert), config.path(key));
                let key_pem = keys::read_secret_text(&key).context("the TLS client key")?;
                let mut pem = std::fs::read(&cert).with_context(|| {
                    format!(
                        "cannot read the TLS client certificate `{}`",
                        cert.display()
                    )
                })?;
                pem.push(b'\n');
                pem.extend_from_slice(key_pem.as_bytes());
                Some(pem)
            }
            _ => None,
        };
        let client = crate::federation::http_client(
            roots.as_deref(),
            identity.as_deref(),
            std::time::Duration::from_millis(config.delivery.timeout_ms),
        )
        .context("building the HTTP client for deliveries (delivery.ca_file?)")?;
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let mut gateway = Gateway::new(Parts {
            store,
            team: config.team(),
            key: keys::KeyCell::new(key),
            key_file,
            data_dir: data.clone(),
            profiles,
            keys: key_ring,
            routing: config.routing.clone(),
            exchange: config.exchange.clone(),
            delivery: config.delivery.clone(),
            import: config.import.clone(),
            client,
            clock: options.clock,
        });
        gateway.pins = pins;
        gateway
            .refresh_pins()
            .context("reading the peers' pinned certificates")?;
        // The overview's tally as the last run kept it: the start reads the ledger's tail.
        let overview = api::ui::charts::Tally::kept(gateway.store.as_ref());
        Ok(App {
            listener,
            state: AppState {
                gateway: Arc::new(gateway),
                token: AnalystToken::new(&token),
                sessions: Arc::new(Sessions::new(
                    tls.is_some(),
                    config.api.login_attempts_per_minute,
                )),
                max_form_bytes: config.api.max_body_bytes,
                overview: Arc::new(std::sync::Mutex::new(overview)),
            },
            limits: api::Limits {
                max_body_bytes: config.api.max_body_bytes,
                max_import_bytes: usize::try_from(config.import.max_file_bytes)
                    .unwrap_or(usize::MAX),
                request_timeout: std::time::Duration::from_millis(config.api.request_timeout_ms),
            },
            bounds: api::listener::Bounds {
                max_connections: config.api.max_connections,
                header_read_timeout: std::time::Duration::from_millis(
                    config.api.header_read_timeout_ms,
                ),
            },
            run_worker: options.run_worker,
            tls,
        })
    }

    /// `https` or `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// Where the gateway listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The services (tests drive the worker with `run_once`).
    pub fn gateway(&self) -> Arc<Gateway> {
        self.state.gateway.clone()
    }

    /// Serves until `shutdown` resolves, then stops the worker after its attempts in flight.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let addr = self.local_addr();
        let (stop_tx, stop_rx) = watch::channel(false);
        let gateway = self.state.gateway.clone();
        let overview = self.state.overview.clone();
        let ready = {
            let (gateway, overview) = (self.state.gateway.clone(), overview.clone());
            let mut stop = stop_rx.clone();
            tokio::spawn(async move {
                loop {
                    let (g, o) = (gateway.clone(), overview.clone());
                    match tokio::task::spawn_blocking(move || api::ui::keep_ready(&g, &o)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => {
                            tracing::warn!(error = %e, "cannot bring the pages' indexes up to date; a page view will")
                        }
                        Err(e) => tracing::warn!(error = %e, "the pages' catch-up task failed"),
                    }
                    tokio::select! {
                        _ = stop.changed() => break,
                        _ = tokio::time::sleep(api::ui::KEEP_READY_EVERY) => {}
                    }
                }
            })
        };
        let subscriptions = self.run_worker.then(|| {
            tokio::spawn(
                self.state
                    .gateway
                    .clone()
                    .run_subscriptions(stop_rx.clone()),
            )
        });
        let worker = self
            .run_worker
            .then(|| tokio::spawn(self.state.gateway.clone().run_worker(stop_rx)));
        let router = api::router(self.state, self.limits);
        // Ready to check messages at full speed before it says it listens.
        let t = std::time::Instant::now();
        tokio::task::spawn_blocking(crate::schema::warm)
            .await
            .context("compiling the schemas")?;
        tracing::info!(
            elapsed_ms = t.elapsed().as_millis() as u64,
            "schemas compiled"
        );
        tracing::info!(%addr, "irtx listening on {}://{addr}", if self.tls.is_some() { "https" } else { "http" });
        let std_listener = self.listener.into_std().context("the listener")?;
        api::listener::serve(std_listener, router, self.tls, self.bounds, shutdown)
            .await
            .context("serving")?;
        let _ = stop_tx.send(true);
        // A catch-up in progress is not waited for: what it wrote stands, the rest is done
        // at the next start.
        ready.abort();
        if let Some(w) = worker {
            let _ = w.await;
        }
        if let Some(s) = subscriptions {
            let _ = s.await;
        }
        // The overview's tally, kept for the next start: it reads the ledger's tail only.
        let g = gateway.clone();
        let kept = tokio::task::spawn_blocking(move || {
            api::ui::keep_tally(&g, &overview)?;
            g.store.sync()
        })
        .await
        .unwrap_or_else(|e| Err(crate::store::StoreError::Backend(e.to_string().into())));
        if let Err(e) = kept {
            tracing::warn!(error = %e, "cannot keep the overview's tally; the next start counts the ledger again");
        }
        // Sign the ledger's head, so a ledger cut short after this stop is caught.
        match tokio::task::spawn_blocking(move || gateway.checkpoint())
            .await
            .unwrap_or_else(|e| Err(crate::federation::ServiceError::Corrupt(e.to_string())))
        {
            Ok(Some(c)) => tracing::info!(seq = c.seq, "ledger checkpoint signed"),
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "cannot sign a ledger checkpoint"),
        }
        tracing::info!("irtx stopped");
        Ok(())
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down");
}
