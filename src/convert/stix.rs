//! Report -> STIX 2.1 bundle.
//!
//! What a report becomes:
//! - the team's `identity` (the `created_by_ref` of everything else);
//! - the main object: an `incident` for event and incident reports, a `vulnerability` for a
//!   vulnerability report, labelled with the report's category, severity, status and kind
//!   (see `report::vocab`), with an external reference to the report id;
//! - per indicator: an `indicator` with a STIX pattern, the observable (SCO, with the
//!   deterministic id of STIX 2.1 section 2.9), an `observed-data` holding it, and the
//!   relationships `indicator based-on observed-data`, `indicator related-to <main>`;
//! - per asset: an `infrastructure` (STIX: "database servers targeted by an attack"), its
//!   address as SCO and `consists-of`; the reporter as an individual `identity`;
//! - the Annex B narrative (what, how, why occurred, environment, impact, timeline, actions
//!   taken, CVSS) as `note`s on the main object; a remediation as `course-of-action`
//!   `mitigates` the vulnerability; affected products as `software`;
//! - the TLP 2.0 marking-definition objects used, as published by OASIS.
//!
//! Each object is marked (`object_marking_refs`) with the most restrictive TLP of the report
//! fields it carries (`Report::tlp_covering`), so nothing is marked lower than its content.
//! The main object carries several fields: it is marked with the lowest of their labels, and
//! the properties above that get granular markings.
//! Ids are UUIDv5 of the team, the report id and the object's part, so the same report gives
//! the same ids, and a new version keeps them and advances `modified`. Pure.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::{Method, View};
use crate::report::redact::WITHHELD;
use crate::report::{AssetType, Indicator, IndicatorType, Kind, Report, Vulnerability};
use crate::team::Team;
use crate::tlp::Tlp;

/// STIX 2.1 section 2.9: the namespace of deterministic SCO ids.
const SCO_NAMESPACE: Uuid = uuid::uuid!("00abedb4-aa42-466c-9c01-fed23315a9b7");

/// The id of the `irtx-pseudonym` property extension's definition (fixed: every irtx
/// gateway writes the same object).
pub fn pseudonym_extension_id() -> String {
    format!(
        "extension-definition--{}",
        Uuid::new_v5(&crate::IRTX_NAMESPACE, b"extension/irtx-pseudonym")
    )
}

/// The identity that defines the `irtx-pseudonym` extension (the irtx project).
fn irtx_identity_id() -> String {
    format!(
        "identity--{}",
        Uuid::new_v5(&crate::IRTX_NAMESPACE, b"identity/irtx")
    )
}

/// When the extension was defined; fixed, so its objects never change.
const EXTENSION_CREATED: &str = "2026-12-01T00:00:00.000Z";

/// Converts a validated report, as rendered for `view`, to a STIX 2.1 bundle written by
/// `team`.
pub fn to_stix(r: &Report, team: &Team, view: &View) -> Value {
    let mut b = Builder::new(r, team, view);
    let main = b.build();
    b.finish(&main)
}

struct Builder<'a> {
    r: &'a Report,
    team: &'a Team,
    view: &'a View,
    /// Some object carries the pseudonym extension: the bundle needs its definition.
    extension_used: bool,
    rid: String,
    identity_id: String,
    created: String,
    modified: String,
    objects: Vec<Value>,
    /// Ids already in `objects` (SCOs are shared between indicators with one value).
    present: BTreeSet<String>,
    markings: BTreeSet<Tlp>,
}

impl<'a> Builder<'a> {
    fn new(r: &'a Report, team: &'a Team, view: &'a View) -> Self {
        let identity_id = format!(
            "identity--{}",
            Uuid::new_v5(
                &crate::IRTX_NAMESPACE,
                format!("team/{}", team.id).as_bytes()
            )
        );
        Builder {
            r,
            team,
            view,
            extension_used: false,
            rid: r.effective_id().to_string(),
            identity_id,
            created: r.reported_at.to_stix(),
            modified: r.modified().to_stix(),
            objects: Vec::new(),
            present: BTreeSet::new(),
            markings: BTreeSet::new(),
        }
    }

    /// A deterministic id for part `part` of this report in this view: the same report and
    /// view give the same ids in every version; another view gives other ids.
    fn id(&self, ty: &str, part: &str) -> String {
        let mut name = format!("{}/{}/{}/{}", self.team.id, self.rid, ty, part);
        if !self.view.key.is_empty() {
            name.push('#');
            name.push_str(&self.view.key);
        }
        format!(
            "{ty}--{}",
            Uuid::new_v5(&crate::IRTX_NAMESPACE, name.as_bytes())
        )
    }

    /// The most restrictive marking over the given report fields.
    fn tlp_of(&self, pointers: &[&str]) -> Tlp {
        pointers
            .iter()
            .map(|p| self.r.tlp_covering(p))
            .fold(Tlp::Clear, Tlp::max)
    }

    /// Common properties of an SDO or SRO written by the team in this report's version.
    fn sdo(&mut self, ty: &str, id: &str, tlp: Tlp) -> Map<String, Value> {
        self.markings.insert(tlp);
        let mut m = Map::new();
        m.insert("type".into(), ty.into());
        m.insert("spec_version".into(), "2.1".into());
        m.insert("id".into(), id.into());
        m.insert("created".into(), self.created.clone().into());
        m.insert("modified".into(), self.modified.clone().into());
        m.insert("created_by_ref".into(), self.identity_id.clone().into());
        m.insert("object_marking_refs".into(), json!([tlp.stix_marking_id()]));
        m
    }

    fn push(&mut self, obj: Map<String, Value>) {
        let id = obj["id"].as_str().unwrap_or_default().to_string();
        self.present.insert(id);
        self.objects.push(Value::Object(obj));
    }

    fn relate(&mut self, source: &str, rel: &str, target: &str, tlp: Tlp) {
        let id = self.id("relationship", &format!("{source}/{rel}/{target}"));
        if self.present.contains(&id) {
            return;
        }
        let mut m = self.sdo("relationship", &id, tlp);
        m.insert("relationship_type".into(), rel.into());
        m.insert("source_ref".into(), source.into());
        m.insert("target_ref".into(), target.into());
        self.push(m);
    }

    /// Adds an SCO unless one with its id is there; returns its id. A second use with a
    /// higher marking raises the marking of the one object.
    fn sco(&mut self, mut obj: Map<String, Value>, contributing: &[&str], tlp: Tlp) -> String {
        let ty = obj["type"].as_str().unwrap_or_default().to_string();
        let mut basis = Map::new();
        for k in contributing {
            if let Some(v) = obj.get(*k) {
                basis.insert((*k).to_string(), v.clone());
            }
        }
        let canonical = serde_json_canonicalizer::to_vec(&Value::Object(basis))
            .expect("SCO id basis canonicalizes");
        let id = format!("{ty}--{}", Uuid::new_v5(&SCO_NAMESPACE, &canonical));
        self.markings.insert(tlp);
        if self.present.contains(&id) {
            for o in &mut self.objects {
                if o["id"] == id.as_str() {
                    let old = o["object_marking_refs"][0]
                        .as_str()
                        .and_then(Tlp::from_stix_marking_id)
                        .unwrap_or(Tlp::Clear);
                    o["object_marking_refs"] = json!([old.max(tlp).stix_marking_id()]);
                }
            }
            return id;
        }
        obj.insert("spec_version".into(), "2.1".into());
        obj.insert("id".into(), id.clone().into());
        obj.insert("object_marking_refs".into(), json!([tlp.stix_marking_id()]));
        let made = contributing
            .iter()
            .filter_map(|k| obj.get(*k))
            .chain(obj.get("account_login"))
            .filter_map(Value::as_str)
            .find_map(|v| self.view.pseudonym(v));
        if let Some(method) = made {
            self.mark_pseudonym(&mut obj, method);
        }
        self.push(obj);
        id
    }

    /// Marks an object as carrying a pseudonym (the `irtx-pseudonym` property extension), so
    /// no reader takes it for a real value.
    fn mark_pseudonym(&mut self, obj: &mut Map<String, Value>, method: Method) {
        self.extension_used = true;
        obj.insert(
            "extensions".into(),
            json!({ pseudonym_extension_id(): {
                "extension_type": "property-extension",
                "pseudonymized": method != Method::Truncation,
                "method": method.as_str(),
            }}),
        );
    }

    /// Builds every object; returns the main object's id.
    fn build(&mut self) -> String {
        let r = self.r;
        self.team_identity();
        let main = self.main_object();
        if let Some(v) = &r.vulnerability {
            self.vulnerability_parts(v, &main);
        }
        self.narrative_notes(&main);
        self.reporter(&main);
        for i in 0..r.assets.len() {
            self.asset(i, &main);
        }
        for i in 0..r.indicators.len() {
            self.indicator(i, &main);
        }
        main
    }

    fn team_identity(&mut self) {
        self.markings.insert(Tlp::Clear);
        let created = self.team.created.to_stix();
        self.push(
            json!({
                "type": "identity",
                "spec_version": "2.1",
                "id": self.identity_id,
                "created": created,
                "modified": created,
                "name": self.team.name,
                "identity_class": "organization",
                "sectors": ["technology"],
                "contact_information": match &self.team.domain {
                    Some(d) => format!("irtx gateway of team `{}` ({d})", self.team.id),
                    None => format!("irtx gateway of team `{}`", self.team.id),
                },
                "object_marking_refs": [Tlp::Clear.stix_marking_id()],
            })
            .as_object()
            .cloned()
            .unwrap_or_default(),
        );
    }

    /// The incident (event, incident reports) or vulnerability (vulnerability reports).
    fn main_object(&mut self) -> String {
        let r = self.r;
        let ty = match r.kind {
            Kind::Vulnerability => "vulnerability",
            Kind::Event | Kind::Incident => "incident",
        };
        let id = self.id(ty, "main");
        // Each property's label, from the report fields it carries. The object is marked with
        // the lowest of them; properties above it get granular markings (STIX 2.1 section
        // 7.2.3), so a reader honours the most restrictive marking that covers each value.
        let mut refs_from = vec!["/related_reports"];
        if r.kind == Kind::Vulnerability {
            refs_from.extend(["/vulnerability/cve", "/vulnerability/cwe"]);
        }
        let mut levels: Vec<(&str, Tlp)> = vec![("name", self.tlp_of(&["/title"]))];
        if r.description.is_some() {
            levels.push(("description", self.tlp_of(&["/description"])));
        }
        levels.push((
            "labels",
            self.tlp_of(&["/category", "/severity", "/status"]),
        ));
        levels.push(("external_references", self.tlp_of(&refs_from)));
        let base = levels.iter().map(|(_, t)| *t).min().unwrap_or(r.tlp);
        let mut m = self.sdo(ty, &id, base);
        let granular: Vec<Value> = levels
            .iter()
            .filter(|(_, t)| *t > base)
            .map(|(prop, t)| {
                self.markings.insert(*t);
                json!({"selectors": [prop], "marking_ref": t.stix_marking_id()})
            })
            .collect();
        if !granular.is_empty() {
            m.insert("granular_markings".into(), Value::Array(granular));
        }
        m.insert("name".into(), r.title.clone().into());
        if let Some(d) = &r.description {
            m.insert("description".into(), d.clone().into());
        }
        let mut labels = vec![format!("iso27035:report-kind=\"{}\"", r.kind.as_str())];
        if let Some(c) = r.category {
            labels.push(c.machine_tag());
            labels.push(c.iso_machine_tag());
        }
        if let Some(s) = r.severity {
            labels.push(s.stix_label());
        }
        if let Some(s) = r.status {
            labels.push(s.stix_label());
        }
        m.insert("labels".into(), json!(labels));
        let mut refs = vec![json!({
            "source_name": "irtx",
            "external_id": format!("{}:{}", self.team.id, self.rid),
            "description": format!("report `{}` version {} of team `{}`", self.rid, r.effective_version(), self.team.id),
        })];
        for rel in &r.related_reports {
            refs.push(json!({
                "source_name": "irtx",
                "external_id": format!("{}:{}", self.team.id, rel),
                "description": "related report",
            }));
        }
        if r.kind == Kind::Vulnerability {
            if let Some(v) = &r.vulnerability {
                refs.extend(weakness_refs(v));
            }
        }
        m.insert("external_references".into(), Value::Array(refs));
        self.push(m);
        id
    }

    fn vulnerability_parts(&mut self, v: &Vulnerability, main: &str) {
        let r = self.r;
        let vuln_id = if r.kind == Kind::Vulnerability {
            main.to_string()
        } else {
            let id = self.id("vulnerability", "vulnerability");
            let tlp = self.tlp_of(&["/vulnerability/cve", "/vulnerability/cwe"]);
            let mut m = self.sdo("vulnerability", &id, tlp);
            let name = v
                .cve
                .first()
                .cloned()
                .unwrap_or_else(|| format!("Vulnerability exploited in: {}", r.title));
            m.insert("name".into(), name.into());
            let refs = weakness_refs(v);
            if !refs.is_empty() {
                m.insert("external_references".into(), Value::Array(refs));
            }
            self.push(m);
            self.relate(main, "related-to", &id, tlp);
            id
        };
        for (i, p) in v.products.iter().enumerate() {
            let tlp = self.tlp_of(&[&format!("/vulnerability/products/{i}")]);
            let mut sw = Map::new();
            sw.insert("type".into(), "software".into());
            sw.insert("name".into(), p.product.clone().into());
            sw.insert("vendor".into(), p.vendor.clone().into());
            if let Some(ver) = &p.versions {
                sw.insert("version".into(), ver.clone().into());
            }
            let sw_id = self.sco(sw, &["name", "cpe", "swid", "vendor", "version"], tlp);
            self.relate(&vuln_id, "related-to", &sw_id, tlp);
        }
        if let Some(c) = &v.cvss {
            let tlp = self.tlp_of(&["/vulnerability/cvss"]);
            let content = format!("{} (base score {})", c.vector, c.score);
            self.note(
                "cvss",
                &format!("CVSS {}", c.version),
                content,
                &vuln_id,
                tlp,
            );
        }
        if let Some(rem) = &v.remediation {
            let tlp = self.tlp_of(&["/vulnerability/remediation"]);
            let id = self.id("course-of-action", "remediation");
            let mut m = self.sdo("course-of-action", &id, tlp);
            m.insert("name".into(), "Remediation".into());
            m.insert("description".into(), rem.clone().into());
            self.push(m);
            self.relate(&id, "mitigates", &vuln_id, tlp);
        }
    }

    /// A note about `about`, and about the report container too, where readers that do not
    /// know the main object's type (MISP has no `incident`) still find it.
    fn note(&mut self, part: &str, abstract_: &str, content: String, about: &str, tlp: Tlp) {
        let id = self.id("note", part);
        let container = self.id("report", "report");
        let mut m = self.sdo("note", &id, tlp);
        m.insert("abstract".into(), abstract_.into());
        m.insert("object_refs".into(), json!([about, container]));
        if let Some(method) = self.view.pseudonym(&content) {
            self.mark_pseudonym(&mut m, method);
        }
        m.insert("content".into(), content.into());
        self.push(m);
    }

    fn narrative_notes(&mut self, main: &str) {
        let r = self.r;
        for (field, title, text) in [
            ("what_occurred", "What occurred", &r.what_occurred),
            ("how_occurred", "How it occurred", &r.how_occurred),
            ("why_occurred", "Why it occurred", &r.why_occurred),
            ("environment", "Affected environment", &r.environment),
        ] {
            if let Some(t) = text {
                let tlp = self.tlp_of(&[&format!("/{field}")]);
                self.note(field, title, t.clone(), main, tlp);
            }
        }
        let mut timeline = Vec::new();
        for (label, t) in [
            ("Occurred", r.occurred_at),
            ("Detected", r.detected_at),
            ("Reported", Some(r.reported_at)),
            ("Ended", r.ended_at),
            ("Disclosed", r.disclosed_at),
            ("Updated", r.updated_at),
        ] {
            if let Some(t) = t {
                timeline.push(format!("{label}: {t}"));
            }
        }
        let tlp = self.tlp_of(&["/occurred_at", "/detected_at", "/ended_at", "/disclosed_at"]);
        self.note("timeline", "Timeline", timeline.join("\n"), main, tlp);
        if let Some(imp) = &r.impact {
            let mut lines = Vec::new();
            if let Some(d) = &imp.description {
                lines.push(d.clone());
            }
            if !imp.types.is_empty() {
                lines.push(format!("Impact types: {}", imp.types.join(", ")));
            }
            if let Some(h) = imp.downtime_hours {
                lines.push(format!("Downtime: {h} hours"));
            }
            if let Some(c) = &imp.estimated_cost {
                lines.push(format!("Estimated cost: {} {}", c.amount, c.currency));
            }
            if !lines.is_empty() {
                let tlp = self.tlp_of(&["/impact"]);
                self.note(
                    "impact",
                    "Adverse business impact",
                    lines.join("\n"),
                    main,
                    tlp,
                );
            }
        }
        for (i, a) in r.actions_taken.iter().enumerate() {
            let tlp = self.tlp_of(&[&format!("/actions_taken/{i}")]);
            let by =
                a.by.as_deref()
                    .map(|b| format!(" by {b}"))
                    .unwrap_or_default();
            self.note(
                &format!("action/{i}"),
                &format!("Action taken at {}{by}", a.at),
                a.description.clone(),
                main,
                tlp,
            );
        }
    }

    fn reporter(&mut self, main: &str) {
        let rep = &self.r.reporter;
        // A withheld reporter is left out, not sent as a placeholder identity.
        if rep.name == WITHHELD {
            return;
        }
        let id = self.id("identity", "reporter");
        let tlp = self.tlp_of(&["/reporter"]);
        let mut m = self.sdo("identity", &id, tlp);
        m.insert("name".into(), rep.name.clone().into());
        m.insert(
            "identity_class".into(),
            rep.identity_class.as_deref().unwrap_or("unknown").into(),
        );
        if let Some(method) = self.view.pseudonym(&rep.name) {
            self.mark_pseudonym(&mut m, method);
        }
        m.insert("roles".into(), json!(["reporter"]));
        let mut contact = Vec::new();
        if let Some(o) = &rep.organization {
            contact.push(format!("Organization: {o}"));
        }
        if let Some(role) = &rep.role {
            contact.push(format!("Role: {role}"));
        }
        if let Some(e) = &rep.email {
            contact.push(format!("E-mail: {e}"));
        }
        if let Some(p) = &rep.phone {
            contact.push(format!("Phone: {p}"));
        }
        if !contact.is_empty() {
            m.insert("contact_information".into(), contact.join("; ").into());
        }
        self.push(m);
        self.relate(main, "related-to", &id, tlp);
    }

    fn asset(&mut self, i: usize, main: &str) {
        let r = self.r;
        let a = &r.assets[i];
        let tlp = self.tlp_of(&[&format!("/assets/{i}")]);
        let id = self.id("infrastructure", &format!("asset/{}", a.name));
        if self.present.contains(&id) {
            return;
        }
        let mut m = self.sdo("infrastructure", &id, tlp);
        m.insert("name".into(), a.name.clone().into());
        let infra_type = match a.asset_type {
            AssetType::Workstation => "workstation",
            AssetType::Firewall => "firewall",
            AssetType::NetworkDevice => "routers-switches",
            AssetType::Ot => "control-system",
            _ => "unknown",
        };
        m.insert("infrastructure_types".into(), json!([infra_type]));
        let mut desc = vec![format!(
            "Affected asset ({}), victim side.",
            a.asset_type.as_str()
        )];
        if let Some(o) = &a.owner {
            desc.push(format!("Owner: {o}."));
        }
        if let Some(d) = &a.description {
            desc.push(d.clone());
        }
        m.insert("description".into(), desc.join(" ").into());
        if let Some(method) = self.view.pseudonym(&a.name) {
            self.mark_pseudonym(&mut m, method);
        }
        self.push(m);
        // The incident targets the victim's infrastructure (as OpenCTI models incidents); a
        // vulnerability is only related to the assets that have it.
        let rel = match self.r.kind {
            Kind::Vulnerability => "related-to",
            Kind::Event | Kind::Incident => "targets",
        };
        self.relate(main, rel, &id, tlp);
        // The address as observed data the infrastructure consists of: readers that do not
        // know `infrastructure` (MISP) still get it, as a value that is not for detection.
        if let Some(addr) = &a.address {
            if let Some((obj, contributing)) = address_sco(addr) {
                let sco = self.sco(obj, contributing, tlp);
                let od_id = self.id("observed-data", &format!("asset/{}", a.name));
                let seen = r.occurred_at.or(r.detected_at).unwrap_or(r.reported_at);
                let mut od = self.sdo("observed-data", &od_id, tlp);
                od.insert("first_observed".into(), seen.to_stix().into());
                od.insert("last_observed".into(), seen.to_stix().into());
                od.insert("number_observed".into(), 1.into());
                od.insert("object_refs".into(), json!([sco]));
                od.insert("labels".into(), json!(["irtx:role=\"asset\""]));
                self.push(od);
                self.relate(&id, "consists-of", &od_id, tlp);
            }
        }
    }

    /// An indicator value. Attacker-side values in clear become a detection `indicator`
    /// based on the observed data; victim-side values and pseudonyms never do: they travel
    /// as observed data only (a pseudonym may look like a real address, and a victim's
    /// address is nothing to block).
    fn indicator(&mut self, i: usize, main: &str) {
        let r = self.r;
        let ind = &r.indicators[i];
        let tlp = self.tlp_of(&[&format!("/indicators/{i}")]);
        let part = format!(
            "indicator/{}/{}/{}",
            ind.kind.as_str(),
            ind.role.as_str(),
            ind.value
        );
        let first = ind
            .first_seen
            .or(r.occurred_at)
            .or(r.detected_at)
            .unwrap_or(r.reported_at);
        let last = ind.last_seen.filter(|l| *l > first).unwrap_or(first);
        let pseudonym = self
            .view
            .pseudonym(&ind.value)
            .filter(|m| *m != Method::Truncation);
        let detects = !ind.role.is_victim_side() && pseudonym.is_none();

        let od_id = self.id("observed-data", &part);
        if self.present.contains(&od_id) {
            return;
        }
        let sco = indicator_sco(ind).map(|(obj, contributing)| self.sco(obj, contributing, tlp));
        if let Some(sco) = &sco {
            let mut od = self.sdo("observed-data", &od_id, tlp);
            od.insert("first_observed".into(), first.to_stix().into());
            od.insert("last_observed".into(), last.to_stix().into());
            od.insert("number_observed".into(), 1.into());
            od.insert("object_refs".into(), json!([sco]));
            od.insert(
                "labels".into(),
                json!([format!("irtx:role=\"{}\"", ind.role.as_str())]),
            );
            self.push(od);
            if !detects {
                self.relate(main, "related-to", &od_id, tlp);
            }
        } else if !detects {
            // No observable type holds it (a user agent): kept as a note, not a pattern.
            self.note(
                &part,
                &format!("{} ({})", ind.kind.as_str(), ind.role.as_str()),
                ind.value.clone(),
                main,
                tlp,
            );
        }
        if !detects {
            return;
        }

        let id = self.id("indicator", &part);
        let mut m = self.sdo("indicator", &id, tlp);
        m.insert(
            "name".into(),
            format!("{}: {}", ind.role.as_str(), ind.value).into(),
        );
        // stix2-validator {303}: an indicator SHOULD have both name and description.
        let description = ind.description.clone().unwrap_or_else(|| {
            // Only what this indicator's own marking covers: no report text here.
            format!(
                "{} indicator, role {} (attacker side), report `{}`",
                ind.kind.as_str(),
                ind.role.as_str(),
                self.rid
            )
        });
        m.insert("description".into(), description.into());
        m.insert("indicator_types".into(), json!(["malicious-activity"]));
        m.insert("pattern".into(), pattern(ind).into());
        m.insert("pattern_type".into(), "stix".into());
        m.insert("pattern_version".into(), "2.1".into());
        // Valid from the first sighting, with no end: the report says when the value was
        // seen, not until when it stays malicious; a `last_seen` in the past would make the
        // indicator arrive expired. Its sightings are in the observed data.
        m.insert("valid_from".into(), first.to_stix().into());
        m.insert(
            "labels".into(),
            json!([format!("irtx:role=\"{}\"", ind.role.as_str())]),
        );
        if let Some(method) = self.view.pseudonym(&ind.value) {
            self.mark_pseudonym(&mut m, method);
        }
        self.push(m);
        self.relate(&id, "related-to", main, tlp);
        if sco.is_some() {
            self.relate(&id, "based-on", &od_id, tlp);
        }
    }

    /// The `report` container (what MISP builds an event from and OpenCTI a report or case):
    /// the title, the version's time, the labels of the main object, every object of the
    /// bundle, marked with the document's marking (the highest in it).
    fn container(&mut self, main: &str) {
        let r = self.r;
        let document = self.markings.iter().copied().max().unwrap_or(r.tlp);
        let id = self.id("report", "report");
        // Everything in the bundle, the marking definitions too: a reader that lists what a
        // report leaves out (misp-stix) would otherwise take a marking used only in granular
        // markings for one of the whole event.
        let mut refs: Vec<Value> = self
            .objects
            .iter()
            .filter_map(|o| o["id"].as_str())
            .map(Value::from)
            .collect();
        refs.extend(self.markings.iter().map(|t| t.stix_marking_id().into()));
        if self.extension_used {
            refs.extend([irtx_identity_id().into(), pseudonym_extension_id().into()]);
        }
        let labels = self
            .objects
            .iter()
            .find(|o| o["id"] == main)
            .map(|o| o["labels"].clone())
            .unwrap_or_else(|| json!([]));
        let mut m = self.sdo("report", &id, document);
        m.insert("name".into(), r.title.clone().into());
        if let Some(d) = &r.description {
            m.insert("description".into(), d.clone().into());
        }
        let report_type = match r.kind {
            Kind::Vulnerability => "vulnerability",
            Kind::Event | Kind::Incident => "threat-report",
        };
        m.insert("report_types".into(), json!([report_type]));
        m.insert("published".into(), self.modified.clone().into());
        m.insert("labels".into(), labels);
        m.insert("object_refs".into(), Value::Array(refs));
        self.push(m);
    }

    /// The definition of the `irtx-pseudonym` property extension and its author, for bundles
    /// that use it.
    fn extension_definition() -> [Value; 2] {
        let clear = Tlp::Clear.stix_marking_id();
        [
            json!({
                "type": "identity",
                "spec_version": "2.1",
                "id": irtx_identity_id(),
                "created": EXTENSION_CREATED,
                "modified": EXTENSION_CREATED,
                "name": "irtx",
                "description": "The irtx exchange gateway between incident response teams.",
                "identity_class": "system",
                "object_marking_refs": [clear],
            }),
            json!({
                "type": "extension-definition",
                "spec_version": "2.1",
                "id": pseudonym_extension_id(),
                "created_by_ref": irtx_identity_id(),
                "created": EXTENSION_CREATED,
                "modified": EXTENSION_CREATED,
                "name": "irtx-pseudonym",
                "description": "Marks a value that is not the real one: a keyed pseudonym or a \
                    truncated address written by an irtx gateway when anonymizing for a recipient. \
                    Do not match, block or look up such a value as a real one.",
                "schema": PSEUDONYM_SCHEMA,
                "version": "1.0.0",
                "extension_types": ["property-extension"],
                "object_marking_refs": [clear],
            }),
        ]
    }

    fn finish(mut self, main: &str) -> Value {
        self.container(main);
        let mut objects = Vec::with_capacity(self.objects.len() + self.markings.len() + 2);
        let mut rest = self.objects.into_iter();
        if let Some(identity) = rest.next() {
            objects.push(identity);
        }
        objects.extend(self.markings.iter().map(|t| t.stix_marking_definition()));
        if self.extension_used {
            objects.extend(Self::extension_definition());
        }
        objects.extend(rest);
        let mut bundle_name = format!(
            "{}/{}/bundle/{}",
            self.team.id,
            self.rid,
            self.r.effective_version()
        );
        if !self.view.key.is_empty() {
            bundle_name.push('#');
            bundle_name.push_str(&self.view.key);
        }
        json!({
            "type": "bundle",
            "id": format!("bundle--{}", Uuid::new_v5(&crate::IRTX_NAMESPACE, bundle_name.as_bytes())),
            "objects": objects,
        })
    }
}

/// The normative text of the `irtx-pseudonym` extension (STIX 2.1 section 7.3 allows plain
/// text as `schema`).
const PSEUDONYM_SCHEMA: &str = "Property extension. Properties: `extension_type` \
    (\"property-extension\"); `pseudonymized` (boolean, required): true when the value is a \
    keyed pseudonym, false when it is a real value made less precise (an address truncated to \
    its network); `method` (string, required): \"crypto-pan\" (prefix-preserving keyed \
    address pseudonym, confined to non-routable space: private and special blocks keep their \
    block, other IPv4 addresses map into 240.0.0.0/4 and other IPv6 addresses into \
    2001:db8::/32), \"hmac-sha256\" (keyed pseudonym shaped as a value of its type, e.g. \
    under .invalid), or \"truncation\". A pseudonym is stable per sender and recipient, so \
    one recipient can correlate its reports, and carries no information about the real value.";

fn weakness_refs(v: &Vulnerability) -> Vec<Value> {
    let mut refs = Vec::new();
    for c in &v.cve {
        refs.push(json!({"source_name": "cve", "external_id": c}));
    }
    for c in &v.cwe {
        refs.push(json!({"source_name": "cwe", "external_id": c}));
    }
    refs
}

/// Quotes a value for a STIX pattern string literal (STIX 2.1 section 9.3: `\\` and `\'`).
fn quote(v: &str) -> String {
    format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// STIX `mac-addr` values are colon-delimited lowercase MAC-48 (STIX 2.1 section 6.6).
fn mac(v: &str) -> String {
    v.to_ascii_lowercase().replace('-', ":")
}

/// The STIX pattern that matches an indicator's value.
pub fn pattern(ind: &Indicator) -> String {
    let v = ind.value.as_str();
    match ind.kind {
        IndicatorType::Ipv4 => format!("[ipv4-addr:value = {}]", quote(v)),
        IndicatorType::Ipv6 => format!("[ipv6-addr:value = {}]", quote(v)),
        IndicatorType::Cidr if v.contains(':') => {
            format!("[ipv6-addr:value ISSUBSET {}]", quote(v))
        }
        IndicatorType::Cidr => format!("[ipv4-addr:value ISSUBSET {}]", quote(v)),
        IndicatorType::Domain => format!("[domain-name:value = {}]", quote(v)),
        IndicatorType::Url => format!("[url:value = {}]", quote(v)),
        IndicatorType::Email => format!("[email-addr:value = {}]", quote(v)),
        IndicatorType::Md5 => format!("[file:hashes.MD5 = {}]", quote(&v.to_ascii_lowercase())),
        IndicatorType::Sha1 => {
            format!("[file:hashes.'SHA-1' = {}]", quote(&v.to_ascii_lowercase()))
        }
        IndicatorType::Sha256 => format!(
            "[file:hashes.'SHA-256' = {}]",
            quote(&v.to_ascii_lowercase())
        ),
        IndicatorType::Sha512 => format!(
            "[file:hashes.'SHA-512' = {}]",
            quote(&v.to_ascii_lowercase())
        ),
        IndicatorType::Asn => format!("[autonomous-system:number = {}]", asn_number(v)),
        IndicatorType::UserAgent => format!(
            "[network-traffic:extensions.'http-request-ext'.request_header.'User-Agent' = {}]",
            quote(v)
        ),
        IndicatorType::Filename => format!("[file:name = {}]", quote(v)),
        IndicatorType::Mac => format!("[mac-addr:value = {}]", quote(&mac(v))),
        IndicatorType::Username => format!("[user-account:account_login = {}]", quote(v)),
    }
}

fn asn_number(v: &str) -> u64 {
    v.trim_start_matches(['A', 'S', 'a', 's'])
        .parse()
        .unwrap_or_default()
}

type Sco = (Map<String, Value>, &'static [&'static str]);

fn sco_value(ty: &str, value: Value) -> Sco {
    let mut m = Map::new();
    m.insert("type".into(), ty.into());
    m.insert("value".into(), value);
    (m, &["value"])
}

/// The SCO of an indicator and its id-contributing properties (STIX 2.1 section 6), if the
/// type has one (a user agent is only a pattern).
fn indicator_sco(ind: &Indicator) -> Option<Sco> {
    let v = ind.value.as_str();
    let file_hash = |alg: &str| {
        let mut m = Map::new();
        m.insert("type".into(), "file".into());
        m.insert("hashes".into(), json!({ alg: v.to_ascii_lowercase() }));
        (
            m,
            &["hashes", "name", "extensions", "parent_directory_ref"][..],
        )
    };
    Some(match ind.kind {
        IndicatorType::Ipv4 => sco_value("ipv4-addr", v.into()),
        IndicatorType::Ipv6 => sco_value("ipv6-addr", v.into()),
        IndicatorType::Cidr if v.contains(':') => sco_value("ipv6-addr", v.into()),
        IndicatorType::Cidr => sco_value("ipv4-addr", v.into()),
        IndicatorType::Domain => sco_value("domain-name", v.into()),
        IndicatorType::Url => sco_value("url", v.into()),
        IndicatorType::Email => sco_value("email-addr", v.into()),
        IndicatorType::Mac => sco_value("mac-addr", mac(v).into()),
        IndicatorType::Md5 => file_hash("MD5"),
        IndicatorType::Sha1 => file_hash("SHA-1"),
        IndicatorType::Sha256 => file_hash("SHA-256"),
        IndicatorType::Sha512 => file_hash("SHA-512"),
        IndicatorType::Asn => {
            let mut m = Map::new();
            m.insert("type".into(), "autonomous-system".into());
            m.insert("number".into(), asn_number(v).into());
            (m, &["number"][..])
        }
        IndicatorType::Filename => {
            let mut m = Map::new();
            m.insert("type".into(), "file".into());
            m.insert("name".into(), v.into());
            (
                m,
                &["hashes", "name", "extensions", "parent_directory_ref"][..],
            )
        }
        IndicatorType::Username => {
            let mut m = Map::new();
            m.insert("type".into(), "user-account".into());
            m.insert("account_login".into(), v.into());
            (m, &["account_type", "user_id", "account_login"][..])
        }
        IndicatorType::UserAgent => return None,
    })
}

/// The SCO of an asset address.
fn address_sco(addr: &str) -> Option<Sco> {
    use crate::report::validate::{classify_address, AddressKind};
    Some(match classify_address(addr)? {
        AddressKind::Ipv4 => sco_value("ipv4-addr", addr.into()),
        AddressKind::Ipv6 => sco_value("ipv6-addr", addr.into()),
        AddressKind::Cidr if addr.contains(':') => sco_value("ipv6-addr", addr.into()),
        AddressKind::Cidr => sco_value("ipv4-addr", addr.into()),
        AddressKind::Hostname => sco_value("domain-name", addr.into()),
        AddressKind::Url => sco_value("url", addr.into()),
    })
}
