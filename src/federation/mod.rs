//! The gateway's services around the pure core: share a report with peers (decide, render,
//! seal, queue), receive a peer's message (check, deduplicate, import, answer with a signed
//! receipt), and deliver the outbox ([`worker`]). I/O lives here: the store, the clock, the
//! network.

pub mod worker;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use tokio::sync::Notify;

use crate::anonymize::Pseudonymizer;
use crate::config::Config;
use crate::convert::Format;
use crate::envelope::{self, ReceiptStatus};
use crate::exchange::inbound::{self, Limits, PeerKey};
use crate::exchange::outbound::{self, rfc3339};
use crate::exchange::{self, Outcome, Recipient};
use crate::keys::TeamKey;
use crate::peer::PeerPolicy;
use crate::report::{self, Report};
use crate::schema::Violation;
use crate::store::{
    Alert, DeliveryState, Imported, OutboxItem, PeerRecord, Store, StoreError, StoredReport,
};
use crate::team::Team;
use crate::tlp::policy::{Origin, Removal};

/// Counters exposed on `/metrics`.
pub struct Metrics {
    /// The registry `/metrics` encodes.
    pub registry: Registry,
    /// Inbound messages by outcome.
    pub inbound: Family<Vec<(String, String)>, Counter>,
    /// Delivery attempts by outcome.
    pub deliveries: Family<Vec<(String, String)>, Counter>,
    /// Reports submitted.
    pub reports: Counter,
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("irtx");
        let inbound = Family::default();
        let deliveries = Family::default();
        let reports = Counter::default();
        registry.register(
            "inbound_messages",
            "Inbound messages by outcome",
            inbound.clone(),
        );
        registry.register(
            "delivery_attempts",
            "Outbound delivery attempts by outcome",
            deliveries.clone(),
        );
        registry.register("reports_submitted", "Reports submitted", reports.clone());
        Metrics {
            registry,
            inbound,
            deliveries,
            reports,
        }
    }

    fn count(family: &Family<Vec<(String, String)>, Counter>, outcome: &str) {
        family
            .get_or_create(&vec![("outcome".to_string(), outcome.to_string())])
            .inc();
    }
}

/// Everything the services share.
pub struct Gateway {
    /// The durable state.
    pub store: Arc<dyn Store>,
    /// Our team.
    pub team: Team,
    /// Our signing key.
    pub key: TeamKey,
    /// The configuration.
    pub config: Config,
    /// The HTTP client for deliveries.
    pub client: reqwest::Client,
    /// Wakes the delivery worker when something is queued.
    pub wake: Notify,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
    /// Peers whose queue a delivery task is working on.
    in_flight: Mutex<HashSet<String>>,
    /// The disclosure ledger's writer.
    pub ledger: crate::ledger::Ledger,
    /// Per-peer limit on inbound messages (`[exchange] max_messages_per_minute`).
    inbound_limit: Option<governor::DefaultKeyedRateLimiter<String>>,
}

/// What went wrong in a service call.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Invalid input: every problem, with pointers.
    #[error("invalid input")]
    Invalid(Vec<Violation>),
    /// Nothing by that id.
    #[error("{0} not found")]
    NotFound(String),
    /// A conflicting request.
    #[error("{0}")]
    Conflict(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Something else failed.
    #[error("{0}")]
    Internal(String),
}

/// The outcome of sharing one report with one peer.
#[derive(Debug, Clone, Serialize)]
pub struct ShareOutcome {
    /// The peer.
    pub peer: String,
    /// `queued`, `withheld` or `error`.
    pub decision: String,
    /// Why it was withheld, or what went wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The queued message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// Fields removed before sending.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<Removal>,
    /// The marking sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marking: Option<String>,
}

/// What the inbound endpoint answers: an HTTP status and a JSON body (a signed receipt, or
/// the JSON error of DESIGN.md section 4).
#[derive(Debug, Clone)]
pub struct InboundAnswer {
    /// HTTP status.
    pub status: u16,
    /// Body.
    pub body: Value,
}

/// The current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// A stored peer's keys, parsed.
pub fn peer_keys(p: &PeerRecord) -> Vec<PeerKey> {
    let when = |s: &Option<String>| {
        s.as_deref().and_then(|t| {
            OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
        })
    };
    p.keys
        .iter()
        .filter_map(|k| {
            let key = envelope::parse_public_jwk(&k.jwk).ok()?;
            Some(PeerKey {
                kid: envelope::thumbprint(&key),
                key,
                valid_from: when(&k.valid_from),
                valid_until: when(&k.valid_until),
            })
        })
        .collect()
}

impl Gateway {
    /// Assembles the services.
    pub fn new(
        store: Arc<dyn Store>,
        team: Team,
        key: TeamKey,
        config: Config,
    ) -> Result<Self, String> {
        let mut builder = reqwest::Client::builder();
        if let Some(ca) = &config.delivery.ca_file {
            let path = config.path(ca);
            let pem = std::fs::read(&path)
                .map_err(|e| format!("cannot read delivery.ca_file `{}`: {e}", path.display()))?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("delivery.ca_file `{}`: {e}", path.display()))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder
            .timeout(std::time::Duration::from_millis(config.delivery.timeout_ms))
            .connect_timeout(std::time::Duration::from_millis(
                config.delivery.timeout_ms.min(5_000),
            ))
            .user_agent(concat!("irtx/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let inbound_limit = std::num::NonZeroU32::new(config.exchange.max_messages_per_minute)
            .map(|n| governor::RateLimiter::keyed(governor::Quota::per_minute(n)));
        Ok(Gateway {
            store,
            team,
            key,
            config,
            client,
            wake: Notify::new(),
            metrics: Metrics::new(),
            in_flight: Mutex::new(HashSet::new()),
            ledger: crate::ledger::Ledger::new(),
            inbound_limit,
        })
    }

    /// Appends a ledger entry; a ledger failure is a store failure and fails the call.
    pub fn record(&self, body: crate::ledger::chain::EntryBody) -> Result<(), ServiceError> {
        self.ledger
            .append(
                self.store.as_ref(),
                body,
                self.team.id.as_str(),
                &self.key.0,
            )
            .map(|_| ())
            .map_err(ServiceError::from)
    }

    /// Validates and stores a report, then shares it as the routing rules say. Returns the
    /// id and the automatic decisions.
    pub fn submit_and_route(
        &self,
        raw: &[u8],
    ) -> Result<(String, Vec<ShareOutcome>), ServiceError> {
        let (id, r) = self.store_report(raw)?;
        let mut peers: Vec<String> = Vec::new();
        for rule in self.config.routing.iter().filter(|rule| rule.matches(&r)) {
            for p in &rule.peers {
                if !peers.contains(p) {
                    peers.push(p.clone());
                }
            }
        }
        let decisions = if peers.is_empty() {
            Vec::new()
        } else {
            self.share_report(&r, &id, &peers)?
        };
        Ok((id, decisions))
    }

    /// Validates and stores a report; assigns an id when it has none. The report is on disk
    /// when this returns.
    pub fn submit(&self, raw: &[u8]) -> Result<String, ServiceError> {
        self.store_report(raw).map(|(id, _)| id)
    }

    /// [`Self::submit`], also returning the validated report.
    #[tracing::instrument(skip_all)]
    fn store_report(&self, raw: &[u8]) -> Result<(String, Report), ServiceError> {
        let mut value: Value = serde_json::from_slice(raw).map_err(|e| {
            ServiceError::Invalid(vec![Violation::new("", format!("not valid JSON: {e}"))])
        })?;
        if value.get("id").is_none() && value.is_object() {
            value["id"] = uuid::Uuid::new_v4().to_string().into();
        }
        let r = report::validate::parse_value(&value).map_err(ServiceError::Invalid)?;
        let id = r.effective_id();
        let stored = StoredReport {
            id: id.clone(),
            report: serde_json::to_value(&r).expect("a report serializes"),
            submitted_at: rfc3339(OffsetDateTime::now_utc()),
        };
        self.store.put_report(&stored)?;
        self.metrics.reports.inc();
        tracing::info!(report.id = %id, "report stored");
        Ok((id, r))
    }

    /// Decides, renders, seals and queues a report for each peer; records every decision.
    #[tracing::instrument(skip_all, fields(report.id = %report_id))]
    pub fn share(
        &self,
        report_id: &str,
        peers: &[String],
    ) -> Result<Vec<ShareOutcome>, ServiceError> {
        let stored = self
            .store
            .report(report_id)?
            .ok_or_else(|| ServiceError::NotFound(format!("report `{report_id}`")))?;
        let report: Report = report::validate::parse_value(&stored.report).map_err(|v| {
            ServiceError::Internal(format!(
                "stored report `{report_id}` no longer validates: {}",
                v[0]
            ))
        })?;
        self.share_report(&report, report_id, peers)
    }

    fn share_report(
        &self,
        report: &Report,
        report_id: &str,
        peers: &[String],
    ) -> Result<Vec<ShareOutcome>, ServiceError> {
        let digest = report_digest(report);
        let mut out = Vec::new();
        for peer in peers {
            out.push(self.share_one(report, report_id, &digest, peer)?);
        }
        self.wake.notify_one();
        Ok(out)
    }

    fn share_one(
        &self,
        report: &Report,
        report_id: &str,
        digest: &str,
        peer_id: &str,
    ) -> Result<ShareOutcome, ServiceError> {
        let error = |reason: String| ShareOutcome {
            peer: peer_id.to_string(),
            decision: "error".into(),
            reason: Some(reason),
            message_id: None,
            removed: vec![],
            marking: None,
        };
        let Some(p) = self.store.peer(peer_id)? else {
            return Ok(error(format!("unknown peer `{peer_id}`")));
        };
        let policy = PeerPolicy {
            id: p
                .id
                .parse()
                .map_err(|e: crate::team::TeamIdError| ServiceError::Internal(e.to_string()))?,
            max_tlp: p
                .max_tlp
                .parse()
                .map_err(|e: crate::tlp::TlpParseError| ServiceError::Internal(e.to_string()))?,
            audience: p.audience.parse().map_err(ServiceError::Internal)?,
        };
        let profile = match self.config.profile(&p.profile) {
            Ok(pr) => pr,
            Err(e) => return Ok(error(e)),
        };
        let format: Format = p.format.parse().map_err(ServiceError::Internal)?;
        let domain = if p.key_domain == "peer" {
            format!("peer:{}", p.id)
        } else {
            "federation".into()
        };
        let key = crate::keys::domain_key(&self.config, &domain)
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        let pseudonymizer = key.as_ref().map(Pseudonymizer::new);
        let to = Recipient {
            policy,
            profile: &profile,
            format,
        };
        let now = OffsetDateTime::now_utc();
        // The ledger entry of this decision; a decision that sends nothing is recorded here.
        let entry = |event: &str| crate::ledger::chain::EntryBody {
            at: rfc3339(now),
            event: event.to_string(),
            report_id: report_id.to_string(),
            report_digest: Some(digest.to_string()),
            peer: p.id.clone(),
            profile: Some(profile.name.clone()),
            format: Some(format.wire_name().to_string()),
            ..Default::default()
        };
        let not_sent = |event: &str, reason: String| -> Result<ShareOutcome, ServiceError> {
            self.record(crate::ledger::chain::EntryBody {
                reason: Some(reason.clone()),
                ..entry(event)
            })?;
            tracing::info!(peer.id = %p.id, decision = event, "nothing sent to peer");
            Ok(ShareOutcome {
                peer: p.id.clone(),
                decision: event.to_string(),
                reason: Some(reason),
                message_id: None,
                removed: vec![],
                marking: None,
            })
        };
        let ready = match exchange::render(
            report,
            &Origin::Own,
            &to,
            pseudonymizer.as_ref(),
            &self.team,
        ) {
            Ok(Outcome::Withheld(w)) => return not_sent("withheld", w.to_string()),
            Ok(Outcome::Ready(r)) => r,
            Err(e) => return not_sent("error", e.to_string()),
        };
        let sealed = outbound::seal(
            ready.document.clone(),
            format,
            ready.marking,
            self.team.id.as_str(),
            &p.id,
            uuid::Uuid::new_v4(),
            now,
            &self.key.0,
        );
        let removed: Vec<Removal> = ready
            .plan
            .removed
            .iter()
            .chain(&ready.anonymized.removed)
            .cloned()
            .collect();
        let item = OutboxItem {
            message_id: sealed.message.id.clone(),
            report_id: report_id.to_string(),
            peer: p.id.clone(),
            jws: sealed.jws.clone(),
            sha256: sealed.sha256.clone(),
            queued_at: rfc3339(now),
            attempts: 0,
            next_attempt_ms: 0,
            state: DeliveryState::Queued,
            last_error: None,
        };
        let replaced: std::collections::HashMap<&str, &str> = ready
            .anonymized
            .replacements
            .iter()
            .map(|r| (r.original.as_str(), r.pseudonym.as_str()))
            .collect();
        let indicators = ready
            .plan
            .report
            .indicators
            .iter()
            .map(|i| crate::ledger::chain::Disclosed {
                value: i.value.clone(),
                sent_as: replaced
                    .get(i.value.as_str())
                    .map_or(i.value.clone(), |p| p.to_string()),
            })
            .collect();
        let body = crate::ledger::chain::EntryBody {
            removed: removed.clone(),
            marking: Some(ready.marking.as_str().to_string()),
            key_domain: Some(if profile.needs_key() {
                domain.clone()
            } else {
                "none".into()
            }),
            document_sha256: Some(envelope::sha256_hex(&envelope::canonical(&ready.document))),
            message_id: Some(sealed.message.id.clone()),
            message_sha256: Some(sealed.sha256.clone()),
            indicators,
            ..entry("queued")
        };
        // The message and its ledger entry are written together, or not at all.
        let store = self.store.as_ref();
        self.ledger
            .append_with(store, body, self.team.id.as_str(), &self.key.0, |e| {
                store.enqueue_recorded(&item, e)
            })?;
        tracing::info!(peer.id = %p.id, message.id = %sealed.message.id, tlp = %ready.marking, "message queued for peer");
        Ok(ShareOutcome {
            peer: p.id,
            decision: "queued".into(),
            reason: None,
            message_id: Some(sealed.message.id),
            removed,
            marking: Some(ready.marking.as_str().to_string()),
        })
    }

    /// Receives a peer's message: every check, deduplication, import, a signed receipt.
    #[tracing::instrument(skip_all)]
    pub fn receive(&self, body: &[u8]) -> Result<InboundAnswer, ServiceError> {
        let limits = Limits {
            replay_window: time::Duration::seconds(self.config.exchange.replay_window_s),
            future_skew: time::Duration::seconds(self.config.exchange.future_skew_s),
        };
        let store = &self.store;
        let keys_of = |id: &str| store.peer(id).ok().flatten().map(|p| peer_keys(&p));
        let now = OffsetDateTime::now_utc();
        let me = self.team.id.as_str();
        let admit = |peer: &str| {
            self.inbound_limit
                .as_ref()
                .is_none_or(|l| l.check_key(&peer.to_string()).is_ok())
        };
        match inbound::check_admitted(body, me, keys_of, admit, now, limits) {
            Ok(v) => {
                let alert = Alert {
                    id: uuid::Uuid::new_v4().to_string(),
                    sender: v.message.from.clone(),
                    kid: v.kid.clone(),
                    received_at: rfc3339(now),
                    message_id: v.message.id.clone(),
                    sha256: v.sha256.clone(),
                    tlp: v.tlp.as_str().to_string(),
                    format: v.message.format.clone(),
                    document: v.message.document.clone(),
                    jws: v.jws.clone(),
                };
                let (status, code, reasons) = match store.import(&alert)? {
                    Imported::New => (ReceiptStatus::Accepted, 200, vec![]),
                    Imported::Duplicate => (ReceiptStatus::Duplicate, 200, vec![]),
                    Imported::Conflict => (
                        ReceiptStatus::Rejected,
                        409,
                        vec![format!(
                            "message id `{}` was received before with other content",
                            v.message.id
                        )],
                    ),
                };
                let outcome = match status {
                    ReceiptStatus::Accepted => "accepted",
                    ReceiptStatus::Duplicate => "duplicate",
                    ReceiptStatus::Rejected => "rejected",
                };
                Metrics::count(&self.metrics.inbound, outcome);
                tracing::info!(peer.id = %v.message.from, message.id = %v.message.id, tlp = %v.tlp, outcome, "inbound message");
                let (_, jws) = outbound::receipt(
                    &v.message.id,
                    &v.sha256,
                    me,
                    &v.message.from,
                    status,
                    reasons,
                    now,
                    &self.key.0,
                );
                Ok(InboundAnswer {
                    status: code,
                    body: serde_json::to_value(jws).expect("a JWS serializes"),
                })
            }
            Err(refusal) => {
                Metrics::count(&self.metrics.inbound, "rejected");
                if refusal.quarantine {
                    store.quarantine(&serde_json::json!({
                        "received_at": rfc3339(now),
                        "sender": refusal.sender,
                        "message_id": refusal.message_id,
                        "reasons": refusal.reasons,
                        "body": String::from_utf8_lossy(body),
                    }))?;
                }
                tracing::warn!(status = refusal.status, peer.id = ?refusal.sender, reasons = refusal.reasons.len(), "inbound message refused");
                match (&refusal.sender, &refusal.message_id, &refusal.sha256) {
                    (Some(sender), Some(id), Some(sha)) => {
                        let (_, jws) = outbound::receipt(
                            id,
                            sha,
                            me,
                            sender,
                            ReceiptStatus::Rejected,
                            refusal.reasons.clone(),
                            now,
                            &self.key.0,
                        );
                        Ok(InboundAnswer {
                            status: refusal.status,
                            body: serde_json::to_value(jws).expect("a JWS serializes"),
                        })
                    }
                    _ => Ok(InboundAnswer {
                        status: refusal.status,
                        body: serde_json::json!({
                            "error": "message refused",
                            "details": refusal.reasons.iter().map(|r| serde_json::json!({"pointer": "", "reason": r})).collect::<Vec<_>>(),
                        }),
                    }),
                }
            }
        }
    }

    /// Marks a dead-lettered message for another round of attempts; `by` says who asked.
    pub fn retry(&self, seq: u64, by: &str) -> Result<OutboxItem, ServiceError> {
        let (_, mut item) = self
            .store
            .outbox()?
            .into_iter()
            .find(|(s, _)| *s == seq)
            .ok_or_else(|| ServiceError::NotFound(format!("outbox entry {seq}")))?;
        if item.state != DeliveryState::DeadLettered {
            return Err(ServiceError::Conflict(format!(
                "outbox entry {seq} is not dead-lettered"
            )));
        }
        item.state = DeliveryState::Failing;
        item.attempts = 0;
        item.next_attempt_ms = 0;
        self.store.update_outbox(seq, &item)?;
        self.record(crate::ledger::chain::EntryBody {
            at: rfc3339(OffsetDateTime::now_utc()),
            event: "retried".into(),
            report_id: item.report_id.clone(),
            peer: item.peer.clone(),
            reason: Some(format!("retried by {by}")),
            message_id: Some(item.message_id.clone()),
            message_sha256: Some(item.sha256.clone()),
            ..Default::default()
        })?;
        self.wake.notify_one();
        Ok(item)
    }
}

/// SHA-256 of a report version's canonical JSON.
pub fn report_digest(r: &Report) -> String {
    envelope::sha256_hex(&envelope::canonical(
        &serde_json::to_value(r).expect("a report serializes"),
    ))
}

/// Selects rustls's `ring` provider for the process (once), so TLS works the same whichever
/// other rustls backends dependencies enable.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
