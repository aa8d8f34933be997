//! `irtx init --team-id ID [--name N] [--dir DIR]`: a new gateway's config, keys and token.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::Failure;
use crate::keys::{random_hex32, write_secret_file, TeamKey};

/// Arguments of `irtx init`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The team's id, a slug such as `cert-a`.
    #[arg(long, value_name = "ID")]
    pub team_id: String,
    /// Display name. Default: the id.
    #[arg(long, value_name = "N")]
    pub name: Option<String>,
    /// The team's DNS domain (`cert.example.org`): IODEF names incidents by it (RFC 7970
    /// IncidentID@name), and the gateway sends no IODEF without it.
    #[arg(long, value_name = "DOMAIN")]
    pub domain: Option<String>,
    /// Directory for irtx.toml, the keys, the token and the data. Default `.`.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
    /// Where `irtx serve` listens: an address (`127.0.0.1:8443`, the default), or `auto`
    /// for a free loopback port, chosen now and written to the config (several gateways on
    /// one machine).
    #[arg(long, value_name = "ADDR|auto")]
    pub listen: Option<String>,
    /// The federation's shared anonymization key (64 hex digits in a file), so pseudonyms
    /// agree with the other members' gateways. Without it a fresh key is made, and
    /// pseudonyms agree with no one until it is replaced by the federation's.
    #[arg(long, value_name = "FILE")]
    pub federation_key: Option<PathBuf>,
}

/// What `irtx init` may be told beyond the team.
#[derive(Debug, Clone, Default)]
pub struct Setup {
    /// `listen`: an address or `auto` (a free loopback port).
    pub listen: Option<String>,
    /// A federation key file to copy in.
    pub federation_key: Option<PathBuf>,
}

/// What `irtx init` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Initialized {
    /// The team id.
    pub team_id: String,
    /// The config file written.
    pub config: String,
    /// The team key's id (RFC 7638 thumbprint).
    pub kid: String,
    /// The public key, for peers.
    pub public_jwk: serde_json::Value,
    /// The analyst token (also in `analyst.token`, mode 0600).
    pub analyst_token: String,
    /// Where `irtx serve` will listen.
    pub listen: String,
    /// Where the federation key came from: `generated` (agrees with no one yet) or
    /// `imported`.
    pub federation_key: String,
    /// What to do next.
    pub notes: Vec<String>,
}

/// Why a gateway could not be made.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// The team id is not a slug.
    #[error(transparent)]
    TeamId(#[from] crate::team::TeamIdError),
    /// The domain is not a DNS name.
    #[error("--domain: `{0}` is not a DNS name (e.g. `cert.example.org`)")]
    Domain(String),
    /// `--listen` is neither an address nor `auto`.
    #[error("--listen: `{0}` is not an address (127.0.0.1:8443) or `auto`")]
    Listen(String),
    /// The federation key file is unreadable or not 64 hex digits.
    #[error("--federation-key: {0}")]
    FederationKey(String),
    /// There is a config already.
    #[error("`{0}` exists; not overwriting it")]
    Exists(PathBuf),
    /// A file or directory could not be written.
    #[error("cannot write `{path}`: {source}")]
    Io {
        /// What.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Writes `DIR/irtx.toml`, the team key, the analyst token and two anonymization keys (each
/// mode 0600), and makes the data directory (mode 0700). Refuses to overwrite an existing
/// config.
pub fn initialize(
    dir: &Path,
    team_id: &str,
    name: Option<&str>,
    domain: Option<&str>,
) -> Result<Initialized, InitError> {
    initialize_with(dir, team_id, name, domain, &Setup::default())
}

/// [`initialize`], with a listen address and a federation key.
pub fn initialize_with(
    dir: &Path,
    team_id: &str,
    name: Option<&str>,
    domain: Option<&str>,
    setup: &Setup,
) -> Result<Initialized, InitError> {
    let id: crate::team::TeamId = team_id.parse()?;
    let listen = match setup.listen.as_deref() {
        None => "127.0.0.1:8443".to_string(),
        Some("auto") => std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| InitError::Io {
                path: dir.to_path_buf(),
                source: e,
            })?
            .to_string(),
        Some(a) => a
            .parse::<std::net::SocketAddr>()
            .map_err(|_| InitError::Listen(a.to_string()))?
            .to_string(),
    };
    let federation = match &setup.federation_key {
        None => None,
        Some(f) => {
            let text = std::fs::read_to_string(f).map_err(|e| {
                InitError::FederationKey(format!("cannot read `{}`: {e}", f.display()))
            })?;
            let hex = text.trim();
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(InitError::FederationKey(format!(
                    "`{}` does not hold 64 hex digits",
                    f.display()
                )));
            }
            Some(hex.to_ascii_lowercase())
        }
    };
    if let Some(d) = domain {
        crate::report::validate::check_hostname(d, true)
            .map_err(|_| InitError::Domain(d.to_string()))?;
    }
    let io = |path: PathBuf| move |source| InitError::Io { path, source };
    std::fs::create_dir_all(dir).map_err(io(dir.to_path_buf()))?;
    let config = dir.join("irtx.toml");
    if config.exists() {
        return Err(InitError::Exists(config));
    }
    let secret = |file: &str, content: &str| {
        write_secret_file(&dir.join(file), content).map_err(io(dir.join(file)))
    };
    secret("team.key", &random_hex32())?;
    let token = random_hex32();
    secret("analyst.token", &token)?;
    secret("anonymize.key", &random_hex32())?;
    secret(
        "federation.key",
        federation.as_deref().unwrap_or(&random_hex32()),
    )?;
    crate::keys::create_private_dir(&dir.join("data")).map_err(io(dir.join("data")))?;
    let name = name.unwrap_or(team_id);
    let created = crate::timestamp::rfc3339(time::OffsetDateTime::now_utc());
    let domain = match domain {
        Some(d) => format!("domain = {d:?}                 # IODEF IncidentID@name"),
        None => {
            "# domain = \"cert.example.org\"   # your DNS name: IODEF IncidentID@name; no IODEF \
                 is sent without it"
                .to_string()
        }
    };
    let text = format!(
        r#"# irtx gateway of team `{id}`. Relative paths are relative to this file.
# Every setting can be overridden by an IRTX_SECTION__FIELD environment variable.

listen = "{listen}"
data_dir = "data"

[team]
id = "{id}"
name = {name:?}
{domain}
created = "{created}"
key_file = "team.key"

[api]
analyst_token_file = "analyst.token"

[anonymize]
key_file = "anonymize.key"
# The federation's shared key: replace this file with the one your federation hands out, so
# pseudonyms agree between members.
federation_key_file = "federation.key"

[delivery]
max_attempts = 20
base_delay_ms = 1000
max_delay_ms = 600000

# The state is kept in the embedded store in data_dir. Several gateways of one team share one
# PostgreSQL database instead (README "Several gateways on PostgreSQL"; `irtx migrate` moves
# the state there):
# [store]
# backend = "postgres"
# url = "postgres://irtx@db.example:5432/irtx?sslmode=require"
"#
    );
    // The config holds no secret, but it says where the secrets are: the owner's only.
    write_secret_file(&config, &text).map_err(io(config.clone()))?;
    let key = TeamKey::load(&dir.join("team.key")).map_err(|e| InitError::Io {
        path: dir.join("team.key"),
        source: std::io::Error::other(e.to_string()),
    })?;
    Ok(Initialized {
        team_id: id.to_string(),
        config: config.display().to_string(),
        kid: key.kid(),
        public_jwk: crate::envelope::public_jwk(&key.0.verifying_key()),
        analyst_token: token,
        listen: listen.clone(),
        federation_key: if federation.is_some() {
            "imported".into()
        } else {
            "generated".into()
        },
        notes: vec![
            format!(
                "run `irtx serve --config {}`; it listens on {listen}",
                config.display()
            ),
            if federation.is_some() {
                "federation.key is the federation's: pseudonyms agree with the other members".into()
            } else {
                "federation.key is new: pseudonyms of the `federation` key domain agree with no other gateway until this file is replaced by the one your federation hands out (or init again with --federation-key FILE)".into()
            },
            "give peers the public_jwk above (again any time: `irtx identity`)".into(),
        ],
    })
}

/// Runs `irtx init`.
pub fn run(args: &Args) -> Result<(), Failure> {
    let setup = Setup {
        listen: args.listen.clone(),
        federation_key: args.federation_key.clone(),
    };
    let out = initialize_with(
        &args.dir,
        &args.team_id,
        args.name.as_deref(),
        args.domain.as_deref(),
        &setup,
    )
    .map_err(|e| match e {
        InitError::TeamId(e) => Failure {
            code: 2,
            message: Some(format!("--team-id: {e}")),
        },
        e @ (InitError::Domain(_) | InitError::Listen(_)) => Failure {
            code: 2,
            message: Some(e.to_string()),
        },
        e @ InitError::FederationKey(_) => Failure {
            code: 3,
            message: Some(e.to_string()),
        },
        e => Failure::runtime(e.to_string()),
    })?;
    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    Ok(())
}
