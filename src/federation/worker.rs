//! Outbox delivery. Per peer, messages go in the order they were queued: the head of a
//! peer's queue is retried with exponential backoff and jitter until a valid signed receipt
//! comes back or the attempts run out (dead letter, which an analyst sees and may retry).
//! Each peer's queue is worked by its own task, at most `[delivery] max_concurrent_peers` at
//! once, so a peer that is down, answers 500 or hangs never delays another peer.
//!
//! Every store step runs on the blocking pool (sled flushes), never on the async threads; the
//! network attempt is the only await in between. Tests drive the worker a step at a time with
//! [`Gateway::run_once`] and a manual clock.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{watch, Notify, Semaphore};

use super::client::{self, Attempt};
use super::{Gateway, Metrics, ServiceError};
use crate::disclosure::{Cause, EntryBody, Event};
use crate::peer::PeerId;
use crate::store::{Delivered, DeliveryState, OutboxItem, StoreError};
use crate::timestamp::rfc3339;

/// What a delivery step that panics is called in the error it becomes.
const STEP: &str = "a delivery step";

/// The peers whose queue a task is working on, each with whether the worker found the peer
/// due again while its task held it.
pub(super) type Claims = Arc<Mutex<HashMap<PeerId, bool>>>;

/// Marks a peer's queue as being worked; the mark goes when this is released or dropped, also
/// when the task working the queue panics. A message queued as the task finishes (after it
/// found the queue empty, before the mark goes) wakes the worker, which finds the peer due
/// but marked: the mark remembers that, and [`InFlight::release`] says so, so that the worker
/// looks again at once rather than at its next poll (half a second by default).
struct InFlight {
    set: Claims,
    /// `None` once released.
    peer: Option<PeerId>,
}

impl InFlight {
    /// Claims `peer`, unless a task already works its queue (which then hears of it when it
    /// releases its claim).
    fn claim(set: &Claims, peer: &PeerId) -> Option<InFlight> {
        let mut claims = set.lock().unwrap_or_else(|p| p.into_inner());
        match claims.entry(peer.clone()) {
            Entry::Occupied(mut held) => {
                held.insert(true);
                None
            }
            Entry::Vacant(free) => {
                free.insert(false);
                Some(InFlight {
                    set: Arc::clone(set),
                    peer: Some(peer.clone()),
                })
            }
        }
    }

    /// Ends the claim; true when a claim of the same peer was refused while it was held.
    fn release(mut self) -> bool {
        self.peer.take().is_some_and(|peer| {
            self.set
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&peer)
                .unwrap_or(false)
        })
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(peer) = self.peer.take() {
            self.set
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&peer);
        }
    }
}

/// What wakes the delivery worker: a peer named, whose queue is then worked at once,
/// without looking through every peer's outbox for what is due (the poll does that).
#[derive(Debug, Default)]
pub struct Wake {
    notify: Notify,
    /// The peers named since the worker last looked.
    named: Mutex<Vec<PeerId>>,
}

impl Wake {
    /// Wakes the worker for `peer`'s queue: a message was queued for it, or its task found
    /// it due again.
    pub fn peer(&self, peer: &PeerId) {
        let mut q = self.named.lock().unwrap_or_else(|p| p.into_inner());
        if !q.contains(peer) {
            q.push(peer.clone());
        }
        drop(q);
        self.notify.notify_one();
    }

    /// The peers named since the last call.
    fn take(&self) -> Vec<PeerId> {
        std::mem::take(&mut *self.named.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// What to do after an attempt.
enum Next {
    /// Go on with the peer's next message.
    Continue,
    /// Leave the peer until its next attempt is due.
    Stop,
}

impl Gateway {
    /// Backoff before attempt `attempts + 1`: base * 2^(attempts-1), capped, times a random
    /// factor in [0.5, 1) so peers that failed together do not retry together.
    fn backoff(&self, attempts: u32) -> Duration {
        let d = &self.delivery;
        let exp = d
            .base_delay_ms
            .saturating_mul(1u64 << attempts.saturating_sub(1).min(30))
            .min(d.max_delay_ms);
        let mut b = [0u8; 2];
        let _ = getrandom::fill(&mut b);
        let jitter = 0.5 + f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX) / 2.0;
        Duration::from_millis((exp as f64 * jitter) as u64)
    }

    /// Works one peer's queue: delivers due messages in order until the queue is empty or an
    /// attempt fails. Returns how many were delivered. Where gateways share the store, the
    /// queue is claimed first (and the claim renewed before each message): one that another
    /// gateway works is left to it.
    pub async fn deliver_peer(self: &Arc<Self>, peer: PeerId) -> usize {
        let delivered = self.work_queue(&peer).await;
        let p = peer.clone();
        if let Err(e) = self
            .off_runtime(STEP, move |g| Ok(g.store.release_queue(&p)?))
            .await
        {
            // The lease runs out on its own.
            tracing::warn!(peer.id = %peer, error = %e, "cannot release the claim on a queue");
        }
        delivered
    }

    async fn work_queue(self: &Arc<Self>, peer: &PeerId) -> usize {
        let peer = peer.clone();
        let mut delivered = 0;
        loop {
            let p = peer.clone();
            let head = self
                .off_runtime(STEP, move |g| {
                    if !g.store.claim_queue(&p)? {
                        return Ok((None, None));
                    }
                    let due = g
                        .store
                        .outbox_head(&p)?
                        .filter(|(_, item)| item.next_attempt_ms <= g.clock.now_ms());
                    if let Some((seq, _)) = &due {
                        // Its queued record and ledger entry may be applied and not yet on
                        // disk (their flush is under way): a message leaves only once a
                        // crash can no longer take them back. Nothing to do when they are.
                        g.store.sync_outbox(*seq)?;
                    }
                    Ok((due, g.store.peer(&p)?))
                })
                .await;
            let (seq, item, record) = match head {
                Ok((Some((seq, item)), record)) => (seq, item, record),
                // Nothing queued, or the head is not due yet.
                Ok((None, _)) => return delivered,
                Err(e) => {
                    tracing::error!(peer.id = %peer, error = %e, "cannot read the outbox, or make its head durable before sending it; the message stays queued");
                    return delivered;
                }
            };
            let attempt = match &record {
                Some(p) => client::attempt(&self.client, p, &item, &self.team.id).await,
                None => Attempt::Retry {
                    cause: Cause::UnknownPeer,
                    why: format!("peer `{peer}` is no longer in the list of peers"),
                },
            };
            // A receipt under a key we do not know: the peer may have rotated. Its signed key
            // document says; once a new key is adopted, the message goes again at once (it
            // comes back `duplicate`).
            if let Attempt::Retry {
                cause: Cause::UnknownKey,
                ..
            } = &attempt
            {
                if self.refresh_peer_keys(&peer).await.unwrap_or(false) {
                    continue;
                }
            }
            let ok = matches!(
                attempt,
                Attempt::Delivered { .. } | Attempt::Accepted { .. }
            );
            match self
                .off_runtime(STEP, move |g| g.record_attempt(seq, item, attempt))
                .await
            {
                Ok(next) => {
                    self.attempts_recorded.send_modify(|n| *n += 1);
                    match next {
                        Next::Continue => delivered += usize::from(ok),
                        Next::Stop => return delivered,
                    }
                }
                Err(ServiceError::Store(StoreError::Finished { .. })) => {
                    // Another gateway of the team took this queue over while the attempt ran
                    // (the claim had lapsed) and recorded the message first; it works the
                    // queue now.
                    tracing::info!(peer.id = %peer, "the message was recorded by another gateway; leaving the queue to it");
                    return delivered;
                }
                Err(e) => {
                    tracing::error!(peer.id = %peer, error = %e, "cannot record a delivery attempt; the message stays queued");
                    return delivered;
                }
            }
        }
    }

    /// Records what an attempt came to: the outbox change and, for a change of state, its
    /// ledger entry, in one atomic write.
    fn record_attempt(
        &self,
        seq: u64,
        mut item: OutboxItem,
        attempt: Attempt,
    ) -> Result<Next, ServiceError> {
        let now = self.clock.now();
        let entry = |event: Event| {
            let mut e = EntryBody::new(
                rfc3339(now),
                event,
                item.report_id.clone(),
                item.peer.clone(),
            );
            e.message_id = Some(item.message_id);
            e.message_sha256 = Some(item.sha256.clone());
            e
        };
        let (cause, why, receipt, permanent) = match attempt {
            Attempt::Delivered { jws, receipt } => {
                let status = receipt.status;
                let body = EntryBody {
                    receipt: Some(jws.clone()),
                    ..entry(Event::Delivered)
                };
                let d = Delivered {
                    item: item.clone(),
                    receipt_jws: Some(jws),
                    receipt: Some(receipt),
                    taxii_status: None,
                    delivered_at: rfc3339(now),
                };
                // Applied, not waited for: on disk with the next flush (a share's, the
                // worker's before a message, sled's own within half a second). A crash
                // before it leaves the message queued; it goes again and comes back
                // `duplicate`, with a receipt.
                self.record_applied(body, |store, e| store.mark_delivered_recorded(seq, &d, e))?;
                // Counted once recorded: a delivery the store could not take is tried again.
                Metrics::count(&self.metrics.deliveries, "delivered");
                tracing::info!(peer.id = %item.peer, message.id = %item.message_id, status = ?status, "message delivered; receipt stored");
                return Ok(Next::Continue);
            }
            Attempt::Accepted { status } => {
                let mut body = entry(Event::Delivered);
                let failures: Vec<String> = status["failures"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .take(3)
                    .map(|f| {
                        format!(
                            "{}: {}",
                            f["id"].as_str().unwrap_or("?"),
                            f["message"].as_str().unwrap_or("")
                        )
                    })
                    .collect();
                body.reason = Some(format!(
                    "the TAXII server added {} of {} object(s){}; status {} (not signed)",
                    status["success_count"].as_u64().unwrap_or(0),
                    status["total_count"].as_u64().unwrap_or(0),
                    if failures.is_empty() {
                        String::new()
                    } else {
                        format!(", not {}", failures.join("; "))
                    },
                    status["id"].as_str().unwrap_or("?")
                ));
                let d = Delivered {
                    item: item.clone(),
                    receipt_jws: None,
                    receipt: None,
                    taxii_status: Some(status),
                    delivered_at: rfc3339(now),
                };
                // As a delivery with a receipt (above): a crash before the flush sends the
                // objects again, and a TAXII server takes an exact duplicate without an
                // error (TAXII 2.1 section 5.5).
                self.record_applied(body, |store, e| store.mark_delivered_recorded(seq, &d, e))?;
                Metrics::count(&self.metrics.deliveries, "delivered");
                tracing::info!(peer.id = %item.peer, message.id = %item.message_id, "pushed to the peer's TAXII collection; status stored");
                return Ok(Next::Continue);
            }
            Attempt::Retry { cause, why } => (cause, why, None, false),
            Attempt::Refused {
                cause,
                why,
                receipt,
            } => (cause, why, receipt, true),
        };
        item.attempts += 1;
        item.last_error = Some(why.clone());
        item.last_cause = Some(cause);
        let peer = item.peer.clone();
        let (event, counted) = if permanent || item.attempts >= self.delivery.max_attempts {
            // Refused for good by the peer, or given up after the last attempt: the outbox,
            // the ledger, the metrics and the log say the same word.
            let (state, event) = if permanent {
                (DeliveryState::Refused, Event::Refused)
            } else {
                (DeliveryState::DeadLettered, Event::DeadLettered)
            };
            item.state = state;
            tracing::error!(peer.id = %peer, message.id = %item.message_id, attempts = item.attempts, cause = %cause, "delivery to `{peer}` gave up; message {}; see the outbox", state.as_str());
            (Some(event), state.as_str())
        } else {
            item.state = DeliveryState::Failing;
            let delay = self.backoff(item.attempts);
            item.next_attempt_ms = self.clock.now_ms() + delay.as_millis() as i64;
            // A peer's reasons may quote the document: logs get the kind only; the full text
            // is in the outbox for the analyst.
            tracing::warn!(peer.id = %peer, message.id = %item.message_id, attempt = item.attempts, retry_in_ms = delay.as_millis() as u64, cause = %cause, "delivery to `{peer}` failed; retrying");
            // The ledger records changes of state, not every retry.
            ((item.attempts == 1).then_some(Event::Failing), "retry")
        };
        match event {
            Some(event) => {
                let body = EntryBody {
                    receipt,
                    ..entry(event).because(cause, why)
                };
                self.record_with(body, |store, e| store.update_outbox_recorded(seq, &item, e))?;
            }
            None => self.store.update_outbox(seq, &item)?,
        }
        Metrics::count(&self.metrics.deliveries, counted);
        Ok(match item.state {
            DeliveryState::DeadLettered | DeliveryState::Refused => Next::Continue,
            _ => Next::Stop,
        })
    }

    /// Peers with a message due now (reads one message per pending peer).
    fn due_peers(&self) -> Result<Vec<PeerId>, ServiceError> {
        let now = self.clock.now_ms();
        let mut due = Vec::new();
        for p in self.store.peers_with_pending()? {
            if self.store.outbox_head_due_ms(&p)?.is_some_and(|t| t <= now) {
                due.push(p);
            }
        }
        Ok(due)
    }

    /// Works every peer's due queue once, concurrently, and waits for all of them; returns
    /// how many messages were delivered.
    pub async fn run_once(self: &Arc<Self>) -> usize {
        let due = match self.off_runtime(STEP, |g| g.due_peers()).await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the outbox");
                return 0;
            }
        };
        let limit = Arc::new(Semaphore::new(self.delivery.max_concurrent_peers.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        for p in due {
            let g = Arc::clone(self);
            let limit = Arc::clone(&limit);
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await;
                g.deliver_peer(p).await
            });
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
        let poll = Duration::from_millis(self.delivery.poll_ms);
        let limit = Arc::new(Semaphore::new(self.delivery.max_concurrent_peers.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        // Woken for these peers' new messages; `None`: look through every peer's outbox.
        let mut named: Option<Vec<PeerId>> = None;
        // Every peer's outbox is looked through at least once a poll, however often peers
        // are named: a peer backing off is found due again only so.
        let mut looked = tokio::time::Instant::now();
        loop {
            let due = match named.take() {
                // A peer named whose head is not due (backing off) is found so by its task.
                Some(peers) if looked.elapsed() < poll => Ok(peers),
                _ => {
                    looked = tokio::time::Instant::now();
                    self.off_runtime(STEP, |g| g.due_peers()).await
                }
            };
            match due {
                Ok(due) => {
                    for p in due {
                        let Some(claim) = InFlight::claim(&self.in_flight, &p) else {
                            continue;
                        };
                        let g = Arc::clone(&self);
                        let limit = Arc::clone(&limit);
                        tasks.spawn(async move {
                            let permit = limit.acquire_owned().await;
                            let delivered = g.deliver_peer(p.clone()).await;
                            drop(permit);
                            // Found due again while this task had it: look again now.
                            if claim.release() {
                                g.wake.peer(&p);
                            }
                            delivered
                        });
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot read the outbox; trying again"),
            }
            while let Some(done) = tasks.try_join_next() {
                if let Err(e) = done {
                    tracing::error!(error = %e, "a delivery task failed; its peer is tried again");
                }
            }
            tokio::select! {
                _ = stop.changed() => break,
                _ = self.wake.notify.notified() => {
                    let peers = self.wake.take();
                    named = (!peers.is_empty()).then_some(peers);
                }
                _ = tokio::time::sleep_until(looked + poll) => {}
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_refused_while_held_is_told_when_it_is_released() {
        let set = Claims::default();
        let peer: PeerId = "cert-b".parse().unwrap();
        let claim = InFlight::claim(&set, &peer).unwrap();
        assert!(!claim.release(), "nobody asked meanwhile");
        let claim = InFlight::claim(&set, &peer).unwrap();
        assert!(InFlight::claim(&set, &peer).is_none());
        assert!(claim.release(), "asked while held");
        // Released: free again, and a released claim's drop frees nobody else's.
        let claim = InFlight::claim(&set, &peer).unwrap();
        assert!(!claim.release());
        let held = InFlight::claim(&set, &peer).unwrap();
        assert!(InFlight::claim(&set, &peer).is_none());
        drop(held);
        assert!(InFlight::claim(&set, &peer).is_some());
    }

    #[test]
    fn a_claim_is_released_when_its_task_panics() {
        let set = Claims::default();
        let peer: PeerId = "cert-b".parse().unwrap();
        let claim = InFlight::claim(&set, &peer).unwrap();
        assert!(InFlight::claim(&set, &peer).is_none(), "one task per peer");
        let r = std::thread::spawn(move || {
            let _claim = claim;
            panic!("a delivery bug");
        })
        .join();
        assert!(r.is_err());
        assert!(
            InFlight::claim(&set, &peer).is_some(),
            "released by the panic"
        );
    }
}
