//! One input of a cogrouped aggregation: a grouped stream and its aggregator, which builds
//! the input's node for a plain or a windowed aggregate.

use std::sync::Arc;

use crate::dsl::Data;
use crate::dsl::grouped_stream::KGroupedStream;
use crate::dsl::table_changes::{Materialize, Stamp, Update, materializer};
use crate::dsl::windowed::{Aggregation, Merge, WindowPlan};
use crate::processor::node::Factory;

/// Starts a key's (or window's) aggregate.
pub(super) type Init<VA> = Arc<dyn Fn() -> VA + Send + Sync>;

/// An input of a cogrouped aggregation, whatever its value type.
pub(super) trait CogroupSide<K, VA> {
    /// The node its records come from: the stream, or a repartition topic after it.
    fn input(&self, operator: &str) -> usize;

    /// Its node in a plain aggregate `kind` (the store is the node's first).
    fn aggregate(&self, kind: &'static str, init: Init<VA>) -> Factory;

    /// Its node in a windowed aggregate planned by `plan`; `merge` combines sessions.
    fn windowed(
        &self,
        plan: &WindowPlan<K, VA>,
        init: Init<VA>,
        merge: Option<Arc<Merge<K, VA>>>,
    ) -> Factory;
}

/// Folds a value into the aggregate.
type Aggregator<K, V, VA> = Arc<dyn Fn(&K, V, VA) -> VA + Send + Sync>;

/// A grouped stream of `V` values and how they fold into the aggregate.
pub(super) struct Side<K, V, VA> {
    grouped: KGroupedStream<K, V>,
    aggregator: Aggregator<K, V, VA>,
}

impl<K: Data, V: Data, VA> Side<K, V, VA> {
    pub(super) fn new(
        grouped: &KGroupedStream<K, V>,
        aggregator: impl Fn(&K, V, VA) -> VA + Send + Sync + 'static,
    ) -> Self {
        Self {
            grouped: KGroupedStream {
                stream: grouped.stream.clone(),
                repartition_name: grouped.repartition_name.clone(),
            },
            aggregator: Arc::new(aggregator),
        }
    }
}

impl<K: Data + PartialEq, V: Data, VA: Data> CogroupSide<K, VA> for Side<K, V, VA> {
    fn input(&self, operator: &str) -> usize {
        self.grouped.input(operator)
    }

    fn aggregate(&self, kind: &'static str, init: Init<VA>) -> Factory {
        let aggregator = self.aggregator.clone();
        let update: Arc<Update<K, V, VA>> = Arc::new(move |key, value, old| {
            Some(aggregator(key, value, old.unwrap_or_else(|| init())))
        });
        materializer(Materialize {
            kind,
            update,
            stamp: Stamp::Latest,
            null_value: self.grouped.null_values(),
        })
    }

    fn windowed(
        &self,
        plan: &WindowPlan<K, VA>,
        init: Init<VA>,
        merge: Option<Arc<Merge<K, VA>>>,
    ) -> Factory {
        let aggregator = self.aggregator.clone();
        let aggregation = Aggregation {
            add: Arc::new(move |key: &K, value, acc: Option<VA>| {
                aggregator(key, value, acc.unwrap_or_else(|| init()))
            }),
            merge,
        };
        plan.factory(
            aggregation,
            plan.skips_null_values()
                .then(|| self.grouped.null_values())
                .flatten(),
        )
    }
}
