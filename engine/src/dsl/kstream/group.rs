use crate::dsl::params::Grouped;
use crate::dsl::{Data, KGroupedStream, KStream};

impl<K: Data, V: Data> KStream<K, V> {
    /// Groups records by their current key for an aggregation. If an upstream operator may
    /// have changed the key, the aggregation reads the stream through a repartition topic
    /// written with `grouped`'s serdes (or the stream's own).
    ///
    /// ```
    /// # use tributary_engine::dsl::*;
    /// # use tributary_engine::serde::*;
    /// # use tributary_engine::{StreamsConfig, TopologyTestDriver};
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream("clicks", Consumed::with(StringSerde, StringSerde))
    ///     .group_by_key(Grouped::new())
    ///     .count(Materialized::named("clicks-per-user"));
    /// let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// let input = driver.input_topic("clicks", StringSerde, StringSerde)?;
    /// input.pipe("ann".into(), "/".into(), 0)?;
    /// input.pipe("ann".into(), "/about".into(), 1)?;
    /// let store = driver.key_value_store::<String, i64>("clicks-per-user")?;
    /// assert_eq!(store.get(&"ann".to_string())?, Some(2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn group_by_key(&self, grouped: Grouped<K, V>) -> KGroupedStream<K, V> {
        let mut stream = self.clone();
        stream.key_serde = grouped.key_serde.or(stream.key_serde);
        stream.value_serde = grouped.value_serde.or(stream.value_serde);
        KGroupedStream {
            stream,
            repartition_name: grouped.name,
        }
    }

    /// Groups records by a new key computed from each record; the aggregation reads them
    /// through a repartition topic, so that all records of a key meet in one task.
    ///
    /// ```
    /// # use tributary_engine::dsl::*;
    /// # use tributary_engine::serde::*;
    /// # use tributary_engine::{StreamsConfig, TopologyTestDriver};
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream("orders", Consumed::with(StringSerde, StringSerde)) // order id → country
    ///     .group_by(|_, country| country.clone(), Grouped::with(StringSerde, StringSerde).with_name("by-country"))
    ///     .count(Materialized::named("orders-per-country"));
    /// let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// let input = driver.input_topic("orders", StringSerde, StringSerde)?;
    /// input.pipe("o1".into(), "NL".into(), 0)?;
    /// input.pipe("o2".into(), "NL".into(), 0)?;
    /// let store = driver.key_value_store::<String, i64>("orders-per-country")?;
    /// assert_eq!(store.get(&"NL".to_string())?, Some(2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn group_by<K2: Data>(
        &self,
        selector: impl Fn(&K, &V) -> K2 + Send + Sync + 'static,
        grouped: Grouped<K2, V>,
    ) -> KGroupedStream<K2, V> {
        let mut stream = self.rekey("group-by", selector);
        stream.key_serde = grouped.key_serde;
        stream.value_serde = grouped.value_serde.or(stream.value_serde);
        KGroupedStream {
            stream,
            repartition_name: grouped.name,
        }
    }
}
