//! The core is pure (DESIGN.md section 3, STYLE.md section 3): no core file may mention I/O,
//! the network, the clock, or an adapter.

use crate::helpers::root;

const CORE: &[&str] = &[
    "src/report",
    "src/convert",
    "src/tlp",
    "src/schema.rs",
    "src/team.rs",
];
const FORBIDDEN: &[&str] = &[
    "tokio",
    "sled",
    "reqwest",
    "axum",
    "std::fs",
    "std::net::Tcp",
    "SystemTime::now",
    "OffsetDateTime::now",
    "crate::store",
    "crate::cli",
    "crate::config",
    "std::env",
    "rand::",
];

fn files(p: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    if p.is_dir() {
        for e in std::fs::read_dir(p).unwrap() {
            files(&e.unwrap().path(), out);
        }
    } else if p.extension().is_some_and(|e| e == "rs") {
        out.push(p.to_path_buf());
    }
}

#[test]
fn core_modules_do_no_io() {
    let mut all = Vec::new();
    for c in CORE {
        files(&root().join(c), &mut all);
    }
    assert!(all.len() >= 8);
    for f in all {
        let text = std::fs::read_to_string(&f).unwrap();
        for word in FORBIDDEN {
            assert!(!text.contains(word), "{} mentions `{word}`", f.display());
        }
    }
}
