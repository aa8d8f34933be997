//! One typed configuration, read from `irtx.toml` with `IRTX_SECTION__FIELD` environment
//! overrides (`IRTX_TEAM__ID=cert-a`). Only `app` and `cli` see the whole config.
//!
//! `load` takes the environment as an iterator, so tests never touch the process environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

mod peers;
mod sections;

use crate::anonymize::Profile;
use crate::peer::PeerId;
use crate::team::Team;
pub use sections::{
    AnonymizeConfig, ApiConfig, DeliveryConfig, ExchangeConfig, ImportConfig, LogConfig, LogFormat,
    ProfileConfig, RoutingRule, StoreBackend, StoreConfig, TeamConfig, TlsConfig,
};

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
    /// How the gateway logs.
    #[serde(default)]
    pub log: LogConfig,
    /// Where the state is kept: the embedded sled store, or PostgreSQL.
    #[serde(default)]
    pub store: StoreConfig,
    /// Importing documents other tools wrote.
    #[serde(default)]
    pub import: ImportConfig,
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

fn default_listen() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 8443))
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
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

    /// Where the embedded store lives: `store` in the data directory.
    pub fn store_dir(&self) -> PathBuf {
        self.path(&self.data_dir).join("store")
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

    /// Every problem with the config that parsing cannot see: unknown profile names, bad
    /// profile settings, impossible limits.
    pub fn validate(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.delivery.max_attempts == 0 {
            out.push("delivery.max_attempts must be at least 1".into());
        }
        if let Some(d) = &self.team.domain {
            if crate::report::validate::check_hostname(d, true).is_err() {
                out.push(format!(
                    "team.domain: `{d}` is not a DNS name (e.g. `cert.example.org`)"
                ));
            }
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
        if self.store.backend == StoreBackend::Sled && self.store.cache_mib == 0 {
            out.push("store.cache_mib must be at least 1 (MiB of sled's page cache)".into());
        }
        if self.store.backend == StoreBackend::Postgres {
            match &self.store.url {
                None => out.push(
                    "store.url: backend `postgres` needs `url = \"postgres://USER@HOST:PORT/DB\"`"
                        .into(),
                ),
                Some(u) if !u.starts_with("postgres://") && !u.starts_with("postgresql://") => {
                    out.push("store.url: not a postgres:// URL".into())
                }
                Some(_) => {}
            }
            if self.store.pool_size == 0 {
                out.push("store.pool_size must be at least 1".into());
            }
            if self.store.lease_ms <= self.delivery.timeout_ms {
                out.push(format!(
                    "store.lease_ms ({}) must exceed delivery.timeout_ms ({}): a claim must outlast an attempt",
                    self.store.lease_ms, self.delivery.timeout_ms
                ));
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
        team.domain.clone_from(&t.domain);
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
    use crate::anonymize::Treatment;
    use crate::report::Role;

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
        assert_eq!(t.domain.as_deref(), Some("cert-a.example"));
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
        let e = Config::from_toml(
            "[team]\nid = \"a\"\n[store]\ncache_mib = 0\n",
            Path::new("x.toml"),
            env(&[]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("store.cache_mib must be at least 1"), "{e}");
    }
}
