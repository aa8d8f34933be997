//! Peers as the disclosure policy sees them: plain data, no I/O.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::tlp::Tlp;

/// A peer team's id: the same slug rules as a team id (`cert-b`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(String);

impl PeerId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for PeerId {
    type Err = crate::team::TeamIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse::<crate::team::TeamId>()
            .map(|t| PeerId(t.as_str().to_string()))
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for PeerId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PeerId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A peer's relation to us, in TLP 2.0's terms (DESIGN.md section 5). It decides where
/// information we *received* may go on to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Audience {
    /// Part of our own organization (TLP 2.0 "organization": formal membership, common
    /// policies).
    OwnOrganization,
    /// A constituent or customer receiving cybersecurity services from us (TLP 2.0
    /// "clients"; for national teams, stakeholders and constituents).
    Client,
    /// Provides cybersecurity services to us: the IRT we outsource to, an MSSP.
    ServiceProvider,
    /// A peer in our community (shared goals and informal trust).
    Community,
    /// The public.
    Public,
}

impl Audience {
    /// All classes.
    pub const ALL: [Audience; 5] = [
        Audience::OwnOrganization,
        Audience::Client,
        Audience::ServiceProvider,
        Audience::Community,
        Audience::Public,
    ];

    /// The name used in config and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::OwnOrganization => "own-organization",
            Audience::Client => "client",
            Audience::ServiceProvider => "service-provider",
            Audience::Community => "community",
            Audience::Public => "public",
        }
    }
}

impl FromStr for Audience {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Audience::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| {
                format!("`{s}` is not an audience; expected one of own-organization, client, service-provider, community, public")
            })
    }
}

impl fmt::Display for Audience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Audience {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// What the disclosure decision needs to know about a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerPolicy {
    /// The peer.
    pub id: PeerId,
    /// The highest label of our own content we are willing to send it. RED never leaves
    /// automatically, whatever this says.
    pub max_tlp: Tlp,
    /// Its relation to us: decides where received information may go.
    pub audience: Audience,
}
