use std::cell::RefCell;
use std::rc::Rc;

use super::params::{Consumed, Materialized};
use super::{Data, GlobalKTable, KStream, KTable};
use crate::error::TopologyError;
use crate::store::StoreBuilder;
use crate::topology::graph::{GraphBuilder, SharedGraph};
use crate::topology::{Topology, compile};

/// Records a topology as DSL methods are called; [`StreamsBuilder::build`] compiles it.
///
/// ```
/// use tributary_engine::dsl::{Consumed, Produced, StreamsBuilder};
/// use tributary_engine::serde::StringSerde;
///
/// let builder = StreamsBuilder::new();
/// builder
///     .stream("orders", Consumed::with(StringSerde, StringSerde))
///     .filter(|_, v| !v.is_empty())
///     .to("non-empty-orders", Produced::with(StringSerde, StringSerde));
/// let topology = builder.build().unwrap();
/// assert_eq!(topology.subtopologies().len(), 1);
/// ```
#[derive(Default)]
pub struct StreamsBuilder {
    graph: SharedGraph,
}

impl StreamsBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self {
            graph: Rc::new(RefCell::new(GraphBuilder::default())),
        }
    }

    /// Refuses to build when a store or repartition topic would get a generated name
    /// (Kafka Streams' `ensure.explicit.internal.resource.naming`). Generated names are
    /// stable when unrelated operators are added, but change when an operator is inserted
    /// upstream of them — which would orphan their changelog and state.
    pub fn ensure_explicit_internal_resource_naming(&self) -> &Self {
        self.graph.borrow_mut().require_explicit_names = true;
        self
    }

    /// A stream of the records of `topic`.
    pub fn stream<K: Data, V: Data>(&self, topic: &str, consumed: Consumed<K, V>) -> KStream<K, V> {
        let node = super::source::add(
            &self.graph,
            topic,
            consumed.name,
            consumed.key_serde.clone(),
            consumed.value_serde.clone(),
            consumed.timestamp_extractor,
        );
        KStream {
            graph: self.graph.clone(),
            node,
            key_serde: Some(consumed.key_serde),
            value_serde: Some(consumed.value_serde),
            repartition_required: false,
        }
    }

    /// A table of the latest value per key of `topic` (a null value deletes the key),
    /// materialized in a store.
    pub fn table<K: Data, V: Data>(
        &self,
        topic: &str,
        consumed: Consumed<K, V>,
        materialized: Materialized<K, V>,
    ) -> KTable<K, V> {
        super::ktable::source::table(&self.graph, topic, consumed, materialized)
    }

    /// A table of every partition of `topic`, held whole by every instance (Kafka Streams'
    /// `globalTable`): restored from the topic before processing starts and kept up to date
    /// by a global thread. Its store is named by `materialized` (default
    /// `<topic>-global-store`), is never logged (the topic is its changelog) and has no
    /// record cache. Join it with [`KStream::join_global`].
    pub fn global_table<K: Data, V: Data>(
        &self,
        topic: &str,
        consumed: Consumed<K, V>,
        materialized: Materialized<K, V>,
    ) -> GlobalKTable<K, V> {
        super::global_table::global_table(&self.graph, topic, consumed, materialized)
    }

    /// Adds a store for custom processors; connect it by naming it in `KStream::process`.
    pub fn add_state_store(&self, store: StoreBuilder) -> &Self {
        self.graph.borrow_mut().added_stores.push(store.into_spec());
        self
    }

    /// Compiles the topology: final names, repartition topics, sub-topologies, validation.
    ///
    /// # Errors
    /// A [`TopologyError`] naming the operator, store or topic at fault and the fix.
    pub fn build(self) -> Result<Topology, TopologyError> {
        let graph = std::mem::take(&mut *self.graph.borrow_mut());
        compile(graph)
    }
}
