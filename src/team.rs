//! This gateway's own team, as the exchange documents name it: plain data, no key material.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::report::Timestamp;

/// A team id: a slug such as `cert-a` (lowercase letters, digits and `-`, 1 to 63
/// characters, starting with a letter or digit).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TeamId(String);

/// Why a string is not a team id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a team id: use 1 to 63 lowercase letters, digits and '-', starting with a letter or digit (e.g. `cert-a`)")]
pub struct TeamIdError(pub String);

impl TeamId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for TeamId {
    type Err = TeamIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = (1..=63).contains(&s.len())
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !s.starts_with('-');
        if ok {
            Ok(TeamId(s.to_string()))
        } else {
            Err(TeamIdError(s.to_string()))
        }
    }
}

impl fmt::Display for TeamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for TeamId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl Serialize for TeamId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TeamId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// The team that writes exchange documents.
#[derive(Debug, Clone, PartialEq)]
pub struct Team {
    /// The team's id (`cert-a`).
    pub id: TeamId,
    /// Display name (`CERT-A, national CSIRT`): the STIX identity's and IODEF creator's name.
    pub name: String,
    /// The team's DNS name: IODEF `IncidentID@name` must be the CSIRT's FQDN (RFC 7970
    /// section 3.4). A gateway without one sends no IODEF.
    pub domain: Option<String>,
    /// When the team's STIX identity was created; fixed, so the identity object is the same
    /// in every bundle the team writes.
    pub created: Timestamp,
}

impl Team {
    /// A team with the given id and name, its domain defaulted, its identity created at the
    /// Unix epoch.
    pub fn new(id: TeamId, name: impl Into<String>) -> Self {
        Team {
            id,
            name: name.into(),
            domain: None,
            created: Timestamp(time::OffsetDateTime::UNIX_EPOCH),
        }
    }

    /// The name IODEF `IncidentID@name` carries: the team's domain, or `<team id>.invalid`
    /// (RFC 6761) in an offline conversion of a team that has none (sharing refuses IODEF
    /// then).
    pub fn incident_id_name(&self) -> String {
        self.domain
            .clone()
            .unwrap_or_else(|| format!("{}.invalid", self.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn team_ids() {
        assert!("cert-a".parse::<TeamId>().is_ok());
        assert!("c3".parse::<TeamId>().is_ok());
        for bad in ["", "-x", "CERT", "cert a", "cert_a", &"a".repeat(64)] {
            assert!(bad.parse::<TeamId>().is_err(), "{bad}");
        }
    }
}
