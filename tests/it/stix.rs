//! STIX 2.1 output: schema-valid object by object (OASIS schemas in ../shared), deterministic,
//! versioned, every reference resolvable, every object marked at least as its content.

use std::collections::{BTreeMap, HashSet};

use irtx::convert::{convert, Format};
use irtx::tlp::Tlp;
use serde_json::Value;

use crate::helpers::{files_under, read_json, root, shared_reference, team, valid_reports};

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
        marking(&find("identity", &|o| o["roles"]
            == serde_json::json!(["reporter"]))),
        Tlp::Red
    );
    // The report container carries the document's marking, the highest in it.
    let container = find("report", &|_| true);
    assert_eq!(marking(&container), Tlp::Red);
    assert_eq!(container["name"], r.title.as_str());
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

/// One rendering of a report through `irtx convert` (the preview path sharing also takes).
fn view(dir: &std::path::Path, report: &std::path::Path, args: &[&str]) -> Option<Value> {
    let mut all = vec!["convert", "--to", "stix"];
    all.extend_from_slice(args);
    all.push(report.to_str().unwrap());
    let out = crate::helpers::irtx(dir, &all);
    match out.status.code() {
        Some(4) => None, // withheld from this peer
        _ => Some(serde_json::from_slice(&crate::helpers::succeeded(&out).stdout).unwrap()),
    }
}

/// The ids of the objects a view writes itself (not the shared team identity, the published
/// marking definitions, the extension definition, or SCOs, whose ids are their content).
fn own_ids(b: &Value) -> HashSet<String> {
    b["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o.get("created_by_ref").is_some() && o["type"] != "extension-definition")
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn views_that_differ_in_content_differ_in_ids_and_equal_views_share_them() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let key = |name: &str, byte: u8| {
        let p = dir.path().join(name);
        std::fs::write(&p, format!("{byte:02x}").repeat(32)).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        p.to_str().unwrap().to_string()
    };
    let (k1, k2) = (key("one.key", 1), key("two.key", 2));
    let report = root().join("tests/data/valid/incident-ransomware-full.json");
    let peer = |cap: &'static str, aud: &'static str, profile: &'static str, k: &str| {
        vec![
            "--max-tlp".to_string(),
            cap.into(),
            "--audience".into(),
            aud.into(),
            "--profile".into(),
            profile.into(),
            "--key-file".into(),
            k.to_string(),
        ]
    };
    let render = |args: Vec<String>| {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        view(dir.path(), &report, &a).expect("this view is sent")
    };
    let as_is = view(dir.path(), &report, &[]).unwrap();
    let amber = render(peer("AMBER", "community", "none", &k1));
    let amber_again = render(peer("AMBER", "client", "none", &k2));
    let strict = render(peer("AMBER+STRICT", "own-organization", "none", &k1));
    let pseudo1 = render(peer("AMBER", "community", "pseudonymize", &k1));
    let pseudo1_again = render(peer("AMBER", "community", "pseudonymize", &k1));
    let pseudo2 = render(peer("AMBER", "community", "pseudonymize", &k2));

    // Equal views (same fields removed, no anonymization; or the same profile and key) are
    // the same document, ids and all, whatever the peer.
    assert_eq!(amber, amber_again);
    assert_eq!(pseudo1, pseudo1_again);
    // Views with different content share none of their own ids: the report as it is, with
    // the AMBER+STRICT description removed, with the RED reporter removed, and pseudonymized
    // under two keys.
    let views = [&as_is, &amber, &strict, &pseudo1, &pseudo2];
    for (i, a) in views.iter().enumerate() {
        for b in &views[i + 1..] {
            assert_ne!(a, b);
            let shared: Vec<_> = own_ids(a).intersection(&own_ids(b)).cloned().collect();
            assert!(shared.is_empty(), "views {i} and another share {shared:?}");
        }
    }
    // And so no (id, modified) pair carries two contents across all of them.
    let mut seen: BTreeMap<(String, String), Value> = BTreeMap::new();
    for v in views {
        for o in v["objects"].as_array().unwrap() {
            let key = (
                o["id"].as_str().unwrap().to_string(),
                o["modified"].as_str().unwrap_or("").to_string(),
            );
            if let Some(prev) = seen.insert(key.clone(), o.clone()) {
                assert_eq!(&prev, o, "{key:?} has two contents");
            }
        }
    }
    // The report as it is keeps the ids it always had: a view key only where content differs.
    let direct = convert(
        &valid_reports()
            .into_iter()
            .find(|(p, _)| p.ends_with("incident-ransomware-full.json"))
            .unwrap()
            .1,
        &team(),
        Format::Stix,
    );
    assert_eq!(own_ids(&as_is), own_ids(&direct));
}

#[test]
fn victims_and_pseudonyms_are_never_indicators_and_pseudonyms_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.key");
    std::fs::write(&key, "07".repeat(32)).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let path = root().join("tests/data/valid/incident-ransomware-full.json");
    let (_, r) = valid_reports()
        .into_iter()
        .find(|(p, _)| *p == path)
        .unwrap();
    let victims: Vec<String> = r
        .indicators
        .iter()
        .filter(|i| i.role.is_victim_side())
        .map(|i| i.value.to_lowercase())
        .collect();
    assert!(victims.len() >= 2);
    let ext = irtx::convert::stix::pseudonym_extension_id();
    for profile in ["none", "pseudonymize", "strict"] {
        let b = view(
            dir.path(),
            &path,
            &[
                "--max-tlp",
                "AMBER",
                "--audience",
                "community",
                "--profile",
                profile,
                "--key-file",
                key.to_str().unwrap(),
            ],
        )
        .unwrap();
        let objects = b["objects"].as_array().unwrap();
        let pseudonyms: Vec<String> = objects
            .iter()
            .filter(|o| o["extensions"][&ext]["pseudonymized"] == true)
            .filter_map(|o| o["value"].as_str().or(o["name"].as_str()))
            .map(str::to_lowercase)
            .collect();
        for ind in objects.iter().filter(|o| o["type"] == "indicator") {
            let pattern = ind["pattern"].as_str().unwrap().to_lowercase();
            for v in victims.iter().chain(&pseudonyms) {
                assert!(!pattern.contains(&format!("'{v}'")), "{profile}: {pattern}");
            }
            assert_eq!(
                ind["indicator_types"],
                serde_json::json!(["malicious-activity"])
            );
            assert!(ind.get("valid_until").is_none(), "{profile}: expires");
        }
        // The victim values still travel, as observed data.
        let observed = objects
            .iter()
            .filter(|o| o["type"] == "observed-data")
            .count();
        assert!(observed >= r.indicators.len() - 1, "{profile}: {observed}");
        // The RED reporter is removed for an AMBER peer: no placeholder identity is sent.
        assert!(
            objects.iter().all(|o| o["name"] != "(withheld)"),
            "{profile}: placeholder"
        );
        match profile {
            "none" => assert!(pseudonyms.is_empty()),
            _ => {
                // Every value that differs from the report's carries the extension, and the
                // bundle defines it; an address pseudonym is outside routable space.
                assert!(pseudonyms.len() >= victims.len(), "{profile}");
                assert!(objects.iter().any(|o| o["id"] == ext.as_str()));
                for p in &pseudonyms {
                    if let Ok(ip) = p.parse::<std::net::Ipv4Addr>() {
                        assert!(
                            ip.is_private() || ip.octets()[0] >= 240,
                            "{profile}: routable pseudonym {ip}"
                        );
                    }
                }
                for o in objects.iter().filter(|o| o.get("created").is_none()) {
                    for field in ["value", "account_login"] {
                        if let Some(v) = o[field].as_str() {
                            let known =
                                r.indicators.iter().any(|i| i.value.eq_ignore_ascii_case(v))
                                    || r.assets.iter().any(|a| a.address.as_deref() == Some(v));
                            assert!(
                                known || o["extensions"][&ext].is_object(),
                                "{profile}: {v} is neither the report's nor marked"
                            );
                        }
                    }
                }
            }
        }
    }
    // identity_class comes from the report.
    let (_, ddos) = bundle_of("incident-ddos-minimal");
    let reporter = ddos["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["roles"] == serde_json::json!(["reporter"]))
        .unwrap()
        .clone();
    assert_eq!(reporter["identity_class"], "organization");
}

/// irtx checks the commonest STIX patterns by hand (src/schema.rs): on every STIX object of
/// the reference material (the OASIS examples, the validator's and misp-stix's test files,
/// valid and invalid) and on variants of each with custom properties of every kind, it
/// accepts exactly what the OASIS schemas, compiled here with jsonschema's own pattern
/// engine, accept.
#[test]
fn received_objects_are_accepted_exactly_when_the_oasis_schemas_accept_them() {
    let Some(reference) = shared_reference(
        "received_objects_are_accepted_exactly_when_the_oasis_schemas_accept_them",
    ) else {
        return;
    };
    let validators = validators_from(&reference.join("stix2.1-json-schemas/schemas"));
    let mut files = Vec::new();
    for dir in ["stix2.1-json-schemas/examples", "samples", "tlp"] {
        files.extend(files_under(&reference.join(dir), "json"));
    }
    let extra = [
        ("x_n", serde_json::json!(1)),
        ("x_bytes_bin", serde_json::json!("AAE=")),
        ("x_bytes_bin", serde_json::json!("AAE")),
        ("x_digest_hex", serde_json::json!("0aF9")),
        ("x_digest_hex", serde_json::json!("0aF")),
        ("x_list", serde_json::json!([])),
        ("uuid", Value::Null),
        ("Xid", serde_json::json!("s")),
        ("ab", serde_json::json!(2)),
    ];
    let (mut seen, mut refused) = (0, 0);
    for path in files {
        let Ok(doc) = serde_json::from_slice::<Value>(&std::fs::read(&path).unwrap()) else {
            continue; // the validator's deliberately broken JSON
        };
        let objects = match doc["objects"].as_array() {
            Some(objects) => objects.clone(),
            None if doc["type"].is_string() && doc["type"] != "bundle" => vec![doc.clone()],
            None => continue,
        };
        for o in &objects {
            let variants = extra.iter().map(|(k, v)| {
                let mut o = o.clone();
                o[*k] = v.clone();
                o
            });
            for variant in std::iter::once(o.clone()).chain(variants) {
                let ty = variant["type"].as_str().unwrap_or("");
                let theirs = validators
                    .get(ty)
                    .filter(|_| !matches!(ty, "bundle" | "core" | "properties"))
                    .unwrap_or_else(|| {
                        &validators[if variant.get("created").is_some() {
                            "core"
                        } else {
                            "cyber-observable-core"
                        }]
                    })
                    .is_valid(&variant);
                let bundle = serde_json::json!({"type": "bundle",
                    "id": "bundle--6a9e2fce-7f6c-4d3c-8f9e-5e7f2b7b1a11", "objects": [variant]});
                let ours = irtx::schema::check_stix_bundle(&bundle).is_empty();
                assert_eq!(ours, theirs, "{}: {}", path.display(), bundle["objects"][0]);
                seen += 1;
                refused += usize::from(!theirs);
            }
        }
    }
    assert!(
        seen > 2_000 && refused > 500,
        "{seen} objects checked, {refused} refused"
    );
}
