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

/// How a stream is joined with a table: the serdes that repartition the stream when an
/// upstream operator may have changed its key (default: the stream's own), and the join's
/// name (which names that repartition topic, `<application.id>-<name>-repartition`).
pub struct Joined<K, V, VT> {
    pub(crate) key_serde: Option<SerdeRef<K>>,
    pub(crate) value_serde: Option<SerdeRef<V>>,
    pub(crate) name: Option<String>,
    _table: std::marker::PhantomData<fn() -> VT>,
}

impl<K, V, VT> Default for Joined<K, V, VT> {
    fn default() -> Self {
        Self {
            key_serde: None,
            value_serde: None,
            name: None,
            _table: std::marker::PhantomData,
        }
    }
}

impl<K, V, VT> Joined<K, V, VT> {
    /// The stream's own serdes and a generated name.
    pub fn new() -> Self {
        Self::default()
    }

    /// Repartitions the stream with these serdes.
    pub fn with(key_serde: impl Serde<K> + 'static, value_serde: impl Serde<V> + 'static) -> Self {
        Self {
            key_serde: Some(Arc::new(key_serde)),
            value_serde: Some(Arc::new(value_serde)),
            ..Self::default()
        }
    }

    /// Names the join (and its repartition topic).
    pub fn named(name: &str) -> Self {
        Self::new().with_name(name)
    }

    /// Sets the name (see [`Joined::named`]).
    pub fn with_name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }
}

/// How a stream-stream join keeps its records: the serdes of the key and of both sides'
/// values (default: the streams' own), the join's name (naming its processors and, when
/// the streams are repartitioned first, the topics `<application.id>-<name>-left-repartition`
/// and `…-right-repartition`), the base name of its stores (`<store>-this-join-store`,
/// `<store>-other-join-store` and, for left and outer joins, the store of records still
/// waiting for a partner), their backend and whether they are logged.
///
/// Defaults: the streams' serdes, generated names, RocksDB, logged.
pub struct StreamJoined<K, V, VO> {
    pub(crate) key_serde: Option<SerdeRef<K>>,
    pub(crate) value_serde: Option<SerdeRef<V>>,
    pub(crate) other_value_serde: Option<SerdeRef<VO>>,
    pub(crate) name: Option<String>,
    pub(crate) store_name: Option<String>,
    pub(crate) backend: StoreBackend,
    pub(crate) logging: bool,
}

impl<K, V, VO> Default for StreamJoined<K, V, VO> {
    fn default() -> Self {
        Self {
            key_serde: None,
            value_serde: None,
            other_value_serde: None,
            name: None,
            store_name: None,
            backend: StoreBackend::RocksDb,
            logging: true,
        }
    }
}

impl<K, V, VO> StreamJoined<K, V, VO> {
    /// The streams' own serdes and generated names.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps (and repartitions) the records with these serdes.
    pub fn with(
        key_serde: impl Serde<K> + 'static,
        value_serde: impl Serde<V> + 'static,
        other_value_serde: impl Serde<VO> + 'static,
    ) -> Self {
        Self {
            key_serde: Some(Arc::new(key_serde)),
            value_serde: Some(Arc::new(value_serde)),
            other_value_serde: Some(Arc::new(other_value_serde)),
            ..Self::default()
        }
    }

    /// Names the join's processors and repartition topics.
    pub fn with_name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }

    /// Names the join's stores after `name`.
    pub fn with_store_name(mut self, name: &str) -> Self {
        self.store_name = Some(name.to_owned());
        self
    }

    /// Keeps the stores in memory instead of RocksDB.
    pub fn in_memory(mut self) -> Self {
        self.backend = StoreBackend::InMemory;
        self
    }

    /// Does not log the stores' changes to changelog topics.
    pub fn with_logging_disabled(mut self) -> Self {
        self.logging = false;
        self
    }
}

/// How a deduplication keeps the ids it has seen: the id serde (for
/// [`KStream::deduplicate`](crate::dsl::KStream::deduplicate), which keys its store and
/// repartition topic by id), the operator's name (its store is `<name>-store`, its
/// repartition topic `<application.id>-<name>-repartition`), the store's backend and
/// whether it is logged.
///
/// Defaults: the stream's key serde (deduplicating by key), generated names, RocksDB,
/// logged.
pub struct Deduplicated<I> {
    pub(crate) id_serde: Option<SerdeRef<I>>,
    pub(crate) name: Option<String>,
    pub(crate) backend: StoreBackend,
    pub(crate) logging: bool,
}

impl<I> Default for Deduplicated<I> {
    fn default() -> Self {
        Self {
            id_serde: None,
            name: None,
            backend: StoreBackend::RocksDb,
            logging: true,
        }
    }
}

impl<I> Deduplicated<I> {
    /// Generated names; ids written with the stream's key serde.
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes ids with `id_serde`.
    pub fn with(id_serde: impl Serde<I> + 'static) -> Self {
        Self {
            id_serde: Some(Arc::new(id_serde)),
            ..Self::default()
        }
    }

    /// Names the operator, its store and its repartition topic after `name`.
    pub fn with_name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }

    /// Keeps the seen ids in memory instead of RocksDB.
    pub fn in_memory(mut self) -> Self {
        self.backend = StoreBackend::InMemory;
        self
    }

    /// Does not log the store's changes to a changelog topic (duplicates are then
    /// recognised only while the task stays on this instance).
    pub fn with_logging_disabled(mut self) -> Self {
        self.logging = false;
        self
    }
}
