//! Anonymization profiles, applied per peer (DESIGN.md section 6; ISO/IEC 27035-2 6.9).
//!
//! A peer needs the attacker's values in clear to block them, and must not learn who the
//! victim or the reporter is. So a profile treats the two sides apart:
//!
//! - `none`: everything as it is (after TLP redaction);
//! - `pseudonymize`: the victim side is replaced by keyed pseudonyms: the reporter is dropped,
//!   the affected assets, the indicators whose role is `target` or `victim`, and every
//!   address, e-mail, URL, host name and phone number in free text that is not an
//!   attacker-side indicator. Attacker-side indicators stay in clear;
//! - `strict`: as `pseudonymize`, and the attacker side too: IP addresses truncated to a
//!   prefix (/24, /48 by default), everything else pseudonymized;
//! - profiles from config: a built-in base, and per role or per field `keep`, `drop`,
//!   `pseudonymize` or `truncate`.
//!
//! A value on the victim side anywhere is treated as victim-side everywhere: an attacker
//! indicator with the same value as an affected asset is pseudonymized too. Pseudonyms are
//! keyed and deterministic ([`pseudonym`]), so the same value gets the same pseudonym in
//! every report under one key. Pure.

pub mod cryptopan;
pub mod profiles;
pub mod pseudonym;
pub mod text;

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::report::redact::{self, Removal};
use crate::report::validate::{classify_address, AddressKind};
use crate::report::{self, Indicator, IndicatorType, Report, Role};
pub use profiles::{KeyRing, Profiles, UnknownProfile};
pub use pseudonym::{Key, Pseudonymizer};
use text::Scanner;

/// What a profile does with a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Treatment {
    /// Leave it as it is.
    Keep,
    /// Remove it.
    Drop,
    /// Replace it by its keyed pseudonym.
    Pseudonymize,
    /// IP addresses: cut to the profile's prefix; other values: pseudonymize.
    Truncate,
}

/// An anonymization profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The profile's name.
    pub name: String,
    /// The reporter (`keep`, `drop`, `pseudonymize`).
    pub reporter: Treatment,
    /// Affected assets: names, addresses, owners.
    pub assets: Treatment,
    /// Indicators whose role is `target` or `victim`.
    pub victim_indicators: Treatment,
    /// Indicators of every other role.
    pub attacker_indicators: Treatment,
    /// Free text: `keep`, or `pseudonymize` to scan and replace.
    pub free_text: Treatment,
    /// Per-role overrides of the two indicator treatments.
    pub roles: BTreeMap<Role, Treatment>,
    /// Per-field overrides by JSON pointer: `drop` removes the field; `keep` exempts it;
    /// `pseudonymize` scans a text field even when `free_text` is `keep`.
    pub fields: BTreeMap<String, Treatment>,
    /// Keep the domain of pseudonymized e-mail addresses.
    pub keep_email_domain: bool,
    /// Prefix IPv4 addresses are truncated to.
    pub ipv4_prefix: u8,
    /// Prefix IPv6 addresses are truncated to.
    pub ipv6_prefix: u8,
}

impl Profile {
    /// The built-in profiles' names.
    pub const BUILTIN: [&'static str; 3] = ["none", "pseudonymize", "strict"];

    /// A built-in profile by name.
    pub fn builtin(name: &str) -> Option<Profile> {
        let base = Profile {
            name: name.to_string(),
            reporter: Treatment::Keep,
            assets: Treatment::Keep,
            victim_indicators: Treatment::Keep,
            attacker_indicators: Treatment::Keep,
            free_text: Treatment::Keep,
            roles: BTreeMap::new(),
            fields: BTreeMap::new(),
            keep_email_domain: false,
            ipv4_prefix: 24,
            ipv6_prefix: 48,
        };
        match name {
            "none" => Some(base),
            "pseudonymize" => Some(Profile {
                reporter: Treatment::Drop,
                assets: Treatment::Pseudonymize,
                victim_indicators: Treatment::Pseudonymize,
                free_text: Treatment::Pseudonymize,
                ..base
            }),
            "strict" => Some(Profile {
                reporter: Treatment::Drop,
                assets: Treatment::Pseudonymize,
                victim_indicators: Treatment::Pseudonymize,
                attacker_indicators: Treatment::Truncate,
                free_text: Treatment::Pseudonymize,
                ..base
            }),
            _ => None,
        }
    }

    /// True when the profile changes nothing.
    pub fn is_identity(&self) -> bool {
        [
            self.reporter,
            self.assets,
            self.victim_indicators,
            self.attacker_indicators,
            self.free_text,
        ]
        .iter()
        .chain(self.roles.values())
        .chain(self.fields.values())
        .all(|t| *t == Treatment::Keep)
    }

    /// True when the profile needs a key.
    pub fn needs_key(&self) -> bool {
        !self.is_identity()
    }

    fn indicator_treatment(&self, i: usize, ind: &Indicator) -> Treatment {
        if let Some(t) = self.fields.get(&format!("/indicators/{i}")) {
            return *t;
        }
        if let Some(t) = self.roles.get(&ind.role) {
            return *t;
        }
        if ind.role.is_victim_side() {
            self.victim_indicators
        } else {
            self.attacker_indicators
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// One value replaced, so the ledger can record which pseudonym a peer got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Replacement {
    /// The value in the report.
    pub original: String,
    /// What the peer got instead.
    pub pseudonym: String,
}

/// A report after anonymization.
#[derive(Debug, Clone, PartialEq)]
pub struct Anonymized {
    /// The anonymized report.
    pub report: Report,
    /// Structured values replaced (free-text replacements use the same pseudonyms).
    pub replacements: Vec<Replacement>,
    /// Fields the profile removed.
    pub removed: Vec<Removal>,
}

/// Why a report could not be anonymized.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnonymizeError {
    /// The profile drops a field a report cannot do without.
    #[error("profile `{profile}` drops a field the report needs: {detail}")]
    Invalid {
        /// The profile.
        profile: String,
        /// What validation said.
        detail: String,
    },
}

/// Applies `profile` to `r` with the pseudonyms of `p`.
pub fn anonymize(
    r: &Report,
    profile: &Profile,
    p: &Pseudonymizer,
) -> Result<Anonymized, AnonymizeError> {
    anonymize_redacted(r, r, profile, p)
}

/// Applies `profile` to `r`, a redacted copy of `original`. Victim-side values of the
/// original that redaction removed from their structured fields (a reporter marked RED, an
/// asset above the peer's cap) are still replaced wherever free text names them.
pub fn anonymize_redacted(
    r: &Report,
    original: &Report,
    profile: &Profile,
    p: &Pseudonymizer,
) -> Result<Anonymized, AnonymizeError> {
    if profile.is_identity() {
        return Ok(Anonymized {
            report: r.clone(),
            replacements: Vec::new(),
            removed: Vec::new(),
        });
    }
    let mut out = r.clone();
    let mut known: Vec<(String, String)> = Vec::new();
    let exempt = |ptr: &str| profile.fields.get(ptr) == Some(&Treatment::Keep);
    if !std::ptr::eq(r, original) {
        known.extend(removed_victim_values(original, profile, p));
    }

    // Victim-side values first: they win over an attacker indicator with the same value.
    let mut victim_values: HashSet<String> = HashSet::new();
    if profile.assets != Treatment::Keep {
        for (i, a) in r.assets.iter().enumerate() {
            if exempt(&format!("/assets/{i}")) {
                continue;
            }
            victim_values.insert(a.name.to_lowercase());
            if let Some(addr) = &a.address {
                victim_values.insert(addr.to_lowercase());
            }
        }
    }
    for (i, ind) in r.indicators.iter().enumerate() {
        if ind.role.is_victim_side() && profile.indicator_treatment(i, ind) != Treatment::Keep {
            victim_values.insert(ind.value.to_lowercase());
        }
    }

    // Indicators.
    let mut keep: HashSet<String> = HashSet::new();
    for (i, ind) in out.indicators.iter_mut().enumerate() {
        let mut t = profile.indicator_treatment(i, ind);
        if t == Treatment::Keep
            && victim_values.contains(&ind.value.to_lowercase())
            && !exempt(&format!("/indicators/{i}"))
        {
            t = Treatment::Pseudonymize;
        }
        match t {
            Treatment::Keep => {
                keep.insert(ind.value.to_lowercase());
            }
            Treatment::Drop => {} // removed below
            Treatment::Pseudonymize | Treatment::Truncate => {
                let (kind, value) = transform(ind, t, profile, p);
                known.push((ind.value.clone(), value.clone()));
                ind.kind = kind;
                ind.value = value;
            }
        }
    }

    // Assets.
    if profile.assets != Treatment::Keep {
        for (i, a) in out.assets.iter_mut().enumerate() {
            if exempt(&format!("/assets/{i}")) {
                continue;
            }
            let pseudo = pseudonymized_asset(a, p);
            known.extend(value_pairs(&[
                (Some(&a.name), Some(&pseudo.name)),
                (a.address.as_ref(), pseudo.address.as_ref()),
                (a.owner.as_ref(), pseudo.owner.as_ref()),
            ]));
            *a = pseudo;
        }
    }

    // The reporter: its values are known either way, so prose that names them is covered.
    if profile.reporter != Treatment::Keep && !exempt("/reporter") {
        let pseudo = pseudonymized_reporter(&r.reporter, profile, p);
        known.extend(reporter_pairs(&r.reporter, &pseudo));
        out.reporter = if profile.reporter == Treatment::Pseudonymize {
            pseudo
        } else {
            report::Reporter {
                name: redact::WITHHELD.to_string(),
                organization: None,
                email: None,
                phone: None,
                role: None,
                identity_class: None,
            }
        };
    }

    // Free text.
    let scanner = Scanner::new(&known, keep, p, profile.keep_email_domain);
    let scan_field = |ptr: &str| match profile.fields.get(ptr) {
        Some(Treatment::Keep) => false,
        Some(Treatment::Pseudonymize) => true,
        _ => profile.free_text != Treatment::Keep,
    };
    let scan = |ptr: &str, s: &mut String| {
        if scan_field(ptr) {
            *s = scanner.scan(s);
        }
    };
    let scan_opt = |ptr: &str, s: &mut Option<String>| {
        if let Some(s) = s {
            scan(ptr, s);
        }
    };
    scan("/title", &mut out.title);
    scan_opt("/description", &mut out.description);
    scan_opt("/what_occurred", &mut out.what_occurred);
    scan_opt("/how_occurred", &mut out.how_occurred);
    scan_opt("/why_occurred", &mut out.why_occurred);
    scan_opt("/environment", &mut out.environment);
    if let Some(role) = &mut out.reporter.role {
        scan("/reporter/role", role);
    }
    if let Some(imp) = &mut out.impact {
        scan_opt("/impact/description", &mut imp.description);
    }
    for (i, a) in out.actions_taken.iter_mut().enumerate() {
        scan(
            &format!("/actions_taken/{i}/description"),
            &mut a.description,
        );
        if let Some(by) = &mut a.by {
            if scan_field(&format!("/actions_taken/{i}/by")) {
                *by = scanner.scan(by);
                if *by == r.actions_taken[i].by.clone().unwrap_or_default() {
                    *by = p.person(by);
                }
            }
        }
    }
    for (i, a) in out.assets.iter_mut().enumerate() {
        scan_opt(&format!("/assets/{i}/description"), &mut a.description);
    }
    for (i, ind) in out.indicators.iter_mut().enumerate() {
        scan_opt(
            &format!("/indicators/{i}/description"),
            &mut ind.description,
        );
    }
    if let Some(v) = &mut out.vulnerability {
        scan_opt("/vulnerability/remediation", &mut v.remediation);
    }

    // Drops: fields the profile removes, dropped indicators, and duplicates that pseudonyms
    // or truncation made (two attacker addresses in one /24).
    let mut removed: Vec<Removal> = Vec::new();
    for (ptr, t) in &profile.fields {
        if *t == Treatment::Drop {
            removed.push(Removal {
                pointer: ptr.clone(),
                tlp: r.tlp_covering(ptr),
                reason: format!("dropped by profile `{}`", profile.name),
            });
        }
    }
    let mut seen = HashSet::new();
    for (i, ind) in out.indicators.iter().enumerate() {
        let ptr = format!("/indicators/{i}");
        let dropped = profile.indicator_treatment(i, &r.indicators[i]) == Treatment::Drop;
        let dup = !seen.insert((ind.kind, ind.value.to_lowercase(), ind.role));
        if (dropped || dup) && !removed.iter().any(|x| x.pointer == ptr) {
            removed.push(Removal {
                pointer: ptr,
                tlp: r.tlp_covering(&format!("/indicators/{i}")),
                reason: if dropped {
                    format!("dropped by profile `{}`", profile.name)
                } else {
                    "same value as an earlier indicator after anonymization".into()
                },
            });
        }
    }
    let snapshot = serde_json::to_value(&out).expect("a report serializes");
    removed.retain(|x| snapshot.pointer(&x.pointer).is_some());
    let report = if removed.is_empty() {
        report::validate::parse_derived(&serde_json::to_value(&out).expect("serializes"), r)
            .map_err(|v| AnonymizeError::Invalid {
                profile: profile.name.clone(),
                detail: v
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            })?
    } else {
        redact::redact(&out, &removed).map_err(|w| AnonymizeError::Invalid {
            profile: profile.name.clone(),
            detail: w.to_string(),
        })?
    };
    let mut replacements: Vec<Replacement> = known
        .into_iter()
        .map(|(original, pseudonym)| Replacement {
            original,
            pseudonym,
        })
        .collect();
    replacements.sort_by(|a, b| a.original.cmp(&b.original));
    replacements.dedup();
    Ok(Anonymized {
        report,
        replacements,
        removed,
    })
}

/// The pseudonyms of the original report's victim-side values (the reporter, assets,
/// victim-side indicators), as the profile would give them.
fn removed_victim_values(
    original: &Report,
    profile: &Profile,
    p: &Pseudonymizer,
) -> Vec<(String, String)> {
    let mut known = Vec::new();
    if profile.reporter != Treatment::Keep {
        let rep = &original.reporter;
        known.extend(reporter_pairs(
            rep,
            &pseudonymized_reporter(rep, profile, p),
        ));
    }
    if profile.assets != Treatment::Keep {
        for a in &original.assets {
            let pseudo = pseudonymized_asset(a, p);
            known.extend(value_pairs(&[
                (Some(&a.name), Some(&pseudo.name)),
                (a.address.as_ref(), pseudo.address.as_ref()),
                (a.owner.as_ref(), pseudo.owner.as_ref()),
            ]));
        }
    }
    for (i, ind) in original.indicators.iter().enumerate() {
        let t = profile.indicator_treatment(i, ind);
        if ind.role.is_victim_side() && t != Treatment::Keep {
            let t = if t == Treatment::Drop {
                Treatment::Pseudonymize
            } else {
                t
            };
            known.push((ind.value.clone(), transform(ind, t, profile, p).1));
        }
    }
    known
}

/// The reporter with every identifying field pseudonymized (its role kept).
fn pseudonymized_reporter(
    rep: &report::Reporter,
    profile: &Profile,
    p: &Pseudonymizer,
) -> report::Reporter {
    report::Reporter {
        name: p.person(&rep.name),
        organization: rep.organization.as_ref().map(|o| p.organization(o)),
        email: rep
            .email
            .as_ref()
            .map(|e| p.email(e, profile.keep_email_domain)),
        phone: rep.phone.as_ref().map(|n| p.phone(n)),
        role: rep.role.clone(),
        identity_class: rep.identity_class.clone(),
    }
}

/// The reporter's (value, pseudonym) pairs, for replacing them in free text. A name that is
/// already the redaction placeholder is not a value to replace.
fn reporter_pairs(rep: &report::Reporter, pseudo: &report::Reporter) -> Vec<(String, String)> {
    let name = (rep.name != redact::WITHHELD).then_some(&rep.name);
    value_pairs(&[
        (name, Some(&pseudo.name)),
        (rep.organization.as_ref(), pseudo.organization.as_ref()),
        (rep.email.as_ref(), pseudo.email.as_ref()),
        (rep.phone.as_ref(), pseudo.phone.as_ref()),
    ])
}

/// The asset with its name, address and owner pseudonymized.
fn pseudonymized_asset(a: &report::Asset, p: &Pseudonymizer) -> report::Asset {
    report::Asset {
        name: p.asset(&a.name),
        address: a.address.as_ref().map(|x| address(x, p)),
        owner: a.owner.as_ref().map(|o| p.organization(o)),
        ..a.clone()
    }
}

/// (value, pseudonym) pairs of the fields present on both sides.
fn value_pairs(fields: &[(Option<&String>, Option<&String>)]) -> Vec<(String, String)> {
    fields
        .iter()
        .filter_map(|(v, p)| Some(((*v)?.clone(), (*p)?.clone())))
        .collect()
}

/// An asset address's pseudonym, by what it is.
fn address(addr: &str, p: &Pseudonymizer) -> String {
    match classify_address(addr) {
        Some(AddressKind::Ipv4 | AddressKind::Ipv6) => addr
            .parse::<IpAddr>()
            .map(|a| p.ip(a).to_string())
            .unwrap_or_else(|_| p.host(addr)),
        Some(AddressKind::Cidr) => addr
            .parse::<ipnet::IpNet>()
            .map(|n| p.cidr(n).to_string())
            .unwrap_or_else(|_| p.host(addr)),
        Some(AddressKind::Url) => p.url(addr),
        Some(AddressKind::Hostname) | None => p.host(addr),
    }
}

/// The new type and value of an indicator under `t` (pseudonymize or truncate).
fn transform(
    ind: &Indicator,
    t: Treatment,
    profile: &Profile,
    p: &Pseudonymizer,
) -> (IndicatorType, String) {
    use IndicatorType as T;
    let v = ind.value.as_str();
    let truncate = t == Treatment::Truncate;
    match ind.kind {
        T::Ipv4 | T::Ipv6 | T::Cidr if truncate => {
            let net: ipnet::IpNet = match ind.kind {
                T::Cidr => v.parse().expect("validated CIDR"),
                _ => {
                    let a: IpAddr = v.parse().expect("validated address");
                    ipnet::IpNet::from(a)
                }
            };
            let cut = match net {
                ipnet::IpNet::V4(_) => profile.ipv4_prefix,
                ipnet::IpNet::V6(_) => profile.ipv6_prefix,
            };
            let prefix = net.prefix_len().min(cut);
            let short = ipnet::IpNet::new(net.network(), prefix)
                .expect("shorter prefix")
                .trunc();
            (T::Cidr, short.to_string())
        }
        T::Ipv4 => (
            T::Ipv4,
            v.parse::<Ipv4Addr>()
                .map(|a| p.ipv4(a).to_string())
                .unwrap_or_default(),
        ),
        T::Ipv6 => (
            T::Ipv6,
            v.parse::<Ipv6Addr>()
                .map(|a| p.ipv6(a).to_string())
                .unwrap_or_default(),
        ),
        T::Cidr => (
            T::Cidr,
            v.parse::<ipnet::IpNet>()
                .map(|n| p.cidr(n).to_string())
                .unwrap_or_default(),
        ),
        T::Domain => (T::Domain, p.host(v)),
        T::Url => (T::Url, p.url(v)),
        T::Email => (T::Email, p.email(v, profile.keep_email_domain)),
        T::Md5 => (T::Md5, p.digest(v, 32)),
        T::Sha1 => (T::Sha1, p.digest(v, 40)),
        T::Sha256 => (T::Sha256, p.digest(v, 64)),
        T::Sha512 => (T::Sha512, p.digest(v, 128)),
        T::Asn => (T::Asn, p.asn(v)),
        T::Mac => (T::Mac, p.mac_addr(v)),
        T::UserAgent => (T::UserAgent, p.other("ua", v)),
        T::Filename => (T::Filename, p.other("file", v)),
        T::Username => (T::Username, p.username(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ransomware() -> Report {
        let text = include_str!("../../tests/data/valid/incident-ransomware-full.json");
        report::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn pseudonymize_hides_the_victim_and_keeps_the_attacker() {
        let r = ransomware();
        let p = Pseudonymizer::new(&Key::from_bytes([9; 32]));
        let a = anonymize(&r, &Profile::builtin("pseudonymize").unwrap(), &p).unwrap();
        let out = serde_json::to_string(&a.report).unwrap();
        for victim in [
            "Jana Novak",
            "jana.novak@utility.example.org",
            "+49 30 9876543",
            "Example Utility GmbH",
            "10.20.1.11",
            "fs02.corp.utility.example.org",
            "192.0.2.10",
            "m.schmidt@utility.example.org",
            "+49 30 1234567",
            "IT operations",
        ] {
            assert!(!out.contains(victim), "{victim} leaked: {out}");
        }
        for attacker in [
            "203.0.113.7",
            "update-check.evil.example",
            "it-support@helpdesk-login.example",
            "198.51.100.0/24",
            "AS64496",
        ] {
            assert!(out.contains(attacker), "{attacker} lost");
        }
        assert_eq!(a.report.reporter.name, redact::WITHHELD);
        assert!(a.replacements.iter().any(|x| x.original == "10.20.1.11"));
    }

    #[test]
    fn strict_hides_both_sides_and_truncates_attacker_addresses() {
        let r = ransomware();
        let p = Pseudonymizer::new(&Key::from_bytes([9; 32]));
        let a = anonymize(&r, &Profile::builtin("strict").unwrap(), &p).unwrap();
        let out = serde_json::to_string(&a.report).unwrap();
        for any in [
            "203.0.113.7",
            "update-check.evil.example",
            "it-support@helpdesk-login.example",
            "10.20.1.11",
            "Jana Novak",
        ] {
            assert!(!out.contains(any), "{any} leaked");
        }
        assert!(a
            .report
            .indicators
            .iter()
            .any(|i| i.value == "203.0.113.0/24" && i.kind == IndicatorType::Cidr));
    }

    #[test]
    fn none_changes_nothing() {
        let r = ransomware();
        let p = Pseudonymizer::new(&Key::from_bytes([9; 32]));
        assert_eq!(
            anonymize(&r, &Profile::builtin("none").unwrap(), &p)
                .unwrap()
                .report,
            r
        );
    }
}
