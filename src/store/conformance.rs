//! One conformance suite for every [`Store`] backend (Garage's `db/test.rs` pattern). It
//! panics on the first behaviour that differs from the trait's contract.

use serde_json::json;

use super::{
    Alert, Delivered, DeliveryState, Imported, OutboxItem, PeerRecord, Store, StoredReport,
};
use crate::envelope::{Jws, Receipt, ReceiptStatus};

fn jws(tag: &str) -> Jws {
    Jws {
        payload: tag.into(),
        protected: "p".into(),
        signature: "s".into(),
    }
}

fn item(peer: &str, id: &str) -> OutboxItem {
    OutboxItem {
        message_id: id.into(),
        report_id: "r1".into(),
        peer: peer.into(),
        jws: jws(id),
        sha256: format!("sha-{id}"),
        queued_at: "2026-11-24T00:00:00Z".into(),
        attempts: 0,
        next_attempt_ms: 0,
        state: DeliveryState::Queued,
        last_error: None,
    }
}

fn alert(sender: &str, message_id: &str, sha: &str) -> Alert {
    Alert {
        id: format!("alert-{sender}-{message_id}-{sha}"),
        sender: sender.into(),
        kid: "kid".into(),
        received_at: "2026-11-24T00:00:00Z".into(),
        message_id: message_id.into(),
        sha256: sha.into(),
        tlp: "GREEN".into(),
        format: "stix-2.1".into(),
        document: json!({"type": "bundle"}),
        jws: jws(message_id),
    }
}

fn d2_for(peer: &str, id: &str) -> Delivered {
    Delivered {
        item: item(peer, id),
        receipt_jws: jws("r2"),
        receipt: Receipt {
            message_id: id.into(),
            message_sha256: format!("sha-{id}"),
            from: peer.into(),
            to: "a".into(),
            received: "2026-11-24T00:00:01Z".into(),
            status: ReceiptStatus::Accepted,
            reasons: vec![],
        },
        delivered_at: "2026-11-24T00:00:02Z".into(),
    }
}

/// Runs the suite on an empty store.
pub fn suite(s: &dyn Store) {
    // Reports.
    assert!(s.report("r1").unwrap().is_none());
    let r = StoredReport {
        id: "r1".into(),
        report: json!({"title": "t"}),
        submitted_at: "2026-11-24T00:00:00Z".into(),
    };
    s.put_report(&r).unwrap();
    assert_eq!(s.report("r1").unwrap(), Some(r.clone()));
    assert_eq!(s.reports().unwrap(), vec![r]);

    // Peers.
    let p = PeerRecord {
        id: "cert-b".into(),
        url: "http://127.0.0.1:1".into(),
        keys: vec![],
        max_tlp: "AMBER".into(),
        audience: "community".into(),
        profile: "none".into(),
        format: "stix".into(),
        key_domain: "federation".into(),
    };
    s.put_peer(&p).unwrap();
    assert_eq!(s.peer("cert-b").unwrap(), Some(p.clone()));
    assert_eq!(s.peers().unwrap().len(), 1);
    assert!(s.remove_peer("cert-b").unwrap());
    assert!(!s.remove_peer("cert-b").unwrap());
    assert!(s.peer("cert-b").unwrap().is_none());

    // Outbox: ordered per peer; a dead letter does not block; delivery moves atomically.
    let a1 = s.enqueue(&item("b", "m1")).unwrap();
    let c1 = s.enqueue(&item("c", "m2")).unwrap();
    let a2 = s.enqueue(&item("b", "m3")).unwrap();
    assert!(a1 < c1 && c1 < a2, "sequence numbers increase");
    assert_eq!(s.outbox_head("b").unwrap().unwrap().1.message_id, "m1");
    assert_eq!(s.outbox_head("c").unwrap().unwrap().1.message_id, "m2");
    assert_eq!(s.peers_with_pending().unwrap(), vec!["b", "c"]);
    let mut dead = item("b", "m1");
    dead.state = DeliveryState::DeadLettered;
    dead.attempts = 5;
    s.update_outbox(a1, &dead).unwrap();
    assert_eq!(s.outbox_head("b").unwrap().unwrap().1.message_id, "m3");
    let receipt = Receipt {
        message_id: "m3".into(),
        message_sha256: "sha-m3".into(),
        from: "b".into(),
        to: "a".into(),
        received: "2026-11-24T00:00:01Z".into(),
        status: ReceiptStatus::Accepted,
        reasons: vec![],
    };
    let d = Delivered {
        item: item("b", "m3"),
        receipt_jws: jws("r"),
        receipt,
        delivered_at: "2026-11-24T00:00:02Z".into(),
    };
    s.mark_delivered(a2, &d).unwrap();
    assert!(s.outbox_head("b").unwrap().is_none());
    assert_eq!(
        s.peers_with_pending().unwrap(),
        vec!["c"],
        "dead letters and deliveries are not pending"
    );
    // A retried dead letter is pending again.
    let mut again = dead.clone();
    again.state = DeliveryState::Failing;
    s.update_outbox(a1, &again).unwrap();
    assert_eq!(s.outbox_head("b").unwrap().unwrap().1.message_id, "m1");
    s.update_outbox(a1, &dead).unwrap();
    assert_eq!(s.delivered().unwrap(), vec![d]);
    let left: Vec<String> = s
        .outbox()
        .unwrap()
        .into_iter()
        .map(|(_, i)| i.message_id)
        .collect();
    assert_eq!(left, vec!["m1", "m2"]);

    // Import: once; the same again is a duplicate; other content under the id a conflict.
    let first = alert("b", "m9", "aaa");
    assert_eq!(s.import(&first).unwrap(), Imported::New);
    assert_eq!(
        s.import(&alert("b", "m9", "aaa")).unwrap(),
        Imported::Duplicate
    );
    assert_eq!(
        s.import(&alert("b", "m9", "bbb")).unwrap(),
        Imported::Conflict
    );
    assert_eq!(
        s.import(&alert("c", "m9", "aaa")).unwrap(),
        Imported::New,
        "ids are per sender"
    );
    assert_eq!(s.alerts().unwrap().len(), 2);
    assert_eq!(s.alert(&first.id).unwrap(), Some(first));
    assert!(s.alert("nope").unwrap().is_none());

    // Ledger: appended in order, read back in order, last is the head.
    assert!(s.ledger_last().unwrap().is_none());
    let mut last = None;
    for i in 0..3 {
        let e = crate::ledger::chain::link(
            last.as_ref(),
            crate::ledger::chain::EntryBody {
                event: "queued".into(),
                report_id: format!("r{i}"),
                ..Default::default()
            },
        );
        s.ledger_put(&e).unwrap();
        last = Some(e);
    }
    assert_eq!(s.ledger_last().unwrap(), last);
    let seqs: Vec<u64> = s.ledger_entries().map(|e| e.unwrap().seq).collect();
    assert_eq!(seqs, vec![0, 1, 2]);
    let key = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
    let cp = crate::ledger::chain::checkpoint(last.as_ref().unwrap(), "a", "t", &key);
    s.put_checkpoint(&cp).unwrap();
    assert_eq!(s.checkpoints().unwrap(), vec![cp]);

    // Queuing and delivering together with the ledger entry.
    let e3 = crate::ledger::chain::link(
        last.as_ref(),
        crate::ledger::chain::EntryBody {
            event: "queued".into(),
            ..Default::default()
        },
    );
    let q = s.enqueue_recorded(&item("d", "m20"), &e3).unwrap();
    assert_eq!(s.outbox_head("d").unwrap().unwrap().1.message_id, "m20");
    assert_eq!(s.ledger_last().unwrap().unwrap().seq, 3);
    let e4 = crate::ledger::chain::link(
        Some(&e3),
        crate::ledger::chain::EntryBody {
            event: "delivered".into(),
            ..Default::default()
        },
    );
    let mut dd = d2_for("d", "m20");
    dd.item = item("d", "m20");
    s.mark_delivered_recorded(q, &dd, &e4).unwrap();
    assert!(s.outbox_head("d").unwrap().is_none());
    assert_eq!(s.ledger_last().unwrap().unwrap(), e4);

    // Quarantine.
    s.quarantine(&json!({"reason": "x"})).unwrap();
    assert_eq!(s.quarantined().unwrap(), vec![json!({"reason": "x"})]);
}
