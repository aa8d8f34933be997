//! What the disclosure ledger records (DESIGN.md section 1, "disclosure"): one entry per
//! decision and per change of delivery state, typed, and the hash chain over the entries
//! ([`chain`]). Pure: the ledger's writer and queries, which need the store, are in
//! the ledger module (an adapter); the store keeps these types without knowing the chain.
//!
//! Every enum here serializes as the strings earlier releases wrote, so their stores and
//! exports still read and verify.

pub mod chain;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::envelope::{Jws, MessageId};
use crate::peer::{named_enum, Format, PeerId, UnknownValue};
use crate::report::redact::Removal;
use crate::report::ReportId;
use crate::tlp::Tlp;

pub use chain::{Broken, Checkpoint, Verified, GENESIS};

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Event {
    /// A message was made and queued for the peer (the decision "send").
    Queued,
    /// Nothing was sent: the policy kept the report from the peer.
    Withheld,
    /// Nothing was sent: the document could not be made (a profile without its key, say).
    Error,
    /// The first delivery attempt failed; retries follow.
    Failing,
    /// Every attempt failed; an analyst must look.
    DeadLettered,
    /// The peer refused the message for good (a 4xx).
    Refused,
    /// An analyst sent a dead-lettered message round again.
    Retried,
    /// The peer's signed receipt came back and verified.
    Delivered,
    /// Put in the peer's TAXII collection for it to pull (a `taxii-pull` peer: the
    /// decision "send").
    Published,
    /// The peer pulled the disclosure from its TAXII collection, for the first time (later
    /// pulls are counted, not recorded one by one).
    Pulled,
    /// An alert came in unsigned, over the TAXII inbox: its provenance is the peer's token.
    Received,
    /// A retraction was queued for the peer (sender), or the sender's retraction was
    /// taken (receiver): the peer's copy is taken back (DESIGN.md section 10).
    Retracted,
    /// A share's answer only, never recorded: the peer already holds this version, so
    /// nothing was sent (DESIGN.md section 10; `resend` forces it).
    Held,
}

named_enum!(Event, "a ledger event", [
    Queued => "queued",
    Withheld => "withheld",
    Error => "error",
    Failing => "failing",
    DeadLettered => "dead-lettered",
    Refused => "refused",
    Retried => "retried",
    Delivered => "delivered",
    Published => "published",
    Pulled => "pulled",
    Received => "received",
    Retracted => "retracted",
    Held => "held",
]);

impl Event {
    /// True for the decisions (one per report and peer and share), false for delivery state
    /// changes.
    pub fn is_decision(self) -> bool {
        matches!(
            self,
            Event::Queued | Event::Withheld | Event::Error | Event::Published
        )
    }
}

/// Why nothing went, or why a delivery did not succeed: the kind of a reason, for grouping
/// and filtering; the entry's `reason` is the sentence for a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cause {
    /// TLP:RED never leaves automatically.
    Red,
    /// Our own content above the peer's `max_tlp`.
    AboveMaxTlp,
    /// Only TLP:CLEAR goes to a public peer.
    PublicPeer,
    /// Received content the TLP audience rules keep from this peer.
    Audience,
    /// Received AMBER to a service provider without the source's permission.
    ProviderPermission,
    /// A field the report cannot do without was removed.
    NeedsField,
    /// The peer is not in the list of peers.
    UnknownPeer,
    /// The peer's profile is not known.
    UnknownProfile,
    /// The peer's profile pseudonymizes and its key is not configured.
    NoKey,
    /// The profile could not be applied to this report.
    Profile,
    /// IODEF needs the team's domain (`[team] domain`), and none is configured.
    NoDomain,
    /// irtx made a document that fails its schema (a bug; nothing sent).
    BadOutput,
    /// The peer could not be reached.
    Unreachable,
    /// The peer did not answer in time.
    Timeout,
    /// The peer answered with a server error (5xx).
    PeerError,
    /// The peer asked us to slow down (429).
    RateLimited,
    /// The answer was not a valid receipt for the message.
    BadAnswer,
    /// The receipt was signed with a key the peer is not known to have.
    UnknownKey,
    /// The answer was larger than a receipt may be.
    AnswerTooLarge,
    /// The peer refused the message with a signed receipt.
    Rejected,
    /// The peer refused the message without a receipt (a JSON error or other answer).
    RefusedUnsigned,
}

named_enum!(Cause, "a cause", [
    Red => "red",
    AboveMaxTlp => "above-max-tlp",
    PublicPeer => "public-peer",
    Audience => "audience",
    ProviderPermission => "provider-permission",
    NeedsField => "needs-field",
    UnknownPeer => "unknown-peer",
    UnknownProfile => "unknown-profile",
    NoKey => "no-key",
    Profile => "profile",
    NoDomain => "no-domain",
    BadOutput => "bad-output",
    Unreachable => "unreachable",
    Timeout => "timeout",
    PeerError => "peer-error",
    RateLimited => "rate-limited",
    BadAnswer => "bad-answer",
    UnknownKey => "unknown-key",
    AnswerTooLarge => "answer-too-large",
    Rejected => "rejected",
    RefusedUnsigned => "refused-unsigned",
]);

impl Cause {
    /// A short phrase for lists and charts.
    pub fn describe(self) -> &'static str {
        match self {
            Cause::Red => "TLP:RED never leaves",
            Cause::AboveMaxTlp => "above the peer's max TLP",
            Cause::PublicPeer => "only CLEAR to a public peer",
            Cause::Audience => "TLP audience rules",
            Cause::ProviderPermission => "AMBER to a provider without permission",
            Cause::NeedsField => "a needed field was removed",
            Cause::UnknownPeer => "unknown peer",
            Cause::UnknownProfile => "unknown profile",
            Cause::NoKey => "no anonymization key",
            Cause::Profile => "profile could not be applied",
            Cause::NoDomain => "no team domain for IODEF",
            Cause::BadOutput => "invalid output (bug)",
            Cause::Unreachable => "peer unreachable",
            Cause::Timeout => "peer timed out",
            Cause::PeerError => "peer server error",
            Cause::RateLimited => "peer rate limit",
            Cause::BadAnswer => "invalid receipt",
            Cause::UnknownKey => "receipt under an unknown key",
            Cause::AnswerTooLarge => "answer too large",
            Cause::Rejected => "rejected by the peer",
            Cause::RefusedUnsigned => "refused by the peer (unsigned)",
        }
    }
}

/// One value a disclosure carried: as it is in our report, and as the peer got it (the same
/// when sent in clear, a pseudonym otherwise).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disclosed {
    /// The value in our report.
    pub value: String,
    /// What the peer received.
    pub sent_as: String,
}

/// What one ledger entry records: a decision or a change of delivery state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntryBody {
    /// When (RFC 3339, as written; the hash covers this text).
    pub at: String,
    /// What happened.
    pub event: Event,
    /// The report.
    pub report_id: ReportId,
    /// SHA-256 of the report version's canonical JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_digest: Option<String>,
    /// The peer.
    pub peer: PeerId,
    /// Why (withheld, failing, refused) or who (retried), for a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The kind of the reason (entries of earlier releases have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
    /// Fields removed before sending.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<Removal>,
    /// The marking sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marking: Option<Tlp>,
    /// The anonymization profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// The key domain of the pseudonyms (`federation`, `peer:ID`, or `none`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_domain: Option<String>,
    /// The format sent.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::peer::wire_format::option"
    )]
    pub format: Option<Format>,
    /// SHA-256 of the canonical document sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_sha256: Option<String>,
    /// The message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<MessageId>,
    /// SHA-256 of the message payload (what the receipt names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_sha256: Option<String>,
    /// The indicator values the disclosure carried, and how.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indicators: Vec<Disclosed>,
    /// The peer's signed receipt (delivered, refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<Jws>,
    /// For onward sharing: the alert passed on and where it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onward: Option<Onward>,
}

/// What an onward share passed on (DESIGN.md sections 5 and 9): the alert, its source, the
/// label it came under, and whether the source allowed TLP:AMBER to service providers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Onward {
    /// The alert.
    pub alert_id: String,
    /// Its source: the peer that sent it, or the imported document's source.
    pub source: String,
    /// How it came: `peer` (a verified message) or `import` (and the file).
    pub via: String,
    /// The label it came under.
    pub received_as: Tlp,
    /// The source allowed passing its TLP:AMBER on to service providers.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub provider_permission: bool,
}

impl EntryBody {
    /// An entry of `event` about `report` and `peer` at `at`, with nothing else recorded yet.
    pub fn new(at: String, event: Event, report_id: ReportId, peer: PeerId) -> Self {
        EntryBody {
            at,
            event,
            report_id,
            report_digest: None,
            peer,
            reason: None,
            cause: None,
            removed: Vec::new(),
            marking: None,
            profile: None,
            key_domain: None,
            format: None,
            document_sha256: None,
            message_id: None,
            message_sha256: None,
            indicators: Vec::new(),
            receipt: None,
            onward: None,
        }
    }

    /// The same entry with its reason and the reason's kind.
    pub fn because(mut self, cause: Cause, reason: impl Into<String>) -> Self {
        self.cause = Some(cause);
        self.reason = Some(reason.into());
        self
    }
}

/// A ledger entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the chain, from 0.
    pub seq: u64,
    /// The previous entry's hash ([`GENESIS`] for the first).
    pub prev: String,
    /// What it records.
    pub body: EntryBody,
    /// SHA-256 of the canonical JSON of `{seq, prev, body}`.
    pub hash: String,
}

/// An entry as written, its body untyped: what verification hashes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RawEntry {
    /// Position in the chain.
    pub seq: u64,
    /// The previous entry's hash.
    pub prev: String,
    /// What it records, as written.
    pub body: serde_json::Value,
    /// Its hash.
    pub hash: String,
}

impl From<&Entry> for RawEntry {
    fn from(e: &Entry) -> Self {
        RawEntry {
            seq: e.seq,
            prev: e.prev.clone(),
            body: serde_json::to_value(&e.body).expect("an entry body serializes"),
            hash: e.hash.clone(),
        }
    }
}

impl fmt::Display for EntryBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.event, self.peer, self.report_id)?;
        if let Some(o) = &self.onward {
            write!(f, " (from {}, received TLP:{})", o.source, o.received_as)?;
        }
        Ok(())
    }
}

/// Parses `s` as an event name (for filters given as text).
pub fn parse_event(s: &str) -> Result<Event, UnknownValue> {
    Event::from_str(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_and_causes_read_back_as_written() {
        for e in Event::ALL {
            let v = serde_json::to_value(e).unwrap();
            assert_eq!(v, e.as_str());
            assert_eq!(serde_json::from_value::<Event>(v).unwrap(), *e);
        }
        for c in Cause::ALL {
            assert_eq!(c.as_str().parse::<Cause>().unwrap(), *c);
        }
        let err = "lost".parse::<Event>().unwrap_err().to_string();
        assert!(err.contains("dead-lettered"), "{err}");
    }
}
