//! The receiver's checks on one message, in the order of DESIGN.md section 2: known sender,
//! key known and valid at `created`, signature over the exact bytes received, addressed to
//! us, inside the replay window, a document that validates, marking ids that are exact TLP
//! ids, and the acceptance criteria of ISO/IEC 27035-2 6.4 b 2. Deduplication needs the
//! store and is done by the caller. Pure: the time and the peers' keys are arguments.

use ed25519_dalek::VerifyingKey;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::envelope::{self, Jws, Message};
use crate::schema;
use crate::tlp::Tlp;

/// A peer's signing key and when it may be used.
#[derive(Debug, Clone)]
pub struct PeerKey {
    /// Its RFC 7638 thumbprint.
    pub kid: String,
    /// The key.
    pub key: VerifyingKey,
    /// Valid from (inclusive), if limited.
    pub valid_from: Option<OffsetDateTime>,
    /// Valid until (exclusive), if limited.
    pub valid_until: Option<OffsetDateTime>,
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
    /// The message's label.
    pub tlp: Tlp,
    /// `created`.
    pub created: OffsetDateTime,
}

/// A refusal: the HTTP status, every reason, and the sender if it could be identified (then
/// the answer is a signed `rejected` receipt; otherwise the JSON error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// HTTP status (4xx).
    pub status: u16,
    /// Why, for a person.
    pub reasons: Vec<String>,
    /// A known peer that sent it (signature checked or not), to address a receipt to.
    pub sender: Option<String>,
    /// The message id, when it could be read.
    pub message_id: Option<String>,
    /// SHA-256 of the payload, when it could be decoded.
    pub sha256: Option<String>,
    /// The content is held for an analyst instead of imported (unknown markings).
    pub quarantine: bool,
}

impl Refusal {
    fn new(status: u16, reason: impl Into<String>) -> Self {
        Refusal {
            status,
            reasons: vec![reason.into()],
            sender: None,
            message_id: None,
            sha256: None,
            quarantine: false,
        }
    }
}

/// Runs every check but deduplication on a received body.
pub fn check(
    body: &[u8],
    me: &str,
    keys_of: impl Fn(&str) -> Option<Vec<PeerKey>>,
    now: OffsetDateTime,
    limits: Limits,
) -> Result<Verified, Refusal> {
    check_admitted(body, me, keys_of, |_| true, now, limits)
}

/// [`check`], with `admit` asked once the sender is authentic and before the document is
/// checked (a per-peer rate limit: a stranger cannot spend a peer's quota, and a peer over
/// its quota costs no validation). A sender it turns away gets a 429.
pub fn check_admitted(
    body: &[u8],
    me: &str,
    keys_of: impl Fn(&str) -> Option<Vec<PeerKey>>,
    admit: impl Fn(&str) -> bool,
    now: OffsetDateTime,
    limits: Limits,
) -> Result<Verified, Refusal> {
    let jws: Jws = serde_json::from_slice(body)
        .map_err(|e| Refusal::new(400, format!("not a flattened JWS JSON object: {e}")))?;
    let opened = envelope::open(&jws).map_err(|e| Refusal::new(400, e.to_string()))?;
    let sha256 = envelope::sha256_hex(&opened.payload);
    let message: Message = serde_json::from_slice(&opened.payload)
        .map_err(|e| Refusal::new(400, format!("the payload is not a message: {e}")))?;
    let refuse = |status: u16, reasons: Vec<String>, quarantine: bool| Refusal {
        status,
        reasons,
        sender: None,
        message_id: Some(message.id.clone()),
        sha256: Some(sha256.clone()),
        quarantine,
    };
    let Some(keys) = keys_of(&message.from) else {
        return Err(refuse(
            403,
            vec![format!("unknown sender `{}`", message.from)],
            false,
        ));
    };
    let identified = |mut r: Refusal| {
        r.sender = Some(message.from.clone());
        r
    };
    let Some(key) = keys.iter().find(|k| k.kid == opened.kid) else {
        return Err(identified(refuse(
            401,
            vec![format!(
                "unknown key `{}` for sender `{}`",
                opened.kid, message.from
            )],
            false,
        )));
    };
    let created = OffsetDateTime::parse(&message.created, &Rfc3339).map_err(|_| {
        identified(refuse(
            400,
            vec![format!(
                "`created` ({}) is not an RFC 3339 time",
                message.created
            )],
            false,
        ))
    })?;
    if key.valid_from.is_some_and(|f| created < f) {
        return Err(identified(refuse(
            401,
            vec![format!(
                "key `{}` is not valid before {}",
                key.kid,
                fmt(key.valid_from)
            )],
            false,
        )));
    }
    if key.valid_until.is_some_and(|u| created >= u) {
        return Err(identified(refuse(
            401,
            vec![format!(
                "key `{}` expired at {}",
                key.kid,
                fmt(key.valid_until)
            )],
            false,
        )));
    }
    opened
        .verify(&key.key)
        .map_err(|e| identified(refuse(401, vec![e.to_string()], false)))?;

    if !admit(&message.from) {
        return Err(refuse(
            429,
            vec![format!(
                "too many messages from `{}`; retry later",
                message.from
            )],
            false,
        ));
    }

    // The sender is authentic from here on; collect every remaining problem.
    let mut reasons = Vec::new();
    let mut status = 422;
    if message.to != me {
        reasons.push(format!("addressed to `{}`, not to `{me}`", message.to));
        status = 403;
    }
    let age = now - created;
    if age > limits.replay_window {
        reasons.push(format!(
            "`created` is {}s old, outside the replay window of {}s",
            age.whole_seconds(),
            limits.replay_window.whole_seconds()
        ));
        status = 403;
    } else if -age > limits.future_skew {
        reasons.push(format!(
            "`created` is {}s in the future",
            (-age).whole_seconds()
        ));
        status = 403;
    }
    let tlp = match message.tlp.parse::<Tlp>() {
        Ok(t) => t,
        Err(e) => {
            reasons.push(format!("`tlp`: {e}"));
            Tlp::Red
        }
    };
    // Per format: its schema, its markings, and the acceptance criteria.
    type Checks = (
        fn(&Value) -> Vec<schema::Violation>,
        fn(&Value) -> (Vec<Tlp>, Vec<String>),
        fn(&Value) -> Vec<String>,
    );
    let checks: Option<Checks> = match message.format.as_str() {
        "stix-2.1" => Some((schema::check_stix_bundle, stix_markings, stix_acceptance)),
        "iodef-2" => Some((
            |d| schema::check(schema::iodef_rfc8727(), d),
            iodef_restrictions,
            iodef_acceptance,
        )),
        other => {
            reasons.push(format!("`format` `{other}` is not stix-2.1 or iodef-2"));
            None
        }
    };
    let mut quarantine = false;
    if let Some((validate, markings, acceptance)) = checks {
        let problems = validate(&message.document);
        reasons.extend(problems.iter().map(|p| format!("document {p}")));
        if problems.is_empty() {
            let (marks, unknown) = markings(&message.document);
            if !unknown.is_empty() {
                quarantine = true;
                reasons.extend(unknown);
            }
            if let Some(max) = marks.into_iter().max() {
                if max > tlp {
                    reasons.push(format!(
                        "the document carries TLP:{max}, above the message's TLP:{tlp}"
                    ));
                }
            }
            reasons.extend(acceptance(&message.document));
        }
    }
    if !reasons.is_empty() {
        return Err(identified(refuse(status, reasons, quarantine)));
    }
    Ok(Verified {
        jws,
        kid: opened.kid,
        sha256,
        tlp,
        created,
        message,
    })
}

fn fmt(t: Option<OffsetDateTime>) -> String {
    t.and_then(|t| t.format(&Rfc3339).ok()).unwrap_or_default()
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
