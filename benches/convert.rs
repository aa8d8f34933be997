//! `convert` = validate + convert + check the output + serialize, for one report with 10 and
//! with 1,000 indicators, to STIX 2.1 and to IODEF v2.
//!
//! Run: `cargo bench --bench convert`.
#![expect(missing_docs, reason = "criterion_group! generates an undocumented fn")]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use irtx::convert::{convert_json, Format};
use irtx::team::Team;
use serde_json::{json, Value};

fn report(indicators: usize) -> Vec<u8> {
    let mut base: Value = serde_json::from_slice(
        &std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/valid/incident-ransomware-full.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let roles = ["source", "c2", "payload-delivery", "target", "victim"];
    let list: Vec<Value> = (0..indicators)
        .map(|i| {
            let role = roles[i % roles.len()];
            match i % 4 {
                0 => json!({"type": "ipv4", "value": format!("198.51.{}.{}", (i / 256) % 256, i % 256), "role": role}),
                1 => json!({"type": "domain", "value": format!("host{i}.evil.example"), "role": role}),
                2 => json!({"type": "sha256", "value": format!("{:064x}", i as u128 * 0x9e37_79b9_7f4a_7c15), "role": "payload"}),
                _ => json!({"type": "url", "value": format!("https://host{i}.evil.example/p?i={i}"), "role": role}),
            }
        })
        .collect();
    base["indicators"] = Value::Array(list);
    base["field_tlp"] = json!({"/description": "AMBER+STRICT", "/reporter": "RED"});
    serde_json::to_vec(&base).unwrap()
}

fn bench(c: &mut Criterion) {
    let team = Team::new("cert-bench".parse().unwrap(), "CERT Bench");
    let mut g = c.benchmark_group("convert");
    for n in [10usize, 1000] {
        let bytes = report(n);
        g.throughput(Throughput::Elements(1));
        for fmt in [Format::Stix, Format::Iodef] {
            g.bench_with_input(BenchmarkId::new(fmt.as_str(), n), &bytes, |b, bytes| {
                b.iter(|| {
                    let doc = convert_json(bytes, &team, fmt).unwrap();
                    serde_json::to_vec(&doc).unwrap()
                })
            });
        }
    }
    g.finish();

    // The stages, to see where the time goes.
    let mut g = c.benchmark_group("stage");
    let bytes = report(1000);
    let r = irtx::report::parse(&bytes).unwrap();
    g.bench_function("parse+validate/1000", |b| {
        b.iter(|| irtx::report::parse(&bytes).unwrap())
    });
    for fmt in [Format::Stix, Format::Iodef] {
        let doc = irtx::convert::convert(&r, &team, fmt);
        g.bench_function(format!("convert/{fmt}/1000"), |b| {
            b.iter(|| irtx::convert::convert(&r, &team, fmt))
        });
        g.bench_function(format!("check-output/{fmt}/1000"), |b| {
            b.iter(|| irtx::convert::check_output(&doc, fmt))
        });
        g.bench_function(format!("serialize/{fmt}/1000"), |b| {
            b.iter(|| serde_json::to_vec(&doc).unwrap())
        });
    }
    g.finish();
}

/// Anonymization of a report with 1,000 indicators (a fifth of them victim-side), and the
/// whole per-peer path: decide, redact, anonymize, convert, check.
fn anonymize(c: &mut Criterion) {
    use irtx::anonymize::{anonymize, Key, Profile, Pseudonymizer};
    let team = Team::new("cert-bench".parse().unwrap(), "CERT Bench");
    let r = irtx::report::parse(&report(1000)).unwrap();
    let p = Pseudonymizer::new(&Key::from_bytes([7; 32]));
    let mut g = c.benchmark_group("anonymize");
    for name in ["pseudonymize", "strict"] {
        let profile = Profile::builtin(name).unwrap();
        g.bench_function(format!("{name}/1000"), |b| {
            b.iter(|| anonymize(&r, &profile, &p).unwrap())
        });
    }
    let profile = Profile::builtin("pseudonymize").unwrap();
    for fmt in [Format::Stix, Format::Iodef] {
        let to = irtx::exchange::Recipient {
            policy: irtx::peer::PeerPolicy {
                id: "cert-b".parse().unwrap(),
                max_tlp: irtx::tlp::Tlp::Amber,
                audience: irtx::peer::Audience::Community,
            },
            profile: &profile,
            format: fmt,
        };
        g.bench_function(format!("render-for-peer/{fmt}/1000"), |b| {
            b.iter(|| {
                irtx::exchange::render(&r, &irtx::tlp::policy::Origin::Own, &to, Some(&p), &team)
                    .unwrap()
            })
        });
    }
    g.finish();
}

/// A STIX document of a report with `indicators` indicators, and who signs it for whom.
struct Signing {
    team: Team,
    doc: Value,
    key: ed25519_dalek::SigningKey,
    to: irtx::peer::PeerId,
}

impl Signing {
    fn new(indicators: usize) -> Signing {
        let team = Team::new("cert-bench".parse().unwrap(), "CERT Bench");
        let r = irtx::report::parse(&report(indicators)).unwrap();
        let doc = irtx::convert::convert(&r, &team, Format::Stix);
        Signing {
            team,
            doc,
            key: ed25519_dalek::SigningKey::from_bytes(&[7; 32]),
            to: "cert-b".parse().unwrap(),
        }
    }

    fn envelope(&self) -> irtx::exchange::outbound::Envelope<'_> {
        irtx::exchange::outbound::Envelope {
            from: &self.team.id,
            to: &self.to,
            id: irtx::envelope::MessageId(uuid::Uuid::nil()),
            now: time::OffsetDateTime::UNIX_EPOCH,
        }
    }
}

/// What sharing does with a rendered document for one peer before it queues it: the
/// digest the ledger records and the signed message (STIX, 1,000 indicators).
fn seal(c: &mut Criterion) {
    let s = Signing::new(1000);
    let mut g = c.benchmark_group("seal");
    g.bench_function("digest+seal/stix/1000", |b| {
        b.iter(|| {
            let canonical = irtx::envelope::canonical(&s.doc);
            let digest = irtx::envelope::sha256_hex(&canonical);
            // The share path moves its document into the message; here it is copied.
            let sealed = irtx::exchange::outbound::seal_canonical(
                s.doc.clone(),
                &canonical,
                irtx::peer::Format::Stix,
                irtx::tlp::Tlp::Amber,
                s.envelope(),
                &s.key,
            );
            (digest, sealed)
        })
    });
    g.finish();
}

/// What receiving does with a peer's message before any check of its signature or
/// document: the strict reading of the JWS and of its payload (STIX, 40 indicators).
fn receive(c: &mut Criterion) {
    let s = Signing::new(40);
    let sealed = irtx::exchange::outbound::seal(
        s.doc.clone(),
        irtx::peer::Format::Stix,
        irtx::tlp::Tlp::Amber,
        s.envelope(),
        &s.key,
    );
    let body = serde_json::to_vec(&sealed.jws).unwrap();
    let mut g = c.benchmark_group("receive");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("parse/stix/40", |b| {
        b.iter(|| irtx::exchange::inbound::parse(&body, Default::default()).unwrap())
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench, anonymize, seal, receive
}
criterion_main!(benches);
