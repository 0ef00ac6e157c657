//! [`CogroupedKStream`] and its plain (unwindowed) aggregate.

use std::sync::Arc;

use super::side::{CogroupSide, Init, Side};
use crate::dsl::grouped_stream::KGroupedStream;
use crate::dsl::params::Materialized;
use crate::dsl::table_changes::table_store;
use crate::dsl::windowed::merged;
use crate::dsl::{Data, KTable};
use crate::record::Change;
use crate::serde::SerdeRef;
use crate::topology::graph::{NodeDraft, Role, SharedGraph, StoreUse};
/// Grouped streams to aggregate together, each with its aggregator (Kafka Streams'
/// `CogroupedKStream`), from [`KGroupedStream::cogroup`].
pub struct CogroupedKStream<K, VA> {
    pub(super) graph: SharedGraph,
    pub(super) key_serde: Option<SerdeRef<K>>,
    pub(super) first: Box<dyn CogroupSide<K, VA>>,
    pub(super) more: Vec<Box<dyn CogroupSide<K, VA>>>,
}

impl<K: Data + PartialEq, V: Data> KGroupedStream<K, V> {
    /// Starts a cogrouped aggregation (KIP-150) with this stream, folded into the
    /// aggregate by `aggregator`; add more streams with [`CogroupedKStream::cogroup`], then
    /// [`CogroupedKStream::aggregate`]. Records with a null key or value are skipped (and
    /// counted), as by every stream aggregation.
    ///
    /// ```
    /// # use tributary_engine::dsl::*;
    /// # use tributary_engine::serde::*;
    /// # use tributary_engine::{StreamsConfig, TopologyTestDriver};
    /// let builder = StreamsBuilder::new();
    /// let views = builder.stream("views", Consumed::with(StringSerde, StringSerde)).group_by_key(Grouped::new());
    /// let buys = builder.stream("buys", Consumed::with(StringSerde, I64Serde)).group_by_key(Grouped::new());
    /// views
    ///     .cogroup(|_, _view, (v, b): (i64, i64)| (v + 1, b))
    ///     .cogroup(&buys, |_, amount, (v, b)| (v, b + amount))
    ///     .aggregate(|| (0, 0), Materialized::named("activity").with_value_serde(JsonSerde::<(i64, i64)>::new()));
    /// let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.input_topic("views", StringSerde, StringSerde)?.pipe("ann".into(), "/shoes".into(), 1)?;
    /// driver.input_topic("buys", StringSerde, I64Serde)?.pipe("ann".into(), 40, 2)?;
    /// let activity = driver.key_value_store::<String, (i64, i64)>("activity")?;
    /// assert_eq!(activity.get(&"ann".into())?, Some((1, 40)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cogroup<VA: Data>(
        &self,
        aggregator: impl Fn(&K, V, VA) -> VA + Send + Sync + 'static,
    ) -> CogroupedKStream<K, VA> {
        CogroupedKStream {
            graph: self.stream.graph.clone(),
            key_serde: self.stream.key_serde.clone(),
            first: Box::new(Side::new(self, aggregator)),
            more: Vec::new(),
        }
    }
}

impl<K: Data + PartialEq, VA: Data> CogroupedKStream<K, VA> {
    /// Adds `grouped`, folded into the aggregate by `aggregator`.
    pub fn cogroup<V: Data>(
        mut self,
        grouped: &KGroupedStream<K, V>,
        aggregator: impl Fn(&K, V, VA) -> VA + Send + Sync + 'static,
    ) -> Self {
        self.key_serde = self.key_serde.or(grouped.stream.key_serde.clone());
        self.more.push(Box::new(Side::new(grouped, aggregator)));
        self
    }

    /// Aggregates every input per key, starting each key from `initializer()`; every
    /// update of the aggregate is stamped with the latest record timestamp folded into it.
    /// The aggregate's serde must be given in `materialized`.
    pub fn aggregate(
        self,
        initializer: impl Fn() -> VA + Send + Sync + 'static,
        materialized: Materialized<K, VA>,
    ) -> KTable<K, VA> {
        let kind = "cogroup-aggregate";
        let init: Init<VA> = Arc::new(initializer);
        let graph = &self.graph;
        let (spec, key_serde, value_serde) =
            table_store(graph, kind, &materialized, self.key_serde.clone(), None);
        let (node, stores) = graph.borrow_mut().add_aggregation(
            kind,
            vec![self.first.input(kind)],
            materialized.name,
            vec![(spec, "")],
            self.first.aggregate(kind, init.clone()),
        );
        let mut outputs = vec![node];
        for side in &self.more {
            let input = side.input(kind);
            let factory = side.aggregate(kind, init.clone());
            outputs.push(graph.borrow_mut().add_node(NodeDraft {
                kind,
                explicit: None,
                role: Role::Processor,
                parents: vec![input],
                stores: vec![StoreUse::Owned(stores[0])],
                factory,
            }));
        }
        KTable {
            graph: graph.clone(),
            node: merged::<K, Change<VA>>(graph, outputs),
            key_serde: Some(key_serde),
            value_serde: Some(value_serde),
            view: crate::dsl::ktable::view::TableView::of_store(stores[0]),
        }
    }
}
