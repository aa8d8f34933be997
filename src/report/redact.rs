//! Removing fields from a report: for TLP (fields a peer may not receive) and for
//! anonymization profiles (fields a profile drops). Arrays are compacted and the remaining
//! field markings re-pointed, so the result is a valid report again. Pure.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{pointer_is_within, Report};
use crate::schema::escape_token;
use crate::tlp::Tlp;

/// One field removed for a peer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Removal {
    /// The field's pointer in the report as submitted.
    pub pointer: String,
    /// Its label.
    pub tlp: Tlp,
    /// Why the peer may not have it.
    pub reason: String,
}

/// A removal left the report invalid: a field it cannot do without was removed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{pointer}` (TLP:{tlp}) was removed, but a report is not valid without it ({detail})")]
pub struct Needed {
    /// The removed field.
    pub pointer: String,
    /// Its label.
    pub tlp: Tlp,
    /// What validation said.
    pub detail: String,
}

/// Placeholder for a removed title or reporter name: documents need one.
pub const WITHHELD: &str = "(withheld)";

/// Removes the given fields (and everything beneath them) from a report, compacting arrays
/// and re-pointing the remaining `field_tlp` entries. A removed title or reporter becomes a
/// placeholder; any other required field removed withholds the report.
pub fn redact(report: &Report, removed: &[Removal]) -> Result<Report, Needed> {
    let mut v = serde_json::to_value(report).expect("a report serializes");
    let mut marks: BTreeMap<String, Tlp> = report.field_tlp.clone();
    let pointers: Vec<String> = removed.iter().map(|r| r.pointer.clone()).collect();
    remove_all(&mut v, &mut marks, &pointers);
    for r in removed {
        match r.pointer.as_str() {
            "/title" => v["title"] = WITHHELD.into(),
            "/reporter" | "/reporter/name" => {
                if r.pointer == "/reporter" {
                    v["reporter"] = serde_json::json!({});
                }
                v["reporter"]["name"] = WITHHELD.into();
            }
            _ => {}
        }
    }
    v["field_tlp"] = serde_json::to_value(&marks).expect("labels serialize");
    if marks.is_empty() {
        if let Some(o) = v.as_object_mut() {
            o.remove("field_tlp");
        }
    }
    super::validate::parse_derived(&v, report).map_err(|problems| {
        let first = &problems[0];
        let cause = removed
            .iter()
            .find(|r| {
                pointer_is_within(&first.pointer, &r.pointer)
                    || pointer_is_within(&r.pointer, &first.pointer)
            })
            .or(removed.first())
            .expect("redact is called with removals");
        Needed {
            pointer: cause.pointer.clone(),
            tlp: cause.tlp,
            detail: first.to_string(),
        }
    })
}

/// Marker for an array element to drop; no report string can contain a NUL.
const TOMBSTONE: &str = "\u{0}irtx-removed";

/// Removes every pointer in `pointers` from `v` and from `marks` (with all that lies beneath),
/// then compacts arrays, rewriting the indexes in the remaining `marks` keys.
pub fn remove_all(v: &mut Value, marks: &mut BTreeMap<String, Tlp>, pointers: &[String]) {
    for p in pointers {
        let Some((parent, last)) = p.rsplit_once('/') else {
            continue;
        };
        let token = last.replace("~1", "/").replace("~0", "~");
        match v.pointer_mut(parent) {
            Some(Value::Object(m)) => {
                m.remove(&token);
            }
            Some(Value::Array(a)) => {
                if let Some(slot) = token.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                    *slot = Value::String(TOMBSTONE.into());
                }
            }
            _ => {}
        }
        marks.retain(|k, _| !pointer_is_within(k, p));
    }
    compact(v, "", marks);
}

fn compact(v: &mut Value, at: &str, marks: &mut BTreeMap<String, Tlp>) {
    match v {
        Value::Array(a) => {
            let mut map = Vec::with_capacity(a.len());
            let mut next = 0usize;
            for x in a.iter() {
                if x.as_str() == Some(TOMBSTONE) {
                    map.push(None);
                } else {
                    map.push(Some(next));
                    next += 1;
                }
            }
            a.retain(|x| x.as_str() != Some(TOMBSTONE));
            if map.iter().enumerate().any(|(i, m)| *m != Some(i)) {
                let prefix = format!("{at}/");
                let old: Vec<(String, Tlp)> = marks
                    .iter()
                    .filter(|(k, _)| k.starts_with(&prefix))
                    .map(|(k, t)| (k.clone(), *t))
                    .collect();
                for (k, t) in old {
                    let rest = &k[prefix.len()..];
                    let (idx, tail) = rest.split_once('/').map_or((rest, ""), |(i, t)| (i, t));
                    marks.remove(&k);
                    if let Some(Some(new)) = idx.parse::<usize>().ok().and_then(|i| map.get(i)) {
                        let key = if tail.is_empty() {
                            format!("{prefix}{new}")
                        } else {
                            format!("{prefix}{new}/{tail}")
                        };
                        marks.insert(key, t);
                    }
                }
            }
            for (i, x) in a.iter_mut().enumerate() {
                compact(x, &format!("{at}/{i}"), marks);
            }
        }
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                compact(x, &format!("{at}/{}", escape_token(k)), marks);
            }
        }
        _ => {}
    }
}
