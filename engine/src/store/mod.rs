//! Typed access to a task's state stores, and the declarations stores are built from.

mod builder;

use std::any::Any;
use std::cell::{Cell, RefCell, RefMut};
use std::ops::Bound;
use std::rc::Rc;
use std::sync::Arc;

use tributary_state::window::{KeyWindows, split_window_key};
use tributary_state::{CachingKeyValueStore, FlushedEntry, ReadOnlyKeyValueStore};

pub use builder::StoreBuilder;

use crate::error::{RecordPart, StreamsError};
use crate::record::Change;
use crate::serde::{Format, SerdeError, SerdeRef, decode, encode};

/// A read handle on a store partition that other threads (interactive queries, the test
/// driver) read through while its task writes.
pub type StoreReader = Arc<dyn ReadOnlyKeyValueStore + Send + Sync>;

/// Where a store keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreBackend {
    /// RocksDB under `state.dir` (the default).
    RocksDb,
    /// A `BTreeMap` in memory, rebuilt from the changelog after a restart.
    InMemory,
}

/// Turns key bytes in a store's key format into the canonical bytes the store holds: decoded
/// with the store's key serde and encoded again (so JSON keys are normalized, and bytes that
/// do not decode are refused).
pub(crate) type KeyCanonicalizer = Arc<dyn Fn(&[u8]) -> Result<Vec<u8>, SerdeError> + Send + Sync>;

/// Decodes key bytes with `serde` and encodes them again.
fn canonicalizer<K: 'static>(serde: SerdeRef<K>) -> KeyCanonicalizer {
    Arc::new(move |bytes: &[u8]| {
        let key = serde.deserialize(bytes)?;
        let mut out = Vec::with_capacity(bytes.len());
        serde.serialize(&key, &mut out)?;
        Ok(out)
    })
}

/// A store's declaration, shared by every task that instantiates it.
#[derive(Clone)]
pub struct StoreSpec {
    pub(crate) name: String,
    pub(crate) backend: StoreBackend,
    pub(crate) logging: bool,
    pub(crate) caching: bool,
    /// `(SerdeRef<K>, SerdeRef<V>)` of the declared types.
    pub(crate) serdes: Arc<dyn Any + Send + Sync>,
    pub(crate) key_type: &'static str,
    pub(crate) value_type: &'static str,
    pub(crate) key_format: Format,
    pub(crate) value_format: Format,
    pub(crate) canonical_key: KeyCanonicalizer,
    /// For a window store: how long windows are kept and how the store is segmented.
    pub(crate) window: Option<WindowRetention>,
    /// Whether the window store holds sessions (keys carry a start and an end).
    pub(crate) sessions: bool,
}

/// How a window store keeps its windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowRetention {
    /// How long after stream time passes a window's start the window is kept.
    pub retention_ms: i64,
    /// The span of window start times each segment holds.
    pub segment_interval_ms: i64,
}

impl WindowRetention {
    /// Retention `retention_ms`, segments of half of it (at least a minute), as Kafka
    /// Streams segments window stores.
    pub fn new(retention_ms: i64) -> Self {
        Self {
            retention_ms,
            segment_interval_ms: (retention_ms / 2).max(60_000),
        }
    }
}

impl StoreSpec {
    pub(crate) fn new<K: 'static, V: 'static>(
        name: String,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
        backend: StoreBackend,
        logging: bool,
        caching: bool,
    ) -> Self {
        Self {
            name,
            backend,
            logging,
            caching,
            key_format: key_serde.format(),
            value_format: value_serde.format(),
            canonical_key: canonicalizer(key_serde.clone()),
            window: None,
            sessions: false,
            serdes: Arc::new((key_serde, value_serde)),
            key_type: std::any::type_name::<K>(),
            value_type: std::any::type_name::<V>(),
        }
    }

    /// The store's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where it keeps its data.
    pub fn backend(&self) -> StoreBackend {
        self.backend
    }

    /// Whether its changes are logged to a changelog topic.
    pub fn logging(&self) -> bool {
        self.logging
    }

    /// Whether a record cache sits in front of it.
    pub fn caching(&self) -> bool {
        self.caching
    }

    /// What the keys are.
    pub fn key_format(&self) -> Format {
        self.key_format
    }

    /// What the values are.
    pub fn value_format(&self) -> Format {
        self.value_format
    }

    /// For a window store, its retention; `None` for a key-value store.
    pub fn window(&self) -> Option<WindowRetention> {
        self.window
    }

    /// Whether this is a session store: a window store whose keys carry each session's
    /// start and end.
    pub fn holds_sessions(&self) -> bool {
        self.sessions
    }

    /// This declaration as a session store's (after [`StoreSpec::windowed`]).
    pub(crate) fn of_sessions(mut self) -> Self {
        self.sessions = true;
        self
    }

    /// This declaration as a window store's, keeping windows as `retention` says. Its
    /// keys are window keys of `inner` keys: the key format and the canonical keys that
    /// queries use are the inner ones.
    pub(crate) fn windowed<K: 'static>(
        mut self,
        retention: WindowRetention,
        inner: SerdeRef<K>,
    ) -> Self {
        self.window = Some(retention);
        self.key_format = inner.format();
        self.canonical_key = canonicalizer(inner);
        self
    }
}

/// A store instantiated in a task.
#[derive(Clone)]
pub(crate) struct StoreEntry {
    pub(crate) store: Rc<RefCell<CachingKeyValueStore>>,
    pub(crate) spec: StoreSpec,
}

/// A typed handle on a key-value store of the running task. Reads see the task's own
/// cached writes. Handles are cheap to clone; they are only valid inside the task.
pub struct KeyValueStore<K, V> {
    store: Rc<RefCell<CachingKeyValueStore>>,
    name: Rc<str>,
    key_serde: SerdeRef<K>,
    value_serde: SerdeRef<V>,
    clock: Rc<Cell<i64>>,
    key_buf: RefCell<Vec<u8>>,
    value_buf: Vec<u8>,
}

impl<K: 'static, V: 'static> KeyValueStore<K, V> {
    pub(crate) fn from_entry(
        entry: &StoreEntry,
        clock: &Rc<Cell<i64>>,
    ) -> Result<Self, StreamsError> {
        let (key_serde, value_serde) = typed_serdes::<K, V>(&entry.spec)?;
        Ok(Self {
            store: entry.store.clone(),
            name: entry.spec.name.as_str().into(),
            key_serde,
            value_serde,
            clock: clock.clone(),
            key_buf: RefCell::new(Vec::new()),
            value_buf: Vec::new(),
        })
    }
}

/// The declared serdes of `spec`, if they are of `K` and `V`.
pub(crate) fn typed_serdes<K: 'static, V: 'static>(
    spec: &StoreSpec,
) -> Result<(SerdeRef<K>, SerdeRef<V>), StreamsError> {
    spec.serdes
        .downcast_ref::<(SerdeRef<K>, SerdeRef<V>)>()
        .cloned()
        .ok_or_else(|| StreamsError::StoreType {
            store: spec.name.clone(),
            declared: format!("{} → {}", spec.key_type, spec.value_type),
            requested: format!(
                "{} → {}",
                std::any::type_name::<K>(),
                std::any::type_name::<V>()
            ),
        })
}

/// One window of a window store as [`KeyValueStore::key_windows`] finds it: the times its
/// window key holds after the record key, and its value.
pub(crate) type WindowEntry<V> = (WindowTimes, ValueAndTimestamp<V>);

/// The times a window key holds after its record key: a time window's start; a session's
/// start and end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WindowTimes {
    /// The window's start.
    pub(crate) start: i64,
    /// A session's end (`None` for a time window, whose key holds its start alone).
    pub(crate) end: Option<i64>,
}

impl WindowTimes {
    /// The times of `window_key`, whose last `suffix` bytes follow the record key: 8 (the
    /// start) or 16 (start, then end); `None` when the key is too short.
    fn of(window_key: &[u8], suffix: usize) -> Option<Self> {
        let (rest, last) = split_window_key(window_key)?;
        if suffix == 16 {
            let (_, start) = split_window_key(rest)?;
            Some(Self {
                start,
                end: Some(last),
            })
        } else {
            Some(Self {
                start: last,
                end: None,
            })
        }
    }
}

/// A value read from a store with the timestamp it was written with (Kafka Streams'
/// `ValueAndTimestamp`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueAndTimestamp<V> {
    /// The value.
    pub value: V,
    /// The timestamp stored with it (ms).
    pub timestamp: i64,
}

impl<K, V> KeyValueStore<K, V> {
    fn ser_error(&self, part: RecordPart) -> impl FnOnce(SerdeError) -> StreamsError + '_ {
        move |source| StreamsError::Serialization {
            target: format!("store `{}`", self.name),
            part,
            source,
        }
    }

    fn de_error(&self, part: RecordPart) -> impl FnOnce(SerdeError) -> StreamsError + '_ {
        move |source| StreamsError::Serialization {
            target: format!("store `{}` (reading)", self.name),
            part,
            source,
        }
    }

    /// The store's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether `key` is a null key (a `None` of an `Option` key serde): operators that
    /// need a key skip such records, as Kafka Streams does.
    pub(crate) fn is_null_key(&self, key: &K) -> bool {
        self.key_serde.is_null(key)
    }

    /// For a window store, the latest window start written to it (its stream time).
    pub(crate) fn observed_time(&self) -> Option<i64> {
        self.store.borrow().observed_time()
    }

    /// Whether writes are absorbed by a record cache now (one is there and not bypassed).
    pub(crate) fn is_caching(&self) -> bool {
        self.store.borrow().is_caching()
    }

    /// The value under `key`.
    ///
    /// # Errors
    /// When the store fails or the stored bytes do not decode.
    pub fn get(&self, key: &K) -> Result<Option<V>, StreamsError> {
        Ok(self.get_timestamped(key)?.map(|v| v.value))
    }

    /// The value under `key` with the timestamp it was written with.
    ///
    /// # Errors
    /// When the store fails or the stored bytes do not decode.
    pub fn get_timestamped(&self, key: &K) -> Result<Option<ValueAndTimestamp<V>>, StreamsError> {
        self.read_timestamped(key, false)
    }

    /// As [`KeyValueStore::get_timestamped`], for a join looking the table up: a value
    /// still in the record cache is marked seen, so that a delete replacing it before the
    /// next flush goes downstream even if the store never held the key.
    pub(crate) fn lookup_timestamped(
        &self,
        key: &K,
    ) -> Result<Option<ValueAndTimestamp<V>>, StreamsError> {
        self.read_timestamped(key, true)
    }

    fn read_timestamped(
        &self,
        key: &K,
        lookup: bool,
    ) -> Result<Option<ValueAndTimestamp<V>>, StreamsError> {
        let mut key_buf = self.key_buf.borrow_mut();
        encode(&*self.key_serde, key, &mut key_buf).map_err(self.ser_error(RecordPart::Key))?;
        let decode = |stored: Option<(&[u8], i64)>| {
            stored.map(|(bytes, timestamp)| {
                self.value_serde
                    .deserialize(bytes)
                    .map(|value| ValueAndTimestamp { value, timestamp })
                    .map_err(self.de_error(RecordPart::Value))
            })
        };
        let store = self.store.borrow();
        let decoded = match lookup {
            true => store.lookup_with(&key_buf, decode)?,
            false => store.get_with(&key_buf, decode)?,
        };
        decoded.transpose()
    }

    /// Stores `value` under `key`, with the current record's timestamp.
    ///
    /// # Errors
    /// When the store or its changelog fails, or a serde fails.
    pub fn put(&mut self, key: &K, value: &V) -> Result<(), StreamsError> {
        let timestamp = self.clock.get();
        self.write(key, Some(value), timestamp).map(drop)
    }

    /// Stores `value` under `key` with `timestamp` (Kafka Streams' timestamped stores).
    ///
    /// # Errors
    /// When the store or its changelog fails, or a serde fails.
    pub fn put_with_timestamp(
        &mut self,
        key: &K,
        value: &V,
        timestamp: i64,
    ) -> Result<(), StreamsError> {
        self.write(key, Some(value), timestamp).map(drop)
    }

    /// Deletes `key` (logged with the current record's timestamp).
    ///
    /// # Errors
    /// When the store or its changelog fails.
    pub fn delete(&mut self, key: &K) -> Result<(), StreamsError> {
        let timestamp = self.clock.get();
        self.write(key, None, timestamp).map(drop)
    }

    /// Writes through the cache with `timestamp`; returns what the write flushed to the
    /// store.
    pub(crate) fn write(
        &mut self,
        key: &K,
        value: Option<&V>,
        timestamp: i64,
    ) -> Result<Vec<FlushedEntry>, StreamsError> {
        let mut key_buf = self.key_buf.borrow_mut();
        encode(&*self.key_serde, key, &mut key_buf).map_err(self.ser_error(RecordPart::Key))?;
        let value_bytes = match value {
            Some(v) => {
                self.value_buf.clear();
                self.value_serde
                    .serialize(v, &mut self.value_buf)
                    .map_err(|source| StreamsError::Serialization {
                        target: format!("store `{}`", self.name),
                        part: RecordPart::Value,
                        source,
                    })?;
                Some(self.value_buf.as_slice())
            }
            None => None,
        };
        Ok(self
            .store
            .borrow_mut()
            .put(&key_buf, value_bytes, timestamp)?)
    }

    /// Writes every cached entry to the store; returns them.
    pub(crate) fn flush_cache(&self) -> Result<Vec<FlushedEntry>, StreamsError> {
        Ok(self.store.borrow_mut().flush_cache()?)
    }

    /// Decodes a flushed entry into the key, the update and its timestamp.
    pub(crate) fn decode_flushed(
        &self,
        (key, entry): &FlushedEntry,
    ) -> Result<(K, Change<V>, i64), StreamsError> {
        let key = self
            .key_serde
            .deserialize(key)
            .map_err(self.de_error(RecordPart::Key))?;
        let value = |bytes: &Option<Vec<u8>>| {
            bytes
                .as_deref()
                .map(|b| {
                    self.value_serde
                        .deserialize(b)
                        .map_err(self.de_error(RecordPart::Value))
                })
                .transpose()
        };
        Ok((
            key,
            Change {
                new: value(&entry.value)?,
                old: value(&entry.old)?,
            },
            entry.timestamp,
        ))
    }

    /// Entries with keys from `from` to `to` (both inclusive, in serialized key order),
    /// including the task's cached writes.
    ///
    /// # Errors
    /// When the store fails or bytes do not decode.
    pub fn range(&self, from: &K, to: &K) -> Result<Vec<(K, V)>, StreamsError> {
        Ok(self
            .range_timestamped(from, to)?
            .into_iter()
            .map(|(k, v)| (k, v.value))
            .collect())
    }

    /// [`KeyValueStore::range`] with each value's timestamp.
    ///
    /// # Errors
    /// When the store fails or bytes do not decode.
    pub fn range_timestamped(
        &self,
        from: &K,
        to: &K,
    ) -> Result<Vec<(K, ValueAndTimestamp<V>)>, StreamsError> {
        let (from_bytes, to_bytes) = self.encode_bounds(from, to)?;
        self.scan(Bound::Included(&from_bytes), Bound::Included(&to_bytes))
    }

    /// The keys `from` and `to` as bytes: the first in the store's reused key buffer, the
    /// second in a vector sized as the first (range bounds are usually equally long).
    fn encode_bounds(
        &self,
        from: &K,
        to: &K,
    ) -> Result<(RefMut<'_, Vec<u8>>, Vec<u8>), StreamsError> {
        let mut from_bytes = self.key_buf.borrow_mut();
        encode(&*self.key_serde, from, &mut from_bytes).map_err(self.ser_error(RecordPart::Key))?;
        let mut to_bytes = Vec::with_capacity(from_bytes.len());
        encode(&*self.key_serde, to, &mut to_bytes).map_err(self.ser_error(RecordPart::Key))?;
        Ok((from_bytes, to_bytes))
    }

    /// One record key's windows in a window store (see [`KeyWindows`]): the window keys
    /// from `from` to `to` made of the record key (the bytes of `from` before its last
    /// `suffix`, 8 or 16) and `suffix` more bytes, whose last eight (the time the store is
    /// segmented by) lie in `times`; cached writes included. Each comes as the times in its
    /// key and its decoded value: the record key is not decoded again.
    ///
    /// # Errors
    /// When the store fails or bytes do not (de)serialize.
    pub(crate) fn key_windows(
        &self,
        from: &K,
        to: &K,
        suffix: usize,
        times: (i64, i64),
    ) -> Result<Vec<WindowEntry<V>>, StreamsError> {
        let (from_bytes, to_bytes) = self.encode_bounds(from, to)?;
        let query = KeyWindows {
            key: &from_bytes[..from_bytes.len().saturating_sub(suffix)],
            suffix,
            from: &from_bytes,
            to: &to_bytes,
            times,
        };
        let mut found = Vec::new();
        self.store
            .borrow()
            .key_windows(&query, |key, value, timestamp| {
                let Some(times) = WindowTimes::of(key, suffix) else {
                    return Ok(());
                };
                let value = self
                    .value_serde
                    .deserialize(value)
                    .map_err(self.de_error(RecordPart::Value))?;
                found.push((times, ValueAndTimestamp { value, timestamp }));
                Ok::<_, StreamsError>(())
            })?;
        Ok(found)
    }

    /// Every entry, in serialized key order, including the task's cached writes.
    ///
    /// # Errors
    /// When the store fails or bytes do not decode.
    pub fn all(&self) -> Result<Vec<(K, V)>, StreamsError> {
        Ok(self
            .scan(Bound::Unbounded, Bound::Unbounded)?
            .into_iter()
            .map(|(k, v)| (k, v.value))
            .collect())
    }

    /// Entries with serialized keys within `from` and `to`, decoded, cached writes
    /// included.
    pub(crate) fn scan(
        &self,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
    ) -> Result<Vec<(K, ValueAndTimestamp<V>)>, StreamsError> {
        let entries = self.store.borrow().range(from, to)?;
        entries
            .into_iter()
            .map(|(k, v, timestamp)| {
                Ok((
                    decode(&*self.key_serde, Some(&k)).map_err(self.de_error(RecordPart::Key))?,
                    ValueAndTimestamp {
                        value: self
                            .value_serde
                            .deserialize(&v)
                            .map_err(self.de_error(RecordPart::Value))?,
                        timestamp,
                    },
                ))
            })
            .collect()
    }
}

impl<K, V> Clone for KeyValueStore<K, V> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            name: self.name.clone(),
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            clock: self.clock.clone(),
            key_buf: RefCell::new(Vec::new()),
            value_buf: Vec::new(),
        }
    }
}

/// A typed read-only view over a store's read handles, used by the test driver (and later
/// by interactive queries).
pub(crate) fn typed_read<K, V>(
    handle: &dyn ReadOnlyKeyValueStore,
    key_serde: &SerdeRef<K>,
    value_serde: &SerdeRef<V>,
    key: &K,
) -> Result<Option<V>, StreamsError> {
    let mut key_bytes = Vec::new();
    encode(&**key_serde, key, &mut key_bytes).map_err(|source| StreamsError::Serialization {
        target: format!("store `{}`", handle.name()),
        part: RecordPart::Key,
        source,
    })?;
    handle
        .get(&key_bytes)?
        .map(|b| {
            value_serde
                .deserialize(&b)
                .map_err(|source| StreamsError::Serialization {
                    target: format!("store `{}` (reading)", handle.name()),
                    part: RecordPart::Value,
                    source,
                })
        })
        .transpose()
}
