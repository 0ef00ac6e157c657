//! A store of values by key and time, kept for a retention past the latest time written:
//! the records of a stream-stream join's sides, the ids a deduplication has seen.

use std::sync::Arc;

use crate::dsl::Data;
use crate::error::StreamsError;
use crate::serde::SerdeRef;
use crate::store::{KeyValueStore, StoreBackend, StoreSpec, WindowRetention};
use crate::window::{Window, Windowed, WindowedSerde};

/// The declaration of a timed store: a window store whose windows are instants, keys with
/// `key_serde`, values with `value_serde`, kept `retention_ms` past the latest time.
pub(crate) fn timed_spec<K: Data, V: Data>(
    key_serde: SerdeRef<K>,
    value_serde: SerdeRef<V>,
    retention_ms: i64,
    (backend, logging): (StoreBackend, bool),
) -> StoreSpec {
    let key: SerdeRef<Windowed<K>> = Arc::new(WindowedSerde::new(key_serde.clone(), 0));
    StoreSpec::new(String::new(), key, value_serde, backend, logging, false)
        .windowed(WindowRetention::new(retention_ms), key_serde)
}

/// Values by key and timestamp (the window start of a window store whose windows are
/// instants), kept for a retention past the latest timestamp written.
pub(crate) struct TimedStore<K, V> {
    store: KeyValueStore<Windowed<K>, V>,
    retention_ms: i64,
}

impl<K: Data + PartialEq, V: Data> TimedStore<K, V> {
    pub(crate) fn new(store: KeyValueStore<Windowed<K>, V>, retention_ms: i64) -> Self {
        Self {
            store,
            retention_ms,
        }
    }

    /// The latest timestamp written (restoration included).
    pub(crate) fn observed_time(&self) -> Option<i64> {
        self.store.observed_time()
    }

    /// The earliest timestamp still kept: values at or before `observed - retention` have
    /// expired, as in Kafka Streams' window stores.
    fn oldest_kept(&self) -> i64 {
        self.observed_time().map_or(i64::MIN, |observed| {
            observed.saturating_sub(self.retention_ms).saturating_add(1)
        })
    }

    fn at(key: &K, time: i64) -> Windowed<K> {
        Windowed {
            key: key.clone(),
            window: Window {
                start: time,
                end: time,
            },
        }
    }

    /// `key`'s values from `from` to `to` (inclusive) that have not expired, in time order.
    pub(crate) fn fetch(&self, key: &K, from: i64, to: i64) -> Result<Vec<(i64, V)>, StreamsError> {
        let from = from.max(self.oldest_kept());
        if from > to {
            return Ok(Vec::new());
        }
        Ok(self
            .store
            .range_timestamped(&Self::at(key, from), &Self::at(key, to))?
            .into_iter()
            // A longer key that starts with this key's bytes can fall in the byte range.
            .filter(|(windowed, _)| windowed.key == *key)
            .map(|(windowed, value)| (windowed.window.start, value.value))
            .collect())
    }

    /// The value of `key` at `timestamp`.
    fn get(&self, key: &K, timestamp: i64) -> Result<Option<V>, StreamsError> {
        self.store.get(&Self::at(key, timestamp))
    }

    /// Keeps `value` as `key`'s at `timestamp`; `false` (nothing written) when that time
    /// has already expired.
    pub(crate) fn put(&mut self, key: &K, value: &V, timestamp: i64) -> Result<bool, StreamsError> {
        if timestamp < self.oldest_kept() {
            return Ok(false);
        }
        self.store
            .put_with_timestamp(&Self::at(key, timestamp), value, timestamp)?;
        Ok(true)
    }
}

impl<K: Data + PartialEq, V: Data> TimedStore<K, Vec<V>> {
    /// Adds `value` to `key`'s values at `timestamp`, after those already there; `false`
    /// (nothing written) when that time has already expired.
    pub(crate) fn append(
        &mut self,
        key: &K,
        value: &V,
        timestamp: i64,
    ) -> Result<bool, StreamsError> {
        if timestamp < self.oldest_kept() {
            return Ok(false);
        }
        let mut values = self.get(key, timestamp)?.unwrap_or_default();
        values.push(value.clone());
        self.put(key, &values, timestamp)
    }
}
