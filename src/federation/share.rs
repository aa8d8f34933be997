//! Submitting and sharing: a report is validated and stored; sharing it decides, renders,
//! seals and queues it per peer, each decision written to the ledger (a queued message in
//! the same atomic write as its entry). Blocking (the store flushes): call it off the async
//! threads.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;

use super::{Gateway, Metrics, ServiceError};
use crate::disclosure::{Cause, Disclosed, EntryBody, Event};
use crate::envelope::{self, MessageId};
use crate::exchange::outbound::{self, Envelope};
use crate::exchange::{self, Outcome};
use crate::peer::{Format, Peer, PeerId, Transport};
use crate::report::redact::Removal;
use crate::report::{self, Report, ReportId};
use crate::schema::Violation;
use crate::store::{DeliveryState, Holding, HoldingState, OutboxItem, StoredReport};
use crate::timestamp::rfc3339;
use crate::tlp::policy::Origin;
use crate::tlp::Tlp;

/// The outcome of sharing one report with one peer.
#[derive(Debug, Clone, Serialize)]
pub struct ShareOutcome {
    /// The peer.
    pub peer: PeerId,
    /// `queued`, `withheld` or `error`.
    pub decision: Event,
    /// The kind of reason, when nothing was queued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
    /// Why it was withheld, or what went wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The queued message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<MessageId>,
    /// Fields removed before sending.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<Removal>,
    /// The marking sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marking: Option<Tlp>,
}

/// SHA-256 of a report version's canonical JSON.
pub fn report_digest(r: &Report) -> String {
    envelope::sha256_hex(&envelope::canonical(
        &serde_json::to_value(r).expect("a report serializes"),
    ))
}

/// Why a report is being shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// An analyst's share or a routing rule: a peer that holds this version gets nothing.
    Share,
    /// The same, also to peers that hold it.
    Resend,
    /// A new version for its holders (or an alert passed on): a holder the new version may
    /// not go to gets a retraction of what it holds.
    Update,
}

/// A report from the bytes submitted: valid JSON, then valid against the schema and the
/// rules, every problem with its pointer.
fn parse_report(raw: &[u8]) -> Result<Report, ServiceError> {
    let value: Value = serde_json::from_slice(raw).map_err(|e| {
        ServiceError::Invalid(vec![Violation::new("", format!("not valid JSON: {e}"))])
    })?;
    report::validate::parse_value(&value).map_err(ServiceError::Invalid)
}

/// Adds `what` to an entry's reason, in brackets.
fn note(entry: &mut EntryBody, what: &str) {
    let reason = entry.reason.take().unwrap_or_default();
    entry.reason = Some(format!("{reason} ({what})"));
}

/// A sealed message as the outbox takes it: queued, no attempt yet.
fn queued(
    report_id: &ReportId,
    peer: &PeerId,
    sealed: &outbound::Sealed,
    now: time::OffsetDateTime,
) -> OutboxItem {
    OutboxItem {
        message_id: sealed.message.id,
        report_id: report_id.clone(),
        peer: peer.clone(),
        jws: sealed.jws.clone(),
        sha256: sealed.sha256.clone(),
        queued_at: rfc3339(now),
        attempts: 0,
        next_attempt_ms: 0,
        state: DeliveryState::Queued,
        last_error: None,
        last_cause: None,
    }
}

/// One report being shared: what each peer's decision starts from.
#[derive(Clone, Copy)]
struct Sharing<'a> {
    report: &'a Report,
    id: &'a ReportId,
    /// Its digest ([`report_digest`]).
    digest: &'a str,
    onward: Option<&'a crate::disclosure::Onward>,
}

impl Gateway {
    /// Validates and stores a report, then shares it as the routing rules say. Returns the
    /// id and the automatic decisions.
    pub fn submit_and_route(
        &self,
        raw: &[u8],
    ) -> Result<(ReportId, Vec<ShareOutcome>), ServiceError> {
        let r = parse_report(raw)?;
        let id = self.store_report(&r)?;
        let mut peers: Vec<String> = Vec::new();
        for rule in self.routing.iter().filter(|rule| rule.matches(&r)) {
            for p in &rule.peers {
                if !peers.contains(p) {
                    peers.push(p.clone());
                }
            }
        }
        let decisions = if peers.is_empty() {
            Vec::new()
        } else {
            let peers = self.known_peers(&peers, "/routing")?;
            self.share_report(&r, &id, &peers, &Origin::Own, None, Mode::Share)?
        };
        Ok((id, decisions))
    }

    /// Stores a submitted report. A report without an id gets one derived from its
    /// content, so `irtx validate` shows the id it will have, and submitting the same report
    /// twice stores it once; other content under a stored id is refused (409): a new
    /// version goes through [`Gateway::update`].
    #[tracing::instrument(skip_all)]
    fn store_report(&self, r: &Report) -> Result<ReportId, ServiceError> {
        let stored = self.stored(r);
        let id = stored.id.clone();
        if let Some(existing) = self.store.report(&id)? {
            if existing.report == stored.report {
                tracing::info!(report.id = %id, "report already stored; unchanged");
                return Ok(id);
            }
            return Err(ServiceError::Conflict(format!(
                "report `{id}` is stored already, with other content: a new version goes through `irtx report update` (PUT /api/v1/reports/{id}) with a higher `version` and a later `updated_at`"
            )));
        }
        self.put_report(&stored)?;
        Ok(id)
    }

    /// A report as the store keeps it, submitted now.
    fn stored(&self, r: &Report) -> StoredReport {
        StoredReport {
            id: r.effective_id(),
            report: serde_json::to_value(r).expect("a report serializes"),
            submitted_at: rfc3339(self.clock.now()),
        }
    }

    fn put_report(&self, stored: &StoredReport) -> Result<(), ServiceError> {
        self.store.put_report(stored)?;
        self.metrics.reports.inc();
        tracing::info!(report.id = %stored.id, "report stored");
        Ok(())
    }

    /// The peers named, each looked up; every unknown or malformed name is a problem with
    /// its pointer under `at` (nothing is shared when one is wrong).
    fn known_peers(&self, names: &[String], at: &str) -> Result<Vec<Peer>, ServiceError> {
        let mut problems = Vec::new();
        let mut out = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let pointer = format!("{at}/{i}");
            match name.parse::<PeerId>() {
                Err(e) => problems.push(Violation::new(pointer, e.to_string())),
                Ok(id) => match self.store.peer(&id)? {
                    Some(p) => out.push(p),
                    None => problems.push(Violation::new(
                        pointer,
                        format!("no peer `{id}`; add it with `irtx peer add` or [peers.{id}] in the config"),
                    )),
                },
            }
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            Err(ServiceError::Invalid(problems))
        }
    }

    /// Decides, renders, seals and queues a report for each peer named; records every
    /// decision. An unknown peer is refused before anything is decided.
    #[tracing::instrument(skip_all, fields(report.id = %report_id))]
    pub fn share(
        &self,
        report_id: &ReportId,
        peers: &[String],
        resend: bool,
    ) -> Result<Vec<ShareOutcome>, ServiceError> {
        let stored = self
            .store
            .report(report_id)?
            .ok_or_else(|| ServiceError::NotFound {
                what: "report",
                id: report_id.to_string(),
            })?;
        let report: Report = report::validate::parse_value(&stored.report).map_err(|v| {
            ServiceError::Corrupt(format!(
                "stored report `{report_id}` no longer validates: {}",
                v[0]
            ))
        })?;
        let peers = self.known_peers(peers, "/peers")?;
        let mode = if resend { Mode::Resend } else { Mode::Share };
        self.share_report(&report, report_id, &peers, &Origin::Own, None, mode)
    }

    /// Stores a new version of a report (DESIGN.md section 10): the same id, a higher
    /// `version`. Every peer that holds an earlier version gets a fresh decision: the new
    /// version where it may still have it, else its copy is marked stale (a retraction is
    /// due); the routing rules apply as to a new report. Returns the decisions.
    #[tracing::instrument(skip_all, fields(report.id = %id))]
    pub fn update(&self, id: &ReportId, raw: &[u8]) -> Result<Vec<ShareOutcome>, ServiceError> {
        let r = parse_report(raw)?;
        if r.effective_id() != *id {
            return Err(ServiceError::Invalid(vec![Violation::new(
                "/id",
                format!("the report's id is `{}`, not `{id}`", r.effective_id()),
            )]));
        }
        let stored = self
            .store
            .report(id)?
            .ok_or_else(|| ServiceError::NotFound {
                what: "report",
                id: id.to_string(),
            })?;
        let held_version = stored.report["version"].as_u64().unwrap_or(1);
        let version = u64::from(r.effective_version());
        if version <= held_version {
            return Err(ServiceError::Conflict(format!(
                "report `{id}` is at version {held_version}; an update needs a higher `version` (this one is {version})"
            )));
        }
        // STIX consumers take (id, modified) for one version: a new version must be written
        // later than the one it replaces.
        let before: Option<Report> = serde_json::from_value(stored.report.clone()).ok();
        if let Some(before) = before.filter(|b| r.modified() <= b.modified()) {
            return Err(ServiceError::Invalid(vec![Violation::new(
                "/updated_at",
                format!(
                    "a new version needs `updated_at` later than the last version's ({}); STIX peers tell versions apart by it",
                    before.modified()
                ),
            )]));
        }
        self.put_report(&self.stored(&r))?;
        let mut names: Vec<String> = self
            .store
            .holdings(id)?
            .into_iter()
            .filter(|h| h.state != HoldingState::Retracted)
            .map(|h| h.peer.to_string())
            .collect();
        for rule in self.routing.iter().filter(|rule| rule.matches(&r)) {
            for p in &rule.peers {
                if !names.contains(p) {
                    names.push(p.clone());
                }
            }
        }
        // A holder since removed from the list of peers is skipped, not an error.
        let peers: Vec<Peer> = names
            .iter()
            .filter_map(|n| n.parse::<PeerId>().ok())
            .map(|p| self.store.peer(&p))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect();
        tracing::info!(version, holders = peers.len(), "report updated");
        self.share_report(&r, id, &peers, &Origin::Own, None, Mode::Update)
    }

    /// Retracts a report from every peer that holds it (DESIGN.md section 10).
    #[tracing::instrument(skip_all, fields(report.id = %id))]
    pub fn retract(&self, id: &ReportId, reason: &str) -> Result<Vec<ShareOutcome>, ServiceError> {
        if reason.trim().is_empty() {
            return Err(ServiceError::Invalid(vec![Violation::new(
                "/reason",
                "a retraction says why",
            )]));
        }
        let holdings = self.holders(id)?;
        let mut out = Vec::new();
        for h in holdings {
            if let Some(o) = self.retract_holding(&h, reason)? {
                out.push(o);
            }
        }
        Ok(out)
    }

    /// Queues a signed retraction of what `h` records (its version and message) to its
    /// peer, with the ledger entry in the same write, and marks the holding retracted.
    /// `None` when there is nothing to take back (already retracted, or the peer is gone).
    pub(super) fn retract_holding(
        &self,
        h: &Holding,
        reason: &str,
    ) -> Result<Option<ShareOutcome>, ServiceError> {
        if matches!(h.state, HoldingState::Retracted | HoldingState::Superseded) {
            return Ok(None);
        }
        let Some(peer) = self.store.peer(&h.peer)? else {
            return Ok(None);
        };
        let now = self.clock.now();
        let marking = h.marking.unwrap_or(Tlp::Amber);
        // Every version it was sent, and the messages that carried them (a holding of an
        // earlier release knows only its last).
        let sent = if h.sent.is_empty() {
            vec![(h.version, h.message_id)]
        } else {
            h.sent.clone()
        };
        let message_id = MessageId(uuid::Uuid::new_v4());
        let mut doc = crate::exchange::inbound::RetractionDoc {
            report: h.report_id.to_string(),
            versions: {
                // A version sent twice (resend) is taken back once.
                let mut v: Vec<u32> = sent.iter().map(|(v, _)| *v).collect();
                v.sort_unstable();
                v.dedup();
                v
            },
            messages: sent.iter().map(|(_, m)| *m).collect(),
            reason: reason.to_string(),
            objects: Vec::new(),
        };
        // A STIX peer also gets the objects re-issued `revoked: true`, and its TAXII
        // collection serves them so (DESIGN.md section 10).
        if peer.format == Format::Stix {
            doc.objects = self.publish_revoked(&peer.id, &doc.messages, message_id)?;
        }
        let mut entry = EntryBody::new(
            rfc3339(now),
            Event::Retracted,
            h.report_id.clone(),
            peer.id.clone(),
        );
        entry.reason = Some(format!(
            "retraction of version(s) {}: {reason}",
            doc.versions
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ));
        entry.marking = Some(marking);
        entry.message_id = Some(message_id);
        let envelope = Envelope {
            from: &self.team.id,
            to: &peer.id,
            id: message_id,
            now,
        };
        let key = &self.key.current().0;
        let sealed = match peer.transport {
            Transport::Irtx => Some(outbound::seal_retraction(&doc, marking, envelope, key)),
            // A peer's own TAXII server knows no retraction message: it gets the revoked
            // objects, as an envelope like any push.
            Transport::Taxii21 if !doc.objects.is_empty() => {
                let bundle = serde_json::json!({
                    "type": "bundle",
                    "id": format!("bundle--{}", uuid::Uuid::new_v4()),
                    "objects": doc.objects,
                });
                Some(outbound::seal(bundle, Format::Stix, marking, envelope, key))
            }
            Transport::Taxii21 => {
                note(
                    &mut entry,
                    "a TAXII server of the peer's: no STIX object to revoke",
                );
                None
            }
            Transport::TaxiiPull => {
                note(
                    &mut entry,
                    "its TAXII collection serves the objects re-issued revoked",
                );
                None
            }
        };
        match sealed {
            Some(sealed) => {
                let item = queued(&h.report_id, &peer.id, &sealed, now);
                entry.message_sha256 = Some(sealed.sha256);
                self.record_with(entry, |store, e| store.enqueue_recorded(&item, e))?;
                self.wake.peer(&peer.id);
            }
            None => self.record(entry)?,
        }
        self.store.put_holding(&Holding {
            state: HoldingState::Retracted,
            at: rfc3339(now),
            reason: Some(reason.to_string()),
            ..h.clone()
        })?;
        tracing::info!(peer.id = %peer.id, report.id = %h.report_id, version = h.version, "retraction queued");
        Ok(Some(ShareOutcome {
            peer: peer.id.clone(),
            decision: Event::Retracted,
            cause: None,
            reason: Some(reason.to_string()),
            message_id: Some(message_id),
            removed: vec![],
            marking: Some(marking),
        }))
    }

    /// Who holds which version of a report, in which form and state.
    /// (A report made from an alert, `alert:<id>`, is known by its holdings alone.)
    pub fn holders(&self, id: &ReportId) -> Result<Vec<Holding>, ServiceError> {
        let held = self.store.holdings(id)?;
        if held.is_empty() && self.store.report(id)?.is_none() {
            return Err(ServiceError::NotFound {
                what: "report",
                id: id.to_string(),
            });
        }
        Ok(held)
    }

    /// Shares a received or imported alert onward (DESIGN.md sections 5 and 9): the TLP
    /// audience rules decide per peer, with the source's recorded permission for service
    /// providers; the peer's profile applies; each decision is recorded with the alert's
    /// source. The alert is read into the report form (`intake`) and shared under the id
    /// `alert:<alert id>`.
    #[tracing::instrument(skip_all, fields(alert.id = %alert_id))]
    pub fn share_alert(
        &self,
        alert_id: &str,
        peers: &[String],
    ) -> Result<Vec<ShareOutcome>, ServiceError> {
        let alert = self
            .store
            .alert(alert_id)?
            .ok_or_else(|| ServiceError::NotFound {
                what: "alert",
                id: alert_id.to_string(),
            })?;
        if let Some(r) = &alert.retracted {
            return Err(ServiceError::Conflict(format!(
                "alert `{alert_id}` was retracted by its sender at {} ({}); it is kept for audit and never shared onward",
                r.at, r.reason
            )));
        }
        let received = crate::report::Timestamp::parse(&alert.received_at)
            .unwrap_or(crate::report::Timestamp(self.clock.now()));
        let doc = crate::intake::Document {
            pointer: String::new(),
            format: alert.format,
            value: alert.document.clone(),
        };
        let mut report = match crate::intake::read(&doc, alert.tlp, received) {
            crate::intake::Intake::Ready(r) => r.report,
            crate::intake::Intake::Quarantine(reasons) | crate::intake::Intake::Refuse(reasons) => {
                return Err(ServiceError::Conflict(format!(
                    "alert `{alert_id}` cannot be read for onward sharing: {}",
                    reasons.join("; ")
                )))
            }
        };
        // Never lower than it came: the label it was received under covers it all.
        report.tlp = report.tlp.max(alert.tlp);
        let report_id: ReportId = crate::intake::report_id_of_alert(&alert.id)
            .parse()
            .map_err(|e| ServiceError::Corrupt(format!("alert id `{}`: {e}", alert.id)))?;
        report.id = Some(report_id.to_string());
        let (provider_permission, via) = match &alert.source {
            crate::store::AlertSource::Peer { sender, .. } => (
                self.store
                    .peer(sender)?
                    .is_some_and(|p| p.provider_permission),
                "peer".to_string(),
            ),
            crate::store::AlertSource::Taxii { taxii } => (
                self.store
                    .peer(&taxii.peer)?
                    .is_some_and(|p| p.provider_permission),
                "taxii inbox (token, unsigned)".to_string(),
            ),
            crate::store::AlertSource::Import { import } => (
                import.provider_permission,
                format!("import of {}", import.file),
            ),
        };
        let source = alert.source.name();
        let origin = Origin::Received {
            source: source.clone(),
            provider_permission,
        };
        let onward = crate::disclosure::Onward {
            alert_id: alert.id.clone(),
            source,
            via,
            received_as: alert.tlp,
            provider_permission,
        };
        let peers = self.known_peers(peers, "/peers")?;
        self.share_report(
            &report,
            &report_id,
            &peers,
            &origin,
            Some(&onward),
            Mode::Share,
        )
    }

    fn share_report(
        &self,
        report: &Report,
        report_id: &ReportId,
        peers: &[Peer],
        origin: &Origin,
        onward: Option<&crate::disclosure::Onward>,
        mode: Mode,
    ) -> Result<Vec<ShareOutcome>, ServiceError> {
        let digest = report_digest(report);
        let version = report.effective_version();
        let holdings = self.store.holdings(report_id)?;
        let sharing = Sharing {
            report,
            id: report_id,
            digest: &digest,
            onward,
        };
        // Peers that see the report alike get one conversion between them.
        let mut renderer =
            exchange::Renderer::new(report, origin, &self.profiles, &self.keys, &self.team)
                .remember(peers.len() > 1);
        let mut out = Vec::new();
        // What is queued and published for each peer is applied as it goes and made durable
        // by one sync for them all, before the answer (also when a peer's write failed).
        let shared = peers.iter().try_for_each(|peer| {
            let held = holdings.iter().find(|h| h.peer == peer.id);
            if let Some(h) = held.filter(|h| {
                mode != Mode::Resend
                    && h.report_digest == digest
                    && h.view == peer.view()
                    && h.state == HoldingState::Current
            }) {
                out.push(ShareOutcome {
                    peer: peer.id.clone(),
                    decision: Event::Held,
                    cause: None,
                    reason: Some(format!(
                        "`{}` already holds version {} of this report (message {}); nothing sent (resend to send it again)",
                        peer.id, h.version, h.message_id
                    )),
                    message_id: None,
                    removed: vec![],
                    marking: None,
                });
                return Ok(());
            }
            // What the peer holds once a message is queued or published goes into the same
            // write as the peer's collection (or on its own for IODEF).
            let outcome = self.share_one(&sharing, &mut renderer, peer, held)?;
            // It holds an earlier version it may no longer have: taken back.
            if outcome.decision == Event::Withheld && mode == Mode::Update {
                if let Some(h) = held.filter(|h| h.state != HoldingState::Retracted) {
                    self.retract_holding(
                        h,
                        &format!(
                            "version {version} may not go to it: {}",
                            outcome.reason.clone().unwrap_or_default()
                        ),
                    )?;
                }
            }
            out.push(outcome);
            Ok::<(), ServiceError>(())
        });
        self.store.sync()?;
        shared.map(|()| out)
    }

    /// Decides, renders, seals and queues (or publishes) one report for one peer, and
    /// records the decision; `held` is what the peer held of the report before.
    fn share_one(
        &self,
        sharing: &Sharing<'_>,
        renderer: &mut exchange::Renderer<'_>,
        peer: &Peer,
        held: Option<&Holding>,
    ) -> Result<ShareOutcome, ServiceError> {
        let Sharing {
            report,
            id: report_id,
            digest,
            onward,
        } = *sharing;
        let now = self.clock.now();
        let mut entry = EntryBody::new(
            rfc3339(now),
            Event::Queued,
            report_id.clone(),
            peer.id.clone(),
        );
        entry.report_digest = Some(digest.to_string());
        entry.profile = Some(peer.profile.clone());
        entry.format = Some(peer.format);
        entry.onward = onward.cloned();
        let ready = match renderer.for_peer(peer) {
            Ok(r) => match r.outcome {
                Outcome::Ready(ready) => {
                    entry.key_domain = Some(r.key_domain);
                    ready
                }
                Outcome::Withheld(w) => {
                    let cause = exchange::withheld_cause(&w);
                    return self.not_sent(
                        EntryBody {
                            event: Event::Withheld,
                            ..entry
                        }
                        .because(cause, w.to_string()),
                    );
                }
            },
            Err(e) => {
                return self.not_sent(
                    EntryBody {
                        event: Event::Error,
                        ..entry
                    }
                    .because(e.cause(), e.to_string()),
                )
            }
        };
        let removed: Vec<Removal> = ready
            .plan
            .removed
            .iter()
            .chain(&ready.anonymized.removed)
            .cloned()
            .collect();
        let replaced: HashMap<&str, &str> = ready
            .anonymized
            .replacements
            .iter()
            .map(|r| (r.original.as_str(), r.pseudonym.as_str()))
            .collect();
        entry.indicators = ready
            .plan
            .report
            .indicators
            .iter()
            .map(|i| Disclosed {
                value: i.value.clone(),
                sent_as: replaced
                    .get(i.value.as_str())
                    .map_or(i.value.clone(), |p| p.to_string()),
            })
            .collect();
        entry.removed = removed.clone();
        entry.marking = Some(ready.marking);
        // Canonicalized once: for the digest the ledger records and for the message.
        let canonical = envelope::canonical(&ready.document);
        entry.document_sha256 = Some(envelope::sha256_hex(&canonical));
        let message_id = MessageId(uuid::Uuid::new_v4());
        entry.message_id = Some(message_id);
        // What the peer holds once this is queued or published: this version, after the
        // versions sent before (unless those were taken back).
        let version = report.effective_version();
        let mut sent = held
            .filter(|h| h.state != HoldingState::Retracted)
            .map(|h| h.sent.clone())
            .unwrap_or_default();
        sent.push((version, message_id));
        let holding = Holding {
            report_id: report_id.clone(),
            peer: peer.id.clone(),
            version,
            sent,
            report_digest: digest.to_string(),
            message_id,
            format: peer.format,
            marking: Some(ready.marking),
            view: peer.view(),
            state: HoldingState::Current,
            at: rfc3339(now),
            reason: None,
        };
        if peer.transport == Transport::TaxiiPull {
            // Nothing is pushed: the document goes into the peer's collection, with its
            // ledger entry in the same write, and the peer pulls it.
            entry.event = Event::Published;
            self.publish(
                &peer.id,
                report_id,
                message_id,
                ready.document,
                Some(entry),
                Some(&holding),
            )?;
            return Ok(ShareOutcome {
                peer: peer.id.clone(),
                decision: Event::Published,
                cause: None,
                reason: None,
                message_id: Some(message_id),
                removed,
                marking: Some(ready.marking),
            });
        }
        let mut sealed = outbound::seal_canonical(
            ready.document,
            &canonical,
            peer.format,
            ready.marking,
            Envelope {
                from: &self.team.id,
                to: &peer.id,
                id: message_id,
                now,
            },
            &self.key.current().0,
        );
        let item = queued(report_id, &peer.id, &sealed, now);
        entry.message_sha256 = Some(sealed.sha256.clone());
        // The message and its ledger entry are written together, or not at all; durable
        // before the share answers (`share_report` syncs once for every peer) and before
        // the message leaves (the worker syncs before it sends).
        self.record_applied(entry, |store, e| store.enqueue_recorded(&item, e))?;
        // The worker may deliver it while the rest of the decision (the peer's collection,
        // what it holds) is written.
        self.wake.peer(&peer.id);
        if peer.format == Format::Stix {
            // What was pushed, the peer may also pull: its TAXII collection holds every
            // STIX disclosure to it.
            self.publish(
                &peer.id,
                report_id,
                message_id,
                // The queued message holds its own signed bytes: this copy is not needed.
                std::mem::take(&mut sealed.message.document),
                None,
                Some(&holding),
            )?;
        } else {
            self.store.put_holding(&holding)?;
        }
        tracing::info!(peer.id = %peer.id, message.id = %sealed.message.id, tlp = %ready.marking, "message queued for peer");
        Ok(ShareOutcome {
            peer: peer.id.clone(),
            decision: Event::Queued,
            cause: None,
            reason: None,
            message_id: Some(sealed.message.id),
            removed,
            marking: Some(ready.marking),
        })
    }

    /// Records a decision that sends nothing.
    fn not_sent(&self, entry: EntryBody) -> Result<ShareOutcome, ServiceError> {
        tracing::info!(peer.id = %entry.peer, decision = %entry.event, cause = ?entry.cause, "nothing sent to peer");
        let out = ShareOutcome {
            peer: entry.peer.clone(),
            decision: entry.event,
            cause: entry.cause,
            reason: entry.reason.clone(),
            message_id: None,
            removed: vec![],
            marking: None,
        };
        self.record(entry)?;
        Ok(out)
    }

    /// Marks a dead-lettered message for another round of attempts; `by` says who asked.
    pub fn retry(&self, seq: u64, by: &str) -> Result<OutboxItem, ServiceError> {
        let mut item = self
            .store
            .outbox_item(seq)?
            .ok_or_else(|| ServiceError::NotFound {
                what: "outbox entry",
                id: seq.to_string(),
            })?;
        if !matches!(
            item.state,
            DeliveryState::DeadLettered | DeliveryState::Refused
        ) {
            return Err(ServiceError::Conflict(format!(
                "outbox entry {seq} is {}, not dead-lettered or refused",
                item.state.as_str()
            )));
        }
        item.state = DeliveryState::Failing;
        item.attempts = 0;
        item.next_attempt_ms = 0;
        let mut entry = EntryBody::new(
            rfc3339(self.clock.now()),
            Event::Retried,
            item.report_id.clone(),
            item.peer.clone(),
        );
        entry.reason = Some(format!("retried by {by}"));
        entry.message_id = Some(item.message_id);
        entry.message_sha256 = Some(item.sha256.clone());
        self.record_with(entry, |store, e| {
            store.update_outbox_recorded(seq, &item, e)
        })?;
        Metrics::count(&self.metrics.deliveries, "retried");
        self.wake.peer(&item.peer);
        Ok(item)
    }
}
