//! The team's key document (DESIGN.md section 11): the team's public keys with their
//! validity, signed (RFC 7515 general JSON serialization) by every key that made it — at a
//! rotation, by the old key and the new one. A peer adopts a new key only from a document
//! that a key it already trusts signed, so a rotation needs no manual step and no one else
//! can slip a key in. Pure: times and keys are arguments.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

use crate::envelope::{self, Jws};
use crate::exchange::inbound::TrustedKey;
use crate::peer::{Peer, PeerKey};
use crate::team::TeamId;
use crate::timestamp::Timestamp;

/// The path a gateway serves its key document at.
pub const PATH: &str = "/.well-known/irtx/keys";

/// What a key document says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyDocument {
    /// The team whose keys these are.
    pub team: TeamId,
    /// When the document was made (RFC 3339).
    pub issued: String,
    /// The team's keys: the current one, and earlier ones with the end of their validity.
    pub keys: Vec<PeerKey>,
}

/// One signature of a signed document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    /// base64url of the protected header.
    pub protected: String,
    /// base64url of the signature.
    pub signature: String,
}

/// A key document signed by one or more keys (RFC 7515 section 7.2.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedKeyDocument {
    /// base64url of the document's canonical JSON.
    pub payload: String,
    /// One signature per signing key.
    pub signatures: Vec<Signature>,
}

/// Why a key document is not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyDocError {
    /// It does not parse.
    #[error("the key document is malformed: {0}")]
    Malformed(String),
    /// It is another team's.
    #[error("the key document is team `{found}`'s, not `{expected}`'s")]
    OtherTeam {
        /// The team it names.
        found: String,
        /// The team expected.
        expected: String,
    },
    /// No key we trust signed it.
    #[error("no key we trust for `{0}` signed the key document")]
    Untrusted(String),
}

impl SignedKeyDocument {
    /// What the document says, unverified: for documents the caller itself signed and
    /// stored. Anything received goes through [`verify`].
    pub fn content(&self) -> Result<KeyDocument, KeyDocError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(&self.payload)
            .map_err(|_| KeyDocError::Malformed("`payload` is not base64url".into()))?;
        let value = envelope::strict::read(&bytes, Default::default())
            .map_err(|e| KeyDocError::Malformed(e.to_string()))?;
        serde_json::from_value(value).map_err(|e| KeyDocError::Malformed(e.to_string()))
    }
}

/// Signs `doc` with every key of `signers`.
pub fn sign(doc: &KeyDocument, signers: &[&SigningKey]) -> SignedKeyDocument {
    let payload = URL_SAFE_NO_PAD.encode(envelope::canonical(
        &serde_json::to_value(doc).expect("a key document serializes"),
    ));
    let signatures = signers
        .iter()
        .map(|k| {
            let header = json!({"alg": "EdDSA", "kid": envelope::thumbprint(&k.verifying_key())});
            let protected = URL_SAFE_NO_PAD.encode(envelope::canonical(&header));
            let sig = k.sign(format!("{protected}.{payload}").as_bytes());
            Signature {
                protected,
                signature: URL_SAFE_NO_PAD.encode(sig.to_bytes()),
            }
        })
        .collect();
    SignedKeyDocument {
        payload,
        signatures,
    }
}

/// Opens a signed document for `team`: its content, if at least one signature verifies with a
/// key of `trusted` that is valid at `at` (any of them when `at` is `None`: checking a
/// history). Returns the document and the kids that signed it and are trusted.
pub fn verify(
    signed: &SignedKeyDocument,
    team: &TeamId,
    trusted: &[TrustedKey],
    at: Option<OffsetDateTime>,
) -> Result<(KeyDocument, Vec<String>), KeyDocError> {
    let doc = signed.content()?;
    if doc.team != *team {
        return Err(KeyDocError::OtherTeam {
            found: doc.team.to_string(),
            expected: team.to_string(),
        });
    }
    let mut by = Vec::new();
    for s in &signed.signatures {
        let jws = Jws {
            payload: signed.payload.clone(),
            protected: s.protected.clone(),
            signature: s.signature.clone(),
        };
        let Ok(opened) = envelope::open(&jws) else {
            continue;
        };
        let ok = trusted.iter().any(|k| {
            k.kid == opened.kid && at.is_none_or(|t| k.valid_at(t)) && opened.verify(&k.key).is_ok()
        });
        if ok {
            by.push(opened.kid);
        }
    }
    if by.is_empty() {
        return Err(KeyDocError::Untrusted(team.to_string()));
    }
    Ok((doc, by))
}

/// Takes what a verified document says into a peer's keys: keys it did not have are added,
/// the validity of those it had is the document's. Returns the kids added.
pub fn adopt(peer: &mut Peer, doc: &KeyDocument) -> Vec<String> {
    let mut added = Vec::new();
    for k in &doc.keys {
        match peer.keys.iter_mut().find(|p| p.kid == k.kid) {
            Some(known) => {
                known.valid_from = k.valid_from;
                known.valid_until = k.valid_until;
            }
            None => {
                peer.keys.push(k.clone());
                added.push(k.kid.clone());
            }
        }
    }
    added
}

/// The document a rotation makes: the new key, valid from `now`; every earlier key of
/// `earlier` still listed, the one being replaced valid until `now + overlap` (or less, if it
/// already ended sooner).
pub fn rotated(
    team: &TeamId,
    earlier: &[PeerKey],
    old: &SigningKey,
    new: &SigningKey,
    now: OffsetDateTime,
    overlap: time::Duration,
) -> KeyDocument {
    let old_kid = envelope::thumbprint(&old.verifying_key());
    let end = Timestamp(now + overlap);
    let mut keys: Vec<PeerKey> = earlier
        .iter()
        .filter(|k| k.valid_until.is_none_or(|u| u.0 > now) || k.kid == old_kid)
        .cloned()
        .collect();
    if !keys.iter().any(|k| k.kid == old_kid) {
        keys.push(key_entry(old, None));
    }
    for k in &mut keys {
        if k.kid == old_kid {
            k.valid_until = Some(k.valid_until.map_or(end, |u| u.min(end)));
        }
    }
    keys.push(key_entry(new, Some(Timestamp(now))));
    KeyDocument {
        team: team.clone(),
        issued: crate::timestamp::rfc3339(now),
        keys,
    }
}

/// The document of a team that never rotated: its one key, self-signed.
pub fn initial(team: &TeamId, key: &SigningKey, now: OffsetDateTime) -> KeyDocument {
    KeyDocument {
        team: team.clone(),
        issued: crate::timestamp::rfc3339(now),
        keys: vec![key_entry(key, None)],
    }
}

fn key_entry(key: &SigningKey, valid_from: Option<Timestamp>) -> PeerKey {
    let vk = key.verifying_key();
    PeerKey {
        jwk: envelope::public_jwk(&vk),
        kid: envelope::thumbprint(&vk),
        valid_from,
        valid_until: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::{Audience, Format, KeyDomain, Transport};
    use crate::tlp::Tlp;

    fn peer_trusting(k: &SigningKey) -> Peer {
        Peer {
            id: "cert-a".parse().unwrap(),
            url: "https://a.example".into(),
            keys: vec![key_entry(k, None)],
            max_tlp: Tlp::Amber,
            audience: Audience::Community,
            profile: "none".into(),
            format: Format::Stix,
            key_domain: KeyDomain::Federation,
            transport: Transport::Irtx,
            client_cert_sha256: None,
            provider_permission: false,
            taxii_token_sha256: None,
            taxii_auth: None,
            taxii_pull: None,
        }
    }

    #[test]
    fn a_rotation_is_adopted_only_from_a_trusted_signature() {
        let team: TeamId = "cert-a".parse().unwrap();
        let (old, new) = (
            SigningKey::from_bytes(&[1; 32]),
            SigningKey::from_bytes(&[2; 32]),
        );
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let overlap = time::Duration::days(1);
        let doc = rotated(&team, &[], &old, &new, now, overlap);
        assert_eq!(doc.keys.len(), 2);
        let signed = sign(&doc, &[&old, &new]);

        let mut b_view = peer_trusting(&old);
        let trusted = crate::exchange::inbound::trusted_keys(&b_view);
        let (got, by) = verify(&signed, &team, &trusted, Some(now)).unwrap();
        assert_eq!(by, vec![envelope::thumbprint(&old.verifying_key())]);
        let added = adopt(&mut b_view, &got);
        assert_eq!(added, vec![envelope::thumbprint(&new.verifying_key())]);
        // The old key now ends after the overlap: refused past it.
        let keys = crate::exchange::inbound::trusted_keys(&b_view);
        let old_key = keys.iter().find(|k| k.kid == by[0]).unwrap();
        assert!(old_key.valid_at(now + time::Duration::hours(23)));
        assert!(!old_key.valid_at(now + overlap));

        // Signed by a stranger only: refused; for another team: refused.
        let mallory = SigningKey::from_bytes(&[6; 32]);
        let forged = sign(
            &rotated(&team, &[], &old, &mallory, now, overlap),
            &[&mallory],
        );
        assert_eq!(
            verify(&forged, &team, &trusted, Some(now)),
            Err(KeyDocError::Untrusted("cert-a".into()))
        );
        let other: TeamId = "cert-z".parse().unwrap();
        assert!(matches!(
            verify(&signed, &other, &trusted, Some(now)),
            Err(KeyDocError::OtherTeam { .. })
        ));
        // A key past its validity cannot vouch for a new one.
        let later = now + time::Duration::days(2);
        let again = sign(
            &rotated(&team, &got.keys, &old, &mallory, later, overlap),
            &[&old],
        );
        let keys = crate::exchange::inbound::trusted_keys(&b_view);
        assert!(verify(&again, &team, &keys, Some(later)).is_err());
    }
}
