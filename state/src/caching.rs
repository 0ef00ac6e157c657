//! The store stack a task writes through: record cache → change logging → store.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::rc::Rc;
use std::sync::Arc;

use crate::StateError;
use crate::cache::{CacheEntry, RecordCache, empty_range};
use crate::changelog::{ChangeLoggingKeyValueStore, TimestampedWrite};
use crate::feed::{AppliedChange, ChangeFeed};
use crate::timestamped::{TimestampedBytes, ValueReader};
use crate::window_key::KeyWindows;

/// An entry that left the cache (or bypassed it) and is now in the store and the changelog:
/// its key, the latest value with its timestamp, and the value before. Table operators
/// forward these downstream as updates.
pub type FlushedEntry = (Rc<[u8]>, CacheEntry);

/// One entry of a merged read: key, value and the value's timestamp.
pub type TimestampedEntry = (Vec<u8>, Vec<u8>, i64);

/// Writes held back until their transaction commits: key → value (`None` deletes) and
/// timestamp.
type Held = BTreeMap<Vec<u8>, (Option<Vec<u8>>, i64)>;

/// A key and what a point read found for it below the cache.
type Noted = (Vec<u8>, Option<Vec<u8>>);

/// A logged store of timestamped values with an optional record cache in front.
///
/// With the cache, writes stay in memory until [`CachingKeyValueStore::flush_cache`] (on
/// commit) or until the cache is over its budget; only the latest value of each key is
/// then written, logged and returned for forwarding. Without it, every write goes through at
/// once and is returned as flushed. The task's own reads ([`CachingKeyValueStore::get_with`],
/// [`CachingKeyValueStore::range`]) see its cached writes; the cache also keeps what it
/// flushed and what point reads found in the store, so that reading a key again (a table a
/// stream is joined with, an aggregate updated again) skips the store.
///
/// Under exactly-once ([`CachingKeyValueStore::holding_writes`]) what leaves the cache is
/// logged at once (into the open transaction) but held in memory, where the task's reads
/// see it, until [`CachingKeyValueStore::apply_held`] writes it to the store after the
/// transaction commits, or [`CachingKeyValueStore::discard_uncommitted`] drops it after an
/// abort. The store then only ever holds committed state: a checkpoint written after each
/// commit stays true through a crash, and readers of the store read committed.
///
/// Every write that reaches the store is also handed to the store's [`ChangeFeed`], so
/// subscribers see exactly what readers of [`CachingKeyValueStore::read_only_handle`] see.
pub struct CachingKeyValueStore {
    store: ChangeLoggingKeyValueStore,
    /// In a cell because point reads remember what they found.
    cache: Option<RefCell<RecordCache>>,
    /// Under exactly-once, the writes of the open transaction.
    held: Option<Held>,
    /// Whether reads and writes go around the cache (see
    /// [`CachingKeyValueStore::set_bypass_cache`]).
    bypass: bool,
    feed: Arc<ChangeFeed>,
    /// The last key a point read found below the cache without the cache keeping it (no
    /// cache, or a full one), with its value there: the write that usually follows (an
    /// aggregate's update) takes its old value from here instead of reading the store a
    /// second time. Taken by the next write; dropped when anything below the cache changes.
    last_miss: RefCell<Option<Noted>>,
}

impl CachingKeyValueStore {
    /// `store`, with a cache of `cache_bytes` in front, or none.
    pub fn new(store: ChangeLoggingKeyValueStore, cache_bytes: Option<usize>) -> Self {
        Self {
            store,
            cache: cache_bytes.map(|bytes| RefCell::new(RecordCache::new(bytes))),
            held: None,
            bypass: false,
            feed: Arc::default(),
            last_miss: RefCell::default(),
        }
    }

    /// Sends every write through at once (forwarded, logged and stored one by one, as
    /// without a cache) while `on`; reads then skip the cache too. For a task replaying
    /// records an earlier owner may have processed: each change must go downstream again
    /// in order, not collapsed with the next. Switch it on only while the cache holds no
    /// dirty entry (before processing); its clean entries are dropped.
    pub fn set_bypass_cache(&mut self, on: bool) {
        if on && let Some(cache) = &mut self.cache {
            debug_assert!(
                cache.get_mut().is_empty(),
                "bypassing a cache with dirty entries"
            );
            cache.get_mut().forget_clean();
        }
        self.last_miss.take();
        self.bypass = on;
    }

    /// The same store, holding the writes of each transaction in memory until it commits
    /// (for exactly-once; see the type's documentation).
    pub fn holding_writes(mut self) -> Self {
        self.held = Some(Held::new());
        self
    }

    /// The store's name.
    pub fn name(&self) -> &str {
        self.store.name()
    }

    /// The logged store underneath the cache.
    pub fn logged(&self) -> &ChangeLoggingKeyValueStore {
        &self.store
    }

    /// The logged store underneath the cache, for restoration (which changes the store
    /// underneath the cache: its clean entries are dropped).
    pub fn logged_mut(&mut self) -> &mut ChangeLoggingKeyValueStore {
        if let Some(cache) = &mut self.cache {
            cache.get_mut().forget_clean();
        }
        self.last_miss.take();
        &mut self.store
    }

    /// The value of `key` below the cache: a held write, else the store's.
    fn below_cache<R>(
        &self,
        key: &[u8],
        read: impl FnOnce(Option<(&[u8], i64)>) -> R,
    ) -> Result<R, StateError> {
        if let Some((value, timestamp)) = self.held.as_ref().and_then(|h| h.get(key)) {
            return Ok(read(value.as_deref().map(|v| (v, *timestamp))));
        }
        let stored = self.store.get(key)?;
        Ok(read(stored.as_ref().map(|s| (s.value(), s.timestamp()))))
    }

    /// Passes the latest value of `key` and its timestamp to `read`, without copying it out
    /// of the cache: the cached entry if there is one, else a held write, else the store's
    /// (which the cache then remembers, if it has room).
    ///
    /// # Errors
    /// When the store fails to read.
    pub fn get_with<R>(
        &self,
        key: &[u8],
        read: impl FnOnce(Option<(&[u8], i64)>) -> R,
    ) -> Result<R, StateError> {
        let Some(cache) = self.cache.as_ref().filter(|_| !self.bypass) else {
            return self.below_cache(key, |found| {
                self.note_miss(key, found);
                read(found)
            });
        };
        if let Some(entry) = cache.borrow().get(key) {
            return Ok(read(entry.value.as_deref().map(|v| (v, entry.timestamp))));
        }
        self.below_cache(key, |found| {
            let kept = cache.borrow_mut().remember(
                key,
                found.map(|(v, _)| v),
                found.map_or(0, |(_, t)| t),
            );
            if !kept {
                self.note_miss(key, found);
            }
            read(found)
        })
    }

    /// As [`CachingKeyValueStore::get_with`], for a lookup by another operator than the one
    /// writing the store (a join reading the table): a dirty value it reads is marked seen
    /// (see [`CacheEntry::seen`]), so that a delete replacing it is not dropped at the flush.
    ///
    /// # Errors
    /// When the store fails to read.
    pub fn lookup_with<R>(
        &self,
        key: &[u8],
        read: impl FnOnce(Option<(&[u8], i64)>) -> R,
    ) -> Result<R, StateError> {
        if let Some(cache) = self.cache.as_ref().filter(|_| !self.bypass) {
            cache.borrow_mut().mark_seen(key);
        }
        self.get_with(key, read)
    }

    /// Notes what a point read found below the cache for `key` (see `last_miss`).
    fn note_miss(&self, key: &[u8], found: Option<(&[u8], i64)>) {
        *self.last_miss.borrow_mut() = Some((key.to_vec(), found.map(|(v, _)| v.to_vec())));
    }

    /// The value below the cache of `key`, for a write's old value: what the last point
    /// read noted, when it read this key, else a read of the store.
    fn old_value(&self, key: &[u8], noted: Option<Noted>) -> Result<Option<Vec<u8>>, StateError> {
        match noted {
            Some((noted_key, value)) if noted_key == key => Ok(value),
            _ => self.below_cache(key, |v| v.map(|(v, _)| v.to_vec())),
        }
    }

    /// The latest value of `key`, owned.
    ///
    /// # Errors
    /// When the store fails to read.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        self.get_with(key, |value| value.map(|(v, _)| v.to_vec()))
    }

    /// Entries with keys within `from` and `to`, in key order, cached and held writes
    /// included (a delete hides the entry below it).
    ///
    /// # Errors
    /// When the store fails to read.
    pub fn range(
        &self,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
    ) -> Result<Vec<TimestampedEntry>, StateError> {
        let stored = self
            .store
            .range(from, to)?
            .map(|entry| entry.map(stored_layer));
        self.merged(stored, Span::Keys(from, to))
    }

    /// One record key's windows (see [`KeyWindows`]), in key order, cached and held writes
    /// included: what [`CachingKeyValueStore::range`] over the query's bounds returns of
    /// them, reading only the window store's segments of the query's times.
    ///
    /// A record key whose windows the cache holds all of is answered from the cache alone.
    /// Otherwise, while the cache has room, the read takes in every window of the key from
    /// the store (within retention, not only the query's) so that the next reads of the
    /// key skip the store — until one of its windows is evicted.
    ///
    /// Each window comes to `each` as its window key, value and timestamp, borrowed: from
    /// the cache itself when it answers alone and nothing is held.
    ///
    /// # Errors
    /// When the store fails to read, or `each` fails (which ends the read).
    pub fn key_windows<E: From<StateError>>(
        &self,
        query: &KeyWindows<'_>,
        mut each: impl FnMut(&[u8], &[u8], i64) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut visit_all = |entries: Vec<TimestampedEntry>| {
            entries
                .iter()
                .try_for_each(|(key, value, timestamp)| each(key, value, *timestamp))
        };
        if let Some(cache) = self.cache.as_ref().filter(|_| !self.bypass) {
            let (complete, room) = {
                let cache = cache.borrow();
                (
                    cache.has_all_windows(query.key, query.suffix),
                    cache.has_room(),
                )
            };
            if complete || (room && self.cache_all_windows(cache, query.key, query.suffix)?) {
                if self.held.as_ref().is_some_and(|h| !h.is_empty()) {
                    return visit_all(self.merged(std::iter::empty(), Span::Windows(query))?);
                }
                let mut cache = cache.borrow_mut();
                for (key, entry) in cache.window_range(query) {
                    if let Some(value) = &entry.value {
                        each(key, value, entry.timestamp)?;
                    }
                }
                return Ok(());
            }
        }
        let stored = self
            .store
            .key_windows(query)?
            .into_iter()
            .map(|entry| Ok(stored_layer(entry)));
        visit_all(self.merged(stored, Span::Windows(query))?)
    }

    /// Remembers in the cache every window of the record key `key` (each `suffix` bytes
    /// after it) that the layers below it hold; returns whether all of them fit, the cache
    /// then answering any read of them alone.
    fn cache_all_windows(
        &self,
        cache: &RefCell<RecordCache>,
        key: &[u8],
        suffix: usize,
    ) -> Result<bool, StateError> {
        let mut from = key.to_vec();
        from.resize(key.len() + suffix, 0);
        let mut to = key.to_vec();
        to.resize(key.len() + suffix, u8::MAX);
        let all = KeyWindows {
            key,
            suffix,
            from: &from,
            to: &to,
            times: (i64::MIN, i64::MAX),
        };
        let stored = self
            .store
            .key_windows(&all)?
            .into_iter()
            .map(|entry| Ok(stored_layer(entry)));
        let held = self.held_range(Span::Windows(&all));
        let below: Vec<LayerEntry> = overlay(stored, held).collect::<Result<_, _>>()?;
        let mut cache = cache.borrow_mut();
        let kept = below
            .iter()
            .all(|(k, value, timestamp)| cache.remember(k, value.as_deref(), *timestamp));
        if kept {
            cache.mark_all_windows_cached(key, suffix);
        }
        Ok(kept)
    }

    /// `stored` (in key order) with the held and cached writes of `span` laid over it;
    /// deletes hide what they replace.
    fn merged<'a>(
        &'a self,
        stored: impl Iterator<Item = Result<LayerEntry, StateError>> + 'a,
        span: Span<'a>,
    ) -> Result<Vec<TimestampedEntry>, StateError> {
        let below = overlay(stored, self.held_range(span));
        let mut cache = self.cache.as_ref().map(RefCell::borrow_mut);
        let cached = cache.iter_mut().flat_map(move |c| {
            let entries: Box<dyn Iterator<Item = (&[u8], &CacheEntry)>> = match span {
                Span::Keys(from, to) => Box::new(c.range(from, to)),
                Span::Windows(query) => Box::new(c.window_range(query)),
            };
            entries.map(|(k, e)| (k, e.value.as_deref(), e.timestamp))
        });
        overlay(below, cached)
            .filter_map(|entry| match entry {
                Ok((key, Some(value), timestamp)) => Some(Ok((key, value, timestamp))),
                Ok((_, None, _)) => None,
                Err(e) => Some(Err(e)),
            })
            .collect()
    }

    /// The held writes (under exactly-once) of `span`, in key order.
    fn held_range<'a>(
        &'a self,
        span: Span<'a>,
    ) -> impl Iterator<Item = (&'a [u8], Option<&'a [u8]>, i64)> + 'a {
        let (from, to) = span.bounds();
        let held = self.held.as_ref().filter(|_| !empty_range(from, to));
        held.into_iter().flat_map(move |h| {
            h.range::<[u8], _>((from, to))
                .filter(move |(k, _)| span.keeps(k))
                .map(|(k, (v, t))| (k.as_slice(), v.as_deref(), *t))
        })
    }

    /// Writes `value` (`None` deletes) under `key` with `timestamp`; returns the entries
    /// this wrote through to the store (none while the cache absorbs the write).
    ///
    /// # Errors
    /// When the store or the changelog fails.
    pub fn put(
        &mut self,
        key: &[u8],
        value: Option<&[u8]>,
        timestamp: i64,
    ) -> Result<Vec<FlushedEntry>, StateError> {
        let noted = self.last_miss.take();
        let Some(cache) = self.cache.as_ref().filter(|_| !self.bypass) else {
            let old = self.old_value(key, noted)?;
            let entry = CacheEntry {
                value: value.map(<[u8]>::to_vec),
                old,
                timestamp,
                seen: false,
            };
            let through = vec![(Rc::from(key), entry)];
            self.write(&through, Source::Through)?;
            return Ok(through);
        };
        let over_budget = cache
            .borrow_mut()
            .put(key, value, timestamp, || self.old_value(key, noted))?;
        if over_budget {
            let evicted = cache.borrow_mut().evict();
            self.write(&evicted, Source::Cache)?;
            return Ok(evicted);
        }
        Ok(Vec::new())
    }

    /// Writes every dirty entry to the store in one batch, and returns them in the order
    /// of their latest write. The clean entries of a window store's expired windows then
    /// leave the cache (see [`RecordCache::forget_expired`]).
    ///
    /// # Errors
    /// When the store or the changelog fails.
    pub fn flush_cache(&mut self) -> Result<Vec<FlushedEntry>, StateError> {
        let Some(cache) = self.cache.as_mut() else {
            return Ok(Vec::new());
        };
        let drained = cache.get_mut().drain();
        self.write(&drained, Source::Cache)?;
        // The windows the write expired are read and written no more.
        if let (Some(oldest), Some(cache)) = (self.store.expired_before(), &mut self.cache) {
            cache.get_mut().forget_expired(oldest);
        }
        Ok(drained)
    }

    /// Logs `entries` and writes them to the store, or, under exactly-once, holds them
    /// until their transaction commits. Of entries that leave the cache, a delete of a key
    /// the store does not hold (written and deleted again since the last flush) changes
    /// nothing: it is neither logged nor written, as in Kafka Streams.
    fn write(&mut self, entries: &[FlushedEntry], source: Source) -> Result<(), StateError> {
        self.last_miss.take();
        let changes_store = |e: &CacheEntry| source == Source::Through || !e.deletes_nothing();
        let batch: Vec<TimestampedWrite<'_>> = entries
            .iter()
            .filter(|(_, e)| changes_store(e))
            .map(|(k, e)| (&**k, e.value.as_deref(), e.timestamp))
            .collect();
        if batch.is_empty() {
            return Ok(());
        }
        if let Some(held) = &mut self.held {
            self.store.log(&batch)?;
            for (key, value, timestamp) in batch {
                held.insert(key.to_vec(), (value.map(<[u8]>::to_vec), timestamp));
            }
            return Ok(());
        }
        let changes = entries
            .iter()
            .filter(|(_, e)| changes_store(e))
            .map(|(key, e)| AppliedChange {
                key,
                value: e.value.as_deref(),
                timestamp: e.timestamp,
            });
        let store = &mut self.store;
        self.feed.apply(changes, || store.put_all(&batch))
    }

    /// Writes the held writes (already logged) to the store in one batch, once the
    /// transaction holding their changelog records has committed.
    ///
    /// # Errors
    /// When the store fails to write.
    pub fn apply_held(&mut self) -> Result<(), StateError> {
        self.last_miss.take();
        let Some(held) = self.held.as_mut().filter(|h| !h.is_empty()) else {
            return Ok(());
        };
        let held = std::mem::take(held);
        let batch: Vec<TimestampedWrite<'_>> = held
            .iter()
            .map(|(k, (v, t))| (k.as_slice(), v.as_deref(), *t))
            .collect();
        let changes = batch.iter().map(|(key, value, timestamp)| AppliedChange {
            key,
            value: *value,
            timestamp: *timestamp,
        });
        let store = &mut self.store;
        self.feed.apply(changes, || store.write_logged(&batch))
    }

    /// Drops every write not yet in the store — the cache's entries and the held writes —
    /// after the transaction holding them was aborted.
    pub fn discard_uncommitted(&mut self) {
        self.last_miss.take();
        if let Some(held) = &mut self.held {
            held.clear();
        }
        if let Some(cache) = &mut self.cache {
            let budget = cache.get_mut().max_bytes();
            *cache.get_mut() = RecordCache::new(budget);
        }
    }

    /// Flushes the store to local disk (after [`CachingKeyValueStore::flush_cache`]).
    ///
    /// # Errors
    /// When the store fails to flush.
    pub fn flush(&mut self) -> Result<(), StateError> {
        self.store.flush()
    }

    /// The window store's stream time as written through the cache (see
    /// [`KeyValueStore::observed_time`](crate::KeyValueStore::observed_time)).
    pub fn observed_time(&self) -> Option<i64> {
        self.store.observed_time()
    }

    /// Whether writes are absorbed by a record cache now: one sits in front of the store
    /// and is not bypassed (see [`CachingKeyValueStore::set_bypass_cache`]).
    pub fn is_caching(&self) -> bool {
        self.cache.is_some() && !self.bypass
    }

    /// Whether the cache holds dirty entries.
    pub fn has_dirty(&self) -> bool {
        self.cache.as_ref().is_some_and(|c| !c.borrow().is_empty())
    }

    /// A read handle for queries (sees what has been written through the cache).
    pub fn read_only_handle(&self) -> Arc<ValueReader> {
        self.store.read_only_handle()
    }

    /// The feed of the writes that reach the store (what the read handle sees change).
    pub fn feed(&self) -> Arc<ChangeFeed> {
        self.feed.clone()
    }
}

/// What a merged read covers.
#[derive(Clone, Copy)]
enum Span<'a> {
    /// The keys within two bounds.
    Keys(Bound<&'a [u8]>, Bound<&'a [u8]>),
    /// One record key's windows.
    Windows(&'a KeyWindows<'a>),
}

impl<'a> Span<'a> {
    /// The least and greatest key the span may hold.
    fn bounds(self) -> (Bound<&'a [u8]>, Bound<&'a [u8]>) {
        match self {
            Span::Keys(from, to) => (from, to),
            Span::Windows(query) => (Bound::Included(query.from), Bound::Included(query.to)),
        }
    }

    /// Whether `key`, within the bounds, is in the span.
    fn keeps(self, key: &[u8]) -> bool {
        match self {
            Span::Keys(..) => true,
            Span::Windows(query) => query.matches(key),
        }
    }
}

/// Where the entries a store write takes come from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    /// Out of the record cache (flushed or evicted).
    Cache,
    /// Written through at once (no cache, or bypassing it).
    Through,
}

/// One entry of a layer of a merged read: key, value (`None`: deleted) and timestamp.
type LayerEntry = (Vec<u8>, Option<Vec<u8>>, i64);

/// A stored entry as the bottom layer of a merged read.
fn stored_layer((key, value): (Vec<u8>, TimestampedBytes)) -> LayerEntry {
    let timestamp = value.timestamp();
    (key, Some(value.into_value()), timestamp)
}

/// Merges `upper` (in key order) over `lower` (in key order): where both have a key, the
/// upper entry wins.
fn overlay<'a>(
    lower: impl Iterator<Item = Result<LayerEntry, StateError>> + 'a,
    upper: impl Iterator<Item = (&'a [u8], Option<&'a [u8]>, i64)> + 'a,
) -> impl Iterator<Item = Result<LayerEntry, StateError>> + 'a {
    let mut lower = lower.peekable();
    let mut upper = upper.peekable();
    std::iter::from_fn(move || {
        let (take_upper, replaces) = match (lower.peek(), upper.peek()) {
            (None, None) => return None,
            (Some(Err(_)), _) => return lower.next(),
            (None, Some(_)) => (true, false),
            (Some(_), None) => (false, false),
            (Some(Ok((l, _, _))), Some((u, _, _))) => (l.as_slice() >= *u, l.as_slice() == *u),
        };
        // The upper write replaces the lower entry: its buffers take the upper's bytes.
        let replaced = replaces
            .then(|| lower.next())
            .flatten()
            .and_then(Result::ok);
        if take_upper {
            let (key, value, timestamp) = upper.next().expect("peeked");
            let (key, value) = match replaced {
                Some((key, old, _)) => (key, value.map(|v| refill(old, v))),
                None => (key.to_vec(), value.map(<[u8]>::to_vec)),
            };
            Some(Ok((key, value, timestamp)))
        } else {
            lower.next()
        }
    })
}

/// `bytes` in `buffer`'s allocation, when there is one.
fn refill(buffer: Option<Vec<u8>>, bytes: &[u8]) -> Vec<u8> {
    let mut buffer = buffer.unwrap_or_default();
    buffer.clear();
    buffer.extend_from_slice(bytes);
    buffer
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DiscardingChangelog, InMemoryKeyValueStore, ReadOnlyKeyValueStore};

    /// What [`CachingKeyValueStore::key_windows`] visits, copied.
    fn windows_of(s: &CachingKeyValueStore, query: &KeyWindows<'_>) -> Vec<TimestampedEntry> {
        let mut found = Vec::new();
        s.key_windows(query, |key, value, timestamp| {
            found.push((key.to_vec(), value.to_vec(), timestamp));
            Ok::<_, StateError>(())
        })
        .unwrap();
        found
    }

    fn stack(cache: Option<usize>) -> CachingKeyValueStore {
        let inner = Box::new(InMemoryKeyValueStore::new("s"));
        CachingKeyValueStore::new(
            ChangeLoggingKeyValueStore::new(inner, "t".into(), 0, Box::new(DiscardingChangelog)),
            cache,
        )
    }

    /// The old values a put reports after point reads: from the read just before it
    /// (without a second store read) or from the store, never a stale one.
    #[test]
    fn a_put_after_a_read_reports_the_old_value_the_read_found() {
        // No cache, and a cache too small to remember anything.
        for cache in [None, Some(1)] {
            let mut s = stack(cache);
            let olds = |flushed: Vec<FlushedEntry>| -> Vec<Option<Vec<u8>>> {
                flushed.into_iter().map(|(_, e)| e.old).collect()
            };
            s.put(b"a", Some(b"1"), 1).unwrap();
            s.flush_cache().unwrap();
            assert_eq!(s.get(b"a").unwrap(), Some(b"1".to_vec()));
            let first = s.put(b"a", Some(b"2"), 2).unwrap();
            s.flush_cache().unwrap();
            // The read noted `a` = 1; the put took it, so the next put reads the store.
            let second = s.put(b"a", Some(b"3"), 3).unwrap();
            s.flush_cache().unwrap();
            // A read of `a`, then of `b`: the note is `b`'s, and `a`'s old value is read.
            s.get(b"a").unwrap();
            s.get(b"b").unwrap();
            let third = s.put(b"a", None, 4).unwrap();
            let mut all = olds(first);
            all.extend(olds(second));
            all.extend(olds(third));
            all.extend(olds(s.flush_cache().unwrap()));
            assert_eq!(
                all,
                [
                    Some(b"1".to_vec()),
                    Some(b"2".to_vec()),
                    Some(b"3".to_vec())
                ],
                "cache {cache:?}"
            );
        }
    }

    /// A key written and deleted again between flushes, which the store never held, leaves
    /// no trace: no changelog record, no store write; a delete of a key the store holds is
    /// logged and written.
    #[test]
    fn a_delete_of_a_key_the_store_never_held_is_neither_logged_nor_written() {
        use crate::changelog::{ChangelogRecord, ChangelogSink};
        #[derive(Clone, Default)]
        struct Count(std::rc::Rc<std::cell::Cell<usize>>);
        impl ChangelogSink for Count {
            fn send(&mut self, _: ChangelogRecord<'_>) -> Result<(), StateError> {
                self.0.set(self.0.get() + 1);
                Ok(())
            }
        }
        let logged = Count::default();
        let inner = Box::new(InMemoryKeyValueStore::new("s"));
        let store = ChangeLoggingKeyValueStore::new(inner, "t".into(), 0, Box::new(logged.clone()));
        let mut s = CachingKeyValueStore::new(store, Some(1 << 20));
        s.put(b"kept", Some(b"1"), 1).unwrap();
        s.put(b"brief", Some(b"1"), 1).unwrap();
        s.put(b"brief", None, 2).unwrap();
        let flushed = s.flush_cache().unwrap();
        assert_eq!(flushed.len(), 1, "`brief` left the cache at its delete");
        assert_eq!(logged.0.get(), 1, "only `kept` is logged");
        s.put(b"kept", None, 3).unwrap();
        s.flush_cache().unwrap();
        assert_eq!(logged.0.get(), 2, "the delete of `kept` is logged");
        assert_eq!(s.read_only_handle().get(b"kept").unwrap(), None);
    }

    /// A flush that moves a window store's stream time on takes the windows it expired out
    /// of the cache; reads still find the windows kept.
    #[test]
    fn a_flush_takes_expired_windows_out_of_the_cache() {
        use crate::window::{SegmentedWindowStore, WindowKeyValueStore, window_key};
        let windows = WindowKeyValueStore::new(SegmentedWindowStore::in_memory("w", 100, 50));
        let logged = ChangeLoggingKeyValueStore::new(
            Box::new(windows),
            "t".into(),
            0,
            Box::new(DiscardingChangelog),
        );
        let mut s = CachingKeyValueStore::new(logged, Some(1 << 20));
        let cached = |s: &CachingKeyValueStore| s.cache.as_ref().unwrap().borrow().cached();
        s.put(&window_key(b"k", 0), Some(b"a"), 0).unwrap();
        s.put(&window_key(b"k", 60), Some(b"b"), 60).unwrap();
        s.flush_cache().unwrap();
        assert_eq!(cached(&s), 2, "nothing expired at stream time 60");
        s.put(&window_key(b"k", 150), Some(b"c"), 150).unwrap();
        s.flush_cache().unwrap();
        assert_eq!(cached(&s), 2, "the window at 0 expired at stream time 150");
        assert_eq!(s.get(&window_key(b"k", 0)).unwrap(), None);
        assert_eq!(s.get(&window_key(b"k", 60)).unwrap(), Some(b"b".to_vec()));
    }

    /// Once the cache holds every window of a key, reads of the key's windows skip the
    /// store — a write behind the cache's back shows where a read went — until a window of
    /// the key is evicted, with or without exactly-once's held writes.
    #[test]
    fn a_key_whose_windows_are_all_cached_is_read_from_the_cache_alone() {
        use crate::window::{SegmentedWindowStore, WindowKeyValueStore, window_key};
        for exactly_once in [false, true] {
            let windows = WindowKeyValueStore::new(SegmentedWindowStore::in_memory("w", 1000, 100));
            let logged = ChangeLoggingKeyValueStore::new(
                Box::new(windows),
                "t".into(),
                0,
                Box::new(DiscardingChangelog),
            );
            // Room for five windows.
            let mut s = CachingKeyValueStore::new(logged, Some(5 * 80));
            if exactly_once {
                s = s.holding_writes();
            }
            let (from, to) = (window_key(b"k", 0), window_key(b"k", 500));
            let query = KeyWindows {
                key: b"k",
                suffix: 8,
                from: &from,
                to: &to,
                times: (0, 500),
            };
            let starts = |s: &CachingKeyValueStore| -> Vec<i64> {
                windows_of(s, &query)
                    .iter()
                    .map(|(k, _, _)| crate::window_key::split_window_key(k).unwrap().1)
                    .collect()
            };
            s.put(&window_key(b"k", 100), Some(b"1"), 100).unwrap();
            s.put(&window_key(b"k", 700), Some(b"7"), 700).unwrap();
            s.flush_cache().unwrap();
            if exactly_once {
                s.apply_held().unwrap();
            }
            s.cache.as_ref().unwrap().borrow_mut().forget_clean();
            s.put(&window_key(b"k", 200), Some(b"2"), 200).unwrap();
            assert_eq!(starts(&s), [100, 200], "exactly once: {exactly_once}");
            let behind = [(&window_key(b"k", 300)[..], Some(&b"3"[..]), 300)];
            s.store.put_all(&behind).unwrap();
            assert_eq!(
                starts(&s),
                [100, 200],
                "the cache answers alone (exactly once: {exactly_once})"
            );
            s.put(&window_key(b"k", 100), None, 400).unwrap();
            s.flush_cache().unwrap();
            if exactly_once {
                s.apply_held().unwrap();
            }
            assert_eq!(
                starts(&s),
                [200],
                "a drained delete keeps the key's mark (exactly once: {exactly_once})"
            );
            let cached = |s: &CachingKeyValueStore, start| {
                let key = window_key(b"k", start);
                s.cache.as_ref().unwrap().borrow().get(&key).is_some()
            };
            for start in (10..=100).step_by(10) {
                if !cached(&s, 200) {
                    break;
                }
                s.put(&window_key(b"j", start), Some(b"j"), start).unwrap();
            }
            assert!(
                !cached(&s, 200),
                "the least recently used window is evicted"
            );
            assert_eq!(
                starts(&s),
                [200, 300],
                "an evicted window sends reads to the store again \
                 (exactly once: {exactly_once})"
            );
        }
    }

    /// What a step of [`key_windows_match_a_model_through_evictions_and_flushes`] does.
    #[derive(Debug, Clone)]
    enum Step {
        /// Writes (or deletes) the window of record key `RECORD_KEYS[0]` at start `1`.
        Put(usize, i64, Option<u8>),
        /// Flushes the cache (and applies the held writes).
        Flush,
        /// Reads the windows of record key `RECORD_KEYS[0]` starting from `1` to `2`.
        Read(usize, i64, i64),
    }

    /// Record keys of which the others start with the first: in byte order, their windows
    /// lie among the first's.
    const RECORD_KEYS: [&[u8]; 3] = [b"a", b"a0", b"a1"];

    fn step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        prop_oneof![
            4 => (0..3usize, 0..12i64, proptest::option::of(any::<u8>()))
                .prop_map(|(k, s, v)| Step::Put(k, s * 10, v)),
            1 => Just(Step::Flush),
            3 => (0..3usize, -1..12i64, 0..12i64).prop_map(|(k, a, b)| {
                // From the earliest time, as a session read does.
                let from = if a < 0 { i64::MIN } else { a * 10 };
                Step::Read(k, from, b * 10)
            }),
        ]
    }

    proptest::proptest! {
        /// Reads of a key's windows see exactly the latest write of each window, whatever
        /// the cache evicted, flushed or took in from the store before — with a cache that
        /// holds a few windows only, a large one, and under exactly-once.
        #[test]
        fn key_windows_match_a_model_through_evictions_and_flushes(
            steps in proptest::collection::vec(step(), 1..80),
            budget in proptest::sample::select(vec![300usize, 1 << 20]),
            exactly_once in proptest::bool::ANY,
        ) {
            use crate::window::{SegmentedWindowStore, WindowKeyValueStore, window_key};
            let windows = WindowKeyValueStore::new(SegmentedWindowStore::in_memory("w", 10_000, 40));
            let logged = ChangeLoggingKeyValueStore::new(
                Box::new(windows),
                "t".into(),
                0,
                Box::new(DiscardingChangelog),
            );
            let mut s = CachingKeyValueStore::new(logged, Some(budget));
            if exactly_once {
                s = s.holding_writes();
            }
            let mut model: BTreeMap<(usize, i64), u8> = BTreeMap::new();
            for step in steps {
                match step {
                    Step::Put(k, start, value) => {
                        let key = window_key(RECORD_KEYS[k], start);
                        s.put(&key, value.as_ref().map(std::slice::from_ref), start).unwrap();
                        match value {
                            Some(v) => model.insert((k, start), v),
                            None => model.remove(&(k, start)),
                        };
                    }
                    Step::Flush => {
                        s.flush_cache().unwrap();
                        s.apply_held().unwrap();
                    }
                    Step::Read(k, a, b) => {
                        let record_key = RECORD_KEYS[k];
                        let (from, to) = (window_key(record_key, a), window_key(record_key, b));
                        let query = KeyWindows {
                            key: record_key,
                            suffix: 8,
                            from: &from,
                            to: &to,
                            times: (a, b),
                        };
                        let got: Vec<(i64, u8)> = windows_of(&s, &query)
                            .into_iter()
                            .map(|(key, value, _)| {
                                (crate::window_key::split_window_key(&key).unwrap().1, value[0])
                            })
                            .collect();
                        let want: Vec<(i64, u8)> = model
                            .range((k, a)..=(k, b.max(a)))
                            .filter(|((_, start), _)| *start <= b)
                            .map(|((_, start), v)| (*start, *v))
                            .collect();
                        proptest::prop_assert_eq!(got, want);
                    }
                }
            }
        }
    }

    #[test]
    fn cached_writes_reach_the_store_only_on_flush() {
        let mut s = stack(Some(1 << 20));
        s.put(b"k", Some(b"1"), 1).unwrap();
        assert!(s.put(b"k", Some(b"2"), 2).unwrap().is_empty());
        assert_eq!(s.get(b"k").unwrap(), Some(b"2".to_vec()));
        assert_eq!(s.get_with(b"k", |v| v.map(|(_, t)| t)).unwrap(), Some(2));
        assert_eq!(s.read_only_handle().get(b"k").unwrap(), None);
        let flushed = s.flush_cache().unwrap();
        assert_eq!(
            flushed,
            vec![(
                Rc::from(&b"k"[..]),
                CacheEntry {
                    value: Some(b"2".to_vec()),
                    old: None,
                    timestamp: 2,
                    seen: false,
                }
            )]
        );
        assert_eq!(s.read_only_handle().get(b"k").unwrap(), Some(b"2".to_vec()));
    }

    /// A change as the recorder keeps it: key and new value.
    type Seen = (Vec<u8>, Option<Vec<u8>>);

    /// Records what the feed hands it.
    struct Recorder(std::sync::Arc<std::sync::Mutex<Vec<Seen>>>);

    impl crate::ChangeSubscriber for Recorder {
        fn matches(&self, _: &[u8]) -> bool {
            true
        }
        fn deliver(&mut self, c: crate::AppliedChange<'_>) -> crate::Delivery {
            let change = (c.key.to_vec(), c.value.map(<[u8]>::to_vec));
            self.0.lock().unwrap().push(change);
            crate::Delivery::Queued
        }
        fn end(&mut self, _: crate::FeedEnd) {}
    }

    #[test]
    fn the_feed_sees_writes_when_they_reach_the_store() {
        let mut s = stack(Some(1 << 20));
        let seen = std::sync::Arc::default();
        let handle = s.read_only_handle();
        let mut snapshot = Some(Some(b"stale".to_vec()));
        s.feed()
            .subscribe(
                Box::new(Recorder(std::sync::Arc::clone(&seen))),
                &mut || {
                    snapshot = Some(handle.get(b"k").unwrap());
                },
            )
            .unwrap();
        assert_eq!(snapshot, Some(None));
        s.put(b"k", Some(b"1"), 1).unwrap();
        s.put(b"k", Some(b"2"), 2).unwrap();
        assert!(
            seen.lock().unwrap().is_empty(),
            "cached writes are not applied yet"
        );
        s.flush_cache().unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            vec![(b"k".to_vec(), Some(b"2".to_vec()))]
        );

        let mut uncached = stack(None);
        let seen = std::sync::Arc::default();
        uncached
            .feed()
            .subscribe(Box::new(Recorder(std::sync::Arc::clone(&seen))), &mut || ())
            .unwrap();
        uncached.put(b"k", Some(b"1"), 1).unwrap();
        uncached.put(b"k", None, 2).unwrap();
        let expected = vec![(b"k".to_vec(), Some(b"1".to_vec())), (b"k".to_vec(), None)];
        assert_eq!(*seen.lock().unwrap(), expected);
    }

    #[test]
    fn without_a_cache_every_write_goes_through_with_its_old_value() {
        let mut s = stack(None);
        s.put(b"k", Some(b"1"), 1).unwrap();
        let through = s.put(b"k", None, 2).unwrap();
        assert_eq!(
            through,
            vec![(
                Rc::from(&b"k"[..]),
                CacheEntry {
                    value: None,
                    old: Some(b"1".to_vec()),
                    timestamp: 2,
                    seen: false,
                }
            )]
        );
        assert_eq!(s.get(b"k").unwrap(), None);
    }

    #[test]
    fn reads_are_remembered_until_a_restore_changes_the_store() {
        let mut s = stack(Some(1 << 20));
        s.put(b"k", Some(b"1"), 1).unwrap();
        s.flush_cache().unwrap();
        assert!(!s.has_dirty());
        assert_eq!(s.get(b"k").unwrap(), Some(b"1".to_vec()), "a clean copy");
        assert_eq!(s.get(b"absent").unwrap(), None);
        s.logged_mut()
            .restore_batch(&[(b"k", Some(b"2"), 2), (b"absent", Some(b"3"), 3)])
            .unwrap();
        assert_eq!(s.get(b"k").unwrap(), Some(b"2".to_vec()));
        assert_eq!(s.get(b"absent").unwrap(), Some(b"3".to_vec()));
        let through = s.put(b"k", Some(b"4"), 4).unwrap();
        assert!(through.is_empty());
        let flushed = s.flush_cache().unwrap();
        assert_eq!(
            flushed[0].1.old,
            Some(b"2".to_vec()),
            "the old value is the store's"
        );
    }

    #[test]
    fn ranges_merge_cached_writes_over_the_store_in_key_order() {
        let mut s = stack(Some(1 << 20));
        for (key, value, ts) in [(&b"a"[..], &b"1"[..], 1), (b"b", b"2", 2), (b"d", b"4", 4)] {
            s.put(key, Some(value), ts).unwrap();
        }
        s.flush_cache().unwrap();
        s.put(b"b", None, 5).unwrap();
        s.put(b"c", Some(b"3"), 6).unwrap();
        s.put(b"d", Some(b"40"), 7).unwrap();
        let all = s.range(Bound::Unbounded, Bound::Unbounded).unwrap();
        assert_eq!(
            all,
            vec![
                (b"a".to_vec(), b"1".to_vec(), 1),
                (b"c".to_vec(), b"3".to_vec(), 6),
                (b"d".to_vec(), b"40".to_vec(), 7),
            ]
        );
        let bounded = s
            .range(Bound::Excluded(b"a"), Bound::Excluded(b"d"))
            .unwrap();
        assert_eq!(bounded, vec![(b"c".to_vec(), b"3".to_vec(), 6)]);
    }
}
