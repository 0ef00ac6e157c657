use std::ops::Bound;
use std::sync::Arc;

use crate::StateError;
use crate::changelog::{ChangelogRecord, ChangelogSink};
use crate::kv::{KeyValueStore, WriteEntry};
use crate::timestamped::{self, TimestampedBytes, ValueReader};
use crate::window_key::KeyWindows;

/// One timestamped write: key, value (`None` deletes) and the timestamp it is stored with.
pub type TimestampedWrite<'a> = (&'a [u8], Option<&'a [u8]>, i64);

/// Entries of a timestamped store in key order, as key and [`TimestampedBytes`].
pub type TimestampedIter<'a> =
    Box<dyn Iterator<Item = Result<(Vec<u8>, TimestampedBytes), StateError>> + 'a>;

/// A store of timestamped values whose every write is also sent to its changelog, so that
/// the store can be rebuilt anywhere from the changelog topic.
///
/// Values are kept with their timestamps (see [`timestamped`](crate::timestamped)); the
/// changelog carries the plain value with the timestamp as the record's own, and
/// [`ChangeLoggingKeyValueStore::restore_batch`] puts both back without logging.
pub struct ChangeLoggingKeyValueStore {
    inner: Box<dyn KeyValueStore>,
    topic: String,
    partition: i32,
    sink: Box<dyn ChangelogSink>,
    /// The stored forms of a batch's values, end to end.
    scratch: Vec<u8>,
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
            scratch: Vec::new(),
        }
    }

    /// The store's name.
    pub fn name(&self) -> &str {
        self.inner.name()
    }

    /// The changelog topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The changelog partition.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// The value under `key`, with its timestamp.
    ///
    /// # Errors
    /// When the store fails to read or holds a corrupt value.
    pub fn get(&self, key: &[u8]) -> Result<Option<TimestampedBytes>, StateError> {
        self.inner
            .get(key)?
            .map(|bytes| TimestampedBytes::new(self.inner.name(), bytes))
            .transpose()
    }

    /// Entries with keys within `from` and `to`, in key order, with their timestamps.
    ///
    /// # Errors
    /// When the store fails to open an iterator.
    pub fn range(
        &self,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
    ) -> Result<TimestampedIter<'_>, StateError> {
        let name = self.inner.name();
        Ok(Box::new(self.inner.range(from, to)?.map(move |entry| {
            let (key, bytes) = entry?;
            Ok((key, TimestampedBytes::new(name, bytes)?))
        })))
    }

    /// One record key's windows (see [`KeyWindows`]), in key order, with their timestamps.
    ///
    /// # Errors
    /// When the store fails to read, or a stored value is too short to hold a timestamp.
    pub fn key_windows(
        &self,
        query: &KeyWindows<'_>,
    ) -> Result<Vec<(Vec<u8>, TimestampedBytes)>, StateError> {
        let name = self.inner.name();
        self.inner
            .key_windows(query)?
            .into_iter()
            .map(|(key, bytes)| Ok((key, TimestampedBytes::new(name, bytes)?)))
            .collect()
    }

    /// An estimate of the number of entries.
    ///
    /// # Errors
    /// When the store cannot report it.
    pub fn approximate_num_entries(&self) -> Result<u64, StateError> {
        self.inner.approximate_num_entries()
    }

    /// Writes `entries` in the stored form as one batch of the inner store.
    fn write_stored(
        &mut self,
        entries: &[TimestampedWrite<'_>],
        restore: bool,
    ) -> Result<(), StateError> {
        self.scratch.clear();
        let mut ends = Vec::with_capacity(entries.len());
        for (_, value, timestamp) in entries {
            if let Some(value) = value {
                timestamped::encode_into(*timestamp, value, &mut self.scratch);
            }
            ends.push(self.scratch.len());
        }
        let mut start = 0;
        let batch: Vec<WriteEntry<'_>> = entries
            .iter()
            .zip(ends)
            .map(|((key, value, _), end)| {
                let stored = value.map(|_| &self.scratch[start..end]);
                start = end;
                (*key, stored)
            })
            .collect();
        if restore {
            self.inner.restore_batch(&batch)
        } else {
            self.inner.put_all(&batch)
        }
    }

    /// Writes `entries` as one batch and logs each with its timestamp.
    ///
    /// # Errors
    /// When the store or the sink fails.
    pub fn put_all(&mut self, entries: &[TimestampedWrite<'_>]) -> Result<(), StateError> {
        self.write_stored(entries, false)?;
        self.log(entries)
    }

    /// Writes `entries` as one batch without logging them (they were logged before, see
    /// [`ChangeLoggingKeyValueStore::log`]).
    ///
    /// # Errors
    /// When the store fails to write.
    pub fn write_logged(&mut self, entries: &[TimestampedWrite<'_>]) -> Result<(), StateError> {
        self.write_stored(entries, false)
    }

    /// Logs `entries` without writing them to the store yet: under exactly-once they reach
    /// the store only once the transaction holding their changelog records has committed.
    ///
    /// # Errors
    /// When the sink fails.
    pub fn log(&mut self, entries: &[TimestampedWrite<'_>]) -> Result<(), StateError> {
        for (key, value, timestamp) in entries {
            self.sink.send(ChangelogRecord {
                store: self.inner.name(),
                topic: &self.topic,
                partition: self.partition,
                key,
                value: *value,
                timestamp: *timestamp,
            })?;
        }
        Ok(())
    }

    /// Applies changelog records during restoration, without logging them again.
    ///
    /// # Errors
    /// When the store fails to write.
    pub fn restore_batch(&mut self, entries: &[TimestampedWrite<'_>]) -> Result<(), StateError> {
        self.write_stored(entries, true)
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

    /// The inner window store's stream time (see [`KeyValueStore::observed_time`]).
    pub fn observed_time(&self) -> Option<i64> {
        self.inner.observed_time()
    }

    /// The time before which the inner window store's windows have expired (see
    /// [`KeyValueStore::expired_before`]).
    pub fn expired_before(&self) -> Option<i64> {
        self.inner.expired_before()
    }

    /// A read handle for queries: plain values, timestamps on request
    /// ([`ValueReader::get_timestamped`]).
    pub fn read_only_handle(&self) -> Arc<ValueReader> {
        Arc::new(ValueReader::new(self.inner.read_only_handle()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{InMemoryKeyValueStore, ReadOnlyKeyValueStore};
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
    fn writes_are_logged_with_their_timestamps_and_restores_are_not() {
        let log = Recorded::default();
        let inner = Box::new(InMemoryKeyValueStore::new("s"));
        let mut store = ChangeLoggingKeyValueStore::new(
            inner,
            "app-s-changelog".into(),
            3,
            Box::new(log.clone()),
        );
        store.put_all(&[(b"a", Some(b"1"), 10)]).unwrap();
        store.put_all(&[(b"a", None, 11)]).unwrap();
        store
            .put_all(&[(b"b", Some(b"2"), 12), (b"c", None, 13)])
            .unwrap();
        store.restore_batch(&[(b"z", Some(b"9"), 5)]).unwrap();

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
        let z = store.get(b"z").unwrap().unwrap();
        assert_eq!((z.timestamp(), z.value()), (5, &b"9"[..]));
        assert_eq!(store.get(b"a").unwrap(), None);
        let b = store.get(b"b").unwrap().unwrap();
        assert_eq!(b.timestamp(), 12);
        assert_eq!(
            store.read_only_handle().get(b"b").unwrap(),
            Some(b"2".to_vec()),
            "readers see plain values"
        );
    }
}
