//! A store that fails under `receive` is a 5xx for the sender, which retries; it is never a
//! policy refusal (an "unknown sender" 403 would dead-letter the message for good). A disk
//! slow to flush holds up no ledger append but its own, no message leaves before its
//! queued record is on disk, and a share answers only once what it wrote is.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use irtx::app::Options;
use irtx::disclosure::{Checkpoint, Entry, RawEntry};
use irtx::envelope::MessageId;
use irtx::peer::{Peer, PeerId};
use irtx::report::ReportId;
use irtx::store::{
    Alert, AlertMeta, Delivered, FoundMessage, Holding, Imported, OutboxCounts, OutboxItem, Result,
    Store, StoreError, StoredReport, TaxiiObject,
};
use serde_json::Value;

use crate::gateway::{example, TestGateway};

/// A store whose peer lookups and imports fail while `down` is set, and whose syncs wait
/// while `syncs` is held.
struct Flaky {
    inner: Arc<dyn Store>,
    down: Arc<AtomicBool>,
    syncs: Arc<SyncGate>,
}

/// Holds syncs (a disk that takes its time to flush) and counts those waiting.
#[derive(Default)]
struct SyncGate {
    state: Mutex<(bool, usize)>,
    changed: Condvar,
    /// Every sync asked for so far.
    asked: std::sync::atomic::AtomicUsize,
}

impl SyncGate {
    fn set_held(&self, held: bool) {
        self.state.lock().unwrap().0 = held;
        self.changed.notify_all();
    }

    fn pass(&self) {
        self.asked.fetch_add(1, Ordering::SeqCst);
        let mut st = self.state.lock().unwrap();
        st.1 += 1;
        self.changed.notify_all();
        while st.0 {
            st = self.changed.wait(st).unwrap();
        }
        st.1 -= 1;
        self.changed.notify_all();
    }

    /// Holds syncs until the guard is dropped (also when a test fails while they are held:
    /// the syncs waiting go on and the test ends instead of hanging).
    fn hold(&self) -> Held<'_> {
        self.set_held(true);
        Held(self)
    }

    /// Waits (up to 30 s, then fails with `what`) until `n` syncs wait.
    fn await_waiting(&self, n: usize, what: &str) {
        let st = self.state.lock().unwrap();
        let (st, timeout) = self
            .changed
            .wait_timeout_while(st, Duration::from_secs(30), |st| st.1 < n)
            .unwrap();
        assert!(!timeout.timed_out(), "{what} ({} syncs waiting)", st.1);
    }
}

struct Held<'a>(&'a SyncGate);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.set_held(false);
    }
}

impl Flaky {
    fn check(&self) -> Result<()> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::Backend(
                "injected fault: the disk went away".into(),
            ))
        } else {
            Ok(())
        }
    }
}

impl Store for Flaky {
    fn sync(&self) -> Result<()> {
        self.syncs.pass();
        self.inner.sync()
    }
    fn put_report(&self, r: &StoredReport) -> Result<()> {
        self.inner.put_report(r)
    }
    fn report(&self, id: &ReportId) -> Result<Option<StoredReport>> {
        self.inner.report(id)
    }
    fn reports_page(&self, after: Option<&ReportId>, limit: usize) -> Result<Vec<StoredReport>> {
        self.inner.reports_page(after, limit)
    }
    fn put_peer(&self, p: &Peer) -> Result<()> {
        self.inner.put_peer(p)
    }
    fn peer(&self, id: &PeerId) -> Result<Option<Peer>> {
        self.check()?;
        self.inner.peer(id)
    }
    fn peers(&self) -> Result<Vec<Peer>> {
        self.inner.peers()
    }
    fn remove_peer(&self, id: &PeerId) -> Result<bool> {
        self.inner.remove_peer(id)
    }
    fn outbox_page(&self, after: Option<u64>, limit: usize) -> Result<Vec<(u64, OutboxItem)>> {
        self.inner.outbox_page(after, limit)
    }
    fn outbox_counts(&self) -> Result<OutboxCounts> {
        self.inner.outbox_counts()
    }
    fn outbox_item(&self, seq: u64) -> Result<Option<OutboxItem>> {
        self.inner.outbox_item(seq)
    }
    fn outbox_head(&self, peer: &PeerId) -> Result<Option<(u64, OutboxItem)>> {
        self.inner.outbox_head(peer)
    }
    fn peers_with_pending(&self) -> Result<Vec<PeerId>> {
        self.inner.peers_with_pending()
    }
    fn update_outbox(&self, seq: u64, item: &OutboxItem) -> Result<()> {
        self.inner.update_outbox(seq, item)
    }
    fn update_outbox_recorded(&self, seq: u64, item: &OutboxItem, entry: &Entry) -> Result<()> {
        self.inner.update_outbox_recorded(seq, item, entry)
    }
    fn delivered_page(&self, after: Option<u64>, limit: usize) -> Result<Vec<(u64, Delivered)>> {
        self.inner.delivered_page(after, limit)
    }
    fn find_message(&self, id: &MessageId) -> Result<Option<FoundMessage>> {
        self.inner.find_message(id)
    }
    fn enqueue_recorded(&self, item: &OutboxItem, entry: &Entry) -> Result<u64> {
        self.inner.enqueue_recorded(item, entry)
    }
    fn mark_delivered_recorded(&self, seq: u64, d: &Delivered, entry: &Entry) -> Result<()> {
        self.inner.mark_delivered_recorded(seq, d, entry)
    }
    fn import(&self, alert: &Alert, quota: Option<u64>) -> Result<Imported> {
        self.check()?;
        self.inner.import(alert, quota)
    }
    fn alert(&self, id: &str) -> Result<Option<Alert>> {
        self.inner.alert(id)
    }
    fn alerts_page(&self, after: Option<u64>, limit: usize) -> Result<Vec<(u64, AlertMeta)>> {
        self.inner.alerts_page(after, limit)
    }
    fn alert_count(&self) -> Result<u64> {
        self.inner.alert_count()
    }
    fn alert_count_if_known(&self) -> Result<Option<u64>> {
        self.inner.alert_count_if_known()
    }
    fn peer_usage(&self, peer: &PeerId) -> Result<u64> {
        self.inner.peer_usage(peer)
    }
    fn ledger_last(&self) -> Result<Option<Entry>> {
        self.inner.ledger_last()
    }
    fn ledger_put(&self, e: &Entry) -> Result<()> {
        self.inner.ledger_put(e)
    }
    fn ledger_entries_after(
        &self,
        after: Option<u64>,
    ) -> Box<dyn Iterator<Item = Result<Entry>> + '_> {
        self.inner.ledger_entries_after(after)
    }
    fn ledger_raw(&self) -> Box<dyn Iterator<Item = Result<RawEntry>> + '_> {
        self.inner.ledger_raw()
    }
    fn put_checkpoint(&self, c: &Checkpoint) -> Result<()> {
        self.inner.put_checkpoint(c)
    }
    fn kept_derived(&self, name: &str) -> Result<Option<Vec<u8>>> {
        self.inner.kept_derived(name)
    }
    fn keep_derived(&self, name: &str, value: &[u8]) -> Result<()> {
        self.inner.keep_derived(name, value)
    }
    fn checkpoints(&self) -> Result<Vec<Checkpoint>> {
        self.inner.checkpoints()
    }
    fn key_documents(&self) -> Result<Vec<irtx::exchange::keydoc::SignedKeyDocument>> {
        self.inner.key_documents()
    }
    fn put_key_document(&self, d: &irtx::exchange::keydoc::SignedKeyDocument) -> Result<()> {
        self.inner.put_key_document(d)
    }
    fn snapshot(&self, out: &mut dyn std::io::Write) -> Result<irtx::store::snapshot::Stats> {
        self.inner.snapshot(out)
    }
    fn quarantine(&self, record: &Value, body: &[u8]) -> Result<()> {
        self.inner.quarantine(record, body)
    }
    fn quarantine_page(&self, after: Option<u64>, limit: usize) -> Result<Vec<(u64, Value)>> {
        self.inner.quarantine_page(after, limit)
    }
    fn quarantined_body(&self, seq: u64) -> Result<Option<Vec<u8>>> {
        self.inner.quarantined_body(seq)
    }
    fn taxii_publish(
        &self,
        collection: &str,
        now_us: i64,
        objects: &mut [TaxiiObject],
        entry: Option<&Entry>,
        holding: Option<&Holding>,
    ) -> Result<usize> {
        self.check()?;
        self.inner
            .taxii_publish(collection, now_us, objects, entry, holding)
    }
    fn taxii_publish_applied(
        &self,
        collection: &str,
        now_us: i64,
        objects: &mut [TaxiiObject],
        holding: Option<&Holding>,
    ) -> Result<usize> {
        self.check()?;
        self.inner
            .taxii_publish_applied(collection, now_us, objects, holding)
    }
    fn taxii_page(
        &self,
        collection: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, TaxiiObject)>> {
        self.inner.taxii_page(collection, after, limit)
    }
    fn taxii_versions(&self, collection: &str, id: &str) -> Result<Vec<(u64, TaxiiObject)>> {
        self.inner.taxii_versions(collection, id)
    }
    fn taxii_count_pull(
        &self,
        collection: &str,
        message_id: &MessageId,
        entry: Option<&Entry>,
    ) -> Result<u64> {
        self.inner.taxii_count_pull(collection, message_id, entry)
    }
    fn taxii_pulls(&self, collection: &str, message_id: &MessageId) -> Result<u64> {
        self.inner.taxii_pulls(collection, message_id)
    }
    fn put_taxii_status(&self, id: &str, status: &Value) -> Result<()> {
        self.inner.put_taxii_status(id, status)
    }
    fn taxii_status(&self, id: &str) -> Result<Option<Value>> {
        self.inner.taxii_status(id)
    }
    fn alert_for_report(&self, sender: &PeerId, report: &str) -> Result<Option<String>> {
        self.inner.alert_for_report(sender, report)
    }
    fn alert_by_message(&self, sender: &PeerId, message_id: &MessageId) -> Result<Option<Alert>> {
        self.inner.alert_by_message(sender, message_id)
    }
    fn put_alert(&self, alert: &Alert) -> Result<()> {
        self.inner.put_alert(alert)
    }
    fn put_holding(&self, h: &Holding) -> Result<()> {
        self.inner.put_holding(h)
    }
    fn holdings(&self, report: &ReportId) -> Result<Vec<Holding>> {
        self.inner.holdings(report)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_failing_under_receive_is_a_503_and_the_sender_retries() {
    let down = Arc::new(AtomicBool::new(false));
    let d = down.clone();
    let options = Options {
        wrap_store: Some(Box::new(move |inner| {
            Arc::new(Flaky {
                inner,
                down: d.clone(),
                syncs: Arc::default(),
            })
        })),
        ..Options::default()
    };
    let b = TestGateway::spawn_options("cert-b", |_| {}, options).await;
    let (a, clock) = TestGateway::spawn_manual("cert-a", |_| {}).await;
    a.add_peer(&b, "AMBER", "community", "none", "stix").await;
    b.add_peer(&a, "AMBER", "community", "none", "stix").await;
    let id = a.submit(&example("incident-ddos-minimal")).await;
    a.share(&id, &["cert-b"]).await;

    down.store(true, Ordering::SeqCst);
    assert_eq!(a.services().run_once().await, 0);
    let item = &a.outbox().await[0];
    assert_eq!(
        item["state"], "failing",
        "retried, not dead-lettered: {item}"
    );
    assert_eq!(item["last_cause"], "peer-error", "{item}");
    assert!(
        item["last_error"].as_str().unwrap().starts_with("503"),
        "{item}"
    );
    assert!(b.alerts().await.is_empty());

    // The answer itself: 503, a Retry-After, the JSON error, no word of the sender.
    let jws = a.outbox_jws(0).await;
    let resp = reqwest::Client::new()
        .post(format!("{}/exchange/v1/messages", b.url))
        .header("content-type", "application/jose+json")
        .body(jws)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().contains_key("retry-after"));
    let v: Value = resp.json().await.unwrap();
    assert!(v["error"].as_str().unwrap().contains("retry later"), "{v}");
    assert!(!v.to_string().contains("unknown sender"), "{v}");

    down.store(false, Ordering::SeqCst);
    clock.advance(time::Duration::seconds(2));
    assert_eq!(a.services().run_once().await, 1);
    assert_eq!(
        b.alerts().await.len(),
        1,
        "imported once when the store is back"
    );
}

/// A ledger append waits for the write before it, not for that write's flush: while the
/// disk holds one append's flush, the next is linked and applied; neither returns before the
/// disk answers; the chain holds after.
#[test]
fn a_slow_flush_holds_up_no_ledger_append_but_its_own() {
    let syncs = Arc::new(SyncGate::default());
    let store = Arc::new(Flaky {
        inner: Arc::new(irtx::store::sled_store::SledStore::temporary().unwrap()),
        down: Arc::default(),
        syncs: syncs.clone(),
    });
    let ledger = Arc::new(irtx::ledger::Ledger::new());
    let key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
    let append = |report: &str| {
        let (store, ledger, key) = (store.clone(), ledger.clone(), key.clone());
        let body = irtx::disclosure::EntryBody::new(
            "2026-12-03T00:00:00Z".into(),
            irtx::disclosure::Event::Queued,
            report.parse().unwrap(),
            "cert-b".parse().unwrap(),
        );
        std::thread::spawn(move || ledger.append(store.as_ref(), body, "cert-a", &key))
    };
    let held = syncs.hold();
    let first = append("r1");
    syncs.await_waiting(1, "the first append never asked for its flush");
    let second = append("r2");
    syncs.await_waiting(
        2,
        "the second append did not get to its flush while the first's was under way",
    );
    let reports: Vec<String> = store
        .ledger_entries()
        .map(|e| e.unwrap().body.report_id.to_string())
        .collect();
    assert_eq!(reports, ["r1", "r2"], "both applied, in order");
    assert!(
        !first.is_finished() && !second.is_finished(),
        "an append returned before its flush"
    );
    drop(held);
    let first = first.join().unwrap().unwrap();
    let second = second.join().unwrap().unwrap();
    assert_eq!((first.seq, second.seq), (0, 1));
    irtx::ledger::verify_store(store.as_ref(), &[key.verifying_key()]).unwrap();
}

/// Gateway `cert-a` on a store whose syncs `syncs` can hold, with its delivery worker off
/// (a test runs it).
async fn with_held_syncs(syncs: &Arc<SyncGate>) -> TestGateway {
    let gate = syncs.clone();
    let options = Options {
        clock: Arc::new(irtx::federation::clock::ManualClock::at(
            time::OffsetDateTime::now_utc(),
        )),
        run_worker: false,
        wrap_store: Some(Box::new(move |inner| {
            Arc::new(Flaky {
                inner,
                down: Arc::default(),
                syncs: gate.clone(),
            })
        })),
    };
    TestGateway::spawn_options("cert-a", |_| {}, options).await
}

/// The delivery worker reads the outbox without waiting for flushes: a message queued while
/// the worker runs can be read while its queued record and ledger entry are applied but not
/// yet on disk. It leaves only after they are: a crash could otherwise leave a peer holding
/// a message the ledger does not list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_message_leaves_before_its_queued_record_is_on_disk() {
    let syncs = Arc::new(SyncGate::default());
    let a = with_held_syncs(&syncs).await;
    let b = TestGateway::spawn("cert-b").await;
    a.add_peer(&b, "AMBER", "community", "none", "stix").await;
    b.add_peer(&a, "AMBER", "community", "none", "stix").await;
    let id = a.submit(&example("incident-ddos-minimal")).await;

    let waiting = |n: usize, what: &'static str| {
        let s = syncs.clone();
        tokio::task::spawn_blocking(move || s.await_waiting(n, what))
    };
    let held = syncs.hold();
    let share = a.share(&id, &["cert-b"]);
    let deliver = async {
        waiting(
            1,
            "the share never asked for the flush of its queued message",
        )
        .await
        .unwrap();
        let worker = a.services().clone();
        let run = tokio::spawn(async move { worker.run_once().await });
        waiting(
            2,
            "the worker neither sent the message nor waited for the flush",
        )
        .await
        .unwrap();
        assert!(
            b.alerts().await.is_empty(),
            "the message left while its queued record and ledger entry were not on disk"
        );
        drop(held);
        run.await.unwrap()
    };
    let (decisions, delivered) = tokio::join!(share, deliver);
    assert_eq!(decisions[0]["decision"], "queued", "{decisions:?}");
    assert_eq!(delivered, 1, "sent once the flush came");
    assert_eq!(b.alerts().await.len(), 1);
}

/// A share to several peers applies each peer's queued message, ledger entry and TAXII
/// objects as it goes, and makes them all durable with one sync before it answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_to_several_peers_is_made_durable_by_one_sync_before_it_answers() {
    let syncs = Arc::new(SyncGate::default());
    let a = with_held_syncs(&syncs).await;
    let (b, c) = (
        TestGateway::spawn("cert-b").await,
        TestGateway::spawn("cert-c").await,
    );
    a.add_peer(&b, "AMBER", "community", "none", "stix").await;
    a.add_peer(&c, "AMBER", "community", "none", "stix").await;
    let id = a.submit(&example("incident-ddos-minimal")).await;

    let asked = syncs.asked.load(Ordering::SeqCst);
    let held = syncs.hold();
    let share = a.share(&id, &["cert-b", "cert-c"]);
    let check = async {
        let s = syncs.clone();
        tokio::task::spawn_blocking(move || {
            s.await_waiting(1, "the share never asked for its writes to be made durable")
        })
        .await
        .unwrap();
        let store = &a.services().store;
        assert_eq!(
            store.outbox_page(None, 10).unwrap().len(),
            2,
            "the share waited for the disk before both peers' messages were written"
        );
        assert_eq!(
            syncs.asked.load(Ordering::SeqCst) - asked,
            1,
            "more than one sync"
        );
        drop(held);
    };
    let (decisions, ()) = tokio::join!(share, check);
    assert!(
        decisions.iter().all(|d| d["decision"] == "queued"),
        "{decisions:?}"
    );
    assert_eq!(
        syncs.asked.load(Ordering::SeqCst) - asked,
        1,
        "one sync covered the share"
    );
}
