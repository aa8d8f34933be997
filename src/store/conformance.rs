//! One conformance suite for every [`Store`] backend (Garage's `db/test.rs` pattern). It
//! panics on the first behaviour that differs from the trait's contract.

use serde_json::json;

use super::{
    Alert, AlertFormat, AlertSource, Delivered, DeliveryState, ImportRecord, Imported, OutboxItem,
    Store, StoredReport,
};
use crate::disclosure::{chain, Entry, EntryBody, Event};
use crate::envelope::{Jws, MessageId, Receipt, ReceiptStatus};
use crate::exchange::keydoc;
use crate::peer::{Audience, Format, KeyDomain, Peer, PeerId, Transport};
use crate::report::ReportId;
use crate::tlp::Tlp;

fn jws(tag: &str) -> Jws {
    Jws {
        payload: tag.into(),
        protected: "p".into(),
        signature: "s".into(),
    }
}

fn pid(s: &str) -> PeerId {
    s.parse().expect("a peer id")
}

fn rid(s: &str) -> ReportId {
    s.parse().expect("a report id")
}

/// The message id numbered `n`.
fn mid(n: u128) -> MessageId {
    MessageId(uuid::Uuid::from_u128(n))
}

pub(super) fn item(peer: &str, n: u128) -> OutboxItem {
    OutboxItem {
        message_id: mid(n),
        report_id: rid("r1"),
        peer: pid(peer),
        jws: jws(&n.to_string()),
        sha256: format!("sha-{n}"),
        queued_at: "2026-11-24T00:00:00Z".into(),
        attempts: 0,
        next_attempt_ms: 0,
        state: DeliveryState::Queued,
        last_error: None,
        last_cause: None,
    }
}

/// A peer's alert numbered `n`: as received, its document is the one its signed message
/// carries (a store may keep it only there).
fn alert(sender: &str, n: u128, sha: &str) -> Alert {
    let document = json!({"type": "bundle", "n": format!("{n:08}")});
    let sealed = crate::exchange::outbound::seal(
        document.clone(),
        Format::Stix,
        Tlp::Green,
        crate::exchange::outbound::Envelope {
            from: &pid(sender),
            to: &pid("cert-b"),
            id: mid(n),
            now: time::macros::datetime!(2026-11-24 0:00 UTC),
        },
        &ed25519_dalek::SigningKey::from_bytes(&[7; 32]),
    );
    Alert {
        id: format!("alert-{sender}-{n}-{sha}"),
        source: AlertSource::Peer {
            sender: pid(sender),
            kid: "kid".into(),
            message_id: mid(n),
            jws: sealed.jws,
        },
        received_at: "2026-11-24T00:00:00Z".into(),
        sha256: sha.into(),
        tlp: Tlp::Green,
        format: AlertFormat::Stix,
        document,
        retracted: None,
    }
}

fn imported(n: u128, sha: &str) -> Alert {
    Alert {
        id: format!("import-{n}-{sha}"),
        source: AlertSource::Import {
            import: ImportRecord {
                file: format!("event-{n}.json"),
                tool: "misp".into(),
                source: Some("CIRCL".into()),
                marking: "MISP tag tlp:green".into(),
                provider_permission: false,
            },
        },
        received_at: "2026-11-24T00:00:00Z".into(),
        sha256: sha.into(),
        tlp: Tlp::Green,
        format: AlertFormat::Misp,
        document: json!({"Event": {"info": "x", "Attribute": [{"type": "domain"}]}}),
        retracted: None,
    }
}

fn delivered(peer: &str, n: u128) -> Delivered {
    Delivered {
        item: item(peer, n),
        receipt_jws: Some(jws("r")),
        taxii_status: None,
        receipt: Some(Receipt {
            message_id: mid(n),
            message_sha256: format!("sha-{n}"),
            from: pid(peer),
            to: pid("a"),
            received: "2026-11-24T00:00:01Z".into(),
            status: ReceiptStatus::Accepted,
            reasons: vec![],
        }),
        delivered_at: "2026-11-24T00:00:02Z".into(),
    }
}

pub(super) fn entry(last: Option<&Entry>, event: Event, report: &str) -> Entry {
    chain::link(
        last,
        EntryBody::new("2026-11-24T00:00:00Z".into(), event, rid(report), pid("b")),
    )
}

/// The id of `peer`'s oldest pending message; the store's answer to when it is due must be
/// that message's.
fn head(s: &dyn Store, peer: &str) -> Option<MessageId> {
    let head = s.outbox_head(&pid(peer)).unwrap();
    assert_eq!(
        s.outbox_head_due_ms(&pid(peer)).unwrap(),
        head.as_ref().map(|(_, i)| i.next_attempt_ms),
        "when {peer}'s oldest pending message is due"
    );
    head.map(|(_, i)| i.message_id)
}

/// Appends `n` entries over three peers, twenty reports, four events and ten days (a
/// day back every seventh entry), every fifth carrying an indicator.
pub fn varied_ledger(s: &dyn Store, n: u64) {
    let peers = ["cert-a", "cert-b", "cert-c"];
    let events = [
        Event::Queued,
        Event::Withheld,
        Event::Delivered,
        Event::Refused,
    ];
    let mut prev: Option<Entry> = None;
    for i in 0..n {
        let day = 1 + i * 10 / n - u64::from(i % 7 == 0 && i * 10 >= n);
        let mut body = EntryBody::new(
            format!("2026-12-{day:02}T{:02}:30:00Z", i % 24),
            events[(i % 4) as usize],
            format!("R{}", i % 20).parse().unwrap(),
            peers[(i % 3) as usize].parse().unwrap(),
        );
        if i % 5 == 0 {
            body.indicators = vec![crate::disclosure::Disclosed {
                value: format!("198.51.100.{}", i % 9),
                sent_as: format!("10.0.0.{}", i % 9),
            }];
        }
        let e = chain::link(prev.as_ref(), body);
        s.ledger_put(&e).unwrap();
        prev = Some(e);
    }
}

/// Runs the suite on an empty store.
pub fn suite(s: &dyn Store) {
    // Reports.
    assert!(s.report(&rid("r1")).unwrap().is_none());
    let r = StoredReport {
        id: rid("r1"),
        report: json!({"title": "t"}),
        submitted_at: "2026-11-24T00:00:00Z".into(),
    };
    s.put_report(&r).unwrap();
    assert_eq!(s.report(&rid("r1")).unwrap(), Some(r.clone()));
    assert_eq!(s.reports_page(None, 10).unwrap(), vec![r.clone()]);
    let r2 = StoredReport {
        id: rid("r2"),
        ..r.clone()
    };
    s.put_report(&r2).unwrap();
    assert_eq!(s.reports_page(None, 1).unwrap(), vec![r.clone()]);
    assert_eq!(s.reports_page(Some(&rid("r1")), 10).unwrap(), vec![r2]);

    // Peers.
    let p = Peer {
        id: pid("cert-b"),
        url: "http://127.0.0.1:1".into(),
        keys: vec![],
        max_tlp: Tlp::Amber,
        audience: Audience::Community,
        profile: "none".into(),
        format: Format::Stix,
        key_domain: KeyDomain::Federation,
        transport: Transport::Irtx,
        client_cert_sha256: None,
        provider_permission: true,
        taxii_token_sha256: Some("ab".repeat(32)),
        taxii_auth: Some(crate::peer::TaxiiAuth::Bearer("t".into())),
        taxii_pull: Some(crate::peer::TaxiiPull {
            every_s: 60,
            cursor: Some("2026-12-01T00:00:00.000000Z".into()),
        }),
    };
    s.put_peer(&p).unwrap();
    assert_eq!(s.peer(&pid("cert-b")).unwrap(), Some(p.clone()));
    // A peer written again is read as it is now, however often it was read before.
    let moved = Peer {
        url: "http://127.0.0.1:2".into(),
        ..p.clone()
    };
    s.put_peer(&moved).unwrap();
    assert_eq!(s.peer(&pid("cert-b")).unwrap(), Some(moved));
    s.put_peer(&p).unwrap();
    assert_eq!(s.peer(&pid("cert-b")).unwrap(), Some(p.clone()));
    assert_eq!(s.peers().unwrap().len(), 1);
    assert!(s.remove_peer(&pid("cert-b")).unwrap());
    assert!(!s.remove_peer(&pid("cert-b")).unwrap());
    assert!(s.peer(&pid("cert-b")).unwrap().is_none());

    // Ledger: appended in order, read back in order, last is the head.
    assert!(s.ledger_last().unwrap().is_none());
    let mut last: Option<Entry> = None;
    for i in 0..3 {
        let e = entry(last.as_ref(), Event::Queued, &format!("r{i}"));
        s.ledger_put(&e).unwrap();
        last = Some(e);
    }
    assert_eq!(s.ledger_last().unwrap(), last);
    let seqs: Vec<u64> = s.ledger_entries().map(|e| e.unwrap().seq).collect();
    assert_eq!(seqs, vec![0, 1, 2]);
    let raw: Vec<crate::disclosure::RawEntry> = s.ledger_raw().map(|e| e.unwrap()).collect();
    assert_eq!(raw[2].hash, last.as_ref().unwrap().hash);
    let key = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
    let cp = chain::checkpoint(last.as_ref().unwrap(), "a", "t", &key);
    s.put_checkpoint(&cp).unwrap();
    assert_eq!(s.checkpoints().unwrap(), vec![cp]);

    // Outbox: ordered per peer; a dead letter does not block; delivery moves atomically;
    // each change lands together with its ledger entry. The counts, asked first while the
    // outbox is empty, follow every change after.
    let counts = |s: &dyn Store| {
        let c = s.outbox_counts().unwrap();
        (c.pending, c.dead_lettered)
    };
    assert_eq!(counts(s), (0, 0));
    let mut next = |event: Event| {
        let e = entry(last.as_ref(), event, "r1");
        last = Some(e.clone());
        e
    };
    let b1 = s
        .enqueue_recorded(&item("b", 1), &next(Event::Queued))
        .unwrap();
    let c1 = s
        .enqueue_recorded(&item("c", 2), &next(Event::Queued))
        .unwrap();
    let b2 = s
        .enqueue_recorded(&item("b", 3), &next(Event::Queued))
        .unwrap();
    assert!(b1 < c1 && c1 < b2, "sequence numbers increase");
    assert_eq!(head(s, "b"), Some(mid(1)));
    assert_eq!(head(s, "c"), Some(mid(2)));
    assert_eq!(s.peers_with_pending().unwrap(), vec![pid("b"), pid("c")]);
    let mut dead = item("b", 1);
    dead.state = DeliveryState::DeadLettered;
    dead.attempts = 5;
    let dead_entry = next(Event::DeadLettered);
    s.update_outbox_recorded(b1, &dead, &dead_entry).unwrap();
    assert_eq!(counts(s), (2, 1));
    assert_eq!(s.ledger_last().unwrap().as_ref(), Some(&dead_entry));
    assert_eq!(s.outbox_item(b1).unwrap(), Some(dead.clone()));
    assert_eq!(head(s, "b"), Some(mid(3)));
    let d = delivered("b", 3);
    let delivered_entry = next(Event::Delivered);
    s.mark_delivered_recorded(b2, &d, &delivered_entry).unwrap();
    assert_eq!(s.ledger_last().unwrap().as_ref(), Some(&delivered_entry));
    assert!(head(s, "b").is_none());
    assert!(s.outbox_item(b2).unwrap().is_none());
    assert_eq!(
        s.peers_with_pending().unwrap(),
        vec![pid("c")],
        "dead letters and deliveries are not pending"
    );
    // A retried dead letter is pending again.
    let mut again = dead.clone();
    again.state = DeliveryState::Failing;
    again.next_attempt_ms = 1_764_000_000_123;
    s.update_outbox(b1, &again).unwrap();
    assert_eq!(head(s, "b"), Some(mid(1)));
    assert_eq!(
        s.outbox_head_due_ms(&pid("b")).unwrap(),
        Some(1_764_000_000_123)
    );
    assert_eq!(counts(s), (2, 0));
    s.update_outbox(b1, &dead).unwrap();
    // Recorded delivered once: a second record of the same message (another gateway's,
    // whose claim on the queue had lapsed) is refused and writes nothing, not even its
    // ledger entry; so is an update of it.
    let head_now = s.ledger_last().unwrap();
    let twice = entry(head_now.as_ref(), Event::Delivered, "r1");
    assert!(matches!(
        s.mark_delivered_recorded(b2, &d, &twice),
        Err(super::StoreError::Finished { seq }) if seq == b2
    ));
    assert!(matches!(
        s.update_outbox_recorded(b2, &item("b", 3), &twice),
        Err(super::StoreError::Finished { .. })
    ));
    assert_eq!(
        s.ledger_last().unwrap(),
        head_now,
        "no entry for a write refused"
    );
    assert!(s.outbox_item(b2).unwrap().is_none());
    let delivered: Vec<Delivered> = s
        .delivered_page(None, 10)
        .unwrap()
        .into_iter()
        .map(|(_, d)| d)
        .collect();
    assert_eq!(delivered, vec![d.clone()]);
    // A message is found by its id wherever it is, updates and delivery followed.
    let (pos, _) = s.delivered_page(None, 1).unwrap().remove(0);
    assert_eq!(
        s.find_message(&mid(3)).unwrap(),
        Some(super::FoundMessage::Delivered(pos, Box::new(d)))
    );
    assert_eq!(
        s.find_message(&mid(1)).unwrap(),
        Some(super::FoundMessage::Outbox(b1, Box::new(dead.clone())))
    );
    assert_eq!(
        s.find_message(&mid(2)).unwrap(),
        Some(super::FoundMessage::Outbox(c1, Box::new(item("c", 2))))
    );
    assert_eq!(s.find_message(&mid(99)).unwrap(), None);
    assert_eq!(counts(s), (1, 1));
    let left: Vec<MessageId> = s
        .outbox_page(None, 10)
        .unwrap()
        .into_iter()
        .map(|(_, i)| i.message_id)
        .collect();
    assert_eq!(left, vec![mid(1), mid(2)]);
    let seqs: Vec<u64> = s.ledger_entries().map(|e| e.unwrap().seq).collect();
    assert_eq!(
        seqs,
        (0..8).collect::<Vec<_>>(),
        "one ledger entry per change"
    );
    // The entries about a report, and those naming a message: the same as a full read.
    let about = |r: &str| -> Vec<u64> {
        s.ledger_of_report(&rid(r))
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect()
    };
    let scanned: Vec<u64> = s
        .ledger_entries()
        .map(|e| e.unwrap())
        .filter(|e| e.body.report_id == rid("r1"))
        .map(|e| e.seq)
        .collect();
    assert_eq!(about("r1"), scanned);
    assert_eq!(about("r0"), vec![0]);
    assert!(
        about("r").is_empty(),
        "a prefix of report ids is not a report"
    );
    let mut body = EntryBody::new(
        "2026-11-24T00:00:03Z".into(),
        Event::Delivered,
        rid("r2"),
        pid("b"),
    );
    body.message_id = Some(mid(42));
    let named = chain::link(last.as_ref(), body);
    s.ledger_put(&named).unwrap();
    assert_eq!(s.ledger_of_message(&mid(42)).unwrap(), vec![named]);
    assert!(s.ledger_of_message(&mid(43)).unwrap().is_empty());
    assert_eq!(about("r2"), vec![2, 8]);

    // Import: once; the same again is a duplicate; other content under the id a conflict.
    let first = alert("b", 9, "aaa");
    let size = first.bytes();
    assert_eq!(s.import(&first, None).unwrap(), Imported::New);
    let again = s.import(&alert("b", 9, "aaa"), None).unwrap();
    assert_eq!(again, Imported::Duplicate);
    let other = s.import(&alert("b", 9, "bbb"), None).unwrap();
    assert_eq!(other, Imported::Conflict);
    let from_c = s.import(&alert("c", 9, "aaa"), None).unwrap();
    assert_eq!(from_c, Imported::New, "ids are per sender");
    assert_eq!(s.alert_count().unwrap(), 2);
    let page = s.alerts_page(None, 10).unwrap();
    assert_eq!(page.len(), 2);
    assert_eq!(
        page[0].1,
        first.meta(),
        "lists hold alerts without documents"
    );
    assert_eq!(s.alerts_page(Some(page[0].0), 10).unwrap().len(), 1);
    assert_eq!(s.alert(&first.id).unwrap(), Some(first));
    assert!(s.alert("nope").unwrap().is_none());
    // The storage quota: what a sender's alerts take, and no more.
    assert_eq!(s.peer_usage(&pid("b")).unwrap(), size);
    let over = s
        .import(&alert("b", 10, "ccc"), Some(size + size / 2))
        .unwrap();
    assert_eq!(over, Imported::OverQuota { used: size });
    assert_eq!(s.alert_count().unwrap(), 2, "nothing stored over the quota");
    let within = s.import(&alert("b", 10, "ccc"), Some(2 * size)).unwrap();
    assert_eq!(within, Imported::New);
    assert_eq!(s.peer_usage(&pid("b")).unwrap(), 2 * size);
    // Imports are known by their content alone, whatever the file, and count against no
    // peer.
    let count = s.alert_count().unwrap();
    let imp = imported(1, "ddd");
    assert_eq!(s.import(&imp, None).unwrap(), Imported::New);
    assert_eq!(
        s.import(&imported(2, "ddd"), None).unwrap(),
        Imported::Duplicate
    );
    assert_eq!(s.import(&imported(3, "eee"), None).unwrap(), Imported::New);
    assert_eq!(s.alert_count().unwrap(), count + 2);
    assert_eq!(s.alert(&imp.id).unwrap(), Some(imp.clone()));
    let metas = s.alerts_page(None, 100).unwrap();
    let meta = &metas.iter().find(|(_, m)| m.id == imp.id).unwrap().1;
    assert_eq!(meta, &imp.meta());
    assert_eq!((meta.title.as_deref(), meta.objects), (Some("x"), 1));
    assert_eq!(s.peer_usage(&pid("b")).unwrap(), 2 * size);
    // Versions of one report from one sender: a new one supersedes the alert that held the
    // one before; the same version again is a duplicate and supersedes nothing; another
    // sender's report of the same id is another report.
    let version = |sender: &str, n: u128, modified: &str| {
        let mut a = alert(sender, n, &format!("v{n}"));
        a.document = json!({"type": "bundle", "objects": [
            {"type": "report", "id": "report--1", "modified": modified}
        ]});
        a
    };
    let (v1, v2) = (
        version("d", 20, "2026-01-01"),
        version("d", 21, "2026-01-02"),
    );
    assert_eq!(
        s.import_superseding(&v1, None).unwrap(),
        (Imported::New, None)
    );
    assert_eq!(
        s.import_superseding(&v2, None).unwrap(),
        (Imported::New, Some(v1.id.clone()))
    );
    assert_eq!(
        s.import_superseding(&version("d", 22, "2026-01-02"), None)
            .unwrap(),
        (Imported::Duplicate, None)
    );
    assert_eq!(
        s.import_superseding(&version("e", 20, "2026-01-03"), None)
            .unwrap(),
        (Imported::New, None)
    );
    assert_eq!(
        s.alert_for_report(&pid("d"), "report--1").unwrap(),
        Some(v2.id)
    );

    // Key documents, in the order written.
    assert!(s.key_documents().unwrap().is_empty());
    let team: crate::team::TeamId = "a".parse().unwrap();
    let (k1, k2) = (
        ed25519_dalek::SigningKey::from_bytes(&[1; 32]),
        ed25519_dalek::SigningKey::from_bytes(&[2; 32]),
    );
    let now = time::OffsetDateTime::UNIX_EPOCH;
    let d1 = keydoc::sign(&keydoc::initial(&team, &k1, now), &[&k1]);
    let d2 = keydoc::sign(
        &keydoc::rotated(&team, &[], &k1, &k2, now, time::Duration::days(1)),
        &[&k1, &k2],
    );
    s.put_key_document(&d1).unwrap();
    s.put_key_document(&d2).unwrap();
    assert_eq!(s.key_documents().unwrap(), vec![d1, d2]);

    // Quarantine: the record in lists, the body apart.
    s.quarantine(&json!({"reason": "x"}), b"the body").unwrap();
    let q = s.quarantine_page(None, 10).unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].1, json!({"reason": "x"}));
    let body = s.quarantined_body(q[0].0).unwrap();
    assert_eq!(body.as_deref(), Some(&b"the body"[..]));
    // TAXII collections: in order, date_added strictly increasing even at one instant,
    // (id, version) held once, collections apart, versions by id, pulls counted.
    let obj = |id: &str, version: &str| super::TaxiiObject {
        id: id.into(),
        version: version.into(),
        spec_version: "2.1".into(),
        date_added_us: 0,
        report_id: rid("r1"),
        message_id: mid(7),
        object: json!({"id": id, "modified": version}),
    };
    let mut first = [
        obj("indicator--1", "2026-01-01T00:00:00.000Z"),
        obj("indicator--2", "2026-01-01T00:00:00.000Z"),
        obj("indicator--1", "2026-01-01T00:00:00.000Z"),
    ];
    assert_eq!(
        s.taxii_publish("cert-b", 1_000, &mut first, None, None)
            .unwrap(),
        2
    );
    let mut again = [
        obj("indicator--1", "2026-01-01T00:00:00.000Z"),
        obj("indicator--1", "2026-02-01T00:00:00.000Z"),
    ];
    assert_eq!(
        s.taxii_publish("cert-b", 5, &mut again, None, None)
            .unwrap(),
        1
    );
    assert_eq!(
        s.taxii_publish("cert-bb", 5, &mut again[..1], None, None)
            .unwrap(),
        1
    );
    let all = s.taxii_page("cert-b", 0, 10).unwrap();
    assert_eq!(all.len(), 3, "{all:?}");
    let added: Vec<i64> = all.iter().map(|(_, o)| o.date_added_us).collect();
    assert_eq!(added, [1_000, 1_001, 1_002]);
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0));
    let rest = s.taxii_page("cert-b", all[0].0, 10).unwrap();
    assert_eq!(rest.len(), 2);
    assert_eq!(s.taxii_page("cert-b", all[2].0, 10).unwrap(), vec![]);
    // Pages end and begin between objects one publish added.
    assert_eq!(s.taxii_page("cert-b", 0, 1).unwrap(), all[..1]);
    assert_eq!(s.taxii_page("cert-b", all[0].0, 1).unwrap(), all[1..2]);
    assert_eq!(s.taxii_page("cert-b", all[1].0, 10).unwrap(), all[2..]);
    let versions = s.taxii_versions("cert-b", "indicator--1").unwrap();
    let v: Vec<&str> = versions.iter().map(|(_, o)| o.version.as_str()).collect();
    assert_eq!(v, ["2026-01-01T00:00:00.000Z", "2026-02-01T00:00:00.000Z"]);
    assert_eq!(s.taxii_versions("cert-b", "indicator--").unwrap(), vec![]);
    // Versions added by one publish, among other objects.
    let mut both = [
        obj("indicator--9", "2026-01-01T00:00:00.000Z"),
        obj("indicator--8", "2026-01-01T00:00:00.000Z"),
        obj("indicator--9", "2026-03-01T00:00:00.000Z"),
    ];
    assert_eq!(
        s.taxii_publish("cert-v", 1_000, &mut both, None, None)
            .unwrap(),
        3
    );
    let nine = s.taxii_versions("cert-v", "indicator--9").unwrap();
    let v: Vec<&str> = nine.iter().map(|(_, o)| o.version.as_str()).collect();
    assert_eq!(v, ["2026-01-01T00:00:00.000Z", "2026-03-01T00:00:00.000Z"]);
    let page = s.taxii_page("cert-v", 0, 10).unwrap();
    assert_eq!(nine, [page[0].clone(), page[2].clone()]);
    // The versions listed are the versions held, in their order.
    for (coll, id) in [("cert-v", "indicator--9"), ("cert-b", "indicator--1")] {
        let held: Vec<(u64, String)> = s
            .taxii_versions(coll, id)
            .unwrap()
            .into_iter()
            .map(|(seq, o)| (seq, o.version))
            .collect();
        assert_eq!(s.taxii_version_list(coll, id).unwrap(), held, "{coll} {id}");
    }
    assert_eq!(s.taxii_version_list("cert-v", "indicator--").unwrap(), []);
    // Where a read `added_after` a time starts, at every time around every object's: in a
    // collection of 40 publishes of 1 to 3 objects, two or more at one instant.
    for p in 0..40i64 {
        let mut batch: Vec<_> = (0..1 + p % 3)
            .map(|i| obj(&format!("indicator--a{p}-{i}"), "2026-01-01T00:00:00.000Z"))
            .collect();
        s.taxii_publish("cert-t", 10_000 + p / 2 * 10, &mut batch, None, None)
            .unwrap();
    }
    let all = s.taxii_page("cert-t", 0, 1_000).unwrap();
    assert_eq!(all.len(), 79);
    for at in [i64::MIN, 0, 9_999, i64::MAX].into_iter().chain(
        all.iter()
            .flat_map(|(_, o)| [o.date_added_us - 1, o.date_added_us]),
    ) {
        let through = all
            .iter()
            .take_while(|(_, o)| o.date_added_us <= at)
            .last()
            .map_or(0, |(seq, _)| *seq);
        assert_eq!(
            s.taxii_added_through("cert-t", at).unwrap(),
            through,
            "at {at}"
        );
    }
    assert_eq!(s.taxii_added_through("cert-none", i64::MAX).unwrap(), 0);
    assert_eq!(s.taxii_pulls("cert-b", &mid(7)).unwrap(), 0);
    assert_eq!(s.taxii_count_pull("cert-b", &mid(7), None).unwrap(), 1);
    assert_eq!(s.taxii_count_pull("cert-b", &mid(7), None).unwrap(), 2);
    assert_eq!(s.taxii_pulls("cert-bb", &mid(7)).unwrap(), 0);
    s.put_taxii_status("s1", &json!({"total_count": 1}))
        .unwrap();
    assert_eq!(
        s.taxii_status("s1").unwrap(),
        Some(json!({"total_count": 1}))
    );
    assert_eq!(s.taxii_status("s2").unwrap(), None);
    // Holdings: one per (report, peer), replaced, listed by report.
    let held = |peer: &str, version: u32, state: super::HoldingState| super::Holding {
        report_id: rid("r-h"),
        peer: pid(peer),
        version,
        sent: vec![(version, mid(u128::from(version)))],
        report_digest: format!("d{version}"),
        message_id: mid(u128::from(version)),
        format: Format::Stix,
        marking: Some(Tlp::Green),
        view: "GREEN|community|none|stix|federation".into(),
        state,
        at: "2026-12-02T00:00:00.000Z".into(),
        reason: None,
    };
    s.put_holding(&held("b", 1, super::HoldingState::Current))
        .unwrap();
    s.put_holding(&held("c", 1, super::HoldingState::Current))
        .unwrap();
    s.put_holding(&held("b", 2, super::HoldingState::Current))
        .unwrap();
    s.put_holding(&held("c", 1, super::HoldingState::Retracted))
        .unwrap();
    assert_eq!(
        s.holdings(&rid("r-h")).unwrap(),
        vec![
            held("b", 2, super::HoldingState::Current),
            held("c", 1, super::HoldingState::Retracted)
        ]
    );
    assert_eq!(s.holdings(&rid("r-")).unwrap(), vec![]);
    // A holding written with what a collection publishes, new objects or none.
    let mut with = held("d", 3, super::HoldingState::Current);
    with.report_id = rid("r-p");
    let mut fresh = [obj("indicator--9", "2026-03-01T00:00:00.000Z")];
    assert_eq!(
        s.taxii_publish("cert-d", 1_000, &mut fresh, None, Some(&with))
            .unwrap(),
        1
    );
    assert_eq!(s.holdings(&rid("r-p")).unwrap(), vec![with.clone()]);
    with.version = 4;
    assert_eq!(
        s.taxii_publish("cert-d", 1_000, &mut fresh, None, Some(&with))
            .unwrap(),
        0
    );
    assert_eq!(s.holdings(&rid("r-p")).unwrap(), vec![with]);
    // Peers with pending messages: each once however long its queue, ids that start with
    // another's included.
    assert_eq!(s.peers_with_pending().unwrap(), vec![pid("c")]);
    for (peer, n) in [
        ("q-1", 40),
        ("q", 41),
        ("qa", 42),
        ("q", 43),
        ("q-1", 44),
        ("q", 45),
    ] {
        let e = entry(s.ledger_last().unwrap().as_ref(), Event::Queued, "r1");
        s.enqueue_recorded(&item(peer, n), &e).unwrap();
    }
    let mut pending = s.peers_with_pending().unwrap();
    pending.sort();
    assert_eq!(pending, vec![pid("c"), pid("q"), pid("q-1"), pid("qa")]);

    // What the gateway derives and keeps for its next start: nothing before it keeps; then
    // the last value kept under each name, whatever its size.
    assert_eq!(s.kept_derived(KEPT_IN_SUITE).unwrap(), None);
    s.keep_derived(KEPT_IN_SUITE, b"first").unwrap();
    s.keep_derived("other", b"x").unwrap();
    let large: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    s.keep_derived(KEPT_IN_SUITE, &large).unwrap();
    assert_eq!(s.kept_derived(KEPT_IN_SUITE).unwrap(), Some(large));
    assert_eq!(s.kept_derived("other").unwrap().as_deref(), Some(&b"x"[..]));
    s.keep_derived(KEPT_IN_SUITE, KEPT_LAST).unwrap();
}

/// The name [`suite`] keeps [`KEPT_LAST`] under, last.
pub const KEPT_IN_SUITE: &str = "conformance";
/// What [`suite`] keeps last, for a check that it is read after the store is opened again.
pub const KEPT_LAST: &[u8] = b"kept last";

/// The first message still in the outbox and the first delivered, of a store [`suite`] ran
/// on (to find again after the store changes hands).
pub fn suite_messages(s: &dyn Store) -> (OutboxItem, Delivered) {
    let (_, queued) = s.outbox_page(None, 1).unwrap().remove(0);
    let (_, delivered) = s.delivered_page(None, 1).unwrap().remove(0);
    (queued, delivered)
}

/// Asserts that both messages are found by their ids, each where it is.
pub fn finds_messages(s: &dyn Store, (queued, delivered): &(OutboxItem, Delivered)) {
    assert!(matches!(
        s.find_message(&queued.message_id).unwrap(),
        Some(super::FoundMessage::Outbox(_, i)) if *i == *queued
    ));
    assert!(matches!(
        s.find_message(&delivered.item.message_id).unwrap(),
        Some(super::FoundMessage::Delivered(_, d)) if *d == *delivered
    ));
}

/// Asserts that a message is found, in the outbox or among the delivered, by a reader that
/// looks while its delivery is recorded: the move from one to the other is one write, and
/// the message is never found nowhere in between (the delivery view would then take it for
/// one never queued and read the ledger index for it). `messages` are moved, one after the
/// other, from a peer's outbox to the delivered, while another thread looks for the one
/// being moved.
pub fn finds_messages_while_they_are_delivered(s: &dyn Store, messages: u128) {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    const FIRST: u128 = 1 << 40;
    // The message being moved (0: none yet).
    let moving = AtomicU64::new(0);
    let moved = AtomicBool::new(false);
    let looks = std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut looks = 0u64;
            while !moved.load(Ordering::SeqCst) {
                let n = moving.load(Ordering::SeqCst);
                if n == 0 {
                    continue;
                }
                let id = mid(FIRST + u128::from(n));
                assert!(
                    s.find_message(&id).unwrap().is_some(),
                    "message {id} found neither in the outbox nor among the delivered"
                );
                looks += 1;
            }
            looks
        });
        let mut last = s.ledger_last().unwrap();
        for n in 1..=messages {
            let queued = entry(last.as_ref(), Event::Queued, "r1");
            let seq = s.enqueue_recorded(&item("m", FIRST + n), &queued).unwrap();
            moving.store(u64::try_from(n).unwrap(), Ordering::SeqCst);
            let recorded = entry(Some(&queued), Event::Delivered, "r1");
            s.mark_delivered_recorded(seq, &delivered("m", FIRST + n), &recorded)
                .unwrap();
            last = Some(recorded);
        }
        moved.store(true, Ordering::SeqCst);
        reader.join().unwrap()
    });
    assert!(looks > 0, "the reader looked");
}

/// What every backend must keep when several writers share it: `a` and `b` are two handles on
/// one empty store (the same one for an embedded store, which one gateway owns; two
/// connections, as two gateways have, for a shared one). Ledger appends from both at once
/// stay one chain, and the same message imported through both at once becomes one alert.
pub fn shared_suite(a: &dyn Store, b: &dyn Store) {
    const EACH: u64 = 150;
    // One gateway serializes its own appends (its ledger writer); two gateways on a shared
    // store have only the store to keep them apart: it refuses an entry that does not
    // follow its head, and the writer links it again.
    let same = std::ptr::addr_eq(a as *const dyn Store, b as *const dyn Store);
    let one_writer = std::sync::Mutex::new(());
    std::thread::scope(|scope| {
        for (n, s) in [a, b].into_iter().enumerate() {
            let one_writer = &one_writer;
            scope.spawn(move || {
                for i in 0..EACH {
                    let mut body = EntryBody::new(
                        "2026-11-24T00:00:00Z".into(),
                        Event::Queued,
                        rid(&format!("r-{n}-{i}")),
                        pid("cert-b"),
                    );
                    body.message_id = Some(mid(u128::from(i) + 1000 * n as u128));
                    let _turn = same.then(|| one_writer.lock().unwrap());
                    loop {
                        let e = chain::link(s.ledger_last().unwrap().as_ref(), body.clone());
                        match s.ledger_put(&e) {
                            Ok(()) => break,
                            Err(super::StoreError::Contended) => continue,
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            });
        }
    });
    let entries: Vec<_> = a.ledger_raw().map(|e| e.unwrap()).collect();
    let verified = chain::verify(entries.into_iter(), &[], &[]).unwrap();
    assert_eq!(verified.entries, 2 * EACH, "one chain holds every append");
    let outcomes: Vec<Imported> = std::thread::scope(|scope| {
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let s = if i % 2 == 0 { a } else { b };
                scope.spawn(move || s.import(&alert("cert-z", 77, "same"), None).unwrap())
            })
            .collect();
        tasks.into_iter().map(|t| t.join().unwrap()).collect()
    });
    assert_eq!(
        outcomes.iter().filter(|o| **o == Imported::New).count(),
        1,
        "one alert, however many writers took the message: {outcomes:?}"
    );
    assert!(outcomes
        .iter()
        .all(|o| matches!(o, Imported::New | Imported::Duplicate)));
    assert_eq!(a.alert_count().unwrap(), 1);
}
