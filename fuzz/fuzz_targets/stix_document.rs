//! A STIX 2.1 bundle as the receiver checks it: size, the OASIS schemas, markings (exact TLP
//! ids and published objects), the acceptance criteria.
#![no_main]

use irtx::exchange::inbound::check_document;
use irtx::peer::Format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = serde_json::from_slice(data) {
        let _ = check_document(&v, Format::Stix, irtx::tlp::Tlp::Amber, 10_000);
    }
});
