//! A peer's answer to a delivery, read as a receipt for a message we sent.
#![no_main]

use irtx::envelope::{Jws, MessageId};
use irtx::exchange::inbound::trusted_keys;
use irtx::exchange::outbound::{check_receipt, Expected};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if irtx::envelope::strict::check(data, Default::default()).is_err() {
        return;
    }
    let Ok(jws) = serde_json::from_slice::<Jws>(data) else {
        return;
    };
    let (us, peer) = ("cert-b".parse().unwrap(), "cert-a".parse().unwrap());
    let id = MessageId(uuid::Uuid::from_u128(1));
    let expected = Expected {
        message_id: &id,
        sha256: "00",
        us: &us,
        peer: &peer,
    };
    let _ = check_receipt(&jws, expected, &trusted_keys(&irtx_fuzz::peer()));
});
