//! Key rotation, both sides (DESIGN.md section 11). Ours: a new team key, a key document
//! signed by the old key and the new one, served at `/.well-known/irtx/keys`. A peer's: when a
//! known peer signs with a key we do not know, its key document is fetched and the new key
//! adopted if a key we already trust for that peer signed the document; the old key's end of
//! validity comes with it, so after the overlap the old key is refused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ed25519_dalek::VerifyingKey;

use super::{Gateway, ServiceError};
use crate::exchange::inbound::trusted_keys;
use crate::exchange::keydoc::{self, SignedKeyDocument};
use crate::keys::Rotated;
use crate::peer::PeerId;

/// The shortest time between two fetches of one peer's key document: a stranger sending
/// messages under a peer's name with made-up key ids cannot make us hammer that peer.
pub const REFRESH_EVERY: Duration = Duration::from_secs(10);

/// The largest key document read.
const MAX_DOCUMENT_BYTES: usize = 64 << 10;

/// When each peer's key document was last fetched.
#[derive(Debug, Default)]
pub struct Refreshes(Mutex<HashMap<PeerId, Instant>>);

impl Refreshes {
    /// Whether `peer`'s document may be fetched now; if so, marks it fetched.
    fn due(&self, peer: &PeerId) -> bool {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match m.get(peer) {
            Some(t) if now.duration_since(*t) < REFRESH_EVERY => false,
            _ => {
                m.insert(peer.clone(), now);
                true
            }
        }
    }
}

/// What a key refresh step that panics is called in the error it becomes.
const STEP: &str = "a key refresh step";

impl Gateway {
    /// Rotates the team key: afterwards everything is signed with the new key, and peers
    /// keep accepting the old one for `overlap`. Blocking.
    pub fn rotate_key(&self, overlap: time::Duration) -> Result<Rotated, ServiceError> {
        let now = self.clock.now();
        let (key, rotated) = crate::keys::rotate(
            self.store.as_ref(),
            &self.key_file,
            &self.team.id,
            overlap,
            now,
        )
        .map_err(|e| ServiceError::Corrupt(format!("key rotation failed: {e}")))?;
        self.key.replace(key);
        tracing::info!(old.kid = %rotated.old_kid, new.kid = %rotated.new_kid, old.valid_until = %rotated.old_valid_until, "team key rotated");
        Ok(rotated)
    }

    /// The key document peers fetch: the last rotation's, or (never rotated) one that lists
    /// the current key, signed by it.
    pub fn key_document(&self) -> Result<SignedKeyDocument, ServiceError> {
        if let Some(d) = self.store.key_documents()?.pop() {
            return Ok(d);
        }
        let key = self.key.current();
        let doc = keydoc::initial(&self.team.id, &key.0, self.clock.now());
        Ok(keydoc::sign(&doc, &[&key.0]))
    }

    /// Every public key the team has signed with: the current one and those the key
    /// documents list (what the ledger's checkpoints verify with).
    pub fn team_keys(&self) -> Result<Vec<VerifyingKey>, ServiceError> {
        Ok(crate::ledger::team_keys(
            self.store.as_ref(),
            self.key.current().0.verifying_key(),
        )?)
    }

    /// Fetches `peer`'s key document and adopts the keys it lists, if a key we trust for the
    /// peer signed it. True when a key was added. At most once per [`REFRESH_EVERY`] per
    /// peer; a peer that cannot be reached or sends a document we cannot trust changes
    /// nothing.
    pub async fn refresh_peer_keys(self: &Arc<Self>, peer: &PeerId) -> Result<bool, ServiceError> {
        if !self.refreshes.due(peer) {
            return Ok(false);
        }
        let p = peer.clone();
        let record = self
            .off_runtime(STEP, move |g| Ok(g.store.peer(&p)?))
            .await?;
        let Some(mut record) = record else {
            return Ok(false);
        };
        let url = format!("{}{}", record.url.trim_end_matches('/'), keydoc::PATH);
        let fetched = async {
            let resp = self.client.get(&url).send().await.ok()?;
            if !resp.status().is_success() {
                return None;
            }
            let bytes = super::client::read_capped(resp, MAX_DOCUMENT_BYTES)
                .await
                .ok()??;
            serde_json::from_slice::<SignedKeyDocument>(&bytes).ok()
        }
        .await;
        let Some(signed) = fetched else {
            tracing::warn!(peer.id = %peer, "cannot fetch the peer's key document");
            return Ok(false);
        };
        let trusted = trusted_keys(&record);
        let doc = match keydoc::verify(&signed, peer, &trusted, Some(self.clock.now())) {
            Ok((doc, _)) => doc,
            Err(e) => {
                tracing::warn!(peer.id = %peer, error = %e, "the peer's key document is not taken");
                return Ok(false);
            }
        };
        let added = keydoc::adopt(&mut record, &doc);
        self.off_runtime(STEP, move |g| Ok(g.store.put_peer(&record)?))
            .await?;
        for kid in &added {
            tracing::info!(peer.id = %peer, kid = %kid, "adopted the peer's new key from its signed key document");
        }
        Ok(!added.is_empty())
    }
}
