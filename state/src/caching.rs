//! The store stack a task writes through: record cache → change logging → store.

use std::sync::Arc;

use crate::StateError;
use crate::cache::{CacheEntry, RecordCache};
use crate::changelog::ChangeLoggingKeyValueStore;
use crate::feed::{AppliedChange, ChangeFeed};
use crate::kv::{ReadOnlyKeyValueStore, WriteEntry};

/// An entry that left the cache (or bypassed it) and is now in the store and the changelog:
/// its key, the latest value, and the value before. Table operators forward these
/// downstream as updates.
pub type FlushedEntry = (Vec<u8>, CacheEntry);

/// A logged key-value store with an optional record cache in front.
///
/// With the cache, writes stay in memory until [`CachingKeyValueStore::flush_cache`] (on
/// commit) or until the cache is over its budget; only the latest value of each key is
/// then written, logged and returned for forwarding. Without it, every write goes through at
/// once and is returned as flushed.
///
/// Every write that reaches the store is also handed to the store's [`ChangeFeed`], so
/// subscribers see exactly what readers of [`CachingKeyValueStore::read_only_handle`] see.
pub struct CachingKeyValueStore {
    store: ChangeLoggingKeyValueStore,
    cache: Option<RecordCache>,
    scratch: Vec<i64>,
    feed: Arc<ChangeFeed>,
}

impl CachingKeyValueStore {
    /// `store`, with a cache of `cache_bytes` in front, or none.
    pub fn new(store: ChangeLoggingKeyValueStore, cache_bytes: Option<usize>) -> Self {
        Self {
            store,
            cache: cache_bytes.map(RecordCache::new),
            scratch: Vec::new(),
            feed: Arc::default(),
        }
    }

    /// The store's name.
    pub fn name(&self) -> &str {
        self.store.name()
    }

    /// The logged store underneath the cache.
    pub fn logged(&self) -> &ChangeLoggingKeyValueStore {
        &self.store
    }

    /// The logged store underneath the cache, for restoration.
    pub fn logged_mut(&mut self) -> &mut ChangeLoggingKeyValueStore {
        &mut self.store
    }

    /// The dirty entries not yet written to the store, in no particular order.
    pub fn dirty(&self) -> impl Iterator<Item = (&Vec<u8>, &CacheEntry)> {
        self.cache.iter().flat_map(RecordCache::iter)
    }

    /// The latest value of `key`: a dirty cache entry if there is one, else the store's.
    ///
    /// # Errors
    /// When the store fails to read.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        self.get_with(key, |value| value.map(<[u8]>::to_vec))
    }

    /// Passes the latest value of `key` to `read` without copying it out of the cache.
    ///
    /// # Errors
    /// When the store fails to read.
    pub fn get_with<R>(
        &self,
        key: &[u8],
        read: impl FnOnce(Option<&[u8]>) -> R,
    ) -> Result<R, StateError> {
        if let Some(entry) = self.cache.as_ref().and_then(|c| c.get(key)) {
            return Ok(read(entry.value.as_deref()));
        }
        Ok(read(self.store.get(key)?.as_deref()))
    }

    /// Writes `value` (`None` deletes) under `key`; returns the entries this wrote through to
    /// the store (none while the cache absorbs the write).
    ///
    /// # Errors
    /// When the store or the changelog fails.
    pub fn put(
        &mut self,
        key: &[u8],
        value: Option<&[u8]>,
        timestamp: i64,
    ) -> Result<Vec<FlushedEntry>, StateError> {
        let Some(cache) = self.cache.as_mut() else {
            let old = self.store.get(key)?;
            let change = AppliedChange {
                key,
                value,
                timestamp,
            };
            let store = &mut self.store;
            self.feed.apply([change], || match value {
                Some(v) => store.put(key, v, timestamp),
                None => store.delete(key, timestamp),
            })?;
            let entry = CacheEntry {
                value: value.map(<[u8]>::to_vec),
                old,
                timestamp,
            };
            return Ok(vec![(key.to_vec(), entry)]);
        };
        let store = &self.store;
        if cache.put(key, value, timestamp, || store.get(key))? {
            let evicted = cache.evict();
            self.write(&evicted)?;
            return Ok(evicted);
        }
        Ok(Vec::new())
    }

    /// Writes every dirty entry to the store in one batch, and returns them.
    ///
    /// # Errors
    /// When the store or the changelog fails.
    pub fn flush_cache(&mut self) -> Result<Vec<FlushedEntry>, StateError> {
        let Some(cache) = self.cache.as_mut() else {
            return Ok(Vec::new());
        };
        let drained = cache.drain();
        self.write(&drained)?;
        Ok(drained)
    }

    fn write(&mut self, entries: &[FlushedEntry]) -> Result<(), StateError> {
        if entries.is_empty() {
            return Ok(());
        }
        let batch: Vec<WriteEntry<'_>> = entries
            .iter()
            .map(|(k, e)| (k.as_slice(), e.value.as_deref()))
            .collect();
        self.scratch.clear();
        self.scratch
            .extend(entries.iter().map(|(_, e)| e.timestamp));
        let changes = entries.iter().map(|(key, e)| AppliedChange {
            key,
            value: e.value.as_deref(),
            timestamp: e.timestamp,
        });
        let (store, timestamps) = (&mut self.store, &self.scratch);
        self.feed
            .apply(changes, || store.put_all(&batch, timestamps))
    }

    /// Flushes the store to local disk (after [`CachingKeyValueStore::flush_cache`]).
    ///
    /// # Errors
    /// When the store fails to flush.
    pub fn flush(&mut self) -> Result<(), StateError> {
        self.store.flush()
    }

    /// Whether the cache holds dirty entries.
    pub fn has_dirty(&self) -> bool {
        self.cache.as_ref().is_some_and(|c| !c.is_empty())
    }

    /// A read handle for queries (sees what has been written through the cache).
    pub fn read_only_handle(&self) -> Arc<dyn ReadOnlyKeyValueStore + Send + Sync> {
        self.store.read_only_handle()
    }

    /// The feed of the writes that reach the store (what the read handle sees change).
    pub fn feed(&self) -> Arc<ChangeFeed> {
        self.feed.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DiscardingChangelog, InMemoryKeyValueStore};

    fn stack(cache: Option<usize>) -> CachingKeyValueStore {
        let inner = Box::new(InMemoryKeyValueStore::new("s"));
        CachingKeyValueStore::new(
            ChangeLoggingKeyValueStore::new(inner, "t".into(), 0, Box::new(DiscardingChangelog)),
            cache,
        )
    }

    #[test]
    fn cached_writes_reach_the_store_only_on_flush() {
        let mut s = stack(Some(1 << 20));
        s.put(b"k", Some(b"1"), 1).unwrap();
        assert!(s.put(b"k", Some(b"2"), 2).unwrap().is_empty());
        assert_eq!(s.get(b"k").unwrap(), Some(b"2".to_vec()));
        assert_eq!(s.read_only_handle().get(b"k").unwrap(), None);
        let flushed = s.flush_cache().unwrap();
        assert_eq!(
            flushed,
            vec![(
                b"k".to_vec(),
                CacheEntry {
                    value: Some(b"2".to_vec()),
                    old: None,
                    timestamp: 2
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
        let snapshot = s
            .feed()
            .subscribe(
                || handle.get(b"k").unwrap(),
                Box::new(Recorder(std::sync::Arc::clone(&seen))),
            )
            .unwrap();
        assert_eq!(snapshot, None);
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
            .subscribe(|| (), Box::new(Recorder(std::sync::Arc::clone(&seen))))
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
                b"k".to_vec(),
                CacheEntry {
                    value: None,
                    old: Some(b"1".to_vec()),
                    timestamp: 2
                }
            )]
        );
        assert_eq!(s.get(b"k").unwrap(), None);
    }
}
