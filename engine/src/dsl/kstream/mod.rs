//! [`KStream`]: an unbounded stream of records, and its operators (one file each).

mod deduplicate;
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
use super::repartition::{repartition, require};
use crate::processor::node::Factory;
use crate::serde::SerdeRef;
use crate::topology::graph::{NodeDraft, Role, SharedGraph};

/// Tells null keys and values of a stream by its serdes.
pub(crate) struct Nulls<K, V> {
    key: Option<SerdeRef<K>>,
    value: Option<SerdeRef<V>>,
}

impl<K, V> Clone for Nulls<K, V> {
    fn clone(&self) -> Self {
        Self {
            key: self.key.clone(),
            value: self.value.clone(),
        }
    }
}

impl<K, V> Nulls<K, V> {
    /// Whether `key` is null.
    pub(crate) fn key(&self, key: &K) -> bool {
        self.key.as_ref().is_some_and(|s| s.is_null(key))
    }

    /// Whether `value` is null.
    pub(crate) fn value(&self, value: &V) -> bool {
        self.value.as_ref().is_some_and(|s| s.is_null(value))
    }
}

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

    /// The node a stateful operator reads this stream from: the stream itself, or a
    /// repartition topic `name` after it when an upstream operator may have changed the
    /// key, so that every record of a key meets in one task. `fix` says how to give the
    /// serdes the repartition topic needs.
    pub(crate) fn keyed_input(
        &self,
        operator: &str,
        name: Option<String>,
        fix: &'static str,
    ) -> usize {
        if !self.repartition_required {
            return self.node;
        }
        let why = "write the repartition topic";
        let key_serde = require(
            &self.graph,
            self.key_serde.clone(),
            operator,
            "key",
            why,
            fix,
        );
        let value_serde = require(
            &self.graph,
            self.value_serde.clone(),
            operator,
            "value",
            why,
            fix,
        );
        repartition(&self.graph, self.node, name, key_serde, value_serde)
    }

    /// Which keys and values of this stream are null (as its serdes say; unknown serdes
    /// say none).
    pub(crate) fn nulls(&self) -> Nulls<K, V> {
        Nulls {
            key: self.key_serde.clone(),
            value: self.value_serde.clone(),
        }
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
