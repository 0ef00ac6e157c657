//! The record cache's index from key to slot: a hash table of slot numbers alone, the keys
//! staying in the slots.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;

use super::slots::Slots;

/// Each cached key's slot. A table entry is the slot's number (8 bytes, against 24 for a
/// map holding the key's pointer too), so the table stays small enough for the processor's
/// caches; the key compared on a lookup is the slot's. A key is hashed once per write,
/// whether it is found or inserted.
#[derive(Default)]
pub(super) struct KeyIndex {
    table: HashTable<usize>,
}

/// The hash of `key` in the index.
pub(super) fn hash(key: &[u8]) -> u64 {
    FxBuildHasher.hash_one(key)
}

impl KeyIndex {
    /// The slot of `key` (whose [`hash`] is `hash`), if cached.
    pub(super) fn find(&self, hash: u64, key: &[u8], slots: &Slots) -> Option<usize> {
        self.table
            .find(hash, |&at| *slots.get(at).key == *key)
            .copied()
    }

    /// Adds the slot `at`, whose key (hashing to `hash`) is not in the index yet.
    pub(super) fn insert(&mut self, hash: u64, at: usize, slots: &Slots) {
        self.table
            .insert_unique(hash, at, |&at| self::hash(&slots.get(at).key));
    }

    /// Removes the slot `at`, whose key is `key`.
    pub(super) fn remove(&mut self, key: &[u8], at: usize) {
        if let Ok(entry) = self.table.find_entry(hash(key), |&a| a == at) {
            entry.remove();
        }
    }

    /// How many keys are cached.
    pub(super) fn len(&self) -> usize {
        self.table.len()
    }

    /// Every cached key's slot, in no particular order.
    pub(super) fn slots(&self) -> impl Iterator<Item = usize> + '_ {
        self.table.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::CacheEntry;
    use crate::cache::slots::Slot;

    fn slot(key: &[u8]) -> Slot {
        let entry = CacheEntry {
            value: None,
            old: None,
            timestamp: 0,
            seen: false,
        };
        Slot::new(key.into(), entry, false)
    }

    /// Keys stay findable through the table's growth (which rehashes them from their
    /// slots) and the removal of others; a removed key, and one never added, are not found.
    #[test]
    fn keys_are_found_through_growth_and_removals() {
        let (mut index, mut slots) = (KeyIndex::default(), Slots::new());
        let keys: Vec<Vec<u8>> = (0..1000u32).map(|i| i.to_be_bytes().to_vec()).collect();
        for key in &keys {
            let at = slots.insert(slot(key));
            index.insert(hash(key), at, &slots);
        }
        for key in keys.iter().step_by(2) {
            let at = index.find(hash(key), key, &slots).expect("added");
            slots.remove(at);
            index.remove(key, at);
        }
        assert_eq!(index.len(), 500);
        for (i, key) in keys.iter().enumerate() {
            let found = index.find(hash(key), key, &slots);
            assert_eq!(found.is_some(), i % 2 == 1, "key {i}");
            if let Some(at) = found {
                assert_eq!(&*slots.get(at).key, key.as_slice());
            }
        }
        assert_eq!(index.find(hash(b"absent"), b"absent", &slots), None);
    }
}
