//! The explicit serde and naming parameters of DSL operators, as in Kafka Streams.

use std::sync::Arc;

use crate::serde::{Serde, SerdeRef};
use crate::store::StoreBackend;
use crate::time::TimestampExtractor;

/// How a source topic is read: key and value serdes, and optionally the source's name.
pub struct Consumed<K, V> {
    pub(crate) key_serde: SerdeRef<K>,
    pub(crate) value_serde: SerdeRef<V>,
    pub(crate) name: Option<String>,
    pub(crate) timestamp_extractor: TimestampExtractor,
}

impl<K, V> Consumed<K, V> {
    /// Reads keys with `key_serde` and values with `value_serde`.
    pub fn with(key_serde: impl Serde<K> + 'static, value_serde: impl Serde<V> + 'static) -> Self {
        Self {
            key_serde: Arc::new(key_serde),
            value_serde: Arc::new(value_serde),
            name: None,
            timestamp_extractor: TimestampExtractor::RecordTimestamp,
        }
    }

    /// Names the source node.
    pub fn with_name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }

    /// Takes each record's event time from `extractor` instead of the Kafka record's
    /// timestamp. Records without a valid timestamp go to `default.invalid.timestamp.handler`.
    pub fn with_timestamp_extractor(mut self, extractor: TimestampExtractor) -> Self {
        self.timestamp_extractor = extractor;
        self
    }
}

/// How records are written to a topic: key and value serdes, and optionally the sink's name.
pub struct Produced<K, V> {
    pub(crate) key_serde: SerdeRef<K>,
    pub(crate) value_serde: SerdeRef<V>,
    pub(crate) name: Option<String>,
}

impl<K, V> Produced<K, V> {
    /// Writes keys with `key_serde` and values with `value_serde`.
    pub fn with(key_serde: impl Serde<K> + 'static, value_serde: impl Serde<V> + 'static) -> Self {
        Self {
            key_serde: Arc::new(key_serde),
            value_serde: Arc::new(value_serde),
            name: None,
        }
    }

    /// Names the sink node.
    pub fn with_name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }
}

/// How a grouping is repartitioned: serdes for the repartition topic and its name
/// (`<application.id>-<name>-repartition`). Unset serdes fall back to the stream's own.
pub struct Grouped<K, V> {
    pub(crate) key_serde: Option<SerdeRef<K>>,
    pub(crate) value_serde: Option<SerdeRef<V>>,
    pub(crate) name: Option<String>,
}

impl<K, V> Default for Grouped<K, V> {
    fn default() -> Self {
        Self {
            key_serde: None,
            value_serde: None,
            name: None,
        }
    }
}

impl<K, V> Grouped<K, V> {
    /// No serdes or name: the stream's serdes and a generated name are used.
    pub fn new() -> Self {
        Self::default()
    }

    /// Repartitions with these serdes.
    pub fn with(key_serde: impl Serde<K> + 'static, value_serde: impl Serde<V> + 'static) -> Self {
        Self {
            key_serde: Some(Arc::new(key_serde)),
            value_serde: Some(Arc::new(value_serde)),
            name: None,
        }
    }

    /// Names the repartition topic `<application.id>-<name>-repartition`.
    pub fn named(name: &str) -> Self {
        Self::new().with_name(name)
    }

    /// Sets the name (see [`Grouped::named`]).
    pub fn with_name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }

    /// Sets the key serde.
    pub fn with_key_serde(mut self, serde: impl Serde<K> + 'static) -> Self {
        self.key_serde = Some(Arc::new(serde));
        self
    }

    /// Sets the value serde.
    pub fn with_value_serde(mut self, serde: impl Serde<V> + 'static) -> Self {
        self.value_serde = Some(Arc::new(serde));
        self
    }
}

/// How a table is stored: the store's name (also naming its changelog
/// `<application.id>-<name>-changelog`), serdes, backend, caching and logging.
///
/// Defaults: a generated name, the upstream serdes, RocksDB, cached, logged.
pub struct Materialized<K, V> {
    pub(crate) name: Option<String>,
    pub(crate) key_serde: Option<SerdeRef<K>>,
    pub(crate) value_serde: Option<SerdeRef<V>>,
    pub(crate) backend: StoreBackend,
    pub(crate) caching: bool,
    pub(crate) logging: bool,
    /// For window stores: how long windows are kept (default: window size + grace).
    pub(crate) retention: Option<std::time::Duration>,
}

impl<K, V> Default for Materialized<K, V> {
    fn default() -> Self {
        Self {
            name: None,
            key_serde: None,
            value_serde: None,
            backend: StoreBackend::RocksDb,
            caching: true,
            logging: true,
            retention: None,
        }
    }
}

impl<K, V> Materialized<K, V> {
    /// The defaults, with a generated store name.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store named `name`: queryable by that name.
    pub fn named(name: &str) -> Self {
        Self {
            name: Some(name.to_owned()),
            ..Self::default()
        }
    }

    /// For a windowed aggregation's store: keeps windows `retention` after stream time
    /// passes their start (at least window size + grace, the default), so that interactive
    /// queries can read closed windows for that long.
    pub fn with_retention(mut self, retention: std::time::Duration) -> Self {
        self.retention = Some(retention);
        self
    }

    /// Sets the key serde.
    pub fn with_key_serde(mut self, serde: impl Serde<K> + 'static) -> Self {
        self.key_serde = Some(Arc::new(serde));
        self
    }

    /// Sets the value serde.
    pub fn with_value_serde(mut self, serde: impl Serde<V> + 'static) -> Self {
        self.value_serde = Some(Arc::new(serde));
        self
    }

    /// Keeps the store in memory instead of RocksDB.
    pub fn in_memory(mut self) -> Self {
        self.backend = StoreBackend::InMemory;
        self
    }

    /// Forwards every update at once instead of the latest per key at commit.
    pub fn with_caching_disabled(mut self) -> Self {
        self.caching = false;
        self
    }

    /// Does not log changes to a changelog topic.
    pub fn with_logging_disabled(mut self) -> Self {
        self.logging = false;
        self
    }
}
