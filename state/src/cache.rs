//! The record cache: absorbs repeated updates to a key between commits so that only the
//! latest value per key is written to the store, logged, and forwarded downstream, and keeps
//! the values it has flushed or read so that the next read of a key skips the store.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::rc::Rc;

use by_record_key::WindowsByRecordKey;
use key_index::KeyIndex;
use slots::{Slot, Slots};

use crate::window_key::{KeyWindows, split_window_key};

mod by_record_key;
mod key_index;
mod slots;

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
    /// Whether a lookup (a join reading the table) saw a value of this entry while it was
    /// dirty. Such an entry that ends as a delete must go downstream even when the store
    /// never held the key — the lookup's reader joined a value that is now gone.
    pub seen: bool,
}

impl CacheEntry {
    /// Whether this is a delete of a key the store did not hold before the interval
    /// (written and deleted again since the last flush): leaving the cache, it changes
    /// nothing below it.
    pub fn deletes_nothing(&self) -> bool {
        self.value.is_none() && self.old.is_none()
    }
}

/// Bytes charged for each entry on top of its key and values.
const ENTRY_OVERHEAD: usize = 64;

/// A write-back cache bounded in bytes, ordered by key for range reads, as Kafka Streams'
/// record cache: dirty entries (written since the last flush) and clean ones (what the
/// store holds, kept after a flush or remembered after a read).
///
/// Dirty entries leave the cache in the order of their latest write: all of them on
/// [`RecordCache::drain`] (at commit), which leaves clean copies of their values behind
/// (deletes leave altogether), or the least recently used through [`RecordCache::evict`]
/// when the cache is over its budget, which drops clean entries silently.
pub struct RecordCache {
    /// Each key's slot.
    index: KeyIndex,
    /// Each key's slot in key order, for range reads: built on the first one and kept from
    /// then on (window stores read ranges; most key-value stores never do, and their
    /// writes then skip the ordered index's upkeep).
    ordered: Option<BTreeMap<Rc<[u8]>, usize>>,
    /// A window store's windows by record key, for reads of one record key's windows
    /// ([`RecordCache::window_range`]), and the record keys whose windows are all cached
    /// (see [`RecordCache::mark_all_windows_cached`]): built on the first such read or
    /// mark, as `ordered`.
    by_record_key: Option<WindowsByRecordKey>,
    slots: Slots,
    /// The slot the last lookup found: an aggregation reads a key and then writes it, and
    /// the write finds the key's slot here instead of in the index (whose probe is a
    /// likely miss in the processor's caches). Checked against the slot's key before use.
    last_found: Cell<usize>,
    dirty: usize,
    bytes: usize,
    max_bytes: usize,
}

impl std::fmt::Debug for RecordCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordCache")
            .field("entries", &self.index.len())
            .field("dirty", &self.dirty)
            .field("bytes", &self.bytes)
            .field("max_bytes", &self.max_bytes)
            .finish()
    }
}

/// Why an entry leaves the cache.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Leaving {
    /// Evicted for room: the store below holds it (a window's record key then no longer
    /// has all its windows cached).
    Evicted,
    /// Dropped: deleted, expired, or forgotten.
    Dropped,
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
            index: KeyIndex::default(),
            ordered: None,
            by_record_key: None,
            slots: Slots::new(),
            last_found: Cell::new(usize::MAX),
            dirty: 0,
            bytes: 0,
            max_bytes,
        }
    }

    /// The cached entry for `key`, dirty or clean, if any.
    pub fn get(&self, key: &[u8]) -> Option<&CacheEntry> {
        self.slot_of(key).map(|at| &self.slots.get(at).entry)
    }

    /// Notes that a lookup is reading `key` (see [`CacheEntry::seen`]): a dirty entry
    /// holding a value is marked seen.
    pub fn mark_seen(&mut self, key: &[u8]) {
        if let Some(at) = self.slot_of(key) {
            let slot = self.slots.get_mut(at);
            if slot.dirty && slot.entry.value.is_some() {
                slot.entry.seen = true;
            }
        }
    }

    /// Remembers what the store holds for `key` (`None`: nothing) as a clean entry, so that
    /// the next read skips the store — only when `key` is not cached yet and the entry fits
    /// the budget without evicting anything. Returns whether the cache holds `key` now.
    pub fn remember(&mut self, key: &[u8], value: Option<&[u8]>, timestamp: i64) -> bool {
        let Err(hash) = self.lookup(key) else {
            return true;
        };
        let entry = CacheEntry {
            value: value.map(<[u8]>::to_vec),
            old: None,
            timestamp,
            seen: false,
        };
        let cost = charge(key, &entry);
        if self.bytes + cost > self.max_bytes {
            return false;
        }
        self.bytes += cost;
        let at = self.slots.insert(Slot::new(key.into(), entry, false));
        self.index_insert(hash, at);
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
        match self.lookup(key) {
            Ok(at) => {
                let slot = self.slots.get_mut(at);
                let before = charge(key, &slot.entry);
                if !slot.dirty {
                    slot.entry.old = slot.entry.value.take();
                    slot.entry.seen = false;
                }
                match (value, &mut slot.entry.value) {
                    (Some(new), Some(buffer)) => {
                        buffer.clear();
                        buffer.extend_from_slice(new);
                    }
                    (new, slot_value) => *slot_value = new.map(<[u8]>::to_vec),
                }
                slot.entry.timestamp = timestamp;
                let drop_now = slot.dirty && slot.entry.deletes_nothing() && !slot.entry.seen;
                self.bytes = self.bytes + charge(key, &slot.entry) - before;
                if drop_now {
                    // Written and deleted again since the last flush, unseen: the delete
                    // would change nothing below the cache nor go downstream (see
                    // `CacheEntry::deletes_nothing`), so the entry leaves now rather than
                    // taking room and lookups until the flush.
                    self.take_out(at, Leaving::Dropped);
                    self.dirty -= 1;
                    return Ok(self.bytes > self.max_bytes);
                }
                if !self.slots.written(at) {
                    self.dirty += 1;
                }
            }
            Err(hash) => {
                let old = old()?;
                let entry = CacheEntry {
                    value: value.map(<[u8]>::to_vec),
                    old,
                    timestamp,
                    seen: false,
                };
                self.bytes += charge(key, &entry);
                let at = self.slots.insert(Slot::new(key.into(), entry, true));
                self.index_insert(hash, at);
                self.dirty += 1;
            }
        }
        Ok(self.bytes > self.max_bytes)
    }

    /// Takes out the least recently used entries until the cache is within budget, and
    /// returns the dirty ones among them (clean ones are simply dropped).
    pub fn evict(&mut self) -> Vec<(Rc<[u8]>, CacheEntry)> {
        let mut out = Vec::new();
        while self.bytes > self.max_bytes {
            let Some(at) = self.slots.oldest() else {
                break;
            };
            // The store holds the window now, or holds it still (a clean one).
            let slot = self.take_out(at, Leaving::Evicted);
            if slot.dirty {
                self.dirty -= 1;
                out.push((slot.key, slot.entry));
            }
        }
        out
    }

    /// Takes out every dirty entry, least recently written first, and keeps a clean copy of
    /// each value (what the store holds once they are written); deletes leave the cache, as
    /// in Kafka Streams — a window store's removed sessions would otherwise stay until
    /// evicted.
    pub fn drain(&mut self) -> Vec<(Rc<[u8]>, CacheEntry)> {
        let mut out = Vec::with_capacity(self.dirty);
        while let Some(at) = self.slots.clean_oldest_dirty() {
            let slot = self.slots.get_mut(at);
            if slot.entry.value.is_none() {
                let slot = self.take_out(at, Leaving::Dropped);
                out.push((slot.key, slot.entry));
                continue;
            }
            let old = slot.entry.old.take();
            self.bytes -= old.as_ref().map_or(0, Vec::len);
            let entry = CacheEntry {
                value: slot.entry.value.clone(),
                old,
                timestamp: slot.entry.timestamp,
                seen: std::mem::take(&mut slot.entry.seen),
            };
            out.push((slot.key.clone(), entry));
        }
        self.dirty = 0;
        out
    }

    /// Drops every clean entry (for when the store changes underneath the cache, as in a
    /// restore).
    pub fn forget_clean(&mut self) {
        for at in self.slots.clean() {
            self.take_out(at, Leaving::Dropped);
        }
        if let Some(grouped) = &mut self.by_record_key {
            grouped.unmark_all();
        }
    }

    /// Drops clean entries of expired windows — window keys (see
    /// [`window_key`](crate::window_key)) whose time is before `oldest` — from the least
    /// recently used end, up to the first entry that is dirty or not expired. A window
    /// store neither reads nor writes its expired windows again; without this, they would
    /// keep the cache full until evicted one by one. Returns how many were dropped.
    pub fn forget_expired(&mut self, oldest: i64) -> usize {
        let mut dropped = 0;
        while let Some(at) = self.slots.oldest() {
            let slot = self.slots.get(at);
            let expired =
                !slot.dirty && split_window_key(&slot.key).is_some_and(|(_, time)| time < oldest);
            if !expired {
                break;
            }
            self.take_out(at, Leaving::Dropped);
            dropped += 1;
        }
        dropped
    }

    /// Takes the slot at `at` out of the slab, the indexes and the bytes charged.
    fn take_out(&mut self, at: usize, leaving: Leaving) -> Slot {
        let slot = self.slots.remove(at);
        self.index_remove(&slot.key, at, leaving);
        self.bytes -= charge(&slot.key, &slot.entry);
        slot
    }

    /// The slot the last lookup found, if it still holds `key`.
    fn last_found_for(&self, key: &[u8]) -> Option<usize> {
        let at = self.last_found.get();
        self.slots
            .try_get(at)
            .filter(|slot| *slot.key == *key)
            .map(|_| at)
    }

    /// The slot of `key`, if cached.
    fn slot_of(&self, key: &[u8]) -> Option<usize> {
        self.lookup(key).ok()
    }

    /// The slot of `key` (remembered for the next lookup), or — when `key` is not cached —
    /// its hash, to index the slot it is then given. The key is hashed only when the slot
    /// of the last lookup holds another key.
    fn lookup(&self, key: &[u8]) -> Result<usize, u64> {
        if let Some(at) = self.last_found_for(key) {
            return Ok(at);
        }
        let hash = key_index::hash(key);
        let at = self.index.find(hash, key, &self.slots).ok_or(hash)?;
        self.last_found.set(at);
        Ok(at)
    }

    /// Indexes the slot `at`, just inserted, whose key hashes to `hash`.
    fn index_insert(&mut self, hash: u64, at: usize) {
        let key = &self.slots.get(at).key;
        if let Some(ordered) = &mut self.ordered {
            ordered.insert(key.clone(), at);
        }
        if let Some(by_record_key) = &mut self.by_record_key {
            by_record_key.insert(key, at);
        }
        self.index.insert(hash, at, &self.slots);
    }

    fn index_remove(&mut self, key: &[u8], at: usize, leaving: Leaving) {
        if let Some(ordered) = &mut self.ordered {
            ordered.remove(key);
        }
        if let Some(by_record_key) = &mut self.by_record_key {
            by_record_key.remove(key, at, leaving == Leaving::Evicted);
        }
        self.index.remove(key, at);
    }

    /// The cached entries (dirty and clean) with keys within `from` and `to`, in key order.
    /// The first range read orders the cache's keys, which later writes keep up.
    pub fn range<'a>(
        &'a mut self,
        from: Bound<&'a [u8]>,
        to: Bound<&'a [u8]>,
    ) -> impl Iterator<Item = (&'a [u8], &'a CacheEntry)> + 'a {
        let empty = empty_range(from, to);
        let (index, slots) = (&self.index, &self.slots);
        let ordered = self.ordered.get_or_insert_with(|| {
            index
                .slots()
                .map(|at| (slots.get(at).key.clone(), at))
                .collect()
        });
        let range = (!empty).then(|| ordered.range::<[u8], _>((from, to)));
        range
            .into_iter()
            .flatten()
            .map(|(key, &at)| (&**key, &slots.get(at).entry))
    }

    /// The cached entries (dirty and clean) of one record key's windows (see
    /// [`KeyWindows`]) within the query's bounds that it [matches](KeyWindows::matches), in
    /// key order. The first such read groups the cache's keys by record key, which later
    /// writes keep up.
    pub fn window_range<'a>(
        &'a mut self,
        query: &KeyWindows<'_>,
    ) -> impl Iterator<Item = (&'a [u8], &'a CacheEntry)> + 'a {
        self.group_windows(query.suffix);
        let grouped = self.by_record_key.as_ref().expect("grouped above");
        let mut found: Vec<(&[u8], &CacheEntry)> = grouped
            .slots(query.key)
            .iter()
            .map(|&at| {
                let slot = self.slots.get(at);
                (&*slot.key, &slot.entry)
            })
            .filter(|(key, _)| (query.from..=query.to).contains(key) && query.matches(key))
            .collect();
        found.sort_unstable_by(|a, b| a.0.cmp(b.0));
        found.into_iter()
    }

    /// Whether every window of the record key `key` (the window keys that are `key`
    /// followed by `suffix` bytes) that the store below holds is cached, as marked by
    /// [`RecordCache::mark_all_windows_cached`]: a read of `key`'s windows can then skip the
    /// store.
    pub fn has_all_windows(&self, key: &[u8], suffix: usize) -> bool {
        self.by_record_key
            .as_ref()
            .is_some_and(|g| g.suffix() == suffix && g.is_complete(key))
    }

    /// Marks the record key `key` as having all its windows (each `suffix` bytes after the
    /// key) cached — call it once every window the store below holds of it was written or
    /// remembered. The mark lasts until one of the key's windows is evicted (the store then
    /// holds a window the cache does not) or the store changes underneath
    /// ([`RecordCache::forget_clean`]). Windows leaving otherwise keep it: a delete
    /// drained to the store, which then no longer holds the window either, and an expired
    /// window, which the store no longer returns. A mark is kept with the key's group of
    /// windows, which — once empty — goes with the other empty groups when they outnumber
    /// the rest; the key's next read then takes its windows in again.
    pub fn mark_all_windows_cached(&mut self, key: &[u8], suffix: usize) {
        self.group_windows(suffix);
        if let Some(grouped) = &mut self.by_record_key {
            grouped.mark_complete(key);
        }
    }

    /// Groups the cached windows by record key (`suffix` bytes before the end of a window
    /// key), unless they are already.
    fn group_windows(&mut self, suffix: usize) {
        if self.by_record_key.as_ref().map(WindowsByRecordKey::suffix) != Some(suffix) {
            let slots = &self.slots;
            let windows = self.index.slots().map(|at| (&*slots.get(at).key, at));
            self.by_record_key = Some(WindowsByRecordKey::new(suffix, windows));
        }
    }

    /// Whether the cache has room to take in a record key's windows: it is under three
    /// quarters of its budget. A cache that is full evicts, which would undo the marks of
    /// [`RecordCache::mark_all_windows_cached`] as fast as they are made.
    pub fn has_room(&self) -> bool {
        self.bytes < self.max_bytes / 4 * 3
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
        self.index.len()
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

/// Whether no key lies within `from` and `to` (which a `BTreeMap` range refuses).
pub(crate) fn empty_range(from: Bound<&[u8]>, to: Bound<&[u8]>) -> bool {
    match (from, to) {
        (Bound::Included(f), Bound::Included(t)) => f > t,
        (Bound::Included(f) | Bound::Excluded(f), Bound::Included(t) | Bound::Excluded(t)) => {
            f >= t
        }
        _ => false,
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
            seen: false,
        }
    }

    #[test]
    fn a_lookup_marks_a_dirty_value_seen_until_the_flush_that_carries_it() {
        let mut cache = RecordCache::new(1 << 20);
        cache.remember(b"clean", Some(b"c"), 0);
        cache.mark_seen(b"clean");
        put(&mut cache, b"k", Some(b"v"), 1, None);
        cache.mark_seen(b"k");
        put(&mut cache, b"k", None, 2, None);
        put(&mut cache, b"gone", None, 3, None);
        cache.mark_seen(b"gone");
        let drained = cache.drain();
        let seen: Vec<(&[u8], bool)> = drained.iter().map(|(k, e)| (&**k, e.seen)).collect();
        assert_eq!(
            seen,
            vec![(&b"k"[..], true), (&b"gone"[..], false)],
            "a value read before its delete is seen; a delete read alone is not"
        );
        put(&mut cache, b"k", None, 4, None);
        let drained = cache.drain();
        assert!(!drained[0].1.seen, "the next interval starts unseen");
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
                (Rc::from(&b"j"[..]), entry(None, None, 3)),
                (Rc::from(&b"k"[..]), entry(Some(b"3"), Some(b"0"), 4)),
            ]
        );
        assert!(cache.is_empty());
        assert_eq!(
            cache.cached(),
            1,
            "a clean copy of k stays; the delete of j leaves"
        );
        assert_eq!(cache.get(b"j"), None);
        assert_eq!(cache.get(b"k"), Some(&entry(Some(b"3"), None, 4)));
        cache
            .put::<Never>(b"k", Some(b"4"), 5, || {
                panic!("a clean entry holds the old value")
            })
            .unwrap();
        assert_eq!(
            cache.drain(),
            vec![(Rc::from(&b"k"[..]), entry(Some(b"4"), Some(b"3"), 5))]
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
    fn a_key_with_all_windows_cached_stays_marked_until_one_is_evicted() {
        use crate::window_key::window_key;
        let mut cache = RecordCache::new(1 << 20);
        put(&mut cache, &window_key(b"k", 10), Some(b"1"), 0, Some(b"0"));
        put(&mut cache, &window_key(b"k", 20), Some(b"2"), 0, None);
        put(&mut cache, &window_key(b"kk", 20), Some(b"3"), 0, None);
        cache.mark_all_windows_cached(b"k", 8);
        cache.mark_all_windows_cached(b"kk", 8);
        assert!(cache.has_all_windows(b"k", 8));
        assert!(!cache.has_all_windows(b"k", 16), "another window layout");
        cache.drain();
        assert!(cache.has_all_windows(b"k", 8), "a flush keeps clean copies");
        put(&mut cache, &window_key(b"k", 10), None, 0, None);
        cache.drain();
        assert!(
            cache.has_all_windows(b"k", 8),
            "a drained delete leaves the store without the window too"
        );
        cache.forget_clean();
        assert!(
            !cache.has_all_windows(b"kk", 8),
            "the store changed underneath"
        );

        let mut small = RecordCache::new(2 * (ENTRY_OVERHEAD + 10));
        put(&mut small, &window_key(b"a", 1), Some(b"1"), 0, None);
        put(&mut small, &window_key(b"b", 1), Some(b"1"), 0, None);
        small.mark_all_windows_cached(b"a", 8);
        small.mark_all_windows_cached(b"b", 8);
        assert!(!small.has_room(), "a full cache has no room");
        put(&mut small, &window_key(b"c", 1), Some(b"1"), 0, None);
        assert_eq!(small.evict().len(), 1);
        assert!(!small.has_all_windows(b"a", 8), "eviction unmarks");
        assert!(
            small.has_all_windows(b"b", 8),
            "only the evicted window's key"
        );
        for key in [&b"x"[..], b"y", b"z", b"w"] {
            small.mark_all_windows_cached(key, 8);
        }
        assert!(
            small.has_all_windows(b"b", 8) && small.has_all_windows(b"w", 8),
            "a key with cached windows and the latest mark stay marked"
        );
        assert!(
            !small.has_all_windows(b"x", 8),
            "marks of keys without a cached window go once they outnumber the rest"
        );
    }

    #[test]
    fn a_delete_of_a_key_written_since_the_flush_leaves_at_once_unless_seen() {
        let mut cache = RecordCache::new(1 << 20);
        put(&mut cache, b"new", Some(b"1"), 1, None);
        put(&mut cache, b"new", None, 2, None);
        assert_eq!(cache.get(b"new"), None);
        assert_eq!((cache.len(), cache.cached(), cache.bytes()), (0, 0, 0));
        put(&mut cache, b"held", Some(b"1"), 1, Some(b"0"));
        put(&mut cache, b"held", None, 2, None);
        put(&mut cache, b"seen", Some(b"1"), 1, None);
        cache.mark_seen(b"seen");
        put(&mut cache, b"seen", None, 2, None);
        let drained: Vec<Vec<u8>> = cache.drain().iter().map(|(k, _)| k.to_vec()).collect();
        assert_eq!(
            drained,
            [b"held".to_vec(), b"seen".to_vec()],
            "a delete of a stored value, and one of a value a lookup saw, go to the flush"
        );
    }

    #[test]
    fn expired_windows_leave_from_the_least_recently_used_end() {
        use crate::window_key::window_key;
        let mut cache = RecordCache::new(1 << 20);
        put(&mut cache, &window_key(b"a", 10), Some(b"1"), 0, None);
        put(&mut cache, &window_key(b"b", 20), Some(b"1"), 0, None);
        put(&mut cache, &window_key(b"c", 30), Some(b"1"), 0, None);
        put(&mut cache, &window_key(b"d", 5), Some(b"1"), 0, None);
        assert_eq!(cache.forget_expired(100), 0, "dirty entries stay");
        cache.drain();
        let before = cache.bytes();
        assert_eq!(cache.forget_expired(25), 2, "a and b; c is not expired");
        assert_eq!(cache.get(&window_key(b"a", 10)), None);
        assert_eq!(cache.get(&window_key(b"b", 20)), None);
        assert!(
            cache.get(&window_key(b"d", 5)).is_some(),
            "behind a live entry"
        );
        assert_eq!(before - cache.bytes(), 2 * (ENTRY_OVERHEAD + 9 + 1));
        put(&mut cache, &window_key(b"c", 30), Some(b"2"), 1, None);
        assert_eq!(
            cache.forget_expired(i64::MAX),
            1,
            "d, then the dirty c stops it"
        );
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
        assert_eq!(&*evicted[0].0, b"b", "a was written again after b");
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
        let mut keys =
            |from, to| -> Vec<Vec<u8>> { cache.range(from, to).map(|(k, _)| k.to_vec()).collect() };
        assert_eq!(
            keys(Bound::Included(b"b"), Bound::Excluded(b"d")),
            vec![b"b".to_vec(), b"c".to_vec()]
        );
        assert!(keys(Bound::Included(b"d"), Bound::Excluded(b"b")).is_empty());
        assert_eq!(keys(Bound::Unbounded, Bound::Unbounded).len(), 4);
    }

    #[test]
    fn a_hot_key_takes_one_slot_and_evicted_slots_are_reused() {
        let mut cache = RecordCache::new(1 << 20);
        for i in 0..10_000 {
            put(&mut cache, b"hot", Some(b"v"), i, None);
        }
        assert_eq!(cache.slots.capacity(), 1);
        assert_eq!(cache.drain().len(), 1);
        let mut small = RecordCache::new(3 * (ENTRY_OVERHEAD + 3));
        for i in 0..100u8 {
            if put(&mut small, &[b'k', i], Some(b"v"), 0, None) {
                small.evict();
            }
        }
        assert!(small.slots.capacity() <= 4, "{}", small.slots.capacity());
    }

    /// Interleaved writes, reads, flushes and evictions keep both orders: evictions take
    /// the least recently written or remembered, a drain the dirty ones by latest write.
    #[test]
    fn both_orders_follow_the_latest_write() {
        let mut cache = RecordCache::new(1 << 20);
        for key in [&b"a"[..], b"b", b"c", b"d"] {
            put(&mut cache, key, Some(b"1"), 0, None);
        }
        put(&mut cache, b"b", Some(b"2"), 1, None);
        let drained: Vec<Vec<u8>> = cache.drain().iter().map(|(k, _)| k.to_vec()).collect();
        assert_eq!(drained, [&b"a"[..], b"c", b"d", b"b"]);
        put(&mut cache, b"c", Some(b"3"), 2, None);
        cache.remember(b"e", Some(b"1"), 0);
        put(&mut cache, b"a", Some(b"3"), 3, None);
        // Recency now: d, b, c, e, a. A budget of three entries evicts d and b (clean).
        cache.max_bytes = cache.bytes - 2 * (ENTRY_OVERHEAD + 2);
        assert!(cache.evict().is_empty());
        assert_eq!(cache.get(b"d"), None);
        assert_eq!(cache.get(b"b"), None);
        cache.max_bytes = 0;
        let evicted: Vec<Vec<u8>> = cache.evict().iter().map(|(k, _)| k.to_vec()).collect();
        assert_eq!(evicted, [&b"c"[..], b"a"], "dirty ones out, e dropped");
        assert_eq!(cache.cached(), 0);
        assert_eq!(cache.bytes(), 0);
    }
}
