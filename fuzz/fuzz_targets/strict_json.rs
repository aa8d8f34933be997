//! The strict JSON reading, against serde_json: whatever it accepts, serde_json reads as the
//! same value, and it never panics on anything.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = irtx::envelope::strict::read(data, Default::default()) {
        assert_eq!(serde_json::from_slice::<serde_json::Value>(data).ok(), Some(v));
    }
});
