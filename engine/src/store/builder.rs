use std::sync::Arc;

use super::{StoreBackend, StoreSpec};
use crate::serde::Serde;

/// Declares a key-value store for custom processors (Kafka Streams' `StoreBuilder`): add it
/// with `StreamsBuilder::add_state_store` and name it in `KStream::process`.
///
/// Defaults: RocksDB, logged to `<application.id>-<name>-changelog`, cached.
///
/// ```
/// use tributary_engine::serde::{I64Serde, StringSerde};
/// use tributary_engine::store::StoreBuilder;
///
/// let store = StoreBuilder::key_value("last-seen", StringSerde, I64Serde).with_caching_disabled();
/// assert_eq!(store.spec().name(), "last-seen");
/// ```
pub struct StoreBuilder {
    spec: StoreSpec,
}

impl StoreBuilder {
    /// A key-value store `name` holding `K → V`.
    pub fn key_value<K: 'static, V: 'static>(
        name: &str,
        key_serde: impl Serde<K> + 'static,
        value_serde: impl Serde<V> + 'static,
    ) -> Self {
        let spec = StoreSpec::new(
            name.to_owned(),
            Arc::new(key_serde),
            Arc::new(value_serde),
            StoreBackend::RocksDb,
            true,
            true,
        );
        Self { spec }
    }

    /// Keep the data in memory instead of RocksDB.
    pub fn in_memory(mut self) -> Self {
        self.spec.backend = StoreBackend::InMemory;
        self
    }

    /// Do not log changes (the store is then lost with its task's local state).
    pub fn with_logging_disabled(mut self) -> Self {
        self.spec.logging = false;
        self
    }

    /// Write every change through at once instead of caching until commit.
    pub fn with_caching_disabled(mut self) -> Self {
        self.spec.caching = false;
        self
    }

    /// The declaration.
    pub fn spec(&self) -> &StoreSpec {
        &self.spec
    }

    pub(crate) fn into_spec(self) -> StoreSpec {
        self.spec
    }
}
