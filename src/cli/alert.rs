//! `irtx alert list` and `irtx alert share ID --peer P,...`: received and imported alerts,
//! and onward sharing under TLP's audience rules (DESIGN.md sections 5 and 9), through the
//! running gateway's API.

use serde_json::json;

use super::client::ApiClient;
use super::{Cli, Failure};

/// `irtx alert ...`
#[derive(Debug, clap::Subcommand)]
pub enum AlertCommand {
    /// List alerts (received from peers or imported), oldest first.
    List {
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Share a received or imported alert onward. The TLP audience rules decide per peer
    /// (with the source's recorded permission for service providers), the peer's profile
    /// applies, and the ledger records each decision with the alert's source.
    Share {
        /// The alert's id.
        id: String,
        /// The peers (comma-separated).
        #[arg(
            long = "peer",
            required = true,
            value_delimiter = ',',
            value_name = "PEER,..."
        )]
        peers: Vec<String>,
        #[command(flatten)]
        wait: super::report::Wait,
    },
}

/// Runs `irtx alert ...`.
pub fn run(cli: &Cli, cmd: &AlertCommand) -> Result<(), Failure> {
    let api = ApiClient::from_cli(cli)?;
    match cmd {
        AlertCommand::List { limit } => {
            let (_, v) = api.call(
                reqwest::Method::GET,
                &format!("/api/v1/alerts?limit={limit}"),
                None,
            )?;
            // The API answers a page: a JSON array, oldest first.
            for a in v.as_array().into_iter().flatten() {
                let from = a["sender"]
                    .as_str()
                    .map(str::to_string)
                    .or_else(|| a["import"]["file"].as_str().map(|f| format!("import {f}")))
                    .or_else(|| a["taxii"]["peer"].as_str().map(|p| format!("TAXII {p}")))
                    .unwrap_or_default();
                println!(
                    "{}  TLP:{:<12} {:<10} {}  {}",
                    a["id"].as_str().unwrap_or(""),
                    a["tlp"].as_str().unwrap_or(""),
                    a["format"].as_str().unwrap_or(""),
                    from,
                    a["title"].as_str().unwrap_or("")
                );
            }
        }
        AlertCommand::Share { id, peers, wait } => {
            let body = json!({ "peers": peers }).to_string().into_bytes();
            let (_, v) = api.call(
                reqwest::Method::POST,
                &format!("/api/v1/alerts/{id}/share"),
                Some(body),
            )?;
            super::report::print_decisions(&v)?;
            wait.for_delivery(&api, &v)?;
        }
    }
    Ok(())
}
