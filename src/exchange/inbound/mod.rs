//! The receiver's checks on one message, in the order of DESIGN.md section 2, in two stages
//! so the caller can look the sender up in between (a failing lookup is the caller's error,
//! never a refusal): [`parse`] reads the JWS and the message; [`verify`] checks the key (valid
//! *now*, DESIGN.md section 11), the signature over the exact bytes received, the recipient,
//! the replay window, the document, its markings (exact TLP ids) and the acceptance criteria
//! of ISO/IEC 27035-2 6.4 b 2. Deduplication needs the store and is done by the caller.
//! Pure: the time and the sender's keys are arguments. HTTP status codes are chosen by the
//! API from [`RefusalKind`].

pub mod document;

use ed25519_dalek::VerifyingKey;
use serde_json::Value;
use time::{Duration, OffsetDateTime};

use crate::envelope::strict::{self, JsonLimits};
use crate::envelope::{self, Jws, Message, MessageId, Opened};
use crate::peer::{Format, Peer, PeerId};
use crate::timestamp::{parse_rfc3339, Timestamp};
pub use document::{check_document, iodef_restrictions, stix_markings, DocumentCheck};

/// A peer's signing key, ready to verify with, and when it may be used.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    /// Its RFC 7638 thumbprint.
    pub kid: String,
    /// The key.
    pub key: VerifyingKey,
    /// Valid from (inclusive), if limited.
    pub valid_from: Option<OffsetDateTime>,
    /// Valid until (exclusive), if limited.
    pub valid_until: Option<OffsetDateTime>,
}

impl TrustedKey {
    /// Whether the key may be used at `t`.
    pub fn valid_at(&self, t: OffsetDateTime) -> bool {
        self.valid_with_skew(t, Duration::ZERO)
    }

    /// Whether the key may be used at `t` by a clock up to `skew` ahead of ours: a key that
    /// starts within `skew` of now is taken (a peer's rotation stamped by a clock a little
    /// ahead), one that ended is not.
    pub fn valid_with_skew(&self, t: OffsetDateTime, skew: Duration) -> bool {
        self.valid_from.is_none_or(|f| t + skew >= f) && self.valid_until.is_none_or(|u| t < u)
    }
}

/// A peer's keys, ready to verify with. A stored key that no longer parses (it was checked
/// when the peer was added) is left out.
pub fn trusted_keys(peer: &Peer) -> Vec<TrustedKey> {
    peer.keys
        .iter()
        .filter_map(|k| {
            let key = envelope::parse_public_jwk(&k.jwk).ok()?;
            Some(TrustedKey {
                kid: envelope::thumbprint(&key),
                key,
                valid_from: k.valid_from.map(|t: Timestamp| t.0),
                valid_until: k.valid_until.map(|t: Timestamp| t.0),
            })
        })
        .collect()
}

/// Bounds on what is accepted.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How old `created` may be. Must cover the longest outage a sender retries through;
    /// message ids are remembered at least this long.
    pub replay_window: Duration,
    /// How far in the future `created` may be (clock skew).
    pub future_skew: Duration,
    /// How deep and how long the JSON of a message may be.
    pub json: JsonLimits,
    /// Objects in one STIX bundle, or indicators in one IODEF document.
    pub max_objects: usize,
}

/// A message read from the bytes received, its signature not yet checked.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The JWS as received.
    pub jws: Jws,
    /// Its decoded parts.
    pub opened: Opened,
    /// The message.
    pub message: Message,
    /// SHA-256 of the decoded payload bytes (the receipt's `message_sha256`).
    pub sha256: String,
}

/// A retraction's document (DESIGN.md section 10): the sender takes back what it sent of
/// a report.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetractionDoc {
    /// The report (the sender's id for it).
    pub report: String,
    /// The versions taken back.
    pub versions: Vec<u32>,
    /// The messages that carried them.
    pub messages: Vec<crate::envelope::MessageId>,
    /// Why.
    pub reason: String,
    /// To a STIX peer: the objects it was sent, re-issued with `revoked: true` and a later
    /// `modified` (DESIGN.md section 10). Absent for IODEF.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<Value>,
}

/// A message that passed every check but deduplication.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The message.
    pub message: Message,
    /// The JWS as received (kept with the alert, so its signature stays checkable).
    pub jws: Jws,
    /// The key that signed it.
    pub kid: String,
    /// SHA-256 of the decoded payload bytes (the receipt's `message_sha256`).
    pub sha256: String,
    /// The document's format (`None` for a retraction).
    pub format: Option<Format>,
    /// The retraction, when the message is one.
    pub retraction: Option<RetractionDoc>,
    /// `created`.
    pub created: OffsetDateTime,
}

/// What kind of refusal: the API picks the status code from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// Not a JWS, or its payload not a message.
    Malformed,
    /// The sender is not a peer.
    UnknownSender,
    /// A key the sender is not known to have (it may have rotated: its key document says).
    UnknownKey,
    /// An expired key, or a bad signature.
    Unauthenticated,
    /// Authentic, but not for us or outside the replay window.
    Forbidden,
    /// The sender is over its rate.
    RateLimited,
    /// Authentic and for us, but the document fails its checks.
    Invalid,
}

/// A refusal: its kind, every reason, and the sender if it could be identified (then the
/// answer is a signed `rejected` receipt; otherwise the JSON error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// What kind.
    pub kind: RefusalKind,
    /// Why, for a person.
    pub reasons: Vec<String>,
    /// A known peer that sent it (signature checked or not), to address a receipt to.
    pub sender: Option<PeerId>,
    /// The message id, when it could be read.
    pub message_id: Option<MessageId>,
    /// SHA-256 of the payload, when it could be decoded.
    pub sha256: Option<String>,
    /// The content is held for an analyst instead of imported (unknown markings).
    pub quarantine: bool,
}

impl Refusal {
    fn malformed(reason: impl Into<String>) -> Self {
        Refusal {
            kind: RefusalKind::Malformed,
            reasons: vec![reason.into()],
            sender: None,
            message_id: None,
            sha256: None,
            quarantine: false,
        }
    }
}

/// At most `max` reasons, then one that counts the rest: a refusal stays small however many
/// problems a document has.
pub fn cap_reasons(mut reasons: Vec<String>, max: usize) -> Vec<String> {
    if reasons.len() > max {
        let more = reasons.len() - max;
        reasons.truncate(max);
        reasons.push(format!("... and {more} more problems"));
    }
    reasons
}

/// Reads a received body: a flattened JWS whose payload is a message, each read strictly
/// (no key twice in an object, bounded depth and strings) as it is built: one pass each.
pub fn parse(body: &[u8], json: JsonLimits) -> Result<Parsed, Refusal> {
    let not_jws = |e: String| Refusal::malformed(format!("not a flattened JWS JSON object: {e}"));
    let jws: Jws = strict::read(body, json)
        .map_err(|e| not_jws(e.to_string()))
        .and_then(|v| serde_json::from_value(v).map_err(|e| not_jws(e.to_string())))?;
    let opened = envelope::open(&jws).map_err(|e| Refusal::malformed(e.to_string()))?;
    let payload = strict::read(&opened.payload, json)
        .map_err(|e| Refusal::malformed(format!("the payload: {e}")))?;
    let sha256 = envelope::sha256_hex(&opened.payload);
    let message = Message::from_value(payload)
        .map_err(|e| Refusal::malformed(format!("the payload is not a message: {e}")))?;
    Ok(Parsed {
        jws,
        opened,
        message,
        sha256,
    })
}

/// Runs every check but deduplication on a parsed message. `keys` are the sender's keys, or
/// `None` when the sender is not a peer. `admit` is asked once the sender is authentic and
/// before the document is checked, and says why not (a per-peer rate limit, a full storage
/// quota: a stranger cannot spend a peer's quota, and a peer over it costs no validation).
pub fn verify(
    parsed: Parsed,
    me: &str,
    keys: Option<&[TrustedKey]>,
    admit: impl FnOnce(&PeerId) -> Result<(), String>,
    now: OffsetDateTime,
    limits: Limits,
) -> Result<Verified, Refusal> {
    let Parsed {
        jws,
        opened,
        message,
        sha256,
    } = parsed;
    let refuse = |kind: RefusalKind, reasons: Vec<String>, quarantine: bool, known: bool| Refusal {
        kind,
        reasons,
        sender: known.then(|| message.from.clone()),
        message_id: Some(message.id),
        sha256: Some(sha256.clone()),
        quarantine,
    };
    let Some(keys) = keys else {
        return Err(refuse(
            RefusalKind::UnknownSender,
            vec![format!("unknown sender `{}`", message.from)],
            false,
            false,
        ));
    };
    let Some(key) = keys.iter().find(|k| k.kid == opened.kid) else {
        return Err(refuse(
            RefusalKind::UnknownKey,
            vec![format!(
                "unknown key `{}` for sender `{}`",
                opened.kid, message.from
            )],
            false,
            true,
        ));
    };
    // DESIGN.md section 11: the key must be valid now, whatever the message says of its age.
    if !key.valid_with_skew(now, limits.future_skew) {
        let why = match (key.valid_from, key.valid_until) {
            (Some(f), _) if now + limits.future_skew < f => {
                format!("key `{}` is not valid before {}", key.kid, fmt(f))
            }
            (_, Some(u)) => format!("key `{}` expired at {}", key.kid, fmt(u)),
            _ => format!("key `{}` is not valid now", key.kid),
        };
        return Err(refuse(RefusalKind::Unauthenticated, vec![why], false, true));
    }
    opened.verify(&key.key).map_err(|e| {
        refuse(
            RefusalKind::Unauthenticated,
            vec![e.to_string()],
            false,
            true,
        )
    })?;

    if let Err(why) = admit(&message.from) {
        return Err(refuse(RefusalKind::RateLimited, vec![why], false, true));
    }

    // The sender is authentic from here on; collect every remaining problem.
    let mut reasons = Vec::new();
    let mut kind = RefusalKind::Invalid;
    if message.to != *me {
        reasons.push(format!("addressed to `{}`, not to `{me}`", message.to));
        kind = RefusalKind::Forbidden;
    }
    let created = match parse_rfc3339(&message.created) {
        Some(t) => t,
        None => {
            reasons.push(format!(
                "`created` ({}) is not an RFC 3339 time",
                message.created
            ));
            now
        }
    };
    let age = now - created;
    if age > limits.replay_window {
        reasons.push(format!(
            "`created` is {}s old, outside the replay window of {}s",
            age.whole_seconds(),
            limits.replay_window.whole_seconds()
        ));
        kind = RefusalKind::Forbidden;
    } else if -age > limits.future_skew {
        reasons.push(format!(
            "`created` is {}s in the future",
            (-age).whole_seconds()
        ));
        kind = RefusalKind::Forbidden;
    }
    let format = Format::from_wire_name(&message.format);
    let mut quarantine = false;
    let mut retraction = None;
    match format {
        None if message.format == crate::exchange::outbound::RETRACTION => {
            match serde_json::from_value::<RetractionDoc>(message.document.clone()) {
                Ok(r) if !r.messages.is_empty() => {
                    let before = reasons.len();
                    check_revoked(&r.objects, &mut reasons);
                    if reasons.len() == before {
                        retraction = Some(r);
                    }
                }
                Ok(_) => reasons.push("a retraction names the messages it takes back".into()),
                Err(e) => reasons.push(format!(
                    "the retraction is not {{report, versions, messages, reason}}: {e}"
                )),
            }
        }
        None => reasons.push(format!(
            "`format` `{}` is not stix-2.1, iodef-2 or retraction",
            message.format
        )),
        Some(format) => {
            let checked =
                check_document(&message.document, format, message.tlp, limits.max_objects);
            quarantine = checked.quarantine;
            reasons.extend(checked.reasons);
        }
    }
    if reasons.is_empty() && (format.is_some() || retraction.is_some()) {
        Ok(Verified {
            jws,
            kid: opened.kid,
            sha256,
            format,
            retraction,
            created,
            message,
        })
    } else {
        Err(refuse(kind, reasons, quarantine, true))
    }
}

fn fmt(t: OffsetDateTime) -> String {
    crate::timestamp::rfc3339(t)
}

/// The objects a retraction re-issues must say so: each a STIX object (`type`, `id`) with
/// `revoked: true` and a `modified`.
fn check_revoked(objects: &[Value], reasons: &mut Vec<String>) {
    for (i, o) in objects.iter().enumerate() {
        let at = format!("/document/objects/{i}");
        if !(o["type"].is_string() && o["id"].is_string()) {
            reasons.push(format!("{at}: not a STIX object (`type` and `id`)"));
        } else if o["revoked"] != Value::Bool(true) {
            reasons.push(format!(
                "{at}: a retraction re-issues objects with `revoked: true`"
            ));
        } else if !o["modified"].is_string() {
            reasons.push(format!("{at}: a revoked object has a `modified`"));
        }
    }
}
