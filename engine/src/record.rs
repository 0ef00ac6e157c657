//! Records as processors see them.

/// Record headers: ordered (key, value) pairs; a key may repeat.
pub type Headers = Vec<(String, Option<Vec<u8>>)>;

/// A typed record flowing through a topology.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<K, V> {
    /// The key.
    pub key: K,
    /// The value.
    pub value: V,
    /// Event time in milliseconds since the epoch.
    pub timestamp: i64,
    /// Headers, carried from the input record unless a processor replaces them.
    pub headers: Headers,
}

impl<K, V> Record<K, V> {
    /// A record with no headers.
    pub fn new(key: K, value: V, timestamp: i64) -> Self {
        Self {
            key,
            value,
            timestamp,
            headers: Headers::new(),
        }
    }

    /// The same record with another value.
    pub fn with_value<V2>(self, value: V2) -> Record<K, V2> {
        Record {
            key: self.key,
            value,
            timestamp: self.timestamp,
            headers: self.headers,
        }
    }

    /// The same record with its value passed through `f`.
    pub fn map_value<V2>(self, f: impl FnOnce(V) -> V2) -> Record<K, V2> {
        Record {
            key: self.key,
            value: f(self.value),
            timestamp: self.timestamp,
            headers: self.headers,
        }
    }

    /// The same record with its value passed through a fallible `f`.
    ///
    /// # Errors
    /// What `f` returns.
    pub fn try_map_value<V2, E>(
        self,
        f: impl FnOnce(V) -> Result<V2, E>,
    ) -> Result<Record<K, V2>, E> {
        Ok(Record {
            key: self.key,
            value: f(self.value)?,
            timestamp: self.timestamp,
            headers: self.headers,
        })
    }

    /// The same record with `headers`.
    pub fn with_headers(mut self, headers: Headers) -> Self {
        self.headers = headers;
        self
    }

    /// The same record with another key and value (timestamp and headers kept).
    pub fn with<K2, V2>(self, key: K2, value: V2) -> Record<K2, V2> {
        Record {
            key,
            value,
            timestamp: self.timestamp,
            headers: self.headers,
        }
    }
}

/// An update of a table row: the new value and the value it replaces. `None` as `new` is a
/// delete; `None` as `old` means the key was absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change<V> {
    /// The value after the update.
    pub new: Option<V>,
    /// The value before the update.
    pub old: Option<V>,
}

/// A record as it was read from a topic: bytes, before deserialization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    /// The offset in its partition.
    pub offset: i64,
    /// The record timestamp (ms).
    pub timestamp: i64,
    /// The key bytes; `None` for a null key.
    pub key: Option<Vec<u8>>,
    /// The value bytes; `None` for a null value (a tombstone).
    pub value: Option<Vec<u8>>,
    /// The headers.
    pub headers: Headers,
}

/// A consumed record's parts where the consumer's message holds them, before a task copies
/// them into its input queue (see [`RawRecord`]).
pub(crate) struct BorrowedRecord<'a> {
    /// The offset in its partition.
    pub(crate) offset: i64,
    /// The record timestamp (ms), -1 when it has none.
    pub(crate) timestamp: i64,
    /// The key bytes; `None` for a null key.
    pub(crate) key: Option<&'a [u8]>,
    /// The value bytes; `None` for a null value.
    pub(crate) value: Option<&'a [u8]>,
    /// The headers, copied.
    pub(crate) headers: Headers,
}
