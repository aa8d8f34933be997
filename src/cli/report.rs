//! `irtx report submit|share|update|retract|holders`: through the running gateway's API.

use std::path::PathBuf;

use serde_json::json;

use super::client::ApiClient;
use super::{read_input, Cli, Failure};
use crate::store::DeliveryState;

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
        #[command(flatten)]
        wait: Wait,
    },
    /// Share a stored report with peers. A peer that already holds this version gets
    /// nothing (the answer says so) unless --resend.
    Share {
        /// The report's id.
        id: String,
        /// The peers (comma-separated).
        #[arg(
            long = "peer",
            value_delimiter = ',',
            value_name = "PEER,...",
            required = true
        )]
        peers: Vec<String>,
        /// Send even to peers that hold this version already.
        #[arg(long)]
        resend: bool,
        #[command(flatten)]
        wait: Wait,
    },
    /// Store a new version of a report (same id, higher `version`, later `updated_at`):
    /// every peer holding an earlier version gets the new one where it still may, and a
    /// retraction where it may not.
    Update {
        /// The report (`-` for standard input).
        file: PathBuf,
        #[command(flatten)]
        wait: Wait,
    },
    /// Take a report back from every peer that holds it: a signed retraction to each,
    /// which the peer applies to its onward copies in turn.
    Retract {
        /// The report's id.
        id: String,
        /// Why (sent to the peers and kept in the ledgers).
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        wait: Wait,
    },
    /// Who holds which version of a report, in which form and state.
    Holders {
        /// The report's id.
        id: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// `--wait SECONDS` on what queues messages: a share (of a report or an alert), an update,
/// a retraction.
#[derive(Debug, clap::Args)]
pub struct Wait {
    /// Wait up to SECONDS for each message queued (a share, a new version, a retraction)
    /// to be delivered, and print the peer's receipt; exit 1 when one is not delivered by
    /// then (still queued or failing, refused, dead-lettered). Without it, the command
    /// returns once the messages are queued.
    #[arg(long = "wait", value_name = "SECONDS")]
    seconds: Option<u64>,
}

/// Runs `irtx report ...`.
pub fn run(cli: &Cli, cmd: &ReportCommand) -> Result<(), Failure> {
    let api = ApiClient::from_cli(cli)?;
    match cmd {
        ReportCommand::Submit { file, share, wait } => {
            if wait.seconds.is_some() && share.is_empty() {
                return Err(Failure {
                    code: 2,
                    message: Some(
                        "--wait waits for the messages of --share: name the peers to share with"
                            .into(),
                    ),
                });
            }
            let bytes = read_input(file)?;
            let (_, v) = api.call(reqwest::Method::POST, "/api/v1/reports", Some(bytes))?;
            let id = v["id"].as_str().unwrap_or_default().to_string();
            println!("submitted report `{id}`");
            if !share.is_empty() {
                share_report(&api, &id, share, false, wait)?;
            }
        }
        ReportCommand::Share {
            id,
            peers,
            resend,
            wait,
        } => share_report(&api, id, peers, *resend, wait)?,
        ReportCommand::Update { file, wait } => {
            let bytes = read_input(file)?;
            let report: serde_json::Value =
                serde_json::from_slice(&bytes).map_err(|e| Failure {
                    code: 3,
                    message: Some(format!("{}: not valid JSON: {e}", file.display())),
                })?;
            let Some(id) = report["id"].as_str() else {
                return Err(Failure {
                    code: 3,
                    message: Some(format!(
                        "{}: /id: an update names the report it updates",
                        file.display()
                    )),
                });
            };
            let path = format!("/api/v1/reports/{id}");
            let (_, v) = api.call(reqwest::Method::PUT, &path, Some(bytes.clone()))?;
            println!(
                "report `{id}` is now at version {}",
                report["version"].as_u64().unwrap_or(1)
            );
            print_decisions(&v)?;
            wait.for_delivery(&api, &v)?;
        }
        ReportCommand::Retract { id, reason, wait } => {
            let body = json!({ "reason": reason }).to_string().into_bytes();
            let (_, v) = api.call(
                reqwest::Method::POST,
                &format!("/api/v1/reports/{id}/retract"),
                Some(body),
            )?;
            print_decisions(&v)?;
            wait.for_delivery(&api, &v)?;
        }
        ReportCommand::Holders { id, json } => {
            let (_, v) = api.call(
                reqwest::Method::GET,
                &format!("/api/v1/reports/{id}/holders"),
                None,
            )?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            } else {
                println!(
                    "{:<20} {:>7}  {:<9} {:<8}  {:<36}  since",
                    "peer", "version", "form", "state", "message"
                );
                for h in v["holders"].as_array().into_iter().flatten() {
                    println!(
                        "{:<20} {:>7}  {:<9} {:<8}  {:<36}  {}{}",
                        h["peer"].as_str().unwrap_or(""),
                        h["version"].as_u64().unwrap_or(0),
                        h["format"].as_str().unwrap_or(""),
                        h["state"].as_str().unwrap_or(""),
                        h["message_id"].as_str().unwrap_or(""),
                        h["at"].as_str().unwrap_or(""),
                        h["reason"]
                            .as_str()
                            .map(|r| format!("\n    {r}"))
                            .unwrap_or_default()
                    );
                }
            }
        }
    }
    Ok(())
}

fn share_report(
    api: &ApiClient,
    id: &str,
    peers: &[String],
    resend: bool,
    wait: &Wait,
) -> Result<(), Failure> {
    let body = json!({"peers": peers, "resend": resend})
        .to_string()
        .into_bytes();
    let (_, v) = api.call(
        reqwest::Method::POST,
        &format!("/api/v1/reports/{id}/share"),
        Some(body),
    )?;
    print_decisions(&v)?;
    wait.for_delivery(api, &v)
}

impl Wait {
    /// With `--wait`, waits for the messages a share's `decisions` queued (see
    /// [`wait_for_delivery`]); without it, nothing to do.
    pub fn for_delivery(
        &self,
        api: &ApiClient,
        decisions: &serde_json::Value,
    ) -> Result<(), Failure> {
        match self.seconds {
            Some(seconds) => wait_for_delivery(api, decisions, seconds),
            None => Ok(()),
        }
    }
}

/// Waits for each message a share queued to be delivered, at most `seconds` in all, and
/// prints where each stands; an error names those not delivered.
fn wait_for_delivery(
    api: &ApiClient,
    decisions: &serde_json::Value,
    seconds: u64,
) -> Result<(), Failure> {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    let mut undelivered = Vec::new();
    let queued = decisions["decisions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| matches!(d["decision"].as_str(), Some("queued" | "retracted")));
    for d in queued {
        let (peer, message) = (
            d["peer"].as_str().unwrap_or(""),
            d["message_id"].as_str().unwrap_or(""),
        );
        // In steps the server allows, each well within the client's timeout.
        let m = loop {
            let left = until.saturating_duration_since(std::time::Instant::now());
            let step = left.as_secs().min(30);
            let (_, m) = api.call(
                reqwest::Method::GET,
                &format!("/api/v1/messages/{message}/delivery?wait={step}"),
                None,
            )?;
            if !outbox_state(&m).is_some_and(DeliveryState::is_pending) || step == left.as_secs() {
                break m;
            }
        };
        let state = m["state"].as_str().unwrap_or("unknown");
        let receipt = &m["receipt"];
        if state != "delivered" && outbox_state(&m).is_none() {
            // Never queued: a retraction a pull-only peer reads from its collection.
            println!("{peer}: {state}; no message to deliver");
        } else if state == "delivered" {
            println!(
                "{peer}: delivered, receipt {} ({})",
                receipt["status"].as_str().unwrap_or("unknown"),
                if receipt["verified"] == true {
                    "signature verified"
                } else if receipt.is_null() {
                    "the peer's TAXII server answered; no signed receipt"
                } else {
                    "NOT verified"
                }
            );
        } else {
            println!(
                "{peer}: {state} after {} attempt(s){}",
                m["attempts"].as_u64().unwrap_or(0),
                m["last_error"]
                    .as_str()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            );
            undelivered.push(format!("{peer} ({state})"));
        }
    }
    if undelivered.is_empty() {
        Ok(())
    } else {
        Err(Failure::runtime(format!(
            "not delivered within {seconds} s: {}; the gateway keeps trying what is still queued or failing",
            undelivered.join(", ")
        )))
    }
}

/// Where a message still in the outbox stands (queued, failing, refused, dead-lettered);
/// `None` once delivered, or for a message never queued (its state is a ledger event).
fn outbox_state(message: &serde_json::Value) -> Option<DeliveryState> {
    message["state"].as_str()?.parse().ok()
}

/// Prints a share's per-peer decisions (`{"decisions": [...]}`), with the fields removed.
/// When decisions were asked for and nothing was sent (every peer withheld), that is the
/// command's outcome: exit 4 (withheld by policy), or 1 when a decision failed.
pub fn print_decisions(v: &serde_json::Value) -> Result<(), Failure> {
    let decisions: Vec<&serde_json::Value> =
        v["decisions"].as_array().into_iter().flatten().collect();
    print_each(&decisions);
    let kinds: Vec<&str> = decisions
        .iter()
        .filter_map(|d| d["decision"].as_str())
        .collect();
    let nothing_sent =
        !kinds.is_empty() && kinds.iter().all(|k| matches!(*k, "withheld" | "error"));
    match (nothing_sent, kinds.contains(&"withheld")) {
        (true, true) => Err(Failure {
            code: 4,
            message: Some("nothing was sent: policy withholds it from every peer asked".into()),
        }),
        (true, false) => Err(Failure::runtime("nothing was sent: every decision failed")),
        _ => Ok(()),
    }
}

fn print_each(decisions: &[&serde_json::Value]) {
    for d in decisions {
        let peer = d["peer"].as_str().unwrap_or("");
        match d["decision"].as_str() {
            Some("queued") => println!(
                "{peer}: queued as message {} (TLP:{})",
                d["message_id"].as_str().unwrap_or(""),
                d["marking"].as_str().unwrap_or("")
            ),
            Some("retracted") => println!(
                "{peer}: retraction queued as message {}",
                d["message_id"].as_str().unwrap_or("")
            ),
            Some("held") => println!(
                "{peer}: held already: {}",
                d["reason"].as_str().unwrap_or("")
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
