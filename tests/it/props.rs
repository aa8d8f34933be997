//! Property tests over generated reports: conversion never panics, every output validates,
//! and every invalid input yields errors with pointers and no output.

use irtx::convert::{check_output, convert, convert_json, ConvertError, Format};
use irtx::report::vocab::CATEGORIES;
use proptest::prelude::*;
use serde_json::{json, Value};

use crate::helpers::team;

fn label() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,10}[a-z0-9]"
}

fn domain() -> impl Strategy<Value = String> {
    (prop::collection::vec(label(), 1..3), "[a-z]{2,6}")
        .prop_map(|(l, tld)| format!("{}.{tld}", l.join(".")))
}

fn hex(n: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(b"0123456789abcdefABCDEF".to_vec()), n)
        .prop_map(|v| String::from_utf8(v).unwrap())
}

/// Free text: any Unicode, including quotes, backslashes and newlines.
fn text() -> impl Strategy<Value = String> {
    "[\\PC\n'\"\\\\]{1,80}"
}

fn indicator() -> impl Strategy<Value = Value> {
    let value = prop_oneof![
        any::<u32>().prop_map(|a| ("ipv4", std::net::Ipv4Addr::from(a).to_string())),
        any::<u128>().prop_map(|a| ("ipv6", std::net::Ipv6Addr::from(a).to_string())),
        (any::<u32>(), 0u8..=32).prop_map(|(a, p)| {
            let net = ipnet::Ipv4Net::new(std::net::Ipv4Addr::from(a), p)
                .unwrap()
                .trunc();
            ("cidr", net.to_string())
        }),
        domain().prop_map(|d| ("domain", d)),
        (domain(), "[a-zA-Z0-9/._-]{0,20}").prop_map(|(d, p)| ("url", format!("https://{d}/{p}"))),
        (label(), domain()).prop_map(|(l, d)| ("email", format!("{l}@{d}"))),
        hex(32).prop_map(|h| ("md5", h)),
        hex(40).prop_map(|h| ("sha1", h)),
        hex(64).prop_map(|h| ("sha256", h)),
        hex(128).prop_map(|h| ("sha512", h)),
        any::<u32>().prop_map(|n| ("asn", format!("AS{n}"))),
        "[ -~]{1,60}".prop_map(|s| ("user-agent", s)),
        "[a-zA-Z0-9 ._'-]{1,30}".prop_map(|s| ("filename", s)),
        prop::collection::vec(any::<u8>(), 6).prop_map(|b| (
            "mac",
            b.iter()
                .map(|x| format!("{x:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        )),
    ];
    let role = prop::sample::select(vec![
        "source",
        "c2",
        "payload",
        "payload-delivery",
        "exfiltration",
        "phishing",
        "target",
        "victim",
    ]);
    (value, role, prop::option::of(text())).prop_map(|((ty, v), role, desc)| {
        let mut i = json!({"type": ty, "value": v, "role": role});
        if let Some(d) = desc {
            i["description"] = d.into();
        }
        i
    })
}

fn tlp() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "CLEAR",
        "GREEN",
        "AMBER",
        "AMBER+STRICT",
        "RED",
        "tlp:white",
        "Tlp:Amber",
    ])
}

/// A valid report of any kind.
pub fn report() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec!["event", "incident", "vulnerability"]),
        text(),
        prop::option::of(text()),
        tlp(),
        0..CATEGORIES.len(),
        prop::sample::select(vec!["information", "warning", "critical", "emergency"]),
        (0i64..2_000_000_000, 0i64..1_000_000, 0i64..1_000_000),
        prop::collection::vec(indicator(), 0..8),
        prop::collection::vec((label(), prop::option::of(domain())), 0..3),
        (prop::option::of(text()), prop::option::of((label(), domain()))),
        prop::collection::vec((0usize..12, tlp()), 0..4),
    )
        .prop_map(|(kind, title, desc, tlp, cat, sev, (t0, d1, d2), inds, assets, (env, email), marks)| {
            let at = |s: i64| time::OffsetDateTime::from_unix_timestamp(s).unwrap().format(&time::format_description::well_known::Rfc3339).unwrap();
            let mut r = json!({
                "kind": kind, "title": title, "tlp": tlp, "category": CATEGORIES[cat].0, "severity": sev,
                "occurred_at": at(t0), "detected_at": at(t0 + d1), "reported_at": at(t0 + d1 + d2),
                "reporter": {"name": "Reporter"}, "environment": env.unwrap_or_else(|| "lab".into()),
            });
            if let Some(d) = desc {
                r["description"] = d.into();
            }
            if let Some((l, d)) = email {
                r["reporter"]["email"] = format!("{l}@{d}").into();
            }
            // Indicators must be unique by (type, value, role).
            let mut seen = std::collections::HashSet::new();
            let inds: Vec<Value> = inds.into_iter().filter(|i| seen.insert((i["type"].to_string(), i["value"].as_str().unwrap().to_ascii_lowercase(), i["role"].to_string()))).collect();
            let n = inds.len();
            r["indicators"] = Value::Array(inds);
            r["assets"] = assets.into_iter().enumerate().map(|(i, (name, addr))| {
                let mut a = json!({"name": format!("{name}{i}"), "type": "server"});
                if let Some(d) = addr { a["address"] = d.into(); }
                a
            }).collect();
            if kind == "vulnerability" {
                r["vulnerability"] = json!({"cve": ["CVE-2026-0001"], "products": [{"vendor": "V", "product": "P"}]});
                r.as_object_mut().unwrap().remove("occurred_at");
            }
            let mut ft = serde_json::Map::new();
            for (i, t) in marks {
                let p = match i {
                    0 => "/title".to_string(),
                    1 => "/reporter".to_string(),
                    2 => "/environment".to_string(),
                    _ if n > 0 => format!("/indicators/{}", i % n),
                    _ => continue,
                };
                ft.insert(p, t.into());
            }
            if !ft.is_empty() {
                r["field_tlp"] = Value::Object(ft);
            }
            r
        })
}

/// One way to break a report, and the pointer the error must name.
fn mutation() -> impl Strategy<Value = usize> {
    0usize..9
}

fn break_report(r: &mut Value, m: usize) -> &'static str {
    match m {
        0 => {
            r.as_object_mut().unwrap().remove("title");
            "/title"
        }
        1 => {
            r["tlp"] = "TLP:PURPLE".into();
            "/tlp"
        }
        2 => {
            r["category"] = "intrusions".into();
            "/category"
        }
        3 => {
            r["detected_at"] = "2999-01-01T00:00:00Z".into();
            "/reported_at"
        }
        4 => {
            r["indicators"] = json!([{"type": "ipv4", "value": "999.1.1.1", "role": "source"}]);
            "/indicators/0/value"
        }
        5 => {
            r["unexpected"] = true.into();
            "/unexpected"
        }
        6 => {
            r["field_tlp"] = json!({"/nothing/here": "RED"});
            "/field_tlp/~1nothing~1here"
        }
        7 => {
            r["reporter"] = json!({"email": "x@y.example"});
            "/reporter/name"
        }
        _ => {
            r["indicators"] = json!([{"type": "sha1", "value": "xyz", "role": "payload"}]);
            "/indicators/0/value"
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: crate::helpers::cases(96), ..ProptestConfig::default() })]

    #[test]
    fn generated_reports_convert_to_valid_documents(r in report()) {
        let bytes = serde_json::to_vec(&r).unwrap();
        let parsed = irtx::report::parse(&bytes);
        prop_assert!(parsed.is_ok(), "generator made an invalid report: {:?}\n{}", parsed.err(), r);
        let parsed = parsed.unwrap();
        for fmt in [Format::Stix, Format::Iodef] {
            let doc = convert(&parsed, &team(), fmt);
            let problems = check_output(&doc, fmt);
            prop_assert!(problems.is_empty(), "{fmt}: {problems:?}");
            if fmt == Format::Iodef {
                let rfc = irtx::schema::check(irtx::schema::iodef_rfc8727(), &doc);
                prop_assert!(rfc.is_empty(), "RFC 8727: {rfc:?}");
            }
            // Deterministic.
            prop_assert_eq!(&doc, &convert(&parsed, &team(), fmt));
        }
    }

    #[test]
    fn broken_reports_yield_pointed_errors_and_no_output(mut r in report(), m in mutation()) {
        let pointer = break_report(&mut r, m);
        let bytes = serde_json::to_vec(&r).unwrap();
        for fmt in [Format::Stix, Format::Iodef] {
            match convert_json(&bytes, &team(), fmt) {
                Err(ConvertError::Invalid(v)) => {
                    prop_assert!(!v.is_empty());
                    prop_assert!(v.iter().all(|x| x.pointer.starts_with('/')), "{v:?}");
                    prop_assert!(v.iter().any(|x| x.pointer == pointer), "wanted {pointer}, got {v:?}");
                }
                other => prop_assert!(false, "mutation {m} gave {other:?}"),
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = convert_json(&bytes, &team(), Format::Stix);
    }

    #[test]
    fn arbitrary_json_never_panics(v in arbitrary_json()) {
        let bytes = serde_json::to_vec(&v).unwrap();
        if let Err(ConvertError::BadOutput(p)) = convert_json(&bytes, &team(), Format::Iodef) {
            prop_assert!(false, "bad output: {p:?}");
        }
    }
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[\\PC]{0,20}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "kind",
                    "title",
                    "tlp",
                    "indicators",
                    "reporter",
                    "name",
                    "type",
                    "value",
                    "role",
                    "reported_at",
                    "field_tlp",
                    "x"
                ])
                .prop_map(String::from),
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
