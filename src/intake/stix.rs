//! A STIX 2.1 bundle into the report form.
//!
//! - Checked first: every object against the OASIS schema of its type, `modified` not before
//!   `created`; a bundle that fails is refused with the pointer and the reason.
//! - Label: the markings must be the exact TLP 1.0 or 2.0 ids, and any marking-definition
//!   object the bundle carries must be the published one; anything else quarantines the
//!   bundle. The label is the highest marking in it (every part of the report is treated as
//!   at least that: nothing is ever sent lower than it came); a bundle without any marking
//!   takes the default.
//! - Title: the `report` or `grouping` container's name, else the incident's, the
//!   vulnerability's, or the first named object's. Reporter: the identity the container (or
//!   main object) is `created_by`.
//! - Indicators: each comparison of an `indicator`'s STIX pattern (`=` on a value, `ISSUBSET`
//!   on a network) whose object path irtx knows; patterns that join values with AND or
//!   FOLLOWEDBY are not single values and are counted in `lost`. Roles from irtx's
//!   `irtx:role` labels, else `unspecified` (`observed` for `benign`, `target` for
//!   `compromised`). Observable objects (SCOs) become `observed` values unless a label or an
//!   indicator says more.
//! - irtx's own bundles come back whole enough to share onward: the narrative notes return
//!   to their fields, the timeline to its times, infrastructure to assets, the labels to
//!   category, severity and status.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{clip, ip_kind, Indicators, Intake, Lost, Read, Seen};
use crate::exchange::inbound::document::stix_markings;
use crate::report::{
    Asset, AssetType, Category, IndicatorType, Kind, Report, Reporter, Role, Severity, Status,
    Timestamp, Vulnerability,
};
use crate::tlp::Tlp;

/// Reads a STIX 2.1 bundle.
pub fn read(bundle: &Value, default_tlp: Tlp, now: Timestamp) -> Intake {
    let mut problems: Vec<String> = crate::schema::check_stix_bundle(bundle)
        .iter()
        .map(ToString::to_string)
        .collect();
    let objects = bundle["objects"].as_array().map_or(&[][..], Vec::as_slice);
    for (i, o) in objects.iter().enumerate() {
        if let (Some(c), Some(m)) = (time(&o["created"]), time(&o["modified"])) {
            if m < c {
                problems.push(format!("/objects/{i}/modified: before `created`"));
            }
        }
    }
    if !problems.is_empty() {
        return Intake::Refuse(problems);
    }
    let (labels, unknown) = stix_markings(bundle);
    if !unknown.is_empty() {
        return Intake::Quarantine(unknown);
    }
    let (tlp, marking) = match labels.iter().max() {
        Some(max) => {
            let distinct: BTreeSet<Tlp> = labels.iter().copied().collect();
            let others = if distinct.len() > 1 {
                format!(
                    " (the highest of {})",
                    distinct
                        .iter()
                        .map(|t| format!("TLP:{t}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            } else {
                String::new()
            };
            (*max, format!("STIX marking TLP:{max}{others}"))
        }
        None => (
            default_tlp,
            format!("no TLP marking in the bundle: the default, TLP:{default_tlp} ([import] default_tlp)"),
        ),
    };
    let b = Bundle::new(objects);
    let (report, lost) = b.report(tlp, now);
    let producer = b.producer();
    let tool = match &producer {
        Some(p) => format!("stix ({p})"),
        None => "stix".to_string(),
    };
    Intake::Ready(Box::new(Read {
        tlp,
        marking,
        tool,
        source: producer,
        report,
        lost,
    }))
}

fn time(v: &Value) -> Option<Timestamp> {
    v.as_str().and_then(|s| Timestamp::parse(s).ok())
}

/// The objects of a bundle by id.
struct Bundle<'a> {
    objects: &'a [Value],
    by_id: BTreeMap<&'a str, &'a Value>,
}

impl<'a> Bundle<'a> {
    fn new(objects: &'a [Value]) -> Self {
        let by_id = objects
            .iter()
            .filter_map(|o| Some((o["id"].as_str()?, o)))
            .collect();
        Bundle { objects, by_id }
    }

    fn of_type(&self, ty: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.objects.iter().filter(move |o| o["type"] == ty)
    }

    /// The container (report, grouping), else the main object.
    fn main(&self) -> Option<&'a Value> {
        ["report", "grouping", "incident", "vulnerability"]
            .iter()
            .find_map(|t| self.of_type(t).next())
            .or_else(|| {
                self.objects.iter().find(|o| {
                    o["name"].is_string()
                        && o["type"] != "identity"
                        && o["type"] != "marking-definition"
                })
            })
    }

    /// The name of the identity the main object was created by.
    fn producer(&self) -> Option<String> {
        let by = self.main()?["created_by_ref"].as_str()?;
        self.by_id.get(by)?["name"].as_str().map(str::to_string)
    }

    fn report(&self, tlp: Tlp, now: Timestamp) -> (Report, Vec<String>) {
        let main = self.main();
        let incident = self.of_type("incident").next();
        let vulnerability = self.of_type("vulnerability").next();
        let mut lost = Lost::default();
        let mut ind = Indicators::default();
        let mut used: BTreeSet<&str> = BTreeSet::new();

        // Labels: irtx's (or anyone's) machine tags for category, severity, status.
        let labels: Vec<&str> = [main, incident]
            .into_iter()
            .flatten()
            .flat_map(|o| o["labels"].as_array().into_iter().flatten())
            .filter_map(Value::as_str)
            .collect();
        let category = labels.iter().find_map(|l| Category::from_machine_tag(l));
        let severity = labels.iter().find_map(|l| Severity::from_stix_label(l));
        let status = labels.iter().find_map(|l| Status::from_stix_label(l));

        // Indicators from patterns.
        for o in self.of_type("indicator") {
            used.insert(o["id"].as_str().unwrap_or_default());
            if o["pattern_type"].as_str().unwrap_or("stix") != "stix" {
                lost.add("indicators with non-STIX patterns");
                continue;
            }
            let role = role_of(o).unwrap_or_else(|| {
                let types: Vec<&str> = o["indicator_types"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                if types.contains(&"benign") {
                    Role::Observed
                } else if types.contains(&"compromised") {
                    Role::Target
                } else {
                    Role::Unspecified
                }
            });
            let seen = (time(&o["valid_from"]), None);
            match comparisons(o["pattern"].as_str().unwrap_or_default()) {
                Pattern::Values(values) => {
                    for (path, value) in values {
                        match kind_of_path(&path, &value) {
                            Some(k) => ind.add(k, &value, role, None, seen),
                            None => lost.add(format!("pattern values on `{path}`")),
                        }
                    }
                }
                Pattern::Joined => {
                    lost.add("indicators whose pattern joins values (AND, FOLLOWEDBY)")
                }
                Pattern::Unreadable => lost.add("indicators with unreadable patterns"),
            }
        }

        // Observed values: SCOs, with the role their observed data gives.
        let mut role_of_sco: BTreeMap<&str, (Role, Seen)> = BTreeMap::new();
        for od in self.of_type("observed-data") {
            used.insert(od["id"].as_str().unwrap_or_default());
            let role = role_of(od).unwrap_or(Role::Observed);
            let seen = (time(&od["first_observed"]), time(&od["last_observed"]));
            for r in od["object_refs"].as_array().into_iter().flatten() {
                if let Some(r) = r.as_str() {
                    role_of_sco.insert(r, (role, seen));
                }
            }
            // STIX 2.0 style: the observables inside.
            for sco in od["objects"]
                .as_object()
                .into_iter()
                .flat_map(|m| m.values())
            {
                self.observable(sco, role, seen, &mut ind, &mut lost);
            }
        }
        for o in self.objects.iter().filter(|o| is_sco(o)) {
            let id = o["id"].as_str().unwrap_or_default();
            used.insert(id);
            let (role, seen) = role_of_sco
                .get(id)
                .copied()
                .unwrap_or((Role::Observed, (None, None)));
            self.observable(o, role, seen, &mut ind, &mut lost);
        }

        // The victim's infrastructure: assets.
        let mut assets = Vec::new();
        for o in self.of_type("infrastructure") {
            used.insert(o["id"].as_str().unwrap_or_default());
            assets.push(self.asset(o));
        }

        // Notes: irtx's narrative back to its fields, others into the description.
        let mut fields: BTreeMap<&str, String> = BTreeMap::new();
        let mut extra: Vec<String> = Vec::new();
        let mut times: BTreeMap<&str, Timestamp> = BTreeMap::new();
        for n in self.of_type("note") {
            used.insert(n["id"].as_str().unwrap_or_default());
            let abstract_ = n["abstract"].as_str().unwrap_or_default();
            let content = n["content"].as_str().unwrap_or_default().to_string();
            let field = match abstract_ {
                "What occurred" => Some("what_occurred"),
                "How it occurred" => Some("how_occurred"),
                "Why it occurred" => Some("why_occurred"),
                "Affected environment" => Some("environment"),
                _ => None,
            };
            match field {
                Some(f) => {
                    fields.insert(f, content);
                }
                None if abstract_ == "Timeline" => {
                    for line in content.lines() {
                        if let Some((label, t)) = line.split_once(": ") {
                            if let Ok(t) = Timestamp::parse(t.trim()) {
                                times.insert(timeline_field(label), t);
                            }
                        }
                    }
                }
                None if abstract_.is_empty() => extra.push(content),
                None => extra.push(format!("{abstract_}: {content}")),
            }
        }

        // Vulnerabilities: their CVE and CWE ids.
        let mut cve = Vec::new();
        let mut cwe = Vec::new();
        for v in self.of_type("vulnerability") {
            used.insert(v["id"].as_str().unwrap_or_default());
            for r in v["external_references"].as_array().into_iter().flatten() {
                let id = r["external_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_ascii_uppercase();
                match r["source_name"].as_str() {
                    Some("cve") if !cve.contains(&id) => cve.push(id),
                    Some("cwe") if !cwe.contains(&id) => cwe.push(id),
                    _ => {}
                }
            }
        }
        cve.retain(|c| valid_id(c, "CVE-", true));
        cwe.retain(|c| valid_id(c, "CWE-", false));

        // What the report form does not carry.
        for o in self.objects {
            let ty = o["type"].as_str().unwrap_or_default();
            let id = o["id"].as_str().unwrap_or_default();
            let carried = used.contains(id)
                || matches!(
                    ty,
                    "marking-definition"
                        | "extension-definition"
                        | "identity"
                        | "relationship"
                        | "report"
                        | "grouping"
                        | "incident"
                        | "language-content"
                )
                || main.is_some_and(|m| m["id"] == id);
            if !carried {
                lost.add(format!("STIX `{ty}` objects"));
            }
        }

        let creator = main
            .and_then(|m| m["created_by_ref"].as_str())
            .and_then(|id| self.by_id.get(id).copied());
        let reporter = self
            .of_type("identity")
            .find(|o| {
                o["roles"]
                    .as_array()
                    .is_some_and(|r| r.iter().any(|x| x == "reporter"))
            })
            .or(creator);
        let title = main
            .and_then(|m| m["name"].as_str())
            .unwrap_or("(STIX bundle without a name)");
        let mut description: Vec<String> = [main, incident]
            .into_iter()
            .flatten()
            .filter_map(|o| o["description"].as_str())
            .map(str::to_string)
            .collect();
        description.dedup();
        description.extend(extra);
        let reported = main
            .and_then(|m| time(&m["published"]).or_else(|| time(&m["created"])))
            .unwrap_or(now);
        let kind = if incident.is_some() {
            Kind::Incident
        } else if vulnerability.is_some() && main.is_some_and(|m| m["type"] == "vulnerability") {
            Kind::Vulnerability
        } else {
            Kind::Event
        };
        let mut lines = lost.into_lines();
        lines.extend(ind.lost.into_lines());
        let report = Report {
            id: None,
            version: None,
            kind,
            title: clip(title, 500),
            description: (!description.is_empty())
                .then(|| clip(&description.join("\n\n"), 100_000)),
            tlp,
            field_tlp: BTreeMap::new(),
            category,
            severity,
            status,
            occurred_at: times.get("occurred_at").copied(),
            detected_at: times.get("detected_at").copied(),
            reported_at: times.get("reported_at").copied().unwrap_or(reported),
            ended_at: times.get("ended_at").copied(),
            disclosed_at: times.get("disclosed_at").copied(),
            updated_at: None,
            reporter: Reporter {
                name: clip(
                    reporter
                        .and_then(|r| r["name"].as_str())
                        .unwrap_or("(STIX bundle without a producer)"),
                    200,
                ),
                organization: None,
                email: None,
                phone: None,
                role: None,
                identity_class: reporter
                    .and_then(|r| r["identity_class"].as_str())
                    .filter(|c| {
                        [
                            "individual",
                            "group",
                            "system",
                            "organization",
                            "class",
                            "unknown",
                        ]
                        .contains(c)
                    })
                    .map(str::to_string),
            },
            what_occurred: fields.remove("what_occurred"),
            how_occurred: fields.remove("how_occurred"),
            why_occurred: fields.remove("why_occurred"),
            environment: fields.remove("environment"),
            assets,
            impact: None,
            actions_taken: Vec::new(),
            related_reports: Vec::new(),
            vulnerability: (!cve.is_empty() || !cwe.is_empty() || kind == Kind::Vulnerability)
                .then(|| Vulnerability {
                    cve,
                    cwe,
                    products: Vec::new(),
                    cvss: None,
                    remediation: None,
                }),
            indicators: ind.list,
        };
        (report, lines)
    }

    /// One observable object as a value, if irtx knows its type.
    fn observable(&self, o: &Value, role: Role, seen: Seen, ind: &mut Indicators, lost: &mut Lost) {
        let ty = o["type"].as_str().unwrap_or_default();
        let text = |k: &str| o[k].as_str().map(str::to_string);
        let mut add = |k: Option<IndicatorType>, v: Option<String>| match (k, v) {
            (Some(k), Some(v)) => ind.add(k, &v, role, None, seen),
            _ => lost.add(format!("STIX `{ty}` objects irtx does not read")),
        };
        match ty {
            "ipv4-addr" | "ipv6-addr" => {
                let v = text("value");
                add(v.as_deref().and_then(ip_kind), v)
            }
            "domain-name" => add(Some(IndicatorType::Domain), text("value")),
            "url" => add(Some(IndicatorType::Url), text("value")),
            "email-addr" => add(Some(IndicatorType::Email), text("value")),
            "mac-addr" => add(Some(IndicatorType::Mac), text("value")),
            "autonomous-system" => add(
                Some(IndicatorType::Asn),
                o["number"].as_u64().map(|n| format!("AS{n}")),
            ),
            "user-account" => add(
                Some(IndicatorType::Username),
                text("account_login").or_else(|| text("user_id")),
            ),
            "file" => {
                let mut any = false;
                if let Some(n) = text("name") {
                    ind.add(IndicatorType::Filename, &n, role, None, seen);
                    any = true;
                }
                for (alg, h) in o["hashes"].as_object().into_iter().flatten() {
                    match (hash_kind(alg), h.as_str()) {
                        (Some(k), Some(h)) => {
                            ind.add(k, h, role, None, seen);
                            any = true;
                        }
                        _ => lost.add(format!("file hashes of type `{alg}`")),
                    }
                }
                if !any {
                    lost.add("STIX `file` objects without a name or known hash");
                }
            }
            _ => lost.add(format!("STIX `{ty}` objects")),
        }
    }

    /// An infrastructure object as an asset: its name, its type (irtx's, else from its
    /// infrastructure types), the address of what it consists of.
    fn asset(&self, o: &Value) -> Asset {
        let description = o["description"].as_str().unwrap_or_default();
        let irtx_type = description
            .strip_prefix("Affected asset (")
            .and_then(|r| r.split_once(')'))
            .and_then(|(t, _)| serde_json::from_value(Value::from(t)).ok());
        let types: Vec<&str> = o["infrastructure_types"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let asset_type = irtx_type.unwrap_or(match types.first().copied() {
            Some("workstation") => AssetType::Workstation,
            Some("firewall") => AssetType::Firewall,
            Some("routers-switches") => AssetType::NetworkDevice,
            Some("control-system") => AssetType::Ot,
            Some("hosting-target-lists" | "hosting-malware") => AssetType::Server,
            _ => AssetType::Other,
        });
        let id = o["id"].as_str().unwrap_or_default();
        let address = self
            .of_type("relationship")
            .filter(|r| r["source_ref"] == id && r["relationship_type"] == "consists-of")
            .filter_map(|r| self.by_id.get(r["target_ref"].as_str()?))
            .flat_map(|t| match t["type"].as_str() {
                Some("observed-data") => t["object_refs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|x| self.by_id.get(x.as_str()?).copied())
                    .collect::<Vec<_>>(),
                _ => vec![*t],
            })
            .find_map(|sco| sco["value"].as_str().map(str::to_string))
            .filter(|a| crate::report::validate::classify_address(a).is_some());
        let name = o["name"].as_str().unwrap_or("(unnamed asset)");
        Asset {
            name: clip(name, 200),
            asset_type,
            address,
            owner: None,
            description: (!description.is_empty()).then(|| clip(description, 100_000)),
        }
    }
}

/// An SCO: a STIX object without `created` that is not a marking or a bundle.
fn is_sco(o: &Value) -> bool {
    o.get("created").is_none()
        && !matches!(
            o["type"].as_str(),
            Some("marking-definition" | "bundle" | "relationship" | "sighting") | None
        )
}

/// The role an `irtx:role="..."` label names.
fn role_of(o: &Value) -> Option<Role> {
    o["labels"].as_array()?.iter().find_map(|l| {
        let v = l.as_str()?.strip_prefix("irtx:role=")?.trim_matches('"');
        serde_json::from_value(Value::from(v)).ok()
    })
}

fn hash_kind(alg: &str) -> Option<IndicatorType> {
    match alg.to_ascii_uppercase().replace('-', "").as_str() {
        "MD5" => Some(IndicatorType::Md5),
        "SHA1" => Some(IndicatorType::Sha1),
        "SHA256" => Some(IndicatorType::Sha256),
        "SHA512" => Some(IndicatorType::Sha512),
        _ => None,
    }
}

/// The report field a timeline line names.
fn timeline_field(label: &str) -> &'static str {
    match label {
        "Occurred" => "occurred_at",
        "Detected" => "detected_at",
        "Reported" => "reported_at",
        "Ended" => "ended_at",
        "Disclosed" => "disclosed_at",
        _ => "other",
    }
}

fn valid_id(id: &str, prefix: &str, year: bool) -> bool {
    let Some(rest) = id.strip_prefix(prefix) else {
        return false;
    };
    if year {
        rest.split_once('-').is_some_and(|(y, n)| {
            y.len() == 4 && n.len() >= 4 && y.bytes().chain(n.bytes()).all(|b| b.is_ascii_digit())
        })
    } else {
        !rest.is_empty() && rest.len() <= 5 && rest.bytes().all(|b| b.is_ascii_digit())
    }
}

/// The value kind an object path of a pattern names.
fn kind_of_path(path: &str, value: &str) -> Option<IndicatorType> {
    let p = path.replace('\'', "");
    match p.as_str() {
        "ipv4-addr:value" | "ipv6-addr:value" => ip_kind(value),
        "domain-name:value" => Some(IndicatorType::Domain),
        "url:value" => Some(IndicatorType::Url),
        "email-addr:value" | "email-message:from_ref.value" | "email-message:sender_ref.value" => {
            Some(IndicatorType::Email)
        }
        "mac-addr:value" => Some(IndicatorType::Mac),
        "autonomous-system:number" => Some(IndicatorType::Asn),
        "user-account:account_login" | "user-account:user_id" => Some(IndicatorType::Username),
        "file:name" => Some(IndicatorType::Filename),
        "network-traffic:extensions.http-request-ext.request_header.User-Agent" => {
            Some(IndicatorType::UserAgent)
        }
        _ => p.strip_prefix("file:hashes.").and_then(hash_kind),
    }
}

/// What a pattern holds.
#[derive(Debug, PartialEq)]
enum Pattern {
    /// Single values (one comparison, or comparisons joined by OR): (object path, value).
    Values(Vec<(String, String)>),
    /// Values joined by AND or FOLLOWEDBY: no one of them is an indicator alone.
    Joined,
    /// Not a pattern irtx reads.
    Unreadable,
}

/// The comparisons of a STIX pattern (STIX 2.1 section 9): `path = 'value'`, `path = 123`,
/// `path ISSUBSET 'net'`; qualifiers are ignored. Any other operator makes it unreadable.
fn comparisons(pattern: &str) -> Pattern {
    let Some(tokens) = tokenize(pattern) else {
        return Pattern::Unreadable;
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            Token::Word(w) if matches!(w.as_str(), "AND" | "FOLLOWEDBY") => return Pattern::Joined,
            Token::Word(w)
                if matches!(
                    w.as_str(),
                    "OR" | "WITHIN" | "START" | "STOP" | "REPEATS" | "TIMES" | "SECONDS"
                ) =>
            {
                i += 1
            }
            Token::Word(path) if path.contains(':') => {
                let (Some(Token::Word(op)), Some(v)) = (tokens.get(i + 1), tokens.get(i + 2))
                else {
                    return Pattern::Unreadable;
                };
                if op != "=" && op != "ISSUBSET" {
                    return Pattern::Unreadable;
                }
                let value = match v {
                    Token::Str(s) => s.clone(),
                    Token::Word(n) if n.bytes().all(|b| b.is_ascii_digit()) => n.clone(),
                    _ => return Pattern::Unreadable,
                };
                out.push((path.clone(), value));
                i += 3;
            }
            Token::Open | Token::Close => i += 1,
            // Qualifier arguments (numbers, timestamps t'...').
            Token::Word(_) | Token::Str(_) => i += 1,
        }
    }
    if out.is_empty() {
        Pattern::Unreadable
    } else {
        Pattern::Values(out)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    Word(String),
    Str(String),
}

/// Splits a pattern into brackets, quoted strings (`\'` and `\\` unescaped) and words (an
/// object path keeps its quoted steps: `file:hashes.'SHA-256'`).
fn tokenize(p: &str) -> Option<Vec<Token>> {
    let mut out = Vec::new();
    let mut chars = p.chars().peekable();
    let quoted = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| -> Option<String> {
        let mut s = String::new();
        loop {
            match chars.next()? {
                '\\' => s.push(chars.next()?),
                '\'' => return Some(s),
                c => s.push(c),
            }
        }
    };
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '[' | '(' => {
                chars.next();
                out.push(Token::Open);
            }
            ']' | ')' => {
                chars.next();
                out.push(Token::Close);
            }
            '\'' => {
                chars.next();
                out.push(Token::Str(quoted(&mut chars)?));
            }
            _ => {
                let mut w = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '[' | ']' | '(' | ')') {
                        break;
                    }
                    chars.next();
                    if c == '\'' && w.ends_with('.') {
                        w.push('\'');
                        w.push_str(&quoted(&mut chars)?);
                        w.push('\'');
                    } else if c == '\'' {
                        // `t'2026-...'` and friends: a typed literal, read as a string.
                        out.push(Token::Word(std::mem::take(&mut w)));
                        out.push(Token::Str(quoted(&mut chars)?));
                    } else {
                        w.push(c);
                    }
                }
                if !w.is_empty() {
                    out.push(Token::Word(w));
                }
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_give_their_values() {
        let v = |p: &str| comparisons(p);
        assert_eq!(
            v("[ipv4-addr:value = '203.0.113.7']"),
            Pattern::Values(vec![("ipv4-addr:value".into(), "203.0.113.7".into())])
        );
        assert_eq!(
            v("[file:hashes.'SHA-256' = 'ab'] OR [url:value = 'https://x.example/a\\'b']"),
            Pattern::Values(vec![
                ("file:hashes.'SHA-256'".into(), "ab".into()),
                ("url:value".into(), "https://x.example/a'b".into())
            ])
        );
        assert_eq!(
            v("[autonomous-system:number = 64496] WITHIN 300 SECONDS"),
            Pattern::Values(vec![("autonomous-system:number".into(), "64496".into())])
        );
        assert_eq!(v("[file:name = 'a' AND file:size = 3]"), Pattern::Joined);
        assert_eq!(v("[file:size > 3]"), Pattern::Unreadable);
        assert_eq!(v("[x:y = 'unterminated]"), Pattern::Unreadable);
        assert_eq!(
            kind_of_path("file:hashes.'SHA-256'", "ab"),
            Some(IndicatorType::Sha256)
        );
        assert_eq!(
            kind_of_path(
                "network-traffic:extensions.'http-request-ext'.request_header.'User-Agent'",
                "x"
            ),
            Some(IndicatorType::UserAgent)
        );
    }
}
