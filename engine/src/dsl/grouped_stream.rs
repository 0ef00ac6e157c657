//! [`KGroupedStream`]: a stream grouped by key, ready to aggregate into a table.

use std::sync::Arc;

use super::params::Materialized;
use super::repartition::require;
use super::table_changes::{IsNull, Materialize, Stamp, Update, materialize};
use super::{Data, KStream, KTable};
use crate::serde::{I64Serde, SerdeRef};

/// A stream grouped by key (from `group_by_key` or `group_by`).
pub struct KGroupedStream<K, V> {
    pub(crate) stream: KStream<K, V>,
    pub(crate) repartition_name: Option<String>,
}

impl<K: Data, V: Data> KGroupedStream<K, V> {
    /// The node aggregations read from: the stream itself, or a repartition topic after it
    /// when its key may have changed.
    pub(crate) fn input(&self, operator: &str) -> usize {
        self.stream.keyed_input(
            operator,
            self.repartition_name.clone(),
            "pass `Grouped::with(key_serde, value_serde)` when grouping",
        )
    }

    /// The key and value serdes of an aggregation's store: those in `materialized`, else
    /// the stream's key serde and `value_serde`; a missing one is a topology error.
    pub(crate) fn store_serdes<VA: Data>(
        &self,
        kind: &str,
        materialized: &Materialized<K, VA>,
        value_serde: Option<SerdeRef<VA>>,
    ) -> (SerdeRef<K>, SerdeRef<VA>) {
        let graph = &self.stream.graph;
        let fix = "give it in `Materialized` (with_key_serde / with_value_serde) or upstream";
        let key_serde = materialized.key_serde.clone();
        let key_serde = key_serde.or(self.stream.key_serde.clone());
        let key_serde = require(graph, key_serde, kind, "key", "store keys", fix);
        let value_serde = materialized.value_serde.clone().or(value_serde);
        let value_serde = require(graph, value_serde, kind, "value", "store values", fix);
        (key_serde, value_serde)
    }

    /// Which input values are null: records with a null key or value are skipped by
    /// stream aggregations, as in Kafka Streams.
    pub(crate) fn null_values(&self) -> Option<IsNull<V>> {
        let serde = self.stream.value_serde.clone()?;
        Some(Arc::new(move |value: &V| serde.is_null(value)))
    }

    fn aggregate_with<VA: Data>(
        &self,
        kind: &'static str,
        update: Arc<Update<K, V, VA>>,
        materialized: Materialized<K, VA>,
        value_serde: Option<SerdeRef<VA>>,
    ) -> KTable<K, VA> {
        let input = self.input(kind);
        let what = Materialize {
            kind,
            update,
            stamp: Stamp::Latest,
            null_value: self.null_values(),
        };
        materialize(
            &self.stream.graph,
            vec![input],
            what,
            materialized,
            self.stream.key_serde.clone(),
            value_serde,
        )
    }

    /// Counts the records per key.
    ///
    /// ```
    /// # use tributary_engine::dsl::*;
    /// # use tributary_engine::serde::*;
    /// # use tributary_engine::{StreamsConfig, TopologyTestDriver};
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream("logins", Consumed::with(StringSerde, StringSerde))
    ///     .group_by_key(Grouped::new())
    ///     .count(Materialized::named("logins-per-user"))
    ///     .to_stream()
    ///     .to("login-counts", Produced::with(StringSerde, nullable(I64Serde)));
    /// let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// let input = driver.input_topic("logins", StringSerde, StringSerde)?;
    /// input.pipe("bo".into(), "web".into(), 0)?;
    /// input.pipe("bo".into(), "app".into(), 1)?;
    /// let out = driver.output_topic("login-counts", StringSerde, nullable(I64Serde));
    /// assert_eq!(out.read_key_values()?, vec![("bo".into(), Some(1)), ("bo".into(), Some(2))]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn count(&self, materialized: Materialized<K, i64>) -> KTable<K, i64> {
        let update: Arc<Update<K, V, i64>> = Arc::new(|_, _, old| Some(old.unwrap_or(0) + 1));
        self.aggregate_with("count", update, materialized, Some(Arc::new(I64Serde)))
    }

    /// Combines the values of each key with `reducer` (the first value starts the
    /// aggregate). The store's value serde defaults to the stream's.
    ///
    /// ```
    /// # use tributary_engine::dsl::*;
    /// # use tributary_engine::serde::*;
    /// # use tributary_engine::{StreamsConfig, TopologyTestDriver};
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream("payments", Consumed::with(StringSerde, I64Serde))
    ///     .group_by_key(Grouped::new())
    ///     .reduce(|a, b| a + b, Materialized::named("paid-per-user"));
    /// let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// let input = driver.input_topic("payments", StringSerde, I64Serde)?;
    /// input.pipe("cy".into(), 5, 0)?;
    /// input.pipe("cy".into(), 7, 1)?;
    /// let store = driver.key_value_store::<String, i64>("paid-per-user")?;
    /// assert_eq!(store.get(&"cy".to_string())?, Some(12));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reduce(
        &self,
        reducer: impl Fn(V, V) -> V + Send + Sync + 'static,
        materialized: Materialized<K, V>,
    ) -> KTable<K, V> {
        let update: Arc<Update<K, V, V>> = Arc::new(move |_, value, old| {
            Some(match old {
                None => value,
                Some(aggregate) => reducer(aggregate, value),
            })
        });
        self.aggregate_with(
            "reduce",
            update,
            materialized,
            self.stream.value_serde.clone(),
        )
    }

    /// Folds the values of each key into an aggregate that starts from `initializer`. The
    /// aggregate's serde must be given in `materialized`.
    ///
    /// ```
    /// # use tributary_engine::dsl::*;
    /// # use tributary_engine::serde::*;
    /// # use tributary_engine::{StreamsConfig, TopologyTestDriver};
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream("events", Consumed::with(StringSerde, StringSerde))
    ///     .group_by_key(Grouped::new())
    ///     .aggregate(
    ///         Vec::<String>::new,
    ///         |_, event, mut all| { all.push(event.clone()); all },
    ///         Materialized::named("history").with_value_serde(JsonSerde::new()),
    ///     );
    /// let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// let input = driver.input_topic("events", StringSerde, StringSerde)?;
    /// input.pipe("u".into(), "a".into(), 0)?;
    /// input.pipe("u".into(), "b".into(), 1)?;
    /// let store = driver.key_value_store::<String, Vec<String>>("history")?;
    /// assert_eq!(store.get(&"u".to_string())?, Some(vec!["a".into(), "b".into()]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn aggregate<VA: Data>(
        &self,
        initializer: impl Fn() -> VA + Send + Sync + 'static,
        aggregator: impl Fn(&K, &V, VA) -> VA + Send + Sync + 'static,
        materialized: Materialized<K, VA>,
    ) -> KTable<K, VA> {
        let update: Arc<Update<K, V, VA>> = Arc::new(move |key, value, old| {
            Some(aggregator(key, &value, old.unwrap_or_else(&initializer)))
        });
        self.aggregate_with("aggregate", update, materialized, None)
    }
}
