//! The stores of a stream-stream join: each side's records by key and time (window stores
//! that keep duplicates), and the records of left and outer joins still waiting for a
//! partner, in time order.

use std::ops::Bound;

use crate::dsl::Data;
use crate::dsl::timed_store::TimedStore;
use crate::error::StreamsError;
use crate::serde::{Format, Serde, SerdeError, SerdeRef};
use crate::store::KeyValueStore;

/// Values as one byte string: each value's length (four bytes, big-endian), then its
/// bytes. A join store keeps every record of a key and timestamp this way, in arrival
/// order.
pub(crate) struct ListSerde<V> {
    inner: SerdeRef<V>,
}

impl<V> ListSerde<V> {
    pub(crate) fn new(inner: SerdeRef<V>) -> Self {
        Self { inner }
    }
}

impl<V> Serde<Vec<V>> for ListSerde<V> {
    fn serialize(&self, values: &Vec<V>, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        for value in values {
            let at = out.len();
            out.extend_from_slice(&[0; 4]);
            self.inner.serialize(value, out)?;
            let len = u32::try_from(out.len() - at - 4)
                .map_err(|_| SerdeError::new("list", "a value longer than 4 GiB"))?;
            out[at..at + 4].copy_from_slice(&len.to_be_bytes());
        }
        Ok(())
    }

    fn deserialize(&self, mut bytes: &[u8]) -> Result<Vec<V>, SerdeError> {
        let mut values = Vec::with_capacity(1);
        while !bytes.is_empty() {
            let truncated = || SerdeError::new("list", "truncated list of values");
            let (len, rest) = bytes.split_first_chunk::<4>().ok_or_else(truncated)?;
            let len = u32::from_be_bytes(*len) as usize;
            let value = rest.get(..len).ok_or_else(truncated)?;
            values.push(self.inner.deserialize(value)?);
            bytes = &rest[len..];
        }
        Ok(values)
    }

    fn format(&self) -> Format {
        Format::Opaque("list")
    }
}

/// One side's records of a stream-stream join: every record by key and timestamp, in
/// arrival order at each timestamp, kept for the join's retention.
pub(crate) type JoinStore<K, V> = TimedStore<K, Vec<V>>;

/// A record of a left or outer join waiting for a partner: its time, side and key. Stored
/// as the time (eight bytes, ordered as time), the side (right `0`, left `1`) and the key,
/// so the store reads in time order, as Kafka Streams' shared outer-join store does.
#[derive(Clone)]
pub(crate) struct PendingKey<K> {
    pub(crate) timestamp: i64,
    pub(crate) left: bool,
    pub(crate) key: K,
}

/// The first bytes of the pending keys at `time`: every key before `time` sorts before
/// them.
fn time_prefix(time: i64) -> [u8; 8] {
    ((time as u64) ^ (1 << 63)).to_be_bytes()
}

pub(crate) struct PendingKeySerde<K> {
    key: SerdeRef<K>,
}

impl<K> PendingKeySerde<K> {
    pub(crate) fn new(key: SerdeRef<K>) -> Self {
        Self { key }
    }
}

impl<K> Serde<PendingKey<K>> for PendingKeySerde<K> {
    fn serialize(&self, value: &PendingKey<K>, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        out.extend_from_slice(&time_prefix(value.timestamp));
        out.push(u8::from(value.left));
        self.key.serialize(&value.key, out)
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<PendingKey<K>, SerdeError> {
        let (time, rest) = bytes.split_first_chunk::<8>().ok_or_else(|| {
            SerdeError::new("pending", format!("{} bytes are too few", bytes.len()))
        })?;
        let (side, key) = rest
            .split_first()
            .ok_or_else(|| SerdeError::new("pending", "no side byte"))?;
        Ok(PendingKey {
            timestamp: (u64::from_be_bytes(*time) ^ (1 << 63)) as i64,
            left: *side == 1,
            key: self.key.deserialize(key)?,
        })
    }

    fn format(&self) -> Format {
        Format::Opaque("pending")
    }
}

/// The waiting records of one key, side and time, in arrival order.
#[derive(Clone)]
pub(crate) enum Pending<L, R> {
    Left(Vec<L>),
    Right(Vec<R>),
}

pub(crate) struct PendingSerde<L, R> {
    left: ListSerde<L>,
    right: ListSerde<R>,
}

impl<L, R> PendingSerde<L, R> {
    pub(crate) fn new(left: SerdeRef<L>, right: SerdeRef<R>) -> Self {
        Self {
            left: ListSerde::new(left),
            right: ListSerde::new(right),
        }
    }
}

impl<L, R> Serde<Pending<L, R>> for PendingSerde<L, R> {
    fn serialize(&self, value: &Pending<L, R>, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        match value {
            Pending::Left(values) => {
                out.push(1);
                self.left.serialize(values, out)
            }
            Pending::Right(values) => {
                out.push(0);
                self.right.serialize(values, out)
            }
        }
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<Pending<L, R>, SerdeError> {
        match bytes.split_first() {
            Some((1, rest)) => Ok(Pending::Left(self.left.deserialize(rest)?)),
            Some((0, rest)) => Ok(Pending::Right(self.right.deserialize(rest)?)),
            _ => Err(SerdeError::new("pending", "no valid side byte")),
        }
    }

    fn format(&self) -> Format {
        Format::Opaque("pending")
    }
}

/// Waiting records by key, side and time.
pub(crate) type Waiting<K, L, R> = Vec<(PendingKey<K>, Pending<L, R>)>;

/// The records of a left or outer join that found no partner yet.
pub(crate) struct PendingStore<K, L, R> {
    store: KeyValueStore<PendingKey<K>, Pending<L, R>>,
}

impl<K: Data, L: Data, R: Data> PendingStore<K, L, R> {
    pub(crate) fn new(store: KeyValueStore<PendingKey<K>, Pending<L, R>>) -> Self {
        Self { store }
    }

    /// Adds a left record.
    pub(crate) fn add_left(&mut self, key: PendingKey<K>, value: &L) -> Result<(), StreamsError> {
        let values = match self.store.get(&key)? {
            Some(Pending::Left(mut values)) => {
                values.push(value.clone());
                values
            }
            _ => vec![value.clone()],
        };
        self.store
            .put_with_timestamp(&key, &Pending::Left(values), key.timestamp)
    }

    /// Adds a right record.
    pub(crate) fn add_right(&mut self, key: PendingKey<K>, value: &R) -> Result<(), StreamsError> {
        let values = match self.store.get(&key)? {
            Some(Pending::Right(mut values)) => {
                values.push(value.clone());
                values
            }
            _ => vec![value.clone()],
        };
        self.store
            .put_with_timestamp(&key, &Pending::Right(values), key.timestamp)
    }

    /// Forgets the records under `key` (they found a partner), if there are any.
    pub(crate) fn remove(&mut self, key: &PendingKey<K>) -> Result<(), StreamsError> {
        if self.store.get(key)?.is_some() {
            self.store.delete(key)?;
        }
        Ok(())
    }

    /// The waiting records before `time`, in time order (right before left at one time,
    /// then by key bytes).
    pub(crate) fn before(&self, time: i64) -> Result<Waiting<K, L, R>, StreamsError> {
        let to = time_prefix(time);
        Ok(self
            .store
            .scan(Bound::Unbounded, Bound::Excluded(&to))?
            .into_iter()
            .map(|(key, value)| (key, value.value))
            .collect())
    }
}
