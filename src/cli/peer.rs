//! `irtx peer add|list|show|remove`: peers of the running gateway.

use serde_json::{json, Value};

use super::client::ApiClient;
use super::{Cli, Failure};

/// `irtx peer ...`
#[derive(Debug, clap::Subcommand)]
pub enum PeerCommand {
    /// Add (or replace) a peer.
    Add(Box<AddArgs>),
    /// List the peers.
    List,
    /// Show one peer (`--jwk` prints only its current public key).
    Show {
        /// The peer's id.
        id: String,
        /// Print only the public JWK(s).
        #[arg(long)]
        jwk: bool,
    },
    /// Remove a peer.
    Remove {
        /// The peer's id.
        id: String,
    },
}

/// Arguments of `irtx peer add`.
#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// The peer's id (its team id).
    #[arg(long)]
    pub id: String,
    /// Its base URL; messages go to {url}/exchange/v1/messages.
    #[arg(long)]
    pub url: String,
    /// Its public key: a JWK, or @FILE holding one. Repeat for a key rotation.
    #[arg(long = "key", value_name = "JWK|@FILE")]
    pub keys: Vec<String>,
    /// The highest TLP of our own content it may receive.
    #[arg(long, value_name = "L")]
    pub max_tlp: String,
    /// own-organization, client, service-provider, community or public.
    #[arg(long, value_name = "A")]
    pub audience: String,
    /// Anonymization profile.
    #[arg(long, value_name = "P", default_value = "pseudonymize")]
    pub profile: String,
    /// Format it accepts.
    #[arg(long, value_name = "F", default_value = "stix", value_parser = ["stix", "iodef"])]
    pub format: String,
    /// Transport (only `irtx` in this build).
    #[arg(long, default_value = "irtx", value_parser = ["irtx"])]
    pub transport: String,
    /// Key domain for its pseudonyms.
    #[arg(long, default_value = "federation", value_parser = ["federation", "peer"])]
    pub key_domain: String,
    /// The key is valid from this time (RFC 3339).
    #[arg(long, value_name = "T")]
    pub valid_from: Option<String>,
    /// The key is valid until this time (RFC 3339).
    #[arg(long, value_name = "T")]
    pub valid_until: Option<String>,
}

fn read_key(arg: &str) -> Result<Value, Failure> {
    let text = match arg.strip_prefix('@') {
        Some(f) => std::fs::read_to_string(f)
            .map_err(|e| Failure::runtime(format!("cannot read `{f}`: {e}")))?,
        None => arg.to_string(),
    };
    serde_json::from_str(&text).map_err(|e| Failure {
        code: 3,
        message: Some(format!("--key: not a JWK: {e}")),
    })
}

/// Runs `irtx peer ...`.
pub fn run(cli: &Cli, cmd: &PeerCommand) -> Result<(), Failure> {
    let api = ApiClient::from_cli(cli)?;
    match cmd {
        PeerCommand::Add(a) => {
            if a.keys.is_empty() {
                return Err(Failure {
                    code: 2,
                    message: Some("give the peer's public key with --key".into()),
                });
            }
            let keys: Vec<Value> = a
                .keys
                .iter()
                .map(|k| read_key(k).map(|jwk| json!({"jwk": jwk, "valid_from": a.valid_from, "valid_until": a.valid_until})))
                .collect::<Result<_, _>>()?;
            let body = json!({"id": a.id, "url": a.url, "keys": keys, "max_tlp": a.max_tlp, "audience": a.audience,
                              "profile": a.profile, "format": a.format, "key_domain": a.key_domain});
            let (_, v) = api.call(
                reqwest::Method::POST,
                "/api/v1/peers",
                Some(body.to_string().into_bytes()),
            )?;
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        }
        PeerCommand::List => {
            let (_, v) = api.call(reqwest::Method::GET, "/api/v1/peers", None)?;
            for p in v.as_array().into_iter().flatten() {
                println!(
                    "{}\t{}\tmax TLP:{}\t{}\t{}\t{}",
                    p["id"].as_str().unwrap_or(""),
                    p["url"].as_str().unwrap_or(""),
                    p["max_tlp"].as_str().unwrap_or(""),
                    p["audience"].as_str().unwrap_or(""),
                    p["profile"].as_str().unwrap_or(""),
                    p["format"].as_str().unwrap_or("")
                );
            }
        }
        PeerCommand::Show { id, jwk } => {
            let (_, v) = api.call(reqwest::Method::GET, &format!("/api/v1/peers/{id}"), None)?;
            let out = if *jwk {
                json!(v["keys"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|k| k["jwk"].clone())
                    .collect::<Vec<_>>())
            } else {
                v
            };
            println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        }
        PeerCommand::Remove { id } => {
            let (status, _) = api.call(
                reqwest::Method::DELETE,
                &format!("/api/v1/peers/{id}"),
                None,
            )?;
            if status == 404 {
                return Err(Failure {
                    code: 3,
                    message: Some(format!("no peer `{id}`")),
                });
            }
            println!("removed peer `{id}`");
        }
    }
    Ok(())
}
