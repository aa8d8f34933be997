//! Report -> IODEF v2 (RFC 7970) in its JSON binding (RFC 8727).
//!
//! The document is the IODEF-Document's contents (`version` "2.0", `lang`, `Incident`), as
//! in the RFC 8727 examples. Where each report field goes:
//!
//! | report | IODEF |
//! |---|---|
//! | id, version | `IncidentID` (`id`, `instance`; `name` is the team's DNS name) |
//! | title, description | `Incident/Description` |
//! | tlp, field_tlp | `restriction` of each class, from the TLP of the fields it carries |
//! | status | `Incident@status` (`false-positive` as `ext-value`) |
//! | occurred, detected, reported, ended, updated | `StartTime`, `DetectTime`, `ReportTime`, `EndTime`, `GenerationTime` |
//! | kind, disclosed_at | `Incident/AdditionalData` |
//! | category, severity, impact, why_occurred | `Assessment` (`IncidentCategory`, `Impact`, `Cause`) |
//! | how_occurred, vulnerability (CVE, CWE, products, CVSS) | `Method` (`Description`, `Vulnerability`, `Weakness`) |
//! | team, reporter | `Contact` (creator; reporter with its organization nested) |
//! | what_occurred, environment, assets, remediation | one `EventData` each (`Description`, `AdditionalData`, `System`, `Expectation`) |
//! | indicators | `Indicator` (`Observable`, side as `System@category`, role as `AdditionalData`) |
//! | related_reports | `RelatedActivity/IncidentID` |
//! | actions_taken | `History/HistoryItem` |
//!
//! Pure.

use base64::Engine as _;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::report::{AssetType, Indicator, IndicatorType, Kind, Report, Role};
use crate::team::Team;
use crate::tlp::Tlp;

/// Converts a validated report to an IODEF v2 JSON document written by `team`.
pub fn to_iodef(r: &Report, team: &Team) -> Value {
    let rid = r.effective_id().to_string();
    let version = r.effective_version().to_string();
    let tlp_of = |ptrs: &[&str]| {
        ptrs.iter()
            .map(|p| r.tlp_covering(p))
            .fold(Tlp::Clear, Tlp::max)
    };
    let restriction = |ptrs: &[&str]| tlp_of(ptrs).iodef_restriction();

    let mut inc = Map::new();
    inc.insert("purpose".into(), "reporting".into());
    if let Some(s) = r.status {
        let (status, ext) = s.iodef_status();
        inc.insert("status".into(), status.into());
        if let Some(e) = ext {
            inc.insert("ext-status".into(), e.into());
        }
    }
    inc.insert(
        "restriction".into(),
        restriction(&[
            "/title",
            "/description",
            "/status",
            "/occurred_at",
            "/detected_at",
            "/ended_at",
        ])
        .into(),
    );
    inc.insert(
        "IncidentID".into(),
        json!({"id": rid, "name": team.incident_id_name(), "instance": version}),
    );
    if !r.related_reports.is_empty() {
        let ids: Vec<Value> = r
            .related_reports
            .iter()
            .map(|id| json!({"id": id, "name": team.incident_id_name()}))
            .collect();
        inc.insert(
            "RelatedActivity".into(),
            json!([{"restriction": restriction(&["/related_reports"]), "IncidentID": ids}]),
        );
    }
    let times = [
        ("DetectTime", r.detected_at),
        ("StartTime", r.occurred_at),
        ("EndTime", r.ended_at),
        ("ReportTime", Some(r.reported_at)),
        ("GenerationTime", Some(r.modified())),
    ];
    for (name, t) in times {
        if let Some(t) = t {
            inc.insert(name.into(), t.to_rfc3339_utc().into());
        }
    }
    let mut description = vec![Value::from(r.title.clone())];
    if let Some(d) = &r.description {
        description.push(d.clone().into());
    }
    inc.insert("Description".into(), Value::Array(description));
    inc.insert("Assessment".into(), json!([assessment(r, restriction)]));
    if let Some(m) = method(r, restriction) {
        inc.insert("Method".into(), json!([m]));
    }
    inc.insert(
        "Contact".into(),
        Value::Array(contacts(r, team, restriction)),
    );
    let events = event_data(r, restriction);
    if !events.is_empty() {
        inc.insert("EventData".into(), Value::Array(events));
    }
    if !r.indicators.is_empty() {
        let list: Vec<Value> = r
            .indicators
            .iter()
            .enumerate()
            .map(|(i, ind)| {
                indicator(
                    ind,
                    &rid,
                    &version,
                    team,
                    restriction(&[&format!("/indicators/{i}")]),
                )
            })
            .collect();
        inc.insert("Indicator".into(), Value::Array(list));
    }
    if !r.actions_taken.is_empty() {
        let items: Vec<Value> = r
            .actions_taken
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let mut item = json!({
                    "action": "other",
                    "restriction": restriction(&[&format!("/actions_taken/{i}")]),
                    "DateTime": a.at.to_rfc3339_utc(),
                    "Description": [a.description],
                });
                if let Some(by) = &a.by {
                    item["Contact"] = json!({"role": "irt", "type": "person", "ContactName": [by]});
                }
                item
            })
            .collect();
        inc.insert(
            "History".into(),
            json!({"restriction": restriction(&["/actions_taken"]), "HistoryItem": items}),
        );
    }
    let mut extra = vec![json!({
        "dtype": "string",
        "meaning": "iso27035-report-kind",
        "value": r.kind.as_str(),
    })];
    if let Some(t) = r.disclosed_at {
        extra.push(json!({
            "dtype": "date-time",
            "meaning": "vulnerability-disclosed-at",
            "restriction": restriction(&["/disclosed_at"]),
            "value": t.to_rfc3339_utc(),
        }));
    }
    inc.insert("AdditionalData".into(), Value::Array(extra));

    // The top-level restriction is the highest in the document, so no reader that honours
    // only the top one takes a child for more open than it is.
    let mut highest = Tlp::Clear;
    highest_restriction(&Value::Object(inc.clone()), &mut highest);
    inc.insert("restriction".into(), highest.iodef_restriction().into());
    json!({"version": "2.0", "lang": "en", "Incident": [Value::Object(inc)]})
}

/// Raises `highest` to every `restriction` in `v`.
fn highest_restriction(v: &Value, highest: &mut Tlp) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "restriction" {
                    if let Some(t) = x.as_str().and_then(Tlp::from_iodef_restriction) {
                        *highest = (*highest).max(t);
                    }
                } else {
                    highest_restriction(x, highest);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| highest_restriction(x, highest)),
        _ => {}
    }
}

fn assessment(r: &Report, restriction: impl Fn(&[&str]) -> &'static str) -> Value {
    let mut a = Map::new();
    // A vulnerability, or an exercise (RSIT `test/test`), did not actually happen.
    let exercise = r.category.is_some_and(|c| c.rsit_class() == "test");
    let occurrence = if r.kind == Kind::Vulnerability || exercise {
        "potential"
    } else {
        "actual"
    };
    a.insert("occurrence".into(), occurrence.into());
    a.insert(
        "restriction".into(),
        restriction(&["/category", "/severity", "/impact", "/why_occurred"]).into(),
    );
    if let Some(c) = r.category {
        a.insert(
            "IncidentCategory".into(),
            json!([c.machine_tag(), c.iso_machine_tag()]),
        );
    }
    let severity = r.severity.map(|s| s.iodef_severity());
    let business = |ty: &str| {
        let mut b = Map::new();
        if let Some((s, ext)) = severity {
            b.insert("severity".into(), s.into());
            if let Some(e) = ext {
                b.insert("ext-severity".into(), e.into());
            }
        }
        b.insert("type".into(), ty.into());
        b
    };
    let mut impacts = Vec::new();
    let impact = r.impact.as_ref();
    let types: Vec<&str> = impact
        .map(|i| i.types.iter().map(String::as_str).collect())
        .unwrap_or_default();
    let types = if types.is_empty() {
        vec!["unknown"]
    } else {
        types
    };
    for (i, ty) in types.iter().enumerate() {
        let mut b = business(ty);
        if i == 0 {
            if let Some(d) = impact.and_then(|i| i.description.as_ref()) {
                b.insert("Description".into(), json!([d]));
            }
        }
        impacts.push(json!({ "BusinessImpact": b }));
    }
    if let Some(h) = impact.and_then(|i| i.downtime_hours) {
        impacts.push(json!({"TimeImpact": {"value": h, "metric": "downtime", "duration": "hour"}}));
    }
    if let Some(c) = impact.and_then(|i| i.estimated_cost.as_ref()) {
        impacts.push(json!({"MonetaryImpact": {"value": c.amount, "currency": c.currency}}));
    }
    a.insert("Impact".into(), Value::Array(impacts));
    if let Some(why) = &r.why_occurred {
        a.insert("Cause".into(), json!([why]));
    }
    Value::Object(a)
}

fn method(r: &Report, restriction: impl Fn(&[&str]) -> &'static str) -> Option<Value> {
    if r.how_occurred.is_none() && r.vulnerability.is_none() {
        return None;
    }
    let mut m = Map::new();
    m.insert(
        "restriction".into(),
        restriction(&["/how_occurred", "/vulnerability"]).into(),
    );
    if let Some(how) = &r.how_occurred {
        m.insert("Description".into(), json!([how]));
    }
    if let Some(v) = &r.vulnerability {
        let platforms: Vec<Value> = v
            .products
            .iter()
            .map(|p| {
                let content = match &p.versions {
                    Some(ver) => format!("{} {} {}", p.vendor, p.product, ver),
                    None => format!("{} {}", p.vendor, p.product),
                };
                json!({"SpecID": "private", "ContentID": content})
            })
            .collect();
        let scoring: Option<Value> = v.cvss.as_ref().map(|c| {
            // A CVSS vector names its version (`CVSS:3.1/AV:N/...`); only a bare one gets it.
            let vector = if c.vector.starts_with("CVSS:") {
                c.vector.clone()
            } else {
                format!("CVSS:{}/{}", c.version, c.vector)
            };
            json!([{"SpecID": "private", "ContentID": format!("{vector} (base score {})", c.score)}])
        });
        let mut entries: Vec<Map<String, Value>> = if v.cve.is_empty() {
            vec![Map::new()]
        } else {
            v.cve
                .iter()
                .map(|c| {
                    let mut e = Map::new();
                    e.insert("ContentID".into(), c.clone().into());
                    e
                })
                .collect()
        };
        for e in &mut entries {
            e.insert("SpecID".into(), "private".into());
            e.insert("Platform".into(), Value::Array(platforms.clone()));
            if let Some(s) = &scoring {
                e.insert("Scoring".into(), s.clone());
            }
        }
        m.insert(
            "Vulnerability".into(),
            Value::Array(entries.into_iter().map(Value::Object).collect()),
        );
        if !v.cwe.is_empty() {
            let w: Vec<Value> = v
                .cwe
                .iter()
                .map(|c| json!({"SpecID": "private", "ContentID": c}))
                .collect();
            m.insert("Weakness".into(), Value::Array(w));
        }
    }
    Some(Value::Object(m))
}

fn contacts(r: &Report, team: &Team, restriction: impl Fn(&[&str]) -> &'static str) -> Vec<Value> {
    let creator = json!({
        "role": "creator",
        "type": "organization",
        "restriction": Tlp::Clear.iodef_restriction(),
        "ContactName": [team.name],
        "Description": [format!("irtx gateway of team `{}`", team.id)],
    });
    let rep = &r.reporter;
    let mut c = Map::new();
    c.insert("role".into(), "reporter".into());
    // Contact@type has person and organization; any other kind (a group, a system, an
    // unknown reporter) is an ext-value naming it.
    match rep.identity_class.as_deref() {
        Some("individual") => {
            c.insert("type".into(), "person".into());
        }
        Some("organization") => {
            c.insert("type".into(), "organization".into());
        }
        other => {
            c.insert("type".into(), "ext-value".into());
            c.insert("ext-type".into(), other.unwrap_or("unknown").into());
        }
    }
    c.insert("restriction".into(), restriction(&["/reporter"]).into());
    c.insert("ContactName".into(), json!([rep.name]));
    if let Some(role) = &rep.role {
        c.insert("ContactTitle".into(), json!([role]));
    }
    if let Some(e) = &rep.email {
        c.insert("Email".into(), json!([{"EmailTo": e}]));
    }
    if let Some(p) = &rep.phone {
        c.insert("Telephone".into(), json!([{"TelephoneNumber": p}]));
    }
    if let Some(o) = &rep.organization {
        c.insert(
            "Contact".into(),
            json!([{"role": "reporter", "type": "organization", "ContactName": [o]}]),
        );
    }
    vec![creator, Value::Object(c)]
}

/// `EventData`: one element per narrative field and one for the assets, so each carries the
/// restriction of its own field (an `EventData` restricts all it holds).
fn event_data(r: &Report, restriction: impl Fn(&[&str]) -> &'static str) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(w) = &r.what_occurred {
        out.push(json!({"restriction": restriction(&["/what_occurred"]), "Description": [w]}));
    }
    if let Some(env) = &r.environment {
        out.push(json!({
            "restriction": restriction(&["/environment"]),
            "AdditionalData": [{"dtype": "string", "meaning": "affected-environment", "value": env}],
        }));
    }
    if !r.assets.is_empty() {
        let systems: Vec<Value> = r
            .assets
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let node = match &a.address {
                    Some(addr) => address_node(addr),
                    None => json!({"Address": [{"category": "ext-value", "ext-category": "asset-name", "value": a.name}]}),
                };
                let mut s = json!({
                    "category": "target",
                    "ownership": "organization",
                    "restriction": restriction(&[&format!("/assets/{i}")]),
                    "Node": node,
                    "NodeRole": [node_role(a.asset_type)],
                    "AssetID": [a.name],
                });
                let mut desc = Vec::new();
                if let Some(o) = &a.owner {
                    desc.push(format!("Owner: {o}"));
                }
                if let Some(d) = &a.description {
                    desc.push(d.clone());
                }
                if !desc.is_empty() {
                    s["Description"] = json!(desc);
                }
                s
            })
            .collect();
        out.push(json!({"restriction": restriction(&["/assets"]), "System": systems}));
    }
    if let Some(rem) = r
        .vulnerability
        .as_ref()
        .and_then(|v| v.remediation.as_ref())
    {
        out.push(json!({
            "restriction": restriction(&["/vulnerability/remediation"]),
            "Expectation": [{"action": "remediate-other", "Description": [rem]}],
        }));
    }
    out
}

/// A `Node` for an asset address.
fn address_node(addr: &str) -> Value {
    use crate::report::validate::{classify_address, AddressKind};
    let (category, value) = match classify_address(addr) {
        Some(AddressKind::Ipv4) => ("ipv4-addr", addr),
        Some(AddressKind::Ipv6) => ("ipv6-addr", addr),
        Some(AddressKind::Cidr) if addr.contains(':') => ("ipv6-net", addr),
        Some(AddressKind::Cidr) => ("ipv4-net", addr),
        Some(AddressKind::Url) => ("site-uri", addr),
        Some(AddressKind::Hostname) | None => {
            return json!({"DomainData": [domain_data(addr)]});
        }
    };
    json!({"Address": [{"category": category, "value": value}]})
}

fn domain_data(name: &str) -> Value {
    json!({"system-status": "unknown", "domain-status": "unknown", "Name": name})
}

fn node_role(t: AssetType) -> Value {
    let category = match t {
        AssetType::Server => "server-internal",
        AssetType::Workstation => "client",
        AssetType::Mobile => "client-mobile",
        AssetType::NetworkDevice => "infra",
        AssetType::Firewall => "infra-firewall",
        AssetType::Web => "www",
        AssetType::Mail => "mail",
        AssetType::Dns => "name",
        AssetType::Database => "database",
        AssetType::Application => "application",
        AssetType::Directory => "directory",
        AssetType::Ot => "scada",
        AssetType::Cloud => "virtualization",
        AssetType::Other => {
            return json!({"category": "ext-value", "ext-category": "other"});
        }
    };
    json!({ "category": category })
}

/// XML Signature / XML Encryption digest method URIs (RFC 6931) for IODEF `Hash`.
fn digest_method(kind: IndicatorType) -> &'static str {
    match kind {
        IndicatorType::Md5 => "http://www.w3.org/2001/04/xmldsig-more#md5",
        IndicatorType::Sha1 => "http://www.w3.org/2000/09/xmldsig#sha1",
        IndicatorType::Sha256 => "http://www.w3.org/2001/04/xmlenc#sha256",
        _ => "http://www.w3.org/2001/04/xmlenc#sha512",
    }
}

/// Decodes hex digits (validated before conversion) to bytes.
fn hex_bytes(hex: &str) -> Vec<u8> {
    hex.as_bytes()
        .chunks(2)
        .filter_map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok())
        .collect()
}

fn indicator(
    ind: &Indicator,
    rid: &str,
    version: &str,
    team: &Team,
    restriction: &'static str,
) -> Value {
    let name = format!(
        "{}/{}/indicator/{}/{}/{}",
        team.id,
        rid,
        ind.kind.as_str(),
        ind.role.as_str(),
        ind.value
    );
    let id = Uuid::new_v5(&crate::IRTX_NAMESPACE, name.as_bytes());
    let mut m = Map::new();
    m.insert("restriction".into(), restriction.into());
    m.insert(
        "IndicatorID".into(),
        json!({"id": id.to_string(), "name": team.incident_id_name(), "version": version}),
    );
    if let Some(d) = &ind.description {
        m.insert("Description".into(), json!([d]));
    }
    if let Some(t) = ind.first_seen {
        m.insert("StartTime".into(), t.to_rfc3339_utc().into());
    }
    if let Some(t) = ind.last_seen {
        m.insert("EndTime".into(), t.to_rfc3339_utc().into());
    }
    m.insert("Observable".into(), observable(ind));
    m.insert(
        "AdditionalData".into(),
        json!([{"dtype": "string", "meaning": "role", "value": ind.role.as_str()}]),
    );
    Value::Object(m)
}

fn observable(ind: &Indicator) -> Value {
    let v = ind.value.as_str();
    let address =
        |category: &str, value: &str| json!({"Address": [{"category": category, "value": value}]});
    let node = match ind.kind {
        IndicatorType::Ipv4 => address("ipv4-addr", v),
        IndicatorType::Ipv6 => address("ipv6-addr", v),
        IndicatorType::Cidr if v.contains(':') => address("ipv6-net", v),
        IndicatorType::Cidr => address("ipv4-net", v),
        IndicatorType::Url => address("site-uri", v),
        IndicatorType::Email => address("e-mail", v),
        IndicatorType::Mac => address("mac", v),
        IndicatorType::Asn => address("asn", v.trim_start_matches(['A', 'S', 'a', 's'])),
        IndicatorType::Domain => json!({"DomainData": [domain_data(v)]}),
        IndicatorType::Md5
        | IndicatorType::Sha1
        | IndicatorType::Sha256
        | IndicatorType::Sha512 => {
            let digest = base64::engine::general_purpose::STANDARD.encode(hex_bytes(v));
            return json!({"FileData": {"File": [{"HashData": {
                "scope": "file-contents",
                "Hash": [{"DigestMethod": digest_method(ind.kind), "DigestValue": digest}],
            }}]}});
        }
        IndicatorType::Filename => return json!({"FileData": {"File": [{"FileName": v}]}}),
        IndicatorType::UserAgent => {
            return json!({"BulkObservable": {"type": "http-user-agent", "BulkObservableList": v}});
        }
        IndicatorType::Username => {
            return json!({"BulkObservable": {"type": "user-name", "BulkObservableList": v}});
        }
    };
    let category = match ind.role {
        Role::Target | Role::Victim => "target",
        Role::C2 | Role::PayloadDelivery | Role::Exfiltration => "intermediate",
        Role::Source | Role::Phishing | Role::Payload => "source",
        Role::Unspecified | Role::Observed => "ext-value",
    };
    let mut system = json!({"category": category, "Node": node});
    if category == "ext-value" {
        system["ext-category"] = ind.role.as_str().into();
    }
    let role = match ind.role {
        Role::C2 => Some("c2-server"),
        Role::PayloadDelivery => Some("malware-distribution"),
        Role::Exfiltration => Some("drop-server"),
        Role::Phishing => Some("phishing-site"),
        _ => None,
    };
    if let Some(r) = role {
        system["NodeRole"] = json!([{ "category": r }]);
    }
    json!({ "System": system })
}
