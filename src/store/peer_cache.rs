//! The peers a store has read, kept in memory for the store that wrote them: every inbound
//! message looks its sender up, and in sled a read of a tree waits on a lock each commit
//! holds (most of a lookup's time under load). Coherent only for a store whose every write
//! of its peers goes through it (an embedded store, which one process holds): such a write
//! calls [`PeerCache::changed`] after it, and nothing read before a change is answered after.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

use crate::peer::{Peer, PeerId};

use super::Result;

type Entries = HashMap<PeerId, Peer>;

/// The cache. It keeps only peers that exist: an unknown sender is read from the store each
/// time, so a stream of made-up senders does not grow it.
#[derive(Default)]
pub(super) struct PeerCache {
    /// Moves on at every write of the store's peers (under the map's write lock).
    generation: AtomicU64,
    /// Peer -> the peer, as read since the last change.
    entries: RwLock<Entries>,
}

impl PeerCache {
    /// `id`'s peer: from memory if read since the last change, else from `read` (the store).
    pub fn get(
        &self,
        id: &PeerId,
        read: impl FnOnce() -> Result<Option<Peer>>,
    ) -> Result<Option<Peer>> {
        // Taken before the read: a change during the read leaves what it read out of date.
        let generation = self.generation.load(Ordering::Acquire);
        let held = self.entries.read().unwrap_or_else(|e| e.into_inner());
        if let Some(peer) = held.get(id) {
            return Ok(Some(peer.clone()));
        }
        drop(held);
        let found = read()?;
        if let Some(peer) = &found {
            // Kept only if no change came since the read began: a change clears the map and
            // moves the generation on under the same lock.
            let mut entries = self.write();
            if self.generation.load(Ordering::Acquire) == generation {
                entries.insert(id.clone(), peer.clone());
            }
        }
        Ok(found)
    }

    /// Says the store's peers were written (after the write, whether it succeeded or not):
    /// everything read before is forgotten.
    pub fn changed(&self) {
        let mut entries = self.write();
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Entries> {
        // Each change of the map is one call: a panic elsewhere leaves it whole.
        self.entries.write().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn peer(url: &str) -> Peer {
        serde_json::from_value(serde_json::json!({
            "id": "cert-a", "url": url, "keys": [], "max_tlp": "AMBER",
            "audience": "community", "profile": "none", "format": "stix",
            "key_domain": "federation",
        }))
        .unwrap()
    }

    #[test]
    fn a_peer_is_read_once_until_the_peers_change_and_an_unknown_one_every_time() {
        let cache = PeerCache::default();
        let reads = Cell::new(0);
        let store = |p: Option<Peer>| {
            reads.set(reads.get() + 1);
            move || Ok(p)
        };
        let (a, b): (PeerId, PeerId) = ("cert-a".parse().unwrap(), "cert-b".parse().unwrap());
        // `a` is read from the store (which holds `held`), then from memory.
        let read_once = |held: Peer| {
            assert_eq!(
                cache.get(&a, store(Some(held.clone()))).unwrap(),
                Some(held.clone())
            );
            assert_eq!(cache.get(&a, || panic!("read again")).unwrap(), Some(held));
        };
        read_once(peer("http://127.0.0.1:1"));
        // Changed: the next lookup reads the store, and answers what it holds now.
        cache.changed();
        read_once(peer("http://127.0.0.1:2"));
        cache.changed();
        assert_eq!(cache.get(&a, store(None)).unwrap(), None);
        assert_eq!(cache.get(&b, store(None)).unwrap(), None);
        assert_eq!(cache.get(&b, store(None)).unwrap(), None);
        assert_eq!(reads.get(), 5);
        assert!(cache.entries.read().unwrap().is_empty());
    }

    #[test]
    fn what_a_read_overtaken_by_a_change_found_is_not_answered_after_it() {
        let cache = PeerCache::default();
        let a: PeerId = "cert-a".parse().unwrap();
        let old = peer("http://127.0.0.1:1");
        // The store is read (the old peer); it is written and the change said before the
        // read's answer is kept.
        let read_then_changed = || {
            cache.changed();
            Ok(Some(old.clone()))
        };
        assert_eq!(cache.get(&a, read_then_changed).unwrap(), Some(old.clone()));
        let new = peer("http://127.0.0.1:2");
        assert_eq!(cache.get(&a, || Ok(Some(new.clone()))).unwrap(), Some(new));
    }
}
