//! One message as an analyst asks about it (DESIGN.md section 6: what did we tell a peer,
//! when, in what form, and did they get it): the document as sent, where its delivery
//! stands, every ledger entry that names it, and the peer's signed receipt, verified now
//! against the keys the peer is known by.

use serde::Serialize;
use serde_json::Value;

use super::{Gateway, ServiceError};
use crate::disclosure::Entry;
use crate::envelope::{self, Jws, MessageId};
use crate::exchange::inbound::trusted_keys;
use crate::exchange::outbound::{check_receipt, Expected};
use crate::peer::PeerId;
use crate::report::ReportId;
use crate::store::{DeliveryState, FoundMessage, OutboxItem};

/// A message, with everything known of it.
#[derive(Debug, Clone, Serialize)]
pub struct MessageView {
    /// The message.
    pub message_id: MessageId,
    /// The report it carried.
    pub report_id: ReportId,
    /// The peer it went to.
    pub peer: PeerId,
    /// Where it stands: `queued`, `failing`, `dead-lettered`, `delivered`, `refused`,
    /// `published` (in a pull-only peer's collection), or the last ledger event.
    pub state: String,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// The last failure, decoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// `stix-2.1`, `iodef-2` or `retraction`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// The document exactly as it was signed and sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<Value>,
    /// The peer's receipt, checked now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt: Option<ReceiptView>,
    /// What a peer's TAXII server answered (unsigned).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taxii_status: Option<Value>,
    /// Pulls of it from the peer's TAXII collection.
    pub pulls: u64,
    /// Every ledger entry that names it, oldest first.
    pub entries: Vec<Entry>,
}

/// A signed receipt, as verified on display.
#[derive(Debug, Clone, Serialize)]
pub struct ReceiptView {
    /// `accepted`, `duplicate` or `rejected`.
    pub status: String,
    /// The receiver's reasons.
    pub reasons: Vec<String>,
    /// When the peer says it received the message.
    pub received: String,
    /// The key id that signed it.
    pub kid: String,
    /// The signature verifies with a key the peer is known by, and the receipt names this
    /// message, its digest, us and the peer.
    pub verified: bool,
    /// Why it does not verify.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// The receipt as received.
    pub jws: Jws,
}

/// Where a message's delivery stands, read from its outbox record alone: what a wait for
/// the message answers, without the document, the ledger entries, or the receipt checked
/// again ([`MessageView`] has those).
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryView {
    /// The message.
    pub message_id: MessageId,
    /// The report it carried.
    pub report_id: ReportId,
    /// The peer it goes to.
    pub peer: PeerId,
    /// `queued`, `failing`, `dead-lettered`, `refused` or `delivered`; for a message never
    /// queued (in a pull-only peer's collection), its last ledger event (`published`,
    /// `retracted`).
    pub state: String,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// The last failure, decoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When the receipt (or a TAXII server's status) arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<String>,
    /// The peer's signed receipt, as it was verified when it arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt: Option<ArrivedReceipt>,
    /// What a peer's TAXII server answered (unsigned).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub taxii_status: Option<Value>,
}

/// A receipt as the delivery worker took it: only a receipt that verifies (signed by a key
/// the peer was known by, naming this message, its digest, us and the peer) counts as a
/// delivery.
#[derive(Debug, Clone, Serialize)]
pub struct ArrivedReceipt {
    /// `accepted` or `duplicate`.
    pub status: envelope::ReceiptStatus,
    /// The receiver's reasons.
    pub reasons: Vec<String>,
    /// When the peer says it received the message.
    pub received: String,
    /// Verified on arrival (always: an unverified receipt delivers nothing).
    pub verified: bool,
}

impl DeliveryView {
    /// Where a message stands, with nothing more known of its delivery.
    fn stands(message_id: MessageId, report_id: ReportId, peer: PeerId, state: String) -> Self {
        DeliveryView {
            message_id,
            report_id,
            peer,
            state,
            attempts: 0,
            last_error: None,
            delivered_at: None,
            receipt: None,
            taxii_status: None,
        }
    }

    /// A message queued, with its attempts so far.
    fn of_item(item: OutboxItem, state: String) -> Self {
        DeliveryView {
            attempts: item.attempts,
            last_error: item.last_error,
            ..Self::stands(item.message_id, item.report_id, item.peer, state)
        }
    }

    /// Still to be delivered (queued, or failing and to be tried again).
    pub fn is_pending(&self) -> bool {
        self.state
            .parse::<DeliveryState>()
            .is_ok_and(DeliveryState::is_pending)
    }
}

impl Gateway {
    /// Where the delivery of message `id` stands: `None` when nothing names it.
    pub fn delivery(&self, id: &MessageId) -> Result<Option<DeliveryView>, ServiceError> {
        Ok(match self.store.find_message(id)? {
            Some(FoundMessage::Outbox(_, item)) => {
                let state = item.state.as_str().to_string();
                Some(DeliveryView::of_item(*item, state))
            }
            Some(FoundMessage::Delivered(_, d)) => {
                let d = *d;
                Some(DeliveryView {
                    delivered_at: Some(d.delivered_at),
                    receipt: d.receipt.map(|r| ArrivedReceipt {
                        status: r.status,
                        reasons: r.reasons,
                        received: r.received,
                        verified: true,
                    }),
                    taxii_status: d.taxii_status,
                    ..DeliveryView::of_item(d.item, "delivered".into())
                })
            }
            // Never queued: what the ledger says of it.
            None => self
                .store
                .ledger_of_message(id)?
                .split_first()
                .map(|(first, rest)| {
                    DeliveryView::stands(
                        *id,
                        first.body.report_id.clone(),
                        first.body.peer.clone(),
                        rest.last().unwrap_or(first).body.event.to_string(),
                    )
                }),
        })
    }

    /// Everything known of message `id`: `None` when no ledger entry names it.
    pub fn message(&self, id: &MessageId) -> Result<Option<MessageView>, ServiceError> {
        let entries = self.store.ledger_of_message(id)?;
        let Some(first) = entries.first() else {
            return Ok(None);
        };
        let (report_id, peer) = (first.body.report_id.clone(), first.body.peer.clone());
        let mut view = MessageView {
            message_id: *id,
            report_id,
            peer,
            state: entries
                .last()
                .map(|e| e.body.event.to_string())
                .unwrap_or_default(),
            attempts: 0,
            last_error: None,
            format: None,
            document: None,
            receipt: None,
            taxii_status: None,
            pulls: 0,
            entries,
        };
        let jws = match self.store.find_message(id)? {
            Some(FoundMessage::Outbox(_, item)) => {
                view.state = item.state.as_str().to_string();
                view.attempts = item.attempts;
                view.last_error = item.last_error;
                Some(item.jws)
            }
            Some(FoundMessage::Delivered(_, d)) => {
                view.state = "delivered".into();
                view.attempts = d.item.attempts;
                view.taxii_status = d.taxii_status;
                Some(d.item.jws)
            }
            None => None,
        };
        if let Some(jws) = jws {
            if let Ok(opened) = envelope::open(&jws) {
                if let Ok(m) = serde_json::from_slice::<Value>(&opened.payload) {
                    view.format = m["format"].as_str().map(str::to_string);
                    view.document = Some(m["document"].clone());
                }
            }
        }
        view.pulls = self
            .store
            .taxii_pulls(super::taxii::collection(&view.peer), id)?;
        if view.document.is_none() {
            // A pull-only peer's disclosure lives in its collection.
            view.document = self.published_document(&view.peer, id)?;
            if view.document.is_some() {
                view.format = Some(crate::peer::Format::Stix.wire_name().into());
            }
        }
        view.receipt = self.receipt_view(&view)?;
        Ok(Some(view))
    }

    /// The receipt of the latest entry that carries one, verified against the peer's keys.
    fn receipt_view(&self, view: &MessageView) -> Result<Option<ReceiptView>, ServiceError> {
        let Some(entry) = view.entries.iter().rev().find(|e| e.body.receipt.is_some()) else {
            return Ok(None);
        };
        let jws = entry.body.receipt.clone().expect("found with a receipt");
        let opened = envelope::open(&jws).ok();
        let claimed: Option<envelope::Receipt> = opened
            .as_ref()
            .and_then(|o| serde_json::from_slice(&o.payload).ok());
        let kid = opened.map(|o| o.kid).unwrap_or_default();
        let keys = self.keys_of(&view.peer)?;
        let sha = entry.body.message_sha256.clone().unwrap_or_default();
        let checked = check_receipt(
            &jws,
            Expected {
                message_id: &view.message_id,
                sha256: &sha,
                us: &self.team.id,
                peer: &view.peer,
            },
            &keys,
        );
        let (verified, problem) = match &checked {
            Ok(_) => (true, None),
            Err(e) => (false, Some(e.to_string())),
        };
        let shown = checked.ok().or(claimed);
        Ok(Some(ReceiptView {
            status: shown
                .as_ref()
                .map(|r| {
                    serde_json::to_value(r.status)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default()
                })
                .unwrap_or_else(|| "unreadable".into()),
            reasons: shown
                .as_ref()
                .map(|r| r.reasons.clone())
                .unwrap_or_default(),
            received: shown.map(|r| r.received).unwrap_or_default(),
            kid,
            verified,
            problem,
            jws,
        }))
    }

    /// Checks, now, a message a peer signed (an alert's message as received) against the
    /// keys the peer is known by: `Ok` with the key that verifies it, or `Err` with why it
    /// does not, each said for a person.
    pub fn check_signed(
        &self,
        sender: &PeerId,
        jws: &Jws,
    ) -> Result<Result<String, String>, ServiceError> {
        let keys = self.keys_of(sender)?;
        let opened = match envelope::open(jws) {
            Ok(o) => o,
            Err(e) => return Ok(Err(format!("NOT verified: {e}"))),
        };
        let Some(key) = keys.iter().find(|k| k.kid == opened.kid) else {
            return Ok(Err(format!(
                "NOT verified: `{sender}` is not known by key `{}` (any more)",
                opened.kid
            )));
        };
        Ok(match opened.verify(&key.key) {
            Ok(_) => Ok(format!("verified with `{sender}`'s key `{}`", opened.kid)),
            Err(_) => Err(format!(
                "NOT verified: the signature does not match key `{}`",
                opened.kid
            )),
        })
    }

    /// The keys the peer is known by (none when it is not).
    fn keys_of(
        &self,
        peer: &PeerId,
    ) -> Result<Vec<crate::exchange::inbound::TrustedKey>, ServiceError> {
        Ok(self
            .store
            .peer(peer)?
            .map(|p| trusted_keys(&p))
            .unwrap_or_default())
    }
}
