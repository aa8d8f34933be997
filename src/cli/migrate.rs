//! `irtx migrate --from sled:DIR --to postgres:URL`: moves a team's whole state from the
//! embedded store into an empty PostgreSQL database (DESIGN §12), in one transaction, then
//! proves the copy: the records of every kind counted on both sides, and the ledger verified
//! on both with the team's keys.

use std::path::PathBuf;

use super::{Cli, Failure};
use crate::store::postgres_store::{redacted, Connect, PgStore, TABLES};
use crate::store::sled_store::SledStore;
use crate::store::StoreError;

/// Arguments of `irtx migrate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The store to read: `sled:DIR`, DIR being the data directory (or the store in it).
    /// The gateway using it must be stopped.
    #[arg(long, value_name = "sled:DIR")]
    pub from: String,
    /// The empty database to fill: `postgres:postgres://USER@HOST:PORT/DB`.
    #[arg(long, value_name = "postgres:URL")]
    pub to: String,
    /// A file (mode 0600) holding the database password, when the URL has none.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// CA certificates (PEM) for the database's TLS certificate (with `?sslmode=require` in
    /// the URL); default: the public web CAs.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
}

/// The sled store a `sled:DIR` names: DIR's `store`, or DIR itself.
fn sled_dir(from: &str) -> Result<PathBuf, Failure> {
    let dir = from.strip_prefix("sled:").ok_or_else(|| {
        Failure::runtime(format!(
            "--from `{from}`: give `sled:DIR` (the data directory of the gateway)"
        ))
    })?;
    let dir = PathBuf::from(dir);
    let store = dir.join("store");
    let found = if store.join("db").exists() {
        store
    } else if dir.join("db").exists() {
        dir
    } else {
        return Err(Failure::runtime(format!(
            "--from: no sled store in `{}` (nor in its `store`)",
            dir.display()
        )));
    };
    Ok(found)
}

fn postgres_url(to: &str) -> Result<String, Failure> {
    let url = to.strip_prefix("postgres:").unwrap_or(to);
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(url.to_string())
    } else {
        Err(Failure::runtime(
            "--to: give `postgres:postgres://USER@HOST:PORT/DB`",
        ))
    }
}

/// Runs `irtx migrate`.
pub fn run(cli: &Cli, args: &Args) -> Result<(), Failure> {
    let config = super::require_config(cli)?;
    let fail = |e: StoreError| Failure::runtime(e.to_string());
    let dir = sled_dir(&args.from)?;
    let url = postgres_url(&args.to)?;
    let password = match &args.password_file {
        Some(f) => Some(
            crate::keys::read_secret_text(f)
                .map_err(|e| Failure::runtime(format!("--password-file `{}`: {e}", f.display())))?,
        ),
        None => None,
    };
    let sled = SledStore::open_with_cache(&dir, 64 << 20).map_err(|e| match e {
        StoreError::Locked { .. } => Failure::runtime(format!(
            "the store in `{}` is in use: stop `irtx serve` before migrating it",
            dir.display()
        )),
        e => fail(e),
    })?;
    let pg = PgStore::open(&Connect {
        url: url.clone(),
        password,
        ca_file: args.ca_file.clone(),
        pool_size: 2,
        lease_ms: config.store.lease_ms,
    })
    .map_err(fail)?;
    let keys = crate::ledger::team_keys(&sled, super::team_key(&config)?.0.verifying_key())
        .map_err(fail)?;
    let before = crate::ledger::verify_store(&sled, &keys).map_err(|e| {
        Failure::runtime(format!(
            "the sled store's ledger does not verify, so it is not migrated: {e}"
        ))
    })?;
    eprintln!(
        "migrating `{}` to `{}` (ledger: {} entries verified)",
        dir.display(),
        redacted(&url),
        before.entries
    );
    let bar = super::progress(0, "records");
    bar.set_length(u64::MAX);
    let loaded = pg
        .load(sled.records(), |n| bar.set_position(n))
        .map_err(fail)?;
    bar.finish_and_clear();
    let counts = pg.counts().map_err(fail)?;
    let mut differ = Vec::new();
    for t in TABLES {
        let (from, to) = (
            loaded.records.get(*t).copied().unwrap_or(0),
            counts.get(*t).copied().unwrap_or(0),
        );
        println!("{t:<18} sled {from:>10}  postgres {to:>10}");
        if from != to {
            differ.push(*t);
        }
    }
    let after = crate::ledger::verify_store(&pg, &keys)
        .map_err(|e| Failure::runtime(format!("the migrated ledger does not verify: {e}")))?;
    if !differ.is_empty() || after.head != before.head || after.entries != before.entries {
        return Err(Failure::runtime(format!(
            "the copy differs from the store: {} (ledger head {} vs {})",
            differ.join(", "),
            before.head,
            after.head
        )));
    }
    println!(
        "ledger verified on both: {} entries, {} checkpoints, head {}",
        after.entries, after.checkpoints, after.head
    );
    println!(
        "done. To serve from it, set in the config:\n[store]\nbackend = \"postgres\"\nurl = \"{}\"",
        redacted(&url)
    );
    Ok(())
}
