//! [`KStream`]: an unbounded stream of records, and its operators (one file each).

mod filter;
mod flat_map;
mod group;
mod map;
mod merge;
mod peek;
mod process;
mod select_key;
pub(crate) mod split;
mod to;

use super::Data;
use crate::processor::node::Factory;
use crate::serde::SerdeRef;
use crate::topology::graph::{NodeDraft, Role, SharedGraph};

/// A stream of records: every record is an independent event.
///
/// Operators take `&self`, so one stream can feed several downstream operators. Operators
/// that may change the key (`map`, `flat_map`, `select_key`, `group_by`) mark the stream
/// so that a later stateful operator reads it through a repartition topic.
pub struct KStream<K, V> {
    pub(crate) graph: SharedGraph,
    pub(crate) node: usize,
    pub(crate) key_serde: Option<SerdeRef<K>>,
    pub(crate) value_serde: Option<SerdeRef<V>>,
    pub(crate) repartition_required: bool,
}

impl<K, V> Clone for KStream<K, V> {
    fn clone(&self) -> Self {
        Self {
            graph: self.graph.clone(),
            node: self.node,
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            repartition_required: self.repartition_required,
        }
    }
}

impl<K: Data, V: Data> KStream<K, V> {
    /// Names the operator that produced this stream (Kafka Streams' `Named.as`). Explicit
    /// names keep generated store and topic names derived from them stable.
    pub fn named(self, name: &str) -> Self {
        self.graph.borrow_mut().nodes[self.node].explicit = Some(name.to_owned());
        self
    }

    /// Adds a processor node after this stream's node.
    pub(crate) fn derive<K2, V2>(
        &self,
        kind: &'static str,
        factory: Factory,
        key_serde: Option<SerdeRef<K2>>,
        value_serde: Option<SerdeRef<V2>>,
        repartition_required: bool,
    ) -> KStream<K2, V2> {
        let node = self.graph.borrow_mut().add_node(NodeDraft {
            kind,
            explicit: None,
            role: Role::Processor,
            parents: vec![self.node],
            stores: Vec::new(),
            factory,
        });
        KStream {
            graph: self.graph.clone(),
            node,
            key_serde,
            value_serde,
            repartition_required,
        }
    }
}
