use crate::dsl::{Data, KStream};
use crate::processor::node::{Forward, stateless};
use crate::record::Record;

impl<K: Data, V: Data> KStream<K, V> {
    /// Calls `action` on each record and passes the record on unchanged (for logging or
    /// metrics).
    ///
    /// ```
    /// # use tributary_engine::dsl::*;
    /// # use tributary_engine::serde::*;
    /// # use tributary_engine::{StreamsConfig, TopologyTestDriver};
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// let seen = Arc::new(AtomicUsize::new(0));
    /// let counter = seen.clone();
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream("in", Consumed::with(StringSerde, StringSerde))
    ///     .peek(move |_, _| { counter.fetch_add(1, Ordering::Relaxed); })
    ///     .to("out", Produced::with(StringSerde, StringSerde));
    /// let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.input_topic("in", StringSerde, StringSerde)?.pipe("k".into(), "v".into(), 0)?;
    /// assert_eq!(seen.load(Ordering::Relaxed), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn peek(&self, action: impl Fn(&K, &V) + Send + Sync + 'static) -> KStream<K, V> {
        let factory = stateless(move |cx, forward: &Forward<K, V>, record: Record<K, V>| {
            action(&record.key, &record.value);
            forward.send(cx, record)
        });
        self.derive(
            "peek",
            factory,
            self.key_serde.clone(),
            self.value_serde.clone(),
            self.repartition_required,
        )
    }
}
