//! What the fuzz targets share: the known peer (`cert-a`, key 7s) and a fixed time.

use irtx::peer::Peer;

/// The seeds' signing key.
pub fn key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[7; 32])
}

/// `cert-a` as `cert-b` knows it.
pub fn peer() -> Peer {
    let vk = key().verifying_key();
    serde_json::from_value(serde_json::json!({
        "id": "cert-a", "url": "http://127.0.0.1:9",
        "keys": [{"jwk": irtx::envelope::public_jwk(&vk), "kid": irtx::envelope::thumbprint(&vk)}],
        "max_tlp": "AMBER", "audience": "community", "profile": "none", "format": "stix",
        "key_domain": "federation"
    }))
    .expect("a peer")
}

/// The time the seeds are signed at.
pub fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("a time")
}
