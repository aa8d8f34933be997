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
