//! A peer's key document, as fetched from `/.well-known/irtx/keys`.
#![no_main]

use irtx::exchange::inbound::trusted_keys;
use irtx::exchange::keydoc::{adopt, verify, SignedKeyDocument};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if irtx::envelope::strict::check(data, Default::default()).is_err() {
        return;
    }
    let Ok(signed) = serde_json::from_slice::<SignedKeyDocument>(data) else {
        return;
    };
    let mut peer = irtx_fuzz::peer();
    let keys = trusted_keys(&peer);
    if let Ok((doc, _)) = verify(&signed, &peer.id.clone(), &keys, Some(irtx_fuzz::now())) {
        adopt(&mut peer, &doc);
    }
});
