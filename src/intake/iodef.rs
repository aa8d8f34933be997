//! An IODEF v2 document (RFC 8727 JSON), as a peer sends it, into the report form, for
//! onward sharing. The label is the highest `restriction` in it (every restriction must be
//! one irtx knows, else quarantine); the title is the first `Description`; the reporter is
//! the `reporter` contact; indicators come from each `Indicator`'s observable (addresses,
//! domains, files, bulk observables), with the role irtx writes as `AdditionalData`
//! (`meaning: role`), else from the system's category (`source`, `target`).

use serde_json::Value;

use super::{clip, ip_kind, Indicators, Intake, Lost, Read};
use crate::exchange::inbound::document::iodef_restrictions;
use crate::report::{IndicatorType, Kind, Report, Reporter, Role, Timestamp};
use crate::tlp::Tlp;

/// Reads an IODEF document.
pub fn read(doc: &Value, default_tlp: Tlp, now: Timestamp) -> Intake {
    let problems = crate::schema::check(crate::schema::iodef_rfc8727(), doc);
    if !problems.is_empty() {
        return Intake::Refuse(problems.iter().map(ToString::to_string).collect());
    }
    let (labels, unknown) = iodef_restrictions(doc);
    if !unknown.is_empty() {
        return Intake::Quarantine(unknown);
    }
    let (tlp, marking) = match labels.iter().max() {
        Some(t) => (*t, format!("IODEF restriction TLP:{t}")),
        None => (
            default_tlp,
            format!("no restriction in the document: the default, TLP:{default_tlp}"),
        ),
    };
    let inc = &doc["Incident"][0];
    let text = |v: &Value| {
        v.as_str()
            .map(str::to_string)
            .or_else(|| v["value"].as_str().map(str::to_string))
    };
    let descriptions: Vec<String> = inc["Description"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(text)
        .collect();
    let mut ind = Indicators::default();
    let mut lost = Lost::default();
    for i in inc["Indicator"].as_array().into_iter().flatten() {
        indicator(i, &mut ind, &mut lost);
    }
    let reporter = inc["Contact"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["role"] == "reporter")
        .or_else(|| inc["Contact"][0].as_object().map(|_| &inc["Contact"][0]));
    let time = |k: &str| inc[k].as_str().and_then(|s| Timestamp::parse(s).ok());
    let mut lines = lost.into_lines();
    lines.extend(ind.lost.into_lines());
    let report = Report {
        id: None,
        version: None,
        kind: Kind::Incident,
        title: clip(
            descriptions
                .first()
                .map_or("(IODEF document without a description)", String::as_str),
            500,
        ),
        description: (descriptions.len() > 1)
            .then(|| clip(&descriptions[1..].join("\n\n"), 100_000)),
        tlp,
        field_tlp: Default::default(),
        category: None,
        severity: None,
        status: None,
        occurred_at: time("StartTime"),
        detected_at: time("DetectTime"),
        reported_at: time("ReportTime").unwrap_or(now),
        ended_at: time("EndTime"),
        disclosed_at: None,
        updated_at: None,
        reporter: Reporter {
            name: clip(
                reporter
                    .and_then(|c| text(&c["ContactName"][0]))
                    .as_deref()
                    .unwrap_or("(IODEF document without a reporter)"),
                200,
            ),
            organization: None,
            email: None,
            phone: None,
            role: None,
            identity_class: None,
        },
        what_occurred: None,
        how_occurred: None,
        why_occurred: None,
        environment: None,
        assets: Vec::new(),
        impact: None,
        actions_taken: Vec::new(),
        related_reports: Vec::new(),
        vulnerability: None,
        indicators: ind.list,
    };
    Intake::Ready(Box::new(Read {
        tlp,
        marking,
        tool: "iodef".into(),
        source: None,
        report,
        lost: lines,
    }))
}

fn indicator(i: &Value, ind: &mut Indicators, lost: &mut Lost) {
    let irtx_role = i["AdditionalData"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|d| d["meaning"] == "role")
        .and_then(|d| serde_json::from_value::<Role>(d["value"].clone()).ok());
    let o = &i["Observable"];
    let system = &o["System"];
    let role = irtx_role.unwrap_or(match system["category"].as_str() {
        Some("source") => Role::Source,
        Some("target") => Role::Target,
        Some("intermediate") => Role::C2,
        _ => Role::Unspecified,
    });
    let seen = (None, None);
    let mut any = false;
    for a in system["Node"]["Address"].as_array().into_iter().flatten() {
        let v = a["value"].as_str().unwrap_or_default();
        let kind = match a["category"].as_str() {
            Some("ipv4-addr" | "ipv6-addr" | "ipv4-net" | "ipv6-net") => ip_kind(v),
            Some("e-mail") => Some(IndicatorType::Email),
            Some("site-uri") => Some(IndicatorType::Url),
            Some("asn") => Some(IndicatorType::Asn),
            Some("mac") => Some(IndicatorType::Mac),
            _ => None,
        };
        match kind {
            Some(k) => ind.add(k, v, role, None, seen),
            None => lost.add("IODEF addresses of other categories"),
        }
        any = true;
    }
    for d in system["Node"]["DomainData"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if let Some(n) = d["Name"].as_str() {
            ind.add(IndicatorType::Domain, n, role, None, seen);
            any = true;
        }
    }
    for f in o["FileData"]["File"].as_array().into_iter().flatten() {
        if let Some(n) = f["FileName"].as_str() {
            ind.add(IndicatorType::Filename, n, role, None, seen);
            any = true;
        }
        for h in f["HashData"]["Hash"].as_array().into_iter().flatten() {
            let method = h["DigestMethod"].as_str().unwrap_or_default();
            let kind = if method.ends_with("#md5") {
                Some(IndicatorType::Md5)
            } else if method.ends_with("#sha1") {
                Some(IndicatorType::Sha1)
            } else if method.ends_with("#sha256") {
                Some(IndicatorType::Sha256)
            } else if method.ends_with("#sha512") {
                Some(IndicatorType::Sha512)
            } else {
                None
            };
            let value = h["DigestValue"].as_str().and_then(|b64| {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .ok()
                    .map(|b| b.iter().map(|x| format!("{x:02x}")).collect::<String>())
            });
            match (kind, value) {
                (Some(k), Some(v)) => ind.add(k, &v, role, None, seen),
                _ => lost.add("IODEF hashes of other methods"),
            }
            any = true;
        }
    }
    if let Some(b) = o["BulkObservable"].as_object() {
        let v = b
            .get("BulkObservableList")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let kind = match b.get("type").and_then(Value::as_str) {
            Some("http-user-agent") => Some(IndicatorType::UserAgent),
            Some("user-name") => Some(IndicatorType::Username),
            _ => None,
        };
        match kind {
            Some(k) => ind.add(k, v, role, None, seen),
            None => lost.add("IODEF bulk observables of other types"),
        }
        any = true;
    }
    if !any {
        lost.add("IODEF indicators irtx does not read");
    }
}
