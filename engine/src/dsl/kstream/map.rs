use crate::dsl::{Data, KStream};
use crate::processor::node::{Forward, named_stateless, stateless, user_failure};
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

    /// Replaces each record's key and value with what a fallible `mapper` returns; an
    /// `Err` is a processing error of this node (see [`KStream::try_map_values`]). A later
    /// stateful operator reads the result through a repartition topic.
    ///
    /// ```
    /// # use tributary_engine::dsl::*;
    /// # use tributary_engine::serde::*;
    /// # use tributary_engine::{StreamsConfig, TopologyTestDriver};
    /// // "<user>=<amount>" lines keyed by line number, re-keyed by user.
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream("in", Consumed::with(StringSerde, StringSerde))
    ///     .try_map(|_, line: String| {
    ///         let (user, amount) = line.split_once('=').unwrap_or((&line, ""));
    ///         Ok::<_, std::num::ParseIntError>((user.to_owned(), amount.parse::<i64>()?))
    ///     })
    ///     .to("amounts", Produced::with(StringSerde, I64Serde));
    /// let mut config = StreamsConfig::new("doc");
    /// config.set("processing.exception.handler", "log_and_continue")?;
    /// let driver = TopologyTestDriver::new(builder.build()?, config)?;
    /// let input = driver.input_topic("in", StringSerde, StringSerde)?;
    /// input.pipe("1".into(), "ann=12".into(), 0)?;
    /// input.pipe("2".into(), "bob".into(), 1)?; // no amount: logged, counted, skipped
    /// let out = driver.output_topic("amounts", StringSerde, I64Serde);
    /// assert_eq!(out.read_key_values()?, vec![("ann".to_string(), 12)]);
    /// assert_eq!(driver.metrics().skipped_processing, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_map<K2: Data, V2: Data, E>(
        &self,
        mapper: impl Fn(K, V) -> Result<(K2, V2), E> + Send + Sync + 'static,
    ) -> KStream<K2, V2>
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        let factory = named_stateless(
            move |node: &str, cx, forward: &Forward<K2, V2>, record: Record<K, V>| {
                let (key, value) =
                    mapper(record.key, record.value).map_err(|e| user_failure(node, e))?;
                let out = Record {
                    key,
                    value,
                    timestamp: record.timestamp,
                    headers: record.headers,
                };
                forward.send(cx, out)
            },
        );
        self.derive("try-map", factory, None, None, true)
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
            forward.send(cx, record.map_value(&mapper))
        });
        self.derive(
            "map-values",
            factory,
            self.key_serde.clone(),
            None,
            self.repartition_required,
        )
    }

    /// Replaces each record's value with what a fallible `mapper` returns. An `Err` is a
    /// processing error of this node: by default it stops the task, naming the record;
    /// with `processing.exception.handler = log_and_continue` the record is logged,
    /// counted and skipped.
    ///
    /// ```
    /// # use tributary_engine::dsl::*;
    /// # use tributary_engine::serde::*;
    /// # use tributary_engine::{StreamsConfig, TopologyTestDriver};
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream("in", Consumed::with(StringSerde, StringSerde))
    ///     .try_map_values(|v| v.parse::<i64>())
    ///     .to("numbers", Produced::with(StringSerde, I64Serde));
    /// let mut config = StreamsConfig::new("doc");
    /// config.set("processing.exception.handler", "log_and_continue")?;
    /// let driver = TopologyTestDriver::new(builder.build()?, config)?;
    /// let input = driver.input_topic("in", StringSerde, StringSerde)?;
    /// input.pipe("a".into(), "12".into(), 0)?;
    /// input.pipe("b".into(), "twelve".into(), 1)?; // logged, counted, skipped
    /// let out = driver.output_topic("numbers", StringSerde, I64Serde);
    /// assert_eq!(out.read_key_values()?, vec![("a".to_string(), 12)]);
    /// assert_eq!(driver.metrics().skipped_processing, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_map_values<V2: Data, E>(
        &self,
        mapper: impl Fn(V) -> Result<V2, E> + Send + Sync + 'static,
    ) -> KStream<K, V2>
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        let factory = named_stateless(
            move |node: &str, cx, forward: &Forward<K, V2>, record: Record<K, V>| {
                let record = record
                    .try_map_value(&mapper)
                    .map_err(|e| user_failure(node, e))?;
                forward.send(cx, record)
            },
        );
        self.derive(
            "try-map-values",
            factory,
            self.key_serde.clone(),
            None,
            self.repartition_required,
        )
    }
}
