//! The PostgreSQL backend (DESIGN §12): several gateways of one team share one database
//! (PostgreSQL, or CockroachDB and YugabyteDB, which speak its protocol), so they share
//! reports, peers, outbox, alerts and one ledger.
//!
//! What several writers need, and where the database gives it:
//! - one ledger chain: every write that carries a ledger entry first takes one advisory
//!   lock for its transaction and reads the head in it; an entry that does not follow the
//!   head is refused ([`StoreError::Contended`]) and linked again by the writer;
//! - delivery: a peer's queue is claimed by one gateway at a time, by row lock (`FOR UPDATE
//!   SKIP LOCKED`) with a lease in the database's clock, so per-peer order holds and a
//!   crashed gateway's claims return after the lease; a message finished by another gateway
//!   meanwhile is not finished twice;
//! - inbound dedup: the records an import is known by are primary keys, inserted first in
//!   the import's transaction, so the same message taken by two gateways at once becomes one
//!   alert;
//! - TAXII collections: appends to one collection take a lock of their own, so `date_added`
//!   strictly increases.
//!
//! Records are the same JSON the sled store writes (see `records`), kept as `bytea`, with
//! the columns queries need beside them; dedup keys are sled's keys, so a migration copies
//! them as they are. Every write is committed (durable, with PostgreSQL's default
//! `synchronous_commit`) before the call returns.
//!
//! The trait is synchronous; the database client is not. The store runs its own small
//! runtime and each call waits for its task there, so it can be called from any thread,
//! also one of the gateway's own async runtime (as sled's calls are).

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::str::FromStr;

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{NoTls, Row};

mod load;

use super::records::{
    carried_digests, decode, decode_alert, decode_next_attempt_ms, encode, encode_alert,
    encode_delivered, encode_outbox_item, indicator_digest, report_seen_key, DedupKeys,
};
use super::{
    Alert, AlertMeta, Delivered, FoundMessage, Holding, Imported, LedgerLookup, OutboxCounts,
    OutboxItem, Result, Store, StoreError, StoredReport, TaxiiObject,
};
use crate::disclosure::{Checkpoint, Entry, RawEntry};
use crate::envelope::MessageId;
use crate::peer::{Peer, PeerId};
use crate::report::ReportId;

/// The schema this release writes; a database at a later one was written by a newer irtx.
const SCHEMA_VERSION: i64 = 5;

/// Advisory lock held while the schema is created or upgraded.
const SCHEMA_LOCK: i64 = 0x6972_7478_0001;
/// Advisory lock every write carrying a ledger entry holds for its transaction.
const LEDGER_LOCK: i64 = 0x6972_7478_0002;

/// The first schema: the sled store's trees as tables, keys as sled writes them where they
/// are dedup keys, text keys in byte order (`COLLATE "C"`, as sled orders them).
const SCHEMA_V1: &str = r#"
CREATE SEQUENCE irtx_seq START 1;
CREATE TABLE reports (id text COLLATE "C" PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE peers (id text COLLATE "C" PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE outbox (
    seq bigint PRIMARY KEY,
    peer text COLLATE "C" NOT NULL,
    pending boolean NOT NULL,
    v bytea NOT NULL
);
CREATE INDEX outbox_pending ON outbox (peer, seq) WHERE pending;
CREATE TABLE queue_claims (
    peer text COLLATE "C" PRIMARY KEY,
    owner text NOT NULL,
    until_ms bigint NOT NULL
);
CREATE TABLE delivered (seq bigint PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE alerts (
    seq bigint PRIMARY KEY,
    id text COLLATE "C" NOT NULL UNIQUE,
    sender text COLLATE "C",
    message_id text,
    v bytea NOT NULL,
    meta bytea NOT NULL
);
CREATE INDEX alerts_by_message ON alerts (sender, message_id) WHERE message_id IS NOT NULL;
-- Signed messages are kept as received: compressing each one on the way in cost the
-- database more CPU than the rest of an import.
ALTER TABLE alerts ALTER COLUMN v SET STORAGE EXTERNAL;
CREATE TABLE seen (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE usage (peer text COLLATE "C" PRIMARY KEY, bytes bigint NOT NULL);
CREATE TABLE ledger (
    seq bigint PRIMARY KEY,
    hash text NOT NULL,
    message_id text,
    report_id text COLLATE "C" NOT NULL,
    v bytea NOT NULL
);
CREATE INDEX ledger_by_message ON ledger (message_id, seq) WHERE message_id IS NOT NULL;
CREATE INDEX ledger_by_report ON ledger (report_id, seq);
CREATE TABLE checkpoints (seq bigint PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE key_documents (seq bigint PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE quarantine (seq bigint PRIMARY KEY, record bytea NOT NULL);
CREATE TABLE quarantine_bodies (seq bigint PRIMARY KEY, body bytea NOT NULL);
CREATE TABLE taxii_objects (
    collection text COLLATE "C" NOT NULL,
    seq bigint NOT NULL,
    id text COLLATE "C" NOT NULL,
    version text COLLATE "C" NOT NULL,
    date_added_us bigint NOT NULL,
    v bytea NOT NULL,
    PRIMARY KEY (collection, seq),
    UNIQUE (collection, id, version)
);
CREATE INDEX taxii_by_id ON taxii_objects (collection, id, seq);
CREATE TABLE taxii_pulls (
    collection text COLLATE "C" NOT NULL,
    message_id text NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (collection, message_id)
);
CREATE TABLE taxii_status (id text COLLATE "C" PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE holdings (
    report_id text COLLATE "C" NOT NULL,
    peer text COLLATE "C" NOT NULL,
    v bytea NOT NULL,
    PRIMARY KEY (report_id, peer)
);
"#;

/// Schema 2: a message is found by its id in the outbox and the delivered list (the ids of
/// the records schema 1 wrote are taken from the records).
const SCHEMA_V2: &str = r#"
ALTER TABLE outbox ADD COLUMN message_id text COLLATE "C";
ALTER TABLE delivered ADD COLUMN message_id text COLLATE "C";
UPDATE outbox SET message_id = convert_from(v, 'UTF8')::jsonb ->> 'message_id';
UPDATE delivered SET message_id = convert_from(v, 'UTF8')::jsonb #>> '{item,message_id}';
CREATE INDEX outbox_message ON outbox (message_id);
CREATE INDEX delivered_message ON delivered (message_id);
"#;

/// Schema 3: what the gateways derived from the store and kept for their next start (the
/// overview's tally of the ledger), so that a start reads it rather than the whole ledger.
const SCHEMA_V3: &str = r#"
CREATE TABLE kept (name text COLLATE "C" PRIMARY KEY, v bytea NOT NULL);
"#;

/// Schema 4: the ledger's entries found by peer, event, time and indicator (the pages of the
/// disclosures). The columns of the entries written before are filled by the upgrade
/// ([`fill_ledger_fields`]), then [`SCHEMA_V4_INDEXES`] indexes them.
const SCHEMA_V4: &str = r#"
ALTER TABLE ledger ADD COLUMN peer text COLLATE "C";
ALTER TABLE ledger ADD COLUMN event text COLLATE "C";
ALTER TABLE ledger ADD COLUMN at_us bigint;
CREATE TABLE ledger_indicators (h bytea NOT NULL, seq bigint NOT NULL, PRIMARY KEY (h, seq));
"#;

/// Schema 4's indexes, made once the columns are filled (and `ledger_unfilled`, which finds
/// the entries a gateway of an earlier release wrote without them).
const SCHEMA_V4_INDEXES: &str = r#"
CREATE INDEX ledger_by_peer ON ledger (peer, seq);
CREATE INDEX ledger_by_event ON ledger (event, seq);
CREATE INDEX ledger_by_at ON ledger (at_us);
CREATE INDEX ledger_unfilled ON ledger (seq) WHERE peer IS NULL;
"#;

/// Schema 5: the alerts counted as they are imported, so that the overview does not count
/// them (`count(*)` of a million alerts took 40-110 ms a view, and grows with them). Each
/// import adds one to a row of its connection's (a shard of 64, by the server process), so
/// that concurrent imports seldom wait for one another; the count is the rows' sum, exact
/// in every transaction's view. The alerts already there are counted by
/// [`RECOUNT_ALERTS`] after it.
const SCHEMA_V5: &str = r#"
CREATE TABLE alert_counts (shard integer PRIMARY KEY, n bigint NOT NULL);
"#;

/// Writes an alert and counts it: ($1 seq, $2 id, $3 sender, $4 message id, $5 the record,
/// $6 its metadata).
const INSERT_ALERT: &str = "WITH a AS (INSERT INTO alerts (seq, id, sender, message_id, v, meta) \
     VALUES ($1, $2, $3, $4, $5, $6)) \
     INSERT INTO alert_counts (shard, n) VALUES (pg_backend_pid() % 64, 1) \
     ON CONFLICT (shard) DO UPDATE SET n = alert_counts.n + 1";

/// Counts the alerts again, from the table (the schema 5 upgrade's and a load's last step).
const RECOUNT_ALERTS: &str =
    "DELETE FROM alert_counts; INSERT INTO alert_counts SELECT 0, count(*) FROM alerts";

/// Brings the planner's statistics of the ledger's columns up to date, after many rows
/// were written at once (an upgrade, a load).
const ANALYZE_LEDGER: &str = "ANALYZE ledger, ledger_indicators";

/// Writes a ledger entry's row, with the columns it is found by, and the indicators it
/// carried: ($1 seq, $2 hash, $3 message id, $4 report, $5 the record, $6 peer, $7 event,
/// $8 time in microseconds, $9 the indicators' digests). See [`entry_row`].
const INSERT_ENTRY: &str = "WITH e AS (INSERT INTO ledger \
     (seq, hash, message_id, report_id, v, peer, event, at_us) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)) \
     INSERT INTO ledger_indicators (h, seq) SELECT unnest($9::bytea[]), $1";

/// The parameters of [`INSERT_ENTRY`] for entry `e` at `seq`, kept as `record`.
fn entry_row(seq: i64, e: &Entry, record: Vec<u8>) -> Vec<Box<dyn ToSql + Sync + Send>> {
    let (peer, event, at_us, carried) = entry_fields(e);
    vec![
        Box::new(seq),
        Box::new(e.hash.clone()),
        Box::new(e.body.message_id.map(|m| m.to_string())),
        Box::new(e.body.report_id.to_string()),
        Box::new(record),
        Box::new(peer),
        Box::new(event),
        Box::new(at_us),
        Box::new(carried),
    ]
}

/// What entry `e` is found by: its peer, its event, its time in microseconds (none when it
/// does not read as a time), the digests of the indicators it carried.
fn entry_fields(e: &Entry) -> (String, String, Option<i64>, Vec<Vec<u8>>) {
    (
        e.body.peer.to_string(),
        e.body.event.to_string(),
        crate::timestamp::parse_rfc3339(&e.body.at).map(micros),
        carried_digests(e).iter().map(|d| d.to_vec()).collect(),
    )
}

/// A time in microseconds since the epoch, rounded down.
fn micros(t: time::OffsetDateTime) -> i64 {
    big(t.unix_timestamp_nanos().div_euclid(1000))
}

/// Fills the columns schema 4 added to the ledger for the entries written without them, a
/// thousand at a time: at the upgrade, every entry written before it; at each start, any
/// written since by a gateway of an earlier release still running (`ledger_unfilled`
/// finds them).
async fn fill_ledger_fields(tx: &deadpool_postgres::Transaction<'_>) -> Result<()> {
    let mut after = -1i64;
    let mut filled = 0u64;
    loop {
        let rows = query(
            tx,
            "SELECT seq, v FROM ledger WHERE peer IS NULL AND seq > $1 ORDER BY seq LIMIT 1000",
            &[&after],
        )
        .await?;
        let Some(last) = rows.last() else {
            break;
        };
        after = last.get(0);
        let (mut seqs, mut peers, mut events, mut ats) = (vec![], vec![], vec![], vec![]);
        let (mut carried_by, mut carried) = (vec![], vec![]);
        for (seq, e) in decode_rows::<Entry>(&rows, 1)? {
            let (peer, event, at_us, digests) = entry_fields(&e);
            let seq = big(seq);
            seqs.push(seq);
            peers.push(peer);
            events.push(event);
            ats.push(at_us);
            carried_by.extend(std::iter::repeat_n(seq, digests.len()));
            carried.extend(digests);
        }
        execute(
            tx,
            "UPDATE ledger SET peer = f.peer, event = f.event, at_us = f.at_us \
             FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[]) \
             AS f(seq, peer, event, at_us) WHERE ledger.seq = f.seq",
            &[&seqs, &peers, &events, &ats],
        )
        .await?;
        execute(
            tx,
            "INSERT INTO ledger_indicators (h, seq) SELECT * FROM unnest($1::bytea[], $2::bigint[])",
            &[&carried, &carried_by],
        )
        .await?;
        filled += rows.len() as u64;
        if filled % 100_000 == 0 {
            tracing::info!(entries = filled, "schema 4: ledger entries indexed");
        }
    }
    if filled > 0 {
        tracing::info!(entries = filled, "schema 4: the ledger is indexed");
    }
    Ok(())
}

/// A statement's parameter and its type (a statement planned for its parameters' values).
type Typed = (Box<dyn ToSql + Sync + Send>, Type);

/// The query of the ledger's rows that `lookup` selects, by seq after `$1`, `$2` at most,
/// and its parameters from `$3` on. A time is compared to the microsecond, rounded down:
/// the query may select more than the lookup, never less.
///
/// It is run unprepared, so that it is planned for its values: a plan made once for any
/// value reads the ledger in seq order for a time range, and a range that holds nothing
/// then reads all of it (400 ms at a million entries).
fn ledger_query(lookup: &LedgerLookup<'_>) -> (String, Vec<Typed>) {
    let mut sql = String::from("SELECT seq, v FROM ledger WHERE seq > $1");
    let mut params: Vec<Typed> = Vec::new();
    let mut and = |condition: &str, param: Typed| {
        params.push(param);
        let n = params.len() + 2;
        sql.push_str(" AND ");
        sql.push_str(&condition.replace('?', &format!("${n}")));
    };
    if let Some(p) = lookup.peer {
        and("peer = ?", (Box::new(p.to_string()), Type::TEXT));
    }
    if let Some(r) = lookup.report {
        and("report_id = ?", (Box::new(r.to_string()), Type::TEXT));
    }
    if let Some(e) = lookup.event {
        and("event = ?", (Box::new(e.to_string()), Type::TEXT));
    }
    if let Some(t) = lookup.since {
        and("at_us >= ?", (Box::new(micros(t)), Type::INT8));
    }
    if let Some(t) = lookup.until {
        and("at_us <= ?", (Box::new(micros(t)), Type::INT8));
    }
    if let Some(i) = lookup.indicator {
        and(
            "seq IN (SELECT seq FROM ledger_indicators WHERE h = ?)",
            (Box::new(indicator_digest(i).to_vec()), Type::BYTEA),
        );
    }
    sql.push_str(" ORDER BY seq LIMIT $2");
    (sql, params)
}

/// Every table that holds records (what a migration counts and an empty target lacks).
pub const TABLES: &[&str] = &[
    "reports",
    "peers",
    "outbox",
    "delivered",
    "alerts",
    "seen",
    "usage",
    "ledger",
    "checkpoints",
    "key_documents",
    "quarantine",
    "quarantine_bodies",
    "taxii_objects",
    "taxii_pulls",
    "taxii_status",
    "holdings",
];

/// Records what a peer holds of a report: ($1 report, $2 peer, $3 the record).
const PUT_HOLDING: &str = "INSERT INTO holdings (report_id, peer, v) VALUES ($1, $2, $3) \
     ON CONFLICT (report_id, peer) DO UPDATE SET v = excluded.v";

/// The database's clock, in milliseconds since the epoch: leases are read against one clock,
/// whichever machine a gateway runs on.
const NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

/// How to reach the database.
#[derive(Clone)]
pub struct Connect {
    /// `postgres://USER@HOST:PORT/DB` (a password in it is accepted).
    pub url: String,
    /// The password, when not in the URL (from `[store] password_file`).
    pub password: Option<String>,
    /// CA certificates (PEM) for the database's TLS certificate; the public web CAs when
    /// `None`. TLS is used as the URL's `sslmode` says.
    pub ca_file: Option<std::path::PathBuf>,
    /// Connections kept open at most.
    pub pool_size: usize,
    /// How long a claim on a peer's queue lasts unless renewed, in milliseconds.
    pub lease_ms: u64,
}

impl std::fmt::Debug for Connect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        f.debug_struct("Connect")
            .field("url", &redacted(&self.url))
            .field("pool_size", &self.pool_size)
            .field("lease_ms", &self.lease_ms)
            .finish_non_exhaustive()
    }
}

/// The URL without its password (for messages and logs).
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "(a URL that does not parse)".into(),
    }
}

/// The TLS connector for the database: rustls (ring), checking the server's certificate
/// against `ca_file`'s certificates, or the public web CAs.
fn tls(ca_file: Option<&std::path::Path>) -> Result<tokio_postgres_rustls::MakeRustlsConnect> {
    use rustls_pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(f) => {
            let bad = |e: String| {
                StoreError::Backend(format!("store.ca_file `{}`: {e}", f.display()).into())
            };
            let certs = rustls_pki_types::CertificateDer::pem_file_iter(f)
                .map_err(|e| bad(e.to_string()))?
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| bad(e.to_string()))?;
            if certs.is_empty() {
                return Err(bad("no PEM certificate in it".into()));
            }
            for c in certs {
                roots.add(c).map_err(|e| bad(e.to_string()))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| StoreError::Backend(Box::new(e)))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// The PostgreSQL-backed store.
pub struct PgStore {
    /// The store's own runtime (see the module doc); taken apart on drop without waiting.
    rt: Option<tokio::runtime::Runtime>,
    pool: Pool,
    /// This gateway's name in queue claims.
    owner: String,
    lease_ms: i64,
    /// Where it is (no password), for errors.
    place: String,
}

impl Drop for PgStore {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            // Also allowed inside another runtime, where a plain drop would panic.
            rt.shutdown_background();
        }
    }
}

/// An error and its causes, one after the other (the client says "error performing TLS
/// handshake" and keeps why in its source).
fn causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = cause.source();
    }
    out
}

fn pg(e: tokio_postgres::Error) -> StoreError {
    StoreError::Backend(Box::new(e))
}

fn seq_of(row: &Row, col: usize) -> u64 {
    row.get::<_, i64>(col) as u64
}

/// A `bigint` from a position, a count or a limit (positions stay far below 2^63; a larger
/// limit is no limit).
fn big(n: impl TryInto<i64>) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}

/// A statement's boxed parameters as the client takes them.
fn params_of(params: &[Box<dyn ToSql + Sync + Send>]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|b| b.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

/// Rows of (text key, JSON record), decoded, in order.
fn decode_keyed<T: DeserializeOwned>(rows: &[Row]) -> Result<Vec<T>> {
    rows.iter()
        .map(|r| decode(r.get::<_, &str>(0).as_bytes(), r.get::<_, &[u8]>(1)))
        .collect()
}

/// An alert from a (seq, record) row.
fn alert_of(row: Option<Row>) -> Result<Option<Alert>> {
    row.map(|r| decode_alert(&seq_of(&r, 0).to_be_bytes(), r.get::<_, &[u8]>(1)))
        .transpose()
}

async fn query<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>> {
    let st = c.prepare_cached(sql).await.map_err(pg)?;
    c.query(&st, params).await.map_err(pg)
}

async fn query_opt<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Option<Row>> {
    let st = c.prepare_cached(sql).await.map_err(pg)?;
    c.query_opt(&st, params).await.map_err(pg)
}

async fn execute<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64> {
    let st = c.prepare_cached(sql).await.map_err(pg)?;
    c.execute(&st, params).await.map_err(pg)
}

async fn next_seq<C: GenericClient>(c: &C) -> Result<u64> {
    let row = query_opt(c, "SELECT nextval('irtx_seq')", &[]).await?;
    Ok(row.map_or(0, |r| seq_of(&r, 0)))
}

/// Decodes column `col` (a JSON record) of each row, keyed by the `bigint` in column 0.
fn decode_rows<T: DeserializeOwned>(rows: &[Row], col: usize) -> Result<Vec<(u64, T)>> {
    rows.iter()
        .map(|r| {
            let seq = seq_of(r, 0);
            let v: &[u8] = r.get(col);
            Ok((seq, decode(&seq.to_be_bytes(), v)?))
        })
        .collect()
}

/// A peer's oldest message still to be delivered.
const OUTBOX_HEAD: &str =
    "SELECT seq, v FROM outbox WHERE pending AND peer = $1 ORDER BY seq LIMIT 1";

/// Writes a ledger entry in the transaction `tx`, after taking the ledger lock and checking
/// the entry follows the head: called first in every transaction that carries one, so the
/// lock is always taken before any row lock (no lock-order deadlock).
async fn append_entry(tx: &deadpool_postgres::Transaction<'_>, e: &Entry) -> Result<()> {
    execute(tx, "SELECT pg_advisory_xact_lock($1)", &[&LEDGER_LOCK]).await?;
    let head = query_opt(
        tx,
        "SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1",
        &[],
    )
    .await?;
    let follows = match &head {
        None => e.seq == 0,
        Some(r) => seq_of(r, 0) + 1 == e.seq && r.get::<_, &str>(1) == e.prev,
    };
    if !follows {
        return Err(StoreError::Contended);
    }
    execute(
        tx,
        INSERT_ENTRY,
        &params_of(&entry_row(big(e.seq), e, encode(e))),
    )
    .await?;
    Ok(())
}

async fn append_if(tx: &deadpool_postgres::Transaction<'_>, e: Option<&Entry>) -> Result<()> {
    match e {
        Some(e) => append_entry(tx, e).await,
        None => Ok(()),
    }
}

impl PgStore {
    /// Connects, creates or upgrades the schema, and checks the database answers.
    pub fn open(c: &Connect) -> Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("irtx-store")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        let place = redacted(&c.url);
        let mut config = tokio_postgres::Config::from_str(&c.url).map_err(|e| {
            StoreError::Backend(format!("store.url `{place}` does not read: {e}").into())
        })?;
        if let Some(p) = &c.password {
            config.password(p);
        }
        config.application_name("irtx");
        config.connect_timeout(std::time::Duration::from_secs(10));
        let recycling = || ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match config.get_ssl_mode() {
            tokio_postgres::config::SslMode::Disable => {
                Manager::from_config(config, NoTls, recycling())
            }
            _ => Manager::from_config(config, tls(c.ca_file.as_deref())?, recycling()),
        };
        let pool = {
            // The pool spawns its connections on the runtime it is built in.
            let _in = rt.enter();
            Pool::builder(manager)
                .max_size(c.pool_size.max(1))
                .runtime(deadpool_postgres::Runtime::Tokio1)
                .build()
                .map_err(|e| StoreError::Backend(Box::new(e)))?
        };
        let store = PgStore {
            rt: Some(rt),
            pool,
            owner: uuid::Uuid::new_v4().to_string(),
            lease_ms: big(c.lease_ms),
            place,
        };
        store.migrate()?;
        Ok(store)
    }

    /// Where the database is (no password).
    pub fn place(&self) -> &str {
        &self.place
    }

    /// Whether this gateway's connection to the database is encrypted (TLS), as the database
    /// itself says.
    pub fn encrypted(&self) -> Result<bool> {
        self.run(|c| async move {
            Ok(query_opt(
                &c,
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await?
            .is_some_and(|r| r.get::<_, bool>(0)))
        })
    }

    /// Runs `f` with a pooled connection on the store's runtime and waits for it.
    fn run<T, F, Fut>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(deadpool_postgres::Object) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T>> + Send + 'static,
    {
        let pool = self.pool.clone();
        let place = self.place.clone();
        self.wait(async move {
            match pool.get().await {
                Ok(c) => f(c).await,
                Err(e) => Err(StoreError::Backend(
                    format!("cannot reach PostgreSQL at `{place}`: {}", causes(&e)).into(),
                )),
            }
        })?
    }

    /// Runs `fut` on the store's runtime and waits for it from this thread, whichever it is.
    fn wait<T: Send + 'static>(&self, fut: impl Future<Output = T> + Send + 'static) -> Result<T> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let rt = self
            .rt
            .as_ref()
            .expect("the runtime lives as long as the store");
        rt.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv()
            .map_err(|_| StoreError::Backend("the store's runtime stopped".into()))
    }

    /// Creates the schema in an empty database, or checks the one there.
    fn migrate(&self) -> Result<()> {
        self.run(|mut c| async move {
            let tx = c.transaction().await.map_err(pg)?;
            execute(&tx, "SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK]).await?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS irtx_meta (k text PRIMARY KEY, v bigint NOT NULL)",
            )
            .await
            .map_err(pg)?;
            let version = query_opt(&tx, "SELECT v FROM irtx_meta WHERE k = 'schema'", &[])
                .await?
                .map_or(0, |r| r.get::<_, i64>(0));
            if version > SCHEMA_VERSION {
                return Err(StoreError::Corrupt {
                    key: "irtx_meta.schema".into(),
                    reason: format!(
                        "the database is at schema {version}, written by a newer irtx (this one knows {SCHEMA_VERSION})"
                    ),
                });
            }
            if version < 1 {
                tx.batch_execute(SCHEMA_V1).await.map_err(pg)?;
            }
            if version < 2 {
                tx.batch_execute(SCHEMA_V2).await.map_err(pg)?;
            }
            if version < 3 {
                tx.batch_execute(SCHEMA_V3).await.map_err(pg)?;
            }
            if version < 4 {
                tx.batch_execute(SCHEMA_V4).await.map_err(pg)?;
                fill_ledger_fields(&tx).await?;
                tx.batch_execute(SCHEMA_V4_INDEXES).await.map_err(pg)?;
                // The planner's statistics of the filled columns: without them, a query
                // by time or by peer and indicator reads the ledger in seq order (0.3-0.8
                // s at a million entries) until the database's own analyze comes.
                tx.batch_execute(ANALYZE_LEDGER).await.map_err(pg)?;
            } else {
                fill_ledger_fields(&tx).await?;
            }
            if version < 5 {
                tx.batch_execute(SCHEMA_V5).await.map_err(pg)?;
                tx.batch_execute(RECOUNT_ALERTS).await.map_err(pg)?;
            }
            if version < SCHEMA_VERSION {
                execute(
                    &tx,
                    "INSERT INTO irtx_meta (k, v) VALUES ('schema', $1) \
                     ON CONFLICT (k) DO UPDATE SET v = excluded.v",
                    &[&SCHEMA_VERSION],
                )
                .await?;
            }
            tx.commit().await.map_err(pg)
        })
    }

    /// How many records each table holds (a migration's check).
    pub fn counts(&self) -> Result<std::collections::BTreeMap<String, u64>> {
        self.run(|c| async move {
            let mut out = std::collections::BTreeMap::new();
            for t in TABLES {
                let row = query_opt(&c, &format!("SELECT count(*) FROM {t}"), &[]).await?;
                out.insert(t.to_string(), row.map_or(0, |r| seq_of(&r, 0)));
            }
            Ok(out)
        })
    }

    /// Up to `limit` rows of a table keyed by `seq`, after `after`, with column `col`
    /// decoded.
    fn page<T: DeserializeOwned + Send + 'static>(
        &self,
        table: &'static str,
        col: &'static str,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, T)>> {
        let after = after.map_or(-1, big);
        let limit = big(limit);
        self.run(move |c| async move {
            let rows = query(
                &c,
                &format!("SELECT seq, {col} FROM {table} WHERE seq > $1 ORDER BY seq LIMIT $2"),
                &[&after, &limit],
            )
            .await?;
            decode_rows(&rows, 1)
        })
    }

    /// One record by its text key.
    fn get_by<T: DeserializeOwned + Send + 'static>(
        &self,
        sql: &'static str,
        key: String,
    ) -> Result<Option<T>> {
        self.run(move |c| async move {
            match query_opt(&c, sql, &[&key]).await? {
                Some(r) => Ok(Some(decode(key.as_bytes(), r.get::<_, &[u8]>(0))?)),
                None => Ok(None),
            }
        })
    }

    /// One statement, committed.
    fn write(&self, sql: &'static str, params: Vec<Box<dyn ToSql + Sync + Send>>) -> Result<u64> {
        self.run(move |c| async move { execute(&c, sql, &params_of(&params)).await })
    }

    /// Writes an outbox row (and its ledger entry) unless another gateway finished it
    /// meanwhile.
    fn write_outbox(&self, seq: u64, item: &OutboxItem, entry: Option<&Entry>) -> Result<()> {
        let (v, pending, entry) = (
            encode_outbox_item(item),
            item.state.is_pending(),
            entry.cloned(),
        );
        self.run(move |mut c| async move {
            let tx = c.transaction().await.map_err(pg)?;
            append_if(&tx, entry.as_ref()).await?;
            let n = execute(
                &tx,
                "UPDATE outbox SET v = $2, pending = $3 WHERE seq = $1",
                &[&big(seq), &v, &pending],
            )
            .await?;
            if n == 0 {
                // Delivered or removed by another gateway: nothing to record, and the
                // writer must know (its ledger entry was not written).
                tx.rollback().await.map_err(pg)?;
                return Err(StoreError::Finished { seq });
            }
            tx.commit().await.map_err(pg)
        })
    }

    /// The ledger from `after` on, a page at a time, each record decoded by `read`.
    fn ledger_pages<T: Send + 'static>(
        &self,
        after: Option<u64>,
        read: fn(&[u8], &[u8]) -> Result<T>,
    ) -> Box<dyn Iterator<Item = Result<T>> + '_> {
        const PAGE: i64 = 1_000;
        let mut next = after.map_or(-1, big);
        let mut buf: VecDeque<Result<T>> = VecDeque::new();
        let mut done = false;
        Box::new(std::iter::from_fn(move || {
            if buf.is_empty() && !done {
                let from = next;
                let page = self.run(move |c| async move {
                    let rows = query(
                        &c,
                        "SELECT seq, v FROM ledger WHERE seq > $1 ORDER BY seq LIMIT $2",
                        &[&from, &PAGE],
                    )
                    .await?;
                    Ok(rows
                        .iter()
                        .map(|r| (r.get::<_, i64>(0), r.get::<_, Vec<u8>>(1)))
                        .collect::<Vec<_>>())
                });
                match page {
                    Ok(rows) => {
                        done = (rows.len() as i64) < PAGE;
                        for (seq, v) in rows {
                            next = seq;
                            buf.push_back(read(&(seq as u64).to_be_bytes(), &v));
                        }
                    }
                    Err(e) => {
                        done = true;
                        buf.push_back(Err(e));
                    }
                }
            }
            buf.pop_front()
        }))
    }

    /// The ledger entries a query on an indexed column selects, by `seq`.
    fn ledger_where(&self, sql: &'static str, key: String) -> Result<Vec<Entry>> {
        self.run(move |c| async move {
            let rows = query(&c, sql, &[&key]).await?;
            Ok(decode_rows::<Entry>(&rows, 1)?
                .into_iter()
                .map(|(_, e)| e)
                .collect())
        })
    }

    /// The seq-keyed, single-record tables: a record written under a fresh position.
    fn append_record(&self, table: &'static str, v: Vec<u8>) -> Result<()> {
        self.run(move |c| async move {
            let seq = big(next_seq(&c).await?);
            execute(
                &c,
                &format!("INSERT INTO {table} (seq, v) VALUES ($1, $2)"),
                &[&seq, &v],
            )
            .await?;
            Ok(())
        })
    }
}

impl Store for PgStore {
    fn put_report(&self, r: &StoredReport) -> Result<()> {
        self.write(
            "INSERT INTO reports (id, v) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET v = excluded.v",
            vec![Box::new(r.id.to_string()), Box::new(encode(r))],
        )
        .map(|_| ())
    }

    fn report(&self, id: &ReportId) -> Result<Option<StoredReport>> {
        self.get_by("SELECT v FROM reports WHERE id = $1", id.to_string())
    }

    fn reports_page(&self, after: Option<&ReportId>, limit: usize) -> Result<Vec<StoredReport>> {
        let after = after.map(|a| a.to_string());
        let limit = big(limit);
        self.run(move |c| async move {
            let rows = query(
                &c,
                "SELECT id, v FROM reports WHERE $1::text IS NULL OR id > $1 ORDER BY id LIMIT $2",
                &[&after, &limit],
            )
            .await?;
            decode_keyed(&rows)
        })
    }

    fn put_peer(&self, p: &Peer) -> Result<()> {
        self.write(
            "INSERT INTO peers (id, v) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET v = excluded.v",
            vec![Box::new(p.id.to_string()), Box::new(encode(p))],
        )
        .map(|_| ())
    }

    fn peer(&self, id: &PeerId) -> Result<Option<Peer>> {
        self.get_by("SELECT v FROM peers WHERE id = $1", id.to_string())
    }

    fn peers(&self) -> Result<Vec<Peer>> {
        self.run(|c| async move {
            let rows = query(&c, "SELECT id, v FROM peers ORDER BY id", &[]).await?;
            decode_keyed(&rows)
        })
    }

    fn remove_peer(&self, id: &PeerId) -> Result<bool> {
        Ok(self.write(
            "DELETE FROM peers WHERE id = $1",
            vec![Box::new(id.to_string())],
        )? > 0)
    }

    fn outbox_page(&self, after: Option<u64>, limit: usize) -> Result<Vec<(u64, OutboxItem)>> {
        self.page("outbox", "v", after, limit)
    }

    fn outbox_counts(&self) -> Result<OutboxCounts> {
        self.run(|c| async move {
            let row = query_opt(
                &c,
                "SELECT count(*) FILTER (WHERE pending), count(*) FILTER (WHERE NOT pending) FROM outbox",
                &[],
            )
            .await?;
            Ok(row.map_or(OutboxCounts::default(), |r| OutboxCounts {
                pending: seq_of(&r, 0),
                dead_lettered: seq_of(&r, 1),
            }))
        })
    }

    fn outbox_item(&self, seq: u64) -> Result<Option<OutboxItem>> {
        let seq = big(seq);
        self.run(move |c| async move {
            match query_opt(&c, "SELECT v FROM outbox WHERE seq = $1", &[&seq]).await? {
                Some(r) => Ok(Some(decode(&seq.to_be_bytes(), r.get::<_, &[u8]>(0))?)),
                None => Ok(None),
            }
        })
    }

    fn outbox_head(&self, peer: &PeerId) -> Result<Option<(u64, OutboxItem)>> {
        let peer = peer.to_string();
        self.run(move |c| async move {
            let rows = query(&c, OUTBOX_HEAD, &[&peer]).await?;
            Ok(decode_rows(&rows, 1)?.into_iter().next())
        })
    }

    fn outbox_head_due_ms(&self, peer: &PeerId) -> Result<Option<i64>> {
        let peer = peer.to_string();
        self.run(move |c| async move {
            let rows = query(&c, OUTBOX_HEAD, &[&peer]).await?;
            rows.first()
                .map(|r| decode_next_attempt_ms(&seq_of(r, 0).to_be_bytes(), r.get(1)))
                .transpose()
        })
    }

    fn peers_with_pending(&self) -> Result<Vec<PeerId>> {
        self.run(|c| async move {
            let rows = query(
                &c,
                "SELECT DISTINCT peer FROM outbox WHERE pending ORDER BY peer",
                &[],
            )
            .await?;
            rows.iter()
                .map(|r| {
                    let text: &str = r.get(0);
                    text.parse().map_err(|_| StoreError::Corrupt {
                        key: text.to_string(),
                        reason: "an outbox row's peer is not a peer id".into(),
                    })
                })
                .collect()
        })
    }

    fn claim_queue(&self, peer: &PeerId) -> Result<bool> {
        let (peer, owner, lease) = (peer.to_string(), self.owner.clone(), self.lease_ms);
        self.run(move |mut c| async move {
            let tx = c.transaction().await.map_err(pg)?;
            execute(
                &tx,
                "INSERT INTO queue_claims (peer, owner, until_ms) VALUES ($1, '', 0) ON CONFLICT DO NOTHING",
                &[&peer],
            )
            .await?;
            // A claim that another gateway is taking or renewing right now is skipped, not
            // waited for; one whose lease ran out is taken over.
            let claimed = query(
                &tx,
                &format!(
                    "UPDATE queue_claims SET owner = $2, until_ms = {NOW_MS} + $3 \
                     WHERE peer IN (SELECT peer FROM queue_claims WHERE peer = $1 \
                       AND (owner = $2 OR until_ms < {NOW_MS}) FOR UPDATE SKIP LOCKED) \
                     RETURNING peer"
                ),
                &[&peer, &owner, &lease],
            )
            .await?;
            tx.commit().await.map_err(pg)?;
            Ok(!claimed.is_empty())
        })
    }

    fn release_queue(&self, peer: &PeerId) -> Result<()> {
        self.write(
            "UPDATE queue_claims SET until_ms = 0 WHERE peer = $1 AND owner = $2",
            vec![Box::new(peer.to_string()), Box::new(self.owner.clone())],
        )
        .map(|_| ())
    }

    fn update_outbox(&self, seq: u64, item: &OutboxItem) -> Result<()> {
        self.write_outbox(seq, item, None)
    }

    fn update_outbox_recorded(&self, seq: u64, item: &OutboxItem, entry: &Entry) -> Result<()> {
        self.write_outbox(seq, item, Some(entry))
    }

    fn delivered_page(&self, after: Option<u64>, limit: usize) -> Result<Vec<(u64, Delivered)>> {
        self.page("delivered", "v", after, limit)
    }

    fn find_message(&self, id: &MessageId) -> Result<Option<FoundMessage>> {
        let id = id.to_string();
        self.run(move |c| async move {
            let row = query_opt(
                &c,
                "SELECT true, seq, v FROM outbox WHERE message_id = $1 \
                 UNION ALL SELECT false, seq, v FROM delivered WHERE message_id = $1 LIMIT 1",
                &[&id],
            )
            .await?;
            let Some(r) = row else { return Ok(None) };
            let (queued, seq, v) = (r.get::<_, bool>(0), seq_of(&r, 1), r.get::<_, &[u8]>(2));
            let key = seq.to_be_bytes();
            Ok(Some(if queued {
                FoundMessage::Outbox(seq, Box::new(decode(&key, v)?))
            } else {
                FoundMessage::Delivered(seq, Box::new(decode(&key, v)?))
            }))
        })
    }

    fn enqueue_recorded(&self, item: &OutboxItem, entry: &Entry) -> Result<u64> {
        let (v, peer, pending, entry, message) = (
            encode_outbox_item(item),
            item.peer.to_string(),
            item.state.is_pending(),
            entry.clone(),
            item.message_id.to_string(),
        );
        self.run(move |mut c| async move {
            let tx = c.transaction().await.map_err(pg)?;
            append_entry(&tx, &entry).await?;
            let seq = next_seq(&tx).await?;
            execute(
                &tx,
                "INSERT INTO outbox (seq, peer, pending, v, message_id) VALUES ($1, $2, $3, $4, $5)",
                &[&big(seq), &peer, &pending, &v, &message],
            )
            .await?;
            tx.commit().await.map_err(pg)?;
            Ok(seq)
        })
    }

    fn mark_delivered_recorded(&self, seq: u64, d: &Delivered, entry: &Entry) -> Result<()> {
        let (v, entry, message) = (
            encode_delivered(d),
            entry.clone(),
            d.item.message_id.to_string(),
        );
        self.run(move |mut c| async move {
            let tx = c.transaction().await.map_err(pg)?;
            append_entry(&tx, &entry).await?;
            let gone = execute(&tx, "DELETE FROM outbox WHERE seq = $1", &[&big(seq)]).await?;
            if gone == 0 {
                // Another gateway recorded this delivery first (its claim had lapsed): one
                // delivery, one record.
                tx.rollback().await.map_err(pg)?;
                return Err(StoreError::Finished { seq });
            }
            let id = next_seq(&tx).await?;
            execute(
                &tx,
                "INSERT INTO delivered (seq, v, message_id) VALUES ($1, $2, $3)",
                &[&big(id), &v, &message],
            )
            .await?;
            tx.commit().await.map_err(pg)
        })
    }

    fn import(&self, alert: &Alert, quota: Option<u64>) -> Result<Imported> {
        let DedupKeys { key, peer, version } = DedupKeys::of(alert);
        let peer = peer.map(|p| p.to_string());
        let (v, meta) = (encode_alert(alert), encode(&alert.meta()));
        let (id, sha, bytes) = (alert.id.clone(), alert.sha256.clone(), big(alert.bytes()));
        let quota = quota.map(big);
        let (sender, message) = match &alert.source {
            super::AlertSource::Peer {
                sender, message_id, ..
            } => (Some(sender.to_string()), Some(message_id.to_string())),
            _ => (None, None),
        };
        self.run(move |mut c| async move {
            let tx = c.transaction().await.map_err(pg)?;
            // The dedup record first: a second gateway importing the same message waits here
            // for the first to commit, then finds its record.
            let fresh = query(
                &tx,
                "INSERT INTO seen (k, v) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING k",
                &[&key, &sha.as_bytes()],
            )
            .await?;
            if fresh.is_empty() {
                let prior = query_opt(&tx, "SELECT v FROM seen WHERE k = $1", &[&key]).await?;
                tx.rollback().await.map_err(pg)?;
                return Ok(match prior {
                    Some(r) if r.get::<_, &[u8]>(0) == sha.as_bytes() => Imported::Duplicate,
                    _ => Imported::Conflict,
                });
            }
            if let Some((version, report)) = &version {
                let fresh = query(
                    &tx,
                    "INSERT INTO seen (k, v) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING k",
                    &[version, &sha.as_bytes()],
                )
                .await?;
                if fresh.is_empty() {
                    tx.rollback().await.map_err(pg)?;
                    return Ok(Imported::Duplicate);
                }
                execute(
                    &tx,
                    "INSERT INTO seen (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
                    &[report, &id.as_bytes()],
                )
                .await?;
            }
            if let Some(peer) = &peer {
                execute(
                    &tx,
                    "INSERT INTO usage (peer, bytes) VALUES ($1, 0) ON CONFLICT DO NOTHING",
                    &[peer],
                )
                .await?;
                let used = query_opt(
                    &tx,
                    "SELECT bytes FROM usage WHERE peer = $1 FOR UPDATE",
                    &[peer],
                )
                .await?
                .map_or(0, |r| r.get::<_, i64>(0));
                if quota.is_some_and(|q| used + bytes > q) {
                    tx.rollback().await.map_err(pg)?;
                    return Ok(Imported::OverQuota { used: used as u64 });
                }
                execute(
                    &tx,
                    "UPDATE usage SET bytes = bytes + $2 WHERE peer = $1",
                    &[peer, &bytes],
                )
                .await?;
            }
            let seq = next_seq(&tx).await?;
            execute(&tx, INSERT_ALERT, &[&big(seq), &id, &sender, &message, &v, &meta]).await?;
            tx.commit().await.map_err(pg)?;
            Ok(Imported::New)
        })
    }

    fn alert(&self, id: &str) -> Result<Option<Alert>> {
        let id = id.to_string();
        self.run(move |c| async move {
            alert_of(query_opt(&c, "SELECT seq, v FROM alerts WHERE id = $1", &[&id]).await?)
        })
    }

    fn alerts_page(&self, after: Option<u64>, limit: usize) -> Result<Vec<(u64, AlertMeta)>> {
        self.page("alerts", "meta", after, limit)
    }

    fn alert_count(&self) -> Result<u64> {
        self.run(|c| async move {
            let row = query_opt(&c, "SELECT sum(n)::bigint FROM alert_counts", &[]).await?;
            Ok(row
                .and_then(|r| r.get::<_, Option<i64>>(0))
                .map_or(0, |n| n as u64))
        })
    }

    fn peer_usage(&self, peer: &PeerId) -> Result<u64> {
        let peer = peer.to_string();
        self.run(move |c| async move {
            let row = query_opt(&c, "SELECT bytes FROM usage WHERE peer = $1", &[&peer]).await?;
            Ok(row.map_or(0, |r| seq_of(&r, 0)))
        })
    }

    fn ledger_last(&self) -> Result<Option<Entry>> {
        self.run(|c| async move {
            let rows = query(
                &c,
                "SELECT seq, v FROM ledger ORDER BY seq DESC LIMIT 1",
                &[],
            )
            .await?;
            Ok(decode_rows(&rows, 1)?.into_iter().next().map(|(_, e)| e))
        })
    }

    fn ledger_put(&self, e: &Entry) -> Result<()> {
        let e = e.clone();
        self.run(move |mut c| async move {
            let tx = c.transaction().await.map_err(pg)?;
            append_entry(&tx, &e).await?;
            tx.commit().await.map_err(pg)
        })
    }

    fn ledger_entries_after(
        &self,
        after: Option<u64>,
    ) -> Box<dyn Iterator<Item = Result<Entry>> + '_> {
        self.ledger_pages(after, decode)
    }

    fn ledger_page(
        &self,
        lookup: &LedgerLookup<'_>,
        after: Option<u64>,
        limit: usize,
        keep: &dyn Fn(&Entry) -> bool,
    ) -> Result<Vec<Entry>> {
        if *lookup == LedgerLookup::default() {
            return super::keep_page(self.ledger_entries_after(after), limit, keep);
        }
        // The rows the columns select, a batch at a time; `keep` has the last word (times
        // are compared to the microsecond, and a caller may keep fewer than it looks up).
        let batch = big(limit.clamp(100, 1000));
        let mut from = after.map_or(-1, big);
        let mut out = Vec::new();
        while out.len() < limit {
            let (sql, params) = ledger_query(lookup);
            let rows = self.run(move |c| async move {
                let mut all: Vec<(&(dyn ToSql + Sync), Type)> =
                    vec![(&from, Type::INT8), (&batch, Type::INT8)];
                all.extend(params.iter().map(|(p, t)| (p.as_ref() as _, t.clone())));
                let rows = c.query_typed(&sql, &all).await.map_err(pg)?;
                decode_rows::<Entry>(&rows, 1)
            })?;
            let exhausted = (rows.len() as i64) < batch;
            for (seq, e) in rows {
                from = big(seq);
                if out.len() < limit && keep(&e) {
                    out.push(e);
                }
            }
            if exhausted {
                break;
            }
        }
        Ok(out)
    }

    fn ledger_of_message(&self, id: &MessageId) -> Result<Vec<Entry>> {
        self.ledger_where(
            "SELECT seq, v FROM ledger WHERE message_id = $1 ORDER BY seq",
            id.to_string(),
        )
    }

    fn ledger_of_report(&self, id: &ReportId) -> Result<Vec<Entry>> {
        self.ledger_where(
            "SELECT seq, v FROM ledger WHERE report_id = $1 ORDER BY seq",
            id.to_string(),
        )
    }

    fn kept_derived(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let name = name.to_string();
        self.run(move |c| async move {
            let row = query_opt(&c, "SELECT v FROM kept WHERE name = $1", &[&name]).await?;
            Ok(row.map(|r| r.get::<_, Vec<u8>>(0)))
        })
    }

    fn keep_derived(&self, name: &str, value: &[u8]) -> Result<()> {
        // The gateways of a team keep each their own; the last one kept is read, and a
        // start catches up from wherever it ends.
        self.write(
            "INSERT INTO kept (name, v) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET v = excluded.v",
            vec![Box::new(name.to_string()), Box::new(value.to_vec())],
        )
        .map(|_| ())
    }

    fn ledger_raw(&self) -> Box<dyn Iterator<Item = Result<RawEntry>> + '_> {
        self.ledger_pages(None, decode)
    }

    fn put_checkpoint(&self, c: &Checkpoint) -> Result<()> {
        self.write(
            "INSERT INTO checkpoints (seq, v) VALUES ($1, $2) ON CONFLICT (seq) DO UPDATE SET v = excluded.v",
            vec![Box::new(big(c.seq)), Box::new(encode(c))],
        )
        .map(|_| ())
    }

    fn checkpoints(&self) -> Result<Vec<Checkpoint>> {
        Ok(self
            .page("checkpoints", "v", None, usize::MAX)?
            .into_iter()
            .map(|(_, c)| c)
            .collect())
    }

    fn key_documents(&self) -> Result<Vec<crate::exchange::keydoc::SignedKeyDocument>> {
        Ok(self
            .page("key_documents", "v", None, usize::MAX)?
            .into_iter()
            .map(|(_, d)| d)
            .collect())
    }

    fn put_key_document(&self, d: &crate::exchange::keydoc::SignedKeyDocument) -> Result<()> {
        self.append_record("key_documents", encode(d))
    }

    fn snapshot(&self, out: &mut dyn std::io::Write) -> Result<super::snapshot::Stats> {
        super::snapshot::write(self.records()?, out)
    }

    fn quarantine(&self, record: &Value, body: &[u8]) -> Result<()> {
        let (record, body) = (encode(record), body.to_vec());
        self.run(move |mut c| async move {
            let tx = c.transaction().await.map_err(pg)?;
            let seq = big(next_seq(&tx).await?);
            execute(
                &tx,
                "INSERT INTO quarantine (seq, record) VALUES ($1, $2)",
                &[&seq, &record],
            )
            .await?;
            execute(
                &tx,
                "INSERT INTO quarantine_bodies (seq, body) VALUES ($1, $2)",
                &[&seq, &body],
            )
            .await?;
            tx.commit().await.map_err(pg)
        })
    }

    fn quarantine_page(&self, after: Option<u64>, limit: usize) -> Result<Vec<(u64, Value)>> {
        self.page("quarantine", "record", after, limit)
    }

    fn quarantined_body(&self, seq: u64) -> Result<Option<Vec<u8>>> {
        let seq = big(seq);
        self.run(move |c| async move {
            Ok(query_opt(
                &c,
                "SELECT body FROM quarantine_bodies WHERE seq = $1",
                &[&seq],
            )
            .await?
            .map(|r| r.get::<_, Vec<u8>>(0)))
        })
    }

    fn taxii_publish(
        &self,
        collection: &str,
        now_us: i64,
        objects: &mut [TaxiiObject],
        entry: Option<&Entry>,
        holding: Option<&Holding>,
    ) -> Result<usize> {
        let (collection, objects, entry) =
            (collection.to_string(), objects.to_vec(), entry.cloned());
        let holding = holding.map(|h| (h.report_id.to_string(), h.peer.to_string(), encode(h)));
        self.run(move |mut c| async move {
            let tx = c.transaction().await.map_err(pg)?;
            append_if(&tx, entry.as_ref()).await?;
            if let Some((report, peer, v)) = &holding {
                execute(&tx, PUT_HOLDING, &[report, peer, v]).await?;
            }
            // One appender per collection at a time: `date_added` strictly increases.
            execute(
                &tx,
                "SELECT pg_advisory_xact_lock(hashtextextended('taxii:' || $1, 0))",
                &[&collection],
            )
            .await?;
            let mut last_us = query_opt(
                &tx,
                "SELECT date_added_us FROM taxii_objects WHERE collection = $1 ORDER BY seq DESC LIMIT 1",
                &[&collection],
            )
            .await?
            .map_or(i64::MIN, |r| r.get::<_, i64>(0));
            let ids: Vec<&str> = objects.iter().map(|o| o.id.as_str()).collect();
            let mut held: HashSet<(String, String)> = query(
                &tx,
                "SELECT id, version FROM taxii_objects WHERE collection = $1 AND id = ANY($2)",
                &[&collection, &ids],
            )
            .await?
            .iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)))
            .collect();
            let fresh: Vec<&TaxiiObject> = objects
                .iter()
                .filter(|o| held.insert((o.id.clone(), o.version.clone())))
                .collect();
            if fresh.is_empty() {
                tx.commit().await.map_err(pg)?;
                return Ok(0);
            }
            let seqs: Vec<i64> = query(
                &tx,
                "SELECT nextval('irtx_seq') FROM generate_series(1, $1::bigint)",
                &[&(fresh.len() as i64)],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
            let (mut s, mut i, mut ver, mut at, mut v) =
                (vec![], vec![], vec![], vec![], vec![]);
            for (o, seq) in fresh.iter().zip(&seqs) {
                last_us = now_us.max(last_us.saturating_add(1));
                let mut row = (*o).clone();
                row.date_added_us = last_us;
                s.push(*seq);
                i.push(o.id.as_str());
                ver.push(o.version.as_str());
                at.push(last_us);
                v.push(encode(&row));
            }
            execute(
                &tx,
                "INSERT INTO taxii_objects (collection, seq, id, version, date_added_us, v) \
                 SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::text[], $5::bigint[], $6::bytea[])",
                &[&collection, &s, &i, &ver, &at, &v],
            )
            .await?;
            tx.commit().await.map_err(pg)?;
            Ok(fresh.len())
        })
    }

    fn taxii_page(
        &self,
        collection: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, TaxiiObject)>> {
        let (collection, after, limit) = (collection.to_string(), big(after), big(limit));
        self.run(move |c| async move {
            let rows = query(
                &c,
                "SELECT seq, v FROM taxii_objects WHERE collection = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                &[&collection, &after, &limit],
            )
            .await?;
            decode_rows(&rows, 1)
        })
    }

    fn taxii_versions(&self, collection: &str, id: &str) -> Result<Vec<(u64, TaxiiObject)>> {
        let (collection, id) = (collection.to_string(), id.to_string());
        self.run(move |c| async move {
            let rows = query(
                &c,
                "SELECT seq, v FROM taxii_objects WHERE collection = $1 AND id = $2 ORDER BY seq",
                &[&collection, &id],
            )
            .await?;
            decode_rows(&rows, 1)
        })
    }

    fn taxii_version_list(&self, collection: &str, id: &str) -> Result<Vec<(u64, String)>> {
        let (collection, id) = (collection.to_string(), id.to_string());
        self.run(move |c| async move {
            let rows = query(
                &c,
                "SELECT seq, version FROM taxii_objects WHERE collection = $1 AND id = $2 ORDER BY seq",
                &[&collection, &id],
            )
            .await?;
            Ok(rows
                .iter()
                .map(|r| (seq_of(r, 0), r.get::<_, String>(1)))
                .collect())
        })
    }

    fn taxii_count_pull(
        &self,
        collection: &str,
        message_id: &MessageId,
        entry: Option<&Entry>,
    ) -> Result<u64> {
        let (collection, message, entry) = (
            collection.to_string(),
            message_id.to_string(),
            entry.cloned(),
        );
        self.run(move |mut c| async move {
            let tx = c.transaction().await.map_err(pg)?;
            append_if(&tx, entry.as_ref()).await?;
            let n = query_opt(
                &tx,
                "INSERT INTO taxii_pulls (collection, message_id, n) VALUES ($1, $2, 1) \
                 ON CONFLICT (collection, message_id) DO UPDATE SET n = taxii_pulls.n + 1 RETURNING n",
                &[&collection, &message],
            )
            .await?
            .map_or(0, |r| seq_of(&r, 0));
            tx.commit().await.map_err(pg)?;
            Ok(n)
        })
    }

    fn taxii_pulls(&self, collection: &str, message_id: &MessageId) -> Result<u64> {
        let (collection, message) = (collection.to_string(), message_id.to_string());
        self.run(move |c| async move {
            Ok(query_opt(
                &c,
                "SELECT n FROM taxii_pulls WHERE collection = $1 AND message_id = $2",
                &[&collection, &message],
            )
            .await?
            .map_or(0, |r| seq_of(&r, 0)))
        })
    }

    fn put_taxii_status(&self, id: &str, status: &Value) -> Result<()> {
        self.write(
            "INSERT INTO taxii_status (id, v) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET v = excluded.v",
            vec![Box::new(id.to_string()), Box::new(encode(status))],
        )
        .map(|_| ())
    }

    fn taxii_status(&self, id: &str) -> Result<Option<Value>> {
        self.get_by("SELECT v FROM taxii_status WHERE id = $1", id.to_string())
    }

    fn alert_for_report(&self, sender: &PeerId, report: &str) -> Result<Option<String>> {
        let key = report_seen_key(sender, report);
        self.run(move |c| async move {
            Ok(query_opt(&c, "SELECT v FROM seen WHERE k = $1", &[&key])
                .await?
                .map(|r| String::from_utf8_lossy(r.get::<_, &[u8]>(0)).into_owned()))
        })
    }

    fn alert_by_message(&self, sender: &PeerId, message_id: &MessageId) -> Result<Option<Alert>> {
        let (sender, message) = (sender.to_string(), message_id.to_string());
        self.run(move |c| async move {
            alert_of(
                query_opt(
                    &c,
                    "SELECT seq, v FROM alerts WHERE sender = $1 AND message_id = $2 ORDER BY seq LIMIT 1",
                    &[&sender, &message],
                )
                .await?,
            )
        })
    }

    fn put_alert(&self, alert: &Alert) -> Result<()> {
        let n = self.write(
            "UPDATE alerts SET v = $2, meta = $3 WHERE id = $1",
            vec![
                Box::new(alert.id.clone()),
                Box::new(encode_alert(alert)),
                Box::new(encode(&alert.meta())),
            ],
        )?;
        if n == 0 {
            return Err(StoreError::Corrupt {
                key: alert.id.clone(),
                reason: "no such alert to replace".into(),
            });
        }
        Ok(())
    }

    fn put_holding(&self, h: &Holding) -> Result<()> {
        self.write(
            PUT_HOLDING,
            vec![
                Box::new(h.report_id.to_string()),
                Box::new(h.peer.to_string()),
                Box::new(encode(h)),
            ],
        )
        .map(|_| ())
    }

    fn holdings(&self, report: &ReportId) -> Result<Vec<Holding>> {
        let report = report.to_string();
        self.run(move |c| async move {
            let rows = query(
                &c,
                "SELECT peer, v FROM holdings WHERE report_id = $1 ORDER BY peer",
                &[&report],
            )
            .await?;
            decode_keyed(&rows)
        })
    }
}
