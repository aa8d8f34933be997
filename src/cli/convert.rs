//! `irtx convert --to stix|iodef [--peer ID | --max-tlp L --audience A --profile P] FILE`:
//! one report to one exchange document, offline, exactly as that peer would get it.

use std::path::PathBuf;

use super::state::State;
use super::{load_config, read_input, team_of, Cli, Failure};
use crate::anonymize::{KeyRing, Profiles, Pseudonymizer};
use crate::config::Config;
use crate::convert::{convert_json, ConvertError, Format};
use crate::exchange::{self, Outcome, Recipient, Rendered};
use crate::peer::{Audience, KeyDomain, Peer};
use crate::report;
use crate::tlp::policy::Origin;
use crate::tlp::Tlp;

/// Arguments of `irtx convert`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format.
    #[arg(long, value_name = "FORMAT", value_parser = parse_format)]
    pub to: Format,
    /// Preview exactly what this peer, from the gateway's list of peers, receives (its max
    /// TLP, audience, profile and key domain).
    #[arg(long, value_name = "ID", conflicts_with_all = ["max_tlp", "audience", "profile"])]
    pub peer: Option<String>,
    /// Preview for a peer with this max TLP (with --audience and --profile).
    #[arg(long, value_name = "L", requires_all = ["audience", "profile"], value_parser = parse_tlp)]
    pub max_tlp: Option<Tlp>,
    /// ... this audience: own-organization, client, service-provider, community, public.
    #[arg(long, value_name = "A", requires_all = ["max_tlp", "profile"], value_parser = parse_audience)]
    pub audience: Option<Audience>,
    /// ... and this anonymization profile: none, pseudonymize, strict, or one from the config.
    #[arg(long, value_name = "P", requires_all = ["max_tlp", "audience"])]
    pub profile: Option<String>,
    /// Treat the report as received from this team (onward sharing: TLP audience rules
    /// apply) instead of our own.
    #[arg(long, value_name = "TEAM")]
    pub received_from: Option<String>,
    /// With --received-from: the source allowed passing TLP:AMBER on to service providers.
    #[arg(long, requires = "received_from")]
    pub provider_permission: bool,
    /// Anonymization key file (64 hex digits, mode 0600), used as it is, instead of the
    /// configured key domain.
    #[arg(long, value_name = "F", conflicts_with = "domain")]
    pub key_file: Option<PathBuf>,
    /// Key domain for the ad-hoc form: `federation`, or `peer:ID`.
    #[arg(long, value_name = "NAME")]
    pub domain: Option<String>,
    /// The report (`-` for standard input).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse()
        .map_err(|e: crate::peer::UnknownValue| e.to_string())
}

fn parse_tlp(s: &str) -> Result<Tlp, String> {
    s.parse()
        .map_err(|e: crate::tlp::TlpParseError| e.to_string())
}

fn parse_audience(s: &str) -> Result<Audience, String> {
    s.parse()
        .map_err(|e: crate::peer::UnknownValue| e.to_string())
}

/// Runs `irtx convert`.
pub fn run(cli: &Cli, args: &Args) -> Result<(), Failure> {
    let config = load_config(cli)?;
    let bytes = read_input(&args.file)?;
    let name = args.file.display().to_string();
    if args.peer.is_none() && args.max_tlp.is_none() {
        let team = team_of(config.as_ref());
        if args.to == Format::Iodef && team.domain.is_none() {
            eprintln!(
                "irtx: note: no team domain ([team] domain): IncidentID@name is `{}` here, and \
                 the gateway sends no IODEF until one is set",
                team.incident_id_name()
            );
        }
        return match convert_json(&bytes, &team, args.to) {
            Ok(doc) => print_doc(&doc),
            Err(ConvertError::Invalid(problems)) => {
                for p in problems {
                    eprintln!("{name}: {p}");
                }
                Err(Failure::invalid())
            }
            Err(e @ ConvertError::BadOutput(_)) => Err(Failure::runtime(format!("{name}: {e}"))),
        };
    }

    let report = match report::parse(&bytes) {
        Ok(r) => r,
        Err(problems) => {
            for p in problems {
                eprintln!("{name}: {p}");
            }
            return Err(Failure::invalid());
        }
    };
    let origin = match &args.received_from {
        Some(source) => Origin::Received {
            source: source.clone(),
            provider_permission: args.provider_permission,
        },
        None => Origin::Own,
    };
    let team = team_of(config.as_ref());
    let profiles = match &config {
        Some(c) => c.profiles().map_err(|e| Failure::runtime(e.to_string()))?,
        None => Profiles::builtin(),
    };
    let mut peer = recipient(cli, config.as_ref(), args)?;
    if peer.format != args.to {
        eprintln!(
            "irtx: note: `{}` receives {}; showing {} as --to asks",
            peer.id, peer.format, args.to
        );
    }
    // The document is in the format asked for; everything else is the peer's.
    peer.format = args.to;
    let rendered = match &args.key_file {
        // A key file is used as it is, not derived per domain.
        Some(f) => {
            let key = crate::keys::read_key_file(f).map_err(|e| Failure::runtime(e.to_string()))?;
            let profile = profiles.get(&peer.profile).map_err(|e| Failure {
                code: 2,
                message: Some(e.to_string()),
            })?;
            let to = Recipient {
                policy: peer.policy(),
                profile,
                format: peer.format,
            };
            exchange::render(
                &report,
                &origin,
                &to,
                Some(&Pseudonymizer::new(&key)),
                &team,
            )
            .map(|outcome| Rendered {
                outcome,
                profile: profile.name.clone(),
                key_domain: "from --key-file".into(),
                format: peer.format,
            })
        }
        None => {
            let keys = match &config {
                Some(c) => c.key_ring().map_err(|e| Failure::runtime(e.to_string()))?,
                None => KeyRing::default(),
            };
            exchange::render_for_peer(&report, &origin, &peer, &profiles, &keys, &team)
        }
    };
    let settings = format!(
        "max TLP:{}, audience {}, profile {}",
        peer.max_tlp, peer.audience, peer.profile
    );
    match rendered {
        Ok(Rendered {
            outcome: Outcome::Withheld(why),
            ..
        }) => {
            eprintln!("decision: withhold from `{}` ({settings}): {why}", peer.id);
            Err(Failure {
                code: 4,
                message: None,
            })
        }
        Ok(Rendered {
            outcome: Outcome::Ready(ready),
            key_domain,
            ..
        }) => {
            eprintln!(
                "decision: send to `{}` ({settings}); marked up to TLP:{}",
                peer.id, ready.marking
            );
            for r in ready.plan.removed.iter().chain(&ready.anonymized.removed) {
                eprintln!("removed {} (TLP:{}): {}", r.pointer, r.tlp, r.reason);
            }
            if !ready.anonymized.replacements.is_empty() {
                eprintln!(
                    "pseudonymized {} values (key domain {key_domain})",
                    ready.anonymized.replacements.len(),
                );
            }
            print_doc(&ready.document)
        }
        Err(e) => Err(Failure::runtime(format!("{name}: {e}"))),
    }
}

/// The peer the preview is for: one from the gateway's list of peers (`--peer`), or an
/// ad-hoc one from `--max-tlp`, `--audience` and `--profile`.
fn recipient(cli: &Cli, config: Option<&Config>, args: &Args) -> Result<Peer, Failure> {
    if let Some(id) = &args.peer {
        let c = config.ok_or_else(|| {
            Failure::runtime(format!(
                "--peer {id}: no config (irtx.toml) here, so no list of peers"
            ))
        })?;
        let id: crate::peer::PeerId =
            id.parse().map_err(|e: crate::team::TeamIdError| Failure {
                code: 2,
                message: Some(e.to_string()),
            })?;
        return State::open(cli, c.clone())?.peer(&id);
    }
    let (Some(max_tlp), Some(audience), Some(profile)) =
        (args.max_tlp, args.audience, &args.profile)
    else {
        return Err(Failure {
            code: 2,
            message: Some("give --peer ID, or all of --max-tlp, --audience and --profile".into()),
        });
    };
    let id: crate::peer::PeerId = "preview".parse().expect("`preview` is a peer id");
    let key_domain = match args.domain.as_deref() {
        None | Some("federation") => KeyDomain::Federation,
        Some(d) if d.starts_with("peer:") => KeyDomain::Peer,
        Some(d) => {
            return Err(Failure {
                code: 2,
                message: Some(format!("--domain `{d}`: use `federation` or `peer:ID`")),
            })
        }
    };
    // `peer:ID` names the peer whose key to use.
    let id = match args.domain.as_deref().and_then(|d| d.strip_prefix("peer:")) {
        Some(p) => p.parse().map_err(|e: crate::team::TeamIdError| Failure {
            code: 2,
            message: Some(e.to_string()),
        })?,
        None => id,
    };
    Ok(Peer {
        id,
        url: "http://preview.invalid".into(),
        keys: vec![],
        max_tlp,
        audience,
        profile: profile.clone(),
        format: args.to,
        key_domain,
        transport: Default::default(),
        client_cert_sha256: None,
        provider_permission: false,
        taxii_token_sha256: None,
        taxii_auth: None,
        taxii_pull: None,
    })
}

fn print_doc(doc: &serde_json::Value) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(doc)
        .map_err(|e| Failure::runtime(format!("cannot serialize: {e}")))?;
    println!("{text}");
    Ok(())
}
