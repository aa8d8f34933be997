//! STIX 2.1 output: schema-valid object by object (OASIS schemas in ../shared), deterministic,
//! versioned, every reference resolvable, every object marked at least as its content.

use std::collections::{BTreeMap, HashSet};

use irtx::convert::{convert, Format};
use irtx::tlp::Tlp;
use serde_json::Value;

use crate::helpers::{read_json, root, shared_reference, team, valid_reports};

fn bundle_of(name: &str) -> (irtx::report::Report, Value) {
    let (_, r) = valid_reports()
        .into_iter()
        .find(|(p, _)| p.file_stem().unwrap() == name)
        .unwrap();
    let b = convert(&r, &team(), Format::Stix);
    (r, b)
}

/// Builds per-type validators from the schema files under `dir` (registry keyed by `$id`).
fn validators_from(dir: &std::path::Path) -> BTreeMap<String, jsonschema::Validator> {
    let mut docs = Vec::new();
    for sub in ["common", "observables", "sdos", "sros"] {
        for e in std::fs::read_dir(dir.join(sub)).unwrap() {
            let p = e.unwrap().path();
            docs.push((
                format!("{sub}/{}", p.file_stem().unwrap().to_str().unwrap()),
                read_json(&p),
            ));
        }
    }
    let registry = jsonschema::Registry::new()
        .extend(docs.iter().map(|(_, v)| (v["$id"].as_str().unwrap(), v)))
        .unwrap()
        .prepare()
        .unwrap();
    docs.iter()
        .map(|(name, schema)| {
            let v = jsonschema::options()
                .offline()
                .with_registry(&registry)
                .build(schema)
                .unwrap();
            (name.rsplit('/').next().unwrap().to_string(), v)
        })
        .collect()
}

#[test]
fn every_bundle_validates_object_by_object_against_the_oasis_schemas() {
    let Some(reference) =
        shared_reference("every_bundle_validates_object_by_object_against_the_oasis_schemas")
    else {
        return;
    };
    let validators = validators_from(&reference.join("stix2.1-json-schemas/schemas"));
    let mut checked = 0;
    for (path, r) in valid_reports() {
        let b = convert(&r, &team(), Format::Stix);
        assert_eq!(b["type"], "bundle");
        for (i, o) in b["objects"].as_array().unwrap().iter().enumerate() {
            let ty = o["type"].as_str().unwrap();
            let v = validators
                .get(ty)
                .unwrap_or_else(|| panic!("no OASIS schema for `{ty}`"));
            let errors: Vec<String> = v
                .iter_errors(o)
                .map(|e| format!("{} {e}", e.instance_path()))
                .collect();
            assert!(
                errors.is_empty(),
                "{}: /objects/{i} ({ty}): {errors:#?}",
                path.display()
            );
            checked += 1;
        }
        assert!(irtx::convert::check_output(&b, Format::Stix).is_empty());
    }
    assert!(checked > 100, "only {checked} objects checked");
}

#[test]
fn compiled_in_copies_equal_the_reference() {
    let Some(reference) = shared_reference("compiled_in_copies_equal_the_reference") else {
        return;
    };
    let stix = reference.join("stix2.1-json-schemas/schemas");
    for sub in ["common", "observables", "sdos", "sros"] {
        for e in std::fs::read_dir(stix.join(sub)).unwrap() {
            let p = e.unwrap().path();
            let ours = root()
                .join("schemas/stix2.1")
                .join(sub)
                .join(p.file_name().unwrap());
            assert_eq!(
                std::fs::read(&p).unwrap(),
                std::fs::read(&ours).unwrap(),
                "{}",
                ours.display()
            );
        }
    }
    assert_eq!(
        std::fs::read(
            reference.join("iodef/rfc8727-json/iodef.schema.patched-no-empty-required.json")
        )
        .unwrap(),
        std::fs::read(root().join("schemas/iodef/rfc8727-appendix-b.patched.schema.json")).unwrap()
    );
    for t in Tlp::ALL {
        let label = t.as_str().to_ascii_lowercase();
        let file = std::fs::read_dir(reference.join("tlp/tlp2/marking-definitions"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_str().unwrap().ends_with(&format!(".tlp-{label}.json")))
            .unwrap();
        assert_eq!(
            read_json(&file)["objects"][0],
            t.stix_marking_definition(),
            "{label}"
        );
    }
}

#[test]
fn same_report_same_bundle_and_new_version_keeps_ids() {
    let (r, b1) = bundle_of("incident-ransomware-full");
    assert_eq!(b1, convert(&r, &team(), Format::Stix), "not deterministic");
    let mut r2 = r.clone();
    r2.version = Some(3);
    r2.updated_at = Some(irtx::report::Timestamp::parse("2026-11-10T12:00:00Z").unwrap());
    r2.title = "Ransomware on file servers (updated)".into();
    let b2 = convert(&r2, &team(), Format::Stix);
    let ids = |b: &Value| -> HashSet<String> {
        b["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&b1), ids(&b2), "a new version must keep the ids");
    let incident = |b: &Value| {
        b["objects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["type"] == "incident")
            .unwrap()
            .clone()
    };
    let (i1, i2) = (incident(&b1), incident(&b2));
    assert_eq!(i1["created"], i2["created"]);
    assert_eq!(i1["modified"], "2026-11-04T09:00:00.000Z");
    assert_eq!(i2["modified"], "2026-11-10T12:00:00.000Z");
    assert_eq!(i2["name"], "Ransomware on file servers (updated)");
}

#[test]
fn every_reference_resolves_inside_the_bundle() {
    for (path, r) in valid_reports() {
        let b = convert(&r, &team(), Format::Stix);
        let objects = b["objects"].as_array().unwrap();
        let ids: HashSet<&str> = objects.iter().map(|o| o["id"].as_str().unwrap()).collect();
        assert_eq!(
            ids.len(),
            objects.len(),
            "{}: duplicate ids",
            path.display()
        );
        for o in objects {
            let mut refs: Vec<&str> = Vec::new();
            for k in ["created_by_ref", "source_ref", "target_ref"] {
                refs.extend(o[k].as_str());
            }
            for k in ["object_refs", "object_marking_refs"] {
                refs.extend(
                    o[k].as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str),
                );
            }
            for x in refs {
                assert!(
                    ids.contains(x),
                    "{}: {} refers to missing {x}",
                    path.display(),
                    o["id"]
                );
            }
            if o["type"] != "marking-definition" {
                assert_eq!(
                    o["object_marking_refs"].as_array().map(Vec::len),
                    Some(1),
                    "{}",
                    o["id"]
                );
            }
        }
    }
}

#[test]
fn objects_are_marked_at_least_as_their_content() {
    let (r, b) = bundle_of("incident-ransomware-full");
    let objects = b["objects"].as_array().unwrap();
    let marking = |o: &Value| {
        Tlp::from_stix_marking_id(o["object_marking_refs"][0].as_str().unwrap()).unwrap()
    };
    let find = |ty: &str, pred: &dyn Fn(&Value) -> bool| {
        objects
            .iter()
            .find(|o| o["type"] == ty && pred(o))
            .unwrap()
            .clone()
    };
    // /description is AMBER+STRICT in an AMBER report: the incident is AMBER, and its
    // description carries a granular AMBER+STRICT marking.
    let incident = find("incident", &|_| true);
    assert_eq!(marking(&incident), Tlp::Amber);
    assert_eq!(
        incident["granular_markings"],
        serde_json::json!([{"selectors": ["description"], "marking_ref": Tlp::AmberStrict.stix_marking_id()}])
    );
    // /reporter is RED.
    assert_eq!(
        marking(&find("identity", &|o| o["identity_class"] == "individual")),
        Tlp::Red
    );
    // /indicators/3 is GREEN, below the report's AMBER: its indicator is GREEN.
    let sha = &r.indicators[3].value.to_ascii_lowercase();
    assert_eq!(
        marking(&find("indicator", &|o| o["pattern"]
            .as_str()
            .unwrap()
            .contains(sha.as_str()))),
        Tlp::Green
    );
    // Everything else from this AMBER report is AMBER.
    assert_eq!(
        marking(&find("indicator", &|o| o["pattern"]
            .as_str()
            .unwrap()
            .contains("203.0.113.7"))),
        Tlp::Amber
    );
    // Every label used is in the bundle, as published.
    for t in [
        Tlp::Clear,
        Tlp::Green,
        Tlp::Amber,
        Tlp::AmberStrict,
        Tlp::Red,
    ] {
        assert!(objects.contains(&t.stix_marking_definition()), "{t}");
    }
}

#[test]
fn patterns_escape_quotes_and_backslashes() {
    let (_, b) = bundle_of("incident-ransomware-full");
    let ua = b["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["type"] == "indicator" && o["pattern"].as_str().unwrap().contains("User-Agent"))
        .unwrap();
    assert_eq!(
        ua["pattern"],
        "[network-traffic:extensions.'http-request-ext'.request_header.'User-Agent' = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) \\'LkbLoader\\'/1.2']"
    );
}

#[test]
fn sco_ids_are_the_stix_deterministic_ids() {
    // STIX 2.1 section 2.9: UUIDv5, namespace 00abedb4-..., name = canonical JSON of the
    // id-contributing properties. Checked independently of the converter here.
    let (_, b) = bundle_of("incident-phishing-clear");
    let ns = uuid::uuid!("00abedb4-aa42-466c-9c01-fed23315a9b7");
    let domain = b["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["type"] == "domain-name")
        .unwrap();
    let expected = uuid::Uuid::new_v5(&ns, br#"{"value":"tax-refund.phish.example"}"#);
    assert_eq!(domain["id"], format!("domain-name--{expected}"));
}
