//! The disclosure ledger: an append-only, hash-chained record of every decision and every
//! delivery state change, with checkpoints the team key signs (ISO/IEC 27035-2 6.7: all
//! communications with outside parties documented; Annex A k: tamper-proof audit trails).
//! [`chain`] is the pure part; [`Ledger`] appends through the store.

pub mod chain;

use std::sync::Mutex;

use chain::{Checkpoint, Entry, EntryBody};
use ed25519_dalek::SigningKey;

use crate::store::{Result, Store};

/// How many entries between automatic checkpoints.
pub const CHECKPOINT_EVERY: u64 = 100;

/// Appends to the ledger in one store, one writer at a time.
pub struct Ledger {
    lock: Mutex<()>,
}

impl Default for Ledger {
    fn default() -> Self {
        Self::new()
    }
}

impl Ledger {
    /// A ledger writer.
    pub fn new() -> Self {
        Ledger {
            lock: Mutex::new(()),
        }
    }

    /// Appends `body`, and writes a signed checkpoint every [`CHECKPOINT_EVERY`] entries.
    pub fn append(
        &self,
        store: &dyn Store,
        body: EntryBody,
        team: &str,
        key: &SigningKey,
    ) -> Result<Entry> {
        let _guard = self.lock.lock().expect("ledger lock");
        let last = store.ledger_last()?;
        let e = chain::link(last.as_ref(), body);
        store.ledger_put(&e)?;
        if (e.seq + 1) % CHECKPOINT_EVERY == 0 {
            store.put_checkpoint(&chain::checkpoint(&e, team, &e.body.at, key))?;
        }
        Ok(e)
    }

    /// Appends `body` through `write`, which must store the entry it is given (together with
    /// whatever else belongs in the same atomic write), and checkpoints like [`Self::append`].
    pub fn append_with<T>(
        &self,
        store: &dyn Store,
        body: EntryBody,
        team: &str,
        key: &SigningKey,
        write: impl FnOnce(&Entry) -> Result<T>,
    ) -> Result<(T, Entry)> {
        let _guard = self.lock.lock().expect("ledger lock");
        let last = store.ledger_last()?;
        let e = chain::link(last.as_ref(), body);
        let out = write(&e)?;
        if (e.seq + 1) % CHECKPOINT_EVERY == 0 {
            store.put_checkpoint(&chain::checkpoint(&e, team, &e.body.at, key))?;
        }
        Ok((out, e))
    }

    /// Signs the current head now (an export ends with one).
    pub fn checkpoint(
        &self,
        store: &dyn Store,
        team: &str,
        at: &str,
        key: &SigningKey,
    ) -> Result<Option<Checkpoint>> {
        let _guard = self.lock.lock().expect("ledger lock");
        let Some(last) = store.ledger_last()? else {
            return Ok(None);
        };
        let c = chain::checkpoint(&last, team, at, key);
        store.put_checkpoint(&c)?;
        Ok(Some(c))
    }
}

/// The entries `keep` selects, in one streamed pass: what a query holds in memory is its
/// answer, never the whole ledger.
pub fn select(store: &dyn Store, keep: impl Fn(&Entry) -> bool) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    for e in store.ledger_entries() {
        let e = e?;
        if keep(&e) {
            out.push(e);
        }
    }
    Ok(out)
}

/// A disclosure decision for one report and one peer, as the ledger records it: the view
/// of `GET /api/v1/decisions`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Decision {
    /// When (RFC 3339).
    pub at: String,
    /// The report.
    pub report_id: String,
    /// The peer.
    pub peer: String,
    /// `queued`, `withheld` or `error`.
    pub decision: String,
    /// Why withheld, or what went wrong.
    pub reason: Option<String>,
    /// Fields removed before sending.
    pub removed: Vec<crate::tlp::policy::Removal>,
    /// The message, when one was queued.
    pub message_id: Option<String>,
    /// The marking sent.
    pub marking: Option<String>,
    /// The profile applied.
    pub profile: Option<String>,
    /// The format sent.
    pub format: Option<String>,
}

impl Decision {
    /// The decision an entry records; `None` for a delivery state change.
    pub fn of(e: &Entry) -> Option<Decision> {
        let b = &e.body;
        matches!(b.event.as_str(), "queued" | "withheld" | "error").then(|| Decision {
            at: b.at.clone(),
            report_id: b.report_id.clone(),
            peer: b.peer.clone(),
            decision: b.event.clone(),
            reason: b.reason.clone(),
            removed: b.removed.clone(),
            message_id: b.message_id.clone(),
            marking: b.marking.clone(),
            profile: b.profile.clone(),
            format: b.format.clone(),
        })
    }
}

/// A filter over ledger entries (`irtx ledger list`, `GET /api/v1/disclosures`).
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Only this peer.
    pub peer: Option<String>,
    /// Only this report.
    pub report: Option<String>,
    /// Only entries that carried this value, in clear or as its pseudonym.
    pub indicator: Option<String>,
    /// Only entries at or after this time (RFC 3339, compared as time).
    pub since: Option<time::OffsetDateTime>,
    /// Only entries before this time.
    pub until: Option<time::OffsetDateTime>,
    /// Only this event (`queued`, `withheld`, `delivered`, ...).
    pub state: Option<String>,
}

impl Query {
    /// Whether an entry matches.
    pub fn matches(&self, e: &Entry) -> bool {
        let b = &e.body;
        self.peer.as_ref().is_none_or(|p| *p == b.peer)
            && self.report.as_ref().is_none_or(|r| *r == b.report_id)
            && self.state.as_ref().is_none_or(|s| *s == b.event)
            && self.indicator.as_ref().is_none_or(|v| {
                let v = v.to_lowercase();
                b.indicators
                    .iter()
                    .any(|d| d.value.to_lowercase() == v || d.sent_as.to_lowercase() == v)
            })
            && self.since.is_none_or(|t| {
                time::OffsetDateTime::parse(&b.at, &time::format_description::well_known::Rfc3339)
                    .is_ok_and(|at| at >= t)
            })
    }
}

/// Writes the ledger as JSON lines: a header (team, public JWK), every checkpoint (a fresh one
/// first signs the current head), then every entry. A third party verifies it with the
/// team's public key and nothing else ([`verify_export`]).
pub fn export(
    store: &dyn Store,
    ledger: &Ledger,
    team: &crate::team::Team,
    key: &SigningKey,
    out: &mut dyn std::io::Write,
) -> std::io::Result<u64> {
    let io = |e: crate::store::StoreError| std::io::Error::other(e.to_string());
    let at = crate::exchange::outbound::rfc3339(time::OffsetDateTime::now_utc());
    ledger
        .checkpoint(store, team.id.as_str(), &at, key)
        .map_err(io)?;
    let header = serde_json::json!({"type": "header", "format": "irtx-ledger-export/1", "team": team.id.as_str(),
        "public_jwk": crate::envelope::public_jwk(&key.verifying_key()), "exported_at": at});
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
    }
    Ok(n)
}

/// Verifies an export read line by line: the checkpoints (with `key`), then the chain,
/// streamed. A line that does not parse is named by its number.
pub fn verify_export(
    input: impl std::io::BufRead,
    key: &ed25519_dalek::VerifyingKey,
) -> std::result::Result<chain::Verified, String> {
    let mut checkpoints = Vec::new();
    let mut lines = input.lines().enumerate();
    let mut entries_start = None;
    for (i, line) in lines.by_ref() {
        let line = line.map_err(|e| format!("line {}: {e}", i + 1))?;
        let v: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| format!("line {}: not JSON: {e}", i + 1))?;
        match v["type"].as_str() {
            Some("header") => {}
            Some("checkpoint") => checkpoints.push(
                serde_json::from_value::<Checkpoint>(v["checkpoint"].clone())
                    .map_err(|e| format!("line {}: {e}", i + 1))?,
            ),
            Some("entry") => {
                entries_start = Some((i, v));
                break;
            }
            other => return Err(format!("line {}: unknown line type {other:?}", i + 1)),
        }
    }
    let mut bad_line: Option<String> = None;
    let first =
        entries_start.map(|(i, v)| (i, Ok::<String, std::io::Error>(String::new()), Some(v)));
    let rest = lines.map(|(i, l)| (i, l, None));
    let entries = first
        .into_iter()
        .chain(rest)
        .map_while(|(i, line, parsed)| {
            let v = match parsed {
                Some(v) => v,
                None => {
                    let line = match line {
                        Ok(l) => l,
                        Err(e) => {
                            bad_line = Some(format!("line {}: {e}", i + 1));
                            return None;
                        }
                    };
                    match serde_json::from_str::<serde_json::Value>(&line) {
                        Ok(v) => v,
                        Err(e) => {
                            bad_line = Some(format!("line {}: not JSON: {e}", i + 1));
                            return None;
                        }
                    }
                }
            };
            match serde_json::from_value::<Entry>(v["entry"].clone()) {
                Ok(e) => Some(e),
                Err(e) => {
                    bad_line = Some(format!("line {}: not a ledger entry: {e}", i + 1));
                    None
                }
            }
        });
    let result = chain::verify(entries, &checkpoints, key);
    if let Some(b) = bad_line {
        return Err(b);
    }
    result.map_err(|b| b.to_string())
}
