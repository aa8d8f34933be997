//! The disclosure ledger: an append-only, hash-chained record of every decision and every
//! delivery state change, with checkpoints the team key signs (ISO/IEC 27035-2 6.7: all
//! communications with outside parties documented; Annex A k: tamper-proof audit trails).
//! The entries and the chain are `crate::disclosure` (pure); this module appends through the
//! store, queries it, exports it and verifies exports.

pub mod conformance;
pub mod export;

use std::sync::Mutex;

use ed25519_dalek::SigningKey;
use time::OffsetDateTime;

use crate::disclosure::{chain, Checkpoint, Entry, EntryBody, Event};
use crate::store::{LedgerLookup, Result, Store, StoreError};
use crate::timestamp::parse_rfc3339;

pub use export::{export, verify_export, VerifyExportError};

/// How often an append is linked again after other gateways sharing the store appended
/// first, before it fails.
const MAX_CONTENDED: u32 = 1_000;

/// How many entries between automatic checkpoints.
pub const CHECKPOINT_EVERY: u64 = 100;

/// Appends to the ledger in one store, one writer at a time.
#[derive(Debug, Default)]
pub struct Ledger {
    lock: Mutex<()>,
}

impl Ledger {
    /// A ledger writer.
    pub fn new() -> Self {
        Ledger::default()
    }

    /// Appends `body`, and writes a signed checkpoint every [`CHECKPOINT_EVERY`] entries.
    pub fn append(
        &self,
        store: &dyn Store,
        body: EntryBody,
        team: &str,
        key: &SigningKey,
    ) -> Result<Entry> {
        self.append_with(store, body, team, key, |e| store.ledger_put(e))
            .map(|((), e)| e)
    }

    /// Appends `body` through `write`, which must store the entry it is given (together with
    /// whatever else belongs in the same atomic write), and checkpoints like [`Self::append`].
    /// When gateways share the store and another appended first ([`StoreError::Contended`]:
    /// nothing was written), the entry is linked to the new head and written again.
    pub fn append_with<T>(
        &self,
        store: &dyn Store,
        body: EntryBody,
        team: &str,
        key: &SigningKey,
        write: impl FnMut(&Entry) -> Result<T>,
    ) -> Result<(T, Entry)> {
        let out = self.append_applied(store, body, team, key, write)?;
        // The entry is applied and the next one may link to it; the disk is waited for
        // after letting it, so that one flush can cover both ([`Store`]: the write is
        // durable once this returns, and nothing is answered before).
        store.sync()?;
        Ok(out)
    }

    /// As [`Self::append_with`], but returns once the write is applied, not durable: the
    /// caller makes it durable with [`Store::sync`] before it answers anyone (one sync can
    /// then cover several appends).
    pub fn append_applied<T>(
        &self,
        store: &dyn Store,
        body: EntryBody,
        team: &str,
        key: &SigningKey,
        mut write: impl FnMut(&Entry) -> Result<T>,
    ) -> Result<(T, Entry)> {
        let guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut tries = 0u32;
        let (out, e) = loop {
            let last = store.ledger_last()?;
            let e = chain::link(last.as_ref(), body.clone());
            match write(&e) {
                Ok(out) => break (out, e),
                Err(StoreError::Contended) if tries < MAX_CONTENDED => {
                    tries += 1;
                    // Others are appending: step aside a little, more each time.
                    std::thread::sleep(std::time::Duration::from_micros(
                        200 * u64::from(tries.min(50)),
                    ));
                }
                Err(e) => return Err(e),
            }
        };
        if (e.seq + 1) % CHECKPOINT_EVERY == 0 {
            store.put_checkpoint(&chain::checkpoint(&e, team, &e.body.at, key))?;
        }
        drop(guard);
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
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let Some(last) = store.ledger_last()? else {
            return Ok(None);
        };
        let c = chain::checkpoint(&last, team, at, key);
        store.put_checkpoint(&c)?;
        Ok(Some(c))
    }
}

/// The team's public keys: `current` and every key the stored key documents list.
pub fn team_keys(
    store: &dyn Store,
    current: ed25519_dalek::VerifyingKey,
) -> Result<Vec<ed25519_dalek::VerifyingKey>> {
    let mut keys = vec![current];
    for d in store.key_documents()? {
        for k in d.content().map(|d| d.keys).unwrap_or_default() {
            if let Ok(vk) = crate::envelope::parse_public_jwk(&k.jwk) {
                if !keys.contains(&vk) {
                    keys.push(vk);
                }
            }
        }
    }
    Ok(keys)
}

/// Verifies the store's own ledger with the team's public keys.
pub fn verify_store(
    store: &dyn Store,
    keys: &[ed25519_dalek::VerifyingKey],
) -> std::result::Result<chain::Verified, VerifyExportError> {
    let checkpoints = store.checkpoints().map_err(VerifyExportError::Store)?;
    let mut read_error = None;
    let entries = store.ledger_raw().map_while(|e| match e {
        Ok(e) => Some(e),
        Err(err) => {
            read_error = Some(err);
            None
        }
    });
    let result = chain::verify(entries, &checkpoints, keys);
    if let Some(e) = read_error {
        return Err(VerifyExportError::Store(e));
    }
    result.map_err(VerifyExportError::Broken)
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

/// Up to `limit` entries `keep` selects, after `seq` `after`: one page of a query, read
/// until the page is full (for a [`Query`], [`Query::page`] reads what its indexes list).
pub fn select_page(
    store: &dyn Store,
    keep: impl Fn(&Entry) -> bool,
    after: Option<u64>,
    limit: usize,
) -> Result<Vec<Entry>> {
    store.ledger_page(&LedgerLookup::default(), after, limit, &keep)
}

/// A disclosure decision for one report and one peer, as the ledger records it: the view
/// of `GET /api/v1/decisions`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Decision {
    /// When (RFC 3339).
    pub at: String,
    /// The report.
    pub report_id: crate::report::ReportId,
    /// The peer.
    pub peer: crate::peer::PeerId,
    /// `queued`, `withheld` or `error`.
    pub decision: Event,
    /// Why withheld, or what went wrong.
    pub reason: Option<String>,
    /// The kind of the reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<crate::disclosure::Cause>,
    /// Fields removed before sending.
    pub removed: Vec<crate::report::redact::Removal>,
    /// The message, when one was queued.
    pub message_id: Option<crate::envelope::MessageId>,
    /// The marking sent.
    pub marking: Option<crate::tlp::Tlp>,
    /// The profile applied.
    pub profile: Option<String>,
    /// The format sent.
    #[serde(with = "crate::peer::wire_format::option")]
    pub format: Option<crate::peer::Format>,
    /// For onward sharing: the alert passed on and its source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub onward: Option<crate::disclosure::Onward>,
}

impl Decision {
    /// The decision an entry records; `None` for a delivery state change.
    pub fn of(e: &Entry) -> Option<Decision> {
        let b = &e.body;
        b.event.is_decision().then(|| Decision {
            at: b.at.clone(),
            report_id: b.report_id.clone(),
            peer: b.peer.clone(),
            decision: b.event,
            reason: b.reason.clone(),
            cause: b.cause,
            removed: b.removed.clone(),
            message_id: b.message_id,
            marking: b.marking,
            profile: b.profile.clone(),
            format: b.format,
            onward: b.onward.clone(),
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
    /// Only entries at or after this time.
    pub since: Option<OffsetDateTime>,
    /// Only entries before this time.
    pub until: Option<OffsetDateTime>,
    /// Only this event.
    pub state: Option<Event>,
}

/// The columns of a ledger list as CSV (`irtx ledger list --format csv`, the Disclosures
/// page's export).
pub const CSV_HEADER: [&str; 12] = [
    "seq",
    "at",
    "event",
    "peer",
    "report",
    "marking",
    "profile",
    "format",
    "message",
    "removed",
    "indicators",
    "reason",
];

/// One entry as a CSV record, in the order of [`CSV_HEADER`].
pub fn csv_record(e: &Entry) -> [String; 12] {
    let b = &e.body;
    let removed: Vec<&str> = b.removed.iter().map(|r| r.pointer.as_str()).collect();
    [
        e.seq.to_string(),
        b.at.clone(),
        b.event.to_string(),
        b.peer.to_string(),
        b.report_id.to_string(),
        b.marking.map(|m| m.to_string()).unwrap_or_default(),
        b.profile.clone().unwrap_or_default(),
        b.format
            .map(|f| f.wire_name().to_string())
            .unwrap_or_default(),
        b.message_id.map(|m| m.to_string()).unwrap_or_default(),
        removed.join(" "),
        b.indicators.len().to_string(),
        b.reason.clone().unwrap_or_default(),
    ]
}

/// A [`Query`] as a person gives it (query string, command line, form): text to be parsed.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct QueryText {
    /// Only this peer.
    #[serde(default)]
    pub peer: Option<String>,
    /// Only this report.
    #[serde(default)]
    pub report: Option<String>,
    /// Only entries that carried this value.
    #[serde(default)]
    pub indicator: Option<String>,
    /// From this time (RFC 3339, or a date: the start of that day).
    #[serde(default)]
    pub since: Option<String>,
    /// Before this time (RFC 3339, or a date: up to the end of that day).
    #[serde(default)]
    pub until: Option<String>,
    /// Only this event.
    #[serde(default)]
    pub state: Option<String>,
}

impl QueryText {
    /// The filters as a query string (empty ones left out), to link to more of the list.
    pub fn to_query_string(&self) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("peer", &self.peer),
            ("report", &self.report),
            ("indicator", &self.indicator),
            ("state", &self.state),
            ("since", &self.since),
            ("until", &self.until),
        ] {
            if let Some(v) = v.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
                q.append_pair(k, v);
            }
        }
        q.finish()
    }

    /// The query; every value that does not parse is a problem named by its field. Empty
    /// values mean "any".
    pub fn parse(&self) -> std::result::Result<Query, Vec<crate::schema::Violation>> {
        let some = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let mut problems = Vec::new();
        let mut bound = |name: &str, v: &Option<String>, end: bool| {
            let v = some(v)?;
            let t = crate::timestamp::parse_bound(&v, end);
            if t.is_none() {
                problems.push(crate::schema::Violation::new(
                    format!("/{name}"),
                    format!("`{v}` is not a date (2026-12-02) or an RFC 3339 time (2026-12-02T10:00:00Z)"),
                ));
            }
            t
        };
        let since = bound("since", &self.since, false);
        let until = bound("until", &self.until, true);
        let state = some(&self.state).and_then(|s| {
            s.parse::<Event>()
                .map_err(|e| problems.push(crate::schema::Violation::new("/state", e.to_string())))
                .ok()
        });
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Query {
            peer: some(&self.peer),
            report: some(&self.report),
            indicator: some(&self.indicator),
            since,
            until,
            state,
        })
    }
}

impl Query {
    /// Up to `limit` entries that match, after `seq` `after`: one page, read from the
    /// store's indexes where it has them (with a million entries, a filter that matched
    /// nothing read them all: 2.5 s).
    pub fn page(&self, store: &dyn Store, after: Option<u64>, limit: usize) -> Result<Vec<Entry>> {
        let lookup = LedgerLookup {
            peer: self.peer.as_deref(),
            report: self.report.as_deref(),
            indicator: self.indicator.as_deref(),
            event: self.state,
            since: self.since,
            until: self.until,
        };
        store.ledger_page(&lookup, after, limit, &|e| self.matches(e))
    }

    /// Whether an entry matches.
    pub fn matches(&self, e: &Entry) -> bool {
        let b = &e.body;
        let at = || parse_rfc3339(&b.at);
        self.peer.as_ref().is_none_or(|p| b.peer == *p.as_str())
            && self
                .report
                .as_ref()
                .is_none_or(|r| b.report_id.as_str() == r)
            && self.state.is_none_or(|s| s == b.event)
            && self.indicator.as_ref().is_none_or(|v| {
                b.indicators
                    .iter()
                    .any(|d| d.value.eq_ignore_ascii_case(v) || d.sent_as.eq_ignore_ascii_case(v))
            })
            && self.since.is_none_or(|t| at().is_some_and(|at| at >= t))
            && self.until.is_none_or(|t| at().is_some_and(|at| at < t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queued(report: &str) -> EntryBody {
        EntryBody::new(
            "2026-12-02T00:00:00Z".into(),
            Event::Queued,
            report.parse().unwrap(),
            "cert-b".parse().unwrap(),
        )
    }

    #[test]
    fn an_append_refused_as_contended_is_linked_again_and_written_once() {
        let s = crate::store::sled_store::SledStore::temporary().unwrap();
        let key = SigningKey::from_bytes(&[5; 32]);
        let ledger = Ledger::new();
        ledger.append(&s, queued("r0"), "cert-a", &key).unwrap();
        let mut calls = 0;
        let ((), e) = ledger
            .append_with(&s, queued("r1"), "cert-a", &key, |e| {
                calls += 1;
                if calls == 1 {
                    // Another gateway appends first; the store refuses this entry.
                    assert_eq!(e.seq, 1);
                    let theirs = chain::link(s.ledger_last()?.as_ref(), queued("other"));
                    s.ledger_put(&theirs)?;
                    return Err(StoreError::Contended);
                }
                s.ledger_put(e)
            })
            .unwrap();
        assert_eq!(calls, 2, "written again once, after the refusal");
        assert_eq!((e.seq, e.body.report_id.as_str()), (2, "r1"));
        let all: Vec<Entry> = s.ledger_entries().map(|e| e.unwrap()).collect();
        assert_eq!(
            all.iter()
                .map(|e| e.body.report_id.as_str())
                .collect::<Vec<_>>(),
            ["r0", "other", "r1"]
        );
        verify_store(&s, &[key.verifying_key()]).unwrap();
        // Any other failure is the caller's at once.
        let mut tries = 0;
        let failed = ledger.append_with(&s, queued("r2"), "cert-a", &key, |_| {
            tries += 1;
            Err::<(), _>(StoreError::Finished { seq: 9 })
        });
        assert!(matches!(failed, Err(StoreError::Finished { seq: 9 })));
        assert_eq!(tries, 1);
    }

    fn entry_at(at: &str) -> Entry {
        chain::link(
            None,
            EntryBody::new(
                at.into(),
                Event::Queued,
                "r1".parse().unwrap(),
                "cert-b".parse().unwrap(),
            ),
        )
    }

    #[test]
    fn a_page_read_from_the_indexes_is_the_page_the_ledger_holds() {
        let s = crate::store::sled_store::SledStore::temporary().unwrap();
        crate::store::conformance::varied_ledger(&s, 700);
        conformance::pages_of_queries_are_the_ledgers(&s);
    }

    #[test]
    fn since_is_inclusive_and_until_exclusive() {
        let t = |s: &str| parse_rfc3339(s);
        let q = Query {
            since: t("2026-12-01T00:00:00Z"),
            until: t("2026-12-02T00:00:00Z"),
            ..Query::default()
        };
        assert!(!q.matches(&entry_at("2026-11-30T23:59:59.999Z")));
        assert!(q.matches(&entry_at("2026-12-01T00:00:00Z")));
        assert!(q.matches(&entry_at("2026-12-01T23:59:59.999Z")));
        assert!(!q.matches(&entry_at("2026-12-02T00:00:00Z")));
        let state = Query {
            state: Some(Event::Delivered),
            ..Query::default()
        };
        assert!(!state.matches(&entry_at("2026-12-01T00:00:00Z")));
    }
}
