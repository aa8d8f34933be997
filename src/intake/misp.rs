//! A MISP event (`{"Event": {...}}`) into the report form.
//!
//! - Label: the event's `tlp:` tags (case-insensitive; `white` reads as CLEAR). Several
//!   give the highest; one that is not a TLP label (`tlp:ex:chr`) quarantines the event. An
//!   event without any takes the default. An attribute's own `tlp:` tag marks that value.
//! - Title: `info`; reporter: the creator organisation (`Orgc`), else the owner (`Org`).
//! - Attributes (the event's and its objects'): network, e-mail, file and account values
//!   become indicators. The role comes from the MISP category (`Payload delivery`,
//!   `Network activity`, ...) and the type (`ip-src` is a source); an attribute without the
//!   IDS flag is `observed` (seen, not for detection: treated as victim side). Composite types
//!   (`domain|ip`, `filename|sha256`) give both values. `text`, `comment` and `link`
//!   attributes join the description; CVE ids in `vulnerability` attributes are kept as the
//!   report's CVEs. Anything else is counted in `lost`.

use serde_json::Value;

use super::{clip, ip_kind, Indicators, Intake, Lost, Read};
use crate::report::{
    Category, IndicatorType, Kind, Report, Reporter, Role, Severity, Timestamp, Vulnerability,
};
use crate::tlp::Tlp;

/// Reads a MISP event.
pub fn read(doc: &Value, default_tlp: Tlp, now: Timestamp) -> Intake {
    let e = &doc["Event"];
    if !e.is_object() {
        return Intake::Refuse(vec!["/Event: a MISP event is an object".into()]);
    }
    let (tlp, marking) = match tlp_tags(&e["Tag"]) {
        Err(bad) => {
            return Intake::Quarantine(
                bad.into_iter()
                    .map(|t| format!("/Event/Tag: `{t}` is not a TLP label (tlp:clear, white, green, amber, amber+strict, red)"))
                    .collect(),
            )
        }
        Ok(found) if found.is_empty() => (
            default_tlp,
            format!("no TLP tag in the event: the default, TLP:{default_tlp} ([import] default_tlp)"),
        ),
        Ok(found) => {
            let max = found.iter().map(|(t, _)| *t).max().unwrap_or(default_tlp);
            let names: Vec<&str> = found.iter().map(|(_, n)| n.as_str()).collect();
            let note = if found.len() > 1 {
                " (the highest kept)"
            } else {
                ""
            };
            (max, format!("MISP tag {}{note}", names.join(", ")))
        }
    };

    let mut ind = Indicators::default();
    let mut lost = Lost::default();
    let mut text: Vec<String> = Vec::new();
    let mut cves: Vec<String> = Vec::new();
    let mut read_attrs = |attrs: &Value, lost: &mut Lost| -> Result<(), Vec<String>> {
        for a in attrs.as_array().into_iter().flatten() {
            attribute(a, tlp, &mut ind, lost, &mut text, &mut cves)?;
        }
        Ok(())
    };
    if let Err(bad) = read_attrs(&e["Attribute"], &mut lost) {
        return Intake::Quarantine(bad);
    }
    for o in e["Object"].as_array().into_iter().flatten() {
        if let Err(bad) = read_attrs(&o["Attribute"], &mut lost) {
            return Intake::Quarantine(bad);
        }
    }
    if e["EventReport"].as_array().is_some_and(|r| !r.is_empty()) {
        for r in e["EventReport"].as_array().into_iter().flatten() {
            if let Some(c) = r["content"].as_str() {
                text.push(c.to_string());
            }
        }
    }
    for g in e["Galaxy"].as_array().into_iter().flatten() {
        let n = g["GalaxyCluster"].as_array().map_or(0, Vec::len);
        for _ in 0..n {
            lost.add("galaxy clusters");
        }
    }

    let org = |k: &str| e[k]["name"].as_str().map(str::to_string);
    let source = org("Orgc").or_else(|| org("Org"));
    let when = time_of(&e["date"])
        .or_else(|| time_of(&e["timestamp"]))
        .or_else(|| time_of(&e["publish_timestamp"]))
        .unwrap_or(now);
    let mut field_tlp: std::collections::BTreeMap<String, Tlp> = ind.field_tlp(tlp).collect();
    field_tlp.retain(|_, t| *t != tlp);
    let mut lines = lost.into_lines();
    lines.extend(ind.lost.into_lines());
    let report = Report {
        // Shared onward under the alert's id (`intake::report_id_of_alert`).
        id: None,
        version: None,
        kind: Kind::Event,
        title: clip(
            e["info"]
                .as_str()
                .filter(|s| !s.trim().is_empty())
                .unwrap_or("(MISP event without info)"),
            500,
        ),
        description: (!text.is_empty()).then(|| clip(&text.join("\n\n"), 100_000)),
        tlp,
        field_tlp,
        category: category_of(&e["Tag"]),
        // MISP's threat level: 1 high, 2 medium, 3 low, 4 undefined.
        severity: match text_of(&e["threat_level_id"]).as_deref() {
            Some("1") => Some(Severity::Critical),
            Some("2") => Some(Severity::Warning),
            Some("3") => Some(Severity::Information),
            _ => None,
        },
        status: None,
        occurred_at: None,
        detected_at: None,
        reported_at: when,
        ended_at: None,
        disclosed_at: None,
        updated_at: None,
        reporter: Reporter {
            name: clip(
                source
                    .as_deref()
                    .unwrap_or("(MISP event without organisation)"),
                200,
            ),
            organization: None,
            email: None,
            phone: None,
            role: None,
            identity_class: Some("organization".into()),
        },
        what_occurred: None,
        how_occurred: None,
        why_occurred: None,
        environment: None,
        assets: Vec::new(),
        impact: None,
        actions_taken: Vec::new(),
        related_reports: Vec::new(),
        vulnerability: (!cves.is_empty()).then(|| Vulnerability {
            cve: cves,
            cwe: Vec::new(),
            products: Vec::new(),
            cvss: None,
            remediation: None,
        }),
        indicators: ind.list,
    };
    Intake::Ready(Box::new(Read {
        tlp,
        marking,
        tool: "misp".into(),
        source,
        report,
        lost: lines,
    }))
}

/// The TLP labels among `tlp:` tags, or the tags that are not TLP labels.
fn tlp_tags(tags: &Value) -> Result<Vec<(Tlp, String)>, Vec<String>> {
    let mut found = Vec::new();
    let mut bad = Vec::new();
    for t in tags.as_array().into_iter().flatten() {
        let Some(name) = t["name"].as_str().or_else(|| t.as_str()) else {
            continue;
        };
        let lower = name.trim().to_ascii_lowercase();
        let Some(label) = lower.strip_prefix("tlp:") else {
            continue;
        };
        let label = label.trim_matches('"');
        let tlp = match label {
            "clear" | "white" => Some(Tlp::Clear),
            "green" => Some(Tlp::Green),
            "amber" => Some(Tlp::Amber),
            "amber+strict" => Some(Tlp::AmberStrict),
            "red" => Some(Tlp::Red),
            _ => None,
        };
        match tlp {
            Some(t) => found.push((t, lower)),
            None => bad.push(name.to_string()),
        }
    }
    if bad.is_empty() {
        Ok(found)
    } else {
        Err(bad)
    }
}

/// The category an `rsit:` or `ecsirt:` machine tag names, if it is one of ours.
fn category_of(tags: &Value) -> Option<Category> {
    tags.as_array().into_iter().flatten().find_map(|t| {
        let name = t["name"].as_str()?;
        let rest = name
            .strip_prefix("rsit:")
            .or_else(|| name.strip_prefix("ecsirt:"))?;
        let (class, ty) = rest.split_once('=')?;
        format!("{class}/{}", ty.trim_matches('"')).parse().ok()
    })
}

/// A string or a number as text (MISP writes numbers either way).
fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A MISP time: a date (`2016-09-21`), a Unix timestamp (as text or number) or RFC 3339.
fn time_of(v: &Value) -> Option<Timestamp> {
    let s = text_of(v)?;
    if let Ok(secs) = s.parse::<i64>() {
        return time::OffsetDateTime::from_unix_timestamp(secs)
            .ok()
            .map(Timestamp);
    }
    crate::timestamp::parse_bound(&s, false).map(Timestamp)
}

/// Reads one attribute into indicators, description text or CVEs; what fits none is lost.
fn attribute(
    a: &Value,
    event_tlp: Tlp,
    ind: &mut Indicators,
    lost: &mut Lost,
    text: &mut Vec<String>,
    cves: &mut Vec<String>,
) -> Result<(), Vec<String>> {
    let ty = a["type"].as_str().unwrap_or_default();
    let Some(value) = text_of(&a["value"]) else {
        lost.add("MISP attributes without a value");
        return Ok(());
    };
    let own = tlp_tags(&a["Tag"])?;
    let tlp = own
        .iter()
        .map(|(t, _)| *t)
        .max()
        .filter(|t| *t != event_tlp);
    let ids = match &a["to_ids"] {
        Value::Bool(b) => *b,
        Value::String(s) => s == "1" || s.eq_ignore_ascii_case("true"),
        Value::Number(n) => n.as_u64() == Some(1),
        _ => false,
    };
    let category = a["category"].as_str().unwrap_or_default();
    let seen = (time_of(&a["first_seen"]), time_of(&a["last_seen"]));
    let role_for = |kind: IndicatorType| -> Role {
        if !ids {
            return Role::Observed;
        }
        let file = matches!(
            kind,
            IndicatorType::Md5
                | IndicatorType::Sha1
                | IndicatorType::Sha256
                | IndicatorType::Sha512
                | IndicatorType::Filename
        );
        match (category, ty) {
            (_, "ip-src") | (_, "ip-src|port") => Role::Source,
            (_, "email-src") | (_, "email") if category != "Network activity" => Role::Phishing,
            ("Payload delivery", _) if file => Role::Payload,
            ("Payload delivery", _) => Role::PayloadDelivery,
            ("Payload installation" | "Artifacts dropped", _) => Role::Payload,
            ("Network activity", _) => Role::C2,
            _ => Role::Unspecified,
        }
    };
    let mut add = |kind: Option<IndicatorType>, v: &str| match kind {
        Some(k) => ind.add(k, v, role_for(k), tlp, seen),
        None => lost.add(format!("MISP `{ty}` values that are not of their type")),
    };
    let hash = |t: &str| match t {
        "md5" => Some(IndicatorType::Md5),
        "sha1" => Some(IndicatorType::Sha1),
        "sha256" => Some(IndicatorType::Sha256),
        "sha512" => Some(IndicatorType::Sha512),
        _ => None,
    };
    match ty {
        "ip-src" | "ip-dst" => add(ip_kind(&value), &value),
        "ip-src|port" | "ip-dst|port" => {
            let ip = value.rsplit_once('|').map_or(value.as_str(), |(ip, _)| ip);
            add(ip_kind(ip), ip);
        }
        "domain" | "hostname" => add(Some(IndicatorType::Domain), &value),
        "domain|ip" | "hostname|port" => {
            let (name, rest) = value.split_once('|').unwrap_or((&value, ""));
            add(Some(IndicatorType::Domain), name);
            if ty == "domain|ip" {
                add(ip_kind(rest), rest);
            }
        }
        "url" | "uri" => add(Some(IndicatorType::Url), &value),
        "email" | "email-src" | "email-dst" | "email-reply-to" => {
            add(Some(IndicatorType::Email), &value)
        }
        "md5" | "sha1" | "sha256" | "sha512" => add(hash(ty), &value),
        "filename" => add(Some(IndicatorType::Filename), &value),
        t if t.starts_with("filename|") => {
            let (name, h) = value.split_once('|').unwrap_or((&value, ""));
            add(Some(IndicatorType::Filename), name);
            match hash(&t["filename|".len()..]) {
                Some(k) => add(Some(k), h),
                None => lost.add(format!("MISP `{t}` digests")),
            }
        }
        "AS" => add(Some(IndicatorType::Asn), &value),
        "user-agent" => add(Some(IndicatorType::UserAgent), &value),
        "mac-address" => add(Some(IndicatorType::Mac), &value),
        "target-user" | "username" => add(Some(IndicatorType::Username), &value),
        "text" | "comment" | "other" => text.push(value),
        "link" => text.push(format!("Reference: {value}")),
        "vulnerability" => {
            let v = value.trim().to_ascii_uppercase();
            let cve = v.strip_prefix("CVE-").is_some_and(|rest| {
                rest.split_once('-').is_some_and(|(y, n)| {
                    y.len() == 4
                        && n.len() >= 4
                        && y.bytes().chain(n.bytes()).all(|b| b.is_ascii_digit())
                })
            });
            if cve {
                if !cves.contains(&v) {
                    cves.push(v);
                }
            } else {
                lost.add("MISP `vulnerability` values that are not CVE ids");
            }
        }
        _ => lost.add(format!("MISP attributes of type `{ty}`")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        Timestamp::parse("2026-12-01T00:00:00Z").unwrap()
    }

    fn ready(i: Intake) -> Read {
        match i {
            Intake::Ready(r) => *r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_event_becomes_a_report_with_roles_and_markings() {
        let e = json!({"Event": {
            "uuid": "57c4445b-c548-4654-af0b-4be3950d210f",
            "info": "Ransomware - Xorist",
            "date": "2016-08-29",
            "threat_level_id": "1",
            "Orgc": {"name": "CIRCL"},
            "Tag": [{"name": "TLP:GREEN"}, {"name": "rsit:malicious-code=\"infected-system\""}],
            "Attribute": [
                {"type": "ip-src", "category": "Network activity", "value": "203.0.113.9", "to_ids": true},
                {"type": "domain", "category": "Network activity", "value": "c2.evil.example", "to_ids": true},
                {"type": "sha256", "category": "Payload delivery", "value": "a".repeat(64), "to_ids": true,
                 "Tag": [{"name": "tlp:amber"}]},
                {"type": "ip-dst", "category": "Network activity", "value": "10.1.2.3", "to_ids": false},
                {"type": "link", "category": "External analysis", "value": "https://blog.example/x", "to_ids": false},
                {"type": "regkey", "category": "Persistence mechanism", "value": "HKLM\\x", "to_ids": true},
            ],
            "Object": [{"name": "file", "Attribute": [
                {"type": "filename|md5", "category": "Payload installation", "value": "x.exe|0123456789abcdef0123456789abcdef", "to_ids": true}
            ]}],
        }});
        let r = ready(read(&e, Tlp::Amber, now()));
        assert_eq!(r.tlp, Tlp::Green);
        assert_eq!(r.marking, "MISP tag tlp:green");
        assert_eq!(r.source.as_deref(), Some("CIRCL"));
        let rep = &r.report;
        assert_eq!(rep.title, "Ransomware - Xorist");
        assert_eq!(rep.reporter.name, "CIRCL");
        assert_eq!(rep.severity, Some(Severity::Critical));
        assert_eq!(
            rep.category.map(|c| c.code()),
            Some("malicious-code/infected-system")
        );
        let roles: Vec<(&str, Role)> = rep
            .indicators
            .iter()
            .map(|i| (i.value.as_str(), i.role))
            .collect();
        assert_eq!(
            roles,
            [
                ("203.0.113.9", Role::Source),
                ("c2.evil.example", Role::C2),
                (&*"a".repeat(64), Role::Payload),
                ("10.1.2.3", Role::Observed),
                ("x.exe", Role::Payload),
                ("0123456789abcdef0123456789abcdef", Role::Payload),
            ]
        );
        assert_eq!(rep.field_tlp.get("/indicators/2"), Some(&Tlp::Amber));
        assert!(rep
            .description
            .as_deref()
            .unwrap()
            .contains("https://blog.example/x"));
        assert_eq!(r.lost, ["1 MISP attributes of type `regkey`"]);
    }

    #[test]
    fn markings_are_exact_or_quarantined_and_absent_ones_default() {
        let tagged = |tags: Value| json!({"Event": {"info": "x", "Tag": tags, "Attribute": []}});
        assert!(matches!(
            read(&tagged(json!([{"name": "tlp:ex:chr"}])), Tlp::Amber, now()),
            Intake::Quarantine(_)
        ));
        let r = ready(read(&tagged(json!([])), Tlp::Amber, now()));
        assert_eq!(r.tlp, Tlp::Amber);
        assert!(r.marking.contains("default"), "{}", r.marking);
        let r = ready(read(
            &tagged(json!([{"name": "tlp:white"}])),
            Tlp::Amber,
            now(),
        ));
        assert_eq!(r.tlp, Tlp::Clear);
        let r = ready(read(
            &tagged(json!([{"name": "tlp:green"}, {"name": "TLP:AMBER+STRICT"}])),
            Tlp::Clear,
            now(),
        ));
        assert_eq!(r.tlp, Tlp::AmberStrict);
        // An attribute's tag that is not TLP quarantines the event too.
        let e = json!({"Event": {"info": "x", "Attribute": [
            {"type": "domain", "value": "a.example", "to_ids": true, "Tag": [{"name": "tlp:purple"}]}
        ]}});
        assert!(matches!(read(&e, Tlp::Amber, now()), Intake::Quarantine(_)));
    }
}
