//! The PostgreSQL backend (DESIGN §12), against a real server each test starts.

use irtx::store::postgres_store::{Connect, PgStore};

use crate::pg::PgServer;

pub fn connect(url: &str) -> Connect {
    Connect {
        url: url.to_string(),
        password: None,
        pool_size: 8,
        lease_ms: 60_000,
    }
}

#[test]
fn postgres_passes_the_conformance_suite() {
    let pg = PgServer::start();
    let s = PgStore::open(&connect(&pg.url)).unwrap();
    irtx::store::conformance::suite(&s);
    // Opened again (a second gateway, or a restart), the schema is found, not made twice,
    // and what was written is there.
    let again = PgStore::open(&connect(&pg.url)).unwrap();
    use irtx::store::Store;
    assert!(!again.reports_page(None, 10).unwrap().is_empty());
    assert!(again.alert_count().unwrap() > 0);
}

#[test]
fn two_gateways_on_one_database_keep_one_ledger_and_import_a_message_once() {
    let pg = PgServer::start();
    let (a, b) = (
        PgStore::open(&connect(&pg.url)).unwrap(),
        PgStore::open(&connect(&pg.url)).unwrap(),
    );
    irtx::store::conformance::shared_suite(&a, &b);
}

#[test]
fn a_peers_queue_is_worked_by_one_gateway_and_a_lapsed_claim_is_taken_over() {
    use irtx::store::Store;
    let pg = PgServer::start();
    let short = Connect {
        lease_ms: 300,
        ..connect(&pg.url)
    };
    let (a, b) = (
        PgStore::open(&short).unwrap(),
        PgStore::open(&short).unwrap(),
    );
    let (x, y): (irtx::peer::PeerId, irtx::peer::PeerId) =
        ("cert-x".parse().unwrap(), "cert-y".parse().unwrap());
    assert!(a.claim_queue(&x).unwrap());
    assert!(a.claim_queue(&x).unwrap(), "a gateway renews its own claim");
    assert!(!b.claim_queue(&x).unwrap(), "held by a");
    assert!(b.claim_queue(&y).unwrap(), "another peer's queue is free");
    a.release_queue(&x).unwrap();
    assert!(b.claim_queue(&x).unwrap(), "released");
    assert!(!a.claim_queue(&x).unwrap());
    // b stops renewing (as a gateway that was killed): after the lease, a takes over.
    std::thread::sleep(std::time::Duration::from_millis(600));
    assert!(a.claim_queue(&x).unwrap(), "a lapsed claim returns");
    assert!(!b.claim_queue(&x).unwrap());
}
