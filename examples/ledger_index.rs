//! What the ledger indexes buy the analyst pages: N ledger entries spread over 1,000 reports
//! (each entry naming a message of its own), then the entries of one report and of one
//! message, read through the index and by a full read of the ledger. The first read catches
//! the indexes up with all N entries, as after an upgrade or a busy minute; meanwhile another
//! thread writes a small record every half millisecond and times each write (the catch-up
//! must not hold the store's other writes back).
//!
//! Usage: cargo run --release --example ledger_index -- [N]

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use irtx::disclosure::{chain, EntryBody, Event};
use irtx::envelope::MessageId;
use irtx::store::Store;

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .map_or(200_000, |v| v.parse().expect("N"));
    let dir = tempfile::tempdir().unwrap();
    let store = irtx::store::sled_store::SledStore::open(&dir.path().join("store")).unwrap();
    let t = Instant::now();
    let mut last = None;
    for i in 0..n {
        let mut body = EntryBody::new(
            "2026-12-02T10:00:00Z".into(),
            Event::Queued,
            format!("R-{}", i % 1000).parse().unwrap(),
            "cert-b".parse().unwrap(),
        );
        body.message_id = Some(MessageId(uuid::Uuid::from_u128(u128::from(i) + 1)));
        let e = chain::link(last.as_ref(), body);
        store.ledger_put(&e).unwrap();
        last = Some(e);
    }
    println!("filled {n} entries in {:.1} s", t.elapsed().as_secs_f64());
    let report: irtx::report::ReportId = "R-7".parse().unwrap();
    let message = MessageId(uuid::Uuid::from_u128(u128::from(n / 2)));
    let time = |what: &str, f: &dyn Fn() -> usize| {
        let t = Instant::now();
        let found = f();
        println!(
            "{what}: {found} entries in {:.2} ms",
            t.elapsed().as_secs_f64() * 1000.0
        );
    };
    let done = AtomicBool::new(false);
    let mut waits = std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let mut waits = Vec::new();
            let mut i = 0u64;
            while !done.load(Ordering::SeqCst) {
                let t = Instant::now();
                store.keep_derived("probe", &i.to_be_bytes()).unwrap();
                waits.push(t.elapsed());
                i += 1;
                std::thread::sleep(Duration::from_micros(500));
            }
            waits
        });
        time("index catch-up (first read, all entries)", &|| {
            store.ledger_of_report(&report).unwrap().len()
        });
        done.store(true, Ordering::SeqCst);
        writer.join().unwrap()
    });
    waits.sort();
    let q = |p: f64| waits[((waits.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e3;
    println!(
        "  {} small writes meanwhile: p50 {:.3} ms, p99 {:.3} ms, slowest {:.1} ms",
        waits.len(),
        q(0.5),
        q(0.99),
        q(1.0)
    );
    time("one report, by index", &|| {
        store.ledger_of_report(&report).unwrap().len()
    });
    time("one message, by index", &|| {
        store.ledger_of_message(&message).unwrap().len()
    });
    time("one report, by full read", &|| {
        irtx::ledger::select(&store, |e| e.body.report_id == report)
            .unwrap()
            .len()
    });
    time("one message, by full read", &|| {
        irtx::ledger::select(&store, |e| e.body.message_id == Some(message))
            .unwrap()
            .len()
    });
}
