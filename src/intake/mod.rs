//! Reading what other tools wrote (DESIGN.md section 9): STIX 2.1 bundles and MISP events,
//! and the documents peers sent, into the report form irtx shares onward. Pure.
//!
//! A file may hold one document or several: a bundle, a MISP event (`{"Event": ...}` or a
//! bare event), a list of events, or MISP's search output (`{"response": [...]}`).
//! [`split`] names each document by its JSON pointer in the file; [`read`] decides each:
//! - **ready**: its label is known, from exact TLP markings (STIX: the TLP 1.0 and 2.0
//!   marking definitions as published; MISP: `tlp:` tags) or, when it carries none, the
//!   configured default; what it says becomes a [`Report`] (title, description, indicators
//!   with their roles and markings), and what the report form cannot carry is listed in
//!   `lost`, never dropped silently;
//! - **quarantine**: a marking that is not exactly TLP (an altered marking definition, an
//!   unknown `tlp:` tag), held for an analyst, not guessed;
//! - **refuse**: not a document irtx reads (not STIX 2.1, a schema violation), with where
//!   and why.

pub mod iodef;
pub mod misp;
pub mod stix;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::peer::Format;
use crate::report::validate::check_indicator_value;
use crate::report::{Indicator, IndicatorType, Report, Role, Timestamp};
use crate::tlp::Tlp;

/// The form of an alert's document, by the name records carry (`stix-2.1`, `iodef-2` as
/// messages name them; `misp-event` for an imported MISP event).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertFormat {
    /// A STIX 2.1 bundle.
    Stix,
    /// An IODEF v2 document (RFC 8727 JSON).
    Iodef,
    /// A MISP event (`{"Event": ...}`).
    Misp,
}

impl AlertFormat {
    /// The name records and the API carry.
    pub fn wire_name(self) -> &'static str {
        match self {
            AlertFormat::Stix => "stix-2.1",
            AlertFormat::Iodef => "iodef-2",
            AlertFormat::Misp => "misp-event",
        }
    }
}

impl From<Format> for AlertFormat {
    fn from(f: Format) -> Self {
        match f {
            Format::Stix => AlertFormat::Stix,
            Format::Iodef => AlertFormat::Iodef,
        }
    }
}

impl Serialize for AlertFormat {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.wire_name())
    }
}

impl<'de> Deserialize<'de> for AlertFormat {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        [AlertFormat::Stix, AlertFormat::Iodef, AlertFormat::Misp]
            .into_iter()
            .find(|f| f.wire_name() == s)
            .ok_or_else(|| serde::de::Error::custom(format!("`{s}` is not an alert format")))
    }
}

/// One document of a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// Where it is in the file (a JSON pointer; empty for the whole file).
    pub pointer: String,
    /// What it is.
    pub format: AlertFormat,
    /// The document.
    pub value: Value,
}

/// Splits a file's JSON into the documents it holds; an error says why it holds none irtx
/// reads.
pub fn split(v: Value) -> Result<Vec<Document>, String> {
    let event = |pointer: String, v: Value| -> Result<Document, String> {
        let value = match v {
            Value::Object(ref m) if m.contains_key("Event") => v,
            Value::Object(ref m) if looks_like_event(m) => serde_json::json!({ "Event": v }),
            _ => {
                return Err(format!(
                    "{}: not a MISP event (an object with `Event`, or with `info` and `Attribute`)",
                    if pointer.is_empty() { "/" } else { &pointer }
                ))
            }
        };
        Ok(Document {
            pointer,
            format: AlertFormat::Misp,
            value,
        })
    };
    match v {
        Value::Object(ref m) if m.get("type").and_then(Value::as_str) == Some("bundle") => {
            Ok(vec![Document {
                pointer: String::new(),
                format: AlertFormat::Stix,
                value: v,
            }])
        }
        // One STIX object on its own (as the OASIS validator's examples are): a bundle of one.
        Value::Object(ref m)
            if m.get("type").and_then(Value::as_str).is_some()
                && m.get("id")
                    .and_then(Value::as_str)
                    .is_some_and(|id| id.contains("--")) =>
        {
            let id = m["id"].as_str().unwrap_or_default();
            let bundle_id = uuid::Uuid::new_v5(&crate::IRTX_NAMESPACE, id.as_bytes());
            Ok(vec![Document {
                pointer: String::new(),
                format: AlertFormat::Stix,
                value: serde_json::json!({
                    "type": "bundle",
                    "id": format!("bundle--{bundle_id}"),
                    "objects": [v],
                }),
            }])
        }
        Value::Object(mut m) if m.contains_key("response") => match m.remove("response") {
            // Object search output: the objects, as one event's.
            Some(Value::Array(items))
                if !items.is_empty() && items.iter().all(|i| i["Object"].is_object()) =>
            {
                let objects: Vec<Value> =
                    items.into_iter().map(|mut i| i["Object"].take()).collect();
                Ok(vec![event(
                    "/response".into(),
                    serde_json::json!({"info": "MISP object search result", "Object": objects}),
                )?])
            }
            Some(Value::Array(items)) => items
                .into_iter()
                .enumerate()
                .map(|(i, e)| event(format!("/response/{i}"), e))
                .collect(),
            // Attribute search output: the attributes, as one event's.
            Some(Value::Object(r)) if r.get("Attribute").is_some_and(Value::is_array) => {
                Ok(vec![event(
                    "/response".into(),
                    serde_json::json!({"info": "MISP attribute search result", "Attribute": r["Attribute"]}),
                )?])
            }
            _ => Err("/response: MISP search output holds events, objects or attributes".into()),
        },
        Value::Object(_) => Ok(vec![event(String::new(), v)?]),
        Value::Array(items) if !items.is_empty() => items
            .into_iter()
            .enumerate()
            .map(|(i, e)| event(format!("/{i}"), e))
            .collect(),
        _ => Err("/: neither a STIX 2.1 bundle nor MISP events".into()),
    }
}

fn looks_like_event(m: &serde_json::Map<String, Value>) -> bool {
    ["info", "Attribute", "Object"]
        .iter()
        .any(|k| m.contains_key(*k))
        && !m.contains_key("type")
}

/// A document read: its label, how it was read, who it says it is from, and the report
/// form of what it says.
#[derive(Debug, Clone, PartialEq)]
pub struct Read {
    /// The label the document comes under (the highest it carries, or the default).
    pub tlp: Tlp,
    /// How the label was read, for the analyst (`STIX marking TLP:GREEN (TLP 2.0)`, `MISP
    /// tag tlp:green`, `none in the document: [import] default_tlp`).
    pub marking: String,
    /// What wrote it (`misp`, `stix`, with the producer the document names).
    pub tool: String,
    /// The source the document names, if any.
    pub source: Option<String>,
    /// The report form, for onward sharing.
    pub report: Report,
    /// What the report form does not carry, counted by kind (`3 MISP attributes of type
    /// regkey`).
    pub lost: Vec<String>,
}

/// What became of a document.
#[derive(Debug, Clone, PartialEq)]
pub enum Intake {
    /// It can be imported.
    Ready(Box<Read>),
    /// A marking is not exactly TLP: hold it for an analyst.
    Quarantine(Vec<String>),
    /// Not a document irtx reads.
    Refuse(Vec<String>),
}

/// Reads one document. `default_tlp` labels a document that carries no marking; `now` dates
/// one that carries no time.
pub fn read(doc: &Document, default_tlp: Tlp, now: Timestamp) -> Intake {
    match doc.format {
        AlertFormat::Stix => stix::read(&doc.value, default_tlp, now),
        AlertFormat::Misp => misp::read(&doc.value, default_tlp, now),
        AlertFormat::Iodef => iodef::read(&doc.value, default_tlp, now),
    }
}

/// The id of a report made from an alert: its shares are recorded under it.
pub fn report_id_of_alert(alert_id: &str) -> String {
    format!("alert:{alert_id}")
}

/// When a value was first and last seen, where the source says.
pub(crate) type Seen = (Option<Timestamp>, Option<Timestamp>);

/// Collects indicators: each value checked for its type, duplicates (type, value) merged
/// (an attacker-side role wins over an observation), what does not fit counted in `lost`.
#[derive(Debug, Default)]
pub(crate) struct Indicators {
    pub(crate) list: Vec<Indicator>,
    /// Markings of single indicators, by index.
    pub(crate) marks: Vec<(usize, Tlp)>,
    pub(crate) lost: Lost,
}

impl Indicators {
    /// Adds a value of `kind` with `role`, marked `tlp` when it differs from the document's.
    pub(crate) fn add(
        &mut self,
        kind: IndicatorType,
        value: &str,
        role: Role,
        tlp: Option<Tlp>,
        seen: Seen,
    ) {
        let value = value.trim();
        if check_indicator_value(kind, value).is_err() {
            self.lost
                .add(format!("values not valid as {}", kind.as_str()));
            return;
        }
        let same = |i: &Indicator| i.kind == kind && i.value.eq_ignore_ascii_case(value);
        if let Some(pos) = self.list.iter().position(same) {
            let existing = &mut self.list[pos];
            if existing.role == Role::Observed && role != Role::Observed {
                existing.role = role;
            }
            if let Some(t) = tlp {
                self.mark(pos, t);
            }
            return;
        }
        let (first_seen, last_seen) = match seen {
            (Some(f), Some(l)) if l < f => (Some(f), None),
            s => s,
        };
        self.list.push(Indicator {
            kind,
            value: value.to_string(),
            role,
            description: None,
            first_seen,
            last_seen,
        });
        if let Some(t) = tlp {
            self.mark(self.list.len() - 1, t);
        }
    }

    fn mark(&mut self, i: usize, t: Tlp) {
        match self.marks.iter_mut().find(|(j, _)| *j == i) {
            Some((_, old)) => *old = (*old).max(t),
            None => self.marks.push((i, t)),
        }
    }

    /// The field markings of the indicators that differ from the document's label.
    pub(crate) fn field_tlp(&self, tlp: Tlp) -> impl Iterator<Item = (String, Tlp)> + '_ {
        self.marks
            .iter()
            .filter(move |(_, t)| *t != tlp)
            .map(|(i, t)| (format!("/indicators/{i}"), *t))
    }
}

/// What a document holds that the report form does not carry, counted by kind.
#[derive(Debug, Default)]
pub(crate) struct Lost(std::collections::BTreeMap<String, usize>);

impl Lost {
    pub(crate) fn add(&mut self, what: impl Into<String>) {
        *self.0.entry(what.into()).or_default() += 1;
    }

    pub(crate) fn into_lines(self) -> Vec<String> {
        self.0
            .into_iter()
            .map(|(what, n)| format!("{n} {what}"))
            .collect()
    }
}

/// The kind of an IP value: an address (v4 or v6) or a network.
pub(crate) fn ip_kind(value: &str) -> Option<IndicatorType> {
    if value.parse::<std::net::Ipv4Addr>().is_ok() {
        Some(IndicatorType::Ipv4)
    } else if value.parse::<std::net::Ipv6Addr>().is_ok() {
        Some(IndicatorType::Ipv6)
    } else if value.contains('/') {
        Some(IndicatorType::Cidr)
    } else {
        None
    }
}

/// Text cut to `max` characters (the report form's limits), marked where it was cut.
pub(crate) fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn files_split_into_documents_named_by_pointer() {
        let e = json!({"info": "x", "Attribute": []});
        let docs = split(json!({"response": [{"Event": e.clone()}, e.clone()]})).unwrap();
        assert_eq!(
            docs.iter().map(|d| d.pointer.as_str()).collect::<Vec<_>>(),
            ["/response/0", "/response/1"]
        );
        assert!(docs.iter().all(|d| d.format == AlertFormat::Misp));
        assert!(docs[1].value["Event"]["info"] == "x");
        let docs = split(json!([{"Event": e.clone()}])).unwrap();
        assert_eq!(docs[0].pointer, "/0");
        let docs = split(json!({"type": "bundle", "id": "bundle--1", "objects": []})).unwrap();
        assert_eq!(docs[0].format, AlertFormat::Stix);
        let one =
            json!({"type": "identity", "id": "identity--8c6af861-7b20-41ef-9b59-6344fd872a8f"});
        let docs = split(one.clone()).unwrap();
        assert_eq!(docs[0].value["objects"][0], one);
        assert!(split(json!(3)).is_err());
        assert!(split(json!([])).is_err());
        let err = split(json!({"response": [{"nothing": 1}]})).unwrap_err();
        assert!(err.starts_with("/response/0:"), "{err}");
    }
}
