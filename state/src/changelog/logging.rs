use std::ops::Bound;
use std::sync::Arc;

use crate::StateError;
use crate::changelog::{ChangelogRecord, ChangelogSink};
use crate::kv::{KeyValueStore, KvIter, ReadOnlyKeyValueStore, WriteEntry};

/// A store whose every write is also sent to its changelog, so that the store can be rebuilt
/// anywhere from the changelog topic.
///
/// Writes carry the timestamp of the record that caused them; reads go straight to the inner
/// store. [`ChangeLoggingKeyValueStore::restore_batch`] writes without logging.
pub struct ChangeLoggingKeyValueStore {
    inner: Box<dyn KeyValueStore>,
    topic: String,
    partition: i32,
    sink: Box<dyn ChangelogSink>,
}

impl ChangeLoggingKeyValueStore {
    /// Logs the writes to `inner` to `topic`, partition `partition`, through `sink`.
    pub fn new(
        inner: Box<dyn KeyValueStore>,
        topic: String,
        partition: i32,
        sink: Box<dyn ChangelogSink>,
    ) -> Self {
        Self {
            inner,
            topic,
            partition,
            sink,
        }
    }

    /// The changelog topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The changelog partition.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// The store underneath the logging.
    pub fn inner(&self) -> &dyn KeyValueStore {
        self.inner.as_ref()
    }

    fn log(&mut self, key: &[u8], value: Option<&[u8]>, timestamp: i64) -> Result<(), StateError> {
        self.sink.send(ChangelogRecord {
            topic: &self.topic,
            partition: self.partition,
            key,
            value,
            timestamp,
        })
    }

    /// Stores and logs `value` under `key`.
    ///
    /// # Errors
    /// When the store or the sink fails.
    pub fn put(&mut self, key: &[u8], value: &[u8], timestamp: i64) -> Result<(), StateError> {
        self.inner.put(key, value)?;
        self.log(key, Some(value), timestamp)
    }

    /// Deletes `key` and logs a tombstone.
    ///
    /// # Errors
    /// When the store or the sink fails.
    pub fn delete(&mut self, key: &[u8], timestamp: i64) -> Result<(), StateError> {
        self.inner.delete(key)?;
        self.log(key, None, timestamp)
    }

    /// Writes `entries` as one batch and logs each, all with `timestamp`.
    ///
    /// # Errors
    /// When the store or the sink fails.
    pub fn put_all(
        &mut self,
        entries: &[WriteEntry<'_>],
        timestamps: &[i64],
    ) -> Result<(), StateError> {
        debug_assert_eq!(entries.len(), timestamps.len());
        self.inner.put_all(entries)?;
        for ((key, value), ts) in entries.iter().zip(timestamps) {
            self.log(key, *value, *ts)?;
        }
        Ok(())
    }

    /// Applies changelog records during restoration, without logging them again.
    ///
    /// # Errors
    /// When the store fails to write.
    pub fn restore_batch(&mut self, entries: &[WriteEntry<'_>]) -> Result<(), StateError> {
        self.inner.restore_batch(entries)
    }

    /// Flushes the inner store (see [`KeyValueStore::flush`]).
    ///
    /// # Errors
    /// When the store fails to flush.
    pub fn flush(&mut self) -> Result<(), StateError> {
        self.inner.flush()
    }

    /// Whether the inner store is persistent.
    pub fn persistent(&self) -> bool {
        self.inner.persistent()
    }

    /// A read handle for queries.
    pub fn read_only_handle(&self) -> Arc<dyn ReadOnlyKeyValueStore + Send + Sync> {
        self.inner.read_only_handle()
    }
}

impl ReadOnlyKeyValueStore for ChangeLoggingKeyValueStore {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        self.inner.get(key)
    }

    fn range(&self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Result<KvIter<'_>, StateError> {
        self.inner.range(from, to)
    }

    fn prefix_scan(&self, prefix: &[u8]) -> Result<KvIter<'_>, StateError> {
        self.inner.prefix_scan(prefix)
    }

    fn approximate_num_entries(&self) -> Result<u64, StateError> {
        self.inner.approximate_num_entries()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::InMemoryKeyValueStore;
    use std::sync::{Arc, Mutex};

    /// Topic, partition, key, value, timestamp.
    type Row = (String, i32, Vec<u8>, Option<Vec<u8>>, i64);

    #[derive(Clone, Default)]
    struct Recorded(Arc<Mutex<Vec<Row>>>);

    impl ChangelogSink for Recorded {
        fn send(&mut self, r: ChangelogRecord<'_>) -> Result<(), StateError> {
            let row = (
                r.topic.to_owned(),
                r.partition,
                r.key.to_vec(),
                r.value.map(<[u8]>::to_vec),
                r.timestamp,
            );
            self.0.lock().unwrap().push(row);
            Ok(())
        }
    }

    #[test]
    fn writes_are_logged_and_restores_are_not() {
        let log = Recorded::default();
        let inner = Box::new(InMemoryKeyValueStore::new("s"));
        let mut store = ChangeLoggingKeyValueStore::new(
            inner,
            "app-s-changelog".into(),
            3,
            Box::new(log.clone()),
        );
        store.put(b"a", b"1", 10).unwrap();
        store.delete(b"a", 11).unwrap();
        store
            .put_all(&[(b"b", Some(b"2")), (b"c", None)], &[12, 13])
            .unwrap();
        store.restore_batch(&[(b"z", Some(b"9"))]).unwrap();

        let rows = log.0.lock().unwrap().clone();
        let topic = "app-s-changelog".to_owned();
        assert_eq!(
            rows,
            vec![
                (topic.clone(), 3, b"a".to_vec(), Some(b"1".to_vec()), 10),
                (topic.clone(), 3, b"a".to_vec(), None, 11),
                (topic.clone(), 3, b"b".to_vec(), Some(b"2".to_vec()), 12),
                (topic, 3, b"c".to_vec(), None, 13),
            ]
        );
        assert_eq!(store.get(b"z").unwrap(), Some(b"9".to_vec()));
        assert_eq!(store.get(b"a").unwrap(), None);
    }
}
