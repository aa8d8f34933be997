//! Lists the OASIS STIX 2.1 JSON schemas under `schemas/stix2.1/` so `src/schema.rs` can
//! compile them in with `include_str!` (irtx validates STIX offline, with no files beside it).

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/stix2.1");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    for dir in ["common", "observables", "sdos", "sros"] {
        let mut names: Vec<_> = std::fs::read_dir(root.join(dir))
            .expect("schemas/stix2.1 is part of the source tree")
            .map(|e| {
                e.expect("readable dir entry")
                    .file_name()
                    .into_string()
                    .expect("UTF-8 name")
            })
            .filter(|n| n.ends_with(".json"))
            .collect();
        names.sort();
        files.extend(names.into_iter().map(|n| format!("{dir}/{n}")));
    }
    let mut out = String::from("/// (path under schemas/stix2.1, file text) of every OASIS STIX 2.1 schema.\npub const STIX_SCHEMAS: &[(&str, &str)] = &[\n");
    for f in &files {
        let abs = root.join(f);
        writeln!(
            out,
            "    ({f:?}, include_str!({:?})),",
            abs.display().to_string()
        )
        .unwrap();
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("stix_schemas.rs");
    std::fs::write(dest, out).unwrap();
}
