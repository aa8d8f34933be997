//! One typed configuration, read from `irtx.toml` with `IRTX_SECTION__FIELD` environment
//! overrides (`IRTX_TEAM__ID=cert-a`). Only `app` and `cli` see the whole config.
//!
//! `load` takes the environment as an iterator, so tests never touch the process environment.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::report::Timestamp;
use crate::team::{Team, TeamId};

/// The default config path: `./irtx.toml`.
pub const DEFAULT_PATH: &str = "irtx.toml";

/// The gateway's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// This gateway's team.
    pub team: TeamConfig,
}

/// `[team]`: who this gateway speaks for.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamConfig {
    /// Team id, a slug such as `cert-a`. Required.
    pub id: TeamId,
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
        Self::from_toml(&text, path, env)
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
        table.try_into().map_err(|e| invalid(format!("{e}")))
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
        if parts.len() < 2 || parts.iter().any(String::is_empty) {
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
