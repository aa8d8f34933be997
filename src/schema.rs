//! The JSON Schemas irtx checks documents against, compiled once, and [`Violation`], the one
//! shape every validation problem takes (a JSON pointer and a reason).
//!
//! - `schemas/report.schema.json`: the local report (ours, 2020-12).
//! - `schemas/iodef-2.schema.json`: the IODEF v2 JSON that irtx emits (ours, 2020-12).
//! - `schemas/iodef/rfc8727-appendix-b.patched.schema.json`: RFC 8727 Appendix B (draft-04),
//!   with its 13 empty `required` arrays removed so it compiles; for IODEF from others.
//! - `schemas/stix2.1/`: the OASIS STIX 2.1 schemas. A bundle is checked the way
//!   stix2-validator does it: the envelope, then each object against the schema of its type,
//!   since `common/bundle.json` rejects valid bundles that hold `incident`, `note`, `grouping`
//!   and other types (../shared/reference/README.md, quirk 3).
//!
//! Pure: the schema texts are compiled in, nothing is read or fetched at run time.

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use jsonschema::error::ValidationErrorKind;
use jsonschema::Validator;
use serde::Serialize;
use serde_json::Value;

include!(concat!(env!("OUT_DIR"), "/stix_schemas.rs"));

/// Text of the local report schema.
pub const REPORT_SCHEMA: &str = include_str!("../schemas/report.schema.json");
/// Text of the schema of the IODEF v2 JSON that irtx emits.
pub const IODEF_SCHEMA: &str = include_str!("../schemas/iodef-2.schema.json");
/// Text of RFC 8727 Appendix B (patched: no empty `required`).
pub const IODEF_RFC8727_SCHEMA: &str =
    include_str!("../schemas/iodef/rfc8727-appendix-b.patched.schema.json");

/// One problem with a document: where (an RFC 6901 JSON pointer; empty for the whole
/// document) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// JSON pointer to the offending value (RFC 6901); `""` is the whole document.
    pub pointer: String,
    /// What is wrong, for a person.
    pub reason: String,
}

impl Violation {
    /// A violation at `pointer`.
    pub fn new(pointer: impl Into<String>, reason: impl Into<String>) -> Self {
        Violation {
            pointer: pointer.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pointer.is_empty() {
            write!(f, "(document): {}", self.reason)
        } else {
            write!(f, "{}: {}", self.pointer, self.reason)
        }
    }
}

/// Escapes one reference token for a JSON pointer (RFC 6901 section 3).
pub fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// How every schema here is compiled: offline, and with the `regex` crate's engine for
/// `pattern` (linear time). None of these schemas' patterns needs look-around or
/// back-references, which the default engine, fancy-regex, supports; its matching was 6% of
/// the inbound path's CPU samples.
fn options<'a>() -> jsonschema::ValidationOptions<'a> {
    jsonschema::options()
        .offline()
        .with_pattern_options(jsonschema::PatternOptions::regex())
}

fn compile(text: &str, what: &str) -> Validator {
    let schema: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{what}: {e}"));
    options()
        .build(&schema)
        .unwrap_or_else(|e| panic!("{what} does not compile: {e}"))
}

/// The compiled report schema.
pub fn report() -> &'static Validator {
    static V: OnceLock<Validator> = OnceLock::new();
    V.get_or_init(|| compile(REPORT_SCHEMA, "schemas/report.schema.json"))
}

/// The compiled schema of the IODEF that irtx emits.
pub fn iodef() -> &'static Validator {
    static V: OnceLock<Validator> = OnceLock::new();
    V.get_or_init(|| compile(IODEF_SCHEMA, "schemas/iodef-2.schema.json"))
}

/// The compiled RFC 8727 Appendix B schema.
pub fn iodef_rfc8727() -> &'static Validator {
    static V: OnceLock<Validator> = OnceLock::new();
    V.get_or_init(|| compile(IODEF_RFC8727_SCHEMA, "RFC 8727 Appendix B schema"))
}

/// Every problem `validator` finds in `doc`, each with a pointer. A missing or unexpected
/// property is reported at the property's own pointer, which says more than its parent's.
pub fn check(validator: &Validator, doc: &Value) -> Vec<Violation> {
    // The common case, a valid document, costs one walk and builds no error lists.
    if validator.is_valid(doc) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for err in validator.iter_errors(doc) {
        let at = err.instance_path().as_str().to_string();
        match err.kind() {
            ValidationErrorKind::Required { property } => {
                let name = property.as_str().unwrap_or_default();
                out.push(Violation::new(
                    format!("{at}/{}", escape_token(name)),
                    "required, but missing",
                ));
            }
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                for name in unexpected {
                    out.push(Violation::new(
                        format!("{at}/{}", escape_token(name)),
                        "unknown field: not allowed here",
                    ));
                }
            }
            ValidationErrorKind::Enum { options } => {
                let opts: Vec<String> = options
                    .as_array()
                    .map(|a| a.iter().map(ToString::to_string).collect())
                    .unwrap_or_default();
                let reason = if opts.len() <= 16 {
                    format!("{} is not one of {}", err.instance(), opts.join(", "))
                } else {
                    format!(
                        "{} is not one of the {} allowed values",
                        err.instance(),
                        opts.len()
                    )
                };
                out.push(Violation::new(at, reason));
            }
            // These messages quote the whole instance, which may be the whole document and
            // sensitive: say what failed instead.
            ValidationErrorKind::AnyOf { .. } => {
                out.push(Violation::new(at, "matches none of the allowed forms"));
            }
            ValidationErrorKind::OneOfNotValid { .. } => {
                out.push(Violation::new(at, "matches none of the allowed forms"));
            }
            ValidationErrorKind::OneOfMultipleValid { .. } => {
                out.push(Violation::new(
                    at,
                    "matches more than one of the allowed forms",
                ));
            }
            ValidationErrorKind::Not { .. } => {
                out.push(Violation::new(at, "has a form that is not allowed here"));
            }
            _ => out.push(Violation::new(at, err.to_string())),
        }
    }
    out
}

/// The STIX 2.1 validators, one per object type, plus `core` and `cyber-observable-core` for
/// custom types.
fn stix_validators() -> &'static HashMap<String, Validator> {
    static V: OnceLock<HashMap<String, Validator>> = OnceLock::new();
    V.get_or_init(|| {
        let docs: Vec<(String, Value)> = STIX_SCHEMAS
            .iter()
            .map(|(path, text)| {
                let v: Value = serde_json::from_str(text)
                    .unwrap_or_else(|e| panic!("schemas/stix2.1/{path}: {e}"));
                (path.to_string(), v)
            })
            .collect();
        let registry = jsonschema::Registry::new()
            .extend(docs.iter().map(|(_, v)| {
                let id = v["$id"].as_str().expect("every STIX schema has an $id");
                (id, v)
            }))
            .and_then(|r| r.prepare())
            .expect("the STIX schemas form a registry");
        let mut map = HashMap::new();
        for (path, schema) in &docs {
            let name = path
                .rsplit_once('/')
                .map_or(path.as_str(), |(_, n)| n)
                .trim_end_matches(".json")
                .to_string();
            let wanted = path.starts_with("sdos/")
                || path.starts_with("sros/")
                || path.starts_with("observables/")
                || matches!(
                    name.as_str(),
                    "marking-definition"
                        | "language-content"
                        | "extension-definition"
                        | "core"
                        | "cyber-observable-core"
                );
            if !wanted {
                continue;
            }
            let v = options()
                .with_registry(&registry)
                .build(schema)
                .unwrap_or_else(|e| panic!("schemas/stix2.1/{path} does not compile: {e}"));
            map.insert(name, v);
        }
        map
    })
}

/// Checks a STIX 2.1 bundle: the envelope (`type`, `id`, a non-empty `objects` array), then
/// each object against the schema named after its `type`; custom types against `core` (SDO,
/// SRO: they have `created`) or `cyber-observable-core` (SCO).
pub fn check_stix_bundle(doc: &Value) -> Vec<Violation> {
    let mut out = Vec::new();
    let Some(obj) = doc.as_object() else {
        return vec![Violation::new("", "a STIX bundle must be a JSON object")];
    };
    if obj.get("type").and_then(Value::as_str) != Some("bundle") {
        out.push(Violation::new("/type", "must be \"bundle\""));
    }
    match obj.get("id").and_then(Value::as_str) {
        Some(id) if is_stix_id(id, "bundle") => {}
        _ => out.push(Violation::new("/id", "must be `bundle--<UUID>`")),
    }
    let Some(objects) = obj.get("objects").and_then(Value::as_array) else {
        out.push(Violation::new(
            "/objects",
            "must be an array of STIX objects",
        ));
        return out;
    };
    if objects.is_empty() {
        out.push(Violation::new("/objects", "must not be empty"));
    }
    let validators = stix_validators();
    for (i, o) in objects.iter().enumerate() {
        let base = format!("/objects/{i}");
        let ty = o.get("type").and_then(Value::as_str).unwrap_or("");
        let v = validators.get(ty).unwrap_or_else(|| {
            if o.get("created").is_some() {
                &validators["core"]
            } else {
                &validators["cyber-observable-core"]
            }
        });
        out.extend(check(v, o).into_iter().map(|mut e| {
            e.pointer = format!("{base}{}", e.pointer);
            e
        }));
    }
    out
}

/// True for `<type>--<RFC 4122 UUID>`.
pub fn is_stix_id(id: &str, ty: &str) -> bool {
    id.strip_prefix(ty)
        .and_then(|r| r.strip_prefix("--"))
        .and_then(|u| uuid::Uuid::parse_str(u).ok())
        .is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn all_schemas_compile() {
        report();
        iodef();
        iodef_rfc8727();
        assert!(stix_validators().len() > 40);
    }

    #[test]
    fn missing_and_unknown_fields_point_at_themselves() {
        let v = check(
            report(),
            &json!({"kind": "event", "tlp": "GREEN", "reported_at": "2026-01-01T00:00:00Z",
                     "reporter": {"name": "a"}, "bogus": 1, "category": "test/test",
                     "detected_at": "2026-01-01T00:00:00Z", "environment": "lab"}),
        );
        assert!(
            v.contains(&Violation::new("/title", "required, but missing")),
            "{v:?}"
        );
        assert!(
            v.contains(&Violation::new("/bogus", "unknown field: not allowed here")),
            "{v:?}"
        );
    }

    #[test]
    fn stix_objects_are_checked_by_type() {
        let bundle = json!({"type": "bundle", "id": "bundle--6a9e2fce-7f6c-4d3c-8f9e-5e7f2b7b1a11",
            "objects": [{"type": "identity", "spec_version": "2.1",
                         "id": "identity--8c6af861-7b20-41ef-9b59-6344fd872a8f",
                         "created": "2016-08-08T15:50:10.983Z", "name": "x"}]});
        let v = check_stix_bundle(&bundle);
        assert_eq!(
            v,
            vec![Violation::new(
                "/objects/0/modified",
                "required, but missing"
            )]
        );
    }
}
