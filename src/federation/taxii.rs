//! The TAXII 2.1 server's services (DESIGN.md section 8): who a client is (its token), the
//! pages of its `shared` collection with every pull recorded, and what it posts to its
//! `inbox`, checked like an inbound message and kept as an alert with unsigned provenance.
//! Blocking (the store flushes): call it off the async threads.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::{Gateway, ServiceError};
use crate::disclosure::{EntryBody, Event};
use crate::envelope::strict::{self, JsonLimits};
use crate::envelope::MessageId;
use crate::intake::{self, AlertFormat, Intake};
use crate::peer::{Peer, PeerId};
use crate::report::{ReportId, Timestamp};
use crate::schema::Violation;
use crate::store::{Alert, AlertSource, Imported, Store, TaxiiObject, TaxiiRecord};
use crate::taxii::{self, Candidate, Credentials, Query};
use crate::timestamp::rfc3339;

/// Which resource of the `shared` collection a page is of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    /// `objects/`.
    Objects,
    /// `manifest/`.
    Manifest,
    /// `objects/{id}/`.
    Object(String),
    /// `objects/{id}/versions/`.
    Versions(String),
}

impl View {
    /// The cursor's scope: a cursor is good only for the view it came from.
    fn scope(&self, peer: &PeerId) -> String {
        match self {
            View::Objects | View::Manifest => format!("{peer}/shared"),
            View::Object(id) => format!("{peer}/shared/{id}"),
            View::Versions(id) => format!("{peer}/shared/{id}/versions"),
        }
    }

    /// The `match[...]` filters it takes (TAXII 2.1 sections 5.3 to 5.8).
    pub fn filters(&self) -> &'static [&'static str] {
        match self {
            View::Objects | View::Manifest => &["id", "type", "version", "spec_version"],
            View::Object(_) => &["version", "spec_version"],
            View::Versions(_) => &["spec_version"],
        }
    }
}

/// One page of a collection.
#[derive(Debug, Clone)]
pub struct Page {
    /// The objects, in the order they were added.
    pub objects: Vec<TaxiiObject>,
    /// Whether more match.
    pub more: bool,
    /// The cursor for the next page, when there is one.
    pub next: Option<String>,
}

/// What became of objects that came over TAXII.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingested {
    /// A new alert, by id.
    New(String),
    /// The same content came before.
    Duplicate,
    /// Markings not exactly TLP: quarantined, with the reasons.
    Quarantined(Vec<String>),
    /// Not valid: refused, with the reasons.
    Refused(Vec<String>),
    /// The peer's alerts take this many bytes, its quota.
    OverQuota(u64),
}

/// Rows read from the store at once while filling a page.
const SCAN: usize = 256;

/// The collection key of a peer's `shared` collection in the store.
pub(super) fn collection(peer: &PeerId) -> &str {
    peer.as_str()
}

fn now_us(t: time::OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX)
}

impl Gateway {
    /// The peer these credentials belong to: Basic with the peer's id and its token, or
    /// the token alone (`Bearer`, `Token`). Digests are compared, never tokens.
    pub fn taxii_peer(&self, creds: &Credentials) -> Result<Option<Peer>, ServiceError> {
        let (user, token) = match creds {
            Credentials::Basic { user, password } => (Some(user.as_str()), password.as_str()),
            Credentials::Token(t) => (None, t.as_str()),
        };
        let digest = taxii::token_digest(token);
        Ok(self.store.peers()?.into_iter().find(|p| {
            p.taxii_token_sha256.as_deref() == Some(digest.as_str())
                && user.is_none_or(|u| u.eq_ignore_ascii_case(p.id.as_str()))
        }))
    }

    /// Issues a new TAXII token for a peer ([`issue_token`]).
    pub fn issue_taxii_token(&self, id: &PeerId) -> Result<String, ServiceError> {
        issue_token(self.store.as_ref(), id)
    }

    /// Puts what a disclosure carried into the peer's `shared` collection; with `entry`,
    /// recorded in the same write (a `taxii-pull` peer's decision). Applied, not yet durable,
    /// when it returns: the caller syncs the store before it answers.
    pub(super) fn publish(
        &self,
        peer: &PeerId,
        report_id: &ReportId,
        message_id: MessageId,
        document: Value,
        entry: Option<EntryBody>,
        holding: Option<&crate::store::Holding>,
    ) -> Result<usize, ServiceError> {
        let mut rows: Vec<TaxiiObject> = taxii::objects_of_bundle(document)
            .into_iter()
            .map(|(id, version, spec_version, object)| TaxiiObject {
                id,
                version,
                spec_version,
                date_added_us: 0,
                report_id: report_id.clone(),
                message_id,
                object,
            })
            .collect();
        let now = now_us(self.clock.now());
        let added = match entry {
            Some(entry) => self.record_applied(entry, |s, e| {
                s.taxii_publish(collection(peer), now, &mut rows, Some(e), holding)
            })?,
            None => self
                .store
                .taxii_publish_applied(collection(peer), now, &mut rows, holding)?,
        };
        tracing::info!(peer.id = %peer, report.id = %report_id, added, "published to the peer's TAXII collection");
        Ok(added)
    }

    /// Re-issues, in the peer's `shared` collection, every object the given disclosures put
    /// there with `revoked: true` and a later `modified` (DESIGN.md section 10: TAXII
    /// collections serve the revoked versions). Objects without `modified` (observables,
    /// marking definitions) cannot be revoked and stay as they are. Returns the revoked
    /// objects, for the retraction pushed to the peer.
    pub(super) fn publish_revoked(
        &self,
        peer: &PeerId,
        messages: &[MessageId],
        retraction: MessageId,
    ) -> Result<Vec<Value>, ServiceError> {
        let coll = collection(peer);
        let now = Timestamp(self.clock.now());
        let rows: Vec<TaxiiObject> = self
            .rows_of(peer, messages)?
            .into_iter()
            .filter(|r| r.object["revoked"] != true)
            .collect();
        // What every disclosure shares is not the report's to revoke: the creators'
        // identities, the extension and marking definitions.
        let creators: std::collections::HashSet<String> = rows
            .iter()
            .filter_map(|r| r.object["created_by_ref"].as_str())
            .map(str::to_string)
            .collect();
        let mut revoked = Vec::new();
        for row in rows {
            let kind = row.object["type"].as_str().unwrap_or_default();
            if creators.contains(&row.id)
                || matches!(kind, "marking-definition" | "extension-definition")
            {
                continue;
            }
            let Some(modified) = row.object["modified"]
                .as_str()
                .and_then(|m| Timestamp::parse(m).ok())
            else {
                continue;
            };
            // Later than the version it revokes, at STIX's millisecond precision.
            let at = if now.0 > modified.0 + time::Duration::milliseconds(1) {
                now
            } else {
                Timestamp(modified.0 + time::Duration::milliseconds(1))
            };
            let mut object = row.object;
            object["revoked"] = Value::Bool(true);
            object["modified"] = Value::String(at.to_stix());
            revoked.push(TaxiiObject {
                version: at.to_stix(),
                object,
                message_id: retraction,
                ..row
            });
        }
        let n = self
            .store
            .taxii_publish(coll, now_us(now.0), &mut revoked, None, None)?;
        tracing::info!(peer.id = %peer, revoked = n, "revoked versions published to the peer's TAXII collection");
        Ok(revoked.into_iter().map(|r| r.object).collect())
    }

    /// The rows of the peer's `shared` collection that the given disclosures put there.
    fn rows_of(
        &self,
        peer: &PeerId,
        messages: &[MessageId],
    ) -> Result<Vec<TaxiiObject>, ServiceError> {
        let mut rows = Vec::new();
        let mut after = 0;
        loop {
            let batch = self.store.taxii_page(collection(peer), after, SCAN)?;
            let Some((last, _)) = batch.last() else { break };
            after = *last;
            rows.extend(
                batch
                    .into_iter()
                    .map(|(_, r)| r)
                    .filter(|r| messages.contains(&r.message_id)),
            );
        }
        Ok(rows)
    }

    /// What one disclosure put in the peer's collection, as a bundle (`None` when nothing).
    pub(super) fn published_document(
        &self,
        peer: &PeerId,
        message: &MessageId,
    ) -> Result<Option<Value>, ServiceError> {
        let rows = self.rows_of(peer, std::slice::from_ref(message))?;
        if rows.is_empty() {
            return Ok(None);
        }
        Ok(Some(serde_json::json!({
            "type": "bundle",
            "id": format!("bundle--{}", message.0),
            "objects": rows.into_iter().map(|r| r.object).collect::<Vec<_>>(),
        })))
    }

    /// A page of the peer's `shared` collection. Pages of objects are pulls: the first pull
    /// of each disclosure is a ledger entry, later ones are counted.
    pub fn taxii_page(
        &self,
        peer: &Peer,
        view: &View,
        params: &[(String, String)],
    ) -> Result<Page, ServiceError> {
        let scope = view.scope(&peer.id);
        let query = taxii::parse_query(params, &scope, view.filters()).map_err(|e| {
            ServiceError::Invalid(vec![Violation::new(
                format!("/{}", e.param),
                e.reason.clone(),
            )])
        })?;
        let coll = collection(&peer.id);
        let page = match view {
            View::Objects | View::Manifest => self.scan(coll, &scope, &query)?,
            View::Object(id) | View::Versions(id) => {
                let all = self.store.taxii_versions(coll, id)?;
                if all.is_empty() {
                    return Err(ServiceError::NotFound {
                        what: "object",
                        id: id.clone(),
                    });
                }
                let mut filter = query.filter.clone();
                if matches!(view, View::Versions(_)) {
                    filter.versions = vec![taxii::VersionMatch::All];
                }
                let q = Query {
                    filter,
                    ..query.clone()
                };
                let (first, last) = first_last(&all);
                page_of(
                    all.into_iter().filter(|(seq, _)| *seq > q.after),
                    &q,
                    &scope,
                    |_| (first, last),
                    &query.filter,
                )
            }
        };
        if matches!(view, View::Objects | View::Object(_)) {
            self.count_pulls(peer, &page.objects)?;
        }
        Ok(page)
    }

    fn scan(&self, coll: &str, scope: &str, q: &Query) -> Result<Page, ServiceError> {
        let mut bounds: HashMap<String, (i128, i128)> = HashMap::new();
        let mut rows = Vec::new();
        // Nothing at or before the last object added by `added_after` can be selected.
        let mut after = match q.filter.added_after {
            Some(at) => q.after.max(self.store.taxii_added_through(coll, at)?),
            None => q.after,
        };
        // Read until the page is full and one more match is known (so `more` is exact),
        // or the collection ends.
        let mut matched = 0;
        'scan: loop {
            let batch = self.store.taxii_page(coll, after, SCAN)?;
            if batch.is_empty() {
                break;
            }
            for (seq, row) in batch {
                after = seq;
                let (first, last) = match bounds.get(&row.id) {
                    Some(b) => *b,
                    None => {
                        let b = self.version_bounds(coll, seq, &row)?;
                        bounds.insert(row.id.clone(), b);
                        b
                    }
                };
                if taxii::selects(&q.filter, &candidate(&row), first, last) {
                    matched += 1;
                    rows.push((seq, row));
                    if matched > q.limit {
                        break 'scan;
                    }
                }
            }
        }
        Ok(page_of(
            rows.into_iter(),
            q,
            scope,
            |id| bounds.get(id).copied().unwrap_or((0, 0)),
            &q.filter,
        ))
    }

    /// The first and last versions (microseconds) of the object of `row` (at `seq`) in a
    /// collection, from the versions listed. A version that is no time (an object without
    /// one has the time it was added in its stead) is known for `row` itself; the objects
    /// are read for another.
    fn version_bounds(
        &self,
        coll: &str,
        seq: u64,
        row: &TaxiiObject,
    ) -> Result<(i128, i128), ServiceError> {
        let listed = self.store.taxii_version_list(coll, &row.id)?;
        let mut times = Vec::with_capacity(listed.len());
        for (at, version) in &listed {
            match taxii::micros(version) {
                Some(t) => times.push(t),
                None if *at == seq => times.push(candidate(row).version_us()),
                None => return Ok(first_last(&self.store.taxii_versions(coll, &row.id)?)),
            }
        }
        Ok(span(times.into_iter()))
    }

    fn count_pulls(&self, peer: &Peer, objects: &[TaxiiObject]) -> Result<(), ServiceError> {
        let mut seen: Vec<(MessageId, &ReportId, usize)> = Vec::new();
        for o in objects {
            match seen.iter_mut().find(|(m, _, _)| *m == o.message_id) {
                Some(s) => s.2 += 1,
                None => seen.push((o.message_id, &o.report_id, 1)),
            }
        }
        let coll = collection(&peer.id);
        for (message_id, report_id, n) in seen {
            if self.store.taxii_pulls(coll, &message_id)? == 0 {
                let mut entry = EntryBody::new(
                    rfc3339(self.clock.now()),
                    Event::Pulled,
                    report_id.clone(),
                    peer.id.clone(),
                );
                entry.message_id = Some(message_id);
                entry.reason = Some(format!(
                    "pulled over TAXII ({n} object{} in the first page)",
                    if n == 1 { "" } else { "s" }
                ));
                self.record_with(entry, |s, e| s.taxii_count_pull(coll, &message_id, Some(e)))?;
            } else {
                self.store.taxii_count_pull(coll, &message_id, None)?;
            }
        }
        Ok(())
    }

    /// What a peer posts to its `inbox`: checked as an inbound document is (strict JSON
    /// within the limits, the STIX schemas, markings exact or quarantined, the object and
    /// storage limits), kept as one alert with the peer's token as its provenance, and
    /// answered with a status that is already final.
    pub fn taxii_post(&self, peer: &Peer, body: &[u8]) -> Result<Value, ServiceError> {
        let now = self.clock.now();
        let x = &self.exchange;
        let value = strict::read(
            body,
            JsonLimits {
                max_depth: x.max_json_depth,
                max_string_bytes: x.max_string_bytes,
            },
        )
        .map_err(|e| ServiceError::Invalid(vec![Violation::new("", e.to_string())]))?;
        let (bundle, listed) = taxii::bundle_of_post(&value)
            .map_err(|e| ServiceError::Invalid(vec![Violation::new("/objects", e)]))?;
        if listed.len() > x.max_objects {
            return Err(ServiceError::Invalid(vec![Violation::new(
                "/objects",
                format!(
                    "{} objects; at most {} are taken ([exchange] max_objects)",
                    listed.len(),
                    x.max_objects
                ),
            )]));
        }
        let status_id = uuid::Uuid::new_v4().to_string();
        let record = TaxiiRecord {
            peer: peer.id.clone(),
            status_id: Some(status_id.clone()),
            pulled_from: None,
        };
        let all = |message: &str| -> Vec<(String, String, String)> {
            listed
                .iter()
                .map(|(id, v)| (id.clone(), v.clone(), message.to_string()))
                .collect()
        };
        let (successes, failures) = match self.ingest(bundle, record, body)? {
            Ingested::Refused(reasons) => (Vec::new(), all(&format!("refused: {}", reasons.join("; ")))),
            Ingested::Quarantined(reasons) => {
                (Vec::new(), all(&format!("quarantined: {}", reasons.join("; "))))
            }
            Ingested::New(id) => (all(&format!("imported as alert {id}")), Vec::new()),
            Ingested::Duplicate => (all("a duplicate of an alert already held"), Vec::new()),
            Ingested::OverQuota(used) => {
                return Err(ServiceError::Conflict(format!(
                    "the alerts of `{}` take {used} bytes, the most kept ([exchange] max_bytes_per_peer); try later",
                    peer.id
                )))
            }
        };
        let status = taxii::status(
            &status_id,
            &taxii::timestamp_us(now_us(now)),
            &successes,
            &failures,
        );
        let mut kept = status.clone();
        kept["irtx_peer"] = json!(peer.id);
        self.store.put_taxii_status(&status_id, &kept)?;
        Ok(status)
    }

    /// Takes STIX objects that came over TAXII (unsigned) as an inbound document is taken:
    /// the STIX schemas, markings exact or quarantined, the peer's storage quota; kept as
    /// one alert whose source is `record`, with a `received` ledger entry.
    pub(super) fn ingest(
        &self,
        bundle: Value,
        record: TaxiiRecord,
        body: &[u8],
    ) -> Result<Ingested, ServiceError> {
        let now = self.clock.now();
        let peer = record.peer.clone();
        let doc = intake::Document {
            pointer: String::new(),
            format: AlertFormat::Stix,
            value: bundle,
        };
        let read = match intake::read(&doc, self.import.default_tlp, Timestamp(now)) {
            Intake::Refuse(reasons) => return Ok(Ingested::Refused(reasons)),
            Intake::Quarantine(reasons) => {
                self.store.quarantine(
                    &json!({
                        "received_at": rfc3339(now),
                        "taxii": record,
                        "reasons": reasons,
                        "bytes": body.len(),
                    }),
                    body,
                )?;
                tracing::warn!(peer.id = %peer, reasons = reasons.len(), "TAXII objects quarantined");
                return Ok(Ingested::Quarantined(reasons));
            }
            Intake::Ready(read) => read,
        };
        let how = record.how();
        let alert = Alert {
            id: uuid::Uuid::new_v4().to_string(),
            source: AlertSource::Taxii { taxii: record },
            received_at: rfc3339(now),
            sha256: crate::envelope::sha256_hex(&crate::envelope::canonical(&doc.value)),
            tlp: read.tlp,
            format: AlertFormat::Stix,
            document: doc.value,
            retracted: None,
        };
        Ok(
            match self.store.import(&alert, self.exchange.peer_quota())? {
                Imported::New => {
                    let mut entry = EntryBody::new(
                        rfc3339(now),
                        Event::Received,
                        intake::report_id_of_alert(&alert.id)
                            .parse()
                            .map_err(|e| ServiceError::Corrupt(format!("alert id: {e}")))?,
                        peer.clone(),
                    );
                    entry.marking = Some(read.tlp);
                    entry.document_sha256 = Some(alert.sha256.clone());
                    entry.reason = Some(format!("{how}; TAXII credentials, not signed"));
                    self.record(entry)?;
                    tracing::info!(peer.id = %peer, alert.id = %alert.id, "TAXII objects kept as an alert");
                    Ingested::New(alert.id)
                }
                Imported::Duplicate | Imported::Conflict => Ingested::Duplicate,
                Imported::OverQuota { used } => Ingested::OverQuota(used),
            },
        )
    }

    /// A status resource, to the peer that posted.
    pub fn taxii_status(&self, peer: &Peer, id: &str) -> Result<Value, ServiceError> {
        let not_found = || ServiceError::NotFound {
            what: "status",
            id: id.to_string(),
        };
        let mut s = self.store.taxii_status(id)?.ok_or_else(not_found)?;
        if s["irtx_peer"] != json!(peer.id) {
            return Err(not_found());
        }
        if let Some(o) = s.as_object_mut() {
            o.remove("irtx_peer");
        }
        Ok(s)
    }
}

/// Issues a new TAXII token for a peer, replacing any earlier one; only its digest is
/// kept. The token is returned once.
pub fn issue_token(store: &dyn Store, id: &PeerId) -> Result<String, ServiceError> {
    let mut peer = store.peer(id)?.ok_or_else(|| ServiceError::NotFound {
        what: "peer",
        id: id.to_string(),
    })?;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| ServiceError::Corrupt(format!("no randomness for a token: {e}")))?;
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    peer.taxii_token_sha256 = Some(taxii::token_digest(&token));
    store.put_peer(&peer)?;
    tracing::info!(peer.id = %id, "TAXII token issued");
    Ok(token)
}

fn candidate(row: &TaxiiObject) -> Candidate<'_> {
    Candidate {
        id: &row.id,
        version: &row.version,
        spec_version: &row.spec_version,
        date_added_us: row.date_added_us,
    }
}

/// The first and last versions (microseconds) among an object's rows.
fn first_last(rows: &[(u64, TaxiiObject)]) -> (i128, i128) {
    span(rows.iter().map(|(_, r)| candidate(r).version_us()))
}

/// The earliest and latest of `times` (0 and 0 for none).
fn span(times: impl Iterator<Item = i128> + Clone) -> (i128, i128) {
    (times.clone().min().unwrap_or(0), times.max().unwrap_or(0))
}

/// Fills a page from rows in sequence order: those `q` selects, at most `q.limit`, `more`
/// when another one matches; the cursor carries `filter` (the query's own, as given).
fn page_of(
    rows: impl Iterator<Item = (u64, TaxiiObject)>,
    q: &Query,
    scope: &str,
    bounds: impl Fn(&str) -> (i128, i128),
    filter: &taxii::Filter,
) -> Page {
    let mut objects = Vec::new();
    let mut last_seq = q.after;
    let mut more = false;
    for (seq, row) in rows {
        let (first, last) = bounds(&row.id);
        if !taxii::selects(&q.filter, &candidate(&row), first, last) {
            continue;
        }
        if objects.len() == q.limit {
            more = true;
            break;
        }
        last_seq = seq;
        objects.push(row);
    }
    Page {
        objects,
        more,
        next: more.then(|| taxii::next_cursor(scope, last_seq, filter)),
    }
}
