//! The receiver's checks on one message, in the order of DESIGN.md section 2, in two stages
//! so the caller can look the sender up in between (a failing lookup is the caller's error,
//! never a refusal): [`parse`] reads the JWS and the message; [`verify`] checks the key (valid
//! *now*, DESIGN.md section 11), the signature over the exact bytes received, the recipient,
//! the replay window, the document, its markings (exact TLP ids) and the acceptance criteria
//! of ISO/IEC 27035-2 6.4 b 2. Deduplication needs the store and is done by the caller.
//! Pure: the time and the sender's keys are arguments. HTTP status codes are chosen by the
//! API from [`RefusalKind`].

use ed25519_dalek::VerifyingKey;
use serde_json::Value;
use time::{Duration, OffsetDateTime};

use crate::envelope::{self, Jws, Message, MessageId, Opened};
use crate::peer::{Format, Peer, PeerId};
use crate::schema;
use crate::timestamp::{parse_rfc3339, Timestamp};
use crate::tlp::Tlp;

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
        self.valid_from.is_none_or(|f| t >= f) && self.valid_until.is_none_or(|u| t < u)
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
    /// The document's format.
    pub format: Format,
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
    /// Unknown or expired key, or a bad signature.
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

/// Reads a received body: a flattened JWS whose payload is a message.
pub fn parse(body: &[u8]) -> Result<Parsed, Refusal> {
    let jws: Jws = serde_json::from_slice(body)
        .map_err(|e| Refusal::malformed(format!("not a flattened JWS JSON object: {e}")))?;
    let opened = envelope::open(&jws).map_err(|e| Refusal::malformed(e.to_string()))?;
    let sha256 = envelope::sha256_hex(&opened.payload);
    let message: Message = serde_json::from_slice(&opened.payload)
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
/// before the document is checked (a per-peer rate limit: a stranger cannot spend a peer's
/// quota, and a peer over its quota costs no validation).
pub fn verify(
    parsed: Parsed,
    me: &str,
    keys: Option<&[TrustedKey]>,
    admit: impl FnOnce(&PeerId) -> bool,
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
            RefusalKind::Unauthenticated,
            vec![format!(
                "unknown key `{}` for sender `{}`",
                opened.kid, message.from
            )],
            false,
            true,
        ));
    };
    // DESIGN.md section 11: the key must be valid now, whatever the message says of its age.
    if !key.valid_at(now) {
        let why = match (key.valid_from, key.valid_until) {
            (Some(f), _) if now < f => format!("key `{}` is not valid before {}", key.kid, fmt(f)),
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

    if !admit(&message.from) {
        return Err(refuse(
            RefusalKind::RateLimited,
            vec![format!(
                "too many messages from `{}`; retry later",
                message.from
            )],
            false,
            true,
        ));
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
    match format {
        None => reasons.push(format!(
            "`format` `{}` is not stix-2.1 or iodef-2",
            message.format
        )),
        Some(format) => {
            let checked = check_document(&message.document, format, message.tlp);
            quarantine = checked.quarantine;
            reasons.extend(checked.reasons);
        }
    }
    match format {
        Some(format) if reasons.is_empty() => Ok(Verified {
            jws,
            kid: opened.kid,
            sha256,
            format,
            created,
            message,
        }),
        _ => Err(refuse(kind, reasons, quarantine, true)),
    }
}

/// What the document checks found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocumentCheck {
    /// Every problem.
    pub reasons: Vec<String>,
    /// Some marking is not an exact TLP marking: hold the document for an analyst.
    pub quarantine: bool,
    /// The most restrictive label the document carries.
    pub max_marking: Option<Tlp>,
}

/// Checks an exchange document: its schema, its markings (exact TLP ids, none above `tlp`),
/// and the acceptance criteria of ISO/IEC 27035-2 6.4 b 2.
pub fn check_document(doc: &Value, format: Format, tlp: Tlp) -> DocumentCheck {
    /// A format's schema check, marking reader and acceptance criteria.
    type Checks = (
        fn(&Value) -> Vec<schema::Violation>,
        fn(&Value) -> (Vec<Tlp>, Vec<String>),
        fn(&Value) -> Vec<String>,
    );
    let (validate, markings, acceptance): Checks = match format {
        Format::Stix => (schema::check_stix_bundle, stix_markings, stix_acceptance),
        Format::Iodef => (
            |d| schema::check(schema::iodef_rfc8727(), d),
            iodef_restrictions,
            iodef_acceptance,
        ),
    };
    let mut out = DocumentCheck::default();
    let problems = validate(doc);
    out.reasons
        .extend(problems.iter().map(|p| format!("document {p}")));
    if !problems.is_empty() {
        return out;
    }
    let (marks, unknown) = markings(doc);
    if !unknown.is_empty() {
        out.quarantine = true;
        out.reasons.extend(unknown);
    }
    out.max_marking = marks.into_iter().max();
    if let Some(max) = out.max_marking {
        if max > tlp {
            out.reasons.push(format!(
                "the document carries TLP:{max}, above the message's TLP:{tlp}"
            ));
        }
    }
    out.reasons.extend(acceptance(doc));
    out
}

fn fmt(t: OffsetDateTime) -> String {
    crate::timestamp::rfc3339(t)
}

/// The TLP labels a bundle uses, and a reason for each marking that is not an exact TLP
/// marking (an unknown id, or a TLP id whose object differs from the published one).
pub fn stix_markings(bundle: &Value) -> (Vec<Tlp>, Vec<String>) {
    let mut labels = Vec::new();
    let mut unknown = Vec::new();
    let objects = bundle["objects"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    for o in objects {
        let id = o["id"].as_str().unwrap_or_default();
        if o["type"] == "marking-definition" {
            match Tlp::from_stix_marking_id(id) {
                Some(t) => {
                    let published_tlp2 = t.stix_marking_definition();
                    if published_tlp2["id"] == id && *o != published_tlp2 {
                        unknown.push(format!("marking-definition `{id}` is the TLP:{t} id but not the published TLP 2.0 object; quarantined"));
                    }
                }
                None => unknown.push(format!(
                    "marking-definition `{id}` is not an exact TLP 1.0 or 2.0 id; quarantined"
                )),
            }
            continue;
        }
        let refs = o["object_marking_refs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str);
        let granular = o["granular_markings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|g| g["marking_ref"].as_str());
        for r in refs.chain(granular) {
            match Tlp::from_stix_marking_id(r) {
                Some(t) => labels.push(t),
                None => unknown.push(format!(
                    "`{id}` is marked with `{r}`, not an exact TLP id; quarantined"
                )),
            }
        }
    }
    (labels, unknown)
}

/// ISO/IEC 27035-2 6.4 b 2 for a STIX bundle: an event type (an incident, indicator,
/// vulnerability, malware, attack pattern or observed data), a time, and an affected asset
/// or environment (infrastructure, software, location, an observable, or a note on the
/// affected environment).
fn stix_acceptance(bundle: &Value) -> Vec<String> {
    let objects = bundle["objects"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let ty = |o: &Value| o["type"].as_str().unwrap_or_default().to_string();
    let mut missing = Vec::new();
    let event = objects.iter().any(|o| {
        matches!(
            ty(o).as_str(),
            "incident"
                | "indicator"
                | "vulnerability"
                | "malware"
                | "attack-pattern"
                | "observed-data"
                | "sighting"
        )
    });
    if !event {
        missing.push("ISO/IEC 27035-2 6.4 b 2: no event type (incident, indicator, vulnerability, malware, attack-pattern, observed-data or sighting)".to_string());
    }
    let time = objects.iter().any(|o| {
        ["valid_from", "first_observed", "first_seen", "created"]
            .iter()
            .any(|k| o[*k].is_string())
            && ty(o) != "marking-definition"
            && ty(o) != "identity"
    });
    if !time {
        missing.push("ISO/IEC 27035-2 6.4 b 2: no time of the event".to_string());
    }
    let asset = objects.iter().any(|o| {
        let t = ty(o);
        matches!(
            t.as_str(),
            "infrastructure" | "software" | "location" | "observed-data"
        ) || matches!(
            t.as_str(),
            "ipv4-addr"
                | "ipv6-addr"
                | "domain-name"
                | "url"
                | "email-addr"
                | "mac-addr"
                | "file"
                | "user-account"
                | "autonomous-system"
        ) || (t == "note"
            && o["abstract"]
                .as_str()
                .is_some_and(|a| a.to_lowercase().contains("environment")))
    });
    if !asset {
        missing.push("ISO/IEC 27035-2 6.4 b 2: no affected asset or environment".to_string());
    }
    missing
}

/// The TLP labels an IODEF document's `restriction` values stand for, and a reason for each
/// value that stands for none (`default`, `ext-value`).
pub fn iodef_restrictions(doc: &Value) -> (Vec<Tlp>, Vec<String>) {
    let mut labels = Vec::new();
    let mut unknown = Vec::new();
    fn walk(v: &Value, at: String, labels: &mut Vec<Tlp>, unknown: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    let here = format!("{at}/{}", schema::escape_token(k));
                    if k == "restriction" {
                        match x.as_str().and_then(Tlp::from_iodef_restriction) {
                            Some(t) => labels.push(t),
                            None => unknown.push(format!(
                                "{here}: restriction {x} does not map to a TLP label; quarantined"
                            )),
                        }
                    } else {
                        walk(x, here, labels, unknown);
                    }
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    walk(x, format!("{at}/{i}"), labels, unknown);
                }
            }
            _ => {}
        }
    }
    for (i, inc) in doc["Incident"].as_array().into_iter().flatten().enumerate() {
        // RFC 7970: an Incident without `restriction` is `private`.
        if inc.get("restriction").is_none() {
            labels.push(Tlp::Red);
        }
        walk(inc, format!("/Incident/{i}"), &mut labels, &mut unknown);
    }
    (labels, unknown)
}

/// ISO/IEC 27035-2 6.4 b 2 for IODEF: per incident, an event type (`IncidentCategory`,
/// `Method` or an `Indicator`), a time (`GenerationTime` is required), and an affected
/// asset or environment (an `EventData` holding a `System` or the affected environment, or
/// a target `System` among the indicators).
fn iodef_acceptance(doc: &Value) -> Vec<String> {
    let mut missing = Vec::new();
    for (i, inc) in doc["Incident"].as_array().into_iter().flatten().enumerate() {
        let has = |k: &str| inc.get(k).is_some();
        let category = inc["Assessment"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a.get("IncidentCategory").is_some());
        if !(category || has("Method") || has("Indicator")) {
            missing.push(format!("/Incident/{i}: ISO/IEC 27035-2 6.4 b 2: no event type (Assessment/IncidentCategory, Method or Indicator)"));
        }
        let text = inc.to_string();
        let asset =
            inc["EventData"].as_array().into_iter().flatten().any(|e| {
                e.get("System").is_some() || e.to_string().contains("affected-environment")
            }) || text.contains("\"category\":\"target\"");
        if !asset {
            missing.push(format!("/Incident/{i}: ISO/IEC 27035-2 6.4 b 2: no affected asset or environment (EventData/System)"));
        }
    }
    missing
}
