//! [`KGroupedTable`]: table rows regrouped by a new key, ready to aggregate with an adder
//! and a subtractor.

use std::sync::Arc;

use super::params::Materialized;
use super::table_changes::{Materialize, Stamp, Update, materialize};
use super::{Data, KTable};
use crate::record::Change;
use crate::serde::{I64Serde, SerdeRef};
use crate::topology::graph::SharedGraph;

/// Table rows regrouped by `KTable::group_by`.
pub struct KGroupedTable<K, V> {
    pub(crate) graph: SharedGraph,
    /// The node reading the repartition topic.
    pub(crate) input: usize,
    pub(crate) key_serde: SerdeRef<K>,
    pub(crate) value_serde: SerdeRef<V>,
}

impl<K: Data, V: Data> KGroupedTable<K, V> {
    fn aggregate_with<VA: Data>(
        &self,
        kind: &'static str,
        update: Arc<Update<K, Change<V>, VA>>,
        materialized: Materialized<K, VA>,
        value_serde: Option<SerdeRef<VA>>,
    ) -> KTable<K, VA> {
        let what = Materialize {
            kind,
            update,
            stamp: Stamp::Latest,
            null_value: None,
        };
        materialize(
            &self.graph,
            vec![self.input],
            what,
            materialized,
            Some(self.key_serde.clone()),
            value_serde,
        )
    }

    /// Aggregates each group: `adder` folds in rows that join it, `subtractor` takes out
    /// rows that leave it (or are replaced). The aggregate's serde must be given in
    /// `materialized`.
    pub fn aggregate<VA: Data>(
        &self,
        initializer: impl Fn() -> VA + Send + Sync + 'static,
        adder: impl Fn(&K, &V, VA) -> VA + Send + Sync + 'static,
        subtractor: impl Fn(&K, &V, VA) -> VA + Send + Sync + 'static,
        materialized: Materialized<K, VA>,
    ) -> KTable<K, VA> {
        let update: Arc<Update<K, Change<V>, VA>> = Arc::new(move |key, change, old| {
            let mut aggregate = old;
            if let Some(leaving) = change.old {
                aggregate = Some(subtractor(
                    key,
                    &leaving,
                    aggregate.unwrap_or_else(&initializer),
                ));
            }
            if let Some(joining) = change.new {
                aggregate = Some(adder(key, &joining, aggregate.unwrap_or_else(&initializer)));
            }
            aggregate
        });
        self.aggregate_with("table-aggregate", update, materialized, None)
    }

    /// Combines each group's rows with `adder`, taking leaving rows out with `subtractor`.
    pub fn reduce(
        &self,
        adder: impl Fn(V, V) -> V + Send + Sync + 'static,
        subtractor: impl Fn(V, V) -> V + Send + Sync + 'static,
        materialized: Materialized<K, V>,
    ) -> KTable<K, V> {
        let update: Arc<Update<K, Change<V>, V>> = Arc::new(move |_, change, old| {
            let mut aggregate = old;
            if let Some(leaving) = change.old {
                aggregate = aggregate.map(|a| subtractor(a, leaving));
            }
            if let Some(joining) = change.new {
                aggregate = Some(match aggregate {
                    None => joining,
                    Some(a) => adder(a, joining),
                });
            }
            aggregate
        });
        self.aggregate_with(
            "table-reduce",
            update,
            materialized,
            Some(self.value_serde.clone()),
        )
    }

    /// Counts the rows in each group.
    pub fn count(&self, materialized: Materialized<K, i64>) -> KTable<K, i64> {
        let update: Arc<Update<K, Change<V>, i64>> = Arc::new(|_, change, old| {
            let joined = i64::from(change.new.is_some());
            let left = i64::from(change.old.is_some());
            Some(old.unwrap_or(0) + joined - left)
        });
        self.aggregate_with(
            "table-count",
            update,
            materialized,
            Some(Arc::new(I64Serde)),
        )
    }
}
