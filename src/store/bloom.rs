//! A Bloom filter over byte strings, for a store to skip a lookup it can tell is for nothing:
//! "no" is certain, "maybe" is asked of the store. It says "maybe" to everything until it is
//! [`Bloom::complete`], that is until every key the store held when it was made has been
//! added (keys written after it was made are added by their writers, before their write). It
//! lives in memory only, its size fixed when made; as it fills, more answers are "maybe",
//! never a wrong "no".

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Bits set per key.
const K: u64 = 4;

/// The filter.
pub struct Bloom {
    words: Box<[AtomicU64]>,
    /// Bits in the filter, minus one (a power of two).
    mask: u64,
    hashes: std::collections::hash_map::RandomState,
    complete: AtomicBool,
}

impl Bloom {
    /// An empty filter of `2^bits_log2` bits (at least 64), not yet complete.
    pub fn new(bits_log2: u32) -> Self {
        let bits = 1u64 << bits_log2.max(6);
        Bloom {
            words: (0..bits / 64).map(|_| AtomicU64::new(0)).collect(),
            mask: bits - 1,
            hashes: Default::default(),
            complete: AtomicBool::new(false),
        }
    }

    /// The `K` bits of a key made of `parts` (each part hashed with its length, so parts
    /// that concatenate alike are still other keys), by double hashing.
    fn bits(&self, parts: &[&[u8]]) -> impl Iterator<Item = u64> + '_ {
        let mut h = self.hashes.build_hasher();
        parts.hash(&mut h);
        let h1 = h.finish();
        // A second, independent hash: the same state carried on with one more word.
        h.write_u8(0xb1);
        let h2 = h.finish() | 1;
        (0..K).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) & self.mask)
    }

    /// Adds a key.
    pub fn insert(&self, parts: &[&[u8]]) {
        for bit in self.bits(parts) {
            self.words[(bit / 64) as usize].fetch_or(1 << (bit % 64), Ordering::Relaxed);
        }
    }

    /// Whether the key may have been added: always until the filter is complete.
    pub fn may_hold(&self, parts: &[&[u8]]) -> bool {
        if !self.complete.load(Ordering::Acquire) {
            return true;
        }
        self.bits(parts).all(|bit| {
            self.words[(bit / 64) as usize].load(Ordering::Relaxed) & (1 << (bit % 64)) != 0
        })
    }

    /// Says every key the store holds has been added: from now on, "no" is an answer.
    pub fn complete(&self) {
        self.complete.store(true, Ordering::Release);
    }

    /// Whether [`Bloom::complete`] was called.
    pub fn is_complete(&self) -> bool {
        self.complete.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_says_maybe_until_complete_then_never_no_to_what_was_added() {
        let f = Bloom::new(16);
        let key = |i: u32| format!("collection\0indicator--{i}\0");
        assert!(f.may_hold(&[b"never added"]));
        for i in 0..2_000 {
            f.insert(&[key(i).as_bytes(), b"2026-12-03T00:00:00.000Z"]);
        }
        f.complete();
        for i in 0..2_000 {
            assert!(f.may_hold(&[key(i).as_bytes(), b"2026-12-03T00:00:00.000Z"]));
        }
        // Other versions and other keys: mostly "no" (2,000 keys in 65,536 bits, 4 bits
        // each: about 0.2% false positives).
        let maybe = (0..2_000)
            .filter(|&i| f.may_hold(&[key(i).as_bytes(), b"2026-12-04T00:00:00.000Z"]))
            .count()
            + (2_000..4_000)
                .filter(|&i| f.may_hold(&[key(i).as_bytes(), b"2026-12-03T00:00:00.000Z"]))
                .count();
        assert!(maybe < 40, "{maybe} of 4,000 keys never added may be held");
        // The parts are told apart: the same bytes split otherwise are another key.
        let g = Bloom::new(16);
        g.insert(&[b"ab", b"c"]);
        g.complete();
        assert!(g.may_hold(&[b"ab", b"c"]));
        assert!(!g.may_hold(&[b"a", b"bc"]));
    }
}
