//! The sled 0.34 backend: one data directory, no server. Each acknowledged write is flushed
//! before the call returns, writers waiting together sharing one flush (group commit, see
//! [`super::group_commit`]).

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use super::records::{
    backend, decode, decode_alert, decode_next_attempt_ms, decode_taxii_row, encode, encode_alert,
    encode_delivered, encode_outbox_item, encode_taxii_batch, is_pending, pending_key, read_u64,
    report_seen_key, seq_suffix, taxii_index_prefix, taxii_key, DedupKeys,
};
use super::{
    Alert, AlertMeta, Delivered, FoundMessage, Holding, Imported, OutboxCounts, OutboxItem, Result,
    Store, StoreError, StoredReport, TaxiiObject,
};
use crate::disclosure::{Checkpoint, Entry, RawEntry};
use crate::envelope::MessageId;
use crate::peer::{Peer, PeerId};
use crate::report::ReportId;

/// In `ledger_index_meta`: the seq of the first ledger entry not yet indexed by message
/// and by report.
const INDEXED_UPTO: &[u8] = b"indexed-upto";
/// In `ledger_index_meta`: the seq of the first ledger entry not yet in `ledger_by_field`'s
/// lists. Apart from [`INDEXED_UPTO`]: a release before those lists (one rolled back to)
/// moves that one on and not this, and the lists catch up from here when this release runs
/// again. A store without it has its lists made from its first entry.
const FIELDS_UPTO: &[u8] = b"fields-indexed-upto/1";

/// The tags of `ledger_by_field`'s keys.
const BY_PEER: u8 = b'p';
const BY_EVENT: u8 = b'e';
const BY_DAY: u8 = b't';
const BY_INDICATOR: u8 = b'i';

/// How many entries one key of `ledger_by_field` lists at most (8 bytes each).
const POSTED_PER_KEY: usize = 4096;

/// The prefix of `ledger_by_field`'s keys for `value` under `tag`. Each key is this prefix
/// then the seq of the first entry it lists (big-endian), and its value the seqs of the
/// entries it lists, increasing, 8 bytes each (big-endian), up to [`POSTED_PER_KEY`]; the
/// keys of a prefix list its entries in order. A few keys a value rather than one a value
/// and entry: sled keeps in memory a table of its pages, and a key an entry and indicator
/// (6 million keys at a million entries) took 184 MiB more at a start.
///
/// Peer ids and event names hold no NUL and end with one; a day is 4 bytes that sort as
/// the days do ([`day_bytes`]); an indicator is 16 bytes of the SHA-256 of its value,
/// ASCII-lowercased (a query matches ASCII case aside).
fn field_key(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(value.len() + 10);
    k.push(tag);
    k.extend_from_slice(value);
    if matches!(tag, BY_PEER | BY_EVENT) {
        k.push(0);
    }
    k
}

/// The day (UTC) of a time as 4 bytes that sort as the days do (days since 1970, the sign
/// bit flipped).
fn day_bytes(t: time::OffsetDateTime) -> [u8; 4] {
    day_number(t).to_be_bytes()
}

fn day_number(t: time::OffsetDateTime) -> u32 {
    let day = t.unix_timestamp().div_euclid(86_400);
    (day.clamp(i32::MIN.into(), i32::MAX.into()) as i32 as u32) ^ (1 << 31)
}

/// An indicator's prefix in `ledger_by_field`.
fn indicator_key(value: &str) -> Vec<u8> {
    field_key(BY_INDICATOR, &super::records::indicator_digest(value))
}

/// A report's prefix in `ledger_by_report` (each key: the prefix, then an entry's seq).
fn report_prefix(report: &str) -> Vec<u8> {
    let mut k = report.as_bytes().to_vec();
    k.push(0);
    k
}

/// The prefixes of `ledger_by_field` that list entry `e`: its peer, event, day, and every
/// indicator it carried, in clear and as sent.
fn field_keys(e: &Entry) -> Vec<Vec<u8>> {
    let b = &e.body;
    let mut keys = vec![
        field_key(BY_PEER, b.peer.as_str().as_bytes()),
        field_key(BY_EVENT, b.event.to_string().as_bytes()),
    ];
    if let Some(at) = crate::timestamp::parse_rfc3339(&b.at) {
        keys.push(field_key(BY_DAY, &day_bytes(at)));
    }
    keys.extend(
        super::records::carried_digests(e)
            .iter()
            .map(|d| field_key(BY_INDICATOR, d)),
    );
    keys
}

/// Where the entries a query may keep are listed, each in seq order: under a prefix of an
/// index, or read from `ledger_by_field` (a time range: the lists of its days).
enum Listed<'a> {
    Under(&'a sled::Tree, Vec<u8>),
    Posted(Vec<u64>),
    Days(Vec<Vec<u64>>),
}

/// How many ledger entries may wait to be indexed before a page of a query is read: with
/// more, it is read from the ledger itself (indexing 10,000 entries takes about 0.2 s).
const READ_THROUGH_FROM: u64 = 10_000;

/// How many entries a list is counted up to, to read a page from the shortest.
const COUNTED_UP_TO: usize = 2048;

/// Streams of increasing seqs merged into one, in order (an error is passed on where it
/// comes).
struct Merged<I: Iterator<Item = Result<u64>>> {
    streams: Vec<I>,
    /// The next seq of each stream that has one, smallest first.
    heads: std::collections::BinaryHeap<std::cmp::Reverse<(u64, usize)>>,
    /// An error met while taking a stream's next seq, to be passed on.
    failed: Option<StoreError>,
}

impl<I: Iterator<Item = Result<u64>>> Merged<I> {
    fn new(streams: Vec<I>) -> Self {
        let mut m = Merged {
            heads: Default::default(),
            failed: None,
            streams,
        };
        for i in 0..m.streams.len() {
            m.advance(i);
        }
        m
    }

    fn advance(&mut self, i: usize) {
        match self.streams[i].next() {
            Some(Ok(seq)) => self.heads.push(std::cmp::Reverse((seq, i))),
            Some(Err(e)) => self.failed = Some(e),
            None => {}
        }
    }
}

impl<I: Iterator<Item = Result<u64>>> Iterator for Merged<I> {
    type Item = Result<u64>;

    fn next(&mut self) -> Option<Result<u64>> {
        if let Some(e) = self.failed.take() {
            return Some(Err(e));
        }
        let std::cmp::Reverse((seq, i)) = self.heads.pop()?;
        self.advance(i);
        Some(Ok(seq))
    }
}

/// The sled-backed store.
pub struct SledStore {
    db: sled::Db,
    /// Every write holds this for reading; a snapshot holds it for writing, so it sees the
    /// store between writes, never in the middle of one.
    gate: std::sync::RwLock<()>,
    /// Shares one flush among the writes waiting for it.
    commits: super::group_commit::GroupCommit,
    /// Outbox records queued with a ledger entry (applied, not yet durable) that no flush
    /// has covered yet: [`Store::sync_outbox`] flushes for these only.
    unflushed_outbox: super::group_commit::Unflushed,
    reports: sled::Tree,
    peers: sled::Tree,
    /// What [`Self::peers`] holds, as read: every inbound message looks its sender up.
    peer_cache: super::peer_cache::PeerCache,
    outbox: sled::Tree,
    delivered: sled::Tree,
    alerts: sled::Tree,
    alert_ids: sled::Tree,
    /// `seq` -> the alert without its document: lists and counts never read documents.
    alert_meta: sled::Tree,
    /// Peer id -> bytes its alerts take (u64, big-endian): the storage quota.
    usage: sled::Tree,
    /// `seq` -> the body of a quarantined message, apart from its record.
    quarantine_bodies: sled::Tree,
    /// `seq` -> the team's signed key documents, one per rotation.
    key_documents: sled::Tree,
    seen: sled::Tree,
    quarantine: sled::Tree,
    ledger: sled::Tree,
    checkpoints: sled::Tree,
    /// Index of the messages still to deliver: `peer NUL seq` -> nothing. Keeps the worker's
    /// per-poll work proportional to the peers, not to the outbox.
    pending: sled::Tree,
    /// TAXII collections: `collection NUL seq` -> up to [`TAXII_BATCH_MOST`] objects one
    /// publish added, the first at `seq` (`records::encode_taxii_batch`), or one
    /// [`TaxiiObject`] (written so before batches, and by a restore).
    taxii_objects: sled::Tree,
    /// `collection NUL object id NUL seq` -> the version: an object's versions.
    taxii_index: sled::Tree,
    /// `collection NUL message id` -> pulls (u64, big-endian).
    taxii_pulls: sled::Tree,
    /// Status id -> TAXII status resource.
    taxii_status: sled::Tree,
    /// `report id NUL peer id` -> [`Holding`].
    holdings: sled::Tree,
    /// Each TAXII collection's last `date_added` (microseconds), as far as read: held while
    /// appending to a collection, so that `date_added` strictly increases. A collection not
    /// in it is read from its last record.
    taxii_tails: std::sync::Mutex<std::collections::HashMap<String, i64>>,
    /// Which (collection, object id, version) [`Self::taxii_index`] may hold: a publish asks
    /// the index only about objects this says may be there (nearly every object of a new
    /// report is not; each lookup is a walk of the index). Complete at once for a store
    /// without TAXII objects, else once [`Store::catch_up_indexes`] has read the index
    /// (until then every object is looked up). 1 MiB: about 2% false positives at
    /// 1,000,000 objects published, more after.
    taxii_known: super::bloom::Bloom,
    /// Ledger entries by message and by report: derived from the ledger, caught up before
    /// each read (see [`SledStore::index_ledger`]).
    ledger_by_message: sled::Tree,
    ledger_by_report: sled::Tree,
    /// Ledger entries by peer, event, day and indicator, as lists of seqs (see
    /// [`field_key`]), for the pages of a query ([`Store::ledger_page`]).
    ledger_by_field: sled::Tree,
    ledger_index_meta: sled::Tree,
    index_lock: std::sync::Mutex<()>,
    /// Message id -> where the message is: `o` and its outbox sequence number, or `d` and
    /// its position in the delivered list (see [`message_place`]).
    message_seqs: sled::Tree,
    /// How many alerts there are: counted the first time it is asked (sled counts a tree by
    /// walking it: 2.3 s at 1,000,000 alerts), then kept by each import, so a page that shows
    /// it does not walk a million keys each time. Imports go on while it is counted. Read
    /// from [`Self::alert_count_kept`] at the start once the store has been counted.
    alerts_held: std::sync::Mutex<AlertCount>,
    /// [`ALERTS_COUNTED`] -> how many alerts there are (u64, big-endian): written by the
    /// first count, then by each import in its own write, so a start does not walk the
    /// alerts again. The walk read every page of `alert_meta` into memory: about 100 MiB
    /// that stayed with the process at 300,000 alerts. Derived, like the indexes: a store
    /// or backup without it is counted once more.
    alert_count_kept: sled::Tree,
    /// A name -> what the gateway derived and kept under it ([`Store::keep_derived`]).
    /// Apart from the alert count, which each import rewrites: sled rewrites a page whole
    /// every few changes, and a page holding a large value with the count would be
    /// written again and again.
    kept: sled::Tree,
    /// Held by the one thread that counts the alerts.
    counting: std::sync::Mutex<()>,
    /// The outbox's counts, taken the first time they are asked (walking the outbox reads
    /// every queued message) and then kept by each write, as the alert count is.
    outbox_held: std::sync::Mutex<Option<OutboxCounts>>,
}

/// The key of the alert count in [`SledStore::alert_count_kept`].
const ALERTS_COUNTED: &[u8] = b"alerts";

/// A message's place in [`SledStore::message_seqs`]: in the outbox ...
const OUTBOX: u8 = b'o';
/// ... or delivered.
const DELIVERED: u8 = b'd';

/// The value that says where a message is: its tag and sequence number.
fn message_place(tag: u8, seq: u64) -> [u8; 9] {
    let mut v = [tag; 9];
    v[1..].copy_from_slice(&seq.to_be_bytes());
    v
}

/// The count an outbox entry is in: still to be delivered (`pending`), or dead-lettered or
/// refused.
fn counted_in(c: &mut OutboxCounts, pending: bool) -> &mut u64 {
    if pending {
        &mut c.pending
    } else {
        &mut c.dead_lettered
    }
}

/// An outbox entry leaves the count it was in.
fn uncount(c: &mut OutboxCounts, pending: bool) {
    let n = counted_in(c, pending);
    *n = n.saturating_sub(1);
}

/// The most objects one TAXII record holds. A read of a collection starts at the record
/// holding its first position, and the TAXII server reads 256 objects at a time: a large
/// report's objects are cut into records of this many, so that no read decodes the whole
/// report (up to 4 MiB) for a page of it.
const TAXII_BATCH_MOST: usize = 100;

/// A failed outbox transaction: aborted because the entry `seq` is no longer there, or
/// another failure.
fn finished_or(e: TransactionError<()>, seq: u64) -> StoreError {
    match e {
        TransactionError::Abort(()) => StoreError::Finished { seq },
        e => tx_failed(e),
    }
}

/// A failed sled transaction as a store error.
fn tx_failed(e: TransactionError<()>) -> StoreError {
    match e {
        TransactionError::Storage(e) => backend(e),
        TransactionError::Abort(()) => StoreError::Backend("transaction aborted".into()),
    }
}

/// The JSON of a record as a sled tree holds it (decompressed when it was stored
/// compressed, a signed message's payload put back when it was kept apart): for tools and
/// tests that inspect or repair the store through [`SledStore::db`]. A record written back
/// as plain JSON is read as it is.
pub fn record_json(key: &[u8], bytes: &[u8]) -> Result<Vec<u8>> {
    super::records::unpack(key, bytes).map(std::borrow::Cow::into_owned)
}

impl SledStore {
    /// The underlying sled database (tools and tests that inspect or repair the store). A
    /// TAXII object written through it is known to this store once it is opened again.
    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    /// Opens (or creates) the store in `dir`, with a 256 MiB page cache.
    pub fn open(dir: &Path) -> Result<Self> {
        Self::open_with_cache(dir, 256 << 20)
    }

    /// Opens the store with a page cache of `cache_bytes` (commands that stream the ledger
    /// once need little cache; sled's default is 1 GiB).
    pub fn open_with_cache(dir: &Path, cache_bytes: u64) -> Result<Self> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .open()
            .map_err(|e| match e {
                // sled 0.34 reports a held lock as an `Other` I/O error whose text is all
                // that tells it apart (config.rs, `try_lock_exclusive`).
                sled::Error::Io(io)
                    if io.kind() == std::io::ErrorKind::WouldBlock
                        || io.to_string().starts_with("could not acquire lock") =>
                {
                    StoreError::Locked {
                        path: dir.display().to_string(),
                    }
                }
                e => backend(e),
            })?;
        Self::from_db(db)
    }

    /// Brings the ledger's indexes up to date: indexes every entry after the last one
    /// indexed, in order, stopping at the first gap (an append not yet visible is indexed
    /// by the next reader). The indexes are derived: not flushed on their own, rebuilt from
    /// where they stand after a crash, and never the only copy of anything.
    fn index_ledger(&self) -> Result<()> {
        let _one = self.index_lock.lock().unwrap_or_else(|p| p.into_inner());
        let (by_id, by_field) = (self.upto(INDEXED_UPTO)?, self.upto(FIELDS_UPTO)?);
        let mut next = by_id.min(by_field);
        // Written key by key, and how far they reached after every chunk (a chunk written
        // again after a crash writes the same keys). Not as sled batches: sled 0.34 applies
        // a batch under its global write lock, which holds every other write to the store
        // back meanwhile; a batch of 10,000 entries' keys held them for 70-110 ms.
        const CHUNK: u64 = 10_000;
        let mut written = next;
        // The chunk's entries by peer, event, day and indicator, written before how far
        // the chunk reached.
        let mut postings: std::collections::BTreeMap<Vec<u8>, Vec<u64>> = Default::default();
        let upto = |reached: u64, postings: &mut std::collections::BTreeMap<Vec<u8>, Vec<u64>>| {
            for (key, seqs) in std::mem::take(postings) {
                self.post(&key, &seqs)?;
            }
            for (key, from) in [(INDEXED_UPTO, by_id), (FIELDS_UPTO, by_field)] {
                self.ledger_index_meta
                    .insert(key, &reached.max(from).to_be_bytes())
                    .map_err(backend)?;
            }
            Ok::<(), StoreError>(())
        };
        for kv in self.ledger.range(next.to_be_bytes()..) {
            let (k, v) = kv.map_err(backend)?;
            let e: Entry = decode(&k, &v)?;
            if e.seq != next {
                break;
            }
            if e.seq >= by_id {
                if let Some(m) = e.body.message_id {
                    let mut key = m.0.as_bytes().to_vec();
                    key.extend_from_slice(&e.seq.to_be_bytes());
                    self.ledger_by_message.insert(key, &[]).map_err(backend)?;
                }
                let mut key = report_prefix(e.body.report_id.as_str());
                key.extend_from_slice(&e.seq.to_be_bytes());
                self.ledger_by_report.insert(key, &[]).map_err(backend)?;
            }
            if e.seq >= by_field {
                for key in field_keys(&e) {
                    postings.entry(key).or_default().push(e.seq);
                }
            }
            next += 1;
            if next - written >= CHUNK {
                upto(next, &mut postings)?;
                written = next;
            }
        }
        if next > written {
            upto(next, &mut postings)?;
        }
        Ok(())
    }

    /// Adds `seqs` (increasing) to the entries listed under `prefix` in `ledger_by_field`;
    /// those it lists already (a chunk indexed again after a crash) are not added again.
    fn post(&self, prefix: &[u8], seqs: &[u64]) -> Result<()> {
        let (mut key, mut list) = match self.ledger_by_field.scan_prefix(prefix).next_back() {
            Some(kv) => {
                let (k, v) = kv.map_err(backend)?;
                (k.to_vec(), v.to_vec())
            }
            None => (Vec::new(), Vec::new()),
        };
        let last = list.last_chunk::<8>().map(|l| u64::from_be_bytes(*l));
        for &seq in seqs.iter().filter(|s| last.is_none_or(|l| **s > l)) {
            if key.is_empty() || list.len() >= POSTED_PER_KEY * 8 {
                if !key.is_empty() {
                    self.ledger_by_field.insert(&key, list).map_err(backend)?;
                }
                key = [prefix, &seq.to_be_bytes()].concat();
                list = Vec::new();
            }
            list.extend_from_slice(&seq.to_be_bytes());
        }
        if !key.is_empty() {
            self.ledger_by_field.insert(key, list).map_err(backend)?;
        }
        Ok(())
    }

    /// The seqs `ledger_by_field` lists under `prefix`, in order.
    fn posted(&self, prefix: &[u8]) -> Result<Vec<u64>> {
        let mut seqs = Vec::new();
        for kv in self.ledger_by_field.scan_prefix(prefix) {
            let (k, v) = kv.map_err(backend)?;
            // The prefix, then a seq: anything else shares the prefix only.
            if k.len() != prefix.len() + 8 {
                continue;
            }
            seqs.extend(
                v.chunks_exact(8)
                    .map(|c| u64::from_be_bytes(c.try_into().expect("8 bytes"))),
            );
        }
        Ok(seqs)
    }

    /// How many ledger entries are not indexed yet (the last one's seq, counted from the
    /// first not indexed).
    fn ledger_unindexed(&self) -> Result<u64> {
        let Some((last, _)) = self.ledger.last().map_err(backend)? else {
            return Ok(0);
        };
        let upto = self.upto(INDEXED_UPTO)?.min(self.upto(FIELDS_UPTO)?);
        Ok((seq_suffix(&last)? + 1).saturating_sub(upto))
    }

    /// The seq of the first ledger entry not indexed yet, as `marker` says.
    fn upto(&self, marker: &[u8]) -> Result<u64> {
        Ok(self
            .ledger_index_meta
            .get(marker)
            .map_err(backend)?
            .map_or(0, |v| read_u64(&v)))
    }

    /// Where the entries a query may keep are listed: one list for each of its conditions
    /// an index answers (none: the query needs the whole ledger read).
    fn ledger_lists(&self, lookup: &super::LedgerLookup<'_>) -> Result<Vec<Listed<'_>>> {
        let by = |prefix: Vec<u8>| self.posted(&prefix).map(Listed::Posted);
        let mut lists = Vec::new();
        if let Some(r) = lookup.report {
            lists.push(Listed::Under(&self.ledger_by_report, report_prefix(r)));
        }
        if let Some(p) = lookup.peer {
            lists.push(by(field_key(BY_PEER, p.as_bytes()))?);
        }
        if let Some(e) = lookup.event {
            lists.push(by(field_key(BY_EVENT, e.to_string().as_bytes()))?);
        }
        if let Some(i) = lookup.indicator {
            lists.push(by(indicator_key(i))?);
        }
        if lookup.since.is_some() || lookup.until.is_some() {
            // `until` is exclusive: a range that ends at midnight ends the day before.
            let last = lookup
                .until
                .map_or(u32::MAX, |t| day_number(t - time::Duration::nanoseconds(1)));
            let first = lookup.since.map_or(0, day_number);
            let days = self.ledger_days(first, last)?;
            let listed = days
                .into_iter()
                .map(|day| self.posted(&field_key(BY_DAY, &day.to_be_bytes())));
            lists.push(Listed::Days(listed.collect::<Result<_>>()?));
        }
        Ok(lists)
    }

    /// The days from `first` to `last` (inclusive) on which there are ledger entries.
    fn ledger_days(&self, first: u32, last: u32) -> Result<Vec<u32>> {
        let mut days = Vec::new();
        let mut day = first;
        while day <= last {
            let from = field_key(BY_DAY, &day.to_be_bytes());
            let Some((k, _)) = self
                .ledger_by_field
                .range(from..)
                .next()
                .transpose()
                .map_err(backend)?
            else {
                break;
            };
            match k
                .strip_prefix(&[BY_DAY])
                .and_then(|rest| rest.first_chunk::<4>())
            {
                Some(d) if u32::from_be_bytes(*d) <= last => {
                    let found = u32::from_be_bytes(*d);
                    days.push(found);
                    match found.checked_add(1) {
                        Some(next) => day = next,
                        None => break,
                    }
                }
                _ => break,
            }
        }
        Ok(days)
    }

    /// The seqs an index lists under `prefix`, from seq `from` on, in order.
    fn listed_from<'t>(
        tree: &'t sled::Tree,
        prefix: &[u8],
        from: u64,
    ) -> impl Iterator<Item = Result<u64>> + 't {
        let mut start = prefix.to_vec();
        start.extend_from_slice(&from.to_be_bytes());
        let prefix = prefix.to_vec();
        let len = prefix.len() + 8;
        tree.range(start..)
            .keys()
            .map(|k| k.map_err(backend))
            .take_while(move |k| k.as_ref().map_or(true, |k| k.starts_with(&prefix)))
            // The prefix, then the entry's seq: anything else shares the prefix only.
            .filter(move |k| k.as_ref().map_or(true, |k| k.len() == len))
            .map(|k| seq_suffix(&k?))
    }

    /// Ledger entry `seq`, if there is one.
    fn ledger_entry(&self, seq: u64) -> Result<Option<Entry>> {
        let key = seq.to_be_bytes();
        self.ledger
            .get(key)
            .map_err(backend)?
            .map(|v| decode(&key, &v))
            .transpose()
    }

    /// How many entries a list holds (one under a prefix of an index, counted up to
    /// [`COUNTED_UP_TO`]).
    fn count_listed(list: &Listed<'_>) -> usize {
        match list {
            Listed::Under(tree, prefix) => {
                tree.scan_prefix(prefix).keys().take(COUNTED_UP_TO).count()
            }
            Listed::Posted(seqs) => seqs.len(),
            Listed::Days(days) => days.iter().map(Vec::len).sum(),
        }
    }

    /// The ledger entries an index lists under `prefix` (keys: prefix, then the seq).
    fn indexed(&self, index: &sled::Tree, prefix: &[u8]) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        for seq in Self::listed_from(index, prefix, 0) {
            out.extend(self.ledger_entry(seq?)?);
        }
        Ok(out)
    }

    /// A store in a temporary directory that is removed when dropped (tests). sled's
    /// background flush is off, so that only the store's own flushes write to disk and a
    /// test can count them.
    pub fn temporary() -> Result<Self> {
        let db = sled::Config::new()
            .temporary(true)
            .flush_every_ms(None)
            .open()
            .map_err(backend)?;
        Self::from_db(db)
    }

    fn from_db(db: sled::Db) -> Result<Self> {
        let t = |name: &str| db.open_tree(name).map_err(backend);
        Ok(SledStore {
            gate: std::sync::RwLock::new(()),
            commits: super::group_commit::GroupCommit::default(),
            unflushed_outbox: Default::default(),
            reports: t("reports")?,
            peers: t("peers")?,
            peer_cache: Default::default(),
            outbox: t("outbox")?,
            delivered: t("delivered")?,
            alerts: t("alerts")?,
            alert_ids: t("alert_ids")?,
            alert_meta: t("alert_meta")?,
            usage: t("usage")?,
            quarantine_bodies: t("quarantine_bodies")?,
            key_documents: t("key_documents")?,
            seen: t("seen")?,
            quarantine: t("quarantine")?,
            ledger: t("ledger")?,
            checkpoints: t("checkpoints")?,
            pending: t("pending")?,
            taxii_objects: t("taxii_objects")?,
            taxii_index: t("taxii_index")?,
            taxii_pulls: t("taxii_pulls")?,
            taxii_status: t("taxii_status")?,
            holdings: t("holdings")?,
            taxii_tails: Default::default(),
            taxii_known: super::bloom::Bloom::new(23),
            ledger_by_message: t("ledger_by_message")?,
            ledger_by_report: t("ledger_by_report")?,
            ledger_by_field: t("ledger_by_field")?,
            ledger_index_meta: t("ledger_index_meta")?,
            message_seqs: t("message_seqs")?,
            alert_count_kept: t("alert_count")?,
            kept: t("kept")?,
            index_lock: std::sync::Mutex::new(()),
            alerts_held: std::sync::Mutex::new(AlertCount::Unknown),
            counting: std::sync::Mutex::new(()),
            outbox_held: std::sync::Mutex::new(None),
            db,
        })
        .and_then(|s| {
            s.migrate()?;
            if let Some(n) = s.alert_count_kept.get(ALERTS_COUNTED).map_err(backend)? {
                *s.alerts_held() = AlertCount::Known(read_u64(&n));
            }
            if s.taxii_index.is_empty() {
                s.taxii_known.complete();
            }
            Ok(s)
        })
    }

    /// Adds every object of every TAXII collection to [`Self::taxii_known`], once, then
    /// lets it answer. Publishes may go on meanwhile: each adds its objects before writing
    /// them.
    fn know_taxii_index(&self) -> Result<()> {
        if self.taxii_known.is_complete() {
            return Ok(());
        }
        self.learn_taxii_index()
    }

    /// Adds every object of every TAXII collection to [`Self::taxii_known`], complete or
    /// not: for a writer that wrote the index apart from [`Store::taxii_publish`] (a
    /// restore).
    pub(super) fn learn_taxii_index(&self) -> Result<()> {
        // Objects written apart may also be the collections' last ones.
        self.taxii_tails
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        for kv in self.taxii_index.iter() {
            let (k, version) = kv.map_err(backend)?;
            seq_suffix(&k)?;
            self.taxii_known
                .insert(&[&k[..k.len() - 8], version.as_ref()]);
        }
        self.taxii_known.complete();
        Ok(())
    }

    /// Builds what a store written by an earlier release lacks, once: the index of pending
    /// messages, the alerts' metadata and usage, quarantine bodies apart from their records.
    fn migrate(&self) -> Result<()> {
        let mut changed = false;
        // A store from before the lists by field gets them made from its first entry (its
        // tree emptied first of whatever another layout left there, then the position
        // written: a crash between the two does it again).
        if !self
            .ledger_index_meta
            .contains_key(FIELDS_UPTO)
            .map_err(backend)?
        {
            self.ledger_by_field.clear().map_err(backend)?;
            self.ledger_index_meta
                .insert(FIELDS_UPTO, &0u64.to_be_bytes())
                .map_err(backend)?;
            changed = true;
        }
        if self.pending.is_empty() && !self.outbox.is_empty() {
            for kv in self.outbox.iter() {
                let (k, v) = kv.map_err(backend)?;
                let item: OutboxItem = decode(&k, &v)?;
                if is_pending(&item) {
                    let seq = u64::from_be_bytes(k.as_ref().try_into().map_err(|_| {
                        StoreError::Corrupt {
                            key: format!("{k:?}"),
                            reason: "outbox key is not 8 bytes".into(),
                        }
                    })?);
                    self.pending
                        .insert(pending_key(&item.peer, seq), &[])
                        .map_err(backend)?;
                }
            }
            changed = true;
        }
        if self.alert_meta.is_empty() && !self.alerts.is_empty() {
            for kv in self.alerts.iter() {
                let (k, v) = kv.map_err(backend)?;
                let alert = decode_alert(&k, &v)?;
                self.alert_meta
                    .insert(&k, encode(&alert.meta()))
                    .map_err(backend)?;
                if let Some(sender) = alert.sender() {
                    add_usage(&self.usage, sender, alert.bytes())?;
                }
            }
            changed = true;
        }
        if self.message_seqs.is_empty() && !(self.outbox.is_empty() && self.delivered.is_empty()) {
            for (tree, tag) in [(&self.outbox, OUTBOX), (&self.delivered, DELIVERED)] {
                for kv in tree.iter() {
                    let (k, v) = kv.map_err(backend)?;
                    let seq = seq_suffix(&k)?;
                    let id = if tag == OUTBOX {
                        decode::<OutboxItem>(&k, &v)?.message_id
                    } else {
                        decode::<Delivered>(&k, &v)?.item.message_id
                    };
                    self.message_seqs
                        .insert(id.0.as_bytes(), &message_place(tag, seq))
                        .map_err(backend)?;
                }
            }
            changed = true;
        }
        for kv in self.quarantine.iter() {
            let (k, v) = kv.map_err(backend)?;
            let mut record: Value = decode(&k, &v)?;
            if let Some(body) = record.as_object_mut().and_then(|o| o.remove("body")) {
                let body = body.as_str().unwrap_or_default().as_bytes().to_vec();
                self.quarantine_bodies.insert(&k, body).map_err(backend)?;
                self.quarantine
                    .insert(&k, encode(&record))
                    .map_err(backend)?;
                changed = true;
            }
        }
        if changed {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes an outbox entry, its index entry and (when given) a ledger entry together,
    /// then flushes.
    fn write_outbox(
        &self,
        seq: u64,
        item: &OutboxItem,
        entry: Option<&Entry>,
        fresh: bool,
    ) -> Result<()> {
        let _writing = self.writing();
        let value = sled::IVec::from(encode_outbox_item(item));
        let ledger_value = entry.map(|e| (e.seq.to_be_bytes(), encode(e)));
        let pkey = pending_key(&item.peer, seq);
        let active = is_pending(item);
        // A message queued and not yet on disk: its delivery waits for a flush.
        let unflushed = fresh && entry.is_some();
        if unflushed {
            self.unflushed_outbox.begin(seq);
        }
        let was_pending = (
            &self.outbox,
            &self.pending,
            &self.ledger,
            &self.message_seqs,
        )
            .transaction(|(outbox, pending, ledger, places)| {
                // An update of an entry no longer there (delivered meanwhile) writes nothing.
                if outbox.insert(&seq.to_be_bytes(), value.clone())?.is_none() && !fresh {
                    return Err(ConflictableTransactionError::Abort(()));
                }
                if fresh {
                    places.insert(item.message_id.0.as_bytes(), &message_place(OUTBOX, seq))?;
                }
                let was = if active {
                    pending.insert(pkey.as_slice(), &[])?
                } else {
                    pending.remove(pkey.as_slice())?
                };
                if let Some((k, v)) = &ledger_value {
                    ledger.insert(k, v.clone())?;
                }
                Ok::<bool, ConflictableTransactionError<()>>(was.is_some())
            })
            .map_err(|e| finished_or(e, seq));
        if unflushed {
            self.unflushed_outbox.end(seq, was_pending.is_ok());
        }
        let was_pending = was_pending?;
        self.count_outbox(|c| {
            // Out of the count it was in (none when new), into the one it is in now.
            if !fresh {
                uncount(c, was_pending);
            }
            *counted_in(c, active) += 1;
        });
        self.flush_unless_recorded(entry)
    }

    /// Changes the outbox's counts, when they were taken (a write, holding the gate).
    fn count_outbox(&self, change: impl FnOnce(&mut OutboxCounts)) {
        if let Some(c) = self.outbox_held().as_mut() {
            change(c);
        }
    }

    fn outbox_held(&self) -> std::sync::MutexGuard<'_, Option<OutboxCounts>> {
        self.outbox_held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Held by every write: a snapshot waits for writes in flight and holds new ones back.
    fn writing(&self) -> std::sync::RwLockReadGuard<'_, ()> {
        self.gate.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Held by a snapshot.
    pub(super) fn quiet(&self) -> std::sync::RwLockWriteGuard<'_, ()> {
        self.gate.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes the write just applied durable, unless it carries a ledger entry: the ledger
    /// makes that one durable with [`Store::sync`] once it lets the next entry be linked
    /// (the rule the [`Store`] trait states).
    fn flush_unless_recorded(&self, entry: Option<&Entry>) -> Result<()> {
        match entry {
            Some(_) => Ok(()),
            None => self.flush(),
        }
    }

    /// Applies a publish ([`Store::taxii_publish`]) without flushing it.
    fn publish_rows(
        &self,
        collection: &str,
        now_us: i64,
        objects: &mut [TaxiiObject],
        entry: Option<&Entry>,
        holding: Option<&Holding>,
    ) -> Result<usize> {
        let _writing = self.writing();
        let mut tails = self.taxii_tails.lock().unwrap_or_else(|p| p.into_inner());
        let mut last_us = match tails.get(collection) {
            Some(us) => *us,
            None => self.taxii_tail(collection)?,
        };
        // Each new object's position, its index key, and where it is in `objects`.
        let mut seqs = Vec::new();
        let mut index: Vec<(Vec<u8>, usize)> = Vec::new();
        let mut held: std::collections::HashSet<(String, String)> = Default::default();
        for (i, o) in objects.iter_mut().enumerate() {
            if held.contains(&(o.id.clone(), o.version.clone())) {
                continue;
            }
            let mut ikey = taxii_index_prefix(collection, &o.id);
            let key = [ikey.as_slice(), o.version.as_bytes()];
            let known = self.taxii_known.may_hold(&key)
                && self
                    .taxii_index
                    .scan_prefix(&ikey)
                    .values()
                    .any(|v| v.is_ok_and(|v| v.as_ref() == o.version.as_bytes()));
            if known {
                continue;
            }
            // Known before it is written: a "no" from the filter is never wrong.
            self.taxii_known.insert(&key);
            held.insert((o.id.clone(), o.version.clone()));
            // Positions start at 1: a page "after 0" is the whole collection.
            let seq = self.next_seq()? + 1;
            last_us = now_us.max(last_us.saturating_add(1));
            o.date_added_us = last_us;
            ikey.extend_from_slice(&seq.to_be_bytes());
            seqs.push(seq);
            index.push((ikey, i));
        }
        let fresh: Vec<&TaxiiObject> = index.iter().map(|(_, i)| &objects[*i]).collect();
        let batches: Vec<(Vec<u8>, Vec<u8>)> = seqs
            .chunks(TAXII_BATCH_MOST)
            .zip(fresh.chunks(TAXII_BATCH_MOST))
            .map(|(seqs, objects)| {
                (
                    taxii_key(collection, seqs[0]),
                    encode_taxii_batch(seqs, objects),
                )
            })
            .collect();
        let ledger_value = entry.map(|e| (e.seq.to_be_bytes(), encode(e)));
        let holding_value = holding.map(|h| (holding_key(h), encode(h)));
        (
            &self.taxii_objects,
            &self.taxii_index,
            &self.ledger,
            &self.holdings,
        )
            .transaction(|(objs, idx, ledger, holdings)| {
                for (k, v) in &batches {
                    objs.insert(k.as_slice(), v.as_slice())?;
                }
                for (ik, i) in &index {
                    idx.insert(ik.as_slice(), objects[*i].version.as_bytes())?;
                }
                if let Some((k, v)) = &ledger_value {
                    ledger.insert(k, v.clone())?;
                }
                if let Some((k, v)) = &holding_value {
                    holdings.insert(k.as_slice(), v.as_slice())?;
                }
                Ok::<(), ConflictableTransactionError<()>>(())
            })
            .map_err(tx_failed)?;
        tails.insert(collection.to_string(), last_us);
        // The order is written; the disk is waited for (by the caller) without holding up
        // the next publisher (its flush can be shared).
        drop(tails);
        Ok(seqs.len())
    }

    /// The `date_added` of a collection's last object (`i64::MIN` when it has none).
    fn taxii_tail(&self, collection: &str) -> Result<i64> {
        // The record holding the last position there can be is the collection's last.
        match self.taxii_row_at(collection, u64::MAX)? {
            Some((k, v)) => Ok(decode_taxii_row(&k, &v)?
                .last()
                .map_or(i64::MIN, |(_, o)| o.date_added_us)),
            None => Ok(i64::MIN),
        }
    }

    /// The record of a collection's objects that holds position `seq`, if any: the last one
    /// at or before it (a batch holds the positions from its key's on).
    fn taxii_row_at(&self, collection: &str, seq: u64) -> Result<Option<(sled::IVec, sled::IVec)>> {
        self.taxii_objects
            .range(taxii_key(collection, 0)..=taxii_key(collection, seq))
            .next_back()
            .transpose()
            .map_err(backend)
    }

    /// Makes the write just applied durable: one flush for every write waiting
    /// ([`super::group_commit`]), never an answer before it.
    fn flush(&self) -> Result<()> {
        self.commits
            .commit(|| self.unflushed_outbox.covering(|| self.db.flush()))
            .map_err(backend)
    }

    /// The pending key, sequence number and stored record of `peer`'s oldest message still
    /// to be delivered.
    fn outbox_head_record(&self, peer: &PeerId) -> Result<Option<(sled::IVec, u64, sled::IVec)>> {
        let mut prefix = peer.as_str().as_bytes().to_vec();
        prefix.push(0);
        let Some(kv) = self.pending.scan_prefix(&prefix).next() else {
            return Ok(None);
        };
        let (k, _) = kv.map_err(backend)?;
        let seq_bytes: [u8; 8] = k[prefix.len()..]
            .try_into()
            .map_err(|_| StoreError::Corrupt {
                key: String::from_utf8_lossy(&k).into_owned(),
                reason: "pending key does not end in a sequence number".into(),
            })?;
        let Some(v) = self.outbox.get(seq_bytes).map_err(backend)? else {
            return Err(StoreError::Corrupt {
                key: String::from_utf8_lossy(&k).into_owned(),
                reason: "indexed outbox entry is missing".into(),
            });
        };
        Ok(Some((k, u64::from_be_bytes(seq_bytes), v)))
    }

    fn next_seq(&self) -> Result<u64> {
        self.db.generate_id().map_err(backend)
    }

    /// The alert stored under `seq`.
    fn alert_at(&self, seq: &[u8]) -> Result<Option<Alert>> {
        self.alerts
            .get(seq)
            .map_err(backend)?
            .map(|v| decode_alert(seq, &v))
            .transpose()
    }

    fn alerts_held(&self) -> std::sync::MutexGuard<'_, AlertCount> {
        self.alerts_held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Up to `limit` records of a tree keyed by sequence numbers, after `after`.
    fn page<T: DeserializeOwned>(
        tree: &sled::Tree,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, T)>> {
        let range = match after {
            Some(a) => tree.range((
                std::ops::Bound::Excluded(a.to_be_bytes().to_vec()),
                std::ops::Bound::Unbounded,
            )),
            None => tree.range::<Vec<u8>, _>(..),
        };
        range
            .take(limit)
            .map(|kv| {
                let (k, v) = kv.map_err(backend)?;
                let seq: [u8; 8] = k.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                    key: format!("{k:?}"),
                    reason: "key is not a sequence number".into(),
                })?;
                Ok((u64::from_be_bytes(seq), decode(&k, &v)?))
            })
            .collect()
    }
}

/// Where a holding is kept: (report, NUL, peer), so a report's holdings are one range.
fn holding_key(h: &Holding) -> Vec<u8> {
    let mut key = h.report_id.to_string().into_bytes();
    key.push(0);
    key.extend_from_slice(h.peer.as_str().as_bytes());
    key
}

/// An alert's record and its metadata's, made sled's own once: a transaction's inserts
/// (a retry's too) share them instead of copying them.
fn alert_records(alert: &Alert) -> (sled::IVec, sled::IVec) {
    (
        sled::IVec::from(encode_alert(alert)),
        sled::IVec::from(encode(&alert.meta())),
    )
}

/// The alert count as the store keeps it (see `SledStore::alerts_held`).
#[derive(Debug, Clone, Copy)]
enum AlertCount {
    /// Not counted since the store was opened.
    Unknown,
    /// Being counted: the walk counts the alerts stored before it began; each import since
    /// adds itself here.
    Counting { since: u64 },
    /// Counted, and kept by each import.
    Known(u64),
}

/// Adds `bytes` to a peer's usage (outside a transaction: migration only).
fn add_usage(usage: &sled::Tree, peer: &PeerId, bytes: u64) -> Result<()> {
    let key = peer.as_str().as_bytes();
    let used = usage.get(key).map_err(backend)?.map_or(0, |v| read_u64(&v));
    usage
        .insert(key, &(used + bytes).to_be_bytes())
        .map_err(backend)?;
    Ok(())
}

impl SledStore {
    fn get<T: DeserializeOwned>(tree: &sled::Tree, key: &[u8]) -> Result<Option<T>> {
        tree.get(key)
            .map_err(backend)?
            .map(|v| decode(key, &v))
            .transpose()
    }

    fn put<T: Serialize>(&self, tree: &sled::Tree, key: &[u8], value: &T) -> Result<()> {
        let _writing = self.writing();
        tree.insert(key, encode(value)).map_err(backend)?;
        self.flush()
    }
}

impl Store for SledStore {
    fn sync(&self) -> Result<()> {
        self.flush()
    }

    fn sync_outbox(&self, seq: u64) -> Result<()> {
        if self.unflushed_outbox.holds(seq) {
            self.flush()?;
        }
        Ok(())
    }

    fn flushes(&self) -> u64 {
        self.commits.flushes()
    }

    fn flush_times(&self) -> Option<prometheus_client::metrics::histogram::Histogram> {
        Some(self.commits.times())
    }

    fn put_report(&self, r: &StoredReport) -> Result<()> {
        self.put(&self.reports, r.id.as_str().as_bytes(), r)
    }

    fn report(&self, id: &ReportId) -> Result<Option<StoredReport>> {
        Self::get(&self.reports, id.as_str().as_bytes())
    }

    fn reports_page(&self, after: Option<&ReportId>, limit: usize) -> Result<Vec<StoredReport>> {
        let range = match after {
            Some(a) => self.reports.range((
                std::ops::Bound::Excluded(a.as_str().as_bytes().to_vec()),
                std::ops::Bound::Unbounded,
            )),
            None => self.reports.range::<Vec<u8>, _>(..),
        };
        range
            .take(limit)
            .map(|kv| {
                let (k, v) = kv.map_err(backend)?;
                decode(&k, &v)
            })
            .collect()
    }

    fn put_peer(&self, p: &Peer) -> Result<()> {
        let written = self.put(&self.peers, p.id.as_str().as_bytes(), p);
        self.peer_cache.changed();
        written
    }

    fn peer(&self, id: &PeerId) -> Result<Option<Peer>> {
        self.peer_cache
            .get(id, || Self::get(&self.peers, id.as_str().as_bytes()))
    }

    fn peers(&self) -> Result<Vec<Peer>> {
        self.peers
            .iter()
            .map(|kv| {
                let (k, v) = kv.map_err(backend)?;
                decode(&k, &v)
            })
            .collect()
    }

    fn remove_peer(&self, id: &PeerId) -> Result<bool> {
        let _writing = self.writing();
        let removed = self.peers.remove(id.as_str().as_bytes());
        self.peer_cache.changed();
        let existed = removed.map_err(backend)?.is_some();
        self.flush()?;
        Ok(existed)
    }

    fn outbox_page(&self, after: Option<u64>, limit: usize) -> Result<Vec<(u64, OutboxItem)>> {
        Self::page(&self.outbox, after, limit)
    }

    fn outbox_counts(&self) -> Result<OutboxCounts> {
        if let Some(c) = *self.outbox_held() {
            return Ok(c);
        }
        // Counted between writes (each write counts itself once the counts are taken).
        let _quiet = self.quiet();
        let pending = self.pending.len() as u64;
        let total = self.outbox.len() as u64;
        Ok(*self.outbox_held().get_or_insert(OutboxCounts {
            pending,
            dead_lettered: total.saturating_sub(pending),
        }))
    }

    fn outbox_item(&self, seq: u64) -> Result<Option<OutboxItem>> {
        Self::get(&self.outbox, &seq.to_be_bytes())
    }

    fn outbox_head(&self, peer: &PeerId) -> Result<Option<(u64, OutboxItem)>> {
        let Some((k, seq, v)) = self.outbox_head_record(peer)? else {
            return Ok(None);
        };
        Ok(Some((seq, decode(&k, &v)?)))
    }

    fn outbox_head_due_ms(&self, peer: &PeerId) -> Result<Option<i64>> {
        self.outbox_head_record(peer)?
            .map(|(k, _, v)| decode_next_attempt_ms(&k, &v))
            .transpose()
    }

    fn peers_with_pending(&self) -> Result<Vec<PeerId>> {
        // One read per peer, not per pending message: a peer's keys are its id, a 0 byte
        // and a sequence number, so the first key after them all is its id and a 1 byte
        // (ids are lowercase letters, digits and hyphens: no other peer's key falls in
        // between, not even one whose id starts with this one).
        let mut peers: Vec<PeerId> = Vec::new();
        let mut from: Vec<u8> = Vec::new();
        while let Some(kv) = self.pending.range(from.as_slice()..).next() {
            let (k, _) = kv.map_err(backend)?;
            let id = k.split(|b| *b == 0).next().unwrap_or_default();
            let text = String::from_utf8_lossy(id);
            let peer: PeerId = text.parse().map_err(|_| StoreError::Corrupt {
                key: text.to_string(),
                reason: "pending index key does not start with a peer id".into(),
            })?;
            from.clear();
            from.extend_from_slice(id);
            from.push(1);
            peers.push(peer);
        }
        Ok(peers)
    }

    fn update_outbox(&self, seq: u64, item: &OutboxItem) -> Result<()> {
        self.write_outbox(seq, item, None, false)
    }

    fn update_outbox_recorded(&self, seq: u64, item: &OutboxItem, entry: &Entry) -> Result<()> {
        self.write_outbox(seq, item, Some(entry), false)
    }

    fn enqueue_recorded(&self, item: &OutboxItem, entry: &Entry) -> Result<u64> {
        let seq = self.next_seq()?;
        self.write_outbox(seq, item, Some(entry), true)?;
        Ok(seq)
    }

    fn mark_delivered_recorded(&self, seq: u64, d: &Delivered, entry: &Entry) -> Result<()> {
        let _writing = self.writing();
        let id = self.next_seq()?;
        let (value, ledger_value) = (encode_delivered(d), encode(entry));
        let pkey = pending_key(&d.item.peer, seq);
        let was_pending = (
            &self.outbox,
            &self.delivered,
            &self.pending,
            &self.ledger,
            &self.message_seqs,
        )
            .transaction(|(outbox, delivered, pending, ledger, places)| {
                // Delivered once, recorded once.
                if outbox.remove(&seq.to_be_bytes())?.is_none() {
                    return Err(ConflictableTransactionError::Abort(()));
                }
                let was = pending.remove(pkey.as_slice())?;
                delivered.insert(&id.to_be_bytes(), value.clone())?;
                places.insert(
                    d.item.message_id.0.as_bytes(),
                    &message_place(DELIVERED, id),
                )?;
                ledger.insert(&entry.seq.to_be_bytes(), ledger_value.clone())?;
                Ok::<bool, ConflictableTransactionError<()>>(was.is_some())
            })
            .map_err(|e| finished_or(e, seq))?;
        self.count_outbox(|c| uncount(c, was_pending));
        self.flush_unless_recorded(Some(entry))
    }

    fn delivered_page(&self, after: Option<u64>, limit: usize) -> Result<Vec<(u64, Delivered)>> {
        Self::page(&self.delivered, after, limit)
    }

    fn find_message(&self, id: &MessageId) -> Result<Option<FoundMessage>> {
        let key = id.0.as_bytes();
        let mut place = self.message_seqs.get(key).map_err(backend)?;
        loop {
            let Some(at) = place else {
                return Ok(None);
            };
            let (tag, seq) = match at.split_first() {
                Some((&tag, seq)) if seq.len() == 8 => (tag, seq_suffix(seq)?),
                _ => {
                    return Err(StoreError::Corrupt {
                        key: id.to_string(),
                        reason: "a message's place is not a tag and 8 bytes".into(),
                    })
                }
            };
            let seq_key = seq.to_be_bytes();
            let found = match tag {
                OUTBOX => Self::get(&self.outbox, &seq_key)?
                    .map(|i| FoundMessage::Outbox(seq, Box::new(i))),
                _ => Self::get(&self.delivered, &seq_key)?
                    .map(|d| FoundMessage::Delivered(seq, Box::new(d))),
            };
            if found.is_some() {
                return Ok(found);
            }
            // Its delivery was recorded between the two reads (one write moves the record
            // and its place): the place read again names where it went. A place that stays
            // names a record that is gone.
            let again = self.message_seqs.get(key).map_err(backend)?;
            if again == Some(at) {
                return Ok(None);
            }
            place = again;
        }
    }

    fn import(&self, alert: &Alert, quota: Option<u64>) -> Result<Imported> {
        self.import_superseding(alert, quota)
            .map(|(imported, _)| imported)
    }

    fn import_superseding(
        &self,
        alert: &Alert,
        quota: Option<u64>,
    ) -> Result<(Imported, Option<String>)> {
        let _writing = self.writing();
        let seq = self.next_seq()?;
        let DedupKeys {
            key,
            peer,
            version: version_keys,
        } = DedupKeys::of(alert);
        let peer = peer.map(|p| p.as_str().as_bytes());
        let (value, meta) = alert_records(alert);
        let bytes = alert.bytes();
        let outcome: (Imported, Option<sled::IVec>) = (
            &self.seen,
            &self.alerts,
            &self.alert_ids,
            &self.alert_meta,
            &self.usage,
            &self.alert_count_kept,
        )
            .transaction(|(seen, alerts, ids, metas, usage, counted)| {
                if let Some(prior) = seen.get(&key)? {
                    return Ok((
                        if prior.as_ref() == alert.sha256.as_bytes() {
                            Imported::Duplicate
                        } else {
                            Imported::Conflict
                        },
                        None,
                    ));
                }
                if let Some((version, _)) = &version_keys {
                    if seen.get(version.as_slice())?.is_some() {
                        return Ok((Imported::Duplicate, None));
                    }
                }
                if let Some(peer) = peer {
                    let used = usage.get(peer)?.map_or(0, |v| read_u64(&v));
                    if quota.is_some_and(|q| used + bytes > q) {
                        return Ok((Imported::OverQuota { used }, None));
                    }
                    usage.insert(peer, &(used + bytes).to_be_bytes())?;
                }
                seen.insert(key.as_slice(), alert.sha256.as_bytes())?;
                // The report's latest alert becomes this one; the one it was, read in this
                // write, is the alert this one supersedes.
                let mut superseded = None;
                if let Some((version, report)) = &version_keys {
                    seen.insert(version.as_slice(), alert.sha256.as_bytes())?;
                    superseded = seen.insert(report.as_slice(), alert.id.as_bytes())?;
                }
                alerts.insert(&seq.to_be_bytes(), value.clone())?;
                metas.insert(&seq.to_be_bytes(), meta.clone())?;
                ids.insert(alert.id.as_bytes(), &seq.to_be_bytes())?;
                // Kept from the first count on (before it, the count walks the alerts).
                if let Some(n) = counted.get(ALERTS_COUNTED)? {
                    counted.insert(ALERTS_COUNTED, &(read_u64(&n) + 1).to_be_bytes())?;
                }
                Ok::<_, ConflictableTransactionError<()>>((Imported::New, superseded))
            })
            .map_err(tx_failed)?;
        let (outcome, superseded) = outcome;
        if outcome == Imported::New {
            match &mut *self.alerts_held() {
                AlertCount::Known(n) | AlertCount::Counting { since: n } => *n += 1,
                AlertCount::Unknown => {}
            }
            self.flush()?;
        }
        let superseded = superseded.map(|id| String::from_utf8_lossy(&id).into_owned());
        Ok((outcome, superseded))
    }

    fn alert(&self, id: &str) -> Result<Option<Alert>> {
        let Some(seq) = self.alert_ids.get(id.as_bytes()).map_err(backend)? else {
            return Ok(None);
        };
        self.alert_at(&seq)
    }

    fn alerts_page(&self, after: Option<u64>, limit: usize) -> Result<Vec<(u64, AlertMeta)>> {
        Self::page(&self.alert_meta, after, limit)
    }

    fn alert_count_if_known(&self) -> Result<Option<u64>> {
        // Read, and let go of, before counting: the count takes the same lock.
        let held = *self.alerts_held();
        Ok(match held {
            AlertCount::Known(n) => Some(n),
            AlertCount::Counting { .. } => None,
            // Nobody has asked yet (the start's `keep_ready` asks): count now.
            AlertCount::Unknown => return self.alert_count().map(Some),
        })
    }

    fn alert_count(&self) -> Result<u64> {
        if let AlertCount::Known(n) = *self.alerts_held() {
            return Ok(n);
        }
        let _one = self.counting.lock().unwrap_or_else(|p| p.into_inner());
        if let AlertCount::Known(n) = *self.alerts_held() {
            return Ok(n);
        }
        // The first count walks the alerts stored before a point, and imports go on while it
        // does. The point is taken between writes: every import already under way has
        // finished (each holds the write gate from before it takes its sequence number until
        // it has counted itself), and every later one takes a higher sequence number and
        // adds itself to `since`.
        let upto = {
            let _quiet = self.quiet();
            *self.alerts_held() = AlertCount::Counting { since: 0 };
            self.next_seq()?
        };
        let before = self
            .alert_meta
            .range(..upto.to_be_bytes())
            .keys()
            .try_fold(0u64, |n, k| k.map(|_| n + 1))
            .map_err(backend)?;
        // Between writes again, so that every import from here on adds itself to the count
        // kept in the store, and none before it did.
        let n = {
            let _quiet = self.quiet();
            let mut held = self.alerts_held();
            let n = match *held {
                AlertCount::Counting { since } => before + since,
                // Only this thread counts; nothing else leaves `Counting`.
                AlertCount::Known(n) => n,
                AlertCount::Unknown => before,
            };
            self.alert_count_kept
                .insert(ALERTS_COUNTED, &n.to_be_bytes())
                .map_err(backend)?;
            *held = AlertCount::Known(n);
            n
        };
        self.flush()?;
        Ok(n)
    }

    fn peer_usage(&self, peer: &PeerId) -> Result<u64> {
        Ok(self
            .usage
            .get(peer.as_str().as_bytes())
            .map_err(backend)?
            .map_or(0, |v| read_u64(&v)))
    }

    fn ledger_last(&self) -> Result<Option<Entry>> {
        self.ledger
            .last()
            .map_err(backend)?
            .map(|(k, v)| decode(&k, &v))
            .transpose()
    }

    fn ledger_put(&self, e: &Entry) -> Result<()> {
        let _writing = self.writing();
        self.ledger
            .insert(e.seq.to_be_bytes(), encode(e))
            .map_err(backend)?;
        self.flush_unless_recorded(Some(e))
    }

    fn ledger_entries_after(
        &self,
        after: Option<u64>,
    ) -> Box<dyn Iterator<Item = Result<Entry>> + '_> {
        let range = match after {
            Some(a) => self.ledger.range((
                std::ops::Bound::Excluded(a.to_be_bytes().to_vec()),
                std::ops::Bound::Unbounded,
            )),
            None => self.ledger.range::<Vec<u8>, _>(..),
        };
        Box::new(range.map(|kv| {
            let (k, v) = kv.map_err(backend)?;
            decode(&k, &v)
        }))
    }

    fn ledger_page(
        &self,
        lookup: &super::LedgerLookup<'_>,
        after: Option<u64>,
        limit: usize,
        keep: &dyn Fn(&Entry) -> bool,
    ) -> Result<Vec<Entry>> {
        // A catch-up of many entries (the first start after an upgrade that adds an index)
        // takes a while: until it ends, a page is read from the ledger itself.
        if *lookup == super::LedgerLookup::default() || self.ledger_unindexed()? > READ_THROUGH_FROM
        {
            return super::keep_page(self.ledger_entries_after(after), limit, keep);
        }
        self.index_ledger()?;
        let lists = self.ledger_lists(lookup)?;
        let from = match after {
            Some(u64::MAX) => return Ok(Vec::new()),
            Some(a) => a + 1,
            None => 0,
        };
        // Read from the shortest list; an entry must be in the others too (a time range
        // is left to `keep`).
        let counted: Vec<usize> = lists.iter().map(Self::count_listed).collect();
        let shortest = (0..lists.len())
            .min_by_key(|i| counted[*i])
            .expect("at least one list");
        let seqs: Box<dyn Iterator<Item = Result<u64>>> = match &lists[shortest] {
            Listed::Under(tree, prefix) => Box::new(Self::listed_from(tree, prefix, from)),
            Listed::Posted(seqs) => {
                let at = seqs.partition_point(|s| *s < from);
                Box::new(seqs[at..].iter().copied().map(Ok))
            }
            // Each day's entries in seq order, merged.
            Listed::Days(days) => Box::new(Merged::new(
                days.iter()
                    .map(|seqs| {
                        let at = seqs.partition_point(|s| *s < from);
                        seqs[at..].iter().copied().map(Ok)
                    })
                    .collect(),
            )),
        };
        let listed = |seq: u64| -> Result<bool> {
            for (i, l) in lists.iter().enumerate() {
                let there = match l {
                    _ if i == shortest => true,
                    Listed::Under(tree, prefix) => {
                        let mut key = prefix.clone();
                        key.extend_from_slice(&seq.to_be_bytes());
                        tree.contains_key(key).map_err(backend)?
                    }
                    Listed::Posted(seqs) => seqs.binary_search(&seq).is_ok(),
                    // `keep` checks the time.
                    Listed::Days(..) => true,
                };
                if !there {
                    return Ok(false);
                }
            }
            Ok(true)
        };
        let entries = seqs.filter_map(|seq| {
            let seq = match seq.and_then(|seq| Ok((seq, listed(seq)?))) {
                Ok((seq, true)) => seq,
                Ok((_, false)) => return None,
                Err(e) => return Some(Err(e)),
            };
            self.ledger_entry(seq).transpose()
        });
        super::keep_page(entries, limit, keep)
    }

    fn ledger_of_message(&self, id: &MessageId) -> Result<Vec<Entry>> {
        self.index_ledger()?;
        self.indexed(&self.ledger_by_message, id.0.as_bytes())
    }

    fn catch_up_indexes(&self) -> Result<()> {
        self.index_ledger()?;
        self.know_taxii_index()
    }

    fn ledger_of_report(&self, id: &ReportId) -> Result<Vec<Entry>> {
        self.index_ledger()?;
        self.indexed(&self.ledger_by_report, &report_prefix(id.as_str()))
    }

    fn kept_derived(&self, name: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.kept.get(name).map_err(backend)?.map(|v| v.to_vec()))
    }

    fn keep_derived(&self, name: &str, value: &[u8]) -> Result<()> {
        self.kept.insert(name, value).map_err(backend)?;
        Ok(())
    }

    fn ledger_raw(&self) -> Box<dyn Iterator<Item = Result<RawEntry>> + '_> {
        Box::new(self.ledger.iter().map(|kv| {
            let (k, v) = kv.map_err(backend)?;
            decode(&k, &v)
        }))
    }

    fn put_checkpoint(&self, c: &Checkpoint) -> Result<()> {
        self.put(&self.checkpoints, &c.seq.to_be_bytes(), c)
    }

    fn checkpoints(&self) -> Result<Vec<Checkpoint>> {
        Ok(Self::page(&self.checkpoints, None, usize::MAX)?
            .into_iter()
            .map(|(_, c)| c)
            .collect())
    }

    fn key_documents(&self) -> Result<Vec<crate::exchange::keydoc::SignedKeyDocument>> {
        Ok(Self::page(&self.key_documents, None, usize::MAX)?
            .into_iter()
            .map(|(_, d)| d)
            .collect())
    }

    fn put_key_document(&self, d: &crate::exchange::keydoc::SignedKeyDocument) -> Result<()> {
        let seq = self.next_seq()?;
        self.put(&self.key_documents, &seq.to_be_bytes(), d)
    }

    fn snapshot(&self, out: &mut dyn std::io::Write) -> Result<super::snapshot::Stats> {
        SledStore::snapshot(self, out)
    }

    fn quarantine(&self, record: &Value, body: &[u8]) -> Result<()> {
        let _writing = self.writing();
        let seq = self.next_seq()?.to_be_bytes();
        let value = encode(record);
        (&self.quarantine, &self.quarantine_bodies)
            .transaction(|(records, bodies)| {
                records.insert(&seq, value.clone())?;
                bodies.insert(&seq, body)?;
                Ok::<(), ConflictableTransactionError<()>>(())
            })
            .map_err(tx_failed)?;
        self.flush()
    }

    fn quarantine_page(&self, after: Option<u64>, limit: usize) -> Result<Vec<(u64, Value)>> {
        Self::page(&self.quarantine, after, limit)
    }

    fn quarantined_body(&self, seq: u64) -> Result<Option<Vec<u8>>> {
        Ok(self
            .quarantine_bodies
            .get(seq.to_be_bytes())
            .map_err(backend)?
            .map(|v| v.to_vec()))
    }

    fn taxii_publish(
        &self,
        collection: &str,
        now_us: i64,
        objects: &mut [TaxiiObject],
        entry: Option<&Entry>,
        holding: Option<&Holding>,
    ) -> Result<usize> {
        let added = self.publish_rows(collection, now_us, objects, entry, holding)?;
        self.flush_unless_recorded(entry)?;
        Ok(added)
    }

    fn taxii_publish_applied(
        &self,
        collection: &str,
        now_us: i64,
        objects: &mut [TaxiiObject],
        holding: Option<&Holding>,
    ) -> Result<usize> {
        self.publish_rows(collection, now_us, objects, None, holding)
    }

    fn taxii_page(
        &self,
        collection: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, TaxiiObject)>> {
        // The record holding position `after` may hold later ones too.
        let earlier = self.taxii_row_at(collection, after)?.map(Ok);
        let later = self
            .taxii_objects
            .range(taxii_key(collection, after.saturating_add(1))..=taxii_key(collection, u64::MAX))
            .map(|kv| kv.map_err(backend));
        let mut out = Vec::new();
        for kv in earlier.into_iter().chain(later) {
            let (k, v) = kv?;
            for (seq, o) in decode_taxii_row(&k, &v)? {
                if out.len() == limit {
                    return Ok(out);
                }
                if seq > after {
                    out.push((seq, o));
                }
            }
        }
        Ok(out)
    }

    fn taxii_versions(&self, collection: &str, id: &str) -> Result<Vec<(u64, TaxiiObject)>> {
        let mut out = Vec::new();
        // Versions published together are in one record: read once.
        let mut row: Option<(sled::IVec, Vec<(u64, TaxiiObject)>)> = None;
        for kv in self
            .taxii_index
            .scan_prefix(taxii_index_prefix(collection, id))
        {
            let (k, _) = kv.map_err(backend)?;
            let seq = seq_suffix(&k)?;
            let Some((rk, rv)) = self.taxii_row_at(collection, seq)? else {
                continue;
            };
            if row.as_ref().is_none_or(|(held, _)| *held != rk) {
                row = Some((rk.clone(), decode_taxii_row(&rk, &rv)?));
            }
            let objects = row.as_ref().map(|(_, o)| o.as_slice()).unwrap_or_default();
            if let Some((_, o)) = objects.iter().find(|(s, _)| *s == seq) {
                out.push((seq, o.clone()));
            }
        }
        Ok(out)
    }

    fn taxii_version_list(&self, collection: &str, id: &str) -> Result<Vec<(u64, String)>> {
        self.taxii_index
            .scan_prefix(taxii_index_prefix(collection, id))
            .map(|kv| {
                let (k, v) = kv.map_err(backend)?;
                Ok((seq_suffix(&k)?, String::from_utf8_lossy(&v).into_owned()))
            })
            .collect()
    }

    fn taxii_added_through(&self, collection: &str, at_us: i64) -> Result<u64> {
        // A client polling for what is new asks about the last objects: the last few
        // records are read back first, then the positions are searched by halves.
        let records = self
            .taxii_objects
            .range(taxii_key(collection, 0)..=taxii_key(collection, u64::MAX));
        for (read, kv) in records.rev().enumerate() {
            if read == 8 {
                return super::added_through_by_halves(self, collection, at_us);
            }
            let (k, v) = kv.map_err(backend)?;
            let rows = decode_taxii_row(&k, &v)?;
            if let Some((seq, _)) = rows.iter().rev().find(|(_, o)| o.date_added_us <= at_us) {
                return Ok(*seq);
            }
        }
        Ok(0)
    }

    fn taxii_count_pull(
        &self,
        collection: &str,
        message_id: &MessageId,
        entry: Option<&Entry>,
    ) -> Result<u64> {
        let _writing = self.writing();
        let mut key = collection.as_bytes().to_vec();
        key.push(0);
        key.extend_from_slice(message_id.to_string().as_bytes());
        let ledger_value = entry.map(|e| (e.seq.to_be_bytes(), encode(e)));
        let count = (&self.taxii_pulls, &self.ledger)
            .transaction(|(pulls, ledger)| {
                let n = pulls
                    .get(key.as_slice())?
                    .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes))
                    .unwrap_or(0)
                    + 1;
                pulls.insert(key.as_slice(), &n.to_be_bytes())?;
                if let Some((k, v)) = &ledger_value {
                    ledger.insert(k, v.clone())?;
                }
                Ok::<u64, ConflictableTransactionError<()>>(n)
            })
            .map_err(tx_failed)?;
        self.flush_unless_recorded(entry)?;
        Ok(count)
    }

    fn taxii_pulls(&self, collection: &str, message_id: &MessageId) -> Result<u64> {
        let mut key = collection.as_bytes().to_vec();
        key.push(0);
        key.extend_from_slice(message_id.to_string().as_bytes());
        Ok(self
            .taxii_pulls
            .get(key)
            .map_err(backend)?
            .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes))
            .unwrap_or(0))
    }

    fn put_taxii_status(&self, id: &str, status: &Value) -> Result<()> {
        let _writing = self.writing();
        self.taxii_status
            .insert(id.as_bytes(), encode(status))
            .map_err(backend)?;
        self.flush()
    }

    fn taxii_status(&self, id: &str) -> Result<Option<Value>> {
        match self.taxii_status.get(id.as_bytes()).map_err(backend)? {
            Some(v) => Ok(Some(decode(id.as_bytes(), &v)?)),
            None => Ok(None),
        }
    }

    fn alert_for_report(&self, sender: &PeerId, report: &str) -> Result<Option<String>> {
        Ok(self
            .seen
            .get(report_seen_key(sender, report))
            .map_err(backend)?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    fn alert_by_message(&self, sender: &PeerId, message_id: &MessageId) -> Result<Option<Alert>> {
        // Retractions are rare: a scan of the metadata, which never loads documents.
        for kv in self.alert_meta.iter() {
            let (k, v) = kv.map_err(backend)?;
            let meta: AlertMeta = decode(&k, &v)?;
            if let super::SourceMeta::Peer {
                sender: s,
                message_id: m,
                ..
            } = &meta.source
            {
                if s == sender && m == message_id {
                    return self.alert_at(&k);
                }
            }
        }
        Ok(None)
    }

    fn put_alert(&self, alert: &Alert) -> Result<()> {
        let _writing = self.writing();
        let Some(seq) = self.alert_ids.get(alert.id.as_bytes()).map_err(backend)? else {
            return Err(StoreError::Corrupt {
                key: alert.id.clone(),
                reason: "no such alert to replace".into(),
            });
        };
        let (value, meta) = alert_records(alert);
        (&self.alerts, &self.alert_meta)
            .transaction(|(alerts, metas)| {
                alerts.insert(&seq, value.clone())?;
                metas.insert(&seq, meta.clone())?;
                Ok::<(), ConflictableTransactionError<()>>(())
            })
            .map_err(tx_failed)?;
        self.flush()
    }

    fn put_holding(&self, h: &Holding) -> Result<()> {
        self.put(&self.holdings, &holding_key(h), h)
    }

    fn holdings(&self, report: &ReportId) -> Result<Vec<Holding>> {
        let mut prefix = report.to_string().into_bytes();
        prefix.push(0);
        let mut out = Vec::new();
        for kv in self.holdings.scan_prefix(prefix) {
            let (k, v) = kv.map_err(backend)?;
            out.push(decode(&k, &v)?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::AlertSource;

    #[test]
    fn sled_passes_the_conformance_suite() {
        let s = SledStore::temporary().unwrap();
        super::super::conformance::suite(&s);
    }

    #[test]
    fn sled_finds_a_message_while_its_delivery_is_recorded() {
        let s = SledStore::temporary().unwrap();
        super::super::conformance::finds_messages_while_they_are_delivered(&s, 3000);
    }

    #[test]
    fn sled_passes_the_shared_writers_suite() {
        let s = SledStore::temporary().unwrap();
        super::super::conformance::shared_suite(&s, &s);
    }

    /// The delivery worker flushes for a message queued with its ledger entry until a flush
    /// has covered it, and from then on for nothing, whatever else waits for the disk.
    #[test]
    fn an_outbox_record_is_flushed_for_until_a_flush_covers_it() {
        use super::super::conformance::{entry, item};
        use crate::disclosure::Event;
        let s = SledStore::temporary().unwrap();
        let e1 = entry(None, Event::Queued, "r1");
        let first = s.enqueue_recorded(&item("b", 1), &e1).unwrap();
        let f = s.flushes();
        s.sync_outbox(first).unwrap();
        assert_eq!(
            s.flushes(),
            f + 1,
            "queued, not on disk: flushed before it leaves"
        );
        let e2 = entry(Some(&e1), Event::Queued, "r1");
        let second = s.enqueue_recorded(&item("b", 2), &e2).unwrap();
        s.sync_outbox(first).unwrap();
        assert_eq!(
            s.flushes(),
            f + 1,
            "on disk already: no flush, though another write waits for one"
        );
        // A share syncs before it answers; a later write does not hold the message back.
        s.sync().unwrap();
        let e3 = entry(Some(&e2), Event::Delivered, "r1");
        s.ledger_put(&e3).unwrap();
        s.sync_outbox(second).unwrap();
        assert_eq!(s.flushes(), f + 2, "covered by the share's sync");
        s.sync().unwrap();
        assert_eq!(
            s.flushes(),
            f + 3,
            "the later write had its own flush to wait for"
        );
    }

    /// A collection written one object a record (by an earlier release, or a restore) and
    /// then in batches reads as one sequence, whatever the page size, and goes on after
    /// its last `date_added`.
    #[test]
    fn taxii_records_of_one_object_and_batches_read_as_one_collection() {
        let s = SledStore::temporary().unwrap();
        let obj = |id: &str, version: &str, added: i64| TaxiiObject {
            id: id.into(),
            version: version.into(),
            spec_version: "2.1".into(),
            date_added_us: added,
            report_id: "r1".parse().unwrap(),
            message_id: MessageId(uuid::Uuid::from_u128(7)),
            object: serde_json::json!({"id": id, "modified": version}),
        };
        let (v1, v2) = ("2026-01-01T00:00:00.000Z", "2026-02-01T00:00:00.000Z");
        for o in [obj("indicator--1", v1, 500), obj("indicator--2", v1, 900)] {
            let seq = s.next_seq().unwrap() + 1;
            s.taxii_objects
                .insert(taxii_key("c", seq), encode(&o))
                .unwrap();
            let mut ik = taxii_index_prefix("c", &o.id);
            ik.extend_from_slice(&seq.to_be_bytes());
            s.taxii_index.insert(ik, o.version.as_bytes()).unwrap();
        }
        s.learn_taxii_index().unwrap();
        let mut new = [
            obj("indicator--1", v1, 0),
            obj("indicator--3", v1, 0),
            obj("indicator--1", v2, 0),
        ];
        assert_eq!(s.taxii_publish("c", 100, &mut new, None, None).unwrap(), 2);
        let all = s.taxii_page("c", 0, 10).unwrap();
        let seen: Vec<(&str, &str, i64)> = all
            .iter()
            .map(|(_, o)| (o.id.as_str(), o.version.as_str(), o.date_added_us))
            .collect();
        assert_eq!(
            seen,
            [
                ("indicator--1", v1, 500),
                ("indicator--2", v1, 900),
                ("indicator--3", v1, 901),
                ("indicator--1", v2, 902)
            ]
        );
        for limit in 1..=4 {
            let (mut after, mut walked) = (0, Vec::new());
            loop {
                let page = s.taxii_page("c", after, limit).unwrap();
                let Some((last, _)) = page.last() else { break };
                after = *last;
                walked.extend(page);
            }
            assert_eq!(walked, all, "pages of {limit}");
        }
        assert_eq!(
            s.taxii_versions("c", "indicator--1").unwrap(),
            [all[0].clone(), all[3].clone()]
        );
        // A large publish is cut into records of at most `TAXII_BATCH_MOST` objects.
        let mut many: Vec<TaxiiObject> = (0..250)
            .map(|i| obj(&format!("indicator--m{i}"), v1, 0))
            .collect();
        let records = s.taxii_objects.len();
        assert_eq!(s.taxii_publish("c", 0, &mut many, None, None).unwrap(), 250);
        assert_eq!(s.taxii_objects.len(), records + 3);
        let page = s.taxii_page("c", all[3].0, 1_000).unwrap();
        let ids: Vec<String> = page.iter().map(|(_, o)| o.id.clone()).collect();
        let want: Vec<String> = many.iter().map(|o| o.id.clone()).collect();
        assert_eq!(ids, want);
    }

    fn peer_alert(document: Value, jws: crate::envelope::Jws) -> Alert {
        Alert {
            id: "a-1".into(),
            source: AlertSource::Peer {
                sender: "cert-a".parse().unwrap(),
                kid: "kid".into(),
                message_id: MessageId(uuid::Uuid::from_u128(1)),
                jws,
            },
            received_at: "2026-12-02T00:00:00Z".into(),
            sha256: "00".into(),
            tlp: crate::tlp::Tlp::Green,
            format: super::super::AlertFormat::Stix,
            document,
            retracted: None,
        }
    }

    #[test]
    fn a_peers_document_is_written_once_and_read_back_from_its_message() {
        let s = SledStore::temporary().unwrap();
        let doc =
            serde_json::json!({"type": "bundle", "objects": [], "marker": "only-in-the-payload"});
        let sealed = crate::exchange::outbound::seal(
            doc.clone(),
            crate::peer::Format::Stix,
            crate::tlp::Tlp::Green,
            crate::exchange::outbound::Envelope {
                from: &"cert-a".parse().unwrap(),
                to: &"cert-b".parse().unwrap(),
                id: MessageId(uuid::Uuid::from_u128(1)),
                now: time::OffsetDateTime::now_utc(),
            },
            &ed25519_dalek::SigningKey::from_bytes(&[3; 32]),
        );
        let a = peer_alert(doc, sealed.jws);
        assert_eq!(s.import(&a, None).unwrap(), Imported::New);
        let (k, raw) = s.alerts.iter().next().unwrap().unwrap();
        let record: serde_json::Value = super::super::records::decode(&k, &raw).unwrap();
        let payload = record["jws"]["payload"].as_str().unwrap();
        assert!(!payload.is_empty(), "the record holds the message");
        assert!(
            !record.to_string().contains("only-in-the-payload"),
            "the record holds the message, not a second copy of its document"
        );
        assert_eq!(s.alert("a-1").unwrap(), Some(a));
    }

    #[test]
    fn a_ledger_backlog_longer_than_a_chunk_is_indexed_whole() {
        use crate::disclosure::{chain, EntryBody, Event};
        let s = SledStore::temporary().unwrap();
        let mut last: Option<Entry> = None;
        for n in 0..10_050u128 {
            let mut body = EntryBody::new(
                "2026-12-02T00:00:00Z".into(),
                Event::Queued,
                format!("r-{}", n % 7).parse().unwrap(),
                "cert-b".parse().unwrap(),
            );
            body.message_id = Some(MessageId(uuid::Uuid::from_u128(n)));
            let e = chain::link(last.as_ref(), body);
            s.ledger_put(&e).unwrap();
            last = Some(e);
        }
        // Indexed on first read, in two chunks.
        for n in [3u128, 10_049] {
            let found = s
                .ledger_of_message(&MessageId(uuid::Uuid::from_u128(n)))
                .unwrap();
            assert_eq!(
                found.iter().map(|e| e.seq).collect::<Vec<_>>(),
                vec![n as u64]
            );
        }
        assert_eq!(
            s.ledger_of_report(&"r-0".parse().unwrap()).unwrap().len(),
            1436
        );
    }

    /// An imported alert known by `tag` (its id and its content).
    fn imported_alert(tag: &str) -> Alert {
        let mut a = peer_alert(
            serde_json::json!({"type": "bundle"}),
            crate::envelope::Jws {
                payload: "x".into(),
                protected: "p".into(),
                signature: "s".into(),
            },
        );
        a.id = format!("a-{tag}");
        a.source = AlertSource::Import {
            import: super::super::ImportRecord {
                file: "f".into(),
                tool: "t".into(),
                source: None,
                marking: "m".into(),
                provider_permission: false,
            },
        };
        a.sha256 = tag.to_string();
        a
    }

    #[test]
    fn the_alert_count_first_taken_during_imports_stays_exact() {
        let s = SledStore::temporary().unwrap();
        let import = |t: u128, i: u128| {
            let a = imported_alert(&format!("{t}-{i}"));
            assert_eq!(s.import(&a, None).unwrap(), Imported::New);
        };
        // Some stored before, for the walk to count.
        (0..150).for_each(|i| import(9, i));
        std::thread::scope(|scope| {
            for t in 0..4 {
                scope.spawn(move || (0..100).for_each(|i| import(t, i)));
            }
            // Counted for the first time while the imports run, by several at once.
            for _ in 0..3 {
                scope.spawn(|| s.alert_count().unwrap());
            }
        });
        assert_eq!(s.alert_count().unwrap(), 550);
        assert_eq!(s.alert_ids.len(), 550);
        assert_eq!(s.alert_count_if_known().unwrap(), Some(550));
        // The count kept in the store for the next start agrees.
        let kept = s.alert_count_kept.get(ALERTS_COUNTED).unwrap().unwrap();
        assert_eq!(read_u64(&kept), 550);
        // While the first count walks, a page is told so instead of waiting for it.
        *s.alerts_held() = AlertCount::Counting { since: 0 };
        assert_eq!(s.alert_count_if_known().unwrap(), None);
    }

    #[test]
    fn a_page_that_asks_before_the_first_count_is_answered() {
        // Asked before the start's count began, it counts; it once waited on itself for
        // ever, and every import after it waited too.
        let s = std::sync::Arc::new(SledStore::temporary().unwrap());
        let import = |tag: &str| s.import(&imported_alert(tag), None).unwrap();
        (0..3).for_each(|i| assert_eq!(import(&format!("p{i}")), Imported::New));
        let (tx, rx) = std::sync::mpsc::channel();
        let asker = std::sync::Arc::clone(&s);
        std::thread::spawn(move || tx.send(asker.alert_count_if_known().unwrap()));
        let answer = rx.recv_timeout(std::time::Duration::from_secs(60));
        assert_eq!(answer, Ok(Some(3)));
        assert_eq!(import("after"), Imported::New);
        assert_eq!(s.alert_count_if_known().unwrap(), Some(4));
    }

    #[test]
    fn an_alert_written_with_its_document_by_an_earlier_release_still_reads() {
        let s = SledStore::temporary().unwrap();
        // Written whole (document included), under a message that does not even open.
        let a = peer_alert(
            serde_json::json!({"type": "bundle", "objects": []}),
            crate::envelope::Jws {
                payload: "x".into(),
                protected: "p".into(),
                signature: "s".into(),
            },
        );
        s.alerts.insert(7u64.to_be_bytes(), encode(&a)).unwrap();
        s.alert_ids.insert("a-1", &7u64.to_be_bytes()).unwrap();
        assert_eq!(s.alert("a-1").unwrap(), Some(a));
    }

    /// Opens the store in `dir` again. sled lets go of a dropped store's lock once its last
    /// write to the log has finished on its I/O threads, which can be a moment after the drop.
    fn reopen(dir: &Path) -> SledStore {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match SledStore::open(dir) {
                Err(StoreError::Locked { .. }) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                opened => return opened.unwrap(),
            }
        }
    }

    #[test]
    fn entries_posted_again_after_a_crash_are_listed_once_and_in_order() {
        let s = SledStore::temporary().unwrap();
        let key = indicator_key("198.51.100.1");
        s.post(&key, &[1, 5]).unwrap();
        // The chunk indexed again: its entries are there already.
        s.post(&key, &[5, 9]).unwrap();
        assert_eq!(s.posted(&key).unwrap(), vec![1, 5, 9]);
        assert_eq!(
            s.posted(&indicator_key("198.51.100.2")).unwrap(),
            Vec::<u64>::new()
        );
        // A long list is kept under several keys, read back as one.
        let many: Vec<u64> = (10..10_000).map(|i| i * 3).collect();
        s.post(&key, &many[..5000]).unwrap();
        s.post(&key, &many[4000..]).unwrap();
        let want: Vec<u64> = [1, 5, 9].into_iter().chain(many).collect();
        assert_eq!(s.posted(&key).unwrap(), want);
        assert_eq!(s.ledger_by_field.scan_prefix(&key).count(), 3);
        // Another value's list is apart from it.
        let peer = field_key(BY_PEER, b"cert-a");
        s.post(&peer, &[2]).unwrap();
        assert_eq!(s.posted(&peer).unwrap(), vec![2]);
        assert_eq!(s.posted(&key).unwrap().len(), want.len());
    }

    #[test]
    fn a_store_indexed_before_the_indexes_by_field_is_indexed_again() {
        let dir = tempfile::tempdir().unwrap();
        let lookup = super::super::LedgerLookup {
            peer: Some("cert-b"),
            indicator: Some("198.51.100.4"),
            ..Default::default()
        };
        let keep = |e: &Entry| {
            e.body.peer.as_str() == "cert-b"
                && e.body.indicators.iter().any(|d| d.value == "198.51.100.4")
        };
        let page = |s: &SledStore| -> Vec<u64> {
            let page = s.ledger_page(&lookup, None, 1000, &keep).unwrap();
            page.iter().map(|e| e.seq).collect()
        };
        let want = {
            let s = SledStore::open(dir.path()).unwrap();
            super::super::conformance::varied_ledger(&s, 300);
            let want = page(&s);
            assert!(!want.is_empty());
            // As a release before those indexes left it: the ledger indexed by message and
            // report, and no lists by field.
            s.ledger_by_field.clear().unwrap();
            s.ledger_index_meta.remove(FIELDS_UPTO).unwrap();
            s.flush().unwrap();
            want
        };
        let s = SledStore::open(dir.path()).unwrap();
        assert_eq!(page(&s), want);
        // Rolled back to that release after the lists had reached an entry, the release
        // indexing the entries after it by message and report only, then run again: the
        // lists catch up from where they were.
        assert_eq!(s.upto(INDEXED_UPTO).unwrap(), 300);
        s.ledger_by_field.clear().unwrap();
        s.ledger_index_meta
            .insert(FIELDS_UPTO, &0u64.to_be_bytes())
            .unwrap();
        assert_eq!(page(&s), want);
    }

    #[test]
    fn a_start_reads_the_alert_count_the_store_kept() {
        let dir = tempfile::tempdir().unwrap();
        let import = |s: &SledStore, tag: &str| s.import(&imported_alert(tag), None).unwrap();
        let kept = |s: &SledStore| {
            s.alert_count_kept
                .get(ALERTS_COUNTED)
                .unwrap()
                .map(|v| read_u64(&v))
        };
        {
            let s = SledStore::open(dir.path()).unwrap();
            (0..5).for_each(|i| assert_eq!(import(&s, &format!("b{i}")), Imported::New));
            // Nothing kept before the first count: it walks the alerts.
            assert_eq!(kept(&s), None);
            assert_eq!(s.alert_count().unwrap(), 5);
            (0..3).for_each(|i| assert_eq!(import(&s, &format!("c{i}")), Imported::New));
            assert_eq!(import(&s, "c0"), Imported::Duplicate);
            assert_eq!(kept(&s), Some(8));
        }
        let s = reopen(dir.path());
        // Known at the start, without a walk.
        assert!(matches!(*s.alerts_held(), AlertCount::Known(8)));
        assert_eq!(import(&s, "d"), Imported::New);
        assert_eq!(s.alert_count_if_known().unwrap(), Some(9));
        // A store without it (written by an earlier release, restored from its backup)
        // is counted again, and keeps it from then on.
        s.alert_count_kept.remove(ALERTS_COUNTED).unwrap();
        s.sync().unwrap();
        drop(s);
        let s = reopen(dir.path());
        assert!(matches!(*s.alerts_held(), AlertCount::Unknown));
        assert_eq!(s.alert_count_if_known().unwrap(), Some(9));
        assert_eq!(kept(&s), Some(9));
    }

    #[test]
    fn imports_do_not_write_again_what_the_gateway_kept() {
        // sled writes a page whole every few changes to it: a large kept value sharing a
        // page with the count each import rewrites was written again every ten imports
        // (1,000 MiB for 10,000 writes beside 1 MiB, measured with sled alone).
        let dir = tempfile::tempdir().unwrap();
        let s = SledStore::open(dir.path()).unwrap();
        s.alert_count().unwrap();
        s.keep_derived("large", &vec![7u8; 1 << 20]).unwrap();
        s.sync().unwrap();
        // What the store's files take (sled keeps a large page in a file of its own, which
        // this counts too).
        let size = || s.db.size_on_disk().unwrap();
        let before = size();
        for i in 0..100 {
            let a = imported_alert(&format!("k{i}"));
            assert_eq!(s.import(&a, None).unwrap(), Imported::New);
        }
        assert_eq!(s.alert_count().unwrap(), 100);
        let grown = size() - before;
        assert!(
            grown < 4 << 20,
            "the store grew by {grown} bytes for 100 small alerts"
        );
        assert_eq!(
            s.kept_derived("large").unwrap().map(|v| v.len()),
            Some(1 << 20)
        );
    }

    #[test]
    fn data_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = SledStore::open(dir.path()).unwrap();
            super::super::conformance::suite(&s);
        }
        let s = reopen(dir.path());
        assert!(!s.reports_page(None, 10).unwrap().is_empty());
        assert!(s.alert_count().unwrap() > 0);
        use super::super::conformance::{KEPT_IN_SUITE, KEPT_LAST};
        assert_eq!(
            s.kept_derived(KEPT_IN_SUITE).unwrap().as_deref(),
            Some(KEPT_LAST)
        );
    }

    /// A TAXII row for `id` at `version`.
    fn obj(id: &str, version: &str) -> TaxiiObject {
        TaxiiObject {
            id: id.into(),
            version: version.into(),
            spec_version: "2.1".into(),
            date_added_us: 0,
            report_id: "r1".parse().unwrap(),
            message_id: MessageId(uuid::Uuid::from_u128(7)),
            object: serde_json::json!({"id": id, "modified": version}),
        }
    }

    #[test]
    fn publishes_while_the_taxii_index_is_read_are_known_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let v = "2026-01-01T00:00:00.000Z";
        let batch = |from: usize| -> Vec<TaxiiObject> {
            (from..from + 50)
                .map(|i| obj(&format!("indicator--{i}"), v))
                .collect()
        };
        {
            let s = SledStore::open(dir.path()).unwrap();
            for b in 0..20 {
                s.taxii_publish("cert-b", 1, &mut batch(b * 50), None, None)
                    .unwrap();
            }
        }
        let s = reopen(dir.path());
        // Two publishers of new objects while the index (1,000 objects) is read.
        std::thread::scope(|t| {
            t.spawn(|| s.catch_up_indexes().unwrap());
            for first in [1_000, 2_000] {
                let s = &s;
                t.spawn(move || {
                    for b in 0..10 {
                        let mut new = batch(first + b * 50);
                        assert_eq!(
                            s.taxii_publish("cert-b", 2, &mut new, None, None).unwrap(),
                            50
                        );
                    }
                });
            }
        });
        assert!(s.taxii_known.is_complete());
        for first in (0..1_000)
            .step_by(50)
            .chain((1_000..1_500).step_by(50))
            .chain((2_000..2_500).step_by(50))
        {
            assert_eq!(
                s.taxii_publish("cert-b", 3, &mut batch(first), None, None)
                    .unwrap(),
                0,
                "objects from indicator--{first} published twice"
            );
        }
        assert_eq!(s.taxii_page("cert-b", 0, 5_000).unwrap().len(), 2_000);
    }

    #[test]
    fn a_reopened_store_finds_the_taxii_objects_it_holds_before_and_after_reading_its_index() {
        let dir = tempfile::tempdir().unwrap();
        let (v1, v2) = ("2026-01-01T00:00:00.000Z", "2026-02-01T00:00:00.000Z");
        let held: Vec<TaxiiObject> = (0..300)
            .map(|i| obj(&format!("indicator--{i}"), v1))
            .collect();
        {
            let s = SledStore::open(dir.path()).unwrap();
            // A new store knows at once that it holds nothing.
            assert!(s.taxii_known.is_complete());
            let mut first = held.clone();
            assert_eq!(
                s.taxii_publish("cert-b", 1, &mut first, None, None)
                    .unwrap(),
                300
            );
            assert_eq!(
                s.taxii_publish("cert-b", 2, &mut held.clone(), None, None)
                    .unwrap(),
                0
            );
        }
        let s = reopen(dir.path());
        // Until the index is read, every object is looked up.
        assert!(!s.taxii_known.is_complete());
        let mut again = held[..100].to_vec();
        again.push(obj("indicator--0", v2));
        assert_eq!(
            s.taxii_publish("cert-b", 3, &mut again, None, None)
                .unwrap(),
            1
        );
        s.catch_up_indexes().unwrap();
        assert!(s.taxii_known.is_complete());
        // What was there before the reopening and what was published since are both known.
        let mut all = held.clone();
        all.push(obj("indicator--0", v2));
        assert_eq!(
            s.taxii_publish("cert-b", 4, &mut all, None, None).unwrap(),
            0
        );
        // Another collection, or another version, is new.
        assert_eq!(
            s.taxii_publish("cert-c", 5, &mut held[..1].to_vec(), None, None)
                .unwrap(),
            1
        );
        let mut newer = vec![obj("indicator--299", v2)];
        assert_eq!(
            s.taxii_publish("cert-b", 6, &mut newer, None, None)
                .unwrap(),
            1
        );
        assert_eq!(s.taxii_page("cert-b", 0, 1_000).unwrap().len(), 302);
    }

    #[test]
    fn messages_queued_and_delivered_by_an_earlier_release_are_found_by_id() {
        let dir = tempfile::tempdir().unwrap();
        let messages = {
            let s = SledStore::open(dir.path()).unwrap();
            super::super::conformance::suite(&s);
            let messages = super::super::conformance::suite_messages(&s);
            // An earlier release kept no index of where each message is.
            s.message_seqs.clear().unwrap();
            s.db.flush().unwrap();
            messages
        };
        super::super::conformance::finds_messages(&reopen(dir.path()), &messages);
    }
}
