//! The gateway's durable state behind one trait, so a second backend is an adapter, not a
//! rewrite (STYLE.md: sled's future is uncertain). [`sled_store::SledStore`] is the embedded
//! default. Every write a caller is told about is flushed to disk before the call returns.
//! [`conformance::suite`] runs against every backend.
//!
//! Records are typed: ids are newtypes, labels and states enums. They serialize as the
//! strings earlier releases wrote, so existing stores still read.

mod bloom;
pub mod conformance;
pub mod group_commit;
mod peer_cache;
pub mod postgres_store;
mod records;
pub mod sled_store;
pub mod snapshot;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::disclosure::{Cause, Checkpoint, Entry};
use crate::envelope::{Jws, MessageId, Receipt};
pub use crate::intake::AlertFormat;
use crate::peer::{Peer, PeerId};
use crate::report::ReportId;
use crate::tlp::Tlp;

/// A failure of the store itself (never a statement about the data asked for).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process holds the store (a running gateway).
    #[error("the store at `{path}` is in use by another process (is `irtx serve` running there?)")]
    Locked {
        /// The store's directory.
        path: String,
    },
    /// Another gateway sharing the store appended to the ledger first: the entry no longer
    /// follows the ledger's head. Nothing was written; link the entry again and retry.
    #[error("the ledger moved on while this entry was written (another gateway appended first)")]
    Contended,
    /// The outbox entry a write was to change is no longer there: another gateway sharing
    /// the store finished it (its claim had run out). Nothing was written.
    #[error("outbox entry {seq} was finished by another gateway; nothing was written")]
    Finished {
        /// The entry.
        seq: u64,
    },
    /// The backend failed.
    #[error("store backend: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
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

/// What [`scan_pages`] found: the records kept, with their positions, and where the next
/// page starts.
pub type Scanned<T> = (Vec<(u64, T)>, Option<u64>);

/// Records [`scan_pages`] reads at least at a time.
pub const SCAN_BATCH: usize = 256;

/// Records one page of a search reads at most: a search that finds little in a long list
/// answers with what it found so far and where to go on, instead of reading the whole list
/// in one request (a no-match search of 1,000,000 alerts took 3.7 s). 20,000 took 54-65 ms
/// a page at a million, and 109 ms in a slow hour: 10,000 keeps a page well under 100 ms.
pub const SCAN_BUDGET: usize = 10_000;

/// A filtered page of a list kept by sequence number (outbox, deliveries, alerts): reads
/// records after `after` (at least [`SCAN_BATCH`] at a time) until `limit` of them pass
/// `keep`, the list ends, or `budget` records were read. Returns what passed and, unless the
/// list ended, the position of the last record read, where the next page starts (`None`:
/// the list ended). A page can hold fewer than `limit` records and still have a next.
pub fn scan_pages<T>(
    read: impl Fn(Option<u64>, usize) -> Result<Vec<(u64, T)>>,
    keep: impl Fn(&T) -> bool,
    mut after: Option<u64>,
    limit: usize,
    budget: usize,
) -> Result<Scanned<T>> {
    let limit = limit.max(1);
    let batch = limit.max(SCAN_BATCH);
    let mut out = Vec::new();
    let mut read_so_far = 0usize;
    loop {
        let page = read(after, batch)?;
        let full = page.len() >= batch;
        for (seq, t) in page {
            after = Some(seq);
            read_so_far += 1;
            if keep(&t) {
                out.push((seq, t));
                if out.len() >= limit {
                    return Ok((out, Some(seq)));
                }
            }
        }
        if !full {
            return Ok((out, None));
        }
        if read_so_far >= budget {
            return Ok((out, after));
        }
    }
}

/// A report as submitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredReport {
    /// The report id.
    pub id: ReportId,
    /// The validated report, as JSON.
    pub report: Value,
    /// When it was submitted (RFC 3339).
    pub submitted_at: String,
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
    /// The peer refused it for good (a final 4xx, with or without a signed rejection): an
    /// analyst must look and may retry. The ledger says `refused` too.
    Refused,
}

impl DeliveryState {
    /// The name the API and the pages show.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Queued => "queued",
            DeliveryState::Failing => "failing",
            DeliveryState::DeadLettered => "dead-lettered",
            DeliveryState::Refused => "refused",
        }
    }

    /// Still to be delivered (queued or failing).
    pub fn is_pending(self) -> bool {
        matches!(self, DeliveryState::Queued | DeliveryState::Failing)
    }
}

impl std::str::FromStr for DeliveryState {
    type Err = ();

    /// The state [`DeliveryState::as_str`] names; `Err` for any other word (`delivered`, a
    /// ledger event).
    fn from_str(s: &str) -> std::result::Result<Self, ()> {
        [
            DeliveryState::Queued,
            DeliveryState::Failing,
            DeliveryState::DeadLettered,
            DeliveryState::Refused,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
        .ok_or(())
    }
}

/// A signed message waiting in a peer's outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxItem {
    /// The message id.
    pub message_id: MessageId,
    /// The report it was made from.
    pub report_id: ReportId,
    /// The recipient.
    pub peer: PeerId,
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
    /// The kind of the last failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_cause: Option<Cause>,
}

/// Where a message is: still in the outbox (queued, failing, dead-lettered or refused), or
/// delivered; each with its position there.
#[derive(Debug, Clone, PartialEq)]
pub enum FoundMessage {
    /// In the outbox at this sequence number.
    Outbox(u64, Box<OutboxItem>),
    /// Delivered, at this position of the delivered list.
    Delivered(u64, Box<Delivered>),
}

/// A delivered message with the peer's signed receipt (or, for a TAXII server, its status).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivered {
    /// The message as it was queued.
    pub item: OutboxItem,
    /// The receipt as received (a peer gateway's; a TAXII server signs nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_jws: Option<Jws>,
    /// The receipt's content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<Receipt>,
    /// The TAXII status a peer's TAXII server answered with: an unsigned receipt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taxii_status: Option<Value>,
    /// When the receipt arrived (RFC 3339).
    pub delivered_at: String,
}

/// How an analyst imported a document (DESIGN.md section 9).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportRecord {
    /// The file it came from (its name as given), or `api` for a document posted to the API;
    /// with the position inside the file where it held several (`events.json#/response/2`).
    pub file: String,
    /// What wrote it: `misp` or `stix`, and the producer the document names, if any.
    pub tool: String,
    /// The source the document names (a MISP event's creator organisation, a STIX bundle's
    /// producing identity), if it names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// How the label was read: the STIX marking, the MISP tag, or the configured default.
    pub marking: String,
    /// The source allowed passing its TLP:AMBER on to service providers (given at import).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub provider_permission: bool,
}

/// How an alert came in over TAXII, unsigned (DESIGN.md section 8): posted to our inbox
/// with the peer's token, or read from the peer's collection by our subscription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaxiiRecord {
    /// The peer.
    pub peer: PeerId,
    /// The TAXII status resource of a post to our inbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_id: Option<String>,
    /// The collection URL it was read from, for a pull.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pulled_from: Option<String>,
}

impl TaxiiRecord {
    /// How it came, in a few words.
    pub fn how(&self) -> String {
        match (&self.status_id, &self.pulled_from) {
            (Some(s), _) => format!("posted to our TAXII inbox (status {s})"),
            (None, Some(u)) => format!("pulled from {u}"),
            (None, None) => "TAXII".into(),
        }
    }
}

/// Where an alert came from: a verified message of a peer gateway, or an import.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AlertSource {
    /// A verified message from a peer gateway.
    Peer {
        /// The sending peer.
        sender: PeerId,
        /// The key that signed it.
        kid: String,
        /// The message id.
        message_id: MessageId,
        /// The message as received, so its signature stays checkable.
        jws: Jws,
    },
    /// A document an analyst imported.
    Import {
        /// How.
        import: ImportRecord,
    },
    /// Objects a peer posted to the TAXII inbox (unsigned).
    Taxii {
        /// How.
        taxii: TaxiiRecord,
    },
}

/// An alert's source without the message (what lists show).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SourceMeta {
    /// A verified message from a peer gateway.
    Peer {
        /// The sending peer.
        sender: PeerId,
        /// The key that signed it.
        kid: String,
        /// The message id.
        message_id: MessageId,
    },
    /// A document an analyst imported.
    Import {
        /// How.
        import: ImportRecord,
    },
    /// Objects a peer posted to the TAXII inbox (unsigned).
    Taxii {
        /// How.
        taxii: TaxiiRecord,
    },
}

impl AlertSource {
    /// Who the alert is from, for people and for the TLP decision: the peer's id, or the
    /// imported document's source (or file).
    pub fn name(&self) -> String {
        match self {
            AlertSource::Peer { sender, .. } => sender.to_string(),
            AlertSource::Import { import } => import
                .source
                .clone()
                .unwrap_or_else(|| format!("{} import {}", import.tool, import.file)),
            AlertSource::Taxii { taxii } => taxii.peer.to_string(),
        }
    }
}

/// An inbound document, verified (a peer's message) or imported, with its provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// The alert's id.
    pub id: String,
    /// Where it came from.
    #[serde(flatten)]
    pub source: AlertSource,
    /// When we received or imported it (RFC 3339).
    pub received_at: String,
    /// SHA-256 of the message payload (a peer's) or of the document's canonical JSON (an
    /// import): what duplicates are recognised by.
    pub sha256: String,
    /// The label it came under.
    pub tlp: Tlp,
    /// The document's form.
    pub format: AlertFormat,
    /// The document. (A store may keep a peer's document only as the payload of its `jws`,
    /// and fill it in when reading: absent in a record, it reads as null.)
    #[serde(default)]
    pub document: Value,
    /// Its sender took it back (DESIGN.md section 10): kept for audit, never shared onward.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retracted: Option<Retracted>,
}

/// A retraction of an alert, as received.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Retracted {
    /// When it arrived (RFC 3339).
    pub at: String,
    /// The sender's reason.
    pub reason: String,
    /// The retraction message.
    pub message_id: MessageId,
    /// The alert's STIX objects as the sender re-issued them, `revoked: true`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revoked: Vec<serde_json::Value>,
}

/// The outbox at a glance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct OutboxCounts {
    /// Queued or failing.
    pub pending: u64,
    /// Dead-lettered.
    pub dead_lettered: u64,
}

/// An alert without its document: what lists show, so a list never loads documents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertMeta {
    /// The alert's id.
    pub id: String,
    /// Where it came from.
    #[serde(flatten)]
    pub source: SourceMeta,
    /// When we received it (RFC 3339).
    pub received_at: String,
    /// SHA-256 of the message payload.
    pub sha256: String,
    /// The message's label.
    pub tlp: Tlp,
    /// The document's form.
    pub format: AlertFormat,
    /// The size of the message as received, in bytes (what counts against the sender's
    /// storage quota).
    pub bytes: u64,
    /// The document's title (the STIX report, incident or vulnerability name; the IODEF
    /// description; the MISP event's info), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Objects in the document (STIX objects, IODEF indicators, MISP attributes).
    pub objects: u64,
    /// Its sender took it back.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retracted: bool,
}

impl Alert {
    /// The size of the alert as received, in bytes: the message (a peer's), or the
    /// document (an import).
    pub fn bytes(&self) -> u64 {
        match &self.source {
            AlertSource::Peer { jws, .. } => jws.size(),
            AlertSource::Import { .. } | AlertSource::Taxii { .. } => {
                serde_json::to_vec(&self.document).map_or(0, |v| v.len()) as u64
            }
        }
    }

    /// What report and version the document is, as its sender names them: the STIX
    /// `report` container's id and `modified` (a view keeps its ids across versions), or
    /// the IODEF `IncidentID` and its `instance`. A peer's document already held for
    /// (sender, report, version) is a duplicate, whatever its message id.
    pub fn report_key(&self) -> Option<(String, String)> {
        // The same version in another view (another profile, fields removed) is another
        // document: the version is told apart by content too.
        use sha2::Digest;
        let (report, version) = self.report_and_version()?;
        // The document's compact JSON is hashed as it is written, not gathered first.
        let mut hasher = sha2::Sha256::new();
        serde_json::to_writer(&mut hasher, &self.document).expect("JSON serializes");
        let content: String = hasher
            .finalize()
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect();
        Some((report, format!("{version}#{content}")))
    }

    /// The report and version as the document names them, without the content part of
    /// [`Alert::report_key`] (no hashing: what finding an earlier version needs).
    pub fn report_and_version(&self) -> Option<(String, String)> {
        match self.format {
            AlertFormat::Stix => {
                let report = self.document["objects"]
                    .as_array()?
                    .iter()
                    .find(|o| o["type"] == "report")?;
                Some((
                    report["id"].as_str()?.to_string(),
                    report["modified"].as_str()?.to_string(),
                ))
            }
            AlertFormat::Iodef => {
                let id = &self.document["Incident"][0]["IncidentID"];
                Some((
                    format!("{}/{}", id["name"].as_str()?, id["id"].as_str()?),
                    id["instance"].as_str().unwrap_or("1").to_string(),
                ))
            }
            AlertFormat::Misp => None,
        }
    }

    /// The sending peer, for an alert a peer sent.
    pub fn sender(&self) -> Option<&PeerId> {
        match &self.source {
            AlertSource::Peer { sender, .. } => Some(sender),
            AlertSource::Taxii { taxii } => Some(&taxii.peer),
            AlertSource::Import { .. } => None,
        }
    }

    /// The alert without its document.
    pub fn meta(&self) -> AlertMeta {
        let (title, objects) = match self.format {
            AlertFormat::Stix => {
                let objects = self.document["objects"]
                    .as_array()
                    .map_or(&[][..], Vec::as_slice);
                let main = ["report", "incident", "vulnerability"]
                    .iter()
                    .find_map(|t| {
                        objects
                            .iter()
                            .find(|o| o["type"] == *t)
                            .and_then(|o| o["name"].as_str())
                    });
                (main.map(str::to_string), objects.len() as u64)
            }
            AlertFormat::Iodef => {
                let inc = &self.document["Incident"][0];
                let title = inc["Description"][0]
                    .as_str()
                    .or_else(|| inc["Description"][0]["value"].as_str());
                (
                    title.map(str::to_string),
                    inc["Indicator"].as_array().map_or(0, Vec::len) as u64,
                )
            }
            AlertFormat::Misp => {
                let event = &self.document["Event"];
                let attributes = event["Attribute"].as_array().map_or(0, Vec::len)
                    + event["Object"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|o| o["Attribute"].as_array().map_or(0, Vec::len))
                        .sum::<usize>();
                (
                    event["info"].as_str().map(str::to_string),
                    attributes as u64,
                )
            }
        };
        let source = match &self.source {
            AlertSource::Peer {
                sender,
                kid,
                message_id,
                ..
            } => SourceMeta::Peer {
                sender: sender.clone(),
                kid: kid.clone(),
                message_id: *message_id,
            },
            AlertSource::Import { import } => SourceMeta::Import {
                import: import.clone(),
            },
            AlertSource::Taxii { taxii } => SourceMeta::Taxii {
                taxii: taxii.clone(),
            },
        };
        AlertMeta {
            id: self.id.clone(),
            source,
            received_at: self.received_at.clone(),
            sha256: self.sha256.clone(),
            tlp: self.tlp,
            format: self.format,
            bytes: self.bytes(),
            title: title.map(|t| t.chars().take(200).collect()),
            objects,
            retracted: self.retracted.is_some(),
        }
    }
}

/// What importing a message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Imported {
    /// Stored as a new alert.
    New,
    /// The same sender, id and content were imported before, or the same sender's same
    /// version of the same report.
    Duplicate,
    /// The same sender and id were imported with other content.
    Conflict,
    /// The sender's alerts would take more than its quota; nothing was stored.
    OverQuota {
        /// What the sender's alerts take now, in bytes.
        used: u64,
    },
}

/// One object of a TAXII collection (DESIGN.md section 8): a STIX object as one disclosure
/// carried it, with the collection's own `date_added`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaxiiObject {
    /// The STIX id.
    pub id: String,
    /// Its version: `modified`, else `created`, else the time it was added.
    pub version: String,
    /// Its `spec_version` (`2.1`).
    pub spec_version: String,
    /// When the collection got it, in microseconds since the epoch; strictly increasing
    /// within a collection. Set by [`Store::taxii_publish`].
    #[serde(default)]
    pub date_added_us: i64,
    /// The report the disclosure was of.
    pub report_id: ReportId,
    /// The disclosure (the message a push carries, or would have).
    pub message_id: MessageId,
    /// The object.
    pub object: Value,
}

/// Where a peer's copy of a report stands (DESIGN.md section 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HoldingState {
    /// It holds the version recorded (the latest that may go to it).
    Current,
    /// It holds a later version, recorded under the alert that version came as (a report
    /// passed on from an alert); that holding lists every message it was sent.
    Superseded,
    /// Its copy was retracted: by `irtx report retract`, or because a new version may not
    /// go to it.
    Retracted,
}

/// What one peer holds of one report: the version last disclosed to it, in which form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Holding {
    /// The report.
    pub report_id: ReportId,
    /// The peer.
    pub peer: PeerId,
    /// The version it holds (1 for a report without a version).
    pub version: u32,
    /// Every version sent to it and the message that carried it, oldest first (what a
    /// retraction takes back).
    #[serde(default)]
    pub sent: Vec<(u32, MessageId)>,
    /// The digest of that version.
    pub report_digest: String,
    /// The disclosure that carried it.
    pub message_id: MessageId,
    /// The form it went in.
    #[serde(with = "crate::peer::wire_format")]
    pub format: crate::peer::Format,
    /// The label it went under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marking: Option<Tlp>,
    /// The peer's settings it was rendered under ([`crate::peer::Peer::view`]): the same
    /// version under other settings is another document.
    #[serde(default)]
    pub view: String,
    /// Where it stands.
    pub state: HoldingState,
    /// When this changed last (RFC 3339).
    pub at: String,
    /// Why it is not current, when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What a query of the ledger asks that an index can answer, each a condition every entry
/// the query keeps meets ([`Store::ledger_page`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LedgerLookup<'a> {
    /// Entries about this peer.
    pub peer: Option<&'a str>,
    /// Entries about this report.
    pub report: Option<&'a str>,
    /// Entries that carried this value, in clear or as its pseudonym (ASCII case aside).
    pub indicator: Option<&'a str>,
    /// Entries of this event.
    pub event: Option<crate::disclosure::Event>,
    /// Entries at or after this time.
    pub since: Option<time::OffsetDateTime>,
    /// Entries before this time.
    pub until: Option<time::OffsetDateTime>,
}

/// The position of a collection's last object added at or before `at_us` (0 when there is
/// none), searched by halves of the positions, the first object after each read: positions
/// and `date_added` rise together.
fn added_through_by_halves<S: Store + ?Sized>(
    store: &S,
    collection: &str,
    at_us: i64,
) -> Result<u64> {
    // Every object at or before `lo` was added by `at_us`; the first object after `hi`,
    // if any, was added after it.
    let (mut lo, mut hi) = (0u64, u64::MAX);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match store.taxii_page(collection, mid, 1)?.first() {
            Some((seq, o)) if o.date_added_us <= at_us => lo = *seq,
            _ => hi = mid,
        }
    }
    Ok(lo)
}

/// The first `limit` of `entries` that `keep` keeps.
fn keep_page(
    entries: impl Iterator<Item = Result<Entry>>,
    limit: usize,
    keep: &dyn Fn(&Entry) -> bool,
) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    for e in entries {
        if out.len() >= limit {
            break;
        }
        let e = e?;
        if keep(&e) {
            out.push(e);
        }
    }
    Ok(out)
}

/// The gateway's durable state.
///
/// Every write is durable when it returns, except a write that carries a ledger entry
/// (the `*_recorded` writes, [`Store::ledger_put`], and [`Store::taxii_publish`] and
/// [`Store::taxii_count_pull`] given an entry) and [`Store::taxii_publish_applied`]: that
/// one is applied, in order, when it returns, and durable once [`Store::sync`] returns
/// after it. The ledger (`Ledger::append_with`, above the store: the only caller of those
/// writes outside tests) links entries one at a time and syncs after letting the next one
/// be linked, so that appenders wait for one another's writes, not for one another's
/// flushes, and one flush covers many; a share to several peers
/// (`Ledger::append_applied`) syncs once after all of them. So a reader can see such a
/// write before it is durable: the delivery worker makes the record of a message it read
/// durable before the message leaves ([`Store::sync_outbox`]), so that no peer gets a
/// message whose queued record and ledger entry a crash could still take back, and a TAXII
/// page of objects is answered after a ledger append or a counted pull, each of which
/// syncs. The worker records a delivery without waiting for the disk: a crash that takes
/// the record back leaves the message queued; it goes again, and the peer answers
/// `duplicate` with a signed receipt.
pub trait Store: Send + Sync {
    /// Makes every write applied before the call durable (see above); cheap when there is
    /// nothing unflushed. A store whose every write is durable when it returns has nothing
    /// to do.
    fn sync(&self) -> Result<()> {
        Ok(())
    }
    /// Makes outbox record `seq` durable, with everything applied before it, as
    /// [`Store::sync`] does, but only when the write that queued it may not be on disk yet:
    /// a share syncs before it answers, so a queue worked behind its shares costs no flush.
    fn sync_outbox(&self, seq: u64) -> Result<()> {
        let _ = seq;
        self.sync()
    }
    /// Stores (or replaces) a report.
    fn put_report(&self, r: &StoredReport) -> Result<()>;
    /// A report by id.
    fn report(&self, id: &ReportId) -> Result<Option<StoredReport>>;
    /// Reports by id, after `after`, at most `limit`.
    fn reports_page(&self, after: Option<&ReportId>, limit: usize) -> Result<Vec<StoredReport>>;

    /// Stores (or replaces) a peer.
    fn put_peer(&self, p: &Peer) -> Result<()>;
    /// A peer by id.
    fn peer(&self, id: &PeerId) -> Result<Option<Peer>>;
    /// All peers, by id.
    fn peers(&self) -> Result<Vec<Peer>>;
    /// Removes a peer; true if it existed.
    fn remove_peer(&self, id: &PeerId) -> Result<bool>;

    /// The outbox in order, after sequence number `after`, at most `limit`.
    fn outbox_page(&self, after: Option<u64>, limit: usize) -> Result<Vec<(u64, OutboxItem)>>;
    /// How many messages are still to be delivered (queued or failing) and how many are
    /// dead-lettered, without reading them.
    fn outbox_counts(&self) -> Result<OutboxCounts>;
    /// One outbox entry by its sequence number.
    fn outbox_item(&self, seq: u64) -> Result<Option<OutboxItem>>;
    /// The oldest message for `peer` that is still to be delivered (queued or failing).
    fn outbox_head(&self, peer: &PeerId) -> Result<Option<(u64, OutboxItem)>>;
    /// When [`Store::outbox_head`]'s message is next due (Unix milliseconds): what the
    /// delivery loop asks of every peer with pending messages on each turn. A store that
    /// can answer it without building the signed message should.
    fn outbox_head_due_ms(&self, peer: &PeerId) -> Result<Option<i64>> {
        Ok(self
            .outbox_head(peer)?
            .map(|(_, item)| item.next_attempt_ms))
    }
    /// The peers that have messages still to be delivered, without reading the messages.
    fn peers_with_pending(&self) -> Result<Vec<PeerId>>;
    /// Claims `peer`'s queue for this gateway until a lease runs out, renewing a claim it
    /// holds: false while another gateway sharing the store holds it. Per-peer order holds
    /// across gateways because one of them at a time works a queue. (A store that one
    /// gateway alone uses has nothing to claim: the gateway's own tasks take turns.)
    fn claim_queue(&self, _peer: &PeerId) -> Result<bool> {
        Ok(true)
    }
    /// Lets go of a claim taken by [`Store::claim_queue`].
    fn release_queue(&self, _peer: &PeerId) -> Result<()> {
        Ok(())
    }
    /// Replaces an outbox entry (after an attempt); [`StoreError::Finished`] when it is no
    /// longer there (nothing written).
    fn update_outbox(&self, seq: u64, item: &OutboxItem) -> Result<()>;
    /// [`Store::update_outbox`] and [`Store::ledger_put`] in one atomic write.
    fn update_outbox_recorded(&self, seq: u64, item: &OutboxItem, entry: &Entry) -> Result<()>;
    /// Delivered messages in delivery order, after position `after`, at most `limit`.
    fn delivered_page(&self, after: Option<u64>, limit: usize) -> Result<Vec<(u64, Delivered)>>;
    /// A message by its id, in the outbox or delivered; `None` when neither holds it (a
    /// pull-only peer's disclosure, or no such message). Looked up by the message id, not
    /// by reading the lists.
    fn find_message(&self, id: &MessageId) -> Result<Option<FoundMessage>>;
    /// Appends a message to the outbox together with its ledger entry, in one atomic write:
    /// a message is never queued without its ledger entry, nor recorded without being
    /// queued. Returns its sequence number (increasing).
    fn enqueue_recorded(&self, item: &OutboxItem, entry: &Entry) -> Result<u64>;
    /// Moves an outbox entry to the delivered messages, with its receipt and its ledger
    /// entry, atomically; [`StoreError::Finished`] when it is no longer there (nothing
    /// written: a message is recorded delivered once).
    fn mark_delivered_recorded(&self, seq: u64, d: &Delivered, entry: &Entry) -> Result<()>;

    /// Imports a message as an alert unless (sender, message id) was seen: the same content is
    /// a duplicate, other content a conflict. With a `quota`, refuses an alert that would
    /// take the sender's alerts over that many bytes. Atomic.
    fn import(&self, alert: &Alert, quota: Option<u64>) -> Result<Imported>;
    /// [`Store::import`], and, when it stores a peer's alert as new, the alert that held the
    /// sender's previous version of the same report (what this one supersedes: see
    /// [`Store::alert_for_report`]). A store that can should read it in the import's own
    /// write; this default reads it just before.
    fn import_superseding(
        &self,
        alert: &Alert,
        quota: Option<u64>,
    ) -> Result<(Imported, Option<String>)> {
        let previous = match (&alert.source, alert.report_and_version()) {
            (AlertSource::Peer { sender, .. }, Some((report, _))) => {
                self.alert_for_report(sender, &report)?
            }
            _ => None,
        };
        let imported = self.import(alert, quota)?;
        Ok((imported, previous.filter(|_| imported == Imported::New)))
    }
    /// An alert by id.
    fn alert(&self, id: &str) -> Result<Option<Alert>>;
    /// Alerts without their documents, oldest first, after position `after`, at most
    /// `limit`.
    fn alerts_page(&self, after: Option<u64>, limit: usize) -> Result<Vec<(u64, AlertMeta)>>;
    /// How many alerts there are.
    fn alert_count(&self) -> Result<u64>;
    /// How many alerts there are, if that is known without waiting: `None` while the store
    /// is still counting them for the first time after a start (a page shows that rather
    /// than wait seconds for it).
    fn alert_count_if_known(&self) -> Result<Option<u64>> {
        self.alert_count().map(Some)
    }
    /// What a peer's alerts take, in bytes.
    fn peer_usage(&self, peer: &PeerId) -> Result<u64>;

    /// The last ledger entry.
    fn ledger_last(&self) -> Result<Option<Entry>>;
    /// Appends a ledger entry (its `seq` is the key). The caller serializes appends within a
    /// process; a store several gateways share refuses, with [`StoreError::Contended`], an
    /// entry that does not follow its head (as does every write that carries an entry).
    fn ledger_put(&self, e: &Entry) -> Result<()>;
    /// Every ledger entry in `seq` order, streamed.
    fn ledger_entries(&self) -> Box<dyn Iterator<Item = Result<Entry>> + '_> {
        self.ledger_entries_after(None)
    }
    /// Ledger entries after `seq` `after` (from the first when `None`), streamed.
    fn ledger_entries_after(
        &self,
        after: Option<u64>,
    ) -> Box<dyn Iterator<Item = Result<Entry>> + '_>;
    /// Up to `limit` ledger entries after `seq` `after` that `keep` keeps, in `seq` order:
    /// one page of a query. `lookup` is what of the query an index can answer: every entry
    /// `keep` keeps meets it. (This default reads the ledger from `after` on until the page
    /// is full, the whole ledger for a query that keeps little; a store with indexes reads
    /// the entries they list.)
    fn ledger_page(
        &self,
        lookup: &LedgerLookup<'_>,
        after: Option<u64>,
        limit: usize,
        keep: &dyn Fn(&Entry) -> bool,
    ) -> Result<Vec<Entry>> {
        let _ = lookup;
        keep_page(self.ledger_entries_after(after), limit, keep)
    }
    /// The ledger entries that name message `id`, oldest first. (This default reads the
    /// whole ledger; a store with an index answers from it.)
    fn ledger_of_message(&self, id: &MessageId) -> Result<Vec<Entry>> {
        self.ledger_entries()
            .filter(|e| {
                e.as_ref()
                    .map_or(true, |e| e.body.message_id.as_ref() == Some(id))
            })
            .collect()
    }
    /// The ledger entries about report `id`, oldest first (same default).
    fn ledger_of_report(&self, id: &ReportId) -> Result<Vec<Entry>> {
        self.ledger_entries()
            .filter(|e| e.as_ref().map_or(true, |e| &e.body.report_id == id))
            .collect()
    }
    /// Brings what the store derives from the ledger (indexes) up to its head, so the next
    /// read finds nothing to catch up, and anything else it derives from what it holds (the
    /// sled store: which TAXII objects it holds, in memory). (A store that derives nothing
    /// has nothing to do.)
    fn catch_up_indexes(&self) -> Result<()> {
        Ok(())
    }
    /// What the gateway derived from the store and kept under `name` for its next start
    /// ([`Store::keep_derived`]), if anything.
    fn kept_derived(&self, name: &str) -> Result<Option<Vec<u8>>>;
    /// Keeps `value`, derived from what the store holds (the overview's tally of the
    /// ledger), so that the next start reads it rather than everything it was derived from;
    /// it replaces what was kept under `name`. The sled store does not flush it on its own:
    /// it goes with the next write (a start after a crash reads the one kept before, and
    /// catches up from there). Not moved by `irtx migrate` or a backup: it is derived.
    fn keep_derived(&self, name: &str, value: &[u8]) -> Result<()>;
    /// Every ledger entry as written (its body untyped), for verification.
    fn ledger_raw(&self) -> Box<dyn Iterator<Item = Result<crate::disclosure::RawEntry>> + '_>;
    /// Stores a checkpoint.
    fn put_checkpoint(&self, c: &Checkpoint) -> Result<()>;
    /// Every checkpoint, in `seq` order.
    fn checkpoints(&self) -> Result<Vec<Checkpoint>>;

    /// The team's signed key documents, oldest first (one per rotation).
    fn key_documents(&self) -> Result<Vec<crate::exchange::keydoc::SignedKeyDocument>>;
    /// Appends a signed key document (a rotation).
    fn put_key_document(&self, d: &crate::exchange::keydoc::SignedKeyDocument) -> Result<()>;

    /// Writes a consistent snapshot of the whole store to `out` (`irtx backup`).
    fn snapshot(&self, out: &mut dyn std::io::Write) -> Result<snapshot::Stats>;

    /// Keeps a refused message whose markings were not exact TLP ids, for an analyst: the
    /// record (who, when, why) and the body as received.
    fn quarantine(&self, record: &Value, body: &[u8]) -> Result<()>;
    /// Quarantine records without their bodies, after position `after`, at most `limit`.
    fn quarantine_page(&self, after: Option<u64>, limit: usize) -> Result<Vec<(u64, Value)>>;
    /// One quarantined body, as received.
    fn quarantined_body(&self, seq: u64) -> Result<Option<Vec<u8>>>;

    /// Appends objects to a TAXII collection, in order; each gets a `date_added` strictly
    /// after the collection's last one and no earlier than `now_us`. An object whose `(id,
    /// version)` the collection holds is skipped (the same version has the same content:
    /// views that differ have ids of their own). With `entry`, the ledger entry is written
    /// in the same atomic write; with `holding`, what the peer now holds (as
    /// [`Store::put_holding`], even when no object is new). Returns how many objects were
    /// added. Each object added is stamped with its `date_added` as it is written (taken
    /// mutably so that it is not copied for that).
    fn taxii_publish(
        &self,
        collection: &str,
        now_us: i64,
        objects: &mut [TaxiiObject],
        entry: Option<&Entry>,
        holding: Option<&Holding>,
    ) -> Result<usize>;
    /// As [`Store::taxii_publish`] without a ledger entry, but applied, not yet durable,
    /// when it returns, like a write that carries one: durable once [`Store::sync`] returns
    /// after it. For a caller that makes several writes before it answers and syncs once.
    fn taxii_publish_applied(
        &self,
        collection: &str,
        now_us: i64,
        objects: &mut [TaxiiObject],
        holding: Option<&Holding>,
    ) -> Result<usize> {
        self.taxii_publish(collection, now_us, objects, None, holding)
    }
    /// Up to `limit` objects of a collection after position `after`, in the order added.
    fn taxii_page(
        &self,
        collection: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, TaxiiObject)>>;
    /// Every version of one object in a collection, in the order added.
    fn taxii_versions(&self, collection: &str, id: &str) -> Result<Vec<(u64, TaxiiObject)>>;
    /// The positions and versions of one object in a collection, in the order added: what
    /// [`Store::taxii_versions`] lists, without the objects. (This default reads them; a
    /// store that indexes the versions answers from its index.)
    fn taxii_version_list(&self, collection: &str, id: &str) -> Result<Vec<(u64, String)>> {
        Ok(self
            .taxii_versions(collection, id)?
            .into_iter()
            .map(|(seq, o)| (seq, o.version))
            .collect())
    }
    /// The position of a collection's last object added at or before `at_us` (0 when there
    /// is none): a read of what was added after `at_us` starts after it. `date_added`
    /// rises with the position, so this searches the positions by halves, reading one
    /// object a step.
    fn taxii_added_through(&self, collection: &str, at_us: i64) -> Result<u64> {
        added_through_by_halves(self, collection, at_us)
    }
    /// Counts one pull of a disclosure from a collection and returns the count now; with
    /// `entry` (for the first pull), the ledger entry is written with it.
    fn taxii_count_pull(
        &self,
        collection: &str,
        message_id: &MessageId,
        entry: Option<&Entry>,
    ) -> Result<u64>;
    /// How often a disclosure was pulled from a collection.
    fn taxii_pulls(&self, collection: &str, message_id: &MessageId) -> Result<u64>;
    /// Stores a TAXII status resource, by its id.
    fn put_taxii_status(&self, id: &str, status: &Value) -> Result<()>;
    /// A TAXII status resource.
    fn taxii_status(&self, id: &str) -> Result<Option<Value>>;
    /// The latest alert a peer's documents of one report became (by [`Alert::report_key`]).
    fn alert_for_report(&self, sender: &PeerId, report: &str) -> Result<Option<String>>;
    /// The alert a peer's message became, if any.
    fn alert_by_message(&self, sender: &PeerId, message_id: &MessageId) -> Result<Option<Alert>>;
    /// Replaces a stored alert (the same id) and its metadata.
    fn put_alert(&self, alert: &Alert) -> Result<()>;
    /// Records what a peer holds of a report (replacing what was recorded).
    fn put_holding(&self, h: &Holding) -> Result<()>;
    /// How long each flush to disk run so far that had something to write took, in seconds
    /// (`/metrics`; a clone that goes on counting). A store that does not time its flushes
    /// has none.
    fn flush_times(&self) -> Option<prometheus_client::metrics::histogram::Histogram> {
        None
    }
    /// Flushes to disk run so far that had something to write (benchmarks: under group
    /// commit, fewer than the writes acknowledged). A store that does not count says 0.
    fn flushes(&self) -> u64 {
        0
    }
    /// Every peer's holding of a report, by peer id.
    fn holdings(&self, report: &ReportId) -> Result<Vec<Holding>>;
}

#[cfg(test)]
mod scan_tests {
    use super::*;

    fn list(after: Option<u64>, n: usize) -> Result<Vec<(u64, u64)>> {
        let from = after.map_or(1, |a| a + 1);
        Ok((from..=1000).take(n).map(|s| (s, s)).collect())
    }

    #[test]
    fn pages_of_a_filtered_list_neither_skip_nor_repeat() {
        let even = |v: &u64| v % 2 == 0;
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let (page, next) = scan_pages(list, even, after, 100, usize::MAX).unwrap();
            seen.extend(page.into_iter().map(|(s, _)| s));
            match next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        assert_eq!(seen, (1..=500).map(|i| i * 2).collect::<Vec<u64>>());
        let (first, _) = scan_pages(list, |v| *v == 777, None, 1, usize::MAX).unwrap();
        assert_eq!(first, vec![(777, 777)]);
        assert!(scan_pages(list, |v| *v > 1000, None, 1, usize::MAX)
            .unwrap()
            .0
            .is_empty());
    }

    #[test]
    fn a_search_stops_at_its_budget_and_goes_on_from_there() {
        // 1 in 300 records matches; each page reads at most 256 (one batch) past its budget.
        let rare = |v: &u64| v % 300 == 0;
        let (mut seen, mut pages, mut after) = (Vec::new(), 0, None);
        loop {
            let (page, next) = scan_pages(list, rare, after, 100, 200).unwrap();
            pages += 1;
            seen.extend(page.into_iter().map(|(s, _)| s));
            match next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        assert_eq!(seen, vec![300, 600, 900], "none skipped, none repeated");
        assert_eq!(pages, 4, "1,000 records read 256 at a time");
    }
}

#[cfg(test)]
mod key_tests {
    use super::*;

    /// Stored dedup keys depend on the content part of [`Alert::report_key`], so it is
    /// pinned: the SHA-256 of the document's compact JSON with its keys sorted, as Python's
    /// `json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)` writes it,
    /// escapes and a non-ASCII letter included.
    #[test]
    fn the_content_part_of_a_report_key_is_pinned() {
        let document = serde_json::json!({
            "type": "bundle", "id": "bundle--1",
            "objects": [{
                "type": "report", "id": "report--6f0c2f5e-0000-4000-8000-000000000001",
                "modified": "2026-12-01T00:00:00.000Z",
                "name": "Ransomware \"Bl\u{e5}\" \\ line\none\u{1}",
                "z": 1.5, "a": [1, -2, true, null],
            }],
        });
        let alert = Alert {
            id: "import-1".into(),
            source: AlertSource::Import {
                import: ImportRecord {
                    file: "bundle.json".into(),
                    tool: "stix".into(),
                    source: None,
                    marking: "TLP:GREEN".into(),
                    provider_permission: false,
                },
            },
            received_at: "2026-12-01T00:00:00Z".into(),
            sha256: "0".repeat(64),
            tlp: Tlp::Green,
            format: AlertFormat::Stix,
            document,
            retracted: None,
        };
        assert_eq!(
            alert.report_key(),
            Some((
                "report--6f0c2f5e-0000-4000-8000-000000000001".into(),
                "2026-12-01T00:00:00.000Z#90d0ae6ed2111e3d14865c5f88ff12ea".into()
            ))
        );
    }
}
