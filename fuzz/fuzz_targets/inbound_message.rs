//! The inbound message as a peer's gateway receives it: the strict JSON reading, the JWS,
//! the message, and every check after the signature of a known peer's key.
#![no_main]

use irtx::envelope::strict::JsonLimits;
use irtx::exchange::inbound::{parse, trusted_keys, verify, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        replay_window: time::Duration::days(7),
        future_skew: time::Duration::minutes(5),
        json: JsonLimits::default(),
        max_objects: 10_000,
    };
    let Ok(parsed) = parse(data, limits.json) else {
        return;
    };
    let keys = trusted_keys(&irtx_fuzz::peer());
    let _ = verify(parsed, "cert-b", Some(&keys), |_| Ok(()), irtx_fuzz::now(), limits);
});
