//! Outbox delivery. Per peer, messages go in the order they were queued: the head of a
//! peer's queue is retried with exponential backoff and jitter until a valid signed receipt
//! comes back or the attempts run out (dead letter, which an analyst sees and may retry).
//! Each peer's queue is worked by its own task, so a peer that is down, answers 500 or hangs
//! never delays another peer.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::watch;

use super::{now_ms, peer_keys, Gateway, Metrics};
use crate::envelope::{Jws, ReceiptStatus};
use crate::exchange::outbound::{check_receipt, rfc3339, Expected};
use crate::store::{Delivered, DeliveryState, OutboxItem};

/// What one attempt came to.
#[derive(Debug)]
enum Attempt {
    /// A valid receipt: accepted or duplicate.
    Delivered(Box<Delivered>),
    /// Try again later.
    Retry(String),
    /// The peer refused it for good (a 4xx): no point in retrying.
    Refused(String),
}

/// The largest receipt we read.
const MAX_RECEIPT_BYTES: usize = 1 << 20;

impl Gateway {
    /// Backoff before attempt `attempts + 1`: base * 2^(attempts-1), capped, times a random
    /// factor in [0.5, 1) so peers that failed together do not retry together.
    fn backoff(&self, attempts: u32) -> Duration {
        let d = &self.config.delivery;
        let exp = d
            .base_delay_ms
            .saturating_mul(1u64 << attempts.saturating_sub(1).min(30))
            .min(d.max_delay_ms);
        let mut b = [0u8; 2];
        let _ = getrandom::fill(&mut b);
        let jitter = 0.5 + f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX) / 2.0;
        Duration::from_millis((exp as f64 * jitter) as u64)
    }

    #[tracing::instrument(skip_all, fields(peer.id = %item.peer, message.id = %item.message_id, attempt = item.attempts + 1))]
    async fn attempt(&self, item: &OutboxItem) -> Attempt {
        let Ok(Some(peer)) = self.store.peer(&item.peer) else {
            return Attempt::Retry(format!("peer `{}` is not configured", item.peer));
        };
        let url = format!("{}/exchange/v1/messages", peer.url.trim_end_matches('/'));
        let body = serde_json::to_vec(&item.jws).expect("a JWS serializes");
        let resp = match self
            .client
            .post(&url)
            .header("content-type", "application/jose+json")
            .body(body)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => return Attempt::Retry(format!("cannot reach `{}`: {}", peer.id, short(e))),
        };
        let status = resp.status().as_u16();
        let bytes = match resp.bytes().await {
            Ok(b) if b.len() <= MAX_RECEIPT_BYTES => b,
            Ok(_) => return Attempt::Retry(format!("answer over {MAX_RECEIPT_BYTES} bytes")),
            Err(e) => return Attempt::Retry(format!("reading the answer: {}", short(e))),
        };
        let expected = Expected {
            message_id: &item.message_id,
            sha256: &item.sha256,
            us: self.team.id.as_str(),
            peer: &peer.id,
        };
        let receipt = serde_json::from_slice::<Jws>(&bytes)
            .map_err(|e| format!("the answer is not a receipt: {e}"))
            .and_then(|jws| check_receipt(&jws, expected, &peer_keys(&peer)).map(|r| (jws, r)));
        match (status, receipt) {
            (200, Ok((jws, r))) if r.status != ReceiptStatus::Rejected => {
                Attempt::Delivered(Box::new(Delivered {
                    item: item.clone(),
                    receipt_jws: jws,
                    receipt: r,
                    delivered_at: rfc3339(OffsetDateTime::now_utc()),
                }))
            }
            (400..=499, Ok((_, r))) if status != 408 && status != 429 => {
                Attempt::Refused(format!("{status}: {}", r.reasons.join("; ")))
            }
            (400..=499, Err(_)) if status != 408 && status != 429 => {
                let text = String::from_utf8_lossy(&bytes);
                Attempt::Refused(format!(
                    "{status}: {}",
                    text.chars().take(500).collect::<String>()
                ))
            }
            (_, Err(why)) => Attempt::Retry(format!("{status}: {why}")),
            (_, Ok((_, r))) => Attempt::Retry(format!("{status}: receipt {:?}", r.status)),
        }
    }

    /// Works one peer's queue: delivers due messages in order until the queue is empty or an
    /// attempt fails. Returns how many were delivered.
    pub async fn deliver_peer(&self, peer: &str) -> usize {
        let mut delivered = 0;
        loop {
            let head = match self.store.outbox_head(peer) {
                Ok(h) => h,
                Err(e) => {
                    tracing::error!(peer.id = %peer, error = %e, "cannot read the outbox");
                    return delivered;
                }
            };
            let Some((seq, mut item)) = head else {
                return delivered;
            };
            if item.next_attempt_ms > now_ms() {
                return delivered;
            }
            match self.attempt(&item).await {
                Attempt::Delivered(d) => {
                    Metrics::count(&self.metrics.deliveries, "delivered");
                    // The delivery and its ledger entry are written together.
                    let body =
                        self.state_entry(&item, "delivered", None, Some(d.receipt_jws.clone()));
                    let store = self.store.as_ref();
                    let written = self.ledger.append_with(
                        store,
                        body,
                        self.team.id.as_str(),
                        &self.key.0,
                        |entry| store.mark_delivered_recorded(seq, &d, entry),
                    );
                    if let Err(e) = written {
                        tracing::error!(peer.id = %peer, error = %e, "cannot record a delivery");
                        return delivered;
                    }
                    tracing::info!(peer.id = %peer, message.id = %item.message_id, status = ?d.receipt.status, "message delivered; receipt stored");
                    delivered += 1;
                }
                outcome => {
                    item.attempts += 1;
                    let (why, permanent) = match outcome {
                        Attempt::Retry(w) => (w, false),
                        Attempt::Refused(w) => (w, true),
                        Attempt::Delivered(_) => unreachable!("handled above"),
                    };
                    item.last_error = Some(why.clone());
                    // A peer's reasons may quote the document: logs get only the cause's head;
                    // the full text is in the outbox for the analyst.
                    let cause = why.split(':').next().unwrap_or("").to_string();
                    if permanent || item.attempts >= self.config.delivery.max_attempts {
                        item.state = DeliveryState::DeadLettered;
                        Metrics::count(&self.metrics.deliveries, "dead-lettered");
                        tracing::error!(peer.id = %peer, message.id = %item.message_id, attempts = item.attempts, "delivery to `{peer}` gave up; message dead-lettered ({cause}); see the outbox");
                    } else {
                        item.state = DeliveryState::Failing;
                        let delay = self.backoff(item.attempts);
                        item.next_attempt_ms = now_ms() + delay.as_millis() as i64;
                        Metrics::count(&self.metrics.deliveries, "retry");
                        tracing::warn!(peer.id = %peer, message.id = %item.message_id, attempt = item.attempts, retry_in_ms = delay.as_millis() as u64, "delivery to `{peer}` failed ({cause}); retrying");
                    }
                    if let Err(e) = self.store.update_outbox(seq, &item) {
                        tracing::error!(peer.id = %peer, error = %e, "cannot record a delivery attempt");
                    }
                    // The ledger records state changes, not every retry.
                    match item.state {
                        DeliveryState::DeadLettered => {
                            let event = if permanent {
                                "refused"
                            } else {
                                "dead-lettered"
                            };
                            self.ledger_state(&item, event, Some(why), None);
                        }
                        _ if item.attempts == 1 => {
                            self.ledger_state(&item, "failing", Some(why), None)
                        }
                        _ => {}
                    }
                    if item.state == DeliveryState::Failing {
                        return delivered;
                    }
                }
            }
        }
    }

    fn ledger_state(
        &self,
        item: &OutboxItem,
        event: &str,
        reason: Option<String>,
        receipt: Option<Jws>,
    ) {
        let body = self.state_entry(item, event, reason, receipt);
        if let Err(e) = self.record(body) {
            tracing::error!(peer.id = %item.peer, error = %e, "cannot append to the ledger");
        }
    }

    /// The ledger entry of a delivery state change.
    fn state_entry(
        &self,
        item: &OutboxItem,
        event: &str,
        reason: Option<String>,
        receipt: Option<Jws>,
    ) -> crate::ledger::chain::EntryBody {
        crate::ledger::chain::EntryBody {
            at: rfc3339(OffsetDateTime::now_utc()),
            event: event.to_string(),
            report_id: item.report_id.clone(),
            peer: item.peer.clone(),
            reason,
            message_id: Some(item.message_id.clone()),
            message_sha256: Some(item.sha256.clone()),
            receipt,
            ..Default::default()
        }
    }

    /// Peers with a message due now (reads one message per pending peer).
    fn due_peers(&self) -> Vec<String> {
        let now = now_ms();
        self.store
            .peers_with_pending()
            .unwrap_or_default()
            .into_iter()
            .filter(|p| {
                self.store
                    .outbox_head(p)
                    .ok()
                    .flatten()
                    .is_some_and(|(_, i)| i.next_attempt_ms <= now)
            })
            .collect()
    }

    /// Works every peer's due queue once, concurrently; returns how many were delivered.
    pub async fn run_once(self: &Arc<Self>) -> usize {
        let mut tasks = tokio::task::JoinSet::new();
        for p in self.due_peers() {
            let g = Arc::clone(self);
            tasks.spawn(async move { g.deliver_peer(&p).await });
        }
        let mut n = 0;
        while let Some(r) = tasks.join_next().await {
            n += r.unwrap_or(0);
        }
        n
    }

    /// The delivery loop: wakes when something is queued or every `poll_ms`, and starts one
    /// task per peer with a due message that has none running. Stops when `stop` turns
    /// true, after the attempts in flight finish; what is left stays in the outbox.
    pub async fn run_worker(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let poll = Duration::from_millis(self.config.delivery.poll_ms);
        let mut tasks = tokio::task::JoinSet::new();
        loop {
            for p in self.due_peers() {
                let fresh = self
                    .in_flight
                    .lock()
                    .expect("in-flight set")
                    .insert(p.clone());
                if fresh {
                    let g = Arc::clone(&self);
                    tasks.spawn(async move {
                        g.deliver_peer(&p).await;
                        g.in_flight.lock().expect("in-flight set").remove(&p);
                    });
                }
            }
            while tasks.try_join_next().is_some() {}
            tokio::select! {
                _ = stop.changed() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(poll) => {}
            }
            if *stop.borrow() {
                break;
            }
        }
        // Let attempts in flight finish (each is bounded by the delivery timeout).
        while tasks.join_next().await.is_some() {}
        tracing::info!("delivery worker stopped; undelivered messages stay in the outbox");
    }
}

/// A one-line error text without the URL's query (no secrets in logs).
fn short(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection refused or unreachable"
    } else {
        "request failed"
    };
    format!("{kind} ({})", e.without_url())
}
