use crate::dsl::{Data, KStream};
use crate::processor::node::{Forward, stateless};
use crate::record::Record;

impl<K: Data, V: Data> KStream<K, V> {
    /// Replaces each record's key and value. The key may change, so a later stateful
    /// operator reads the result through a repartition topic.
    ///
    /// ```
    /// # use tributary_engine::dsl::*;
    /// # use tributary_engine::serde::*;
    /// # use tributary_engine::{StreamsConfig, TopologyTestDriver};
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream("in", Consumed::with(StringSerde, StringSerde))
    ///     .map(|k, v| (v, k))
    ///     .to("swapped", Produced::with(StringSerde, StringSerde));
    /// let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.input_topic("in", StringSerde, StringSerde)?.pipe("k".into(), "v".into(), 0)?;
    /// let out = driver.output_topic("swapped", StringSerde, StringSerde);
    /// assert_eq!(out.read_key_values()?, vec![("v".to_string(), "k".to_string())]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn map<K2: Data, V2: Data>(
        &self,
        mapper: impl Fn(K, V) -> (K2, V2) + Send + Sync + 'static,
    ) -> KStream<K2, V2> {
        let factory = stateless(move |cx, forward: &Forward<K2, V2>, record: Record<K, V>| {
            let (key, value) = mapper(record.key, record.value);
            forward.send(
                cx,
                Record {
                    key,
                    value,
                    timestamp: record.timestamp,
                    headers: record.headers,
                },
            )
        });
        self.derive("map", factory, None, None, true)
    }

    /// Replaces each record's value; the key, and so the partitioning, stays.
    ///
    /// ```
    /// # use tributary_engine::dsl::*;
    /// # use tributary_engine::serde::*;
    /// # use tributary_engine::{StreamsConfig, TopologyTestDriver};
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream("in", Consumed::with(StringSerde, StringSerde))
    ///     .map_values(|v| v.len() as i64)
    ///     .to("lengths", Produced::with(StringSerde, I64Serde));
    /// let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.input_topic("in", StringSerde, StringSerde)?.pipe("k".into(), "four".into(), 0)?;
    /// let out = driver.output_topic("lengths", StringSerde, I64Serde);
    /// assert_eq!(out.read_key_values()?, vec![("k".to_string(), 4)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn map_values<V2: Data>(
        &self,
        mapper: impl Fn(V) -> V2 + Send + Sync + 'static,
    ) -> KStream<K, V2> {
        let factory = stateless(move |cx, forward: &Forward<K, V2>, record: Record<K, V>| {
            let value = mapper(record.value);
            forward.send(
                cx,
                Record {
                    key: record.key,
                    value,
                    timestamp: record.timestamp,
                    headers: record.headers,
                },
            )
        });
        self.derive(
            "map-values",
            factory,
            self.key_serde.clone(),
            None,
            self.repartition_required,
        )
    }
}
