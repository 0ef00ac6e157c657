//! Values as stores keep them: the timestamp of the record that last wrote the value, then
//! the value's bytes.
//!
//! Every store a task writes through [`ChangeLoggingKeyValueStore`](crate::ChangeLoggingKeyValueStore)
//! keeps its values in this form, as Kafka Streams' timestamped stores do: eight bytes of
//! big-endian timestamp (ms), then the value. Changelog records carry the plain value with
//! the timestamp as the record's own timestamp, so restoring a store puts back the same
//! bytes. Readers for queries ([`ValueReader`]) see the plain values.
//!
//! Round-trip rule: `split(&stored(t, v)) == Ok((t, v))` for every timestamp and value.

use std::ops::Bound;
use std::sync::Arc;

use crate::StateError;
use crate::kv::{KvIter, ReadOnlyKeyValueStore};

/// Bytes of the timestamp in front of every stored value.
pub const TIMESTAMP_LEN: usize = 8;

/// Appends the stored form of `value` written at `timestamp` to `out`.
pub fn encode_into(timestamp: i64, value: &[u8], out: &mut Vec<u8>) {
    out.reserve(TIMESTAMP_LEN + value.len());
    out.extend_from_slice(&timestamp.to_be_bytes());
    out.extend_from_slice(value);
}

/// The stored form of `value` written at `timestamp`.
pub fn stored(timestamp: i64, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(TIMESTAMP_LEN + value.len());
    encode_into(timestamp, value, &mut out);
    out
}

/// The timestamp and value of stored bytes of store `store`.
///
/// # Errors
/// [`StateError::CorruptValue`] when the bytes are too short to hold a timestamp.
pub fn split<'a>(store: &str, bytes: &'a [u8]) -> Result<(i64, &'a [u8]), StateError> {
    if bytes.len() < TIMESTAMP_LEN {
        return Err(StateError::CorruptValue {
            store: store.to_owned(),
            len: bytes.len(),
        });
    }
    let (time, value) = bytes.split_at(TIMESTAMP_LEN);
    let time: [u8; TIMESTAMP_LEN] = time.try_into().expect("split at the timestamp's length");
    Ok((i64::from_be_bytes(time), value))
}

/// A stored value read back: its timestamp and its bytes, without copying them out of the
/// buffer the store returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimestampedBytes {
    bytes: Vec<u8>,
}

impl TimestampedBytes {
    /// Wraps bytes read from store `store`.
    ///
    /// # Errors
    /// [`StateError::CorruptValue`] when they are too short to hold a timestamp.
    pub fn new(store: &str, bytes: Vec<u8>) -> Result<Self, StateError> {
        split(store, &bytes)?;
        Ok(Self { bytes })
    }

    /// The timestamp of the record that last wrote the value.
    pub fn timestamp(&self) -> i64 {
        let time: [u8; TIMESTAMP_LEN] = self.bytes[..TIMESTAMP_LEN]
            .try_into()
            .expect("checked on construction");
        i64::from_be_bytes(time)
    }

    /// The value's bytes.
    pub fn value(&self) -> &[u8] {
        &self.bytes[TIMESTAMP_LEN..]
    }

    /// The value's bytes, owned: the stored buffer with the timestamp taken off its front
    /// (no allocation).
    pub fn into_value(self) -> Vec<u8> {
        let mut bytes = self.bytes;
        bytes.drain(..TIMESTAMP_LEN);
        bytes
    }
}

/// A read handle over a store of timestamped values that shows the plain values: what
/// interactive queries and the test driver read. [`ValueReader::get_timestamped`] also
/// gives the timestamps.
pub struct ValueReader {
    inner: Arc<dyn ReadOnlyKeyValueStore + Send + Sync>,
}

impl ValueReader {
    /// Reads the timestamped store behind `inner`.
    pub fn new(inner: Arc<dyn ReadOnlyKeyValueStore + Send + Sync>) -> Self {
        Self { inner }
    }

    /// The value under `key` with its timestamp.
    ///
    /// # Errors
    /// When the store fails to read, or holds a value too short for a timestamp.
    pub fn get_timestamped(&self, key: &[u8]) -> Result<Option<TimestampedBytes>, StateError> {
        self.inner
            .get(key)?
            .map(|bytes| TimestampedBytes::new(self.inner.name(), bytes))
            .transpose()
    }

    fn strip(&self, bytes: Vec<u8>) -> Result<Vec<u8>, StateError> {
        Ok(TimestampedBytes::new(self.inner.name(), bytes)?.into_value())
    }

    fn strip_all<'a>(&'a self, entries: KvIter<'a>) -> KvIter<'a> {
        Box::new(entries.map(move |entry| {
            let (key, value) = entry?;
            Ok((key, self.strip(value)?))
        }))
    }
}

impl ReadOnlyKeyValueStore for ValueReader {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        self.inner.get(key)?.map(|v| self.strip(v)).transpose()
    }

    fn range(&self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Result<KvIter<'_>, StateError> {
        Ok(self.strip_all(self.inner.range(from, to)?))
    }

    fn prefix_scan(&self, prefix: &[u8]) -> Result<KvIter<'_>, StateError> {
        Ok(self.strip_all(self.inner.prefix_scan(prefix)?))
    }

    fn snapshot_scan(
        &self,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
        at_snapshot: &mut dyn FnMut(&mut dyn FnMut()) -> bool,
        each: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StateError> {
        let name = self.inner.name();
        let mut corrupt = None;
        self.inner
            .snapshot_scan(
                from,
                to,
                at_snapshot,
                &mut |key, stored| match split(name, stored) {
                    Ok((_, value)) => each(key, value),
                    Err(e) => {
                        corrupt = Some(e);
                        false
                    }
                },
            )?;
        corrupt.map_or(Ok(()), Err)
    }

    fn approximate_num_entries(&self) -> Result<u64, StateError> {
        self.inner.approximate_num_entries()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{InMemoryKeyValueStore, KeyValueStore};

    #[test]
    fn stored_values_round_trip_with_their_timestamps() {
        for (time, value) in [
            (0, &b""[..]),
            (-5, b"x"),
            (i64::MAX, b"value"),
            (i64::MIN, b"\0"),
        ] {
            let bytes = stored(time, value);
            assert_eq!(split("s", &bytes).unwrap(), (time, value));
            let read = TimestampedBytes::new("s", bytes).unwrap();
            assert_eq!((read.timestamp(), read.value()), (time, value));
        }
        assert!(matches!(
            split("s", b"short"),
            Err(StateError::CorruptValue { len: 5, .. })
        ));
    }

    #[test]
    fn the_value_reader_hides_timestamps() {
        let mut store = InMemoryKeyValueStore::new("s");
        store.put(b"a", &stored(7, b"1")).unwrap();
        store.put(b"b", &stored(8, b"2")).unwrap();
        let reader = ValueReader::new(store.read_only_handle());
        assert_eq!(reader.get(b"a").unwrap(), Some(b"1".to_vec()));
        assert_eq!(
            reader.get_timestamped(b"b").unwrap().unwrap().timestamp(),
            8
        );
        let all: Vec<_> = reader.all().unwrap().map(Result::unwrap).collect();
        assert_eq!(
            all,
            vec![
                (b"a".to_vec(), b"1".to_vec()),
                (b"b".to_vec(), b"2".to_vec())
            ]
        );
        store.put(b"c", b"bad").unwrap();
        assert!(
            reader.get(b"c").is_err(),
            "a value without a timestamp is refused"
        );
    }
}
