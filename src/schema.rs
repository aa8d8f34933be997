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
use serde_json::{json, Value};

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

/// [`options`] with the keywords that stand for the STIX schemas' commonest patterns
/// ([`with_stix_forms`]).
fn fast_options<'a>() -> jsonschema::ValidationOptions<'a> {
    options().with_keyword(STIX_FORM, |_, form, _| {
        let check: fn(&Value) -> bool = match form.as_str() {
            Some("identifier") => |v| v.as_str().is_none_or(is_stix_identifier),
            Some("timestamp") => |v| v.as_str().is_none_or(is_stix_timestamp),
            Some("properties") => is_stix_properties,
            _ => {
                return Err(jsonschema::ValidationError::custom(format!(
                    "`{STIX_FORM}` names no form: {form}"
                )))
            }
        };
        Ok(Box::new(StixForm(check)))
    })
}

/// The keyword that stands for the commonest patterns of the STIX schemas: those of
/// `identifier` and `timestamp` (every id, reference and time of every object) and the
/// `patternProperties` of `properties` (every property name of every object, three patterns
/// each). Checked by [`is_stix_identifier`], [`is_stix_timestamp`] and
/// [`is_stix_properties`], which accept exactly what those schemas accept (property tests
/// compare them; tests/it/stix.rs compares the verdicts on the reference material), without the regular expression engine and the cache pool its callers
/// share: that was a tenth of the inbound path's CPU. Only the verdict comes from them: the
/// errors of a document they refuse come from the schemas as published.
const STIX_FORM: &str = "x-irtx-stix-form";

/// The `pattern` of `common/identifier.json`.
const IDENTIFIER_PATTERN: &str = "^[a-z][a-z0-9-]+[a-z0-9]--[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-5][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$";
/// The `pattern` of `common/timestamp.json`.
const TIMESTAMP_PATTERN: &str = "^[0-9]{4}-(0[1-9]|1[012])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):([0-5][0-9]):([0-5][0-9]|60)(\\.[0-9]+)?Z$";

/// A value that must have one form.
struct StixForm(fn(&Value) -> bool);

impl<'i> jsonschema::Keyword<'i> for StixForm {
    fn validate(&self, instance: &'i Value) -> Result<(), jsonschema::ValidationError<'i>> {
        if self.is_valid(instance) {
            Ok(())
        } else {
            // Never shown: a refused document's errors come from the published schemas.
            Err(jsonschema::ValidationError::custom("not of the STIX form"))
        }
    }

    fn is_valid(&self, instance: &'i Value) -> bool {
        (self.0)(instance)
    }
}

/// What `common/properties.json` accepts: an object each of whose property names matches
/// one of its three `patternProperties` (nothing else is allowed), each value valid against
/// every pattern its name matches; anything but an object, as it stands.
fn is_stix_properties(v: &Value) -> bool {
    let Some(o) = v.as_object() else {
        return true;
    };
    o.iter().all(|(name, value)| {
        let b = name.as_bytes();
        let named = |suffix: &[u8]| {
            // ^[a-z][a-z0-9_]{0,245}<suffix>$
            b.len() > suffix.len()
                && b.len() <= 246 + suffix.len()
                && b.ends_with(suffix)
                && b[0].is_ascii_lowercase()
                && b[1..b.len() - suffix.len()]
                    .iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
        };
        let word = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_';
        // ^([a-z][a-z0-9_]{2,249})|id$ : a name that starts so, or one that ends in "id".
        let custom = (b.len() >= 3 && b[0].is_ascii_lowercase() && b[1..3].iter().all(word))
            || b.ends_with(b"id");
        let (bin, hex) = (named(b"_bin"), named(b"_hex"));
        (bin || hex || custom)
            && (!bin || value.as_str().is_some_and(is_base64))
            && (!hex || value.as_str().is_some_and(is_hex))
            && (!custom || !(value.is_null() || value.as_array().is_some_and(Vec::is_empty)))
    })
}

/// `common/binary.json`'s pattern: base64 in groups of 4, the last one padded or not.
fn is_base64(s: &str) -> bool {
    let b = s.as_bytes();
    let alphabet = |c: &u8| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/';
    let pad = b.iter().rev().take_while(|c| **c == b'=').count();
    !b.is_empty() && b.len() % 4 == 0 && pad <= 2 && b[..b.len() - pad].iter().all(alphabet)
}

/// `common/hex.json`'s pattern: pairs of hexadecimal digits, at least one.
fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.len() % 2 == 0 && s.bytes().all(|c| c.is_ascii_hexdigit())
}

/// What [`IDENTIFIER_PATTERN`] matches: a type of at least 3 characters (a lowercase
/// letter, then lowercase letters, digits and hyphens, ending in a letter or digit), `--`,
/// and a UUID of version 1 to 5 and the RFC 4122 variant.
fn is_stix_identifier(s: &str) -> bool {
    let b = s.as_bytes();
    let Some(split) = b.len().checked_sub(36) else {
        return false;
    };
    let (head, uuid) = b.split_at(split);
    let Some(ty) = head.strip_suffix(b"--") else {
        return false;
    };
    let lower_or_digit = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let type_ok = ty.len() >= 3
        && ty[0].is_ascii_lowercase()
        && ty[1..ty.len() - 1]
            .iter()
            .all(|c| lower_or_digit(c) || *c == b'-')
        && lower_or_digit(&ty[ty.len() - 1]);
    type_ok
        && uuid.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            14 => (b'1'..=b'5').contains(c),
            19 => matches!(c, b'8' | b'9' | b'a' | b'b' | b'A' | b'B'),
            _ => c.is_ascii_hexdigit(),
        })
}

/// What [`TIMESTAMP_PATTERN`] matches: `YYYY-MM-DDTHH:MM:SS`, a fraction of at least one
/// digit or none, and `Z`; months 01-12, days 01-31, hours 00-23, minutes 00-59, seconds
/// 00-60 (the calendar is not checked: the pattern does not).
fn is_stix_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 20 || b[b.len() - 1] != b'Z' {
        return false;
    }
    let two = |i: usize| -> Option<u8> {
        let (h, l) = (b[i], b[i + 1]);
        (h.is_ascii_digit() && l.is_ascii_digit()).then(|| (h - b'0') * 10 + (l - b'0'))
    };
    let fixed = b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && two(5).is_some_and(|m| (1..=12).contains(&m))
        && b[7] == b'-'
        && two(8).is_some_and(|d| (1..=31).contains(&d))
        && b[10] == b'T'
        && two(11).is_some_and(|h| h <= 23)
        && b[13] == b':'
        && two(14).is_some_and(|m| m <= 59)
        && b[16] == b':'
        && two(17).is_some_and(|s| s <= 60);
    let fraction = &b[19..b.len() - 1];
    fixed
        && (fraction.is_empty()
            || (fraction.len() >= 2
                && fraction[0] == b'.'
                && fraction[1..].iter().all(u8::is_ascii_digit)))
}

/// A STIX schema with the patterns [`STIX_FORM`] stands for replaced by it. Each replaced
/// part is checked to be what the keyword stands for, so an update of the schemas that
/// changes one fails every check loudly rather than checking less.
fn with_stix_forms(path: &str, schema: &mut Value) {
    let (form, replaced) = match path {
        "common/identifier.json" => ("identifier", vec![("pattern", json!(IDENTIFIER_PATTERN))]),
        "common/timestamp.json" => ("timestamp", vec![("pattern", json!(TIMESTAMP_PATTERN))]),
        "common/properties.json" => (
            "properties",
            vec![
                ("patternProperties", properties_patterns()),
                ("additionalProperties", json!(false)),
            ],
        ),
        _ => return,
    };
    let obj = schema
        .as_object_mut()
        .unwrap_or_else(|| panic!("schemas/stix2.1/{path} is not an object"));
    for (key, expected) in replaced {
        assert_eq!(
            obj.remove(key).as_ref(),
            Some(&expected),
            "schemas/stix2.1/{path}: its `{key}` is not what {STIX_FORM} stands for"
        );
    }
    obj.insert(STIX_FORM.into(), form.into());
}

/// The `patternProperties` of `common/properties.json`, as [`is_stix_properties`] reads
/// them.
fn properties_patterns() -> Value {
    let any = json!({"anyOf": [
        {"type": "array", "minItems": 1}, {"type": "string"}, {"type": "integer"},
        {"type": "boolean"}, {"type": "number"}, {"type": "object"}
    ]});
    json!({
        "^[a-z][a-z0-9_]{0,245}_bin$": {"$ref": "../common/binary.json"},
        "^[a-z][a-z0-9_]{0,245}_hex$": {"$ref": "../common/hex.json"},
        "^([a-z][a-z0-9_]{2,249})|id$": any,
    })
}

fn compile(text: &str, what: &str) -> Validator {
    let schema: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{what}: {e}"));
    options()
        .build(&schema)
        .unwrap_or_else(|e| panic!("{what} does not compile: {e}"))
}

/// Compiles every schema a serving gateway checks on every report and message (the report
/// schema, the IODEF ones, the STIX validators that give the verdict), so that the first
/// message after a start does not wait for it (about 60 ms in a release build). The STIX
/// schemas as published, which only explain a refusal, stay compiled on first use.
pub fn warm() {
    report();
    iodef();
    iodef_rfc8727();
    stix_validators(true);
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
    violations(validator, doc)
}

/// Every error `validator` reports on `doc`, as [`Violation`]s.
fn violations(validator: &Validator, doc: &Value) -> Vec<Violation> {
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

/// The STIX schemas by path, with [`STIX_FORM`] (`fast`) or as published.
fn stix_schemas(fast: bool) -> Vec<(String, Value)> {
    STIX_SCHEMAS
        .iter()
        .map(|(path, text)| {
            let mut v: Value = serde_json::from_str(text)
                .unwrap_or_else(|e| panic!("schemas/stix2.1/{path}: {e}"));
            if fast {
                with_stix_forms(path, &mut v);
            }
            (path.to_string(), v)
        })
        .collect()
}

/// The schemas, for `$ref`s to find by `$id`.
fn stix_registry(docs: &[(String, Value)]) -> jsonschema::Registry<'_> {
    jsonschema::Registry::new()
        .extend(docs.iter().map(|(_, v)| {
            let id = v["$id"].as_str().expect("every STIX schema has an $id");
            (id, v)
        }))
        .and_then(|r| r.prepare())
        .expect("the STIX schemas form a registry")
}

/// The STIX 2.1 validators, one per object type, plus `core` and `cyber-observable-core` for
/// custom types: with [`STIX_FORM`] (`fast`: the verdict), or the schemas as published (the
/// errors of what the fast ones refuse).
fn stix_validators(fast: bool) -> &'static HashMap<String, Validator> {
    static FAST: OnceLock<HashMap<String, Validator>> = OnceLock::new();
    static EXACT: OnceLock<HashMap<String, Validator>> = OnceLock::new();
    let build = || {
        let docs = stix_schemas(fast);
        let registry = stix_registry(&docs);
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
            let v = if fast { fast_options() } else { options() }
                .with_registry(&registry)
                .build(schema)
                .unwrap_or_else(|e| panic!("schemas/stix2.1/{path} does not compile: {e}"));
            map.insert(name, v);
        }
        map
    };
    if fast {
        FAST.get_or_init(build)
    } else {
        EXACT.get_or_init(build)
    }
}

/// The validator of a STIX object by its `type`; custom types: `core` (SDO, SRO: they have
/// `created`) or `cyber-observable-core` (SCO).
fn stix_validator<'v>(validators: &'v HashMap<String, Validator>, o: &Value) -> &'v Validator {
    let ty = o.get("type").and_then(Value::as_str).unwrap_or("");
    validators.get(ty).unwrap_or_else(|| {
        if o.get("created").is_some() {
            &validators["core"]
        } else {
            &validators["cyber-observable-core"]
        }
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
    let fast = stix_validators(true);
    for (i, o) in objects.iter().enumerate() {
        if stix_validator(fast, o).is_valid(o) {
            continue;
        }
        let base = format!("/objects/{i}");
        let exact = stix_validator(stix_validators(false), o);
        out.extend(violations(exact, o).into_iter().map(|mut e| {
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
        assert!(stix_validators(true).len() > 40);
        assert_eq!(stix_validators(false).len(), stix_validators(true).len());
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

    #[test]
    fn identifiers_and_timestamps_of_the_wrong_form_are_found_where_they_stand() {
        let bundle = json!({"type": "bundle", "id": "bundle--6a9e2fce-7f6c-4d3c-8f9e-5e7f2b7b1a11",
            "objects": [{"type": "identity", "spec_version": "2.1",
                         "id": "identity--8c6af861-7b20-61ef-9b59-6344fd872a8f",
                         "created": "2016-08-08T15:50:10.983Z",
                         "modified": "2016-13-08T15:50:10.983Z", "name": "x",
                         "created_by_ref": "Identity--8c6af861-7b20-41ef-9b59-6344fd872a8f",
                         "object_marking_refs": ["marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9", 7]}]});
        let v = check_stix_bundle(&bundle);
        let at: Vec<&str> = v.iter().map(|v| v.pointer.as_str()).collect();
        assert_eq!(
            at,
            [
                "/objects/0/created_by_ref",
                "/objects/0/id",
                "/objects/0/modified",
                "/objects/0/object_marking_refs/1"
            ],
            "{v:?}"
        );
        // Said as the published schemas say it.
        assert!(
            v[1].reason
                .ends_with(&format!("does not match \"{IDENTIFIER_PATTERN}\"")),
            "{v:?}"
        );
        assert!(
            v[2].reason
                .ends_with(&format!("does not match \"{TIMESTAMP_PATTERN}\"")),
            "{v:?}"
        );
        assert_eq!(v[3].reason, "7 is not of type \"string\"");
        // Custom properties: a name none of `properties.json`'s patterns allows, and values
        // its `_bin`, `_hex` and other names refuse.
        let mut o = bundle["objects"][0].clone();
        o["id"] = "identity--8c6af861-7b20-41ef-9b59-6344fd872a8f".into();
        o["modified"] = o["created"].clone();
        o["created_by_ref"] = o["id"].clone();
        o["object_marking_refs"] =
            json!(["marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"]);
        let one = |o: Value| json!({"type": "bundle", "id": bundle["id"], "objects": [o]});
        assert_eq!(check_stix_bundle(&one(o.clone())), vec![]);
        for (name, value) in [
            ("X_bad", json!(1)),
            ("x_a_bin", json!("abc")),
            ("x_a_hex", json!("abc")),
            ("x_list", json!([])),
            ("x_none", Value::Null),
        ] {
            let mut bad = o.clone();
            bad[name] = value.clone();
            let v = check_stix_bundle(&one(bad));
            assert!(!v.is_empty(), "{name}: {value} accepted");
            assert!(
                v.iter().all(|v| v.pointer.starts_with("/objects/0")),
                "{v:?}"
            );
        }
    }

    /// `common/properties.json` as published.
    fn properties_exact() -> &'static Validator {
        static V: OnceLock<Validator> = OnceLock::new();
        V.get_or_init(|| {
            let docs = stix_schemas(false);
            let registry = stix_registry(&docs);
            let (_, schema) = docs
                .iter()
                .find(|(p, _)| p == "common/properties.json")
                .unwrap();
            options().with_registry(&registry).build(schema).unwrap()
        })
    }

    /// A valid value with one character replaced, or with one cut or added at `at`.
    fn mutated(valid: &str, at: usize, with: char, how: u8) -> String {
        let mut chars: Vec<char> = valid.chars().collect();
        let at = at % (chars.len() + 1);
        match how % 3 {
            0 if at < chars.len() => chars[at] = with,
            1 if at < chars.len() => {
                chars.remove(at);
            }
            _ => chars.insert(at, with),
        }
        chars.into_iter().collect()
    }

    /// `check` and `pattern` agree on each of `strings`.
    fn agree(
        check: fn(&str) -> bool,
        pattern: &str,
        strings: [String; 3],
    ) -> Result<(), proptest::test_runner::TestCaseError> {
        let pattern = regex::Regex::new(pattern).unwrap();
        for s in strings {
            proptest::prop_assert_eq!(check(&s), pattern.is_match(&s), "{:?}", s);
        }
        Ok(())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]

        #[test]
        fn the_properties_check_matches_what_its_schema_accepts(
            names in proptest::collection::vec(
                "(id|[a-zA-Z0-9_-]{0,4}(_bin|_hex|id|_x)?|[a-z][a-z0-9_]{0,2}(_bin|_hex)|[a-z][a-z0-9_]{1,3}|\\u{e9}[a-z]{2})", 0..4),
            values in proptest::collection::vec(proptest::sample::select(vec![
                json!(null), json!([]), json!([1]), json!(""), json!("AA=="), json!("AAE="),
                json!("AAAA"), json!("A==="), json!("AA"), json!("0f"), json!("0fA"), json!("zz"),
                json!(1), json!(1.5), json!(true), json!({}), json!({"a": 1}),
            ]), 4),
        ) {
            let o = Value::Object(names.into_iter().zip(values).collect());
            proptest::prop_assert_eq!(is_stix_properties(&o), properties_exact().is_valid(&o), "{}", o);
        }

        #[test]
        fn the_identifier_check_matches_what_its_pattern_matches(
            loose in "[a-z0-9A-Z-]{0,8}--?[0-9a-fA-FgG-]{34,38}",
            at in 0usize..64,
            with in proptest::sample::select(vec!['a', 'z', 'A', 'F', 'G', '0', '1', '5', '6', '7', '8', '9', 'b', 'B', 'c', '-', '_', ' ', '\n', 'é']),
            how in 0u8..3,
            ty in "[a-z][a-z0-9-]{0,6}",
        ) {
            let valid = format!("{ty}--8c6af861-7b20-41ef-9b59-6344fd872a8f");
            let mutant = mutated(&valid, at, with, how);
            agree(is_stix_identifier, IDENTIFIER_PATTERN, [loose, mutant, valid])?;
        }

        #[test]
        fn the_timestamp_check_matches_what_its_pattern_matches(
            loose in "[0-9]{3,5}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,4})?Z?",
            at in 0usize..32,
            with in proptest::sample::select(vec!['0', '1', '2', '3', '4', '5', '6', '9', '-', ':', 'T', 't', 'Z', 'z', '.', ' ', '\n', '+']),
            how in 0u8..3,
            fraction in "(\\.[0-9]{1,9})?",
        ) {
            let valid = format!("2016-08-31T23:59:60{fraction}Z");
            let mutant = mutated(&valid, at, with, how);
            agree(is_stix_timestamp, TIMESTAMP_PATTERN, [loose, mutant, valid])?;
        }
    }
}
