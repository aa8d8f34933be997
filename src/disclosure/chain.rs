//! The ledger's chain (pure): entries whose hash covers the previous entry's, and checkpoints
//! in which the team key signs the head. Verifying needs only the entries, the checkpoints and
//! the team's public key, so a third party can check an export. Verification hashes each
//! entry's body as it was written ([`RawEntry`]), so an entry with fields this version does
//! not know still verifies.

use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Entry, EntryBody, RawEntry};
use crate::envelope::{self, Jws};

/// The `prev` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hash an entry must carry.
pub fn entry_hash(seq: u64, prev: &str, body: &EntryBody) -> String {
    raw_hash(
        seq,
        prev,
        &serde_json::to_value(body).expect("an entry body serializes"),
    )
}

/// The hash of an entry whose body is given as written.
pub fn raw_hash(seq: u64, prev: &str, body: &serde_json::Value) -> String {
    let v = json!({"seq": seq, "prev": prev, "body": body});
    envelope::sha256_hex(&envelope::canonical(&v))
}

/// The entry that follows `last` (or the first).
pub fn link(last: Option<&Entry>, body: EntryBody) -> Entry {
    let (seq, prev) = match last {
        Some(e) => (e.seq + 1, e.hash.clone()),
        None => (0, GENESIS.to_string()),
    };
    let hash = entry_hash(seq, &prev, &body);
    Entry {
        seq,
        prev,
        body,
        hash,
    }
}

/// The team's signature over the chain's head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The head entry's `seq`.
    pub seq: u64,
    /// The head entry's hash.
    pub head: String,
    /// When (RFC 3339).
    pub at: String,
    /// The team.
    pub team: String,
    /// JWS over the canonical `{seq, head, at, team}`.
    pub jws: Jws,
}

/// Signs the head `last`.
pub fn checkpoint(last: &Entry, team: &str, at: &str, key: &SigningKey) -> Checkpoint {
    let payload = json!({"seq": last.seq, "head": last.hash, "at": at, "team": team});
    Checkpoint {
        seq: last.seq,
        head: last.hash.clone(),
        at: at.to_string(),
        team: team.to_string(),
        jws: envelope::sign(&envelope::canonical(&payload), key),
    }
}

/// The first thing wrong with a ledger.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("entry {seq}: {reason}")]
pub struct Broken {
    /// The first bad entry (or the entry a bad checkpoint names).
    pub seq: u64,
    /// What is wrong.
    pub reason: String,
}

/// What a verification saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verified {
    /// Entries checked.
    pub entries: u64,
    /// Checkpoints checked.
    pub checkpoints: u64,
    /// The head hash.
    pub head: String,
}

/// Verifies a chain, streaming: every entry's hash and link, the sequence without gaps, and
/// every checkpoint's signature (by one of the team's `keys`: a rotation changes the key that
/// signs) and head. Names the first bad entry.
pub fn verify(
    entries: impl Iterator<Item = RawEntry>,
    checkpoints: &[Checkpoint],
    keys: &[VerifyingKey],
) -> Result<Verified, Broken> {
    let mut heads = std::collections::BTreeMap::new();
    for c in checkpoints {
        let bad = |reason: String| Broken { seq: c.seq, reason };
        let opened = envelope::open(&c.jws).map_err(|e| bad(format!("checkpoint: {e}")))?;
        keys.iter()
            .find(|k| crate::envelope::thumbprint(k) == opened.kid)
            .ok_or_else(|| {
                bad(format!(
                    "checkpoint signed by key `{}`, which is not one of the team's",
                    opened.kid
                ))
            })
            .and_then(|k| {
                opened.verify(k).map_err(|_| {
                    bad("checkpoint signature does not verify with the team key".into())
                })
            })?;
        let signed: serde_json::Value = serde_json::from_slice(&opened.payload)
            .map_err(|_| bad("checkpoint payload is not JSON".into()))?;
        if signed != json!({"seq": c.seq, "head": c.head, "at": c.at, "team": c.team}) {
            return Err(bad("checkpoint fields differ from what was signed".into()));
        }
        heads.insert(c.seq, c.head.clone());
    }
    let mut expected_seq = 0u64;
    let mut prev = GENESIS.to_string();
    let mut n = 0u64;
    for e in entries {
        if e.seq != expected_seq {
            return Err(Broken {
                seq: expected_seq,
                reason: format!("expected entry {expected_seq} here, found entry {} (deleted, inserted or reordered)", e.seq),
            });
        }
        if e.prev != prev {
            return Err(Broken {
                seq: e.seq,
                reason: "`prev` is not the previous entry's hash (deleted, inserted or reordered)"
                    .into(),
            });
        }
        if raw_hash(e.seq, &e.prev, &e.body) != e.hash {
            return Err(Broken {
                seq: e.seq,
                reason: "the hash does not match the content (altered)".into(),
            });
        }
        if let Some(h) = heads.get(&e.seq) {
            if *h != e.hash {
                return Err(Broken {
                    seq: e.seq,
                    reason: "differs from the signed checkpoint".into(),
                });
            }
        }
        prev = e.hash;
        expected_seq += 1;
        n += 1;
    }
    if let Some((&seq, _)) = heads.range(expected_seq..).next() {
        return Err(Broken {
            seq: expected_seq,
            reason: format!(
                "a signed checkpoint covers entry {seq}, but the ledger ends before it (truncated)"
            ),
        });
    }
    Ok(Verified {
        entries: n,
        checkpoints: checkpoints.len() as u64,
        head: prev,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disclosure::Event;

    fn raw(v: &[Entry]) -> impl Iterator<Item = RawEntry> + '_ {
        v.iter().map(RawEntry::from)
    }

    fn chain(n: usize) -> Vec<Entry> {
        let mut v: Vec<Entry> = Vec::new();
        for i in 0..n {
            let body = EntryBody::new(
                "2026-11-24T00:00:00Z".into(),
                Event::Queued,
                format!("r{i}").parse().unwrap(),
                "cert-b".parse().unwrap(),
            );
            let e = link(v.last(), body);
            v.push(e);
        }
        v
    }

    #[test]
    fn an_untouched_chain_verifies_and_each_tampering_is_named() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let pk = key.verifying_key();
        let v = chain(10);
        let cps = vec![
            checkpoint(&v[4], "cert-a", "t", &key),
            checkpoint(&v[9], "cert-a", "t", &key),
        ];
        assert_eq!(verify(raw(&v), &cps, &[pk]).unwrap().entries, 10);

        let mut altered = v.clone();
        altered[3].body.peer = "cert-x".parse().unwrap();
        assert_eq!(verify(raw(&altered), &cps, &[pk]).unwrap_err().seq, 3);

        let mut deleted = v.clone();
        deleted.remove(6);
        assert_eq!(verify(raw(&deleted), &cps, &[pk]).unwrap_err().seq, 6);

        let mut reordered = v.clone();
        reordered.swap(2, 3);
        assert_eq!(verify(raw(&reordered), &cps, &[pk]).unwrap_err().seq, 2);

        let mut inserted = v.clone();
        let extra = link(
            Some(&v[4]),
            EntryBody::new(
                String::new(),
                Event::Queued,
                "r".parse().unwrap(),
                "cert-b".parse().unwrap(),
            ),
        );
        inserted.insert(5, extra);
        assert_eq!(verify(raw(&inserted), &cps, &[pk]).unwrap_err().seq, 6);

        // Re-hashing everything after an edit is caught by the signed checkpoint.
        let mut rewritten: Vec<Entry> = Vec::new();
        for (i, e) in v.iter().enumerate() {
            let mut b = e.body.clone();
            if i == 1 {
                b.peer = "cert-x".parse().unwrap();
            }
            let n = link(rewritten.last(), b);
            rewritten.push(n);
        }
        let err = verify(raw(&rewritten), &cps, &[pk]).unwrap_err();
        assert_eq!(err.seq, 4, "{err}");

        let truncated: Vec<Entry> = v[..8].to_vec();
        assert!(verify(raw(&truncated), &cps, &[pk])
            .unwrap_err()
            .reason
            .contains("truncated"));

        let other = SigningKey::from_bytes(&[4; 32]).verifying_key();
        assert!(verify(raw(&v), &cps, &[other]).is_err());
    }
}
