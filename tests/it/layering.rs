//! The layers of DESIGN.md section 3 and STYLE.md section 3, checked on the source:
//! - the core is pure: no core file mentions I/O, the network, the clock, randomness, or an
//!   adapter;
//! - inside the core, only `exchange` composes the others (`anonymize` and `tlp` do not
//!   call each other's logic; both use `report`);
//! - the store knows nothing of the ledger's writer, the services, the API or the CLI;
//! - the services never call the API.

use crate::helpers::{files_under, root};

/// Every core module.
const CORE: &[&str] = &[
    "src/report",
    "src/convert",
    "src/tlp",
    "src/anonymize",
    "src/envelope",
    "src/exchange",
    "src/disclosure",
    "src/intake",
    "src/taxii",
    "src/peer.rs",
    "src/team.rs",
    "src/schema.rs",
    "src/timestamp.rs",
];

/// What no core file may mention.
const NOT_IN_CORE: &[&str] = &[
    "tokio",
    "sled",
    "reqwest",
    "axum",
    "std::fs",
    "std::net::Tcp",
    "std::env",
    "SystemTime::now",
    "OffsetDateTime::now",
    "new_v4",
    "getrandom",
    "rand::",
    "crate::store",
    "crate::ledger",
    "crate::federation",
    "crate::api",
    "crate::cli",
    "crate::config",
    "crate::keys",
    "crate::app",
];

/// Every `.rs` file under these paths, with its text.
fn sources(paths: &[&str]) -> Vec<(std::path::PathBuf, String)> {
    paths
        .iter()
        .flat_map(|c| files_under(&root().join(c), "rs"))
        .map(|f| {
            let text = std::fs::read_to_string(&f).unwrap();
            (f, text)
        })
        .collect()
}

/// Asserts no file under `paths` mentions any of `words`.
fn forbid(paths: &[&str], words: &[&str], rule: &str) {
    let files = sources(paths);
    assert!(!files.is_empty(), "no files under {paths:?}");
    for (f, text) in files {
        for word in words {
            assert!(
                !text.contains(word),
                "{} mentions `{word}`: {rule}",
                f.display()
            );
        }
    }
}

#[test]
fn core_modules_do_no_io() {
    assert!(sources(CORE).len() >= 20);
    forbid(CORE, NOT_IN_CORE, "the core is pure and imports no adapter");
}

#[test]
fn only_exchange_composes_the_core() {
    forbid(
        &["src/anonymize"],
        &["crate::tlp::policy", "crate::convert", "crate::exchange"],
        "anonymize is composed by exchange",
    );
    forbid(
        &["src/intake"],
        &["crate::anonymize", "crate::convert", "crate::tlp::policy"],
        "intake reads documents; deciding and writing are exchange's",
    );
    forbid(
        &["src/tlp"],
        &["crate::anonymize", "crate::convert", "crate::exchange"],
        "tlp is composed by exchange",
    );
    forbid(
        &["src/convert"],
        &["crate::anonymize", "crate::exchange", "crate::tlp::policy"],
        "convert is composed by exchange",
    );
    forbid(
        &[
            "src/report",
            "src/peer.rs",
            "src/team.rs",
            "src/timestamp.rs",
        ],
        &[
            "crate::anonymize",
            "crate::convert",
            "crate::exchange",
            "crate::envelope",
            "crate::disclosure",
        ],
        "the plain data sits below everything",
    );
}

#[test]
fn adapters_keep_their_direction() {
    forbid(
        &["src/store"],
        &[
            "crate::ledger",
            "crate::federation",
            "crate::api",
            "crate::cli",
            "crate::config",
        ],
        "the store is below the ledger and the services",
    );
    forbid(
        &["src/ledger"],
        &[
            "crate::federation",
            "crate::api",
            "crate::cli",
            "crate::config",
        ],
        "the ledger is below the services",
    );
    forbid(
        &["src/federation"],
        &["crate::api", "crate::cli", "crate::app", "config::Config"],
        "services get config sections, never the API or the whole config",
    );
    forbid(
        &["src/api"],
        &["crate::cli", "crate::app", "crate::config::Config"],
        "the API gets its state, not the config",
    );
}
