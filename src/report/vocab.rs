//! The reviewable mapping between the report's vocabularies and those of STIX 2.1 and IODEF v2.
//!
//! ISO/IEC 27035-2 6.2 asks teams to link their classification scales to those of the teams
//! they work with by a reversible mapping. This file is that mapping, in one place:
//!
//! - **Category**: the report uses the Reference Security Incident Taxonomy (RSIT, ENISA /
//!   TF-CSIRT), `class/type`. Each row also names the ISO/IEC 27035-1 incident category it
//!   belongs to. In STIX it travels as the label `rsit:<class>="<type>"` (the machine-tag form
//!   MISP's `rsit` taxonomy uses) beside `iso27035:category="<iso>"`; in IODEF as the same two
//!   strings in `Assessment/IncidentCategory`. The way back reads the `rsit:` string.
//! - **Severity**: the ISO/IEC 27035 class scale (I information .. IV emergency). In STIX the
//!   label `iso27035:severity="<class>"`; in IODEF `BusinessImpact@severity` low / medium / high,
//!   and `ext-value` with `ext-severity="emergency"` for class IV, which IODEF's three-step
//!   scale has no room for (so the mapping stays reversible).
//! - **Status**: IODEF `Incident@status` as it is, `false-positive` as `ext-value`; in STIX the
//!   label `iso27035:status="<status>"`.
//!
//! `irtx vocab` prints these tables. Pure: no I/O.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// ISO/IEC 27035-1 (2016, Annex B) information security incident categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IsoCategory {
    /// Natural disaster incident.
    NaturalDisaster,
    /// Social unrest incident.
    SocialUnrest,
    /// Physical damage incident (includes theft of equipment, sabotage).
    PhysicalDamage,
    /// Infrastructure failure incident (power, network outage).
    InfrastructureFailure,
    /// Radiation disturbance incident.
    RadiationDisturbance,
    /// Technical failure incident (hardware, software, misconfiguration).
    TechnicalFailure,
    /// Malware incident.
    Malware,
    /// Technical attack incident (scanning, exploitation, login attempts, DoS).
    TechnicalAttack,
    /// Rule violation incident (unauthorized use of resources, copyright).
    RuleViolation,
    /// Compromise of functions incident (abuse or forging of rights, masquerade).
    CompromiseOfFunctions,
    /// Compromise of information incident (interception, disclosure, phishing, data loss).
    CompromiseOfInformation,
    /// Harmful contents incident (spam, illegal or harmful content).
    HarmfulContent,
    /// Other incidents.
    Other,
}

impl IsoCategory {
    /// The category as a machine-readable name.
    pub fn as_str(self) -> &'static str {
        match self {
            IsoCategory::NaturalDisaster => "natural-disaster",
            IsoCategory::SocialUnrest => "social-unrest",
            IsoCategory::PhysicalDamage => "physical-damage",
            IsoCategory::InfrastructureFailure => "infrastructure-failure",
            IsoCategory::RadiationDisturbance => "radiation-disturbance",
            IsoCategory::TechnicalFailure => "technical-failure",
            IsoCategory::Malware => "malware",
            IsoCategory::TechnicalAttack => "technical-attack",
            IsoCategory::RuleViolation => "rule-violation",
            IsoCategory::CompromiseOfFunctions => "compromise-of-functions",
            IsoCategory::CompromiseOfInformation => "compromise-of-information",
            IsoCategory::HarmfulContent => "harmful-content",
            IsoCategory::Other => "other",
        }
    }
}

use IsoCategory as I;

/// Every report category (RSIT `class/type`) with its ISO/IEC 27035 category. The report
/// schema's `category` enum must list exactly these codes (a test checks it).
pub const CATEGORIES: &[(&str, IsoCategory)] = &[
    ("abusive-content/spam", I::HarmfulContent),
    ("abusive-content/harmful-speech", I::HarmfulContent),
    ("abusive-content/violence", I::HarmfulContent),
    ("malicious-code/infected-system", I::Malware),
    ("malicious-code/c2-server", I::Malware),
    ("malicious-code/malware-distribution", I::Malware),
    ("malicious-code/malware-configuration", I::Malware),
    ("information-gathering/scanner", I::TechnicalAttack),
    ("information-gathering/sniffing", I::CompromiseOfInformation),
    (
        "information-gathering/social-engineering",
        I::CompromiseOfInformation,
    ),
    ("intrusion-attempts/ids-alert", I::TechnicalAttack),
    ("intrusion-attempts/brute-force", I::TechnicalAttack),
    ("intrusion-attempts/exploit", I::TechnicalAttack),
    (
        "intrusions/privileged-account-compromise",
        I::CompromiseOfFunctions,
    ),
    (
        "intrusions/unprivileged-account-compromise",
        I::CompromiseOfFunctions,
    ),
    ("intrusions/application-compromise", I::TechnicalAttack),
    ("intrusions/system-compromise", I::TechnicalAttack),
    ("intrusions/burglary", I::PhysicalDamage),
    ("availability/dos", I::TechnicalAttack),
    ("availability/ddos", I::TechnicalAttack),
    ("availability/misconfiguration", I::TechnicalFailure),
    ("availability/sabotage", I::PhysicalDamage),
    ("availability/outage", I::InfrastructureFailure),
    (
        "information-content-security/unauthorised-information-access",
        I::CompromiseOfInformation,
    ),
    (
        "information-content-security/unauthorised-information-modification",
        I::CompromiseOfInformation,
    ),
    (
        "information-content-security/data-loss",
        I::CompromiseOfInformation,
    ),
    (
        "information-content-security/data-leak",
        I::CompromiseOfInformation,
    ),
    ("fraud/unauthorised-use-of-resources", I::RuleViolation),
    ("fraud/copyright", I::RuleViolation),
    ("fraud/masquerade", I::CompromiseOfFunctions),
    ("fraud/phishing", I::CompromiseOfInformation),
    ("vulnerable/weak-crypto", I::Other),
    ("vulnerable/ddos-amplifier", I::Other),
    ("vulnerable/potentially-unwanted-accessible", I::Other),
    ("vulnerable/information-disclosure", I::Other),
    ("vulnerable/vulnerable-system", I::Other),
    ("other/other", I::Other),
    ("other/undetermined", I::Other),
    ("test/test", I::Other),
];

/// A report category: one row of [`CATEGORIES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Category(usize);

/// The reason a string is not a report category.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a category; expected an RSIT `class/type` such as `intrusions/system-compromise` (`irtx vocab` lists all)")]
pub struct CategoryParseError(pub String);

impl Category {
    /// Every category, in table order.
    pub fn all() -> impl Iterator<Item = Category> {
        (0..CATEGORIES.len()).map(Category)
    }

    /// The `class/type` code the report uses.
    pub fn code(self) -> &'static str {
        CATEGORIES[self.0].0
    }

    /// The RSIT class (`intrusions`).
    pub fn rsit_class(self) -> &'static str {
        self.code().split_once('/').map_or("", |(c, _)| c)
    }

    /// The RSIT type (`system-compromise`).
    pub fn rsit_type(self) -> &'static str {
        self.code().split_once('/').map_or("", |(_, t)| t)
    }

    /// The ISO/IEC 27035 incident category this RSIT type belongs to.
    pub fn iso(self) -> IsoCategory {
        CATEGORIES[self.0].1
    }

    /// The machine tag carried as a STIX label and an IODEF `IncidentCategory`:
    /// `rsit:intrusions="system-compromise"`.
    pub fn machine_tag(self) -> String {
        format!("rsit:{}=\"{}\"", self.rsit_class(), self.rsit_type())
    }

    /// The ISO category as a machine tag: `iso27035:category="technical-attack"`.
    pub fn iso_machine_tag(self) -> String {
        format!("iso27035:category=\"{}\"", self.iso().as_str())
    }

    /// The way back: a category from its machine tag (STIX label or IODEF `IncidentCategory`).
    pub fn from_machine_tag(tag: &str) -> Option<Category> {
        let rest = tag.strip_prefix("rsit:")?;
        let (class, quoted) = rest.split_once('=')?;
        let kind = quoted.strip_prefix('"')?.strip_suffix('"')?;
        format!("{class}/{kind}").parse().ok()
    }
}

impl FromStr for Category {
    type Err = CategoryParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CATEGORIES
            .iter()
            .position(|(code, _)| *code == s)
            .map(Category)
            .ok_or_else(|| CategoryParseError(s.to_string()))
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The ISO/IEC 27035 severity class scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Class I: information.
    Information,
    /// Class II: warning.
    Warning,
    /// Class III: critical.
    Critical,
    /// Class IV: emergency.
    Emergency,
}

impl Severity {
    /// All classes, lowest first.
    pub const ALL: [Severity; 4] = [
        Severity::Information,
        Severity::Warning,
        Severity::Critical,
        Severity::Emergency,
    ];

    /// The class name the report uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Information => "information",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
            Severity::Emergency => "emergency",
        }
    }

    /// The STIX label: `iso27035:severity="critical"`.
    pub fn stix_label(self) -> String {
        format!("iso27035:severity=\"{}\"", self.as_str())
    }

    /// The way back from a STIX label.
    pub fn from_stix_label(label: &str) -> Option<Severity> {
        let v = label
            .strip_prefix("iso27035:severity=\"")?
            .strip_suffix('"')?;
        Severity::ALL.into_iter().find(|s| s.as_str() == v)
    }

    /// IODEF `BusinessImpact@severity` and, for `ext-value`, its `ext-severity`.
    pub fn iodef_severity(self) -> (&'static str, Option<&'static str>) {
        match self {
            Severity::Information => ("low", None),
            Severity::Warning => ("medium", None),
            Severity::Critical => ("high", None),
            Severity::Emergency => ("ext-value", Some("emergency")),
        }
    }

    /// The way back from IODEF `BusinessImpact@severity` (+ `ext-severity`).
    pub fn from_iodef(severity: &str, ext: Option<&str>) -> Option<Severity> {
        Severity::ALL
            .into_iter()
            .find(|s| s.iodef_severity() == (severity, ext))
    }
}

/// Handling status of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Newly reported, not yet handled.
    New,
    /// Being handled.
    InProgress,
    /// Handed on to another team.
    Forwarded,
    /// Handling is complete.
    Resolved,
    /// Assessed as not an incident (ISO/IEC 27035-2 6.3: false alarm).
    FalsePositive,
}

impl Status {
    /// All statuses.
    pub const ALL: [Status; 5] = [
        Status::New,
        Status::InProgress,
        Status::Forwarded,
        Status::Resolved,
        Status::FalsePositive,
    ];

    /// The name the report uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::InProgress => "in-progress",
            Status::Forwarded => "forwarded",
            Status::Resolved => "resolved",
            Status::FalsePositive => "false-positive",
        }
    }

    /// The STIX label: `iso27035:status="resolved"`.
    pub fn stix_label(self) -> String {
        format!("iso27035:status=\"{}\"", self.as_str())
    }

    /// The way back from a STIX label.
    pub fn from_stix_label(label: &str) -> Option<Status> {
        let v = label
            .strip_prefix("iso27035:status=\"")?
            .strip_suffix('"')?;
        Status::ALL.into_iter().find(|s| s.as_str() == v)
    }

    /// IODEF `Incident@status` and, for `ext-value`, its `ext-status`.
    pub fn iodef_status(self) -> (&'static str, Option<&'static str>) {
        match self {
            Status::FalsePositive => ("ext-value", Some("false-positive")),
            s => (s.as_str(), None),
        }
    }

    /// The way back from IODEF `Incident@status` (+ `ext-status`).
    pub fn from_iodef(status: &str, ext: Option<&str>) -> Option<Status> {
        Status::ALL
            .into_iter()
            .find(|s| s.iodef_status() == (status, ext))
    }
}

/// Serde and `FromStr` for the plain vocabulary enums, by their `as_str` names.
macro_rules! vocab_enum {
    ($t:ty, $what:literal) => {
        impl FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                <$t>::ALL
                    .into_iter()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| {
                        let all: Vec<_> = <$t>::ALL.iter().map(|v| v.as_str()).collect();
                        format!(
                            concat!("`{}` is not a ", $what, "; expected one of {}"),
                            s,
                            all.join(", ")
                        )
                    })
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d)?
                    .parse()
                    .map_err(serde::de::Error::custom)
            }
        }
    };
}
vocab_enum!(Severity, "severity");
vocab_enum!(Status, "status");

impl Serialize for Category {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Category {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn categories_round_trip_through_stix_and_iodef_tags() {
        let mut tags = HashSet::new();
        for c in Category::all() {
            let tag = c.machine_tag();
            assert!(tags.insert(tag.clone()), "two categories share {tag}");
            assert_eq!(Category::from_machine_tag(&tag), Some(c), "{tag}");
            assert_eq!(c.code().parse::<Category>(), Ok(c));
        }
        assert_eq!(Category::from_machine_tag("rsit:nope=\"x\""), None);
        assert_eq!(Category::from_machine_tag("intrusions/burglary"), None);
    }

    #[test]
    fn severities_round_trip_and_stay_distinct() {
        let mut seen = HashSet::new();
        for s in Severity::ALL {
            assert!(seen.insert(s.iodef_severity()));
            let (v, ext) = s.iodef_severity();
            assert_eq!(Severity::from_iodef(v, ext), Some(s));
            assert_eq!(Severity::from_stix_label(&s.stix_label()), Some(s));
        }
    }

    #[test]
    fn statuses_round_trip() {
        for s in Status::ALL {
            let (v, ext) = s.iodef_status();
            assert_eq!(Status::from_iodef(v, ext), Some(s));
            assert_eq!(Status::from_stix_label(&s.stix_label()), Some(s));
        }
    }

    #[test]
    fn schema_lists_exactly_the_table() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../schemas/report.schema.json")).unwrap();
        let listed: Vec<&str> = schema["$defs"]["category"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let table: Vec<&str> = CATEGORIES.iter().map(|(c, _)| *c).collect();
        assert_eq!(listed, table);
        let sev: Vec<&str> = schema["properties"]["severity"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(
            sev,
            Severity::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>()
        );
        let st: Vec<&str> = schema["properties"]["status"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(
            st,
            Status::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>()
        );
    }
}
