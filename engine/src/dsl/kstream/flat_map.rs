use crate::dsl::{Data, KStream};
use crate::error::StreamsError;
use crate::processor::TaskContext;
use crate::processor::node::{Forward, named_stateless, stateless, user_failure};
use crate::record::Record;

impl<K: Data, V: Data> KStream<K, V> {
    /// Replaces each record with zero or more records. Keys may change, so a later
    /// stateful operator reads the result through a repartition topic.
    ///
    /// ```
    /// # use tributary_engine::dsl::*;
    /// # use tributary_engine::serde::*;
    /// # use tributary_engine::{StreamsConfig, TopologyTestDriver};
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream("in", Consumed::with(StringSerde, StringSerde))
    ///     .flat_map(|_, v| v.split(',').map(|p| (p.to_string(), 1i64)).collect::<Vec<_>>())
    ///     .to("parts", Produced::with(StringSerde, I64Serde));
    /// let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.input_topic("in", StringSerde, StringSerde)?.pipe("k".into(), "a,b".into(), 0)?;
    /// let out = driver.output_topic("parts", StringSerde, I64Serde);
    /// assert_eq!(out.read_key_values()?, vec![("a".to_string(), 1), ("b".to_string(), 1)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn flat_map<K2: Data, V2: Data, I>(
        &self,
        mapper: impl Fn(K, V) -> I + Send + Sync + 'static,
    ) -> KStream<K2, V2>
    where
        I: IntoIterator<Item = (K2, V2)>,
    {
        let factory = stateless(move |cx, forward: &Forward<K2, V2>, record: Record<K, V>| {
            for (key, value) in mapper(record.key, record.value) {
                forward.send(
                    cx,
                    Record {
                        key,
                        value,
                        timestamp: record.timestamp,
                        headers: record.headers.clone(),
                    },
                )?;
            }
            Ok(())
        });
        self.derive("flat-map", factory, None, None, true)
    }

    /// Replaces each record's value with zero or more values under the same key.
    ///
    /// ```
    /// # use tributary_engine::dsl::*;
    /// # use tributary_engine::serde::*;
    /// # use tributary_engine::{StreamsConfig, TopologyTestDriver};
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream("in", Consumed::with(StringSerde, StringSerde))
    ///     .flat_map_values(|v| v.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
    ///     .to("words", Produced::with(StringSerde, StringSerde));
    /// let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.input_topic("in", StringSerde, StringSerde)?.pipe("k".into(), "x y".into(), 0)?;
    /// let out = driver.output_topic("words", StringSerde, StringSerde);
    /// assert_eq!(out.read_key_values()?, vec![("k".into(), "x".into()), ("k".into(), "y".into())]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn flat_map_values<V2: Data, I>(
        &self,
        mapper: impl Fn(V) -> I + Send + Sync + 'static,
    ) -> KStream<K, V2>
    where
        I: IntoIterator<Item = V2>,
    {
        let factory = stateless(move |cx, forward: &Forward<K, V2>, record: Record<K, V>| {
            forward_each(cx, forward, record, |value| Ok(mapper(value)))
        });
        self.derive(
            "flat-map-values",
            factory,
            self.key_serde.clone(),
            None,
            self.repartition_required,
        )
    }

    /// Replaces each record with the records of the values a fallible `mapper` returns
    /// (each with the record's key); an `Err` is a processing error of this node (see
    /// [`KStream::try_map_values`]), and nothing of the record is forwarded.
    ///
    /// ```
    /// # use tributary_engine::dsl::*;
    /// # use tributary_engine::serde::*;
    /// # use tributary_engine::{StreamsConfig, TopologyTestDriver};
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream("in", Consumed::with(StringSerde, StringSerde))
    ///     .try_flat_map_values(|v| {
    ///         v.split(',').map(str::parse::<i64>).collect::<Result<Vec<_>, _>>()
    ///     })
    ///     .to("numbers", Produced::with(StringSerde, I64Serde));
    /// let mut config = StreamsConfig::new("doc");
    /// config.set("processing.exception.handler", "log_and_continue")?;
    /// let driver = TopologyTestDriver::new(builder.build()?, config)?;
    /// let input = driver.input_topic("in", StringSerde, StringSerde)?;
    /// input.pipe("a".into(), "1,2".into(), 0)?;
    /// input.pipe("b".into(), "3,x".into(), 1)?; // fails: nothing of it is forwarded
    /// let out = driver.output_topic("numbers", StringSerde, I64Serde);
    /// assert_eq!(out.read_key_values()?, vec![("a".into(), 1), ("a".into(), 2)]);
    /// assert_eq!(driver.metrics().skipped_processing, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_flat_map_values<V2: Data, I, E>(
        &self,
        mapper: impl Fn(V) -> Result<I, E> + Send + Sync + 'static,
    ) -> KStream<K, V2>
    where
        I: IntoIterator<Item = V2>,
        E: std::error::Error + Send + Sync + 'static,
    {
        let factory = named_stateless(
            move |node: &str, cx, forward: &Forward<K, V2>, record: Record<K, V>| {
                forward_each(cx, forward, record, |value| {
                    mapper(value).map_err(|e| user_failure(node, e))
                })
            },
        );
        self.derive(
            "try-flat-map-values",
            factory,
            self.key_serde.clone(),
            None,
            self.repartition_required,
        )
    }
}

/// Forwards one record per value that `values` makes of `record`'s value, each with the
/// record's key, time and headers; nothing when `values` fails.
fn forward_each<K: Data, V, V2: Data, I: IntoIterator<Item = V2>>(
    cx: &mut TaskContext,
    forward: &Forward<K, V2>,
    record: Record<K, V>,
    values: impl FnOnce(V) -> Result<I, StreamsError>,
) -> Result<(), StreamsError> {
    let Record {
        key,
        value,
        timestamp,
        headers,
    } = record;
    for value in values(value)? {
        let out = Record {
            key: key.clone(),
            value,
            timestamp,
            headers: headers.clone(),
        };
        forward.send(cx, out)?;
    }
    Ok(())
}
