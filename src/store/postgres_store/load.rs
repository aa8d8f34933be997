//! Records between the PostgreSQL tables and the snapshot format (which names sled's trees
//! and keys): `irtx backup` of a PostgreSQL store, and `irtx migrate` loading a sled store
//! (or a snapshot) into an empty database.

use std::collections::VecDeque;
use std::future::Future;

use tokio_postgres::types::ToSql;

use super::super::records::{decode, decode_alert, encode};
use super::super::snapshot;
use super::super::{Delivered, OutboxItem, Result, StoreError, TaxiiObject};
use super::{
    big, entry_row, execute, params_of, pg, PgStore, ANALYZE_LEDGER, INSERT_ENTRY, RECOUNT_ALERTS,
};
use crate::disclosure::Entry;

/// The snapshot format's records, from the tables: each table under the sled tree it
/// mirrors, keys as sled writes them (positions as big-endian `u64`, text keys as UTF-8,
/// parts joined by NUL), and the trees sled derives from them, so a snapshot of either
/// backend restores into a sled store and loads into PostgreSQL alike.
const RECORDS: &str = r#"
SELECT 'reports', convert_to(id, 'UTF8'), v FROM reports
UNION ALL SELECT 'peers', convert_to(id, 'UTF8'), v FROM peers
UNION ALL SELECT 'outbox', int8send(seq), v FROM outbox
UNION ALL SELECT 'pending', convert_to(peer, 'UTF8') || '\x00'::bytea || int8send(seq), ''::bytea
    FROM outbox WHERE pending
UNION ALL SELECT 'delivered', int8send(seq), v FROM delivered
UNION ALL SELECT 'alerts', int8send(seq), v FROM alerts
UNION ALL SELECT 'alert_meta', int8send(seq), meta FROM alerts
UNION ALL SELECT 'alert_ids', convert_to(id, 'UTF8'), int8send(seq) FROM alerts
UNION ALL SELECT 'seen', k, v FROM seen
UNION ALL SELECT 'usage', convert_to(peer, 'UTF8'), int8send(bytes) FROM usage
UNION ALL SELECT 'ledger', int8send(seq), v FROM ledger
UNION ALL SELECT 'checkpoints', int8send(seq), v FROM checkpoints
UNION ALL SELECT 'key_documents', int8send(seq), v FROM key_documents
UNION ALL SELECT 'quarantine', int8send(seq), record FROM quarantine
UNION ALL SELECT 'quarantine_bodies', int8send(seq), body FROM quarantine_bodies
UNION ALL SELECT 'taxii_objects',
    convert_to(collection, 'UTF8') || '\x00'::bytea || int8send(seq), v FROM taxii_objects
UNION ALL SELECT 'taxii_index',
    convert_to(collection, 'UTF8') || '\x00'::bytea || convert_to(id, 'UTF8') || '\x00'::bytea
    || int8send(seq), convert_to(version, 'UTF8') FROM taxii_objects
UNION ALL SELECT 'taxii_pulls',
    convert_to(collection, 'UTF8') || '\x00'::bytea || convert_to(message_id, 'UTF8'),
    int8send(n) FROM taxii_pulls
UNION ALL SELECT 'taxii_status', convert_to(id, 'UTF8'), v FROM taxii_status
UNION ALL SELECT 'holdings',
    convert_to(report_id, 'UTF8') || '\x00'::bytea || convert_to(peer, 'UTF8'), v FROM holdings
"#;

/// The sled trees a load skips: derived from the others, rebuilt from them.
const DERIVED: &[&str] = &[
    "pending",
    "alert_ids",
    "alert_meta",
    "taxii_index",
    "ledger_by_message",
    "ledger_by_report",
    "ledger_by_field",
    "ledger_index_meta",
    "message_seqs",
    "alert_count",
    "kept",
];

/// A statement and its parameters, to run later on a connection held across calls.
type Statement = (&'static str, Vec<Box<dyn ToSql + Sync + Send>>);

/// A connection taken out of the pool for a run of calls in one transaction (a snapshot,
/// a load); closed, not returned to the pool, when done.
struct Held(Option<deadpool_postgres::Object>);

impl PgStore {
    /// Runs `f` on the held connection (see [`PgStore::run`]).
    fn run_held<T, F, Fut>(&self, held: &mut Held, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(deadpool_postgres::Object) -> Fut + Send + 'static,
        Fut: Future<Output = (deadpool_postgres::Object, Result<T>)> + Send + 'static,
    {
        let conn = match held.0.take() {
            Some(c) => c,
            None => self.run(|c| async move { Ok(c) })?,
        };
        let (conn, out) = self.wait(f(conn))?;
        held.0 = Some(conn);
        out
    }

    /// Ends a held connection: closed, never handed to another caller in a transaction.
    fn release(held: Held) {
        if let Some(c) = held.0 {
            drop(deadpool_postgres::Object::take(c));
        }
    }

    /// Every record, as the snapshot format names them (`RECORDS`), from one consistent
    /// view of the database (one repeatable-read transaction), a thousand at a time.
    pub fn records(&self) -> Result<impl Iterator<Item = Result<snapshot::Record>> + '_> {
        let mut held = Held(None);
        self.run_held(&mut held, |c| async move {
            let r = c
                .batch_execute(&format!(
                    "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; DECLARE irtx_records NO SCROLL CURSOR FOR {RECORDS}"
                ))
                .await
                .map_err(pg);
            (c, r)
        })?;
        let mut held = Some(held);
        let mut buf: VecDeque<snapshot::Record> = VecDeque::new();
        Ok(std::iter::from_fn(move || {
            if buf.is_empty() {
                let mut h = held.take()?;
                let page = self.run_held(&mut h, |c| async move {
                    let r = c
                        .query("FETCH 1000 FROM irtx_records", &[])
                        .await
                        .map_err(pg);
                    (c, r)
                });
                match page {
                    Ok(rows) if rows.is_empty() => {
                        Self::release(h);
                        return None;
                    }
                    Ok(rows) => {
                        buf.extend(rows.iter().map(|r| {
                            (
                                r.get::<_, String>(0),
                                r.get::<_, Vec<u8>>(1),
                                r.get::<_, Vec<u8>>(2),
                            )
                        }));
                        held = Some(h);
                    }
                    Err(e) => {
                        Self::release(h);
                        return Some(Err(e));
                    }
                }
            }
            buf.pop_front().map(Ok)
        }))
    }

    /// Whether the database holds no records (a migration's target must not).
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.counts()?.values().all(|n| *n == 0))
    }

    /// Loads records in the snapshot format (a sled store's, or a snapshot's) into this
    /// empty database, in one transaction: all of them or, on any error, none. The trees
    /// sled derives are skipped (rebuilt here as columns and indexes); a record of a tree
    /// this release does not know is an error, so nothing is dropped unseen. Returns the
    /// records loaded by tree.
    pub fn load(
        &self,
        records: impl Iterator<Item = Result<snapshot::Record>>,
        mut progress: impl FnMut(u64),
    ) -> Result<snapshot::Stats> {
        if !self.is_empty()? {
            return Err(StoreError::Backend(
                format!(
                    "the database at `{}` holds records already: load into an empty one",
                    self.place
                )
                .into(),
            ));
        }
        let mut held = Held(None);
        let out = (|| {
            self.run_held(&mut held, |c| async move {
                let r = c.batch_execute("BEGIN").await.map_err(pg);
                (c, r)
            })?;
            let mut stats = snapshot::Stats::default();
            let mut batch: Vec<Statement> = Vec::new();
            let mut highest = 0i64;
            let mut done = 0u64;
            for r in records {
                let (tree, k, v) = r?;
                if DERIVED.contains(&tree.as_str()) {
                    continue;
                }
                let (statement, seq) = translate(&tree, &k, v)?;
                highest = highest.max(seq);
                batch.push(statement);
                *stats.records.entry(tree).or_default() += 1;
                if batch.len() >= 500 {
                    done += batch.len() as u64;
                    self.execute_held(&mut held, std::mem::take(&mut batch))?;
                    progress(done);
                }
            }
            done += batch.len() as u64;
            self.execute_held(&mut held, batch)?;
            progress(done);
            // Positions handed out from now on come after every one loaded.
            self.run_held(&mut held, move |c| async move {
                let r = async {
                    c.execute("SELECT setval('irtx_seq', $1)", &[&highest.max(1)])
                        .await
                        .map_err(pg)?;
                    c.batch_execute(RECOUNT_ALERTS).await.map_err(pg)?;
                    c.batch_execute("COMMIT").await.map_err(pg)?;
                    c.batch_execute(ANALYZE_LEDGER).await.map_err(pg)
                }
                .await;
                (c, r)
            })?;
            Ok(stats)
        })();
        Self::release(held);
        out
    }

    fn execute_held(&self, held: &mut Held, batch: Vec<Statement>) -> Result<()> {
        self.run_held(held, |c| async move {
            let r = async {
                for (sql, params) in &batch {
                    execute(&c, sql, &params_of(params)).await?;
                }
                Ok(())
            }
            .await;
            (c, r)
        })
    }
}

/// Record `k` of `tree` does not read, and why.
fn corrupt(tree: &str, k: &[u8], reason: &str) -> StoreError {
    StoreError::Corrupt {
        key: format!("{tree}/{}", String::from_utf8_lossy(k)),
        reason: reason.into(),
    }
}

/// `bytes` (of record `k` of `tree`) as the big-endian `u64` sled writes: a position or a
/// count; `reason` when it is not 8 bytes.
fn be_u64(tree: &str, k: &[u8], bytes: &[u8], reason: &str) -> Result<i64> {
    <[u8; 8]>::try_from(bytes)
        .map(|b| big(u64::from_be_bytes(b)))
        .map_err(|_| corrupt(tree, k, reason))
}

/// A sled key that is a position.
fn position(tree: &str, k: &[u8]) -> Result<i64> {
    be_u64(tree, k, k, "the key is not a position (8 bytes)")
}

/// A text key, or its two NUL-separated parts.
fn text(tree: &str, k: &[u8]) -> Result<String> {
    String::from_utf8(k.to_vec()).map_err(|_| corrupt(tree, k, "the key is not UTF-8"))
}

fn two(tree: &str, k: &[u8]) -> Result<(String, Vec<u8>)> {
    let at = k
        .iter()
        .position(|b| *b == 0)
        .ok_or_else(|| corrupt(tree, k, "the key has no NUL between its parts"))?;
    Ok((text(tree, &k[..at])?, k[at + 1..].to_vec()))
}

/// The row a sled record becomes, and the position it holds (0 for none).
fn translate(tree: &str, k: &[u8], v: Vec<u8>) -> Result<(Statement, i64)> {
    Ok(match tree {
        "reports" => (
            (
                "INSERT INTO reports (id, v) VALUES ($1, $2)",
                vec![Box::new(text(tree, k)?), Box::new(v)],
            ),
            0,
        ),
        "peers" => (
            (
                "INSERT INTO peers (id, v) VALUES ($1, $2)",
                vec![Box::new(text(tree, k)?), Box::new(v)],
            ),
            0,
        ),
        "outbox" => {
            let seq = position(tree, k)?;
            let item: OutboxItem = decode(k, &v)?;
            (
                (
                    "INSERT INTO outbox (seq, peer, pending, v, message_id) \
                     VALUES ($1, $2, $3, $4, $5)",
                    vec![
                        Box::new(seq),
                        Box::new(item.peer.to_string()),
                        Box::new(item.state.is_pending()),
                        Box::new(v),
                        Box::new(item.message_id.to_string()),
                    ],
                ),
                seq,
            )
        }
        "delivered" => {
            let seq = position(tree, k)?;
            let d: Delivered = decode(k, &v)?;
            (
                (
                    "INSERT INTO delivered (seq, v, message_id) VALUES ($1, $2, $3)",
                    vec![
                        Box::new(seq),
                        Box::new(v),
                        Box::new(d.item.message_id.to_string()),
                    ],
                ),
                seq,
            )
        }
        "checkpoints" | "key_documents" => {
            let seq = position(tree, k)?;
            let sql = match tree {
                "checkpoints" => "INSERT INTO checkpoints (seq, v) VALUES ($1, $2)",
                _ => "INSERT INTO key_documents (seq, v) VALUES ($1, $2)",
            };
            ((sql, vec![Box::new(seq), Box::new(v)]), seq)
        }
        "alerts" => {
            let seq = position(tree, k)?;
            let alert = decode_alert(k, &v)?;
            let (sender, message) = match &alert.source {
                super::super::AlertSource::Peer {
                    sender, message_id, ..
                } => (Some(sender.to_string()), Some(message_id.to_string())),
                _ => (None, None),
            };
            (
                (
                    "INSERT INTO alerts (seq, id, sender, message_id, v, meta) VALUES ($1, $2, $3, $4, $5, $6)",
                    vec![
                        Box::new(seq),
                        Box::new(alert.id.clone()),
                        Box::new(sender),
                        Box::new(message),
                        Box::new(v),
                        Box::new(encode(&alert.meta())),
                    ],
                ),
                seq,
            )
        }
        "seen" => (
            (
                "INSERT INTO seen (k, v) VALUES ($1, $2)",
                vec![Box::new(k.to_vec()), Box::new(v)],
            ),
            0,
        ),
        "usage" => {
            let bytes = be_u64(tree, k, &v, "usage is not 8 bytes")?;
            (
                (
                    "INSERT INTO usage (peer, bytes) VALUES ($1, $2)",
                    vec![Box::new(text(tree, k)?), Box::new(bytes)],
                ),
                0,
            )
        }
        "ledger" => {
            let e: Entry = decode(k, &v)?;
            ((INSERT_ENTRY, entry_row(position(tree, k)?, &e, v)), 0)
        }
        "quarantine" | "quarantine_bodies" => {
            let seq = position(tree, k)?;
            let sql = if tree == "quarantine" {
                "INSERT INTO quarantine (seq, record) VALUES ($1, $2)"
            } else {
                "INSERT INTO quarantine_bodies (seq, body) VALUES ($1, $2)"
            };
            ((sql, vec![Box::new(seq), Box::new(v)]), seq)
        }
        "taxii_objects" => {
            let (collection, rest) = two(tree, k)?;
            let seq = position(tree, &rest)?;
            let o: TaxiiObject = decode(k, &v)?;
            (
                (
                    "INSERT INTO taxii_objects (collection, seq, id, version, date_added_us, v) VALUES ($1, $2, $3, $4, $5, $6)",
                    vec![
                        Box::new(collection),
                        Box::new(seq),
                        Box::new(o.id),
                        Box::new(o.version),
                        Box::new(o.date_added_us),
                        Box::new(v),
                    ],
                ),
                seq,
            )
        }
        "taxii_pulls" => {
            let (collection, message) = two(tree, k)?;
            let n = be_u64(tree, k, &v, "a pull count is not 8 bytes")?;
            (
                (
                    "INSERT INTO taxii_pulls (collection, message_id, n) VALUES ($1, $2, $3)",
                    vec![
                        Box::new(collection),
                        Box::new(text(tree, &message)?),
                        Box::new(n),
                    ],
                ),
                0,
            )
        }
        "taxii_status" => (
            (
                "INSERT INTO taxii_status (id, v) VALUES ($1, $2)",
                vec![Box::new(text(tree, k)?), Box::new(v)],
            ),
            0,
        ),
        "holdings" => {
            let (report, peer) = two(tree, k)?;
            (
                (
                    "INSERT INTO holdings (report_id, peer, v) VALUES ($1, $2, $3)",
                    vec![Box::new(report), Box::new(text(tree, &peer)?), Box::new(v)],
                ),
                0,
            )
        }
        other => {
            return Err(corrupt(
                tree,
                k,
                &format!("`{other}` is not a part of the store this release knows"),
            ))
        }
    })
}
