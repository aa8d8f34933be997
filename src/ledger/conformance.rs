//! A check every [`Store`] backend's pages of the ledger pass: a page of a query, read
//! through whatever the store keeps to find entries, is the page a read of the whole
//! ledger finds.

use super::{select_page, QueryText};
use crate::disclosure::{Entry, Event};
use crate::store::{LedgerLookup, Store};

/// Panics unless every page of 4,050 queries read with [`super::Query::page`], and pages
/// that keep fewer entries than the store's lookup finds, are the pages read from the whole
/// ledger. The store holds the 700 entries of
/// [`crate::store::conformance::varied_ledger`].
pub fn pages_of_queries_are_the_ledgers(s: &dyn Store) {
    let seqs = |es: Vec<Entry>| es.iter().map(|e| e.seq).collect::<Vec<_>>();
    let some = |v: Option<&str>| v.map(str::to_string);
    let mut found = 0;
    for peer in [None, Some("cert-b"), Some("nobody")] {
        for report in [None, Some("R3"), Some("R99")] {
            for state in [None, Some("refused"), Some("queued")] {
                for (since, until) in [
                    (None, None),
                    (Some("2026-12-04"), None),
                    (None, Some("2026-12-03")),
                    (Some("2026-12-05T06:00:00Z"), Some("2026-12-07T12:00:00Z")),
                    (Some("2027-01-01"), None),
                ] {
                    for indicator in [None, Some("198.51.100.4"), Some("10.0.0.7")] {
                        let q = QueryText {
                            peer: some(peer),
                            report: some(report),
                            state: some(state),
                            since: some(since),
                            until: some(until),
                            indicator: some(indicator),
                        }
                        .parse()
                        .unwrap();
                        // cert-b has every third entry from the second: 352 follows 351.
                        for after in [None, Some(331), Some(350), Some(351), Some(699)] {
                            for limit in [1, 1000] {
                                // Read from the start on, as a store without indexes.
                                let want = select_page(s, |e| q.matches(e), after, limit).unwrap();
                                let got = q.page(s, after, limit).unwrap();
                                found += want.len();
                                assert_eq!(seqs(got), seqs(want), "{q:?} after {after:?}, {limit}");
                            }
                        }
                    }
                }
            }
        }
    }
    // The queries are not all empty.
    assert!(found > 1000, "{found}");
    // A page that keeps fewer entries than the store's lookup finds: 30 of cert-b's
    // refused entries span more than 100 of cert-b's.
    let cert_b = LedgerLookup {
        peer: Some("cert-b"),
        ..LedgerLookup::default()
    };
    let refused = |e: &Entry| e.body.peer == *"cert-b" && e.body.event == Event::Refused;
    for after in [None, Some(100)] {
        let want = select_page(s, refused, after, 30).unwrap();
        assert_eq!(want.len(), 30);
        let got = s.ledger_page(&cert_b, after, 30, &refused).unwrap();
        assert_eq!(seqs(got), seqs(want), "after {after:?}");
    }
}
