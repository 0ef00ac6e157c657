//! The record cache: absorbs repeated updates to a key between commits so that only the
//! latest value per key is written to the store, logged, and forwarded downstream.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};

/// A dirty entry: the latest value written since the last flush, and the value the store
/// held before the first of those writes (what downstream sees as the old value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    /// The latest value; `None` is a pending delete.
    pub value: Option<Vec<u8>>,
    /// The value in the store before this flush interval.
    pub old: Option<Vec<u8>>,
    /// The timestamp of the latest write.
    pub timestamp: i64,
}

/// Per-overhead bytes charged for each entry on top of its key and values.
const ENTRY_OVERHEAD: usize = 64;

/// A write-back cache of dirty entries, bounded in bytes.
///
/// Entries leave the cache in the order they first became dirty: all of them on
/// [`RecordCache::drain`] (at commit), or the oldest ones through [`RecordCache::evict`]
/// when the cache is over its budget.
#[derive(Debug)]
pub struct RecordCache {
    entries: HashMap<Vec<u8>, CacheEntry>,
    order: VecDeque<Vec<u8>>,
    bytes: usize,
    max_bytes: usize,
}

impl RecordCache {
    /// A cache that holds at most about `max_bytes` of keys and values. With 0, every write
    /// is over budget at once, which turns caching off.
    pub fn new(max_bytes: usize) -> Self {
        Self {
            entries: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
            max_bytes,
        }
    }

    /// The dirty entry for `key`, if any.
    pub fn get(&self, key: &[u8]) -> Option<&CacheEntry> {
        self.entries.get(key)
    }

    /// Records a write of `value` (`None` deletes) to `key`. `old` supplies the store's
    /// value before this interval; it is called only when `key` is not dirty yet.
    /// Returns whether the cache is now over budget (call [`RecordCache::evict`]).
    ///
    /// # Errors
    /// Whatever `old` fails with; the cache is then unchanged.
    pub fn put<E>(
        &mut self,
        key: &[u8],
        value: Option<&[u8]>,
        timestamp: i64,
        old: impl FnOnce() -> Result<Option<Vec<u8>>, E>,
    ) -> Result<bool, E> {
        match self.entries.get_mut(key) {
            Some(entry) => {
                let before = entry.value.as_ref().map_or(0, Vec::len);
                match (value, &mut entry.value) {
                    (Some(new), Some(buffer)) => {
                        buffer.clear();
                        buffer.extend_from_slice(new);
                    }
                    (new, slot) => *slot = new.map(<[u8]>::to_vec),
                }
                entry.timestamp = timestamp;
                self.bytes = self.bytes + value.map_or(0, <[u8]>::len) - before;
            }
            None => {
                let old = old()?;
                self.bytes += ENTRY_OVERHEAD
                    + 2 * key.len()
                    + value.map_or(0, <[u8]>::len)
                    + old.as_ref().map_or(0, Vec::len);
                self.order.push_back(key.to_vec());
                self.entries.insert(
                    key.to_vec(),
                    CacheEntry {
                        value: value.map(<[u8]>::to_vec),
                        old,
                        timestamp,
                    },
                );
            }
        }
        Ok(self.bytes > self.max_bytes)
    }

    /// Takes out the oldest dirty entries until the cache is within budget.
    pub fn evict(&mut self) -> Vec<(Vec<u8>, CacheEntry)> {
        let mut out = Vec::new();
        while self.bytes > self.max_bytes {
            match self.pop_oldest() {
                Some(entry) => out.push(entry),
                None => break,
            }
        }
        out
    }

    /// Takes out every dirty entry, oldest first.
    pub fn drain(&mut self) -> Vec<(Vec<u8>, CacheEntry)> {
        let mut out = Vec::with_capacity(self.entries.len());
        while let Some(entry) = self.pop_oldest() {
            out.push(entry);
        }
        out
    }

    fn pop_oldest(&mut self) -> Option<(Vec<u8>, CacheEntry)> {
        let key = self.order.pop_front()?;
        match self.entries.entry(key) {
            Entry::Occupied(slot) => {
                let (key, entry) = slot.remove_entry();
                self.bytes -= ENTRY_OVERHEAD
                    + 2 * key.len()
                    + entry.value.as_ref().map_or(0, Vec::len)
                    + entry.old.as_ref().map_or(0, Vec::len);
                Some((key, entry))
            }
            Entry::Vacant(_) => None,
        }
    }

    /// The dirty entries, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&Vec<u8>, &CacheEntry)> {
        self.entries.iter()
    }

    /// How many keys are dirty.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is dirty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes charged to the budget now.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Never = std::convert::Infallible;

    fn put(
        cache: &mut RecordCache,
        k: &[u8],
        v: Option<&[u8]>,
        ts: i64,
        old: Option<&[u8]>,
    ) -> bool {
        cache
            .put::<Never>(k, v, ts, || Ok(old.map(<[u8]>::to_vec)))
            .unwrap()
    }

    #[test]
    fn repeated_updates_collapse_to_the_latest_value_with_the_first_old_value() {
        let mut cache = RecordCache::new(1 << 20);
        put(&mut cache, b"k", Some(b"1"), 1, Some(b"0"));
        cache
            .put::<Never>(b"k", Some(b"2"), 2, || panic!("old value is read once"))
            .unwrap();
        put(&mut cache, b"j", None, 3, None);
        put(&mut cache, b"k", Some(b"3"), 4, Some(b"wrong"));
        let drained = cache.drain();
        assert_eq!(
            drained,
            vec![
                (
                    b"k".to_vec(),
                    CacheEntry {
                        value: Some(b"3".to_vec()),
                        old: Some(b"0".to_vec()),
                        timestamp: 4
                    }
                ),
                (
                    b"j".to_vec(),
                    CacheEntry {
                        value: None,
                        old: None,
                        timestamp: 3
                    }
                ),
            ]
        );
        assert!(cache.is_empty());
        assert_eq!(cache.bytes(), 0);
    }

    #[test]
    fn over_budget_evicts_oldest_first() {
        let mut cache = RecordCache::new(2 * (ENTRY_OVERHEAD + 4));
        assert!(!put(&mut cache, b"a", Some(b"1"), 1, None));
        assert!(!put(&mut cache, b"b", Some(b"1"), 1, None));
        assert!(put(&mut cache, b"c", Some(b"1"), 1, None));
        let evicted = cache.evict();
        assert_eq!(evicted.len(), 1);
        assert_eq!(evicted[0].0, b"a".to_vec());
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn zero_budget_evicts_every_write() {
        let mut cache = RecordCache::new(0);
        assert!(put(&mut cache, b"a", Some(b"1"), 1, None));
        assert_eq!(cache.evict().len(), 1);
        assert!(cache.is_empty());
    }
}
