use std::sync::Arc;

use crate::dsl::params::{Consumed, Materialized};
use crate::dsl::table_changes::{Update, materialize};
use crate::dsl::{Data, KTable};
use crate::serde::{OptionSerde, SerdeRef};
use crate::topology::graph::{NodeDraft, Role, SharedGraph, TopicRef};

/// `StreamsBuilder::table`: a source reading nullable values, then a node materializing
/// them (a null value deletes the key).
pub(crate) fn table<K: Data, V: Data>(
    graph: &SharedGraph,
    topic: &str,
    consumed: Consumed<K, V>,
    materialized: Materialized<K, V>,
) -> KTable<K, V> {
    let nullable: SerdeRef<Option<V>> = Arc::new(OptionSerde::new(consumed.value_serde.clone()));
    let factory = crate::dsl::source::factory(consumed.key_serde.clone(), nullable);
    let source = graph.borrow_mut().add_node(NodeDraft {
        kind: "source",
        explicit: consumed.name,
        role: Role::Source {
            topics: vec![TopicRef::External(topic.to_owned())],
        },
        parents: Vec::new(),
        stores: Vec::new(),
        factory,
    });
    let update: Arc<Update<K, Option<V>, V>> = Arc::new(|_, value, _| value);
    materialize(
        graph,
        "table-source",
        source,
        update,
        materialized,
        Some(consumed.key_serde),
        Some(consumed.value_serde),
    )
}
