//! Report validation: the schema first, then what a schema cannot say (times in order,
//! values that parse as their type, field markings that point at something). Every problem
//! is returned, each with a JSON pointer. Pure.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde_json::Value;

use super::{IndicatorType, Kind, Report, Timestamp};
pub use crate::schema::Violation;
use crate::schema::{self, escape_token};

/// Top-level fields that `field_tlp` may not mark: they identify and date the report, and
/// every exchange document needs them.
const UNMARKABLE: &[&str] = &[
    "id",
    "version",
    "kind",
    "tlp",
    "field_tlp",
    "reported_at",
    "updated_at",
];

/// Parses and validates a report from JSON bytes. On failure, every problem found, each with
/// a pointer (a JSON syntax error has the empty pointer and says line and column).
pub fn parse(bytes: &[u8]) -> Result<Report, Vec<Violation>> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| vec![Violation::new("", format!("not valid JSON: {e}"))])?;
    parse_value(&value)
}

/// Validates a report that is already a JSON value.
pub fn parse_value(value: &Value) -> Result<Report, Vec<Violation>> {
    let problems = schema::check(schema::report(), value);
    if !problems.is_empty() {
        return Err(problems.into_iter().map(|v| explain(v, value)).collect());
    }
    let report: Report = serde_json::from_value(value.clone()).map_err(|e| {
        vec![Violation::new(
            "",
            format!("does not fit the report model: {e}"),
        )]
    })?;
    let problems = check_semantics(&report, value);
    if problems.is_empty() {
        Ok(report)
    } else {
        Err(problems)
    }
}

/// Validates `value`, a report derived from `before` (redacted, anonymized), holding it to
/// what `before` already met: only problems that `before` did not have count. A report made
/// from a received alert carries what its source gave, which need not meet every rule a
/// team's own report meets (a MISP event has no ISO/IEC 27035 category); deriving from it
/// must not break anything more.
pub fn parse_derived(value: &Value, before: &Report) -> Result<Report, Vec<Violation>> {
    let problems = match parse_value(value) {
        Ok(r) => return Ok(r),
        Err(p) => p,
    };
    let known = match parse_value(&serde_json::to_value(before).expect("a report serializes")) {
        Ok(_) => return Err(problems),
        Err(k) => k,
    };
    let new: Vec<Violation> = problems
        .into_iter()
        .filter(|p| !known.contains(p))
        .collect();
    if !new.is_empty() {
        return Err(new);
    }
    serde_json::from_value(value.clone()).map_err(|e| {
        vec![Violation::new(
            "",
            format!("does not fit the report model: {e}"),
        )]
    })
}

/// Replaces a generic schema message with the domain's own where it says more: TLP labels
/// and categories have parsers whose errors list what is valid.
fn explain(v: Violation, doc: &Value) -> Violation {
    if v.pointer.is_empty() && v.reason == "matches none of the allowed forms" {
        return Violation::new(
            "/assets",
            "an event or incident report needs at least one affected asset, or `environment` (ISO/IEC 27035-2 6.4 b 2)",
        );
    }
    let Some(given) = doc.pointer(&v.pointer).and_then(Value::as_str) else {
        return v;
    };
    if v.pointer == "/tlp" || v.pointer.starts_with("/field_tlp/") {
        if let Err(e) = given.parse::<crate::tlp::Tlp>() {
            return Violation::new(v.pointer, e.to_string());
        }
    }
    let last = v.pointer.rsplit('/').next().unwrap_or("");
    if last.ends_with("_at") || last == "first_seen" || last == "last_seen" || last == "at" {
        return Violation::new(
            v.pointer,
            format!(
                "`{given}` is not an RFC 3339 date-time with offset, e.g. 2026-11-02T08:15:00Z"
            ),
        );
    }
    if last == "value" && v.pointer.starts_with("/indicators/") {
        let parent = &v.pointer[..v.pointer.len() - "/value".len()];
        let kind = doc
            .pointer(&format!("{parent}/type"))
            .and_then(|t| serde_json::from_value::<IndicatorType>(t.clone()).ok());
        if let Some(Err(why)) = kind.map(|k| check_indicator_value(k, given)) {
            return Violation::new(v.pointer, why);
        }
    }
    if v.pointer.starts_with("/vulnerability/cve/") {
        return Violation::new(
            v.pointer,
            format!("`{given}` is not a CVE id: CVE-YYYY-NNNN, the number 4 digits or more, with no leading zero past 4 digits"),
        );
    }
    if v.pointer == "/category" {
        if let Err(e) = given.parse::<super::Category>() {
            return Violation::new(v.pointer, e.to_string());
        }
    }
    v
}

fn check_semantics(r: &Report, raw: &Value) -> Vec<Violation> {
    let mut out = Vec::new();
    check_times(r, &mut out);
    if r.disclosed_at.is_some() && r.kind != Kind::Vulnerability {
        out.push(Violation::new(
            "/disclosed_at",
            "only vulnerability reports carry a disclosure time",
        ));
    }
    if let Some(email) = &r.reporter.email {
        if let Err(why) = check_email(email) {
            out.push(Violation::new("/reporter/email", why));
        }
    }
    for (i, a) in r.assets.iter().enumerate() {
        if let Some(addr) = &a.address {
            if classify_address(addr).is_none() {
                out.push(Violation::new(
                    format!("/assets/{i}/address"),
                    format!("`{addr}` is not an IP address, CIDR network, host name or URL"),
                ));
            }
        }
    }
    let mut seen: HashMap<(IndicatorType, String, super::Role), usize> = HashMap::new();
    for (i, ind) in r.indicators.iter().enumerate() {
        if let Err(why) = check_indicator_value(ind.kind, &ind.value) {
            out.push(Violation::new(format!("/indicators/{i}/value"), why));
        }
        let key = (ind.kind, normalize(ind.kind, &ind.value), ind.role);
        if let Some(first) = seen.insert(key, i) {
            out.push(Violation::new(
                format!("/indicators/{i}"),
                format!("duplicate of /indicators/{first} (same type, value and role)"),
            ));
        }
    }
    for pointer in r.field_tlp.keys() {
        let at = format!("/field_tlp/{}", escape_token(pointer));
        let first = pointer.split('/').nth(1).unwrap_or("");
        if UNMARKABLE.contains(&first) {
            out.push(Violation::new(
                at,
                format!("`/{first}` cannot carry its own marking; mark the report with `tlp`"),
            ));
        } else if raw.pointer(pointer).is_none() {
            out.push(Violation::new(
                at,
                format!("`{pointer}` points at nothing in this report"),
            ));
        }
    }
    let own = r.id.as_deref();
    for (i, rel) in r.related_reports.iter().enumerate() {
        if Some(rel.as_str()) == own {
            out.push(Violation::new(
                format!("/related_reports/{i}"),
                "a report cannot be related to itself",
            ));
        }
    }
    out
}

fn check_times(r: &Report, out: &mut Vec<Violation>) {
    let mut before = |earlier: Option<Timestamp>, e: &str, later: Option<Timestamp>, l: &str| {
        if let (Some(a), Some(b)) = (earlier, later) {
            if b < a {
                out.push(Violation::new(
                    format!("/{l}"),
                    format!("{b} is before {e} ({a})"),
                ));
            }
        }
    };
    before(r.occurred_at, "occurred_at", r.detected_at, "detected_at");
    before(
        r.detected_at,
        "detected_at",
        Some(r.reported_at),
        "reported_at",
    );
    if r.detected_at.is_none() {
        before(
            r.occurred_at,
            "occurred_at",
            Some(r.reported_at),
            "reported_at",
        );
    }
    before(r.occurred_at, "occurred_at", r.ended_at, "ended_at");
    before(
        Some(r.reported_at),
        "reported_at",
        r.updated_at,
        "updated_at",
    );
    for (i, ind) in r.indicators.iter().enumerate() {
        before(
            ind.first_seen,
            &format!("indicators/{i}/first_seen"),
            ind.last_seen,
            &format!("indicators/{i}/last_seen"),
        );
    }
}

/// What an asset address or free-standing value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressKind {
    /// An IPv4 address.
    Ipv4,
    /// An IPv6 address.
    Ipv6,
    /// A CIDR network.
    Cidr,
    /// A host or domain name (one label is allowed: internal host names).
    Hostname,
    /// A URL with a host.
    Url,
}

/// Classifies an asset address; `None` when it is none of the accepted forms.
pub fn classify_address(s: &str) -> Option<AddressKind> {
    if s.parse::<Ipv4Addr>().is_ok() {
        Some(AddressKind::Ipv4)
    } else if s.parse::<Ipv6Addr>().is_ok() {
        Some(AddressKind::Ipv6)
    } else if check_cidr(s).is_ok() {
        Some(AddressKind::Cidr)
    } else if check_url(s).is_ok() {
        Some(AddressKind::Url)
    } else if check_hostname(s, false).is_ok() {
        Some(AddressKind::Hostname)
    } else {
        None
    }
}

/// The form two values of one type are compared in (case does not matter in names, hashes,
/// MAC addresses).
fn normalize(kind: IndicatorType, value: &str) -> String {
    match kind {
        IndicatorType::Domain
        | IndicatorType::Email
        | IndicatorType::Md5
        | IndicatorType::Sha1
        | IndicatorType::Sha256
        | IndicatorType::Sha512
        | IndicatorType::Mac
        | IndicatorType::Asn => value.to_ascii_lowercase(),
        _ => value.to_string(),
    }
}

/// Checks that `value` is a valid value of indicator type `kind`, saying why not.
pub fn check_indicator_value(kind: IndicatorType, value: &str) -> Result<(), String> {
    match kind {
        IndicatorType::Ipv4 => value
            .parse::<Ipv4Addr>()
            .map(|_| ())
            .map_err(|_| format!("`{value}` is not an IPv4 address")),
        IndicatorType::Ipv6 => value
            .parse::<Ipv6Addr>()
            .map(|_| ())
            .map_err(|_| format!("`{value}` is not an IPv6 address")),
        IndicatorType::Cidr => check_cidr(value),
        IndicatorType::Domain => check_hostname(value, true),
        IndicatorType::Url => check_url(value),
        IndicatorType::Email => check_email(value),
        IndicatorType::Asn => {
            let digits = value.trim_start_matches(['A', 'S', 'a', 's']);
            digits
                .parse::<u32>()
                .map(|_| ())
                .map_err(|_| format!("`{value}` is not an AS number (0 to 4294967295)"))
        }
        IndicatorType::Md5 => check_hex(value, 32, "MD5"),
        IndicatorType::Sha1 => check_hex(value, 40, "SHA-1"),
        IndicatorType::Sha256 => check_hex(value, 64, "SHA-256"),
        IndicatorType::Sha512 => check_hex(value, 128, "SHA-512"),
        IndicatorType::Mac => {
            let ok = value.len() == 17
                && value.split([':', '-']).count() == 6
                && value
                    .split([':', '-'])
                    .all(|o| o.len() == 2 && o.chars().all(|c| c.is_ascii_hexdigit()));
            if ok {
                Ok(())
            } else {
                Err(format!("`{value}` is not a MAC address"))
            }
        }
        IndicatorType::UserAgent => no_controls(value, "a user agent"),
        IndicatorType::Username => {
            no_controls(value, "a user name")?;
            if value.trim() != value || value.len() > 256 {
                Err(format!(
                    "`{value}` is not a user name (no surrounding blanks, at most 256 bytes)"
                ))
            } else {
                Ok(())
            }
        }
        IndicatorType::Filename => {
            no_controls(value, "a file name")?;
            if value.contains(['/', '\\']) {
                Err(format!("`{value}` is a path; give the file name only"))
            } else {
                Ok(())
            }
        }
    }
}

fn no_controls(value: &str, what: &str) -> Result<(), String> {
    if value.chars().any(char::is_control) {
        Err(format!("{what} must not contain control characters"))
    } else {
        Ok(())
    }
}

fn check_hex(value: &str, len: usize, what: &str) -> Result<(), String> {
    if value.len() == len && value.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(format!(
            "`{value}` is not a {what} digest ({len} hex digits)"
        ))
    }
}

fn check_cidr(value: &str) -> Result<(), String> {
    let bad = || format!("`{value}` is not a CIDR network such as 198.51.100.0/24");
    // The address as the standard library reads it (no leading zeros: `099.` could be
    // octal to some readers), the prefix as plain decimal.
    let (addr, prefix) = value.split_once('/').ok_or_else(bad)?;
    let plain = !prefix.is_empty()
        && prefix.bytes().all(|b| b.is_ascii_digit())
        && (prefix == "0" || !prefix.starts_with('0'));
    if addr.parse::<std::net::IpAddr>().is_err() || !plain {
        return Err(bad());
    }
    let net: ipnet::IpNet = value.parse().map_err(|_| bad())?;
    if net.trunc() != net {
        return Err(format!(
            "`{value}` has host bits set; the network is {}",
            net.trunc()
        ));
    }
    Ok(())
}

/// Checks a host or domain name (RFC 1123 labels, IDNs by their ASCII form). With
/// `need_dot`, a single label (an internal host name) is refused.
pub fn check_hostname(value: &str, need_dot: bool) -> Result<(), String> {
    let bad = || format!("`{value}` is not a host or domain name");
    if value.is_empty() || value.len() > 253 || value.ends_with('.') {
        return Err(bad());
    }
    let ascii = match url::Host::parse(value) {
        Ok(url::Host::Domain(d)) => d,
        _ => return Err(bad()),
    };
    let labels: Vec<&str> = ascii.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if !labels.iter().all(label_ok) {
        return Err(bad());
    }
    if need_dot && labels.len() < 2 {
        return Err(format!(
            "`{value}` is a single label; a domain indicator needs a registrable name"
        ));
    }
    if labels
        .last()
        .is_some_and(|l| l.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(bad());
    }
    Ok(())
}

fn check_url(value: &str) -> Result<(), String> {
    let u = url::Url::parse(value).map_err(|e| format!("`{value}` is not a URL: {e}"))?;
    if !matches!(
        u.scheme(),
        "http" | "https" | "ftp" | "ftps" | "ws" | "wss" | "smb"
    ) {
        return Err(format!(
            "`{value}`: URL scheme `{}` is not one of http, https, ftp, ftps, ws, wss, smb",
            u.scheme()
        ));
    }
    if u.host().is_none() {
        return Err(format!("`{value}` has no host"));
    }
    Ok(())
}

fn check_email(value: &str) -> Result<(), String> {
    let bad = || format!("`{value}` is not an e-mail address");
    let parsed: email_address::EmailAddress = value.parse().map_err(|_| bad())?;
    check_hostname(parsed.domain(), true).map_err(|_| bad())?;
    if parsed.as_str() != value {
        return Err(bad());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indicator_values() {
        use IndicatorType as T;
        for (t, v) in [
            (T::Ipv4, "203.0.113.7"),
            (T::Ipv6, "2001:db8::1"),
            (T::Cidr, "198.51.100.0/24"),
            (T::Cidr, "2001:db8::/32"),
            (T::Domain, "evil.example.com"),
            (T::Domain, "bücher.example"),
            (T::Url, "https://evil.example.com/x?y=1"),
            (T::Email, "attacker@evil.example.com"),
            (T::Asn, "AS64496"),
            (T::Asn, "64496"),
            (T::Mac, "00:1a:2b:3c:4d:5e"),
            (T::Filename, "invoice.pdf.exe"),
        ] {
            assert_eq!(check_indicator_value(t, v), Ok(()), "{t:?} {v}");
        }
        for (t, v) in [
            (T::Ipv4, "203.0.113.256"),
            (T::Ipv4, "2001:db8::1"),
            (T::Ipv6, "203.0.113.7"),
            (T::Cidr, "198.51.100.7/24"),
            (T::Cidr, "198.51.100.0/33"),
            (T::Cidr, "099.51.100.0/24"),
            (T::Cidr, "198.51.100.0/024"),
            (T::Domain, "localhost"),
            (T::Domain, "exa mple.com"),
            (T::Domain, "-bad.example.com"),
            (T::Domain, "203.0.113.7"),
            (T::Url, "not a url"),
            (T::Url, "javascript:alert(1)"),
            (T::Email, "no-at-sign.example.com"),
            (T::Email, "a@b"),
            (T::Asn, "AS99999999999"),
            (T::Filename, "C:\\x\\y.exe"),
            (T::UserAgent, "Mozilla\u{0}"),
        ] {
            assert!(check_indicator_value(t, v).is_err(), "{t:?} {v} accepted");
        }
    }

    #[test]
    fn host_bits_say_the_network() {
        let e = check_indicator_value(IndicatorType::Cidr, "198.51.100.7/24").unwrap_err();
        assert!(e.contains("198.51.100.0/24"), "{e}");
    }

    #[test]
    fn asset_addresses() {
        assert_eq!(classify_address("10.0.0.5"), Some(AddressKind::Ipv4));
        assert_eq!(
            classify_address("fileserver01"),
            Some(AddressKind::Hostname)
        );
        assert_eq!(
            classify_address("https://intranet.example.org/"),
            Some(AddressKind::Url)
        );
        assert_eq!(classify_address("10.0.0.0/8"), Some(AddressKind::Cidr));
        assert_eq!(classify_address("not an address!"), None);
    }
}

#[cfg(test)]
mod derived_tests {
    use super::*;

    fn valid() -> Value {
        serde_json::from_str(include_str!(
            "../../tests/data/valid/event-malware-mail.json"
        ))
        .unwrap()
    }

    #[test]
    fn cve_ids_follow_the_cve_numbering() {
        for (cve, ok) in [
            ("CVE-2026-0001", true),
            ("CVE-2026-12345", true),
            ("CVE-2026-02345", false),
            ("CVE-2026-123", false),
        ] {
            let mut r = valid();
            r["kind"] = "vulnerability".into();
            r["vulnerability"] = serde_json::json!({"cve": [cve]});
            let got = parse_value(&r);
            let cve_problem = got.as_ref().err().and_then(|v| {
                v.iter()
                    .find(|p| p.pointer == "/vulnerability/cve/0")
                    .cloned()
            });
            assert_eq!(cve_problem.is_none(), ok, "{cve}: {cve_problem:?}");
            if let Some(p) = cve_problem {
                assert!(p.reason.contains("not a CVE id"), "{p}");
            }
        }
    }

    #[test]
    fn a_derived_report_may_not_lose_what_its_source_had() {
        let before = parse_value(&valid()).unwrap();
        let mut after = valid();
        after.as_object_mut().unwrap().remove("detected_at");
        let problems = parse_derived(&after, &before).unwrap_err();
        assert_eq!(problems[0].pointer, "/detected_at", "{problems:?}");
    }

    #[test]
    fn a_derived_report_keeps_what_its_source_lacked_and_nothing_more() {
        let mut source = valid();
        source.as_object_mut().unwrap().remove("category");
        let before: Report = serde_json::from_value(source.clone()).unwrap();
        assert!(parse_value(&source).is_err());
        let mut after = source.clone();
        after["title"] = "[withheld]".into();
        assert_eq!(parse_derived(&after, &before).unwrap().title, "[withheld]");
        after.as_object_mut().unwrap().remove("detected_at");
        let problems = parse_derived(&after, &before).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].pointer, "/detected_at");
    }
}
