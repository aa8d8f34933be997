//! `irtx report submit FILE [--share PEER,...]`: through the running gateway's API.

use std::path::PathBuf;

use serde_json::json;

use super::client::ApiClient;
use super::{read_input, Cli, Failure};

/// `irtx report ...`
#[derive(Debug, clap::Subcommand)]
pub enum ReportCommand {
    /// Submit a report to the running gateway, and optionally share it.
    Submit {
        /// The report (`-` for standard input).
        file: PathBuf,
        /// Share it with these peers (comma-separated).
        #[arg(long, value_delimiter = ',', value_name = "PEER,...")]
        share: Vec<String>,
    },
}

/// Runs `irtx report ...`.
pub fn run(cli: &Cli, cmd: &ReportCommand) -> Result<(), Failure> {
    let ReportCommand::Submit { file, share } = cmd;
    let bytes = read_input(file)?;
    let api = ApiClient::from_cli(cli)?;
    let (_, v) = api.call(reqwest::Method::POST, "/api/v1/reports", Some(bytes))?;
    let id = v["id"].as_str().unwrap_or_default().to_string();
    println!("submitted report `{id}`");
    if !share.is_empty() {
        let body = json!({"peers": share}).to_string().into_bytes();
        let (_, v) = api.call(
            reqwest::Method::POST,
            &format!("/api/v1/reports/{id}/share"),
            Some(body),
        )?;
        print_decisions(&v);
    }
    Ok(())
}

/// Prints a share's per-peer decisions (`{"decisions": [...]}`), with the fields removed.
pub fn print_decisions(v: &serde_json::Value) {
    for d in v["decisions"].as_array().into_iter().flatten() {
        let peer = d["peer"].as_str().unwrap_or("");
        match d["decision"].as_str() {
            Some("queued") => println!(
                "{peer}: queued as message {} (TLP:{})",
                d["message_id"].as_str().unwrap_or(""),
                d["marking"].as_str().unwrap_or("")
            ),
            Some("published") => println!(
                "{peer}: published to its TAXII collection for it to pull (TLP:{})",
                d["marking"].as_str().unwrap_or("")
            ),
            Some(other) => println!("{peer}: {other}: {}", d["reason"].as_str().unwrap_or("")),
            None => {}
        }
        for r in d["removed"].as_array().into_iter().flatten() {
            println!(
                "  removed {} (TLP:{}): {}",
                r["pointer"].as_str().unwrap_or(""),
                r["tlp"].as_str().unwrap_or(""),
                r["reason"].as_str().unwrap_or("")
            );
        }
    }
}
