use std::sync::Arc;

use crate::dsl::params::{Consumed, Materialized};
use crate::dsl::table_changes::{Materialize, Stamp, Update, materialize};
use crate::dsl::{Data, KTable};
use crate::serde::{OptionSerde, SerdeRef};
use crate::topology::graph::SharedGraph;

/// `StreamsBuilder::table`: a source reading nullable values, then a node materializing
/// them (a null value deletes the key).
pub(crate) fn table<K: Data, V: Data>(
    graph: &SharedGraph,
    topic: &str,
    consumed: Consumed<K, V>,
    materialized: Materialized<K, V>,
) -> KTable<K, V> {
    let nullable: SerdeRef<Option<V>> = Arc::new(OptionSerde::new(consumed.value_serde.clone()));
    let source = crate::dsl::source::add(
        graph,
        topic,
        consumed.name,
        consumed.key_serde.clone(),
        nullable,
        consumed.timestamp_extractor,
    );
    let update: Arc<Update<K, Option<V>, V>> = Arc::new(|_, value, _| value);
    let what = Materialize {
        kind: "table-source",
        update,
        stamp: Stamp::Record,
        null_value: None,
    };
    materialize(
        graph,
        vec![source],
        what,
        materialized,
        Some(consumed.key_serde),
        Some(consumed.value_serde),
    )
}
