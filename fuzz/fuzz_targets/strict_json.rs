//! The strict JSON reading, against serde_json: whatever it accepts, serde_json reads, and
//! it never panics on anything.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if irtx::envelope::strict::check(data, Default::default()).is_ok() {
        assert!(serde_json::from_slice::<serde_json::Value>(data).is_ok());
    }
});
