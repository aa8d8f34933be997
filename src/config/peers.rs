//! What the config says of anonymization and peers, resolved: the profiles by name, the key
//! ring, and the `[peers.*]` tables as checked peers.

use std::path::Path;

use super::{Config, ConfigError, DEFAULT_PATH};
use crate::anonymize::{Profile, Profiles, Treatment};
use crate::peer::{PeerId, PeerRequest};

impl Config {
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
    pub(super) fn profile(&self, name: &str) -> Result<Profile, String> {
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
            let pin = match table.remove("client_cert_file") {
                Some(toml::Value::String(f)) => Some(
                    crate::keys::cert_fingerprint_file(&self.path(Path::new(&f)))
                        .map_err(|e| invalid(id, format!("client_cert_file: {e}")))?,
                ),
                Some(_) => return Err(invalid(id, "client_cert_file is a file name".into())),
                None => None,
            };
            let mut v = serde_json::to_value(&table).map_err(|e| invalid(id, e.to_string()))?;
            if let Some(pin) = pin {
                v["client_cert_sha256"] = pin.into();
            }
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
}
