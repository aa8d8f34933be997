//! An IODEF v2 (RFC 8727 JSON) document as the receiver checks it.
#![no_main]

use irtx::exchange::inbound::check_document;
use irtx::peer::Format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = serde_json::from_slice(data) {
        let _ = check_document(&v, Format::Iodef, irtx::tlp::Tlp::Amber, 10_000);
    }
});
