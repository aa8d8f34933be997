//! Receiving a peer's message: read it, look the sender up, run every check, deduplicate,
//! import, and answer with a signed receipt. A store failure anywhere is an error of this
//! call (the API answers 503 and the sender retries), never a policy refusal. Blocking (the
//! store flushes): call it off the async threads.

use serde_json::json;

use super::{Gateway, Metrics, ServiceError};
use crate::envelope::strict::JsonLimits;
use crate::envelope::{Jws, ReceiptStatus};
use crate::exchange::inbound::{self, Limits, RefusalKind};
use crate::exchange::outbound;
use crate::store::{Alert, AlertSource, Imported};
use crate::timestamp::rfc3339;

/// What became of an inbound message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboundOutcome {
    /// Verified and imported.
    Accepted,
    /// Imported before with the same content.
    Duplicate,
    /// Its id was imported before with other content.
    Conflict,
    /// Refused by a check.
    Refused(RefusalKind),
}

/// The answer to an inbound message: the outcome, the signed receipt (where the sender could
/// be identified), and the reasons of a refusal.
#[derive(Debug, Clone)]
pub struct InboundAnswer {
    /// What became of it.
    pub outcome: InboundOutcome,
    /// The signed receipt, addressed to the sender.
    pub receipt: Option<Jws>,
    /// Why it was refused.
    pub reasons: Vec<String>,
    /// The sender, when it is a known peer.
    pub sender: Option<crate::peer::PeerId>,
}

impl Gateway {
    /// Receives a peer's message: every check, deduplication, import, a signed receipt.
    /// `client_cert` is the fingerprint of the TLS client certificate the message came
    /// with: a peer with a pinned certificate must have used it.
    #[tracing::instrument(skip_all)]
    pub fn receive(
        &self,
        body: &[u8],
        client_cert: Option<&str>,
    ) -> Result<InboundAnswer, ServiceError> {
        let now = self.clock.now();
        let x = &self.exchange;
        let limits = Limits {
            replay_window: time::Duration::seconds(x.replay_window_s),
            future_skew: time::Duration::seconds(x.future_skew_s),
            json: JsonLimits {
                max_depth: x.max_json_depth,
                max_string_bytes: x.max_string_bytes,
            },
            max_objects: x.max_objects,
        };
        let parsed = match inbound::parse(body, limits.json) {
            Ok(p) => p,
            Err(refusal) => return self.refused(refusal, body, now),
        };
        // A store error here fails the call: the sender hears 503, not "unknown sender".
        let sender = self.store.peer(&parsed.message.from)?;
        let keys = sender.as_ref().map(inbound::trusted_keys);
        // A peer whose storage quota this message would overflow is refused once it is
        // authentic and before its document costs any validation (the import checks again,
        // in the same write that counts the message). A message larger than the whole quota
        // is checked first: its problems say more than a quota it could never fit.
        let quota = self.exchange.peer_quota();
        let used = match (&sender, quota) {
            (Some(p), Some(_)) => self.store.peer_usage(&p.id)?,
            _ => 0,
        };
        let size = parsed.jws.size();
        let admit = |peer: &crate::peer::PeerId| -> Result<(), String> {
            if self
                .inbound_limit
                .as_ref()
                .is_some_and(|l| l.check_key(peer).is_err())
            {
                return Err(format!("too many messages from `{peer}`; retry later"));
            }
            match quota {
                Some(q) if size <= q && used + size > q => Err(format!(
                    "the storage quota of `{peer}` is full ({used} of {q} bytes); retry later"
                )),
                _ => Ok(()),
            }
        };
        let me = self.team.id.as_str();
        let verified = match inbound::verify(parsed, me, keys.as_deref(), admit, now, limits) {
            Ok(v) => v,
            Err(refusal) => return self.refused(refusal, body, now),
        };
        if let Some(pin) = sender
            .as_ref()
            .and_then(|p| p.client_cert_sha256.as_deref())
        {
            if client_cert != Some(pin) {
                let refusal = inbound::Refusal {
                    kind: RefusalKind::Forbidden,
                    reasons: vec![format!(
                        "`{}` must connect with its pinned TLS client certificate; this connection {}",
                        verified.message.from,
                        if client_cert.is_some() {
                            "used another"
                        } else {
                            "used none"
                        }
                    )],
                    sender: Some(verified.message.from.clone()),
                    message_id: Some(verified.message.id),
                    sha256: Some(verified.sha256.clone()),
                    quarantine: false,
                };
                return self.refused(refusal, body, now);
            }
        }
        let format = match (verified.format, verified.retraction.clone()) {
            (_, Some(r)) => return self.receive_retraction(verified, r, now),
            (Some(f), None) => f,
            (None, None) => {
                return Err(ServiceError::Corrupt(
                    "a verified message with neither a document nor a retraction".into(),
                ))
            }
        };
        // The message's parts move into the alert: a document is never copied.
        let inbound::Verified {
            message,
            jws,
            kid,
            sha256,
            ..
        } = verified;
        let crate::envelope::Message {
            id: message_id,
            from,
            tlp,
            document,
            ..
        } = message;
        let alert = Alert {
            id: uuid::Uuid::new_v4().to_string(),
            source: AlertSource::Peer {
                sender: from.clone(),
                kid,
                message_id,
                jws,
            },
            received_at: rfc3339(now),
            sha256: sha256.clone(),
            tlp,
            format: format.into(),
            document,
            retracted: None,
        };
        // With the alert, the one holding an earlier version of the same report from the same
        // sender, if we hold one.
        let (imported, previous) = self.store.import_superseding(&alert, quota)?;
        let (outcome, status, reasons) = match imported {
            Imported::New => {
                if let Some(prev) = previous.filter(|p| *p != alert.id) {
                    self.pass_on_new_version(&prev, &alert.id)?;
                }
                (InboundOutcome::Accepted, ReceiptStatus::Accepted, vec![])
            }
            Imported::Duplicate => (InboundOutcome::Duplicate, ReceiptStatus::Duplicate, vec![]),
            Imported::Conflict => (
                InboundOutcome::Conflict,
                ReceiptStatus::Rejected,
                vec![format!(
                    "message id `{message_id}` was received before with other content"
                )],
            ),
            Imported::OverQuota { used } => (
                InboundOutcome::Refused(RefusalKind::RateLimited),
                ReceiptStatus::Rejected,
                vec![format!(
                    "the storage quota of `{from}` is full ({used} of {} bytes); retry later",
                    self.exchange.max_bytes_per_peer
                )],
            ),
        };
        let label = match outcome {
            InboundOutcome::Accepted => "accepted",
            InboundOutcome::Duplicate => "duplicate",
            _ => "rejected",
        };
        Metrics::count(&self.metrics.inbound, label);
        tracing::info!(peer.id = %from, message.id = %message_id, tlp = %tlp, outcome = label, "inbound message");
        Ok(self.answer(
            from,
            (&message_id, &sha256),
            (outcome, status),
            reasons,
            now,
        ))
    }

    /// The answer to a verified message: its outcome with our signed receipt.
    fn answer(
        &self,
        sender: crate::peer::PeerId,
        message: (&crate::envelope::MessageId, &str),
        (outcome, status): (InboundOutcome, ReceiptStatus),
        reasons: Vec<String>,
        now: time::OffsetDateTime,
    ) -> InboundAnswer {
        let (_, jws) = outbound::receipt(
            message,
            &self.team.id,
            &sender,
            status,
            reasons.clone(),
            now,
            &self.key.current().0,
        );
        InboundAnswer {
            outcome,
            receipt: Some(jws),
            reasons,
            sender: Some(sender),
        }
    }

    /// A new version of an alert we passed on is, for our onward holders, our own update
    /// (DESIGN.md section 10): each gets the new version, or a retraction of its copy where
    /// our decision no longer lets it have the report.
    fn pass_on_new_version(&self, previous: &str, new: &str) -> Result<(), ServiceError> {
        let prev_report: crate::report::ReportId = crate::intake::report_id_of_alert(previous)
            .parse()
            .map_err(|e| ServiceError::Corrupt(format!("alert id: {e}")))?;
        let holders: Vec<crate::store::Holding> = self
            .store
            .holdings(&prev_report)?
            .into_iter()
            .filter(|h| h.state == crate::store::HoldingState::Current)
            .collect();
        if holders.is_empty() {
            return Ok(());
        }
        let peers: Vec<String> = holders.iter().map(|h| h.peer.to_string()).collect();
        let decisions = match self.share_alert(new, &peers) {
            Ok(d) => d,
            // A peer removed since, say: the update goes to the others another time.
            Err(ServiceError::Invalid(_) | ServiceError::Conflict(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        let new_report: crate::report::ReportId = crate::intake::report_id_of_alert(new)
            .parse()
            .map_err(|e| ServiceError::Corrupt(format!("alert id: {e}")))?;
        let now = rfc3339(self.clock.now());
        for (h, d) in holders.iter().zip(decisions) {
            if d.decision == crate::disclosure::Event::Queued {
                // The new holding carries the whole history, so one retraction takes back
                // every version; the old one is superseded.
                if let Some(mut newer) = self
                    .store
                    .holdings(&new_report)?
                    .into_iter()
                    .find(|x| x.peer == h.peer)
                {
                    let mut sent = if h.sent.is_empty() {
                        vec![(h.version, h.message_id)]
                    } else {
                        h.sent.clone()
                    };
                    sent.extend(newer.sent.iter().copied());
                    newer.sent = sent;
                    self.store.put_holding(&newer)?;
                }
                self.store.put_holding(&crate::store::Holding {
                    state: crate::store::HoldingState::Superseded,
                    at: now.clone(),
                    reason: Some(format!("holds the version passed on as alert:{new}")),
                    ..h.clone()
                })?;
            } else if d.decision == crate::disclosure::Event::Withheld {
                self.retract_holding(
                    h,
                    &format!(
                        "a new version may not go to it: {}",
                        d.reason.unwrap_or_default()
                    ),
                )?;
            }
        }
        tracing::info!(alert.id = %new, holders = holders.len(), "new version passed on to the onward holders");
        Ok(())
    }

    /// A sender takes back what it sent (DESIGN.md section 10): only the alerts its own
    /// messages became are marked retracted (kept for audit, never shared onward again),
    /// every onward copy this gateway sent of them is retracted in turn, and both the
    /// retraction and its answer are recorded. A retraction naming no message of its
    /// sender's changes nothing and is refused.
    fn receive_retraction(
        &self,
        verified: inbound::Verified,
        r: inbound::RetractionDoc,
        now: time::OffsetDateTime,
    ) -> Result<InboundAnswer, ServiceError> {
        let sender = verified.message.from.clone();
        let mut taken = 0;
        let mut already = 0;
        let mut unknown = Vec::new();
        for m in &r.messages {
            let Some(mut alert) = self.store.alert_by_message(&sender, m)? else {
                unknown.push(m.to_string());
                continue;
            };
            if alert.retracted.is_some() {
                already += 1;
                continue;
            }
            // The objects re-issued revoked that are this alert's own.
            let ids: std::collections::HashSet<&str> = alert.document["objects"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|o| o["id"].as_str())
                .collect();
            let revoked = r
                .objects
                .iter()
                .filter(|o| o["id"].as_str().is_some_and(|id| ids.contains(id)))
                .cloned()
                .collect();
            alert.retracted = Some(crate::store::Retracted {
                at: rfc3339(now),
                reason: r.reason.clone(),
                message_id: verified.message.id,
                revoked,
            });
            self.store.put_alert(&alert)?;
            let report_id: crate::report::ReportId = crate::intake::report_id_of_alert(&alert.id)
                .parse()
                .map_err(|e| ServiceError::Corrupt(format!("alert id: {e}")))?;
            let mut entry = crate::disclosure::EntryBody::new(
                rfc3339(now),
                crate::disclosure::Event::Retracted,
                report_id.clone(),
                sender.clone(),
            );
            entry.message_id = Some(verified.message.id);
            entry.message_sha256 = Some(verified.sha256.clone());
            entry.reason = Some(format!(
                "`{sender}` retracted its report `{}` (message {m}): {}",
                r.report, r.reason
            ));
            self.record(entry)?;
            taken += 1;
            // Recall follows the data: every onward copy is taken back too.
            let onward = format!(
                "`{sender}` retracted the alert this was shared from: {}",
                r.reason
            );
            for h in self.store.holdings(&report_id)? {
                self.retract_holding(&h, &onward)?;
            }
            tracing::info!(peer.id = %sender, alert.id = %alert.id, "alert retracted by its sender");
        }
        let (outcome, status, reasons) = if taken > 0 || (already > 0 && unknown.is_empty()) {
            let status = if taken > 0 {
                ReceiptStatus::Accepted
            } else {
                ReceiptStatus::Duplicate
            };
            let outcome = if taken > 0 {
                InboundOutcome::Accepted
            } else {
                InboundOutcome::Duplicate
            };
            (outcome, status, Vec::new())
        } else {
            (
                InboundOutcome::Refused(RefusalKind::Forbidden),
                ReceiptStatus::Rejected,
                vec![format!(
                    "`{sender}` sent no message {} here: only the original sender retracts",
                    unknown.join(", ")
                )],
            )
        };
        let to = verified.message.from.clone();
        Ok(self.answer(
            to,
            (&verified.message.id, &verified.sha256),
            (outcome, status),
            reasons,
            now,
        ))
    }

    /// The answer to a refused message: quarantined where its markings were not exact, a
    /// signed receipt where the sender is known.
    fn refused(
        &self,
        refusal: inbound::Refusal,
        body: &[u8],
        now: time::OffsetDateTime,
    ) -> Result<InboundAnswer, ServiceError> {
        Metrics::count(&self.metrics.inbound, "rejected");
        let refusal = inbound::Refusal {
            reasons: inbound::cap_reasons(refusal.reasons, self.exchange.max_reasons),
            ..refusal
        };
        if refusal.quarantine {
            self.store.quarantine(
                &json!({
                    "received_at": rfc3339(now),
                    "sender": refusal.sender,
                    "message_id": refusal.message_id,
                    "reasons": refusal.reasons,
                    "bytes": body.len(),
                }),
                body,
            )?;
        }
        tracing::warn!(kind = ?refusal.kind, peer.id = ?refusal.sender.as_ref().map(|s| s.as_str()), reasons = refusal.reasons.len(), "inbound message refused");
        self.refusals.note(Refused {
            at: rfc3339(now),
            sender: refusal.sender.clone(),
            message_id: refusal.message_id,
            kind: format!("{:?}", refusal.kind).to_lowercase(),
            reasons: refusal.reasons.clone(),
            quarantined: refusal.quarantine,
        });
        let receipt = match (&refusal.sender, &refusal.message_id, &refusal.sha256) {
            (Some(sender), Some(id), Some(sha)) => Some(
                outbound::receipt(
                    (id, sha),
                    &self.team.id,
                    sender,
                    ReceiptStatus::Rejected,
                    refusal.reasons.clone(),
                    now,
                    &self.key.current().0,
                )
                .1,
            ),
            _ => None,
        };
        Ok(InboundAnswer {
            outcome: InboundOutcome::Refused(refusal.kind),
            receipt,
            reasons: refusal.reasons,
            sender: refusal.sender,
        })
    }
}

/// How many inbound refusals [`RecentRefusals`] keeps.
pub const RECENT_REFUSALS: usize = 200;

/// One inbound message refused, as the analyst sees it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Refused {
    /// When (RFC 3339).
    pub at: String,
    /// Who sent it, when known.
    pub sender: Option<crate::peer::PeerId>,
    /// Its id, when it could be read.
    pub message_id: Option<crate::envelope::MessageId>,
    /// The kind of refusal (`malformed`, `forbidden`, `invalid`, ...).
    pub kind: String,
    /// Every reason.
    pub reasons: Vec<String>,
    /// Kept in the quarantine (markings not exact).
    pub quarantined: bool,
}

/// The latest [`RECENT_REFUSALS`] inbound refusals, and how many since start.
#[derive(Debug, Default)]
pub struct RecentRefusals {
    inner: std::sync::Mutex<(u64, std::collections::VecDeque<Refused>)>,
}

impl RecentRefusals {
    fn note(&self, r: Refused) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.0 += 1;
        if g.1.len() >= RECENT_REFUSALS {
            g.1.pop_front();
        }
        g.1.push_back(r);
    }

    /// How many since start, and the latest, newest first.
    pub fn latest(&self) -> (u64, Vec<Refused>) {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        (g.0, g.1.iter().rev().cloned().collect())
    }
}
