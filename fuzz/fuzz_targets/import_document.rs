//! An imported file or a TAXII inbox post: split into documents (STIX bundles, MISP events,
//! search output), each read into the report form with its markings; what is read is
//! converted as an onward share would convert it.
#![no_main]

use irtx::convert::{convert, Format};
use irtx::intake::{read, split, Intake};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if irtx::envelope::strict::check(data, Default::default()).is_err() {
        return;
    }
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(docs) = split(v) else {
        return;
    };
    let team = irtx::team::Team::new("cert-a".parse().unwrap(), "A");
    let now = irtx::report::Timestamp(irtx_fuzz::now());
    for d in docs {
        if let Intake::Ready(r) = read(&d, irtx::tlp::Tlp::Amber, now) {
            for f in [Format::Stix, Format::Iodef] {
                let _ = convert(&r.report, &team, f);
            }
        }
    }
});
