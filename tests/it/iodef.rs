//! IODEF v2 output: valid against irtx's schema and RFC 8727 Appendix B; every report field
//! reaches the document.

use base64::Engine as _;
use irtx::convert::{convert, Format};
use irtx::schema;
use serde_json::Value;

use crate::helpers::{read_json, shared_reference, team, valid_reports};

#[test]
fn every_document_validates_against_both_schemas() {
    let rfc = shared_reference(
        "every_document_validates_against_both_schemas (RFC schema from ../shared)",
    )
    .map(|r| {
        let s =
            read_json(&r.join("iodef/rfc8727-json/iodef.schema.patched-no-empty-required.json"));
        jsonschema::options().offline().build(&s).unwrap()
    });
    for (path, r) in valid_reports() {
        let doc = convert(&r, &team(), Format::Iodef);
        let ours = schema::check(schema::iodef(), &doc);
        assert!(ours.is_empty(), "{}: {ours:#?}", path.display());
        let compiled_in = schema::check(schema::iodef_rfc8727(), &doc);
        assert!(
            compiled_in.is_empty(),
            "{}: {compiled_in:#?}",
            path.display()
        );
        if let Some(v) = &rfc {
            let errs: Vec<String> = v.iter_errors(&doc).map(|e| e.to_string()).collect();
            assert!(errs.is_empty(), "{}: {errs:#?}", path.display());
        }
    }
}

#[test]
fn the_rfc_examples_pass_the_rfc_schema_and_ours_rejects_what_we_never_emit() {
    let Some(r) = shared_reference("the_rfc_examples_pass_the_rfc_schema") else {
        return;
    };
    for name in ["minimal.json", "indicators-from-campaign.json"] {
        let doc = read_json(&r.join("iodef/rfc8727-json").join(name));
        assert!(
            schema::check(schema::iodef_rfc8727(), &doc).is_empty(),
            "{name}"
        );
    }
    // Our schema is stricter: no `lang` in an RFC example we never write like that is fine,
    // but a wrong restriction value or a missing Contact is refused by both.
    let mut doc = read_json(&r.join("iodef/rfc8727-json/minimal.json"));
    doc["Incident"][0]["restriction"] = "secret".into();
    assert!(!schema::check(schema::iodef(), &doc).is_empty());
    assert!(!schema::check(schema::iodef_rfc8727(), &doc).is_empty());
}

/// Every string and number in the document, and every key, to search in.
fn haystack(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Array(a) => a.iter().for_each(|x| haystack(x, out)),
        Value::Object(m) => {
            for (k, x) in m {
                out.push(k.clone());
                haystack(x, out);
            }
        }
        _ => {}
    }
}

/// The forms a report value may take in the IODEF document.
fn forms(pointer: &str, v: &Value, report: &Value) -> Vec<String> {
    let s = v.as_str().unwrap_or_default().to_string();
    let last = pointer.rsplit('/').next().unwrap();
    let parent_type = |p: &str| {
        report
            .pointer(&format!("{}/type", &p[..p.rfind('/').unwrap()]))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    if pointer == "/tlp" || pointer.starts_with("/field_tlp/") {
        // The marking reaches the document as the restriction of the class that carries the
        // field, or a stricter one where one class carries fields of several markings.
        let t: irtx::tlp::Tlp = s.parse().unwrap();
        return irtx::tlp::Tlp::ALL
            .iter()
            .filter(|x| **x >= t)
            .map(|x| x.iodef_restriction().to_string())
            .collect();
    }
    if last.ends_with("_at") || last == "first_seen" || last == "last_seen" || last == "at" {
        return vec![irtx::report::Timestamp::parse(&s).unwrap().to_rfc3339_utc()];
    }
    if let Value::Number(n) = v {
        let f = n.as_f64().unwrap();
        return vec![n.to_string(), format!("{f:?}"), format!("{f}")];
    }
    match pointer {
        "/category" => return vec![s.parse::<irtx::report::Category>().unwrap().machine_tag()],
        "/severity" => {
            let sev: irtx::report::Severity = s.parse().unwrap();
            let (v, ext) = sev.iodef_severity();
            return vec![ext.unwrap_or(v).to_string()];
        }
        "/status" => {
            let st: irtx::report::Status = s.parse().unwrap();
            let (v, ext) = st.iodef_status();
            return vec![ext.unwrap_or(v).to_string()];
        }
        "/version" => return vec![v.to_string()],
        // Contact@type: person and organization are its own; other kinds are ext-type.
        "/reporter/identity_class" => {
            return vec![match s.as_str() {
                "individual" => "person".to_string(),
                other => other.to_string(),
            }]
        }
        _ => {}
    }
    if pointer.starts_with("/assets/") && last == "type" {
        return vec![]; // checked below via NodeRole
    }
    if pointer.starts_with("/indicators/") && last == "type" {
        let token = match s.as_str() {
            "ipv4" => "ipv4-addr",
            "ipv6" => "ipv6-addr",
            "cidr" => "-net",
            "domain" => "DomainData",
            "url" => "site-uri",
            "email" => "e-mail",
            "md5" => "#md5",
            "sha1" => "#sha1",
            "sha256" => "#sha256",
            "sha512" => "#sha512",
            "asn" => "asn",
            "user-agent" => "http-user-agent",
            "filename" => "FileName",
            "mac" => "mac",
            "username" => "user-name",
            other => panic!("indicator type {other} unmapped"),
        };
        return vec![token.to_string()];
    }
    if pointer.starts_with("/indicators/") && last == "value" {
        let ty = parent_type(pointer);
        if ["md5", "sha1", "sha256", "sha512"].contains(&ty.as_str()) {
            let bytes: Vec<u8> = (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect();
            return vec![base64::engine::general_purpose::STANDARD.encode(bytes)];
        }
        if ty == "asn" {
            return vec![s.trim_start_matches("AS").to_string()];
        }
    }
    vec![s]
}

fn leaves(v: &Value, at: String, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(m) => m.iter().for_each(|(k, x)| {
            leaves(
                x,
                format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                out,
            )
        }),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| leaves(x, format!("{at}/{i}"), out)),
        _ => out.push((at, v.clone())),
    }
}

#[test]
fn every_field_a_report_carries_reaches_the_document() {
    let mut checked = 0;
    for (path, r) in valid_reports() {
        let raw: Value = read_json(&path);
        let doc = convert(&r, &team(), Format::Iodef);
        let mut hay = Vec::new();
        haystack(&doc, &mut hay);
        let mut all = Vec::new();
        leaves(&raw, String::new(), &mut all);
        for (pointer, value) in all {
            let wanted = forms(&pointer, &value, &raw);
            if wanted.is_empty() {
                continue;
            }
            assert!(
                wanted
                    .iter()
                    .any(|w| hay.iter().any(|h| h.contains(w.as_str()))),
                "{}: {pointer} = {value} is not in the IODEF document (looked for {wanted:?})",
                path.display()
            );
            checked += 1;
        }
        // The report id, the team, and asset types reach it too.
        let inc = &doc["Incident"][0];
        assert_eq!(inc["IncidentID"]["id"], r.effective_id().as_str());
        assert_eq!(inc["IncidentID"]["name"], "cert-test.example");
        if !r.assets.is_empty() {
            let systems = inc["EventData"]
                .as_array()
                .unwrap()
                .iter()
                .find_map(|e| e["System"].as_array())
                .unwrap();
            assert_eq!(systems.len(), r.assets.len());
            assert!(systems
                .iter()
                .all(|s| s["NodeRole"][0]["category"].is_string()));
        }
    }
    assert!(checked > 150, "only {checked} fields checked");
}

#[test]
fn field_markings_become_class_restrictions() {
    let (_, r) = valid_reports()
        .into_iter()
        .find(|(p, _)| p.ends_with("incident-ransomware-full.json"))
        .unwrap();
    let doc = convert(&r, &team(), Format::Iodef);
    let inc = &doc["Incident"][0];
    // The top-level restriction is the highest in the document: /reporter is RED. Classes
    // below carry their own: /description is AMBER+STRICT.
    assert_eq!(inc["restriction"], "red");
    assert!(inc["Description"].is_array());
    assert_eq!(inc["Indicator"][0]["restriction"], "amber");
    assert_eq!(inc["Indicator"][3]["restriction"], "green"); // /indicators/3 is GREEN
    assert_eq!(inc["Contact"][1]["restriction"], "red"); // /reporter is RED

    // A narrative field marked apart gets an EventData of its own with that restriction.
    let (_, r) = valid_reports()
        .into_iter()
        .find(|(p, _)| p.ends_with("incident-account-compromise-ipv6.json"))
        .unwrap();
    let doc = convert(&r, &team(), Format::Iodef);
    let what = doc["Incident"][0]["EventData"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["Description"][0].as_str() == r.what_occurred.as_deref())
        .unwrap();
    assert_eq!(what["restriction"], "green"); // /what_occurred is GREEN in an AMBER report
    assert_eq!(doc["Incident"][0]["Indicator"][1]["restriction"], "white"); // /indicators/1 is CLEAR
}

fn restrictions(v: &Value, out: &mut Vec<irtx::tlp::Tlp>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "restriction" {
                    out.push(irtx::tlp::Tlp::from_iodef_restriction(x.as_str().unwrap()).unwrap());
                } else {
                    restrictions(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| restrictions(x, out)),
        _ => {}
    }
}

#[test]
fn top_restriction_is_the_highest_cvss_and_exercises_read_right() {
    for (path, r) in valid_reports() {
        let doc = convert(&r, &team(), Format::Iodef);
        let inc = &doc["Incident"][0];
        let mut all = Vec::new();
        restrictions(inc, &mut all);
        let top = irtx::tlp::Tlp::from_iodef_restriction(inc["restriction"].as_str().unwrap());
        assert_eq!(top, all.iter().copied().max(), "{}", path.display());
        assert_eq!(top, Some(r.max_tlp()), "{}", path.display());
        let occurrence = inc["Assessment"][0]["occurrence"].as_str().unwrap();
        let exercise = r.category.is_some_and(|c| c.code() == "test/test");
        let kind_vuln = r.kind == irtx::report::Kind::Vulnerability;
        assert_eq!(
            occurrence,
            if exercise || kind_vuln {
                "potential"
            } else {
                "actual"
            },
            "{}",
            path.display()
        );
        if let Some(c) = r.vulnerability.as_ref().and_then(|v| v.cvss.as_ref()) {
            let content = inc["Method"][0]["Vulnerability"][0]["Scoring"][0]["ContentID"]
                .as_str()
                .unwrap();
            assert_eq!(content, format!("{} (base score {})", c.vector, c.score));
            assert_eq!(content.matches("CVSS:").count(), 1, "{content}");
        }
    }
}

#[test]
fn no_iodef_leaves_without_a_team_domain() {
    let dir = tempfile::tempdir().unwrap();
    let report = crate::helpers::root().join("tests/data/valid/incident-phishing-clear.json");
    let run = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_irtx"))
            .current_dir(dir.path())
            .env_remove("RUST_LOG")
            .env("IRTX_TEAM__ID", "cert-test")
            .args(["convert", "--to", "iodef"])
            .args(extra)
            .arg(&report)
            .output()
            .unwrap()
    };
    // What a peer would get: refused, naming the setting.
    let out = run(&[
        "--max-tlp",
        "AMBER",
        "--audience",
        "community",
        "--profile",
        "none",
    ]);
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("[team] domain"), "{err}");
    assert!(out.stdout.is_empty());
    // An offline conversion still works, and says what it wrote.
    let out = run(&[]);
    crate::helpers::succeeded(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cert-test.invalid"), "{err}");
    // `irtx init --domain` sets it; a name that is not a domain is refused.
    let out = crate::helpers::irtx(
        dir.path(),
        &[
            "init",
            "--team-id",
            "cert-x",
            "--domain",
            "not a domain",
            "--dir",
            "x",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let out = crate::helpers::irtx(
        dir.path(),
        &[
            "init",
            "--team-id",
            "cert-x",
            "--domain",
            "cert-x.example.org",
            "--dir",
            "x",
        ],
    );
    crate::helpers::succeeded(&out);
    let toml = std::fs::read_to_string(dir.path().join("x/irtx.toml")).unwrap();
    assert!(toml.contains("domain = \"cert-x.example.org\""), "{toml}");
}
