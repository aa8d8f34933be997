//! A consistent snapshot of a sled store, taken while the gateway runs (writes wait while
//! it is read), and its restore into a new data directory (`irtx backup`, `irtx restore`).
//!
//! The format: the line `irtx-backup/1`, then for every record of every tree the tree's
//! name, the key and the value, each as a big-endian `u32` length and its bytes, after a tag
//! byte `1`; a tag byte `0` ends the records, followed by the SHA-256 of everything before
//! it. A restore checks the digest before it writes anything.

use std::io::{Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::sled_store::SledStore;
use super::{Result, StoreError};

const MAGIC: &[u8] = b"irtx-backup/1\n";

/// What a snapshot or a restore held.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Records by tree.
    pub records: std::collections::BTreeMap<String, u64>,
    /// Bytes of the snapshot.
    pub bytes: u64,
}

fn io(e: std::io::Error) -> StoreError {
    StoreError::Backend(Box::new(e))
}

fn corrupt(reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        key: "backup".into(),
        reason: reason.into(),
    }
}

/// Writes that also hash.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> Hashing<W> {
    fn put(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.hash.update(b);
        self.bytes += b.len() as u64;
        self.inner.write_all(b)
    }

    fn field(&mut self, b: &[u8]) -> std::io::Result<()> {
        let len = u32::try_from(b.len()).map_err(std::io::Error::other)?;
        self.put(&len.to_be_bytes())?;
        self.put(b)
    }
}

/// One record as a snapshot holds it: the sled tree it belongs to, its key and its value
/// (the PostgreSQL backend names its records the same way).
pub type Record = (String, Vec<u8>, Vec<u8>);

/// Writes `records` to `out` in the snapshot format, counting them by tree.
pub fn write(records: impl Iterator<Item = Result<Record>>, out: &mut dyn Write) -> Result<Stats> {
    let mut w = Hashing {
        inner: out,
        hash: Sha256::new(),
        bytes: 0,
    };
    let mut stats = Stats::default();
    w.put(MAGIC).map_err(io)?;
    for r in records {
        let (name, k, v) = r?;
        w.put(&[1]).map_err(io)?;
        w.field(name.as_bytes()).map_err(io)?;
        w.field(&k).map_err(io)?;
        w.field(&v).map_err(io)?;
        *stats.records.entry(name).or_default() += 1;
    }
    w.put(&[0]).map_err(io)?;
    let digest = w.hash.clone().finalize();
    w.inner.write_all(&digest).map_err(io)?;
    w.inner.flush().map_err(io)?;
    stats.bytes = w.bytes + 32;
    Ok(stats)
}

impl SledStore {
    /// Writes a consistent snapshot of every tree to `out`: writes wait while it is taken.
    pub fn snapshot(&self, out: &mut dyn Write) -> Result<Stats> {
        let _quiet = self.quiet();
        write(self.records(), out)
    }

    /// Every record of every tree, tree by tree (a consistent view only while writes are
    /// held back, as [`SledStore::snapshot`] does).
    pub fn records(&self) -> impl Iterator<Item = Result<Record>> + '_ {
        let backend = |e: sled::Error| StoreError::Backend(Box::new(e));
        self.db()
            .tree_names()
            .into_iter()
            .filter(|name| name.as_ref() != b"__sled__default")
            .flat_map(move |name| {
                let label = String::from_utf8_lossy(&name).into_owned();
                let tree = self.db().open_tree(&name).map_err(backend);
                let rows: Box<dyn Iterator<Item = Result<Record>>> = match tree {
                    // One object a record, whatever batches the store keeps them in.
                    Ok(tree) if name.as_ref() == b"taxii_objects" => {
                        Box::new(tree.iter().flat_map(move |kv| {
                            let split = kv
                                .map_err(backend)
                                .and_then(|(k, v)| super::records::taxii_object_records(&k, &v));
                            match split {
                                Ok(rows) => rows
                                    .into_iter()
                                    .map(|(k, v)| Ok((label.clone(), k, v)))
                                    .collect(),
                                Err(e) => vec![Err(e)],
                            }
                        }))
                    }
                    Ok(tree) => Box::new(tree.iter().map(move |kv| {
                        let (k, v) = kv.map_err(backend)?;
                        Ok((label.clone(), k.to_vec(), v.to_vec()))
                    })),
                    Err(e) => Box::new(std::iter::once(Err(e))),
                };
                rows
            })
    }

    /// Restores the snapshot in `file` into a new store at `dir` (which must not hold one),
    /// after checking the whole snapshot's digest. Reads the file twice (once to check it,
    /// once to write it), never whole into memory.
    pub fn restore(dir: &Path, file: &Path) -> Result<(SledStore, Stats)> {
        if dir.join("db").exists() || dir.join("conf").exists() {
            return Err(corrupt(format!(
                "`{}` holds a store already; restore into an empty directory",
                dir.display()
            )));
        }
        let len = std::fs::metadata(file).map_err(io)?.len();
        if len < (MAGIC.len() + 33) as u64 {
            return Err(corrupt("not an irtx backup (irtx-backup/1)"));
        }
        let open = || -> Result<std::io::BufReader<std::fs::File>> {
            Ok(std::io::BufReader::new(
                std::fs::File::open(file).map_err(io)?,
            ))
        };
        // Pass 1: the digest.
        let mut r = open()?.take(len - 32);
        let mut hash = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = r.read(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
        }
        let mut digest = [0u8; 32];
        r.into_inner().read_exact(&mut digest).map_err(io)?;
        if hash.finalize().as_slice() != digest {
            return Err(corrupt(
                "the backup's digest does not match: it is damaged or cut short",
            ));
        }
        // Pass 2: the records.
        let mut r = open()?.take(len - 32);
        let mut magic = vec![0u8; MAGIC.len()];
        r.read_exact(&mut magic).map_err(io)?;
        if magic != MAGIC {
            return Err(corrupt("not an irtx backup (irtx-backup/1)"));
        }
        let store = SledStore::open(dir)?;
        let mut stats = Stats {
            bytes: len,
            ..Stats::default()
        };
        let field = |r: &mut dyn Read| -> Result<Vec<u8>> {
            let mut n = [0u8; 4];
            r.read_exact(&mut n)
                .map_err(|_| corrupt("a record is cut short"))?;
            let mut v = vec![0u8; u32::from_be_bytes(n) as usize];
            r.read_exact(&mut v)
                .map_err(|_| corrupt("a record is cut short"))?;
            Ok(v)
        };
        let backend = |e: sled::Error| StoreError::Backend(Box::new(e));
        let mut highest = 0u64;
        loop {
            let mut tag = [0u8; 1];
            r.read_exact(&mut tag)
                .map_err(|_| corrupt("no end marker"))?;
            match tag[0] {
                0 => break,
                1 => {
                    let name = field(&mut r)?;
                    let key = field(&mut r)?;
                    let value = field(&mut r)?;
                    // Sequence-numbered keys: the id generator must start past them.
                    if let Ok(seq) = <[u8; 8]>::try_from(key.as_slice()) {
                        highest = highest.max(u64::from_be_bytes(seq));
                    }
                    let tree = store.db().open_tree(&name).map_err(backend)?;
                    tree.insert(key, value).map_err(backend)?;
                    *stats
                        .records
                        .entry(String::from_utf8_lossy(&name).into_owned())
                        .or_default() += 1;
                }
                t => return Err(corrupt(format!("unknown record tag {t}"))),
            }
        }
        while store.db().generate_id().map_err(backend)? <= highest {}
        store.db().flush().map_err(backend)?;
        // The TAXII objects were written around the store's publish, which keeps track of
        // what each collection holds.
        store.learn_taxii_index()?;
        Ok((store, stats))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store as _;

    #[test]
    fn a_snapshot_restores_to_the_same_state_and_a_damaged_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let s = SledStore::open(&dir.path().join("a")).unwrap();
        crate::store::conformance::suite(&s);
        let mut snap = Vec::new();
        let taken = s.snapshot(&mut snap).unwrap();
        assert!(taken.records["ledger"] > 0);
        let file = dir.path().join("backup");
        std::fs::write(&file, &snap).unwrap();
        let (r, restored) = SledStore::restore(&dir.path().join("b"), &file).unwrap();
        assert_eq!(restored.records, taken.records);
        // The TAXII objects travel one a record (as the PostgreSQL store loads them), and
        // the restored collections hold what the store's batches held.
        let objects: Vec<Record> = s
            .records()
            .map(|r| r.unwrap())
            .filter(|(tree, _, _)| tree == "taxii_objects")
            .collect();
        assert_eq!(objects.len() as u64, taken.records["taxii_objects"]);
        for (_, k, v) in &objects {
            let o: crate::store::TaxiiObject = super::super::records::decode(k, v).unwrap();
            assert_eq!(
                r.taxii_versions("cert-b", &o.id).unwrap(),
                s.taxii_versions("cert-b", &o.id).unwrap()
            );
        }
        for c in ["cert-b", "cert-bb", "cert-v"] {
            let page = s.taxii_page(c, 0, 100).unwrap();
            assert!(!page.is_empty(), "{c}");
            assert_eq!(r.taxii_page(c, 0, 100).unwrap(), page);
        }
        assert_eq!(r.alert_count().unwrap(), s.alert_count().unwrap());
        let entries = |st: &SledStore| st.ledger_entries().map(|e| e.unwrap()).collect::<Vec<_>>();
        assert_eq!(entries(&r), entries(&s));
        // New records do not collide with restored ones.
        let before = r.outbox_page(None, 100).unwrap().len();
        r.quarantine(&serde_json::json!({"n": 2}), b"x").unwrap();
        assert_eq!(r.quarantine_page(None, 10).unwrap().len(), 2);
        assert_eq!(r.outbox_page(None, 100).unwrap().len(), before);
        // What the restored TAXII collections hold is known: publishing it again adds nothing.
        let mut again: Vec<_> = r
            .taxii_page("cert-b", 0, 100)
            .unwrap()
            .into_iter()
            .map(|(_, o)| o)
            .collect();
        assert!(!again.is_empty());
        assert_eq!(
            r.taxii_publish("cert-b", 1, &mut again, None, None)
                .unwrap(),
            0
        );
        // Damaged: refused, nothing written.
        let mut bad = snap.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 1;
        let damaged = dir.path().join("damaged");
        std::fs::write(&damaged, &bad).unwrap();
        let target = dir.path().join("c");
        assert!(SledStore::restore(&target, &damaged).is_err());
        assert!(!target.join("db").exists());
        let cut = dir.path().join("cut");
        std::fs::write(&cut, &snap[..snap.len() - 100]).unwrap();
        assert!(SledStore::restore(&target, &cut).is_err());
        // Into an existing store: refused.
        assert!(SledStore::restore(&dir.path().join("a"), &file).is_err());
    }
}
