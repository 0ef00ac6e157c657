//! A window store seen as a key-value store of [`window_key`](super::window_key)s, so that
//! the record cache, change logging, restoration and queries work on it unchanged.

use std::ops::Bound;
use std::sync::Arc;

use crate::StateError;
use crate::kv::{KeyValue, KeyValueStore, KvIter, ReadOnlyKeyValueStore, WriteEntry};
use crate::window::{KeyWindows, SegmentedWindowStore, WindowReader, split_window_key};

/// A [`SegmentedWindowStore`] behind the key-value interface: keys are window keys (record
/// key, then window start). Writes to expired windows are dropped; a key too short to hold
/// a window start is refused.
pub struct WindowKeyValueStore {
    store: SegmentedWindowStore,
}

impl WindowKeyValueStore {
    /// Wraps `store`.
    pub fn new(store: SegmentedWindowStore) -> Self {
        Self { store }
    }

    /// The window store underneath.
    pub fn windows(&self) -> &SegmentedWindowStore {
        &self.store
    }
}

fn split<'k>(key: &'k [u8], store: &str) -> Result<(&'k [u8], i64), StateError> {
    split_window_key(key).ok_or_else(|| StateError::BadWindowKey {
        store: store.to_owned(),
        len: key.len(),
    })
}

impl ReadOnlyKeyValueStore for WindowReader {
    fn name(&self) -> &str {
        WindowReader::name(self)
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        match split_window_key(key) {
            Some((k, start)) => self.fetch(k, start),
            None => Ok(None),
        }
    }

    fn range(&self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Result<KvIter<'_>, StateError> {
        let mut entries: Vec<KeyValue> = self.range_all_segments(from, to)?;
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Box::new(entries.into_iter().map(Ok)))
    }

    fn key_windows(&self, query: &KeyWindows<'_>) -> Result<Vec<KeyValue>, StateError> {
        self.key_windows_in_segments(query)
    }

    fn approximate_num_entries(&self) -> Result<u64, StateError> {
        self.approximate_entries()
    }
}

impl ReadOnlyKeyValueStore for WindowKeyValueStore {
    fn name(&self) -> &str {
        self.store.name()
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        self.store.get(key)
    }

    fn range(&self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Result<KvIter<'_>, StateError> {
        let entries: Vec<_> = self.store.reader().range(from, to)?.collect();
        Ok(Box::new(entries.into_iter()))
    }

    fn key_windows(&self, query: &KeyWindows<'_>) -> Result<Vec<KeyValue>, StateError> {
        self.store.reader().key_windows_in_segments(query)
    }

    fn approximate_num_entries(&self) -> Result<u64, StateError> {
        self.store.reader().approximate_entries()
    }
}

impl KeyValueStore for WindowKeyValueStore {
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StateError> {
        self.put_all(&[(key, Some(value))])
    }

    fn delete(&mut self, key: &[u8]) -> Result<(), StateError> {
        self.put_all(&[(key, None)])
    }

    fn put_all(&mut self, entries: &[WriteEntry<'_>]) -> Result<(), StateError> {
        for (key, _) in entries {
            split(key, self.store.name())?;
        }
        self.store.put_all(entries).map(|_| ())
    }

    fn restore_batch(&mut self, entries: &[WriteEntry<'_>]) -> Result<(), StateError> {
        self.store.restore_batch(entries)
    }

    fn flush(&mut self) -> Result<(), StateError> {
        self.store.flush()
    }

    fn persistent(&self) -> bool {
        self.store.persistent()
    }

    fn read_only_handle(&self) -> Arc<dyn ReadOnlyKeyValueStore + Send + Sync> {
        Arc::new(self.store.reader())
    }

    fn observed_time(&self) -> Option<i64> {
        self.store.observed_time()
    }

    fn expired_before(&self) -> Option<i64> {
        self.store.expired_before()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::window_key;

    #[test]
    fn window_keys_read_and_write_through_the_key_value_interface() {
        let dir = tempfile::tempdir().unwrap();
        let budget = crate::MemoryBudget::new(8 << 20);
        let rocksdb = SegmentedWindowStore::rocksdb("w", dir.path(), &budget, 100, 10).unwrap();
        for store in [SegmentedWindowStore::in_memory("w", 100, 10), rocksdb] {
            read_and_write_through_the_key_value_interface(store);
        }
    }

    fn read_and_write_through_the_key_value_interface(store: SegmentedWindowStore) {
        let mut store = WindowKeyValueStore::new(store);
        let (a5, a25, b5) = (
            window_key(b"a", 5),
            window_key(b"a", 25),
            window_key(b"b", 5),
        );
        store
            .put_all(&[(&b5, Some(b"3")), (&a25, Some(b"2")), (&a5, Some(b"1"))])
            .unwrap();
        assert_eq!(store.get(&a25).unwrap(), Some(b"2".to_vec()));
        let keys: Vec<Vec<u8>> = store.all().unwrap().map(|e| e.unwrap().0).collect();
        assert_eq!(
            keys,
            vec![a5.clone(), a25.clone(), b5],
            "key order across segments"
        );
        let a: Vec<Vec<u8>> = store
            .prefix_scan(b"a")
            .unwrap()
            .map(|e| e.unwrap().0)
            .collect();
        assert_eq!(a, vec![a5, a25]);
        assert!(store.put(b"short", b"x").is_err(), "not a window key");
        assert_eq!(
            store.read_only_handle().approximate_num_entries().unwrap(),
            3
        );
    }

    /// One key's windows: longer keys that start with it and windows outside the times
    /// are left out, and session keys (segmented by their end) come back in key order.
    #[test]
    fn key_windows_keep_only_the_key_and_its_times() {
        let dir = tempfile::tempdir().unwrap();
        let budget = crate::MemoryBudget::new(8 << 20);
        let open = |name: &str| {
            let rocksdb =
                SegmentedWindowStore::rocksdb(name, &dir.path().join(name), &budget, 1000, 10);
            [
                SegmentedWindowStore::in_memory(name, 1000, 10),
                rocksdb.unwrap(),
            ]
        };
        for (store, sessions) in open("w").into_iter().zip(open("s")) {
            key_windows_of_each_store(store, sessions);
        }
    }

    fn key_windows_of_each_store(store: SegmentedWindowStore, sessions: SegmentedWindowStore) {
        let mut store = WindowKeyValueStore::new(store);
        let keys = [
            window_key(b"a", 5),
            window_key(b"a", 25),
            window_key(b"a", 65),
            window_key(b"a\x00\x00", 30),
            window_key(b"b", 25),
        ];
        let writes: Vec<WriteEntry<'_>> = keys.iter().map(|k| (&k[..], Some(&b"v"[..]))).collect();
        store.put_all(&writes).unwrap();
        let (from, to) = (window_key(b"a", 0), window_key(b"a", 100));
        let query = KeyWindows {
            key: b"a",
            suffix: 8,
            from: &from,
            to: &to,
            times: (20, 100),
        };
        let keys_found = |store: &dyn ReadOnlyKeyValueStore, query: &KeyWindows<'_>| {
            let found = store.key_windows(query).unwrap();
            found.into_iter().map(|(k, _)| k).collect::<Vec<_>>()
        };
        let found = keys_found(&store, &query);
        assert_eq!(found, [keys[1].clone(), keys[2].clone()]);
        // A plain key-value store holding the same keys finds the same, by the default.
        let mut plain = crate::InMemoryKeyValueStore::new("m");
        plain.put_all(&writes).unwrap();
        assert_eq!(keys_found(&plain, &query), found);

        // Sessions: key, start, end; the segment time is the end.
        let mut sessions = WindowKeyValueStore::new(sessions);
        let session = |start: i64, end: i64| window_key(&window_key(b"a", start), end);
        let (early_long, late_short) = (session(0, 50), session(40, 45));
        sessions
            .put_all(&[(&early_long, Some(b"1")), (&late_short, Some(b"2"))])
            .unwrap();
        let (from, to) = (session(i64::MIN, i64::MIN), session(100, i64::MAX));
        let query = KeyWindows {
            key: b"a",
            suffix: 16,
            from: &from,
            to: &to,
            times: (0, i64::MAX),
        };
        assert_eq!(
            keys_found(&sessions, &query),
            [early_long, late_short],
            "in key order, not by end"
        );
    }
}
