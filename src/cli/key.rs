//! `irtx key rotate [--overlap DURATION]`: a new team key (DESIGN.md section 11), through
//! the running gateway (which signs with it at once) or on the stopped gateway's files.

use std::time::Duration;

use serde_json::json;

use super::state::State;
use super::{Cli, Failure};

/// `irtx key ...`
#[derive(Debug, clap::Subcommand)]
pub enum KeyCommand {
    /// Make a new team key. Peers learn it from the signed key document at
    /// /.well-known/irtx/keys the next time they see it used; the old key stays valid for
    /// the overlap, then peers refuse it.
    Rotate {
        /// How long peers keep accepting the old key (`7d`, `12h`, `30m`).
        #[arg(long, default_value = "7d", value_parser = humantime::parse_duration)]
        overlap: Duration,
    },
}

/// Runs `irtx key ...`.
pub fn run(cli: &Cli, cmd: &KeyCommand) -> Result<(), Failure> {
    let KeyCommand::Rotate { overlap } = cmd;
    let state = State::open(cli, super::require_config(cli)?)?;
    let out = match &state {
        State::Remote { api, .. } => {
            let body = json!({"overlap_s": overlap.as_secs()})
                .to_string()
                .into_bytes();
            api.call(reqwest::Method::POST, "/api/v1/keys/rotate", Some(body))?
                .1
        }
        State::Local { config, store } => {
            let mut opened = None;
            let store = super::state::writable(store, config, &mut opened)?;
            let overlap = time::Duration::try_from(*overlap)
                .map_err(|e| Failure::runtime(format!("--overlap: {e}")))?;
            let (_, rotated) = crate::keys::rotate(
                store,
                &config.path(&config.team.key_file),
                &config.team.id,
                overlap,
                time::OffsetDateTime::now_utc(),
            )
            .map_err(|e| Failure::runtime(e.to_string()))?;
            json!(rotated)
        }
    };
    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    Ok(())
}
