//! `irtx convert --to stix|iodef [--peer ID | --max-tlp L --audience A --profile P] FILE`:
//! one report to one exchange document, offline, exactly as that peer would get it.

use std::path::PathBuf;

use super::{domain_key, load_config, read_input, team_of, Cli, Failure};
use crate::anonymize::{Profile, Pseudonymizer};
use crate::config::{Config, KeyDomain};
use crate::convert::{convert_json, ConvertError, Format};
use crate::exchange::{self, Outcome, Recipient};
use crate::peer::{Audience, PeerPolicy};
use crate::report;
use crate::tlp::policy::Origin;
use crate::tlp::Tlp;

/// Arguments of `irtx convert`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format.
    #[arg(long, value_name = "FORMAT", value_parser = parse_format)]
    pub to: Format,
    /// Preview what this configured peer would receive (its max TLP, audience, profile and
    /// key domain).
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
}

fn parse_tlp(s: &str) -> Result<Tlp, String> {
    s.parse()
        .map_err(|e: crate::tlp::TlpParseError| e.to_string())
}

fn parse_audience(s: &str) -> Result<Audience, String> {
    s.parse()
}

/// Runs `irtx convert`.
pub fn run(cli: &Cli, args: &Args) -> Result<(), Failure> {
    let config = load_config(cli)?;
    let bytes = read_input(&args.file)?;
    let name = args.file.display().to_string();
    if args.peer.is_none() && args.max_tlp.is_none() {
        let team = team_of(config.as_ref());
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
    let (policy, profile, key_domain) = recipient(config.as_ref(), args)?;
    let key = match (&args.key_file, profile.needs_key()) {
        (Some(f), _) => {
            Some(crate::keys::read_key_file(f).map_err(|e| Failure::runtime(e.to_string()))?)
        }
        (None, false) => None,
        (None, true) => Some(domain_key(config.as_ref(), &key_domain)?),
    };
    let pseudonymizer = key.as_ref().map(Pseudonymizer::new);
    let origin = match &args.received_from {
        Some(source) => Origin::Received {
            source: source.clone(),
            provider_permission: args.provider_permission,
        },
        None => Origin::Own,
    };
    let to = Recipient {
        policy: policy.clone(),
        profile: &profile,
        format: args.to,
    };
    let team = team_of(config.as_ref());
    let settings = format!(
        "max TLP:{}, audience {}, profile {}",
        policy.max_tlp, policy.audience, profile.name
    );
    match exchange::render(&report, &origin, &to, pseudonymizer.as_ref(), &team) {
        Ok(Outcome::Withheld(why)) => {
            eprintln!(
                "decision: withhold from `{}` ({settings}): {why}",
                policy.id
            );
            Err(Failure {
                code: 4,
                message: None,
            })
        }
        Ok(Outcome::Ready(ready)) => {
            eprintln!(
                "decision: send to `{}` ({settings}); marked up to TLP:{}",
                policy.id, ready.marking
            );
            for r in ready.plan.removed.iter().chain(&ready.anonymized.removed) {
                eprintln!("removed {} (TLP:{}): {}", r.pointer, r.tlp, r.reason);
            }
            if !ready.anonymized.replacements.is_empty() {
                eprintln!(
                    "pseudonymized {} values (key domain {})",
                    ready.anonymized.replacements.len(),
                    if args.key_file.is_some() {
                        "from --key-file"
                    } else {
                        key_domain.as_str()
                    }
                );
            }
            print_doc(&ready.document)
        }
        Err(e) => Err(Failure::runtime(format!("{name}: {e}"))),
    }
}

/// The peer policy, profile and key domain named on the command line.
fn recipient(
    config: Option<&Config>,
    args: &Args,
) -> Result<(PeerPolicy, Profile, String), Failure> {
    if let Some(id) = &args.peer {
        let c = config.ok_or_else(|| {
            Failure::runtime(format!(
                "--peer {id}: no config (irtx.toml) with [peers] here"
            ))
        })?;
        let (policy, pc) = c.peer(id).map_err(Failure::runtime)?;
        let profile = c.profile(&pc.profile).map_err(Failure::runtime)?;
        let domain = match pc.key_domain {
            KeyDomain::Federation => "federation".to_string(),
            KeyDomain::Peer => format!("peer:{id}"),
        };
        return Ok((policy, profile, domain));
    }
    let (Some(max_tlp), Some(audience), Some(pname)) = (args.max_tlp, args.audience, &args.profile)
    else {
        return Err(Failure {
            code: 2,
            message: Some("give --peer ID, or all of --max-tlp, --audience and --profile".into()),
        });
    };
    let profile = match config {
        Some(c) => c.profile(pname),
        None => Profile::builtin(pname).ok_or_else(|| {
            format!("`{pname}` is not a profile; known: none, pseudonymize, strict")
        }),
    }
    .map_err(|e| Failure {
        code: 2,
        message: Some(e),
    })?;
    let policy = PeerPolicy {
        id: "preview".parse().expect("`preview` is a peer id"),
        max_tlp,
        audience,
    };
    Ok((
        policy,
        profile,
        args.domain.clone().unwrap_or_else(|| "federation".into()),
    ))
}

fn print_doc(doc: &serde_json::Value) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(doc)
        .map_err(|e| Failure::runtime(format!("cannot serialize: {e}")))?;
    println!("{text}");
    Ok(())
}
