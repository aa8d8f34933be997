//! The ledger as JSON lines, and their verification by anyone holding the team's public key:
//! a header (team, public JWK), every checkpoint (a fresh one first signs the head), then
//! every entry as written.

use ed25519_dalek::{SigningKey, VerifyingKey};
use serde_json::Value;

use super::Ledger;
use crate::disclosure::{chain, Checkpoint, RawEntry};
use crate::exchange::inbound::TrustedKey;
use crate::exchange::keydoc::{self, SignedKeyDocument};
use crate::store::{Store, StoreError};

/// The `format` of an export's header line.
pub const FORMAT: &str = "irtx-ledger-export/1";

/// Why a ledger or an export does not verify.
#[derive(Debug, thiserror::Error)]
pub enum VerifyExportError {
    /// A line could not be read or parsed.
    #[error("line {line}: {reason}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The export names another signing key than the one given: the key is wrong, or the
    /// export is not this team's.
    #[error("the export was written by key `{written}`, not by the key given (`{given}`); check that you have the team's public key")]
    WrongKey {
        /// The kid in the export's header.
        written: String,
        /// The kid of the key given.
        given: String,
    },
    /// The chain or a checkpoint is broken.
    #[error("ledger broken: {0}")]
    Broken(#[from] chain::Broken),
    /// The store could not be read.
    #[error(transparent)]
    Store(StoreError),
}

/// Writes the ledger as JSON lines, after signing a fresh checkpoint of its head. Returns how
/// many entries were written.
pub fn export(
    store: &dyn Store,
    ledger: &Ledger,
    team: &crate::team::Team,
    key: &SigningKey,
    out: &mut dyn std::io::Write,
    mut progress: impl FnMut(u64),
) -> std::io::Result<u64> {
    let io = |e: StoreError| std::io::Error::other(e.to_string());
    let at = crate::timestamp::rfc3339(time::OffsetDateTime::now_utc());
    ledger
        .checkpoint(store, team.id.as_str(), &at, key)
        .map_err(io)?;
    let header = serde_json::json!({"type": "header", "format": FORMAT, "team": team.id.as_str(),
        "public_jwk": crate::envelope::public_jwk(&key.verifying_key()), "exported_at": at,
        "key_documents": store.key_documents().map_err(io)?});
    writeln!(out, "{header}")?;
    for c in store.checkpoints().map_err(io)? {
        writeln!(
            out,
            "{}",
            serde_json::json!({"type": "checkpoint", "checkpoint": c})
        )?;
    }
    let mut n = 0;
    for e in store.ledger_entries() {
        let e = e.map_err(io)?;
        let entry = serde_json::to_string(&e).map_err(std::io::Error::other)?;
        writeln!(out, "{{\"type\":\"entry\",\"entry\":{entry}}}")?;
        n += 1;
        if n % 10_000 == 0 {
            progress(n);
        }
    }
    progress(n);
    Ok(n)
}

/// The keys an export's header establishes, starting from `given`: every key document that
/// a key already established signed adds the keys it lists (whichever of its keys is
/// given, the rotations lead to the others). `Err` names the header's key when `given` is
/// none of the team's keys.
fn established(
    header: &Value,
    given: &VerifyingKey,
) -> Result<Vec<VerifyingKey>, VerifyExportError> {
    let mut keys = vec![*given];
    let team: Option<crate::team::TeamId> = header["team"].as_str().and_then(|t| t.parse().ok());
    let docs: Vec<SignedKeyDocument> =
        serde_json::from_value(header["key_documents"].clone()).unwrap_or_default();
    if let Some(team) = team {
        loop {
            let trusted: Vec<TrustedKey> = keys
                .iter()
                .map(|k| TrustedKey {
                    kid: crate::envelope::thumbprint(k),
                    key: *k,
                    valid_from: None,
                    valid_until: None,
                })
                .collect();
            let before = keys.len();
            for d in &docs {
                if let Ok((doc, _)) = keydoc::verify(d, &team, &trusted, None) {
                    for k in doc.keys {
                        if let Ok(vk) = crate::envelope::parse_public_jwk(&k.jwk) {
                            if !keys.contains(&vk) {
                                keys.push(vk);
                            }
                        }
                    }
                }
            }
            if keys.len() == before {
                break;
            }
        }
    }
    if let Ok(written) = crate::envelope::parse_public_jwk(&header["public_jwk"]) {
        if !keys.contains(&written) {
            return Err(VerifyExportError::WrongKey {
                written: crate::envelope::thumbprint(&written),
                given: crate::envelope::thumbprint(given),
            });
        }
    }
    Ok(keys)
}

/// Verifies an export read line by line: the key given (and the keys the export's key
/// documents lead to from it), the checkpoints, then the chain, streamed. A line that does
/// not parse is named by its number.
pub fn verify_export(
    input: impl std::io::BufRead,
    key: &VerifyingKey,
) -> Result<chain::Verified, VerifyExportError> {
    let line_err = |i: usize, reason: String| VerifyExportError::Line {
        line: i + 1,
        reason,
    };
    let mut checkpoints = Vec::new();
    let mut keys = vec![*key];
    let mut lines = input.lines().enumerate();
    let mut first_entry = None;
    for (i, line) in lines.by_ref() {
        let line = line.map_err(|e| line_err(i, e.to_string()))?;
        let v: Value =
            serde_json::from_str(&line).map_err(|e| line_err(i, format!("not JSON: {e}")))?;
        match v["type"].as_str() {
            Some("header") => keys = established(&v, key)?,
            Some("checkpoint") => checkpoints.push(
                serde_json::from_value::<Checkpoint>(v["checkpoint"].clone())
                    .map_err(|e| line_err(i, e.to_string()))?,
            ),
            Some("entry") => {
                first_entry = Some((i, v));
                break;
            }
            other => return Err(line_err(i, format!("unknown line type {other:?}"))),
        }
    }
    let mut bad_line: Option<VerifyExportError> = None;
    let first = first_entry.map(|(i, v)| (i, Ok(v)));
    let rest = lines.map(|(i, line)| {
        let parsed = line
            .map_err(|e| e.to_string())
            .and_then(|l| serde_json::from_str::<Value>(&l).map_err(|e| format!("not JSON: {e}")));
        (i, parsed)
    });
    let entries = first.into_iter().chain(rest).map_while(|(i, parsed)| {
        let entry = parsed.and_then(|mut v| {
            serde_json::from_value::<RawEntry>(v["entry"].take())
                .map_err(|e| format!("not a ledger entry: {e}"))
        });
        match entry {
            Ok(e) => Some(e),
            Err(reason) => {
                bad_line = Some(line_err(i, reason));
                None
            }
        }
    });
    let result = chain::verify(entries, &checkpoints, &keys);
    if let Some(b) = bad_line {
        return Err(b);
    }
    Ok(result?)
}
