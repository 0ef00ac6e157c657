//! Typed input topics, output topics and store views of the test driver.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use tributary_state::ReadOnlyKeyValueStore;

use super::inner::DriverInner;
use super::topics::SharedTopics;
use crate::error::{RecordPart, StreamsError};
use crate::partitioner::partition_for;
use crate::record::{Headers, Record};
use crate::serde::{SerdeRef, decode, encode};
use crate::store::typed_read;

/// Pipes typed records into one input topic of a [`super::TopologyTestDriver`].
pub struct TestInputTopic<K, V> {
    driver: Rc<RefCell<DriverInner>>,
    topic: String,
    key_serde: SerdeRef<K>,
    value_serde: SerdeRef<V>,
}

impl<K, V> TestInputTopic<K, V> {
    pub(crate) fn new(
        driver: Rc<RefCell<DriverInner>>,
        topic: &str,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
    ) -> Self {
        Self {
            driver,
            topic: topic.to_owned(),
            key_serde,
            value_serde,
        }
    }

    /// Pipes one record and runs the topology until it is idle.
    ///
    /// # Errors
    /// When a serde fails, or processing fails (for example on a record the topology
    /// cannot deserialize, with the fail handler).
    pub fn pipe(&self, key: K, value: V, timestamp: i64) -> Result<(), StreamsError> {
        self.pipe_record(Record::new(key, value, timestamp))
    }

    /// Pipes one record with headers.
    ///
    /// # Errors
    /// As [`TestInputTopic::pipe`].
    pub fn pipe_record(&self, record: Record<K, V>) -> Result<(), StreamsError> {
        let error = |part| StreamsError::topic_serialization(&self.topic, part);
        let mut key = Vec::new();
        let mut value = Vec::new();
        let has_key =
            encode(&*self.key_serde, &record.key, &mut key).map_err(error(RecordPart::Key))?;
        let has_value = encode(&*self.value_serde, &record.value, &mut value)
            .map_err(error(RecordPart::Value))?;
        self.driver.borrow_mut().pipe(
            &self.topic,
            has_key.then_some(key.as_slice()),
            has_value.then_some(value.as_slice()),
            record.timestamp,
            record.headers,
        )
    }

    /// Pipes raw bytes (for example a malformed payload, or a tombstone).
    ///
    /// # Errors
    /// As [`TestInputTopic::pipe`].
    pub fn pipe_raw(
        &self,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        timestamp: i64,
    ) -> Result<(), StreamsError> {
        self.driver
            .borrow_mut()
            .pipe(&self.topic, key, value, timestamp, Headers::new())
    }
}

/// Reads typed records from one topic of a [`super::TopologyTestDriver`], in the order they
/// were written, each once.
pub struct TestOutputTopic<K, V> {
    topics: SharedTopics,
    topic: String,
    key_serde: SerdeRef<K>,
    value_serde: SerdeRef<V>,
    read: Cell<usize>,
}

impl<K, V> TestOutputTopic<K, V> {
    pub(crate) fn new(
        topics: SharedTopics,
        topic: &str,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
    ) -> Self {
        Self {
            topics,
            topic: topic.to_owned(),
            key_serde,
            value_serde,
            read: Cell::new(0),
        }
    }

    /// The next unread record, if any.
    pub fn read_record(&self) -> Option<Result<Record<K, V>, StreamsError>> {
        let topics = self.topics.borrow();
        let log = topics.logs.get(&self.topic)?;
        let &(partition, offset) = log.order.get(self.read.get())?;
        self.read.set(self.read.get() + 1);
        let raw = &log.partitions[partition as usize][offset];
        // The topic's name is copied only for a record that fails.
        let topic = self.topic.as_str();
        let error = |part| {
            move |source| StreamsError::Deserialization {
                topic: topic.to_owned(),
                partition,
                offset: offset as i64,
                part,
                source,
            }
        };
        Some((|| {
            Ok(Record {
                key: decode(&*self.key_serde, raw.key.as_deref())
                    .map_err(error(RecordPart::Key))?,
                value: decode(&*self.value_serde, raw.value.as_deref())
                    .map_err(error(RecordPart::Value))?,
                timestamp: raw.timestamp,
                headers: raw.headers.clone(),
            })
        })())
    }

    /// Every unread record.
    ///
    /// # Errors
    /// When a record does not decode with this topic's serdes.
    pub fn read_records(&self) -> Result<Vec<Record<K, V>>, StreamsError> {
        std::iter::from_fn(|| self.read_record()).collect()
    }

    /// Every unread record as a key-value pair.
    ///
    /// # Errors
    /// As [`TestOutputTopic::read_records`].
    pub fn read_key_values(&self) -> Result<Vec<(K, V)>, StreamsError> {
        Ok(self
            .read_records()?
            .into_iter()
            .map(|r| (r.key, r.value))
            .collect())
    }

    /// How many records are unread.
    pub fn queue_size(&self) -> usize {
        let topics = self.topics.borrow();
        topics.logs.get(&self.topic).map_or(0, |l| l.order.len()) - self.read.get()
    }

    /// Whether every record has been read.
    pub fn is_empty(&self) -> bool {
        self.queue_size() == 0
    }
}

/// A typed read view of one store across every task of the driver.
pub struct DriverKeyValueStore<K, V> {
    /// One handle per task, by partition.
    handles: Vec<(i32, Arc<dyn ReadOnlyKeyValueStore + Send + Sync>)>,
    key_serde: SerdeRef<K>,
    value_serde: SerdeRef<V>,
}

impl<K, V> DriverKeyValueStore<K, V> {
    pub(crate) fn new(
        handles: Vec<(i32, Arc<dyn ReadOnlyKeyValueStore + Send + Sync>)>,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
    ) -> Self {
        Self {
            handles,
            key_serde,
            value_serde,
        }
    }

    /// The value of `key`, read from the task that owns the key's partition.
    ///
    /// # Errors
    /// When a serde or the store fails.
    pub fn get(&self, key: &K) -> Result<Option<V>, StreamsError> {
        let mut bytes = Vec::new();
        encode(&*self.key_serde, key, &mut bytes).map_err(|source| {
            StreamsError::Serialization {
                target: "a store key".into(),
                part: RecordPart::Key,
                source,
            }
        })?;
        let partition = partition_for(&bytes, self.handles.len().max(1) as i32);
        match self.handles.iter().find(|(p, _)| *p == partition) {
            Some((_, handle)) => {
                typed_read(handle.as_ref(), &self.key_serde, &self.value_serde, key)
            }
            None => Ok(None),
        }
    }

    /// Every entry of every task, in serialized key order.
    ///
    /// # Errors
    /// When a serde or the store fails.
    pub fn all(&self) -> Result<Vec<(K, V)>, StreamsError> {
        let mut merged = BTreeMap::new();
        for (_, handle) in &self.handles {
            for entry in handle.all()? {
                let (k, v) = entry?;
                merged.insert(k, v);
            }
        }
        let bad = |part| {
            move |source| StreamsError::Serialization {
                target: "a store entry (reading)".into(),
                part,
                source,
            }
        };
        merged
            .into_iter()
            .map(|(k, v)| {
                Ok((
                    self.key_serde
                        .deserialize(&k)
                        .map_err(bad(RecordPart::Key))?,
                    self.value_serde
                        .deserialize(&v)
                        .map_err(bad(RecordPart::Value))?,
                ))
            })
            .collect()
    }
}
