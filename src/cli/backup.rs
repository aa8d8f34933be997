//! `irtx backup --out FILE` and `irtx restore FILE --dir DIR`: a consistent snapshot of the
//! gateway's store, taken while it runs (through its API) or from the stopped store, and its
//! restore into a new data directory. The keys and the config are files beside the data
//! directory: back them up apart (they are secrets; a snapshot holds none).

use std::io::Write as _;
use std::path::PathBuf;

use super::state::State;
use super::{Cli, Failure};
use crate::store::sled_store::SledStore;

/// Arguments of `irtx backup`.
#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// Where to write the snapshot (mode 0600).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// Arguments of `irtx restore`.
#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// The snapshot `irtx backup` wrote.
    pub file: PathBuf,
    /// The data directory to restore into (made, mode 0700; it must hold no store).
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
}

/// Runs `irtx backup`.
pub fn backup(cli: &Cli, args: &BackupArgs) -> Result<(), Failure> {
    let state = State::open(cli, super::require_config(cli)?)?;
    let io = |e: std::io::Error| Failure::runtime(format!("`{}`: {e}", args.out.display()));
    let mut out = std::io::BufWriter::new(crate::keys::create_private_file(&args.out).map_err(io)?);
    let bytes = match &state {
        State::Remote { api, .. } => api.download("/api/v1/backup", &mut out)?,
        State::Local {
            store: Some(store), ..
        } => {
            store
                .snapshot(&mut out)
                .map_err(|e| Failure::runtime(e.to_string()))?
                .bytes
        }
        State::Local {
            store: None,
            config,
        } => {
            return Err(Failure::runtime(format!(
                "no store at `{}`",
                config.store_dir().display()
            )))
        }
    };
    out.flush().map_err(io)?;
    eprintln!("backup written to `{}` ({bytes} bytes)", args.out.display());
    Ok(())
}

/// Runs `irtx restore`.
pub fn restore(args: &RestoreArgs) -> Result<(), Failure> {
    crate::keys::create_private_dir(&args.dir)
        .map_err(|e| Failure::runtime(format!("`{}`: {e}", args.dir.display())))?;
    let (_, stats) =
        SledStore::restore(&args.dir.join("store"), &args.file).map_err(|e| Failure {
            code: 3,
            message: Some(format!("`{}`: {e}", args.file.display())),
        })?;
    let total: u64 = stats.records.values().sum();
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "restored_into": args.dir.join("store"),
            "records": total,
            "by_tree": stats.records,
        }))
        .unwrap_or_default()
    );
    Ok(())
}
