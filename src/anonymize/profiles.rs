//! The keys and profiles a gateway anonymizes with: the profiles by name (the built-in ones
//! and those the config defines) and the key ring (this team's own secret and the federation's
//! shared key). Both are resolved once, at start; sharing only looks them up. Pure.

use std::collections::BTreeMap;

use super::{Key, Profile};
use crate::peer::{KeyDomain, PeerId};

/// A profile name that is not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{name}` is not a profile; known: {known}")]
pub struct UnknownProfile {
    /// The name asked for.
    pub name: String,
    /// The known names, comma-separated.
    pub known: String,
}

/// Every profile a gateway knows, by name.
#[derive(Debug, Clone, PartialEq)]
pub struct Profiles(BTreeMap<String, Profile>);

impl Default for Profiles {
    fn default() -> Self {
        Self::builtin()
    }
}

impl Profiles {
    /// The built-in profiles: `none`, `pseudonymize`, `strict`.
    pub fn builtin() -> Self {
        Profiles(
            Profile::BUILTIN
                .iter()
                .filter_map(|n| Profile::builtin(n))
                .map(|p| (p.name.clone(), p))
                .collect(),
        )
    }

    /// Adds (or replaces) a profile under its name.
    pub fn insert(&mut self, p: Profile) {
        self.0.insert(p.name.clone(), p);
    }

    /// A profile by name.
    pub fn get(&self, name: &str) -> Result<&Profile, UnknownProfile> {
        self.0.get(name).ok_or_else(|| UnknownProfile {
            name: name.to_string(),
            known: self.0.keys().cloned().collect::<Vec<_>>().join(", "),
        })
    }

    /// The names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

/// The keys pseudonyms are made with. Its `Debug` shows fingerprints only.
#[derive(Debug, Clone, Default)]
pub struct KeyRing {
    /// This team's own secret; per-peer keys (`peer:ID`) derive from it.
    pub own: Option<Key>,
    /// The key the whole federation shares, so members' pseudonyms agree.
    pub federation: Option<Key>,
}

impl KeyRing {
    /// The key of a named domain: `federation`, or `peer:ID`. `None` when the key it derives
    /// from is not configured, or the name is not a domain.
    pub fn named(&self, domain: &str) -> Option<Key> {
        if domain == "federation" {
            return self.federation.as_ref().map(|k| k.derive("federation"));
        }
        let peer = domain.strip_prefix("peer:")?;
        self.own.as_ref().map(|k| k.derive(&format!("peer:{peer}")))
    }

    /// The key a peer's pseudonyms are made with, and the domain's name for the ledger.
    pub fn for_peer(&self, domain: KeyDomain, peer: &PeerId) -> (Option<Key>, String) {
        let label = domain.label(peer);
        (self.named(&label), label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_derive_distinct_keys_and_unknown_names_have_none() {
        let ring = KeyRing {
            own: Some(Key::from_bytes([1; 32])),
            federation: Some(Key::from_bytes([2; 32])),
        };
        let b: PeerId = "cert-b".parse().unwrap();
        let (kb, label) = ring.for_peer(KeyDomain::Peer, &b);
        assert_eq!(label, "peer:cert-b");
        assert_eq!(kb, Some(Key::from_bytes([1; 32]).derive("peer:cert-b")));
        assert_ne!(ring.named("peer:cert-c"), kb);
        assert_eq!(
            ring.named("federation"),
            Some(Key::from_bytes([2; 32]).derive("federation"))
        );
        assert_eq!(ring.named("cert-b"), None);
        assert_eq!(KeyRing::default().named("federation"), None);
        let p = Profiles::builtin();
        assert!(p.get("strict").is_ok());
        assert!(p.get("nope").unwrap_err().known.contains("pseudonymize"));
    }
}
