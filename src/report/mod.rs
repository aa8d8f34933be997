//! The local report: an ISO/IEC 27035-2 Annex B event, incident or vulnerability report.
//!
//! A report enters as JSON and leaves this module only as a [`Report`] that passed
//! `schemas/report.schema.json` and the checks a schema cannot express (see [`validate`]).
//! Pure: no I/O, no clock.

pub mod redact;
pub mod validate;
pub mod vocab;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::timestamp::Timestamp;
use crate::tlp::Tlp;
pub use validate::{parse, Violation};
pub use vocab::{Category, IsoCategory, Severity, Status};

/// A report id: letters, digits, `.`, `_`, `:` and `-`, starting with a letter or digit, at
/// most 128 characters (`schemas/report.schema.json`, `$defs/report_id`). Kept across a
/// report's versions; exchange ids derive from it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReportId(String);

/// Why a string is not a report id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a report id: use 1 to 128 letters, digits, '.', '_', ':' or '-', starting with a letter or digit")]
pub struct ReportIdError(pub String);

impl ReportId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for ReportId {
    type Err = ReportIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut chars = s.chars();
        let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
            && s.len() <= 128
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'));
        if ok {
            Ok(ReportId(s.to_string()))
        } else {
            Err(ReportIdError(s.chars().take(140).collect()))
        }
    }
}

impl std::fmt::Display for ReportId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for ReportId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ReportId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Which Annex B form a report is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Information security event report (Annex B.2).
    Event,
    /// Information security incident report (Annex B.3).
    Incident,
    /// Information security vulnerability report (Annex B.4).
    Vulnerability,
}

impl Kind {
    /// The name the report uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Event => "event",
            Kind::Incident => "incident",
            Kind::Vulnerability => "vulnerability",
        }
    }
}

/// A local report. Field names are fixed by DESIGN.md section 4; see the schema for meanings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(
    missing_docs,
    reason = "each field is documented in schemas/report.schema.json"
)]
pub struct Report {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    pub kind: Kind,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub tlp: Tlp,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub field_tlp: BTreeMap<String, Tlp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detected_at: Option<Timestamp>,
    pub reported_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disclosed_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Timestamp>,
    pub reporter: Reporter,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub what_occurred: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub how_occurred: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why_occurred: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assets: Vec<Asset>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impact: Option<Impact>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions_taken: Vec<Action>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub related_reports: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vulnerability: Option<Vulnerability>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indicators: Vec<Indicator>,
}

impl Report {
    /// The report's id: its own, or one derived from its content (a UUIDv5 over the
    /// canonical JSON), so a report without an id still converts to the same ids every time.
    pub fn effective_id(&self) -> ReportId {
        match &self.id {
            Some(id) => ReportId(id.clone()),
            None => {
                let json = serde_json::to_value(self).expect("a report serializes");
                let bytes = serde_json_canonicalizer::to_vec(&json).expect("JSON canonicalizes");
                ReportId(uuid::Uuid::new_v5(&crate::IRTX_NAMESPACE, &bytes).to_string())
            }
        }
    }

    /// The version, 1 when the report does not say.
    pub fn effective_version(&self) -> u32 {
        self.version.unwrap_or(1)
    }

    /// When this version was written: `updated_at`, else `reported_at`.
    pub fn modified(&self) -> Timestamp {
        self.updated_at.unwrap_or(self.reported_at)
    }

    /// The marking that covers the value at `pointer` and everything beneath it: the label of
    /// the nearest marked ancestor-or-self (else the report's `tlp`), raised by any marking
    /// on a field beneath it. So an object made from `/indicators/2` is never marked lower
    /// than any part of that indicator.
    pub fn tlp_covering(&self, pointer: &str) -> Tlp {
        let mut own = self.tlp;
        let mut best_len = None;
        let mut below = Tlp::Clear;
        for (p, t) in &self.field_tlp {
            if pointer_is_within(pointer, p) {
                if best_len.is_none_or(|l| p.len() > l) {
                    best_len = Some(p.len());
                    own = *t;
                }
            } else if pointer_is_within(p, pointer) {
                below = below.max(*t);
            }
        }
        own.max(below)
    }

    /// The most restrictive marking anywhere in the report.
    pub fn max_tlp(&self) -> Tlp {
        self.field_tlp.values().copied().fold(self.tlp, Tlp::max)
    }
}

/// True when `pointer` is `base` or lies beneath it (`/indicators/2/value` within
/// `/indicators/2`, but not within `/indicators/23`).
pub fn pointer_is_within(pointer: &str, base: &str) -> bool {
    pointer == base
        || (pointer.starts_with(base) && pointer.as_bytes().get(base.len()) == Some(&b'/'))
}

/// Who reported it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(missing_docs, reason = "documented in schemas/report.schema.json")]
pub struct Reporter {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_class: Option<String>,
}

/// An affected asset: victim side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(missing_docs, reason = "documented in schemas/report.schema.json")]
pub struct Asset {
    pub name: String,
    #[serde(rename = "type")]
    pub asset_type: AssetType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// What kind of asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[expect(missing_docs, reason = "names say it")]
pub enum AssetType {
    Server,
    Workstation,
    Mobile,
    NetworkDevice,
    Firewall,
    Web,
    Mail,
    Dns,
    Database,
    Application,
    Directory,
    Ot,
    Cloud,
    Other,
}

impl AssetType {
    /// The name the report uses.
    pub fn as_str(self) -> &'static str {
        match self {
            AssetType::Server => "server",
            AssetType::Workstation => "workstation",
            AssetType::Mobile => "mobile",
            AssetType::NetworkDevice => "network-device",
            AssetType::Firewall => "firewall",
            AssetType::Web => "web",
            AssetType::Mail => "mail",
            AssetType::Dns => "dns",
            AssetType::Database => "database",
            AssetType::Application => "application",
            AssetType::Directory => "directory",
            AssetType::Ot => "ot",
            AssetType::Cloud => "cloud",
            AssetType::Other => "other",
        }
    }
}

/// Adverse business impact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(missing_docs, reason = "documented in schemas/report.schema.json")]
pub struct Impact {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// IODEF `BusinessImpact@type` values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downtime_hours: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_cost: Option<Cost>,
}

/// A sum of money.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(missing_docs, reason = "documented in schemas/report.schema.json")]
pub struct Cost {
    pub amount: f64,
    pub currency: String,
}

/// One action taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(missing_docs, reason = "documented in schemas/report.schema.json")]
pub struct Action {
    pub at: Timestamp,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// Annex B.4: the vulnerability reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(missing_docs, reason = "documented in schemas/report.schema.json")]
pub struct Vulnerability {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cve: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cwe: Vec<String>,
    pub products: Vec<Product>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cvss: Option<Cvss>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<String>,
}

/// An affected product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(missing_docs, reason = "documented in schemas/report.schema.json")]
pub struct Product {
    pub vendor: String,
    pub product: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions: Option<String>,
}

/// A CVSS score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(missing_docs, reason = "documented in schemas/report.schema.json")]
pub struct Cvss {
    pub version: String,
    pub vector: String,
    pub score: f64,
}

/// A typed indicator with its role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(missing_docs, reason = "documented in schemas/report.schema.json")]
pub struct Indicator {
    #[serde(rename = "type")]
    pub kind: IndicatorType,
    pub value: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<Timestamp>,
}

/// The type of an indicator value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[expect(missing_docs, reason = "names say it")]
pub enum IndicatorType {
    Ipv4,
    Ipv6,
    Cidr,
    Domain,
    Url,
    Email,
    Md5,
    Sha1,
    Sha256,
    Sha512,
    Asn,
    UserAgent,
    Filename,
    Mac,
    Username,
}

impl IndicatorType {
    /// The name the report uses.
    pub fn as_str(self) -> &'static str {
        match self {
            IndicatorType::Ipv4 => "ipv4",
            IndicatorType::Ipv6 => "ipv6",
            IndicatorType::Cidr => "cidr",
            IndicatorType::Domain => "domain",
            IndicatorType::Url => "url",
            IndicatorType::Email => "email",
            IndicatorType::Md5 => "md5",
            IndicatorType::Sha1 => "sha1",
            IndicatorType::Sha256 => "sha256",
            IndicatorType::Sha512 => "sha512",
            IndicatorType::Asn => "asn",
            IndicatorType::UserAgent => "user-agent",
            IndicatorType::Filename => "filename",
            IndicatorType::Mac => "mac",
            IndicatorType::Username => "username",
        }
    }
}

/// Which part an indicator's value played.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Where an attack came from.
    Source,
    /// Command-and-control infrastructure.
    C2,
    /// Malicious payload (file, hash).
    Payload,
    /// Where a payload was delivered from.
    PayloadDelivery,
    /// Where data was exfiltrated to.
    Exfiltration,
    /// Phishing sender, site or lure.
    Phishing,
    /// What was attacked.
    Target,
    /// Who was harmed.
    Victim,
    /// Reported as malicious, for detection, without saying how (an imported STIX indicator
    /// or MISP IDS attribute): attacker side.
    Unspecified,
    /// Seen, but not reported as malicious (imported observed data, a MISP attribute without
    /// the IDS flag): treated as victim side, so profiles protect it and it is never sent
    /// for detection.
    Observed,
}

impl Role {
    /// The name the report uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Source => "source",
            Role::C2 => "c2",
            Role::Payload => "payload",
            Role::PayloadDelivery => "payload-delivery",
            Role::Exfiltration => "exfiltration",
            Role::Phishing => "phishing",
            Role::Target => "target",
            Role::Victim => "victim",
            Role::Unspecified => "unspecified",
            Role::Observed => "observed",
        }
    }

    /// True for the victim side (target, victim, and what was only observed): what
    /// anonymization protects and what never goes out for detection. Everything else is the
    /// attacker's, which peers need in clear to act on.
    pub fn is_victim_side(self) -> bool {
        matches!(self, Role::Target | Role::Victim | Role::Observed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_within_respects_token_boundaries() {
        assert!(pointer_is_within("/indicators/2/value", "/indicators/2"));
        assert!(pointer_is_within("/indicators/2", "/indicators/2"));
        assert!(!pointer_is_within("/indicators/23", "/indicators/2"));
        assert!(!pointer_is_within("/indicators", "/indicators/2"));
    }

    #[test]
    fn timestamps_normalize_to_utc() {
        let t = Timestamp::parse("2026-11-02T09:15:00.5+01:00").unwrap();
        assert_eq!(t.to_rfc3339_utc(), "2026-11-02T08:15:00.5Z");
        assert_eq!(t.to_stix(), "2026-11-02T08:15:00.500Z");
        let w = Timestamp::parse("2026-11-02T08:15:00Z").unwrap();
        assert_eq!(w.to_rfc3339_utc(), "2026-11-02T08:15:00Z");
    }
}
