//! `irtx peer add|list|show|remove|token`: the gateway's one list of peers, in its store (directly,
//! or through the running gateway's API).

use serde_json::{json, Value};

use super::state::State;
use super::{Cli, Failure};
use crate::peer::{KeyRequest, PeerId, PeerRequest};

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
    /// Issue (or rotate) the token the peer uses on our TAXII server: HTTP Basic with the
    /// peer id as user and the token as password, or `Authorization: Bearer TOKEN`. The
    /// token is printed once; only its digest is kept, and the earlier token stops working.
    Token {
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
    /// Its base URL; messages go to {url}/exchange/v1/messages (not needed with
    /// `--transport taxii-pull`).
    #[arg(long, default_value = "")]
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
    /// Transport: `irtx` (signed messages pushed to its gateway), `taxii-pull` (nothing
    /// pushed: what is shared goes into its collection on our TAXII server, and it pulls
    /// with the token from `irtx peer token ID`), or `taxii21` (envelopes pushed to the
    /// collection at --url on its TAXII server, with --auth).
    #[arg(long, default_value = "irtx", value_parser = ["irtx", "taxii-pull", "taxii21"])]
    pub transport: String,
    /// Key domain for its pseudonyms.
    #[arg(long, default_value = "federation", value_parser = ["federation", "peer"])]
    pub key_domain: String,
    /// Pin the TLS client certificate (PEM file) the peer must connect with (mutual TLS;
    /// needs `[tls] peer_client_certs = true`).
    #[arg(long, value_name = "PEM")]
    pub client_cert: Option<std::path::PathBuf>,
    /// As a source, the peer allows what it sends as TLP:AMBER to be passed on to our
    /// service providers (TLP 2.0 needs the source's permission for that).
    #[arg(long)]
    pub provider_permission: bool,
    /// Our credentials on its TAXII server (`--transport taxii21`): USER:PASSWORD, or
    /// bearer:TOKEN. Kept in the store; never printed.
    #[arg(long, value_name = "USER:PASSWORD")]
    pub auth: Option<String>,
    /// Also read its collection into alerts (`--transport taxii21`), every `--poll-every`.
    #[arg(long)]
    pub pull: bool,
    /// How often to read its collection (`30s`, `5m`; default 5m with `--pull`).
    #[arg(long, value_name = "DURATION")]
    pub poll_every: Option<String>,
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

fn peer_id(id: &str) -> Result<PeerId, Failure> {
    id.parse().map_err(|e: crate::team::TeamIdError| Failure {
        code: 2,
        message: Some(e.to_string()),
    })
}

/// Runs `irtx peer ...`.
pub fn run(cli: &Cli, cmd: &PeerCommand) -> Result<(), Failure> {
    let state = State::open(cli, super::require_config(cli)?)?;
    match cmd {
        PeerCommand::Add(a) => {
            if a.keys.is_empty() && a.transport == "irtx" {
                return Err(Failure {
                    code: 2,
                    message: Some("give the peer's public key with --key".into()),
                });
            }
            let keys = a
                .keys
                .iter()
                .map(|k| {
                    read_key(k).map(|jwk| KeyRequest {
                        jwk,
                        valid_from: a.valid_from.clone(),
                        valid_until: a.valid_until.clone(),
                    })
                })
                .collect::<Result<_, _>>()?;
            let req = PeerRequest {
                id: a.id.clone(),
                url: a.url.clone(),
                keys,
                max_tlp: a.max_tlp.clone(),
                audience: a.audience.clone(),
                profile: Some(a.profile.clone()),
                format: Some(a.format.clone()),
                key_domain: Some(a.key_domain.clone()),
                transport: Some(a.transport.clone()),
                client_cert_sha256: match &a.client_cert {
                    Some(f) => {
                        Some(crate::keys::cert_fingerprint_file(f).map_err(|e| Failure {
                            code: 3,
                            message: Some(format!("--client-cert: {e}")),
                        })?)
                    }
                    None => None,
                },
                provider_permission: Some(a.provider_permission),
                auth: a.auth.clone(),
                pull_every_s: match &a.poll_every {
                    Some(d) => Some(
                        humantime::parse_duration(d)
                            .map_err(|e| Failure {
                                code: 2,
                                message: Some(format!("--poll-every `{d}`: {e}")),
                            })?
                            .as_secs()
                            .max(1),
                    ),
                    None if a.pull => Some(300),
                    None => None,
                },
            };
            let peer = state.add_peer(&req)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&peer.redacted()).unwrap_or_default()
            );
        }
        PeerCommand::List => {
            for p in state.peers()? {
                println!(
                    "{}\t{}\tmax TLP:{}\t{}\t{}\t{}",
                    p.id, p.url, p.max_tlp, p.audience, p.profile, p.format
                );
            }
        }
        PeerCommand::Show { id, jwk } => {
            let p = state.peer(&peer_id(id)?)?;
            let out = if *jwk {
                json!(p.keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>())
            } else {
                p.redacted()
            };
            println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        }
        PeerCommand::Token { id } => {
            let id = peer_id(id)?;
            let token = state.issue_token(&id)?;
            println!("{token}");
            eprintln!(
                "the TAXII token of `{id}` (shown once): HTTP Basic with user `{id}` and this password, or `Authorization: Bearer <token>`; discovery at /taxii2/"
            );
        }
        PeerCommand::Remove { id } => {
            if !state.remove_peer(&peer_id(id)?)? {
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
