//! How long other writes to the store wait while the ledger indexes catch up: N ledger
//! entries written without their indexes (as a gateway's ledger grows between two reads of
//! the indexes, or after an upgrade), then the catch-up, while another thread writes a small
//! record every half millisecond and times each write.
//!
//! Usage: cargo run --release --example ledger_catchup_stall -- [N]

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use irtx::disclosure::{chain, EntryBody, Event};
use irtx::envelope::MessageId;
use irtx::store::Store;

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .map_or(50_000, |v| v.parse().expect("N"));
    let dir = tempfile::tempdir().unwrap();
    let store = irtx::store::sled_store::SledStore::open(&dir.path().join("store")).unwrap();
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
    store.sync().unwrap();
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
        std::thread::sleep(Duration::from_millis(100));
        let t = Instant::now();
        store.catch_up_indexes().unwrap();
        println!(
            "indexes caught up with {n} entries in {:.0} ms",
            t.elapsed().as_secs_f64() * 1e3
        );
        std::thread::sleep(Duration::from_millis(100));
        done.store(true, Ordering::SeqCst);
        writer.join().unwrap()
    });
    waits.sort();
    let q = |p: f64| waits[((waits.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e3;
    println!(
        "{} small writes meanwhile: p50 {:.3} ms, p99 {:.3} ms, slowest {:.1} ms",
        waits.len(),
        q(0.5),
        q(0.99),
        q(1.0)
    );
}
