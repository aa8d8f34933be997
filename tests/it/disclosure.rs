//! TLP decisions, redaction and anonymization over generated reports and peers, and through
//! the command line.

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt as _;

use irtx::anonymize::{Key, Profile, Pseudonymizer};
use irtx::convert::Format;
use irtx::exchange::{render, Outcome, Recipient};
use irtx::peer::{Audience, PeerPolicy};
use irtx::tlp::policy::{allowed, Origin};
use irtx::tlp::Tlp;
use proptest::prelude::*;
use serde_json::{json, Value};

use crate::helpers::{irtx, root, team};

/// A generated report with the values of each side listed.
#[derive(Debug, Clone)]
struct Case {
    report: Value,
    /// Victim-side values: none may appear in `pseudonymize` or `strict` output.
    victim: Vec<String>,
    /// Attacker-side indicators: pointer and the forms the value takes in documents.
    attacker: Vec<(String, Vec<String>)>,
}

fn word() -> impl Strategy<Value = String> {
    "[a-z]{3,7}[0-9]{2,4}"
}

fn case() -> impl Strategy<Value = Case> {
    (
        (any::<[u8; 4]>(), any::<[u8; 4]>(), any::<u128>()),
        (word(), word(), word(), word(), "[0-9]{7}"),
        ("[A-Z][a-z]{3,7}", "[A-Z][a-z]{4,9}", "[A-Z][a-z]{4,9}"),
        (word(), word(), word(), "[0-9a-f]{64}", 1u32..4_000_000_000),
        prop::sample::select(vec!["CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED"]),
        prop::collection::vec(
            (
                prop::sample::select(vec!["/description", "/what_occurred", "/title", "/reporter", "/assets/0", "/indicators/0", "/indicators/1", "/indicators/2", "/indicators/3", "/indicators/4", "/indicators/5", "/indicators/6", "/indicators/7"]),
                prop::sample::select(vec!["CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED"]),
            ),
            0..5,
        ),
    )
        .prop_map(|((vip, aip, vip6), (vdom, vhost, vuser, vmail, phone), (first, last, org), (adom, apath, amail, sha, asn), tlp, marks)| {
            let victim_ip = std::net::Ipv4Addr::from(vip).to_string();
            let victim_ip6 = std::net::Ipv6Addr::from(vip6 | 1).to_string();
            let victim_domain = format!("{vdom}.example");
            let victim_host = format!("{vhost}.{victim_domain}");
            let victim_email = format!("{vmail}@{victim_domain}");
            let victim_user = format!("{}.{}", first.to_lowercase(), vuser);
            let phone = format!("+49 30 {phone}");
            let reporter = format!("{first} {last}");
            let org = format!("{org} GmbH");
            let asset = format!("srv-{vhost}");
            let attacker_ip = std::net::Ipv4Addr::from(aip).to_string();
            let attacker_domain = format!("c2-{adom}.example");
            let attacker_url = format!("https://{attacker_domain}/{apath}");
            let attacker_email = format!("{amail}@{attacker_domain}");
            let indicators = json!([
                {"type": "ipv4", "value": attacker_ip, "role": "source"},
                {"type": "domain", "value": attacker_domain, "role": "c2"},
                {"type": "url", "value": attacker_url, "role": "payload-delivery"},
                {"type": "email", "value": attacker_email, "role": "phishing"},
                {"type": "sha256", "value": sha, "role": "payload"},
                {"type": "ipv4", "value": victim_ip, "role": "target"},
                {"type": "email", "value": victim_email, "role": "victim"},
                {"type": "username", "value": victim_user, "role": "victim"},
                {"type": "asn", "value": format!("AS{asn}"), "role": "source"},
            ]);
            let mut field_tlp = serde_json::Map::new();
            for (p, t) in marks {
                field_tlp.insert(p.to_string(), t.into());
            }
            let report = json!({
                "kind": "incident",
                "title": format!("Intrusion at {asset} via {attacker_domain}"),
                "tlp": tlp,
                "field_tlp": field_tlp,
                "category": "intrusions/system-compromise",
                "severity": "critical",
                "occurred_at": "2026-11-01T10:00:00Z",
                "detected_at": "2026-11-01T11:00:00Z",
                "reported_at": "2026-11-01T12:00:00Z",
                "reporter": {"name": reporter, "organization": org, "email": victim_email, "phone": phone},
                "description": format!("{reporter} ({phone}) saw {victim_ip} and {victim_ip6} talk to {attacker_ip}; mail from {attacker_email} reached {victim_email}. Host {victim_host} fetched {attacker_url}."),
                "what_occurred": format!("User {victim_user} logged in on {asset} from {attacker_ip}."),
                "environment": format!("{org} office network"),
                "assets": [
                    {"name": asset, "type": "server", "address": victim_host, "owner": org},
                    {"name": format!("db-{vhost}"), "type": "database", "address": victim_ip6},
                ],
                "indicators": indicators,
            });
            let victim = vec![victim_ip, victim_ip6, victim_domain, victim_host, victim_email, victim_user, phone, reporter, org, asset];
            let attacker = report["indicators"].as_array().unwrap().iter().enumerate()
                .filter(|(_, i)| !matches!(i["role"].as_str(), Some("target" | "victim")))
                .map(|(n, i)| {
                    let v = i["value"].as_str().unwrap().to_string();
                    // IODEF carries digests in base64 and AS numbers without `AS`.
                    let forms = match i["type"].as_str() {
                        Some("sha256") => {
                            let bytes: Vec<u8> = (0..64).step_by(2).map(|k| u8::from_str_radix(&v[k..k + 2], 16).unwrap()).collect();
                            vec![v.clone(), base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes)]
                        }
                        Some("asn") => vec![v.clone(), v.trim_start_matches("AS").to_string()],
                        _ => vec![v.clone()],
                    };
                    (format!("/indicators/{n}"), forms)
                })
                .collect();
            Case { report, victim, attacker }
        })
        // The two sides must not share a value (a shared value is victim-side, by design).
        .prop_filter("sides share a value", |c| {
            c.attacker.iter().flat_map(|(_, f)| f).all(|a| {
                let a = a.to_lowercase();
                c.victim.iter().all(|v| {
                    let v = v.to_lowercase();
                    !a.contains(&v) && !v.contains(&a)
                })
            })
        })
}

fn peer() -> impl Strategy<Value = (PeerPolicy, Origin, &'static str, Format)> {
    (
        prop::sample::select(Tlp::ALL.to_vec()),
        prop::sample::select(Audience::ALL.to_vec()),
        prop::option::of(any::<bool>()),
        prop::sample::select(vec!["none", "pseudonymize", "strict"]),
        prop::sample::select(vec![Format::Stix, Format::Iodef]),
    )
        .prop_map(|(max_tlp, audience, received, profile, format)| {
            let origin = match received {
                None => Origin::Own,
                Some(provider_permission) => Origin::Received {
                    source: "cert-src".into(),
                    provider_permission,
                },
            };
            (
                PeerPolicy {
                    id: "cert-peer".parse().unwrap(),
                    max_tlp,
                    audience,
                },
                origin,
                profile,
                format,
            )
        })
}

/// Every string in a JSON document, lowercased.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.to_lowercase()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(m) => m.iter().for_each(|(k, x)| {
            out.push(k.to_lowercase());
            strings(x, out)
        }),
        Value::Number(n) => out.push(n.to_string()),
        _ => {}
    }
}

/// Where `needle` stands as a whole token in `hay` (not inside a longer name or number),
/// each with what follows it.
fn token_hits<'a>(hay: &'a str, needle: &str) -> Vec<&'a str> {
    let part = |c: char| c.is_alphanumeric() || matches!(c, '.' | '-' | '_');
    let mut hits = Vec::new();
    let mut from = 0;
    while let Some(i) = hay[from..].find(needle) {
        let start = from + i;
        let end = start + needle.len();
        let before = hay[..start].chars().next_back();
        let after = hay[end..].chars().next();
        // A full stop ends sentences: "... 10.0.0.1." still names 10.0.0.1.
        let after_ok = after.is_none_or(|c| {
            !part(c) || (c == '.' && hay[end + 1..].chars().next().is_none_or(|d| !part(d)))
        });
        if before.is_none_or(|c| !part(c)) && after_ok {
            hits.push(&hay[end..]);
        }
        from = start + 1;
    }
    hits
}

/// Every leaf string value (no keys, no vocabulary such as a role or a type), lowercased.
fn values(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.to_lowercase()),
        Value::Array(a) => a.iter().for_each(|x| values(x, out)),
        Value::Object(m) => m
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "role" | "type" | "kind" | "tlp"))
            .for_each(|(_, x)| values(x, out)),
        _ => {}
    }
}

/// The leaf strings under `pointer` that appear nowhere else in the report.
fn distinctive(report: &Value, pointer: &str) -> Vec<String> {
    let Some(sub) = report.pointer(pointer) else {
        return vec![];
    };
    let mut mine = Vec::new();
    values(sub, &mut mine);
    let mut rest = report.clone();
    if let Some(v) = rest.pointer_mut(pointer) {
        *v = Value::Null;
    }
    let mut others = Vec::new();
    strings(&rest, &mut others);
    mine.into_iter()
        .filter(|s| {
            s.len() >= 6
                && !others
                    .iter()
                    .any(|o| o.contains(s.as_str()) || s.contains(o.as_str()) && o.len() >= 6)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: crate::helpers::cases(200), ..ProptestConfig::default() })]

    #[test]
    fn nothing_leaves_that_the_peer_may_not_have((case, (policy, origin, profile_name, format)) in (case(), peer())) {
        let report = irtx::report::validate::parse_value(&case.report).unwrap();
        let profile = Profile::builtin(profile_name).unwrap();
        let key = Pseudonymizer::new(&Key::from_bytes([42; 32]));
        let to = Recipient { policy: policy.clone(), profile: &profile, format };
        let outcome = render(&report, &origin, &to, Some(&key), &team()).unwrap();
        prop_assert_eq!(format!("{outcome:?}"), format!("{:?}", render(&report, &origin, &to, Some(&key), &team()).unwrap()), "not deterministic");

        let report_allowed = allowed(report.tlp, &origin, &policy).is_ok();
        let ready = match outcome {
            Outcome::Withheld(_) => {
                prop_assert!(!report_allowed || report.field_tlp.values().any(|t| allowed(*t, &origin, &policy).is_err()));
                return Ok(());
            }
            Outcome::Ready(r) => r,
        };
        prop_assert!(report_allowed, "a report whose label may not go was sent");
        prop_assert!(ready.marking >= report.tlp || report.field_tlp.values().any(|t| *t < report.tlp));
        prop_assert!(ready.marking != Tlp::Red);
        let mut out = Vec::new();
        strings(&ready.document, &mut out);
        if format == Format::Iodef {
            prop_assert!(irtx::schema::check(irtx::schema::iodef_rfc8727(), &ready.document).is_empty());
        }

        // No field above what the peer may receive, and no RED field, appears.
        let removed: HashSet<&str> = ready.plan.removed.iter().map(|r| r.pointer.as_str()).collect();
        for (p, t) in &report.field_tlp {
            if allowed(*t, &origin, &policy).is_err() {
                prop_assert!(removed.iter().any(|r| irtx::report::pointer_is_within(p, r)), "{p} ({t}) not removed");
                for s in distinctive(&case.report, p) {
                    prop_assert!(out.iter().all(|o| token_hits(o, &s).is_empty()), "{p} ({t}): `{s}` reached a peer");
                }
            }
        }

        // Anonymization: the victim side never appears; strict hides the attacker side too;
        // pseudonymize keeps the attacker's indicators usable.
        if profile_name != "none" {
            for v in &case.victim {
                let v = v.to_lowercase();
                prop_assert!(out.iter().all(|o| token_hits(o, &v).is_empty()), "victim value `{v}` leaked under {profile_name}");
            }
        }
        for (pointer, forms) in &case.attacker {
            let gone = removed.iter().any(|r| irtx::report::pointer_is_within(pointer, r));
            let v = forms[0].to_lowercase();
            let mut hits: Vec<String> = Vec::new();
            for f in forms {
                let f = f.to_lowercase();
                for o in &out {
                    hits.extend(token_hits(o, &f).into_iter().map(str::to_string));
                }
            }
            match profile_name {
                "pseudonymize" | "none" if !gone => prop_assert!(!hits.is_empty(), "attacker `{v}` lost under {profile_name}"),
                // A truncated address may stand as the network it belongs to: `a.b.c.0/24`.
                "strict" => prop_assert!(hits.iter().all(|rest| rest.starts_with('/')), "attacker `{v}` kept under strict"),
                _ => {}
            }
        }
    }

    #[test]
    fn pseudonyms_are_deterministic_per_key_and_differ_across_domains(master in any::<[u8; 32]>(), v in "[a-z]{1,10}@[a-z]{2,10}\\.example") {
        let m = Key::from_bytes(master);
        let a = Pseudonymizer::new(&m.derive("peer:cert-b"));
        let a2 = Pseudonymizer::new(&m.derive("peer:cert-b"));
        let b = Pseudonymizer::new(&m.derive("peer:cert-c"));
        prop_assert_eq!(a.email(&v, false), a2.email(&v, false));
        prop_assert_ne!(a.email(&v, false), b.email(&v, false));
        prop_assert_ne!(a.host(&v), b.host(&v));
    }
}

fn key_file(dir: &std::path::Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(&p, hex).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

#[test]
fn irtx_pseudonym_reproduces_the_crypto_pan_sample() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(
        dir.path(),
        "sample.key",
        &[
            21, 34, 23, 141, 51, 164, 207, 128, 19, 10, 91, 22, 73, 144, 125, 16, 216, 152, 143,
            131, 121, 121, 101, 39, 98, 87, 76, 45, 42, 132, 34, 2,
        ],
    );
    let out = irtx(
        dir.path(),
        &[
            "pseudonym",
            "--key-file",
            key.to_str().unwrap(),
            "128.11.68.132",
            "129.118.74.4",
            "130.132.252.244",
            "141.223.7.43",
        ],
    );
    crate::helpers::succeeded(&out);
    // The published Crypto-PAn sample (135.242.180.132, 134.136.186.123, 133.68.164.234,
    // 141.167.8.160) in the low 28 bits; routable addresses are confined to 240.0.0.0/4.
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "247.242.180.132\n246.136.186.123\n245.68.164.234\n253.167.8.160\n"
    );
    // A key file others may read is refused, and the error does not show the key.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = irtx(
        dir.path(),
        &["pseudonym", "--key-file", key.to_str().unwrap(), "10.0.0.1"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("chmod 600") && !err.contains("152217"),
        "{err}"
    );
}

#[test]
fn key_domains_in_config_give_unlinkable_pseudonyms() {
    let dir = tempfile::tempdir().unwrap();
    key_file(dir.path(), "local.key", &[1; 32]);
    key_file(dir.path(), "fed.key", &[2; 32]);
    std::fs::write(
        dir.path().join("irtx.toml"),
        "[team]\nid = \"cert-a\"\n[anonymize]\nkey_file = \"local.key\"\nfederation_key_file = \"fed.key\"\n",
    )
    .unwrap();
    let run = |domain: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_irtx"))
            .current_dir(dir.path())
            .args([
                "pseudonym",
                "--domain",
                domain,
                "jana@victim.example",
                "10.1.2.3",
            ])
            .output()
            .unwrap();
        crate::helpers::succeeded(&out);
        String::from_utf8(out.stdout).unwrap()
    };
    let (b, b2, c, fed) = (
        run("peer:cert-b"),
        run("peer:cert-b"),
        run("peer:cert-c"),
        run("federation"),
    );
    assert_eq!(b, b2);
    assert_ne!(b, c);
    assert_ne!(b, fed);
    let lines: Vec<&str> = b.lines().collect();
    assert!(
        lines[0].starts_with("u-") && lines[0].ends_with(".invalid"),
        "{b}"
    );
    assert!(lines[1].parse::<std::net::Ipv4Addr>().is_ok());
}

#[test]
fn convert_for_a_peer_says_what_it_removed_and_exits_4_when_withheld() {
    let dir = tempfile::tempdir().unwrap();
    key_file(dir.path(), "fed.key", &[2; 32]);
    std::fs::write(
        dir.path().join("irtx.toml"),
        r#"
[team]
id = "cert-a"
[anonymize]
federation_key_file = "fed.key"
[peers.cert-b]
url = "https://gw.cert-b.example"
jwk = { kty = "OKP", crv = "Ed25519", x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" }
max_tlp = "AMBER"
audience = "community"
profile = "pseudonymize"
[peers.public-feed]
url = "https://feed.example"
jwk = { kty = "OKP", crv = "Ed25519", x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" }
max_tlp = "CLEAR"
audience = "public"
profile = "strict"
"#,
    )
    .unwrap();
    let report = root().join("tests/data/valid/incident-ransomware-full.json");
    let run = |peer: &str, fmt: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_irtx"))
            .current_dir(dir.path())
            .args([
                "convert",
                "--to",
                fmt,
                "--peer",
                peer,
                report.to_str().unwrap(),
            ])
            .output()
            .unwrap()
    };
    let out = run("cert-b", "stix");
    crate::helpers::succeeded(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("decision: send to `cert-b`"), "{err}");
    assert!(
        err.contains("removed /description (TLP:AMBER+STRICT)"),
        "{err}"
    );
    assert!(
        err.contains("removed /reporter (TLP:RED): TLP:RED never leaves automatically"),
        "{err}"
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = doc.to_string();
    assert!(
        !text.contains("LockBit-style")
            && !text.contains("Jana Novak")
            && !text.contains("10.20.1.11")
    );
    assert!(text.contains("203.0.113.7"), "attacker indicator lost");
    assert!(irtx::convert::check_output(&doc, Format::Stix).is_empty());

    let out = run("public-feed", "iodef");
    assert_eq!(out.status.code(), Some(4));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("withhold from `public-feed`"));

    // Ad-hoc settings need no peer; a pseudonymizing profile needs a key.
    let out = irtx(
        dir.path(),
        &[
            "convert",
            "--to",
            "stix",
            "--max-tlp",
            "AMBER",
            "--audience",
            "client",
            "--profile",
            "none",
            report.to_str().unwrap(),
        ],
    );
    crate::helpers::succeeded(&out);
    let out = irtx(
        dir.path(),
        &[
            "convert",
            "--to",
            "stix",
            "--max-tlp",
            "AMBER",
            "--audience",
            "client",
            report.to_str().unwrap(),
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "--max-tlp without --profile is a usage error"
    );
}
