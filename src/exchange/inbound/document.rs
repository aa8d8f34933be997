//! The checks on an exchange document that arrived (or is imported): its schema, its
//! markings (exact TLP ids, none above the label it came under), and the acceptance criteria
//! of ISO/IEC 27035-2 6.4 b 2. Pure.

use serde_json::Value;

use crate::peer::Format;
use crate::schema;
use crate::tlp::Tlp;

/// What the document checks found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocumentCheck {
    /// Every problem.
    pub reasons: Vec<String>,
    /// Some marking is not an exact TLP marking: hold the document for an analyst.
    pub quarantine: bool,
    /// The most restrictive label the document carries.
    pub max_marking: Option<Tlp>,
}

/// Checks an exchange document: its size (at most `max_objects` STIX objects or IODEF
/// indicators, counted before anything else is done with it), its schema, its markings (exact
/// TLP ids, none above `tlp`), and the acceptance criteria of ISO/IEC 27035-2 6.4 b 2.
pub fn check_document(doc: &Value, format: Format, tlp: Tlp, max_objects: usize) -> DocumentCheck {
    let count = match format {
        Format::Stix => doc["objects"].as_array().map_or(0, Vec::len),
        Format::Iodef => doc["Incident"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|i| i["Indicator"].as_array().map_or(0, Vec::len) + 1)
            .sum(),
    };
    if count > max_objects {
        return DocumentCheck {
            reasons: vec![format!(
                "the document holds {count} objects; at most {max_objects} are accepted in one message"
            )],
            ..DocumentCheck::default()
        };
    }
    /// A format's schema check, marking reader and acceptance criteria.
    type Checks = (
        fn(&Value) -> Vec<schema::Violation>,
        fn(&Value) -> (Vec<Tlp>, Vec<String>),
        fn(&Value) -> Vec<String>,
    );
    let (validate, markings, acceptance): Checks = match format {
        Format::Stix => (schema::check_stix_bundle, stix_markings, stix_acceptance),
        Format::Iodef => (
            |d| schema::check(schema::iodef_rfc8727(), d),
            iodef_restrictions,
            iodef_acceptance,
        ),
    };
    let mut out = DocumentCheck::default();
    let problems = validate(doc);
    out.reasons
        .extend(problems.iter().map(|p| format!("document {p}")));
    if !problems.is_empty() {
        return out;
    }
    let (marks, unknown) = markings(doc);
    if !unknown.is_empty() {
        out.quarantine = true;
        out.reasons.extend(unknown);
    }
    out.max_marking = marks.into_iter().max();
    if let Some(max) = out.max_marking {
        if max > tlp {
            out.reasons.push(format!(
                "the document carries TLP:{max}, above the message's TLP:{tlp}"
            ));
        }
    }
    out.reasons.extend(acceptance(doc));
    out
}

/// The TLP labels a bundle uses, and a reason for each marking that is not an exact TLP
/// marking (an unknown id, or a TLP id whose object differs from the published one).
pub fn stix_markings(bundle: &Value) -> (Vec<Tlp>, Vec<String>) {
    let mut labels = Vec::new();
    let mut unknown = Vec::new();
    let objects = bundle["objects"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    for o in objects {
        let id = o["id"].as_str().unwrap_or_default();
        if o["type"] == "marking-definition" {
            match (Tlp::from_stix_marking_id(id), Tlp::published_marking(id)) {
                (Some(t), Some(published)) => {
                    if *o != published {
                        let version = if t.stix_marking_id() == id {
                            "2.0"
                        } else {
                            "1.0"
                        };
                        unknown.push(format!("marking-definition `{id}` is the TLP {version} id of TLP:{t} but not the published object; quarantined"));
                    }
                }
                (Some(_), None) => unknown.push(format!(
                    "marking-definition `{id}` has no published object; quarantined"
                )),
                (None, _) => unknown.push(format!(
                    "marking-definition `{id}` is not an exact TLP 1.0 or 2.0 id; quarantined"
                )),
            }
            continue;
        }
        let refs = o["object_marking_refs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str);
        let granular = o["granular_markings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|g| g["marking_ref"].as_str());
        for r in refs.chain(granular) {
            match Tlp::from_stix_marking_id(r) {
                Some(t) => labels.push(t),
                None => unknown.push(format!(
                    "`{id}` is marked with `{r}`, not an exact TLP id; quarantined"
                )),
            }
        }
    }
    (labels, unknown)
}

/// ISO/IEC 27035-2 6.4 b 2 for a STIX bundle: an event type (an incident, indicator,
/// vulnerability, malware, attack pattern or observed data), a time, and an affected asset
/// or environment (infrastructure, software, location, an observable, or a note on the
/// affected environment).
fn stix_acceptance(bundle: &Value) -> Vec<String> {
    let objects = bundle["objects"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let ty = |o: &Value| o["type"].as_str().unwrap_or_default().to_string();
    let mut missing = Vec::new();
    let event = objects.iter().any(|o| {
        matches!(
            ty(o).as_str(),
            "incident"
                | "indicator"
                | "vulnerability"
                | "malware"
                | "attack-pattern"
                | "observed-data"
                | "sighting"
        )
    });
    if !event {
        missing.push("ISO/IEC 27035-2 6.4 b 2: no event type (incident, indicator, vulnerability, malware, attack-pattern, observed-data or sighting)".to_string());
    }
    let time = objects.iter().any(|o| {
        ["valid_from", "first_observed", "first_seen", "created"]
            .iter()
            .any(|k| o[*k].is_string())
            && ty(o) != "marking-definition"
            && ty(o) != "identity"
    });
    if !time {
        missing.push("ISO/IEC 27035-2 6.4 b 2: no time of the event".to_string());
    }
    let asset = objects.iter().any(|o| {
        let t = ty(o);
        matches!(
            t.as_str(),
            "infrastructure" | "software" | "location" | "observed-data"
        ) || matches!(
            t.as_str(),
            "ipv4-addr"
                | "ipv6-addr"
                | "domain-name"
                | "url"
                | "email-addr"
                | "mac-addr"
                | "file"
                | "user-account"
                | "autonomous-system"
        ) || (t == "note"
            && o["abstract"]
                .as_str()
                .is_some_and(|a| a.to_lowercase().contains("environment")))
    });
    if !asset {
        missing.push("ISO/IEC 27035-2 6.4 b 2: no affected asset or environment".to_string());
    }
    missing
}

/// The TLP labels an IODEF document's `restriction` values stand for, and a reason for each
/// value that stands for none (`default`, `ext-value`).
pub fn iodef_restrictions(doc: &Value) -> (Vec<Tlp>, Vec<String>) {
    let mut labels = Vec::new();
    let mut unknown = Vec::new();
    fn walk(v: &Value, at: String, labels: &mut Vec<Tlp>, unknown: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    let here = format!("{at}/{}", schema::escape_token(k));
                    if k == "restriction" {
                        match x.as_str().and_then(Tlp::from_iodef_restriction) {
                            Some(t) => labels.push(t),
                            None => unknown.push(format!(
                                "{here}: restriction {x} does not map to a TLP label; quarantined"
                            )),
                        }
                    } else {
                        walk(x, here, labels, unknown);
                    }
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    walk(x, format!("{at}/{i}"), labels, unknown);
                }
            }
            _ => {}
        }
    }
    for (i, inc) in doc["Incident"].as_array().into_iter().flatten().enumerate() {
        // RFC 7970: an Incident without `restriction` is `private`.
        if inc.get("restriction").is_none() {
            labels.push(Tlp::Red);
        }
        walk(inc, format!("/Incident/{i}"), &mut labels, &mut unknown);
    }
    (labels, unknown)
}

/// ISO/IEC 27035-2 6.4 b 2 for IODEF: per incident, an event type (`IncidentCategory`,
/// `Method` or an `Indicator`), a time (`GenerationTime` is required), and an affected
/// asset or environment (an `EventData` holding a `System` or the affected environment, or
/// a target `System` among the indicators).
fn iodef_acceptance(doc: &Value) -> Vec<String> {
    let mut missing = Vec::new();
    for (i, inc) in doc["Incident"].as_array().into_iter().flatten().enumerate() {
        let has = |k: &str| inc.get(k).is_some();
        let category = inc["Assessment"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a.get("IncidentCategory").is_some());
        if !(category || has("Method") || has("Indicator")) {
            missing.push(format!("/Incident/{i}: ISO/IEC 27035-2 6.4 b 2: no event type (Assessment/IncidentCategory, Method or Indicator)"));
        }
        let text = inc.to_string();
        let asset =
            inc["EventData"].as_array().into_iter().flatten().any(|e| {
                e.get("System").is_some() || e.to_string().contains("affected-environment")
            }) || text.contains("\"category\":\"target\"");
        if !asset {
            missing.push(format!("/Incident/{i}: ISO/IEC 27035-2 6.4 b 2: no affected asset or environment (EventData/System)"));
        }
    }
    missing
}
