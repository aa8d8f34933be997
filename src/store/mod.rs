//! The gateway's durable state behind one trait, so a second backend is an adapter, not a
//! rewrite (STYLE.md: sled's future is uncertain). [`sled_store::SledStore`] is the embedded
//! default. Every write a caller is told about is flushed to disk before the call returns.
//! [`conformance::suite`] runs against every backend.

pub mod conformance;
pub mod sled_store;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::envelope::{Jws, Receipt};

/// A failure of the store itself.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend failed.
    #[error("store backend: {0}")]
    Backend(String),
    /// A stored record does not decode (corruption or a version mismatch).
    #[error("stored record `{key}` does not decode: {reason}")]
    Corrupt {
        /// Which record.
        key: String,
        /// What the decoder said.
        reason: String,
    },
}

/// Result of a store call.
pub type Result<T> = std::result::Result<T, StoreError>;

/// A report as submitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredReport {
    /// The report id.
    pub id: String,
    /// The validated report, as JSON.
    pub report: Value,
    /// When it was submitted (RFC 3339).
    pub submitted_at: String,
}

/// A peer's key with its validity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerKeyRecord {
    /// The public JWK.
    pub jwk: Value,
    /// Its RFC 7638 thumbprint.
    pub kid: String,
    /// Valid from (RFC 3339), if limited.
    #[serde(default)]
    pub valid_from: Option<String>,
    /// Valid until (RFC 3339), if limited.
    #[serde(default)]
    pub valid_until: Option<String>,
}

/// A peer as the gateway stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerRecord {
    /// Peer id.
    pub id: String,
    /// Base URL: messages go to `{url}/exchange/v1/messages`.
    pub url: String,
    /// Its signing keys (several during a rotation).
    pub keys: Vec<PeerKeyRecord>,
    /// The highest label of our own content it may receive.
    pub max_tlp: String,
    /// Its audience class.
    pub audience: String,
    /// Its anonymization profile.
    pub profile: String,
    /// `stix` or `iodef`.
    pub format: String,
    /// `federation` or `peer`.
    pub key_domain: String,
}

/// Where a queued message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeliveryState {
    /// Waiting for its first attempt.
    Queued,
    /// Failed at least once; will be retried.
    Failing,
    /// Gave up: an analyst must look and may retry.
    DeadLettered,
}

/// A signed message waiting in a peer's outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxItem {
    /// The message id.
    pub message_id: String,
    /// The report it was made from.
    pub report_id: String,
    /// The recipient.
    pub peer: String,
    /// The signed message.
    pub jws: Jws,
    /// SHA-256 of its payload.
    pub sha256: String,
    /// When it was queued (RFC 3339).
    pub queued_at: String,
    /// Attempts made so far.
    pub attempts: u32,
    /// Not before this time (Unix milliseconds).
    pub next_attempt_ms: i64,
    /// Where it stands.
    pub state: DeliveryState,
    /// The last failure, for the analyst.
    #[serde(default)]
    pub last_error: Option<String>,
}

/// A delivered message with the peer's signed receipt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivered {
    /// The message as it was queued.
    pub item: OutboxItem,
    /// The receipt as received.
    pub receipt_jws: Jws,
    /// The receipt's content.
    pub receipt: Receipt,
    /// When the receipt arrived (RFC 3339).
    pub delivered_at: String,
}

/// An imported message with its provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// The alert's id.
    pub id: String,
    /// The sending peer.
    pub sender: String,
    /// The key that signed it.
    pub kid: String,
    /// When we received it (RFC 3339).
    pub received_at: String,
    /// The message id.
    pub message_id: String,
    /// SHA-256 of the message payload.
    pub sha256: String,
    /// The message's label.
    pub tlp: String,
    /// `stix-2.1` or `iodef-2`.
    pub format: String,
    /// The document.
    pub document: Value,
    /// The message as received, so its signature stays checkable.
    pub jws: Jws,
}

/// What importing a message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Imported {
    /// Stored as a new alert.
    New,
    /// The same sender, id and content were imported before.
    Duplicate,
    /// The same sender and id were imported with other content.
    Conflict,
}

/// The gateway's durable state.
pub trait Store: Send + Sync {
    /// Stores (or replaces) a report.
    fn put_report(&self, r: &StoredReport) -> Result<()>;
    /// A report by id.
    fn report(&self, id: &str) -> Result<Option<StoredReport>>;
    /// All reports, by id.
    fn reports(&self) -> Result<Vec<StoredReport>>;

    /// Stores (or replaces) a peer.
    fn put_peer(&self, p: &PeerRecord) -> Result<()>;
    /// A peer by id.
    fn peer(&self, id: &str) -> Result<Option<PeerRecord>>;
    /// All peers, by id.
    fn peers(&self) -> Result<Vec<PeerRecord>>;
    /// Removes a peer; true if it existed.
    fn remove_peer(&self, id: &str) -> Result<bool>;

    /// Appends a message to the outbox; returns its sequence number (increasing).
    fn enqueue(&self, item: &OutboxItem) -> Result<u64>;
    /// Everything in the outbox, in order.
    fn outbox(&self) -> Result<Vec<(u64, OutboxItem)>>;
    /// The oldest message for `peer` that is still to be delivered (queued or failing).
    fn outbox_head(&self, peer: &str) -> Result<Option<(u64, OutboxItem)>>;
    /// The peers that have messages still to be delivered, without reading the messages.
    fn peers_with_pending(&self) -> Result<Vec<String>>;
    /// Replaces an outbox entry (after an attempt).
    fn update_outbox(&self, seq: u64, item: &OutboxItem) -> Result<()>;
    /// Moves an outbox entry to the delivered messages, with its receipt, atomically.
    fn mark_delivered(&self, seq: u64, d: &Delivered) -> Result<()>;
    /// Every delivered message, in delivery order.
    fn delivered(&self) -> Result<Vec<Delivered>>;
    /// [`Store::enqueue`] and [`Store::ledger_put`] in one atomic write: a message is never
    /// queued without its ledger entry, nor recorded without being queued.
    fn enqueue_recorded(
        &self,
        item: &OutboxItem,
        entry: &crate::ledger::chain::Entry,
    ) -> Result<u64>;
    /// [`Store::mark_delivered`] and [`Store::ledger_put`] in one atomic write.
    fn mark_delivered_recorded(
        &self,
        seq: u64,
        d: &Delivered,
        entry: &crate::ledger::chain::Entry,
    ) -> Result<()>;

    /// Imports a message as an alert unless (sender, message id) was seen: the same content is
    /// a duplicate, other content a conflict. Atomic.
    fn import(&self, alert: &Alert) -> Result<Imported>;
    /// An alert by id.
    fn alert(&self, id: &str) -> Result<Option<Alert>>;
    /// All alerts, oldest first.
    fn alerts(&self) -> Result<Vec<Alert>>;
    /// The last ledger entry.
    fn ledger_last(&self) -> Result<Option<crate::ledger::chain::Entry>>;
    /// Appends a ledger entry (its `seq` is the key). The caller serializes appends.
    fn ledger_put(&self, e: &crate::ledger::chain::Entry) -> Result<()>;
    /// Every ledger entry in `seq` order, streamed.
    fn ledger_entries(&self) -> Box<dyn Iterator<Item = Result<crate::ledger::chain::Entry>> + '_>;
    /// Stores a checkpoint.
    fn put_checkpoint(&self, c: &crate::ledger::chain::Checkpoint) -> Result<()>;
    /// Every checkpoint, in `seq` order.
    fn checkpoints(&self) -> Result<Vec<crate::ledger::chain::Checkpoint>>;

    /// Keeps a refused message whose markings were not exact TLP ids, for an analyst.
    fn quarantine(&self, record: &Value) -> Result<()>;
    /// The quarantined messages.
    fn quarantined(&self) -> Result<Vec<Value>>;
}
