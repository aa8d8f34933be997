//! Sealing what leaves (a signed message) and checking what comes back (a signed receipt).
//! Pure: the id, the time and the key are arguments.

use ed25519_dalek::SigningKey;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::inbound::PeerKey;
use crate::convert::Format;
use crate::envelope::{self, Jws, Message, Receipt, ReceiptStatus};
use crate::tlp::Tlp;

/// RFC 3339 in UTC, to the millisecond.
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let t = t
        .replace_nanosecond(t.millisecond() as u32 * 1_000_000)
        .unwrap_or(t);
    t.format(&Rfc3339).expect("a UTC time formats")
}

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

/// Builds and signs a message.
#[expect(
    clippy::too_many_arguments,
    reason = "each is one field of the message"
)]
pub fn seal(
    document: Value,
    format: Format,
    marking: Tlp,
    from: &str,
    to: &str,
    id: uuid::Uuid,
    now: OffsetDateTime,
    key: &SigningKey,
) -> Sealed {
    let message = Message {
        id: id.to_string(),
        from: from.to_string(),
        to: to.to_string(),
        created: rfc3339(now),
        tlp: marking.as_str().to_string(),
        format: format.wire_name().to_string(),
        document,
    };
    let payload =
        envelope::canonical(&serde_json::to_value(&message).expect("a message serializes"));
    let sha256 = envelope::sha256_hex(&payload);
    let jws = envelope::sign(&payload, key);
    Sealed {
        message,
        jws,
        sha256,
    }
}

/// Builds and signs a receipt.
#[expect(
    clippy::too_many_arguments,
    reason = "each is one field of the receipt"
)]
pub fn receipt(
    message_id: &str,
    message_sha256: &str,
    me: &str,
    sender: &str,
    status: ReceiptStatus,
    reasons: Vec<String>,
    now: OffsetDateTime,
    key: &SigningKey,
) -> (Receipt, Jws) {
    let r = Receipt {
        message_id: message_id.to_string(),
        message_sha256: message_sha256.to_string(),
        from: me.to_string(),
        to: sender.to_string(),
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
    pub message_id: &'a str,
    /// SHA-256 of the message's payload.
    pub sha256: &'a str,
    /// Us (the message's sender).
    pub us: &'a str,
    /// The peer (the message's recipient).
    pub peer: &'a str,
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

/// Checks a receipt for a message we sent: signed by one of the peer's keys (valid when it
/// was received), from the peer, to us, for this message and these exact bytes.
pub fn check_receipt(
    jws: &Jws,
    expected: Expected<'_>,
    peer_keys: &[PeerKey],
) -> Result<Receipt, String> {
    let opened = envelope::open(jws).map_err(|e| e.to_string())?;
    let key = peer_keys
        .iter()
        .find(|k| k.kid == opened.kid)
        .ok_or_else(|| format!("receipt signed with unknown key `{}`", opened.kid))?;
    opened.verify(&key.key).map_err(|e| e.to_string())?;
    let r: Receipt = serde_json::from_slice(&opened.payload)
        .map_err(|e| format!("the receipt's payload is not a receipt: {e}"))?;
    let received = OffsetDateTime::parse(&r.received, &Rfc3339)
        .map_err(|_| "the receipt's `received` is not RFC 3339".to_string())?;
    if key.valid_from.is_some_and(|f| received < f)
        || key.valid_until.is_some_and(|u| received >= u)
    {
        return Err(format!(
            "receipt key `{}` was not valid at {}",
            key.kid, r.received
        ));
    }
    let e = expected;
    if r.message_id != e.message_id || r.message_sha256 != e.sha256 {
        return Err("the receipt names another message".into());
    }
    if r.from != e.peer || r.to != e.us {
        return Err(format!(
            "the receipt is from `{}` to `{}`, expected from `{}` to `{}`",
            r.from, r.to, e.peer, e.us
        ));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::inbound::{check, Limits};
    use serde_json::json;

    fn key(b: u8) -> SigningKey {
        SigningKey::from_bytes(&[b; 32])
    }

    fn peer_key(k: &SigningKey) -> PeerKey {
        PeerKey {
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

    #[test]
    fn seal_check_and_receipt_round_trip() {
        let (a, b) = (key(1), key(2));
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let sealed = seal(
            bundle(),
            Format::Stix,
            Tlp::Green,
            "cert-a",
            "cert-b",
            uuid::Uuid::from_u128(7),
            now,
            &a,
        );
        let body = serde_json::to_vec(&sealed.jws).unwrap();
        let limits = Limits {
            replay_window: time::Duration::days(7),
            future_skew: time::Duration::minutes(5),
        };
        let keys = |p: &str| (p == "cert-a").then(|| vec![peer_key(&a)]);
        let v = check(&body, "cert-b", keys, now, limits).unwrap();
        assert_eq!(v.sha256, sealed.sha256);
        let (_, rj) = receipt(
            &v.message.id,
            &v.sha256,
            "cert-b",
            "cert-a",
            ReceiptStatus::Accepted,
            vec![],
            now,
            &b,
        );
        let r = check_receipt(&rj, (&sealed).into(), &[peer_key(&b)]).unwrap();
        assert_eq!(r.status, ReceiptStatus::Accepted);
        // A receipt for other bytes, or signed by someone else, is refused.
        let (_, wrong) = receipt(
            &v.message.id,
            "00",
            "cert-b",
            "cert-a",
            ReceiptStatus::Accepted,
            vec![],
            now,
            &b,
        );
        assert!(check_receipt(&wrong, (&sealed).into(), &[peer_key(&b)]).is_err());
        assert!(check_receipt(&rj, (&sealed).into(), &[peer_key(&a)]).is_err());
        // The receiver refuses what is not for it, too old, or from a stranger.
        assert_eq!(
            check(&body, "cert-c", keys, now, limits)
                .unwrap_err()
                .status,
            403
        );
        let later = now + time::Duration::days(8);
        assert!(check(&body, "cert-b", keys, later, limits)
            .unwrap_err()
            .reasons[0]
            .contains("replay window"));
        let nobody = |_: &str| None;
        let e = check(&body, "cert-b", nobody, now, limits).unwrap_err();
        assert_eq!((e.status, e.sender), (403, None));
        let _ = json!({});
    }
}
