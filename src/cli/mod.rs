//! The command line: parses arguments (clap), calls the library, prints. One file per
//! subcommand. Exit codes (DESIGN.md section 4): 0 success, 1 runtime failure, 2 usage error,
//! 3 invalid input, 4 withheld by policy.

mod alert;
mod backup;
mod client;
mod convert;
mod import;
pub mod init;
mod key;
mod ledger;
mod migrate;
mod peer;
mod pseudonym;
mod report;
mod serve;
mod state;
mod validate;
mod vocab;

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{self, Config};
use crate::team::Team;

/// irtx: exchange incident reports between response teams (ISO/IEC 27035, STIX 2.1, IODEF v2,
/// TLP 2.0).
#[derive(Debug, Parser)]
#[command(name = "irtx", version, about, long_about = None)]
#[command(
    after_help = "Exit codes: 0 success, 1 runtime failure, 2 usage error, 3 invalid input, 4 withheld by policy.\nEvery setting can also be given as an environment variable: IRTX_SECTION__FIELD for one in a section (IRTX_TEAM__ID=cert-a), IRTX_LISTEN and IRTX_DATA_DIR for the top-level ones."
)]
pub struct Cli {
    /// Config file.
    #[arg(long, global = true, value_name = "C", default_value = config::DEFAULT_PATH)]
    pub config: PathBuf,
    /// The running gateway's base URL, for commands that go through it (default: the
    /// config's `[api] url`, else `http://<listen>`).
    #[arg(long, global = true, value_name = "URL", env = "IRTX_GATEWAY")]
    pub gateway: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make a new gateway: irtx.toml, the team's Ed25519 key, an analyst token and
    /// anonymization keys (each mode 0600), and the data directory. Prints the team id, key
    /// id, public JWK and analyst token as JSON.
    Init(init::Args),
    /// Run the gateway (embedded store; nothing else to install). Logs the address.
    Serve(serve::Args),
    /// Manage the running gateway's peers.
    #[command(subcommand)]
    Peer(peer::PeerCommand),
    /// Submit reports to the running gateway.
    #[command(subcommand)]
    Report(report::ReportCommand),
    /// Import STIX 2.1 bundles and MISP events written by other tools, with their markings.
    ///
    /// Each document becomes an alert (a duplicate of one imported before is recognised by
    /// its content), is quarantined when a marking is not exactly TLP, or is refused with
    /// where and why. Exit 0 only when nothing was refused.
    Import(import::Args),
    /// Alerts received from peers or imported; onward sharing.
    #[command(subcommand)]
    Alert(alert::AlertCommand),
    /// The team's signing key.
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Write a consistent snapshot of the gateway's store (while it runs, or stopped).
    Backup(backup::BackupArgs),
    /// Restore a snapshot into a new data directory.
    Restore(backup::RestoreArgs),
    /// Move the team's whole state from the embedded store into an empty PostgreSQL
    /// database, then check the copy (records counted on both sides, the ledger verified on
    /// both).
    ///
    /// Stop the gateway first. Afterwards, set `[store] backend = "postgres"` and `url` in
    /// the config of every gateway of the team.
    Migrate(migrate::Args),
    /// The disclosure ledger: what was disclosed to whom, provably.
    #[command(subcommand)]
    Ledger(ledger::LedgerCommand),
    /// Validate reports, STIX 2.1 bundles or IODEF v2 JSON documents (detected per file).
    ///
    /// Prints `FILE: ok (...)` for each valid file and `FILE: /json/pointer: reason` for every
    /// problem. `-` reads standard input. Exit 3 when any file is invalid.
    Validate(validate::Args),
    /// Convert one report to a STIX 2.1 bundle or an IODEF v2 document on standard output.
    ///
    /// Offline: no server needed. The team that writes the document comes from the config
    /// (`[team]`), or from IRTX_TEAM__ID; without either, a placeholder team `local` is used
    /// and a note says so.
    Convert(convert::Args),
    /// Print the pseudonym each value gets: IP addresses by Crypto-PAn, everything else by
    /// keyed HMAC-SHA256, one per line.
    ///
    /// So an analyst can look up what a peer saw, and anyone can check the anonymizer. The
    /// value's type is detected: IPv4/IPv6 address, CIDR network, e-mail address, URL, MAC
    /// address, MD5/SHA digest, AS number, host name, phone number; anything else is taken as a
    /// user name.
    Pseudonym(pseudonym::Args),
    /// Print this team's id, key id and public JWK: what peers need to add it.
    Identity,
    /// Print the vocabulary mapping: report categories, severities and statuses to STIX 2.1
    /// and IODEF v2 and back (ISO/IEC 27035-2 6.2).
    Vocab(vocab::Args),
}

/// A failed command: the exit code and, if not already printed, what to say.
#[derive(Debug)]
pub struct Failure {
    /// Exit code (1 runtime, 3 invalid input, 4 withheld).
    pub code: u8,
    /// Message for standard error.
    pub message: Option<String>,
}

impl Failure {
    /// A runtime failure (exit 1) with its message.
    pub fn runtime(message: impl Into<String>) -> Self {
        Failure {
            code: 1,
            message: Some(message.into()),
        }
    }

    /// Invalid input (exit 3), already reported.
    pub fn invalid() -> Self {
        Failure {
            code: 3,
            message: None,
        }
    }
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    let result = match &cli.command {
        Command::Init(a) => init::run(a),
        Command::Serve(a) => serve::run(&cli, a),
        Command::Peer(c) => peer::run(&cli, c),
        Command::Report(c) => report::run(&cli, c),
        Command::Import(a) => import::run(&cli, a),
        Command::Alert(c) => alert::run(&cli, c),
        Command::Ledger(c) => ledger::run(&cli, c),
        Command::Key(c) => key::run(&cli, c),
        Command::Backup(a) => backup::backup(&cli, a),
        Command::Restore(a) => backup::restore(a),
        Command::Migrate(a) => migrate::run(&cli, a),
        Command::Validate(a) => validate::run(a),
        Command::Convert(a) => convert::run(&cli, a),
        Command::Vocab(a) => vocab::run(a),
        Command::Pseudonym(a) => pseudonym::run(&cli, a),
        Command::Identity => identity(&cli),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if let Some(m) = f.message {
                eprintln!("irtx: {m}");
            }
            ExitCode::from(f.code)
        }
    }
}

/// A progress bar on standard error for long work (`len` steps of `unit`), drawn only when
/// standard error is a terminal: logs and pipes get none.
fn progress(len: u64, unit: &str) -> indicatif::ProgressBar {
    use std::io::IsTerminal as _;
    let bar = indicatif::ProgressBar::new(len);
    bar.set_draw_target(if std::io::stderr().is_terminal() {
        indicatif::ProgressDrawTarget::stderr()
    } else {
        indicatif::ProgressDrawTarget::hidden()
    });
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{bar:40}} {{pos}}/{{len}} {unit}  {{wide_msg}}"
        ))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// A write to standard output failed because the reader went away (`irtx ... | head`):
/// not an error, the command just stops.
fn quiet_if_closed(e: std::io::Error) -> Failure {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Failure {
            code: 0,
            message: None,
        }
    } else {
        Failure::runtime(e.to_string())
    }
}

/// Reads a file, or standard input for `-`.
fn read_input(path: &Path) -> Result<Vec<u8>, Failure> {
    if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| Failure::runtime(format!("cannot read standard input: {e}")))?;
        Ok(buf)
    } else {
        std::fs::read(path)
            .map_err(|e| Failure::runtime(format!("cannot read `{}`: {e}", path.display())))
    }
}

/// The config, if there is one: the file given with `--config`, or `./irtx.toml` when it
/// exists, or `IRTX_*` settings alone. `None` when there is none of these.
fn load_config(cli: &Cli) -> Result<Option<Config>, Failure> {
    let env: Vec<(String, String)> = std::env::vars().collect();
    let default = cli.config == Path::new(config::DEFAULT_PATH);
    if default && !cli.config.exists() {
        if env.iter().any(|(k, _)| k == "IRTX_TEAM__ID") {
            return Config::from_toml("", &cli.config, env)
                .map(Some)
                .map_err(|e| Failure::runtime(e.to_string()));
        }
        return Ok(None);
    }
    Config::load(&cli.config, env)
        .map(Some)
        .map_err(|e| Failure::runtime(e.to_string()))
}

/// The team from the config. Without one, a placeholder team, with a note on standard error.
fn team_of(config: Option<&Config>) -> Team {
    match config {
        Some(c) => c.team(),
        None => {
            eprintln!(
                "irtx: note: no {} here and no IRTX_TEAM__ID; writing as placeholder team `local` (set [team] in a config, or IRTX_TEAM__ID)",
                config::DEFAULT_PATH
            );
            let id = "local".parse().expect("`local` is a team id");
            Team::new(id, "local irtx team")
        }
    }
}

/// The config `--config` names, which must exist.
fn require_config(cli: &Cli) -> Result<Config, Failure> {
    let env: Vec<(String, String)> = std::env::vars().collect();
    Config::load(&cli.config, env).map_err(|e| {
        Failure::runtime(format!(
            "{e}\n(run `irtx init --team-id ID` to make a config, or give --config)"
        ))
    })
}

/// The anonymization key of a key domain: `federation`, `peer:ID`, or a peer's id (that
/// peer's own key domain, so the pseudonyms are the ones it received).
fn domain_key(cli: &Cli, domain: &str) -> Result<crate::anonymize::Key, Failure> {
    let c = require_config(cli)?;
    let ring = c.key_ring().map_err(|e| Failure::runtime(e.to_string()))?;
    let label = if domain == "federation" || domain.starts_with("peer:") {
        domain.to_string()
    } else {
        let id: crate::peer::PeerId = domain.parse().map_err(|_| Failure {
            code: 2,
            message: Some(format!(
                "`{domain}` is not a key domain; use `federation`, `peer:ID`, or a peer's id"
            )),
        })?;
        let peer = state::State::open(cli, c.clone())?.peer(&id)?;
        peer.key_domain.label(&peer.id)
    };
    ring.named(&label).ok_or_else(|| {
        Failure::runtime(format!(
            "key domain `{label}` needs [anonymize] {} in the config",
            if label == "federation" {
                "federation_key_file"
            } else {
                "key_file"
            }
        ))
    })
}

/// The team's signing key, from the file the config names.
fn team_key(c: &Config) -> Result<crate::keys::TeamKey, Failure> {
    crate::keys::TeamKey::load(&c.path(&c.team.key_file))
        .map_err(|e| Failure::runtime(e.to_string()))
}

/// `irtx identity`: what peers need to add this team.
fn identity(cli: &Cli) -> Result<(), Failure> {
    let c = require_config(cli)?;
    let key = team_key(&c)?;
    let out = serde_json::json!({
        "team_id": c.team.id.as_str(),
        "name": c.team().name,
        "kid": key.kid(),
        "public_jwk": crate::envelope::public_jwk(&key.0.verifying_key()),
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }
}
