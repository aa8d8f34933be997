//! The gateway's services around the pure core: share a report with peers ([`share`]:
//! decide, render, seal, queue), receive a peer's message ([`receive`]: check, deduplicate,
//! import, answer with a signed receipt), and deliver the outbox ([`worker`], over
//! [`client`]). I/O lives here: the store, the clock, the network. The services get the
//! pieces of the configuration they need ([`Parts`]), never the whole of it.

pub mod client;
pub mod clock;
pub mod import;
pub mod messages;
pub mod receive;
pub mod rotation;
pub mod share;
pub mod subscribe;
pub mod taxii;
pub mod worker;

use std::collections::HashSet;
use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::anonymize::{KeyRing, Profiles};
use crate::config::{DeliveryConfig, ExchangeConfig, RoutingRule};
use crate::disclosure::EntryBody;
use crate::keys::KeyCell;
use crate::ledger::Ledger;
use crate::peer::PeerId;
use crate::schema::Violation;
use crate::store::{Store, StoreError};
use crate::team::Team;
use clock::Clock;

pub use receive::{InboundAnswer, InboundOutcome};
pub use share::ShareOutcome;

/// The label set of a counter by outcome.
type ByOutcome = Family<Vec<(&'static str, &'static str)>, Counter>;

/// Counters and gauges exposed on `/metrics`.
pub struct Metrics {
    /// The registry `/metrics` encodes.
    pub registry: Registry,
    /// Inbound messages by outcome.
    pub inbound: ByOutcome,
    /// Delivery attempts by outcome.
    pub deliveries: ByOutcome,
    /// Reports submitted.
    pub reports: Counter,
    /// Messages waiting in the outbox (set when `/metrics` is read).
    pub outbox_pending: Gauge,
    /// Messages dead-lettered (set when `/metrics` is read).
    pub outbox_dead: Gauge,
    /// Disk flushes the store ran since the start (set when `/metrics` is read; one covers
    /// every write waiting for it).
    pub store_flushes: Gauge,
}

impl Metrics {
    /// The gateway's metrics, with the store's flush times when it keeps them.
    fn new(flush_times: Option<Histogram>) -> Self {
        let mut registry = Registry::with_prefix("irtx");
        let m = Metrics {
            inbound: Family::default(),
            deliveries: Family::default(),
            reports: Counter::default(),
            outbox_pending: Gauge::default(),
            outbox_dead: Gauge::default(),
            store_flushes: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "inbound_messages",
            "Inbound messages by outcome",
            m.inbound.clone(),
        );
        registry.register(
            "delivery_attempts",
            "Outbound delivery attempts by outcome",
            m.deliveries.clone(),
        );
        registry.register("reports_submitted", "Reports submitted", m.reports.clone());
        registry.register(
            "outbox_messages",
            "Messages waiting in the outbox",
            m.outbox_pending.clone(),
        );
        registry.register(
            "outbox_dead_lettered",
            "Messages dead-lettered",
            m.outbox_dead.clone(),
        );
        registry.register(
            "store_flushes",
            "Disk flushes the store ran since the start, each covering every write waiting for it",
            m.store_flushes.clone(),
        );
        if let Some(times) = flush_times {
            registry.register(
                "store_flush_seconds",
                "How long the store's disk flushes took, each covering every write waiting for it (a slow disk shows here first)",
                times,
            );
        }
        Metrics { registry, ..m }
    }

    /// Counts one event of `family` with this outcome.
    pub fn count(family: &ByOutcome, outcome: &'static str) {
        family.get_or_create(&vec![("outcome", outcome)]).inc();
    }
}

/// The fingerprints of the TLS client certificates peers are pinned to (mutual TLS): the
/// listener's handshake asks this set, kept in step with the list of peers.
#[derive(Debug, Default)]
pub struct Pins(std::sync::RwLock<HashSet<String>>);

impl Pins {
    /// Replaces the set.
    pub fn set(&self, pins: impl IntoIterator<Item = String>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = pins.into_iter().collect();
    }

    /// Whether a peer is pinned to this certificate.
    pub fn contains(&self, fingerprint: &str) -> bool {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(fingerprint)
    }
}

/// What the services are built from: the store, the team and its key, and the pieces of
/// the configuration they use.
pub struct Parts {
    /// The durable state.
    pub store: Arc<dyn Store>,
    /// Our team.
    pub team: Team,
    /// Our signing key (replaced by a rotation).
    pub key: KeyCell,
    /// The file the signing key is kept in (a rotation writes the new one there).
    pub key_file: std::path::PathBuf,
    /// The data directory (mode 0700): where a backup is written before it is sent.
    pub data_dir: std::path::PathBuf,
    /// The anonymization profiles, by name.
    pub profiles: Profiles,
    /// The anonymization keys.
    pub keys: KeyRing,
    /// `[[routing]]`.
    pub routing: Vec<RoutingRule>,
    /// `[exchange]`: what inbound messages must meet.
    pub exchange: ExchangeConfig,
    /// `[delivery]`: retries, backoff, timeouts.
    pub delivery: DeliveryConfig,
    /// `[import]`: documents other tools wrote.
    pub import: crate::config::ImportConfig,
    /// The HTTP client deliveries use (its TLS roots and timeouts set).
    pub client: reqwest::Client,
    /// The time.
    pub clock: Arc<dyn Clock>,
}

/// Everything the services share: their [`Parts`] (reached through `Deref`, so
/// `gateway.store` reads as it says) and the state the services keep while running.
pub struct Gateway {
    parts: Parts,
    /// Wakes the delivery worker when something is queued.
    pub wake: worker::Wake,
    /// Counts the delivery attempts recorded, so that whoever waits for a message to be
    /// delivered (`GET /api/v1/messages/{id}?wait=`) looks again when one is.
    pub(crate) attempts_recorded: tokio::sync::watch::Sender<u64>,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
    /// The disclosure ledger's writer.
    pub ledger: Ledger,
    /// Peers whose queue a delivery task is working on, each with whether the worker found
    /// it due again meanwhile (`worker::InFlight`).
    in_flight: worker::Claims,
    /// When each peer's key document was last fetched.
    refreshes: rotation::Refreshes,
    /// The client certificates peers are pinned to.
    pub pins: Arc<Pins>,
    /// Per-peer limit on inbound messages (`[exchange] max_messages_per_minute`).
    inbound_limit: Option<governor::DefaultKeyedRateLimiter<PeerId>>,
    /// The latest inbound refusals, for the analyst (in memory, bounded: a hostile sender
    /// cannot fill the disk with them; quarantined ones are also stored).
    pub refusals: receive::RecentRefusals,
}

impl std::ops::Deref for Gateway {
    type Target = Parts;
    fn deref(&self) -> &Parts {
        &self.parts
    }
}

/// What went wrong in a service call.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Invalid input: every problem, with pointers.
    #[error("invalid input")]
    Invalid(Vec<Violation>),
    /// Nothing by that id.
    #[error("{what} `{id}` not found")]
    NotFound {
        /// What was looked for ("report").
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// A request that conflicts with the state.
    #[error("{0}")]
    Conflict(String),
    /// The store failed: a 5xx, never a statement about the request.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Stored data that no longer makes sense (a report that no longer validates).
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
}

impl Gateway {
    /// Assembles the services.
    pub fn new(parts: Parts) -> Self {
        let inbound_limit = std::num::NonZeroU32::new(parts.exchange.max_messages_per_minute)
            .map(|n| governor::RateLimiter::keyed(governor::Quota::per_minute(n)));
        let metrics = Metrics::new(parts.store.flush_times());
        Gateway {
            parts,
            wake: worker::Wake::default(),
            attempts_recorded: tokio::sync::watch::Sender::new(0),
            metrics,
            ledger: Ledger::new(),
            in_flight: Arc::default(),
            refreshes: rotation::Refreshes::default(),
            pins: Arc::default(),
            inbound_limit,
            refusals: receive::RecentRefusals::default(),
        }
    }

    /// Runs a store step on the blocking pool (sled is synchronous and flushes), never on
    /// the async threads. `what` names the step in the error a panic in it becomes.
    async fn off_runtime<T: Send + 'static>(
        self: &Arc<Self>,
        what: &'static str,
        f: impl FnOnce(&Gateway) -> Result<T, ServiceError> + Send + 'static,
    ) -> Result<T, ServiceError> {
        let g = Arc::clone(self);
        tokio::task::spawn_blocking(move || f(&g))
            .await
            .unwrap_or_else(|e| Err(ServiceError::Corrupt(format!("{what} failed: {e}"))))
    }

    /// Appends a ledger entry; a ledger failure is a store failure and fails the call.
    pub fn record(&self, body: EntryBody) -> Result<(), ServiceError> {
        self.ledger
            .append(
                self.store.as_ref(),
                body,
                self.team.id.as_str(),
                &self.key.current().0,
            )
            .map(|_| ())
            .map_err(ServiceError::from)
    }

    /// Appends a ledger entry through `write`, which stores it with whatever belongs in the
    /// same atomic write; durable when it returns.
    pub fn record_with<T>(
        &self,
        body: EntryBody,
        write: impl FnMut(&dyn Store, &crate::disclosure::Entry) -> crate::store::Result<T>,
    ) -> Result<T, ServiceError> {
        let out = self.record_applied(body, write)?;
        self.store.sync()?;
        Ok(out)
    }

    /// As [`Self::record_with`], but returns once the write is applied: the caller syncs
    /// the store before it answers (`Ledger::append_applied`).
    pub fn record_applied<T>(
        &self,
        body: EntryBody,
        mut write: impl FnMut(&dyn Store, &crate::disclosure::Entry) -> crate::store::Result<T>,
    ) -> Result<T, ServiceError> {
        let store = self.store.as_ref();
        self.ledger
            .append_applied(
                store,
                body,
                self.team.id.as_str(),
                &self.key.current().0,
                |e| write(store, e),
            )
            .map(|(t, _)| t)
            .map_err(ServiceError::from)
    }

    /// Signs a checkpoint of the ledger's head now.
    pub fn checkpoint(&self) -> Result<Option<crate::disclosure::Checkpoint>, ServiceError> {
        let at = crate::timestamp::rfc3339(self.clock.now());
        Ok(self.ledger.checkpoint(
            self.store.as_ref(),
            self.team.id.as_str(),
            &at,
            &self.key.current().0,
        )?)
    }

    /// Makes the pinned client certificates those of the list of peers (after it changed).
    pub fn refresh_pins(&self) -> Result<(), ServiceError> {
        let peers = self.store.peers()?;
        self.pins
            .set(peers.into_iter().filter_map(|p| p.client_cert_sha256));
        Ok(())
    }

    /// Sets the outbox gauges from the store (when `/metrics` is read).
    pub fn refresh_gauges(&self) -> Result<(), ServiceError> {
        let c = self.store.outbox_counts()?;
        self.metrics.outbox_pending.set(c.pending as i64);
        self.metrics.outbox_dead.set(c.dead_lettered as i64);
        self.metrics
            .store_flushes
            .set(i64::try_from(self.store.flushes()).unwrap_or(i64::MAX));
        Ok(())
    }
}

/// Builds the HTTP client deliveries use: the extra CA certificates to trust (PEM), the
/// client certificate and key to present (one PEM, for peers that pin ours), the attempt
/// timeout, and our user agent.
pub fn http_client(
    extra_roots_pem: Option<&[u8]>,
    identity_pem: Option<&[u8]>,
    timeout: std::time::Duration,
) -> Result<reqwest::Client, reqwest::Error> {
    install_crypto_provider();
    let mut builder = reqwest::Client::builder();
    if let Some(pem) = identity_pem {
        builder = builder.identity(reqwest::Identity::from_pem(pem)?);
    }
    if let Some(pem) = extra_roots_pem {
        for cert in reqwest::Certificate::from_pem_bundle(pem)? {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .timeout(timeout)
        .connect_timeout(timeout.min(std::time::Duration::from_secs(5)))
        .user_agent(concat!("irtx/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Selects rustls's `ring` provider for the process (once), so TLS works the same whichever
/// other rustls backends dependencies enable.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
