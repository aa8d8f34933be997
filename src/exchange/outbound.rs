//! Sealing what leaves (a signed message) and checking what comes back (a signed receipt).
//! Pure: the id, the time and the key are arguments.

use ed25519_dalek::SigningKey;
use serde_json::Value;
use time::OffsetDateTime;

use super::inbound::TrustedKey;
use crate::envelope::{self, Jws, Message, MessageId, Receipt, ReceiptStatus};
use crate::peer::{Format, PeerId};
use crate::team::TeamId;
use crate::timestamp::{parse_rfc3339, rfc3339};
use crate::tlp::Tlp;

/// A sealed message: the message, its JWS, and the SHA-256 of the signed payload.
#[derive(Debug, Clone)]
pub struct Sealed {
    /// The message.
    pub message: Message,
    /// Its JWS.
    pub jws: Jws,
    /// Lowercase hex SHA-256 of the payload bytes (what the receipt must name).
    pub sha256: String,
}

/// Who a message goes from and to, its id and when it is signed.
#[derive(Debug, Clone)]
pub struct Envelope<'a> {
    /// The sending team (us).
    pub from: &'a TeamId,
    /// The recipient.
    pub to: &'a PeerId,
    /// A fresh message id.
    pub id: MessageId,
    /// The signing time.
    pub now: OffsetDateTime,
}

/// Builds and signs a message carrying `document`, marked `marking`.
pub fn seal(
    document: Value,
    format: Format,
    marking: Tlp,
    env: Envelope<'_>,
    key: &SigningKey,
) -> Sealed {
    let canonical = envelope::canonical(&document);
    seal_as(document, &canonical, format.wire_name(), marking, env, key)
}

/// [`seal`], given the document's canonical bytes ([`envelope::canonical`] of it), which
/// the caller has computed already: the message takes them as they are.
pub fn seal_canonical(
    document: Value,
    canonical: &[u8],
    format: Format,
    marking: Tlp,
    env: Envelope<'_>,
    key: &SigningKey,
) -> Sealed {
    debug_assert!(
        canonical == envelope::canonical(&document),
        "the canonical bytes given are not the document's"
    );
    seal_as(document, canonical, format.wire_name(), marking, env, key)
}

/// The `format` of a retraction message (DESIGN.md section 10).
pub const RETRACTION: &str = "retraction";

/// Seals a retraction: `{"report", "versions", "messages", "reason"}` (DESIGN.md section 10).
pub fn seal_retraction(
    document: &crate::exchange::inbound::RetractionDoc,
    marking: Tlp,
    env: Envelope<'_>,
    key: &SigningKey,
) -> Sealed {
    let doc = serde_json::to_value(document).expect("a retraction serializes");
    let canonical = envelope::canonical(&doc);
    seal_as(doc, &canonical, RETRACTION, marking, env, key)
}

/// Signs the canonical message: the envelope's fields, with the document's canonical bytes
/// spliced in as they are (neither copied into a new value nor canonicalized again).
fn seal_as(
    document: Value,
    canonical: &[u8],
    format: &str,
    marking: Tlp,
    env: Envelope<'_>,
    key: &SigningKey,
) -> Sealed {
    let mut message = Message {
        id: env.id,
        from: env.from.clone(),
        to: env.to.clone(),
        created: rfc3339(env.now),
        tlp: marking,
        format: format.to_string(),
        document: Value::Null,
    };
    let Ok(Value::Object(mut fields)) = serde_json::to_value(&message) else {
        unreachable!("a message serializes to an object")
    };
    fields.remove("document");
    let payload = envelope::canonical_with(&fields, "document", canonical);
    message.document = document;
    let sha256 = envelope::sha256_hex(&payload);
    let jws = envelope::sign(&payload, key);
    Sealed {
        message,
        jws,
        sha256,
    }
}

/// Builds and signs a receipt for a message: `me` answers its sender.
pub fn receipt(
    message: (&MessageId, &str),
    me: &TeamId,
    sender: &TeamId,
    status: ReceiptStatus,
    reasons: Vec<String>,
    now: OffsetDateTime,
    key: &SigningKey,
) -> (Receipt, Jws) {
    let r = Receipt {
        message_id: *message.0,
        message_sha256: message.1.to_string(),
        from: me.clone(),
        to: sender.clone(),
        received: rfc3339(now),
        status,
        reasons,
    };
    let jws = envelope::sign_object(&r, key);
    (r, jws)
}

/// What a receipt must name: the message and the two teams.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The message id.
    pub message_id: &'a MessageId,
    /// SHA-256 of the message's payload.
    pub sha256: &'a str,
    /// Us (the message's sender).
    pub us: &'a TeamId,
    /// The peer (the message's recipient).
    pub peer: &'a PeerId,
}

impl<'a> From<&'a Sealed> for Expected<'a> {
    fn from(s: &'a Sealed) -> Self {
        Expected {
            message_id: &s.message.id,
            sha256: &s.sha256,
            us: &s.message.from,
            peer: &s.message.to,
        }
    }
}

/// Why an answer is not a valid receipt for a message we sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// Not a JWS, or its payload not a receipt.
    #[error("the answer is not a receipt: {0}")]
    Malformed(String),
    /// Signed with a key the peer does not have.
    #[error("receipt signed with unknown key `{0}`")]
    UnknownKey(String),
    /// The signature does not verify.
    #[error("the receipt's signature does not verify")]
    BadSignature,
    /// The key was not valid when the receipt says it was made.
    #[error("receipt key `{kid}` was not valid at {at}")]
    KeyNotValid {
        /// The key.
        kid: String,
        /// The receipt's `received`.
        at: String,
    },
    /// The receipt is for another message or other bytes.
    #[error("the receipt names another message")]
    OtherMessage,
    /// The receipt is between other teams.
    #[error("the receipt is from `{from}` to `{to}`, expected from `{peer}` to `{us}`")]
    OtherTeams {
        /// Its `from`.
        from: String,
        /// Its `to`.
        to: String,
        /// The peer.
        peer: String,
        /// Us.
        us: String,
    },
}

/// Checks a receipt for a message we sent: signed by one of the peer's keys (valid when it
/// was received), from the peer, to us, for this message and these exact bytes.
pub fn check_receipt(
    jws: &Jws,
    expected: Expected<'_>,
    peer_keys: &[TrustedKey],
) -> Result<Receipt, ReceiptError> {
    let opened = envelope::open(jws).map_err(|e| ReceiptError::Malformed(e.to_string()))?;
    let key = peer_keys
        .iter()
        .find(|k| k.kid == opened.kid)
        .ok_or_else(|| ReceiptError::UnknownKey(opened.kid.clone()))?;
    opened
        .verify(&key.key)
        .map_err(|_| ReceiptError::BadSignature)?;
    let r: Receipt = serde_json::from_slice(&opened.payload)
        .map_err(|e| ReceiptError::Malformed(format!("its payload is not a receipt: {e}")))?;
    let received = parse_rfc3339(&r.received).ok_or_else(|| {
        ReceiptError::Malformed("the receipt's `received` is not RFC 3339".into())
    })?;
    if !key.valid_at(received) {
        return Err(ReceiptError::KeyNotValid {
            kid: key.kid.clone(),
            at: r.received,
        });
    }
    let e = expected;
    if r.message_id != *e.message_id || r.message_sha256 != e.sha256 {
        return Err(ReceiptError::OtherMessage);
    }
    if r.from != *e.peer || r.to != *e.us {
        return Err(ReceiptError::OtherTeams {
            from: r.from.to_string(),
            to: r.to.to_string(),
            peer: e.peer.to_string(),
            us: e.us.to_string(),
        });
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::inbound::{parse, verify, Limits, RefusalKind};

    fn key(b: u8) -> SigningKey {
        SigningKey::from_bytes(&[b; 32])
    }

    fn trusted(k: &SigningKey) -> TrustedKey {
        TrustedKey {
            kid: envelope::thumbprint(&k.verifying_key()),
            key: k.verifying_key(),
            valid_from: None,
            valid_until: None,
        }
    }

    fn bundle() -> Value {
        let r = crate::report::parse(include_bytes!(
            "../../tests/data/valid/incident-ddos-minimal.json"
        ))
        .unwrap();
        crate::convert::convert(
            &r,
            &crate::team::Team::new("cert-a".parse().unwrap(), "A"),
            Format::Stix,
        )
    }

    /// `doc` sealed by [`seal_canonical`] from cert-a to cert-b, `canonical` given as its
    /// canonical bytes.
    fn seal_from_cert_a(doc: Value, canonical: &[u8]) -> Sealed {
        let (ta, tb): (TeamId, TeamId) = ("cert-a".parse().unwrap(), "cert-b".parse().unwrap());
        seal_canonical(
            doc,
            canonical,
            Format::Stix,
            Tlp::Amber,
            Envelope {
                from: &ta,
                to: &tb,
                id: MessageId(uuid::Uuid::from_u128(9)),
                now: OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
            },
            &key(1),
        )
    }

    /// The signed payload is the RFC 8785 form of the whole message, though the document's
    /// canonical bytes were made once, before sealing, and spliced in.
    #[test]
    fn the_payload_is_the_canonical_form_of_the_whole_message() {
        let mut doc = bundle();
        // Text the fast path does not take (a non-ASCII key, a float): the general one.
        doc["x_é"] = serde_json::json!(0.5);
        let sealed = seal_from_cert_a(doc.clone(), &envelope::canonical(&doc));
        let whole = serde_json::to_value(&sealed.message).unwrap();
        assert_eq!(sealed.message.document, doc);
        let payload = envelope::open(&sealed.jws).unwrap().payload;
        assert_eq!(
            payload,
            serde_json_canonicalizer::to_vec(&whole).unwrap(),
            "not the canonical message"
        );
        assert_eq!(sealed.sha256, envelope::sha256_hex(&payload));
    }

    /// Bytes that are not the document's are a bug of the caller's, caught in tests.
    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "not the document's")]
    fn sealing_with_bytes_of_another_document_is_caught() {
        seal_from_cert_a(bundle(), b"{}");
    }

    #[test]
    fn seal_check_and_receipt_round_trip() {
        let (a, b) = (key(1), key(2));
        let (ta, tb): (TeamId, TeamId) = ("cert-a".parse().unwrap(), "cert-b".parse().unwrap());
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let sealed = seal(
            bundle(),
            Format::Stix,
            Tlp::Green,
            Envelope {
                from: &ta,
                to: &tb,
                id: MessageId(uuid::Uuid::from_u128(7)),
                now,
            },
            &a,
        );
        let body = serde_json::to_vec(&sealed.jws).unwrap();
        let limits = Limits {
            replay_window: time::Duration::days(7),
            future_skew: time::Duration::minutes(5),
            json: Default::default(),
            max_objects: 10_000,
        };
        let keys = [trusted(&a)];
        let check = |me: &str, keys: Option<&[TrustedKey]>, at: OffsetDateTime| {
            verify(
                parse(&body, limits.json).unwrap(),
                me,
                keys,
                |_| Ok(()),
                at,
                limits,
            )
        };
        let v = check("cert-b", Some(&keys), now).unwrap();
        assert_eq!(v.sha256, sealed.sha256);
        let (_, rj) = receipt(
            (&v.message.id, &v.sha256),
            &tb,
            &ta,
            ReceiptStatus::Accepted,
            vec![],
            now,
            &b,
        );
        let r = check_receipt(&rj, (&sealed).into(), &[trusted(&b)]).unwrap();
        assert_eq!(r.status, ReceiptStatus::Accepted);
        // A receipt for other bytes, or signed by someone else, is refused.
        let (_, wrong) = receipt(
            (&v.message.id, "00"),
            &tb,
            &ta,
            ReceiptStatus::Accepted,
            vec![],
            now,
            &b,
        );
        assert_eq!(
            check_receipt(&wrong, (&sealed).into(), &[trusted(&b)]),
            Err(ReceiptError::OtherMessage)
        );
        assert!(check_receipt(&rj, (&sealed).into(), &[trusted(&a)]).is_err());
        // The receiver refuses what is not for it, too old, or from a stranger.
        assert_eq!(
            check("cert-c", Some(&keys), now).unwrap_err().kind,
            RefusalKind::Forbidden
        );
        let later = now + time::Duration::days(8);
        assert!(
            check("cert-b", Some(&keys), later).unwrap_err().reasons[0].contains("replay window")
        );
        let e = check("cert-b", None, now).unwrap_err();
        assert_eq!((e.kind, e.sender), (RefusalKind::UnknownSender, None));
        // A key past its validity is refused at the time of receipt, whatever `created` says.
        let retired = [TrustedKey {
            valid_until: Some(now - time::Duration::seconds(1)),
            ..trusted(&a)
        }];
        let e = check("cert-b", Some(&retired), now).unwrap_err();
        assert_eq!(e.kind, RefusalKind::Unauthenticated);
        assert!(e.reasons[0].contains("expired"), "{:?}", e.reasons);
    }
}
