use crate::dsl::{Data, KStream};
use crate::processor::node::{Forward, named_stateless, stateless, user_failure};
use crate::record::Record;

impl<K: Data, V: Data> KStream<K, V> {
    /// Keeps the records for which `predicate` is true.
    ///
    /// ```
    /// # use tributary_engine::dsl::*;
    /// # use tributary_engine::serde::*;
    /// # use tributary_engine::{StreamsConfig, TopologyTestDriver};
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream("amounts", Consumed::with(StringSerde, I64Serde))
    ///     .filter(|_, amount| *amount >= 100)
    ///     .to("large", Produced::with(StringSerde, I64Serde));
    /// let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// let input = driver.input_topic("amounts", StringSerde, I64Serde)?;
    /// input.pipe("a".to_string(), 50, 0)?;
    /// input.pipe("b".to_string(), 150, 1)?;
    /// let out = driver.output_topic("large", StringSerde, I64Serde);
    /// assert_eq!(out.read_key_values()?, vec![("b".to_string(), 150)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn filter(
        &self,
        predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static,
    ) -> KStream<K, V> {
        let factory = stateless(move |cx, forward: &Forward<K, V>, record: Record<K, V>| {
            if predicate(&record.key, &record.value) {
                forward.send(cx, record)
            } else {
                Ok(())
            }
        });
        self.derive(
            "filter",
            factory,
            self.key_serde.clone(),
            self.value_serde.clone(),
            self.repartition_required,
        )
    }

    /// Keeps the records for which a fallible `predicate` returns `Ok(true)`. An `Err` is a
    /// processing error of this node (see [`KStream::try_map_values`]).
    pub fn try_filter<E>(
        &self,
        predicate: impl Fn(&K, &V) -> Result<bool, E> + Send + Sync + 'static,
    ) -> KStream<K, V>
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        let factory = named_stateless(
            move |node: &str, cx, forward: &Forward<K, V>, record: Record<K, V>| match predicate(
                &record.key,
                &record.value,
            )
            .map_err(|e| user_failure(node, e))?
            {
                true => forward.send(cx, record),
                false => Ok(()),
            },
        );
        self.derive(
            "try-filter",
            factory,
            self.key_serde.clone(),
            self.value_serde.clone(),
            self.repartition_required,
        )
    }

    /// Keeps the records for which `predicate` is false.
    pub fn filter_not(
        &self,
        predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static,
    ) -> KStream<K, V> {
        let factory = stateless(move |cx, forward: &Forward<K, V>, record: Record<K, V>| {
            if predicate(&record.key, &record.value) {
                Ok(())
            } else {
                forward.send(cx, record)
            }
        });
        self.derive(
            "filter-not",
            factory,
            self.key_serde.clone(),
            self.value_serde.clone(),
            self.repartition_required,
        )
    }
}
