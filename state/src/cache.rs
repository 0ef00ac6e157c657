//! The record cache: absorbs repeated updates to a key between commits so that only the
//! latest value per key is written to the store, logged, and forwarded downstream, and keeps
//! the values it has flushed or read so that the next read of a key skips the store.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::rc::Rc;

/// A cached entry: the latest value of a key, its timestamp, and — while the entry is dirty
/// (written since the last flush) — the value the store held before the first of those
/// writes (what downstream sees as the old value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    /// The latest value; `None` is a delete (pending while dirty, or a known absence).
    pub value: Option<Vec<u8>>,
    /// The value in the store before this flush interval (`None` on a clean entry).
    pub old: Option<Vec<u8>>,
    /// The timestamp written with the latest value.
    pub timestamp: i64,
}

/// Bytes charged for each entry on top of its key and values.
const ENTRY_OVERHEAD: usize = 64;

struct Slot {
    entry: CacheEntry,
    /// When the key was last written or remembered: its place in the eviction order (and,
    /// while dirty, in the flush order).
    seq: u64,
    /// Written since the last flush: the store does not hold `entry.value` yet.
    dirty: bool,
}

/// A key in one of the cache's queues, with the sequence number it was queued under; an
/// element whose number is no longer its key's latest is stale and skipped.
type Queued = (u64, Rc<[u8]>);

/// A write-back cache bounded in bytes, ordered by key for range reads, as Kafka Streams'
/// record cache: dirty entries (written since the last flush) and clean ones (what the
/// store holds, kept after a flush or remembered after a read).
///
/// Dirty entries leave the cache in the order of their latest write: all of them on
/// [`RecordCache::drain`] (at commit), which leaves clean copies behind, or the least
/// recently used through [`RecordCache::evict`] when the cache is over its budget, which
/// drops clean entries silently.
pub struct RecordCache {
    entries: BTreeMap<Rc<[u8]>, Slot>,
    /// Every entry, least recently written or remembered first (eviction order).
    order: VecDeque<Queued>,
    /// The dirty entries, least recently written first (flush order).
    dirty_order: VecDeque<Queued>,
    dirty: usize,
    next_seq: u64,
    bytes: usize,
    max_bytes: usize,
}

impl std::fmt::Debug for RecordCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordCache")
            .field("entries", &self.entries.len())
            .field("dirty", &self.dirty)
            .field("bytes", &self.bytes)
            .field("max_bytes", &self.max_bytes)
            .finish()
    }
}

fn charge(key: &[u8], entry: &CacheEntry) -> usize {
    ENTRY_OVERHEAD
        + key.len()
        + entry.value.as_ref().map_or(0, Vec::len)
        + entry.old.as_ref().map_or(0, Vec::len)
}

impl RecordCache {
    /// A cache that holds at most about `max_bytes` of keys and values. With 0, every write
    /// is over budget at once, which turns caching off.
    pub fn new(max_bytes: usize) -> Self {
        Self {
            entries: BTreeMap::new(),
            order: VecDeque::new(),
            dirty_order: VecDeque::new(),
            dirty: 0,
            next_seq: 0,
            bytes: 0,
            max_bytes,
        }
    }

    /// The cached entry for `key`, dirty or clean, if any.
    pub fn get(&self, key: &[u8]) -> Option<&CacheEntry> {
        self.entries.get(key).map(|slot| &slot.entry)
    }

    /// Remembers what the store holds for `key` (`None`: nothing) as a clean entry, so that
    /// the next read skips the store — only when `key` is not cached yet and the entry fits
    /// the budget without evicting anything. Returns whether the cache holds `key` now.
    pub fn remember(&mut self, key: &[u8], value: Option<&[u8]>, timestamp: i64) -> bool {
        if self.entries.contains_key(key) {
            return true;
        }
        let entry = CacheEntry {
            value: value.map(<[u8]>::to_vec),
            old: None,
            timestamp,
        };
        let cost = charge(key, &entry);
        if self.bytes + cost > self.max_bytes {
            return false;
        }
        self.bytes += cost;
        let seq = self.next_seq;
        self.next_seq += 1;
        let shared: Rc<[u8]> = key.into();
        self.order.push_back((seq, shared.clone()));
        let slot = Slot {
            entry,
            seq,
            dirty: false,
        };
        self.entries.insert(shared, slot);
        self.compact_order();
        true
    }

    /// Records a write of `value` (`None` deletes) at `timestamp` to `key`. `old` supplies
    /// the store's value before this interval; it is called only when `key` is not cached
    /// (a clean entry already holds the store's value). Returns whether the cache is now
    /// over budget (call [`RecordCache::evict`]).
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
        let seq = self.next_seq;
        self.next_seq += 1;
        match self.entries.get_key_value(key) {
            Some((shared, _)) => {
                let shared = shared.clone();
                let slot = self.entries.get_mut(key).expect("found above");
                let before = charge(key, &slot.entry);
                if !slot.dirty {
                    slot.entry.old = slot.entry.value.take();
                    slot.dirty = true;
                    self.dirty += 1;
                }
                match (value, &mut slot.entry.value) {
                    (Some(new), Some(buffer)) => {
                        buffer.clear();
                        buffer.extend_from_slice(new);
                    }
                    (new, slot_value) => *slot_value = new.map(<[u8]>::to_vec),
                }
                slot.entry.timestamp = timestamp;
                slot.seq = seq;
                self.bytes = self.bytes + charge(key, &slot.entry) - before;
                self.order.push_back((seq, shared.clone()));
                self.dirty_order.push_back((seq, shared));
            }
            None => {
                let old = old()?;
                let entry = CacheEntry {
                    value: value.map(<[u8]>::to_vec),
                    old,
                    timestamp,
                };
                self.bytes += charge(key, &entry);
                let shared: Rc<[u8]> = key.into();
                self.order.push_back((seq, shared.clone()));
                self.dirty_order.push_back((seq, shared.clone()));
                let slot = Slot {
                    entry,
                    seq,
                    dirty: true,
                };
                self.entries.insert(shared, slot);
                self.dirty += 1;
            }
        }
        self.compact_order();
        Ok(self.bytes > self.max_bytes)
    }

    /// Drops stale elements of the queues once they outnumber the live ones, so that a key
    /// written many times between flushes costs constant memory.
    fn compact_order(&mut self) {
        let entries = &self.entries;
        if self.order.len() > 2 * entries.len() + 32 {
            self.order
                .retain(|(seq, key)| entries.get(&**key).is_some_and(|s| s.seq == *seq));
        }
        if self.dirty_order.len() > 2 * self.dirty + 32 {
            self.dirty_order.retain(|(seq, key)| {
                entries
                    .get(&**key)
                    .is_some_and(|s| s.dirty && s.seq == *seq)
            });
        }
    }

    /// Takes out the least recently used entries until the cache is within budget, and
    /// returns the dirty ones among them (clean ones are simply dropped).
    pub fn evict(&mut self) -> Vec<(Vec<u8>, CacheEntry)> {
        let mut out = Vec::new();
        while self.bytes > self.max_bytes {
            let Some((seq, key)) = self.order.pop_front() else {
                break;
            };
            if self.entries.get(&*key).is_none_or(|slot| slot.seq != seq) {
                continue;
            }
            let slot = self.entries.remove(&*key).expect("checked above");
            self.bytes -= charge(&key, &slot.entry);
            if slot.dirty {
                self.dirty -= 1;
                out.push((key.to_vec(), slot.entry));
            }
        }
        out
    }

    /// Takes out every dirty entry, least recently written first, and keeps a clean copy of
    /// each (what the store holds once they are written).
    pub fn drain(&mut self) -> Vec<(Vec<u8>, CacheEntry)> {
        let mut out = Vec::with_capacity(self.dirty);
        while let Some((seq, key)) = self.dirty_order.pop_front() {
            let Some(slot) = self.entries.get_mut(&*key) else {
                continue;
            };
            if !slot.dirty || slot.seq != seq {
                continue;
            }
            slot.dirty = false;
            let old = slot.entry.old.take();
            self.bytes -= old.as_ref().map_or(0, Vec::len);
            let entry = CacheEntry {
                value: slot.entry.value.clone(),
                old,
                timestamp: slot.entry.timestamp,
            };
            out.push((key.to_vec(), entry));
        }
        self.dirty = 0;
        out
    }

    /// Drops every clean entry (for when the store changes underneath the cache, as in a
    /// restore).
    pub fn forget_clean(&mut self) {
        let mut freed = 0;
        self.entries.retain(|key, slot| {
            if !slot.dirty {
                freed += charge(key, &slot.entry);
            }
            slot.dirty
        });
        self.bytes -= freed;
        let entries = &self.entries;
        self.order
            .retain(|(seq, key)| entries.get(&**key).is_some_and(|s| s.seq == *seq));
    }

    /// The cached entries (dirty and clean) with keys within `from` and `to`, in key order.
    pub fn range<'a>(
        &'a self,
        from: Bound<&'a [u8]>,
        to: Bound<&'a [u8]>,
    ) -> impl Iterator<Item = (&'a [u8], &'a CacheEntry)> + 'a {
        let empty = match (from, to) {
            (Bound::Included(f), Bound::Included(t)) => f > t,
            (Bound::Included(f) | Bound::Excluded(f), Bound::Included(t) | Bound::Excluded(t)) => {
                f >= t
            }
            _ => false,
        };
        let range = (!empty).then(|| self.entries.range::<[u8], _>((from, to)));
        range
            .into_iter()
            .flatten()
            .map(|(key, slot)| (&**key, &slot.entry))
    }

    /// How many keys are dirty.
    pub fn len(&self) -> usize {
        self.dirty
    }

    /// Whether nothing is dirty.
    pub fn is_empty(&self) -> bool {
        self.dirty == 0
    }

    /// How many keys are cached, dirty or clean.
    pub fn cached(&self) -> usize {
        self.entries.len()
    }

    /// The budget in bytes.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
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

    fn entry(value: Option<&[u8]>, old: Option<&[u8]>, timestamp: i64) -> CacheEntry {
        CacheEntry {
            value: value.map(<[u8]>::to_vec),
            old: old.map(<[u8]>::to_vec),
            timestamp,
        }
    }

    #[test]
    fn repeated_updates_collapse_to_the_latest_value_in_the_order_of_the_latest_write() {
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
                (b"j".to_vec(), entry(None, None, 3)),
                (b"k".to_vec(), entry(Some(b"3"), Some(b"0"), 4)),
            ]
        );
        assert!(cache.is_empty());
        assert_eq!(cache.cached(), 2, "clean copies stay");
        assert_eq!(cache.get(b"k"), Some(&entry(Some(b"3"), None, 4)));
        cache
            .put::<Never>(b"k", Some(b"4"), 5, || {
                panic!("a clean entry holds the old value")
            })
            .unwrap();
        assert_eq!(
            cache.drain(),
            vec![(b"k".to_vec(), entry(Some(b"4"), Some(b"3"), 5))]
        );
    }

    #[test]
    fn remembered_reads_are_served_and_evicted_silently_before_dirty_entries() {
        let mut cache = RecordCache::new(2 * (ENTRY_OVERHEAD + 2));
        cache.remember(b"a", Some(b"1"), 1);
        cache.remember(b"b", None, 0);
        assert_eq!(cache.get(b"a"), Some(&entry(Some(b"1"), None, 1)));
        assert_eq!(cache.get(b"b"), Some(&entry(None, None, 0)));
        assert!(cache.is_empty(), "remembered entries are clean");
        cache.remember(b"c", Some(b"1"), 1);
        assert_eq!(cache.get(b"c"), None, "a read never evicts");
        assert!(put(&mut cache, b"c", Some(b"2"), 2, None));
        assert!(cache.evict().is_empty(), "the clean `a` makes room");
        assert_eq!(cache.get(b"a"), None);
        assert_eq!(cache.len(), 1);
        cache.forget_clean();
        assert_eq!(cache.get(b"b"), None);
        assert_eq!(cache.cached(), 1);
    }

    #[test]
    fn over_budget_evicts_the_least_recently_written_first() {
        let mut cache = RecordCache::new(2 * (ENTRY_OVERHEAD + 2));
        assert!(!put(&mut cache, b"a", Some(b"1"), 1, None));
        assert!(!put(&mut cache, b"b", Some(b"1"), 1, None));
        assert!(!put(&mut cache, b"a", Some(b"2"), 2, None));
        assert!(put(&mut cache, b"c", Some(b"1"), 1, None));
        let evicted = cache.evict();
        assert_eq!(evicted.len(), 1);
        assert_eq!(evicted[0].0, b"b".to_vec(), "a was written again after b");
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn zero_budget_evicts_every_write() {
        let mut cache = RecordCache::new(0);
        assert!(put(&mut cache, b"a", Some(b"1"), 1, None));
        assert_eq!(cache.evict().len(), 1);
        assert!(cache.is_empty());
    }

    #[test]
    fn ranges_are_in_key_order_and_respect_their_bounds() {
        let mut cache = RecordCache::new(1 << 20);
        for key in [&b"c"[..], b"a", b"d", b"b"] {
            put(&mut cache, key, Some(b"v"), 0, None);
        }
        let keys =
            |from, to| -> Vec<Vec<u8>> { cache.range(from, to).map(|(k, _)| k.to_vec()).collect() };
        assert_eq!(
            keys(Bound::Included(b"b"), Bound::Excluded(b"d")),
            vec![b"b".to_vec(), b"c".to_vec()]
        );
        assert!(keys(Bound::Included(b"d"), Bound::Excluded(b"b")).is_empty());
        assert_eq!(keys(Bound::Unbounded, Bound::Unbounded).len(), 4);
    }

    #[test]
    fn a_hot_key_keeps_the_flush_order_small() {
        let mut cache = RecordCache::new(1 << 20);
        for i in 0..10_000 {
            put(&mut cache, b"hot", Some(b"v"), i, None);
        }
        assert!(cache.order.len() <= 2 * cache.cached() + 33);
        assert!(cache.dirty_order.len() <= 2 * cache.len() + 33);
        assert_eq!(cache.drain().len(), 1);
    }
}
