//! One typed configuration, read from `irtx.toml` with `IRTX_SECTION__FIELD` environment
//! overrides (`IRTX_TEAM__ID=cert-a`). Only `app` and `cli` see the whole config.
//!
//! `load` takes the environment as an iterator, so tests never touch the process environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::anonymize::{Profile, Profiles, Treatment};
use crate::peer::{PeerId, PeerRequest};
use crate::report::{Role, Timestamp};
use crate::team::{Team, TeamId};
use crate::tlp::Tlp;

/// The default config path: `./irtx.toml`.
pub const DEFAULT_PATH: &str = "irtx.toml";

/// The gateway's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Listener address. Default `127.0.0.1:8443`; tests use `127.0.0.1:0`.
    #[serde(default = "default_listen")]
    pub listen: std::net::SocketAddr,
    /// Data directory holding the sled store. Default `data` beside the config file.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// The analyst API.
    #[serde(default)]
    pub api: ApiConfig,
    /// What inbound messages must meet.
    #[serde(default)]
    pub exchange: ExchangeConfig,
    /// Outbound delivery: retries, backoff, timeouts.
    #[serde(default)]
    pub delivery: DeliveryConfig,
    /// TLS for the listener.
    #[serde(default)]
    pub tls: TlsConfig,
    /// Where relative paths in this config are resolved: the config file's directory.
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// This gateway's team.
    pub team: TeamConfig,
    /// Anonymization keys.
    #[serde(default)]
    pub anonymize: AnonymizeConfig,
    /// Anonymization profiles defined here, by name (besides the built-in `none`,
    /// `pseudonymize` and `strict`).
    #[serde(default)]
    pub profiles: BTreeMap<String, ProfileConfig>,
    /// `[peers.ID]`: peers declared in the config. At start, `irtx serve` writes each into
    /// the gateway's one list of peers (the store), replacing a peer of the same id; from
    /// then on it is shown and used like a peer added with `irtx peer add`. A table takes
    /// the fields of `irtx peer add` (`url`, `max_tlp`, `audience`, and optionally
    /// `profile`, `format`, `key_domain`, `transport`) and the peer's public key as
    /// `key_file = "FILE"` (a JWK, relative to this config) or inline `jwk = { ... }`.
    #[serde(default)]
    pub peers: BTreeMap<PeerId, toml::Table>,
    /// Routing rules: reports that match are shared automatically when submitted.
    #[serde(default)]
    pub routing: Vec<RoutingRule>,
}

/// `[[routing]]`: share matching reports automatically on submission. The TLP decision
/// still applies per peer; a rule only saves the analyst the `share` call.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingRule {
    /// The peers to share with.
    pub peers: Vec<String>,
    /// Categories that match (`intrusions/system-compromise`, or a class with `/*`). Empty:
    /// any.
    #[serde(default)]
    pub categories: Vec<String>,
    /// Report kinds that match (`event`, `incident`, `vulnerability`). Empty: any.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// Only reports labelled at most this TLP match. Default: any.
    #[serde(default)]
    pub max_tlp: Option<Tlp>,
}

impl RoutingRule {
    /// Whether a report matches this rule.
    pub fn matches(&self, r: &crate::report::Report) -> bool {
        let cat = r.category.map(|c| c.code()).unwrap_or("");
        let cat_ok = self.categories.is_empty()
            || self.categories.iter().any(|c| match c.strip_suffix("/*") {
                Some(class) => cat.split('/').next() == Some(class),
                None => c == cat,
            });
        let kind_ok = self.kinds.is_empty() || self.kinds.iter().any(|k| k == r.kind.as_str());
        let tlp_ok = self.max_tlp.is_none_or(|m| r.tlp <= m);
        cat_ok && kind_ok && tlp_ok
    }
}

fn default_listen() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 8443))
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}

/// `[api]`: the analyst API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// File holding the analyst bearer token (mode 0600). Default `analyst.token`.
    #[serde(default = "default_token_file")]
    pub analyst_token_file: PathBuf,
    /// Largest request body accepted, in bytes (reports and inbound messages). Default 4 MiB.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Longest a request may take, in milliseconds. Default 30,000.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_ms: u64,
    /// The base URL commands such as `irtx peer add` reach the gateway at. Default
    /// `http://<listen>`.
    #[serde(default)]
    pub url: Option<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            analyst_token_file: default_token_file(),
            max_body_bytes: default_max_body(),
            request_timeout_ms: default_request_timeout(),
            url: None,
        }
    }
}

fn default_token_file() -> PathBuf {
    PathBuf::from("analyst.token")
}
fn default_max_body() -> usize {
    4 << 20
}
fn default_request_timeout() -> u64 {
    30_000
}

/// `[exchange]`: what inbound messages must meet.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangeConfig {
    /// How old a message's `created` may be, in seconds. It must cover the longest outage a
    /// sender keeps retrying through. Default 7 days.
    #[serde(default = "default_replay_window")]
    pub replay_window_s: i64,
    /// How far in the future `created` may be (clock skew), in seconds. Default 300.
    #[serde(default = "default_future_skew")]
    pub future_skew_s: i64,
    /// Messages one peer may send per minute (a burst of as many is allowed); more get 429
    /// and are retried by the sender. 0: no limit. Default 6,000.
    #[serde(default = "default_rate")]
    pub max_messages_per_minute: u32,
}

fn default_rate() -> u32 {
    6_000
}

impl Default for ExchangeConfig {
    fn default() -> Self {
        ExchangeConfig {
            replay_window_s: default_replay_window(),
            future_skew_s: default_future_skew(),
            max_messages_per_minute: default_rate(),
        }
    }
}

fn default_replay_window() -> i64 {
    7 * 24 * 3600
}
fn default_future_skew() -> i64 {
    300
}

/// `[delivery]`: how the outbox is delivered.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// First retry delay in milliseconds; doubles per attempt, with jitter. Default 1,000.
    #[serde(default = "default_base_delay")]
    pub base_delay_ms: u64,
    /// Longest retry delay in milliseconds. Default 600,000 (10 min).
    #[serde(default = "default_max_delay")]
    pub max_delay_ms: u64,
    /// Attempts before a message is dead-lettered. Default 20.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Timeout of one delivery attempt, in milliseconds. Default 10,000.
    #[serde(default = "default_attempt_timeout")]
    pub timeout_ms: u64,
    /// How often the worker looks for due messages, in milliseconds. Default 500.
    #[serde(default = "default_poll")]
    pub poll_ms: u64,
    /// Peers whose queues are worked at once; more wait their turn. Default 64.
    #[serde(default = "default_concurrent_peers")]
    pub max_concurrent_peers: usize,
    /// Extra PEM CA certificates to trust for peers' HTTPS (for a federation's own CA or a
    /// peer's self-signed certificate), besides the public web roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            base_delay_ms: default_base_delay(),
            max_delay_ms: default_max_delay(),
            max_attempts: default_max_attempts(),
            timeout_ms: default_attempt_timeout(),
            poll_ms: default_poll(),
            max_concurrent_peers: default_concurrent_peers(),
            ca_file: None,
        }
    }
}

fn default_base_delay() -> u64 {
    1_000
}
fn default_max_delay() -> u64 {
    600_000
}
fn default_max_attempts() -> u32 {
    20
}
fn default_attempt_timeout() -> u64 {
    10_000
}
fn default_poll() -> u64 {
    500
}
fn default_concurrent_peers() -> usize {
    64
}

/// `[tls]`: HTTPS for the listener.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain. With `key_file`, the listener speaks HTTPS.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// PEM private key (mode 0600).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Serve plain HTTP on a non-loopback address. Default false: plain HTTP is for loopback
    /// only (ISO/IEC 27035-2 9.1: communication that cannot be eavesdropped).
    #[serde(default)]
    pub allow_plain_http: bool,
}

/// `[anonymize]`: where the pseudonymization keys are. Each file holds 32 bytes as 64 hex
/// digits and must have mode 0600 or stricter.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnonymizeConfig {
    /// This team's own secret. Per-peer keys (`key_domain = "peer"`) are derived from it, so
    /// pseudonyms are unlinkable between peers.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// The key the whole federation shares (handed out of band), for peers with
    /// `key_domain = "federation"`: every member then gives a value the same pseudonym, and
    /// peers can correlate.
    #[serde(default)]
    pub federation_key_file: Option<PathBuf>,
}

/// `[profiles.NAME]`: an anonymization profile built on a built-in one.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileConfig {
    /// The built-in profile to start from: `none`, `pseudonymize` or `strict`.
    pub base: String,
    /// The reporter: keep, drop or pseudonymize.
    #[serde(default)]
    pub reporter: Option<Treatment>,
    /// Affected assets.
    #[serde(default)]
    pub assets: Option<Treatment>,
    /// Indicators with role target or victim.
    #[serde(default)]
    pub victim_indicators: Option<Treatment>,
    /// Indicators of every other role.
    #[serde(default)]
    pub attacker_indicators: Option<Treatment>,
    /// Free text: keep, or pseudonymize to scan and replace.
    #[serde(default)]
    pub free_text: Option<Treatment>,
    /// Per-role treatment (`c2 = "keep"`).
    #[serde(default)]
    pub roles: BTreeMap<Role, Treatment>,
    /// Per-field treatment by JSON pointer (`"/environment" = "drop"`).
    #[serde(default)]
    pub fields: BTreeMap<String, Treatment>,
    /// Keep the domain part of pseudonymized e-mail addresses.
    #[serde(default)]
    pub keep_email_domain: Option<bool>,
    /// IPv4 truncation prefix (default 24).
    #[serde(default)]
    pub ipv4_prefix: Option<u8>,
    /// IPv6 truncation prefix (default 48).
    #[serde(default)]
    pub ipv6_prefix: Option<u8>,
}

fn default_team_key() -> PathBuf {
    PathBuf::from("team.key")
}

/// `[team]`: who this gateway speaks for.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamConfig {
    /// Team id, a slug such as `cert-a`. Required.
    pub id: TeamId,
    /// The team's Ed25519 signing key: 32 bytes as 64 hex digits, mode 0600. Default
    /// `team.key`.
    #[serde(default = "default_team_key")]
    pub key_file: PathBuf,
    /// Display name. Default: the id.
    #[serde(default)]
    pub name: Option<String>,
    /// The team's DNS name, used as IODEF `IncidentID@name`. Default: `<id>.invalid`.
    #[serde(default)]
    pub domain: Option<String>,
    /// When the team's STIX identity was created (RFC 3339). `irtx init` writes it.
    /// Default: the Unix epoch.
    #[serde(default)]
    pub created: Option<Timestamp>,
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config `{path}`: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML does not parse or does not fit the config.
    #[error("config `{path}`: {message}")]
    Invalid {
        /// The file (or `environment`).
        path: PathBuf,
        /// What is wrong, with the line where TOML knows it.
        message: String,
    },
}

impl Config {
    /// Reads `path` (which must exist) and overlays `IRTX_*` variables from `env`.
    pub fn load(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut c = Self::from_toml(&text, path, env)?;
        c.base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(c)
    }

    /// A path from the config, resolved against the config file's directory.
    pub fn path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }

    /// Parses TOML text and overlays `IRTX_*` variables from `env`.
    pub fn from_toml(
        text: &str,
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let mut table: toml::Table = text.parse().map_err(|e| invalid(format!("{e}")))?;
        overlay_env(&mut table, env).map_err(invalid)?;
        let mut config: Config = table.try_into().map_err(|e| invalid(format!("{e}")))?;
        config.base_dir = PathBuf::from(".");
        let problems = config.validate();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(invalid(problems.join("; ")))
        }
    }

    /// The anonymization key ring, read from the files `[anonymize]` names (mode 0600).
    pub fn key_ring(&self) -> Result<crate::anonymize::KeyRing, crate::keys::KeyFileError> {
        let a = &self.anonymize;
        crate::keys::key_ring(
            a.key_file.as_ref().map(|f| self.path(f)).as_deref(),
            a.federation_key_file
                .as_ref()
                .map(|f| self.path(f))
                .as_deref(),
        )
    }

    /// Every profile: the built-in ones and those of `[profiles]`.
    pub fn profiles(&self) -> Result<Profiles, ConfigError> {
        let mut all = Profiles::builtin();
        for name in self.profiles.keys() {
            all.insert(self.profile(name).map_err(|message| ConfigError::Invalid {
                path: self.base_dir.join(DEFAULT_PATH),
                message,
            })?);
        }
        Ok(all)
    }

    /// An anonymization profile by name: one from `[profiles]`, or a built-in one.
    fn profile(&self, name: &str) -> Result<Profile, String> {
        if let Some(pc) = self.profiles.get(name) {
            let mut p = Profile::builtin(&pc.base).ok_or_else(|| {
                format!(
                    "profile `{name}`: base `{}` is not one of none, pseudonymize, strict",
                    pc.base
                )
            })?;
            p.name = name.to_string();
            let set = |slot: &mut Treatment, v: Option<Treatment>| {
                if let Some(v) = v {
                    *slot = v;
                }
            };
            set(&mut p.reporter, pc.reporter);
            set(&mut p.assets, pc.assets);
            set(&mut p.victim_indicators, pc.victim_indicators);
            set(&mut p.attacker_indicators, pc.attacker_indicators);
            set(&mut p.free_text, pc.free_text);
            p.roles.extend(pc.roles.clone());
            p.fields.extend(pc.fields.clone());
            if let Some(k) = pc.keep_email_domain {
                p.keep_email_domain = k;
            }
            if let Some(v) = pc.ipv4_prefix {
                if v > 32 {
                    return Err(format!("profile `{name}`: ipv4_prefix {v} is over 32"));
                }
                p.ipv4_prefix = v;
            }
            if let Some(v) = pc.ipv6_prefix {
                if v > 128 {
                    return Err(format!("profile `{name}`: ipv6_prefix {v} is over 128"));
                }
                p.ipv6_prefix = v;
            }
            return Ok(p);
        }
        Profile::builtin(name).ok_or_else(|| {
            let mut names: Vec<String> = Profile::BUILTIN.iter().map(|s| s.to_string()).collect();
            names.extend(self.profiles.keys().cloned());
            format!("`{name}` is not a profile; known: {}", names.join(", "))
        })
    }

    /// The `[peers.*]` tables as peer requests, each key read from its file.
    pub fn peer_requests(&self) -> Result<Vec<PeerRequest>, ConfigError> {
        let invalid = |id: &PeerId, message: String| ConfigError::Invalid {
            path: self.base_dir.join(DEFAULT_PATH),
            message: format!("[peers.{id}]: {message}"),
        };
        let mut out = Vec::new();
        for (id, table) in &self.peers {
            let mut table = table.clone();
            let jwk: serde_json::Value = match (table.remove("key_file"), table.remove("jwk")) {
                (Some(toml::Value::String(f)), None) => {
                    let path = self.path(Path::new(&f));
                    let text = std::fs::read_to_string(&path).map_err(|e| {
                        invalid(id, format!("cannot read key_file `{}`: {e}", path.display()))
                    })?;
                    serde_json::from_str(&text).map_err(|e| {
                        invalid(id, format!("key_file `{}` is not a JWK: {e}", path.display()))
                    })?
                }
                (None, Some(toml::Value::Table(t))) => {
                    serde_json::to_value(t).map_err(|e| invalid(id, format!("jwk: {e}")))?
                }
                _ => {
                    return Err(invalid(
                        id,
                        "give the peer's public key as key_file = \"FILE\" or as jwk = { ... } (one of the two)".into(),
                    ))
                }
            };
            let mut v = serde_json::to_value(&table).map_err(|e| invalid(id, e.to_string()))?;
            v["id"] = id.as_str().into();
            v["keys"] = serde_json::json!([{ "jwk": jwk }]);
            out.push(serde_json::from_value(v).map_err(|e| invalid(id, e.to_string()))?);
        }
        Ok(out)
    }

    /// The `[peers.*]` tables as checked peers, ready for the list of peers.
    pub fn peer_seeds(&self, profiles: &Profiles) -> Result<Vec<crate::peer::Peer>, ConfigError> {
        self.peer_requests()?
            .iter()
            .map(|r| {
                crate::exchange::check_peer(r, profiles).map_err(|v| ConfigError::Invalid {
                    path: self.base_dir.join(DEFAULT_PATH),
                    message: format!(
                        "[peers.{}]: {}",
                        r.id,
                        v.iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                })
            })
            .collect()
    }

    /// Every problem with the config that parsing cannot see: unknown profile names, bad
    /// profile settings, impossible limits.
    pub fn validate(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.delivery.max_attempts == 0 {
            out.push("delivery.max_attempts must be at least 1".into());
        }
        if self.delivery.base_delay_ms > self.delivery.max_delay_ms {
            out.push("delivery.base_delay_ms is above delivery.max_delay_ms".into());
        }
        if self.exchange.replay_window_s <= 0 {
            out.push("exchange.replay_window_s must be positive".into());
        }
        for (i, r) in self.routing.iter().enumerate() {
            if r.peers.is_empty() {
                out.push(format!("routing[{i}]: no peers"));
            }
            for c in &r.categories {
                let class_only = c.strip_suffix("/*").is_some_and(|cl| {
                    crate::report::vocab::CATEGORIES
                        .iter()
                        .any(|(code, _)| code.split('/').next() == Some(cl))
                });
                if !class_only && c.parse::<crate::report::Category>().is_err() {
                    out.push(format!(
                        "routing[{i}]: `{c}` is not a category or `class/*`"
                    ));
                }
            }
            for k in &r.kinds {
                if !["event", "incident", "vulnerability"].contains(&k.as_str()) {
                    out.push(format!(
                        "routing[{i}]: `{k}` is not event, incident or vulnerability"
                    ));
                }
            }
        }
        if self.tls.cert_file.is_some() != self.tls.key_file.is_some() {
            out.push("tls: give both cert_file and key_file, or neither".into());
        }
        for name in self.profiles.keys() {
            if let Err(e) = self.profile(name) {
                out.push(e);
            }
        }
        for (id, p) in &self.peers {
            let name = p
                .get("profile")
                .and_then(toml::Value::as_str)
                .unwrap_or(crate::peer::DEFAULT_PROFILE);
            if !self.profiles.contains_key(name) && Profile::builtin(name).is_none() {
                out.push(format!("peer `{id}`: `{name}` is not a profile"));
            }
        }
        out
    }

    /// The team as exchange documents name it.
    pub fn team(&self) -> Team {
        let t = &self.team;
        let mut team = Team::new(t.id.clone(), t.name.clone().unwrap_or(t.id.to_string()));
        if let Some(d) = &t.domain {
            team.domain = d.clone();
        }
        if let Some(c) = t.created {
            team.created = c;
        }
        team
    }
}

/// True when `env` holds any `IRTX_` setting.
pub fn env_has_settings(env: impl IntoIterator<Item = (String, String)>) -> bool {
    env.into_iter()
        .any(|(k, _)| k.starts_with("IRTX_") && k.contains("__"))
}

/// The settings outside any section that `IRTX_<NAME>` may set.
const TOP_LEVEL: &[&str] = &["listen", "data_dir"];

/// Sets `IRTX_SECTION__FIELD=value` as `[section] field = value`. A value that reads as a
/// TOML integer, float or boolean is taken as one; anything else is a string.
fn overlay_env(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), String> {
    for (key, value) in env {
        let Some(rest) = key.strip_prefix("IRTX_") else {
            continue;
        };
        let parts: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        // Top-level settings are `IRTX_LISTEN` and `IRTX_DATA_DIR`; any other single-part
        // `IRTX_*` name belongs to someone else (scripts use `IRTX_TEAM_ID`, `IRTX_BIN`).
        let top_level = parts.len() == 1 && TOP_LEVEL.contains(&parts[0].as_str());
        if (parts.len() < 2 && !top_level) || parts.iter().any(String::is_empty) {
            continue;
        }
        let parsed = value
            .parse::<i64>()
            .map(toml::Value::Integer)
            .or_else(|_| value.parse::<bool>().map(toml::Value::Boolean))
            .or_else(|_| value.parse::<f64>().map(toml::Value::Float))
            .unwrap_or_else(|_| toml::Value::String(value.clone()));
        let mut t = &mut *table;
        for p in &parts[..parts.len() - 1] {
            let entry = t
                .entry(p.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            t = entry
                .as_table_mut()
                .ok_or_else(|| format!("{key}: `{p}` is not a section"))?;
        }
        t.insert(parts[parts.len() - 1].clone(), parsed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn file_then_environment() {
        let c = Config::from_toml(
            "[team]\nid = \"cert-a\"\nname = \"CERT A\"\n",
            Path::new("x.toml"),
            env(&[("IRTX_TEAM__DOMAIN", "cert-a.example"), ("HOME", "/root")]),
        )
        .unwrap();
        let t = c.team();
        assert_eq!(t.id.as_str(), "cert-a");
        assert_eq!(t.name, "CERT A");
        assert_eq!(t.domain, "cert-a.example");
    }

    #[test]
    fn peers_and_profiles() {
        let c = Config::from_toml(
            r#"
[team]
id = "cert-a"
[profiles.research]
base = "strict"
ipv4_prefix = 16
roles = { c2 = "keep" }
fields = { "/environment" = "drop" }
[peers.cert-b]
url = "https://gw.cert-b.example"
jwk = { kty = "OKP", crv = "Ed25519", x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" }
max_tlp = "AMBER"
audience = "community"
profile = "research"
format = "iodef"
key_domain = "peer"
"#,
            Path::new("x.toml"),
            env(&[]),
        )
        .unwrap();
        let requests = c.peer_requests().unwrap();
        assert_eq!(requests.len(), 1);
        let r = &requests[0];
        assert_eq!(
            (r.id.as_str(), r.max_tlp.as_str(), r.format.as_deref()),
            ("cert-b", "AMBER", Some("iodef"))
        );
        assert_eq!(r.keys[0].jwk["crv"], "Ed25519");
        let profiles = c.profiles().unwrap();
        let p = profiles.get("research").unwrap();
        assert_eq!(p.ipv4_prefix, 16);
        assert_eq!(p.roles.get(&Role::C2), Some(&Treatment::Keep));
        assert!(profiles.get("strict").is_ok());
        let bad = Config::from_toml(
            "[team]\nid = \"a\"\n[peers.b]\nurl = \"http://b\"\nmax_tlp = \"GREEN\"\naudience = \"community\"\nprofile = \"nope\"\n",
            Path::new("x.toml"),
            env(&[]),
        )
        .unwrap_err()
        .to_string();
        assert!(bad.contains("`nope` is not a profile"), "{bad}");
    }

    #[test]
    fn top_level_settings_from_the_environment() {
        let c = Config::from_toml(
            "[team]\nid = \"cert-a\"\n",
            Path::new("x.toml"),
            env(&[
                ("IRTX_LISTEN", "0.0.0.0:9443"),
                ("IRTX_TEAM_ID", "ignored"),
                ("IRTX_BIN", "/x"),
            ]),
        )
        .unwrap();
        assert_eq!(c.listen.to_string(), "0.0.0.0:9443");
    }

    #[test]
    fn errors_name_the_problem() {
        let e = Config::from_toml("[team]\nid = \"Bad Id\"\n", Path::new("x.toml"), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a team id"), "{e}");
        let e = Config::from_toml(
            "[team]\nid = \"a\"\nbogus = 1\n",
            Path::new("x.toml"),
            env(&[]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("bogus"), "{e}");
    }
}
