//! [`KTable`]: the latest value per key, and its operators (one file each).

mod filter;
mod group_by;
mod map_values;
pub(crate) mod source;
mod to_stream;
pub(crate) mod view;

use super::Data;
use crate::processor::node::Factory;
use crate::record::Change;
use crate::serde::SerdeRef;
use crate::topology::graph::{NodeDraft, Role, SharedGraph};
use view::{RowFn, TableView};

/// A changelog stream read as a table: each record updates its key. Downstream operators
/// see every update as a [`Change`] with the new and the old value, which is how
/// aggregations over tables retract old values.
pub struct KTable<K, V> {
    pub(crate) graph: SharedGraph,
    pub(crate) node: usize,
    pub(crate) key_serde: Option<SerdeRef<K>>,
    pub(crate) value_serde: Option<SerdeRef<V>>,
    /// How joins look the table up.
    pub(crate) view: TableView<K, V>,
}

impl<K: Data, V: Data> KTable<K, V> {
    /// Names the operator that produced this table.
    pub fn named(self, name: &str) -> Self {
        self.graph.borrow_mut().nodes[self.node].explicit = Some(name.to_owned());
        self
    }

    /// A table derived from this one by a node `kind` that `factory` builds; `value` says
    /// what a row of it is, given this table's row (for lookups).
    pub(crate) fn derive<V2: Data>(
        &self,
        kind: &'static str,
        factory: Factory,
        value_serde: Option<SerdeRef<V2>>,
        value: RowFn<K, V, V2>,
    ) -> KTable<K, V2> {
        let node = self.then(kind, factory);
        KTable {
            graph: self.graph.clone(),
            node,
            key_serde: self.key_serde.clone(),
            value_serde,
            view: self.view.derive(value),
        }
    }
}

impl<K, V> KTable<K, V> {
    /// Adds a processor node `kind`, built by `factory`, that receives this table's
    /// changes; returns it.
    pub(crate) fn then(&self, kind: &'static str, factory: Factory) -> usize {
        self.graph.borrow_mut().add_node(NodeDraft {
            kind,
            explicit: None,
            role: Role::Processor,
            parents: vec![self.node],
            stores: Vec::new(),
            factory,
        })
    }
}

/// Applies `f` to both sides of a change.
pub(crate) fn map_change<V, V2>(change: Change<V>, f: impl Fn(V) -> V2) -> Change<V2> {
    Change {
        new: change.new.map(&f),
        old: change.old.map(&f),
    }
}
