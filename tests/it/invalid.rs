//! Every invalid example fails with the error its name promises, through the library and
//! through `irtx validate`.

use crate::helpers::{data_files, irtx, root};

/// file name -> (pointer, words the reason must contain).
const EXPECTED: &[(&str, &str, &str)] = &[
    (
        "asset-address-invalid",
        "/assets/0/address",
        "is not an IP address, CIDR network, host name or URL",
    ),
    (
        "cidr-host-bits-set",
        "/indicators/0/value",
        "has host bits set; the network is 198.51.100.0/24",
    ),
    (
        "disclosed-at-on-incident",
        "/disclosed_at",
        "only vulnerability reports",
    ),
    ("domain-single-label", "/indicators/0/value", "single label"),
    (
        "duplicate-indicator",
        "/indicators/1",
        "duplicate of /indicators/0",
    ),
    (
        "email-without-at",
        "/indicators/0/value",
        "is not an e-mail address",
    ),
    (
        "field-tlp-marks-the-tlp",
        "/field_tlp/~1tlp",
        "cannot carry its own marking",
    ),
    (
        "field-tlp-points-at-nothing",
        "/field_tlp/~1indicators~14",
        "points at nothing",
    ),
    (
        "field-tlp-unknown-label",
        "/field_tlp/~1title",
        "`BLACK` is not a TLP label",
    ),
    (
        "incident-without-asset-or-environment",
        "/assets",
        "ISO/IEC 27035-2 6.4 b 2",
    ),
    (
        "incident-without-severity",
        "/severity",
        "required, but missing",
    ),
    (
        "indicator-unknown-role",
        "/indicators/0/role",
        "\"attacker\" is not one of",
    ),
    (
        "ipv4-not-an-address",
        "/indicators/0/value",
        "is not an IPv4 address",
    ),
    (
        "last-seen-before-first-seen",
        "/indicators/0/last_seen",
        "is before indicators/0/first_seen",
    ),
    ("missing-title", "/title", "required, but missing"),
    ("not-json-truncated", "", "not valid JSON"),
    (
        "occurred-after-detected",
        "/detected_at",
        "is before occurred_at",
    ),
    (
        "related-to-itself",
        "/related_reports/0",
        "related to itself",
    ),
    (
        "reported-before-detected",
        "/reported_at",
        "is before detected_at",
    ),
    (
        "reporter-email-invalid",
        "/reporter/email",
        "is not an e-mail address",
    ),
    (
        "sha256-wrong-length",
        "/indicators/0/value",
        "is not a SHA-256 digest",
    ),
    (
        "time-not-rfc3339",
        "/detected_at",
        "is not an RFC 3339 date-time",
    ),
    ("unknown-category", "/category", "is not a category"),
    ("unknown-field", "/priority", "unknown field"),
    ("unknown-tlp-label", "/tlp", "`PURPLE` is not a TLP label"),
    (
        "url-bad-scheme",
        "/indicators/0/value",
        "URL scheme `javascript`",
    ),
    (
        "vulnerability-without-vulnerability",
        "/vulnerability",
        "required, but missing",
    ),
];

#[test]
fn every_invalid_example_has_an_expectation() {
    for p in data_files("invalid") {
        let stem = p.file_stem().unwrap().to_str().unwrap();
        assert!(
            EXPECTED.iter().any(|(f, _, _)| *f == stem),
            "tests/data/invalid/{stem}.json has no row in EXPECTED"
        );
    }
}

#[test]
fn every_invalid_example_fails_as_its_name_says() {
    for (file, pointer, words) in EXPECTED {
        let p = root().join(format!("tests/data/invalid/{file}.json"));
        let problems = irtx::report::parse(&std::fs::read(&p).unwrap())
            .expect_err(&format!("{file} was accepted"));
        assert!(
            problems
                .iter()
                .any(|v| v.pointer == *pointer && v.reason.contains(words)),
            "{file}: expected `{pointer}: ...{words}...`, got {problems:#?}"
        );
    }
}

#[test]
fn irtx_validate_reports_file_pointer_reason_and_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    for (file, pointer, words) in EXPECTED {
        let path = root().join(format!("tests/data/invalid/{file}.json"));
        let out = irtx(dir.path(), &["validate", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(3), "{file}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let shown = if pointer.is_empty() {
            "(document)"
        } else {
            pointer
        };
        let expected = format!("{}: {shown}: ", path.display());
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with(&expected) && l.contains(words)),
            "{file}: no line `{expected}...{words}` in:\n{stderr}"
        );
        // Invalid input never yields a document.
        let conv = irtx(
            dir.path(),
            &["convert", "--to", "stix", path.to_str().unwrap()],
        );
        assert_eq!(conv.status.code(), Some(3), "{file}");
        assert!(conv.stdout.is_empty(), "{file}: convert printed output");
    }
}
