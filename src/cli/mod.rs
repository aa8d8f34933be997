//! The command line: parses arguments (clap), calls the library, prints. One file per
//! subcommand. Exit codes (DESIGN.md section 4): 0 success, 1 runtime failure, 2 usage error,
//! 3 invalid input, 4 withheld by policy.

mod client;
mod convert;
pub mod init;
mod ledger;
mod peer;
mod pseudonym;
mod report;
mod serve;
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
        Command::Ledger(c) => ledger::run(&cli, c),
        Command::Validate(a) => validate::run(a),
        Command::Convert(a) => convert::run(&cli, a),
        Command::Vocab(a) => vocab::run(a),
        Command::Pseudonym(a) => pseudonym::run(&cli, a),
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

/// The anonymization key of a named key domain: `federation`, or `peer:ID` / a configured
/// peer's id.
fn domain_key(config: Option<&Config>, domain: &str) -> Result<crate::anonymize::Key, Failure> {
    let Some(c) = config else {
        return Err(Failure::runtime(format!(
            "key domain `{domain}` needs a config with [anonymize] key files (or use --key-file)"
        )));
    };
    let known_peer = c.peers.keys().any(|p| p.as_str() == domain);
    if domain != "federation" && !domain.starts_with("peer:") && !known_peer {
        return Err(Failure::runtime(format!(
            "`{domain}` is not a key domain; use `federation`, `peer:ID`, or a configured peer's id"
        )));
    }
    match crate::keys::domain_key(c, domain) {
        Ok(Some(k)) => Ok(k),
        Ok(None) => Err(Failure::runtime(format!(
            "key domain `{domain}` needs [anonymize] {} in the config",
            if domain == "federation" {
                "federation_key_file"
            } else {
                "key_file"
            }
        ))),
        Err(e) => Err(Failure::runtime(e.to_string())),
    }
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
