//! [`GlobalKTable`]: a topic held whole by every instance, for joins without
//! co-partitioning.

use std::sync::Arc;

use super::params::{Consumed, Materialized};
use crate::error::RecordPart;
use crate::serde::{SerdeRef, decode};
use crate::store::StoreSpec;
use crate::topology::GlobalTable;
use crate::topology::graph::{GlobalDraft, SharedGraph};

/// A table of every partition of a topic, held whole by every instance of the application
/// (Kafka Streams' `GlobalKTable`): restored from the topic itself before processing
/// starts, then kept up to date by a global thread, without a changelog. Streams join it
/// by any key they compute from their records ([`KStream::join_global`]), without
/// co-partitioning; every instance answers queries on its store for every key.
///
/// [`KStream::join_global`]: super::KStream::join_global
pub struct GlobalKTable<K, V> {
    /// Its index among the graph's global tables.
    pub(crate) index: usize,
    pub(crate) key_serde: SerdeRef<K>,
    pub(crate) value_serde: SerdeRef<V>,
}

impl<K, V> Clone for GlobalKTable<K, V> {
    fn clone(&self) -> Self {
        Self {
            index: self.index,
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
        }
    }
}

/// `StreamsBuilder::global_table`.
pub(crate) fn global_table<K: 'static, V: 'static>(
    graph: &SharedGraph,
    topic: &str,
    consumed: Consumed<K, V>,
    materialized: Materialized<K, V>,
) -> GlobalKTable<K, V> {
    let key_serde = materialized.key_serde.unwrap_or(consumed.key_serde);
    let value_serde = materialized.value_serde.unwrap_or(consumed.value_serde);
    let store = StoreSpec::new(
        String::new(),
        key_serde.clone(),
        value_serde.clone(),
        materialized.backend,
        false,
        false,
    );
    let (keys, values) = (key_serde.clone(), value_serde.clone());
    let check = Arc::new(move |raw: &crate::record::RawRecord| {
        if let Some(key) = &raw.key {
            keys.deserialize(key).map_err(|e| (RecordPart::Key, e))?;
        }
        if raw.value.is_some() {
            decode(&*values, raw.value.as_deref()).map_err(|e| (RecordPart::Value, e))?;
        }
        Ok(())
    });
    let mut g = graph.borrow_mut();
    g.globals.push(GlobalDraft {
        explicit: materialized.name,
        table: GlobalTable {
            topic: topic.to_owned(),
            store,
            check,
            extractor: consumed.timestamp_extractor,
        },
    });
    GlobalKTable {
        index: g.globals.len() - 1,
        key_serde,
        value_serde,
    }
}
