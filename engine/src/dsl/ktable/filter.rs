use std::sync::Arc;

use crate::dsl::{Data, KTable};
use crate::processor::node::{Forward, stateless};
use crate::record::{Change, Record};

impl<K: Data, V: Data> KTable<K, V> {
    /// A table of the rows matching `predicate`: a row that stops matching is deleted
    /// downstream.
    ///
    /// ```
    /// # use tributary_engine::dsl::*;
    /// # use tributary_engine::serde::*;
    /// # use tributary_engine::{StreamsConfig, TopologyTestDriver};
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .table("balances", Consumed::with(StringSerde, I64Serde), Materialized::named("balances"))
    ///     .filter(|_, balance| *balance < 0)
    ///     .to_stream()
    ///     .to("overdrawn", Produced::with(StringSerde, nullable(I64Serde)));
    /// let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// let input = driver.input_topic("balances", StringSerde, I64Serde)?;
    /// input.pipe("a".into(), -3, 0)?;
    /// input.pipe("a".into(), 10, 1)?;
    /// let out = driver.output_topic("overdrawn", StringSerde, nullable(I64Serde));
    /// assert_eq!(out.read_key_values()?, vec![("a".into(), Some(-3)), ("a".into(), None)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn filter(
        &self,
        predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static,
    ) -> KTable<K, V> {
        let predicate = Arc::new(predicate);
        let keeps = predicate.clone();
        let factory = stateless(
            move |cx, forward: &Forward<K, Change<V>>, record: Record<K, Change<V>>| {
                let keep = |v: Option<V>| v.filter(|v| predicate(&record.key, v));
                let change = Change {
                    new: keep(record.value.new),
                    old: keep(record.value.old),
                };
                if change.new.is_none() && change.old.is_none() {
                    return Ok(());
                }
                forward.send(
                    cx,
                    Record {
                        key: record.key,
                        value: change,
                        timestamp: record.timestamp,
                        headers: record.headers,
                    },
                )
            },
        );
        let value = Arc::new(move |key: &K, value: V| keeps(key, &value).then_some(value));
        self.derive("table-filter", factory, self.value_serde.clone(), value)
    }

    /// A table of the rows not matching `predicate`.
    pub fn filter_not(
        &self,
        predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static,
    ) -> KTable<K, V> {
        self.filter(move |k, v| !predicate(k, v))
    }
}
