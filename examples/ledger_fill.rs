//! Fills a gateway's ledger with N realistic entries, for measuring `irtx ledger list` and
//! `irtx ledger verify` at scale (`scripts/ledger-bench.sh`). Writes in bulk and flushes once:
//! this is a measuring tool, not the gateway's write path.
//!
//! Usage: cargo run --release --example ledger_fill -- DIR N

use irtx::disclosure::{chain, Disclosed, Entry, EntryBody, Event};

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().expect("DIR"));
    let n: u64 = args.next().expect("N").parse().expect("N is a number");
    let init = irtx::cli::init::initialize(&dir, "cert-bench", None, None).expect("init");
    let key_hex = std::fs::read_to_string(dir.join("team.key")).unwrap();
    let key = ed25519_dalek::SigningKey::from_bytes(
        irtx::anonymize::Key::from_hex(&key_hex).unwrap().bytes(),
    );
    let db = sled::open(dir.join("data/store")).unwrap();
    let ledger = db.open_tree("ledger").unwrap();
    let checkpoints = db.open_tree("checkpoints").unwrap();
    let peers = ["cert-nat", "cert-sec", "org-x", "mssp", "isac-energy"];
    let events = [
        Event::Queued,
        Event::Delivered,
        Event::Queued,
        Event::Delivered,
        Event::Withheld,
        Event::Failing,
    ];
    let mut last: Option<Entry> = None;
    let start = std::time::Instant::now();
    for i in 0..n {
        let event = events[(i % events.len() as u64) as usize];
        let at = format!(
            "2026-{:02}-{:02}T{:02}:{:02}:00Z",
            1 + (i / 100_000) % 12,
            1 + (i / 3_000) % 28,
            (i / 60) % 24,
            i % 60
        );
        let mut body = EntryBody::new(
            at,
            event,
            format!("INC-2026-{:06}", i / 6).parse().unwrap(),
            peers[(i % peers.len() as u64) as usize].parse().unwrap(),
        );
        if event == Event::Withheld {
            body = body.because(
                irtx::disclosure::Cause::AboveMaxTlp,
                "the report is TLP:AMBER: TLP:AMBER is above TLP:GREEN",
            );
        }
        body.report_digest = Some(format!("{:064x}", i * 7919));
        body.marking = Some(irtx::tlp::Tlp::Amber);
        body.profile = Some("pseudonymize".into());
        body.format = Some(irtx::peer::Format::Stix);
        body.message_id = Some(irtx::envelope::MessageId(uuid::Uuid::from_u128(
            0x4000_8000_0000_0000_0000 + u128::from(i),
        )));
        body.indicators = (0..3)
            .map(|k| Disclosed {
                value: format!("198.51.{}.{}", (i + k) % 256, k),
                sent_as: format!("10.{}.{}.{}", k, i % 256, (i / 256) % 256),
            })
            .collect();
        let e = chain::link(last.as_ref(), body);
        ledger
            .insert(e.seq.to_be_bytes(), serde_json::to_vec(&e).unwrap())
            .unwrap();
        if (e.seq + 1) % irtx::ledger::CHECKPOINT_EVERY == 0 || e.seq + 1 == n {
            let c = chain::checkpoint(&e, "cert-bench", &e.body.at, &key);
            checkpoints
                .insert(c.seq.to_be_bytes(), serde_json::to_vec(&c).unwrap())
                .unwrap();
        }
        last = Some(e);
    }
    db.flush().unwrap();
    eprintln!(
        "filled {n} entries in {:.1}s into {} (kid {})",
        start.elapsed().as_secs_f64(),
        dir.display(),
        init.kid
    );
}
