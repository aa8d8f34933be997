//! Writes the seed corpora of the fuzz targets from tests/data: signed messages and
//! documents made from every example report, receipts, key documents, configs.
//!
//! Usage: cargo run --manifest-path fuzz/Cargo.toml --example seeds -- CORPUS_DIR

use std::path::{Path, PathBuf};

use irtx::convert::{convert, Format};
use irtx::envelope::MessageId;
use irtx::exchange::keydoc;
use irtx::exchange::outbound::{receipt, seal, Envelope};
use irtx::tlp::Tlp;

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) {
    let d = dir.join(target);
    std::fs::create_dir_all(&d).expect("corpus dir");
    std::fs::write(d.join(name), bytes).expect("seed");
}

fn main() {
    let out = PathBuf::from(std::env::args().nth(1).expect("CORPUS_DIR"));
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data");
    let key = irtx_fuzz::key();
    let (a, b) = ("cert-a".parse().unwrap(), "cert-b".parse().unwrap());
    let team = irtx::team::Team::new("cert-a".parse().unwrap(), "A");
    let mut n = 0;
    for dir in ["valid", "invalid"] {
        for e in std::fs::read_dir(data.join(dir)).expect("tests/data") {
            let p = e.expect("entry").path();
            let bytes = std::fs::read(&p).expect("file");
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            write(&out, "report", &name, &bytes);
            write(&out, "strict_json", &name, &bytes);
            let Ok(r) = irtx::report::parse(&bytes) else {
                continue;
            };
            for (f, target) in [(Format::Stix, "stix_document"), (Format::Iodef, "iodef_document")] {
                let doc = convert(&r, &team, f);
                write(&out, target, &name, doc.to_string().as_bytes());
                if f == Format::Stix {
                    write(&out, "import_document", &name, doc.to_string().as_bytes());
                }
                let sealed = seal(
                    doc,
                    f,
                    Tlp::Amber,
                    Envelope {
                        from: &a,
                        to: &b,
                        id: MessageId(uuid::Uuid::from_u128(n)),
                        now: irtx_fuzz::now(),
                    },
                    &key,
                );
                n += 1;
                let body = serde_json::to_vec(&sealed.jws).unwrap();
                write(&out, "inbound_message", &format!("{f}-{name}"), &body);
            }
        }
    }
    let (_, r) = receipt(
        (&MessageId(uuid::Uuid::from_u128(1)), "00"),
        &a,
        &b,
        irtx::envelope::ReceiptStatus::Accepted,
        vec![],
        irtx_fuzz::now(),
        &key,
    );
    write(&out, "receipt", "accepted.json", &serde_json::to_vec(&r).unwrap());
    let new = ed25519_dalek::SigningKey::from_bytes(&[8; 32]);
    let id: irtx::team::TeamId = "cert-a".parse().unwrap();
    let initial = keydoc::sign(&keydoc::initial(&id, &key, irtx_fuzz::now()), &[&key]);
    let rotated = keydoc::sign(
        &keydoc::rotated(&id, &[], &key, &new, irtx_fuzz::now(), time::Duration::days(7)),
        &[&key, &new],
    );
    write(&out, "key_document", "initial.json", &serde_json::to_vec(&initial).unwrap());
    write(&out, "key_document", "rotated.json", &serde_json::to_vec(&rotated).unwrap());
    let config = "[team]\nid = \"cert-a\"\n[exchange]\nmax_objects = 10\n[profiles.r]\nbase = \"strict\"\nipv4_prefix = 16\nroles = { c2 = \"keep\" }\n[[routing]]\npeers = [\"cert-b\"]\nkinds = [\"incident\"]\n[peers.cert-b]\nurl = \"https://b.example\"\njwk = { kty = \"OKP\", crv = \"Ed25519\", x = \"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\" }\nmax_tlp = \"AMBER\"\naudience = \"community\"\n";
    write(&out, "config", "full.toml", config.as_bytes());
    // Other tools' documents, where ../shared is beside the project.
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference/samples");
    let mut stack = vec![samples];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "json") {
                let name = p.to_string_lossy().replace('/', "_");
                write(&out, "import_document", &name, &std::fs::read(&p).expect("sample"));
            }
        }
    }
    for (name, q) in [
        ("filters", "match[type]=indicator,malware&match[version]=all&added_after=2026-12-01T00:00:00Z&limit=7"),
        ("versions", "match[version]=first,last,2026-11-04T09:00:00.000Z&match[spec_version]=2.1"),
        ("basic", "Basic Y2VydC1iOnRva2Vu"),
        ("accept", "application/taxii+json;version=2.1, application/json;q=0.5"),
        ("envelope", r#"{"objects":[{"type":"indicator","id":"indicator--1","modified":"2026-12-01T00:00:00Z"}]}"#),
    ] {
        write(&out, "taxii_request", name, q.as_bytes());
    }
    eprintln!("seeds written to {}", out.display());
}
