use irtx::intake::{read, split, Intake};
fn main() {
    let now = irtx::report::Timestamp::parse("2026-12-01T00:00:00Z").unwrap();
    for f in std::env::args().skip(1) {
        let bytes = std::fs::read(&f).unwrap();
        let v: serde_json::Value = match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(e) => {
                println!("{f}: NOT JSON {e}");
                continue;
            }
        };
        match split(v) {
            Err(e) => println!("{f}: REFUSED {e}"),
            Ok(docs) => {
                for d in docs {
                    match read(&d, irtx::tlp::Tlp::Amber, now) {
                    Intake::Ready(r) => println!("{f}#{}: READY tlp={} marking={:?} tool={} src={:?} title={:?} ind={} lost={:?}", d.pointer, r.tlp, r.marking, r.tool, r.source, r.report.title, r.report.indicators.len(), r.lost),
                    Intake::Quarantine(q) => println!("{f}#{}: QUARANTINE {q:?}", d.pointer),
                    Intake::Refuse(q) => println!("{f}#{}: REFUSE {q:?}", d.pointer),
                }
                }
            }
        }
    }
}
