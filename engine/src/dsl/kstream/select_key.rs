use crate::dsl::{Data, KStream};
use crate::processor::node::{Forward, stateless};
use crate::record::Record;

impl<K: Data, V: Data> KStream<K, V> {
    /// Gives each record a new key computed from it; the value stays. A later stateful
    /// operator reads the result through a repartition topic.
    ///
    /// ```
    /// # use tributary_engine::dsl::*;
    /// # use tributary_engine::serde::*;
    /// # use tributary_engine::{StreamsConfig, TopologyTestDriver};
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream("in", Consumed::with(StringSerde, StringSerde))
    ///     .select_key(|_, v| v.to_uppercase())
    ///     .to("by-value", Produced::with(StringSerde, StringSerde));
    /// let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.input_topic("in", StringSerde, StringSerde)?.pipe("k".into(), "v".into(), 0)?;
    /// let out = driver.output_topic("by-value", StringSerde, StringSerde);
    /// assert_eq!(out.read_key_values()?, vec![("V".to_string(), "v".to_string())]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn select_key<K2: Data>(
        &self,
        selector: impl Fn(&K, &V) -> K2 + Send + Sync + 'static,
    ) -> KStream<K2, V> {
        self.rekey("select-key", selector)
    }

    /// A node giving each record the key `selector` computes, marked for repartitioning.
    pub(crate) fn rekey<K2: Data>(
        &self,
        kind: &'static str,
        selector: impl Fn(&K, &V) -> K2 + Send + Sync + 'static,
    ) -> KStream<K2, V> {
        let factory = stateless(move |cx, forward: &Forward<K2, V>, record: Record<K, V>| {
            let key = selector(&record.key, &record.value);
            let value = record.value;
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
        self.derive(kind, factory, None, self.value_serde.clone(), true)
    }
}
