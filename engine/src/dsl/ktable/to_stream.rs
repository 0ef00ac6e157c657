use std::sync::Arc;

use crate::dsl::{Data, KStream, KTable};
use crate::processor::node::{Forward, stateless};
use crate::record::{Change, Record};
use crate::serde::{OptionSerde, SerdeRef};

impl<K: Data, V: Data> KTable<K, V> {
    /// The table's updates as a stream: each update's new value, `None` for a delete (a
    /// tombstone when written to a topic).
    ///
    /// ```
    /// # use tributary_engine::dsl::*;
    /// # use tributary_engine::serde::*;
    /// # use tributary_engine::{StreamsConfig, TopologyTestDriver};
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .table("users", Consumed::with(StringSerde, StringSerde), Materialized::named("users"))
    ///     .to_stream()
    ///     .to("user-updates", Produced::with(StringSerde, nullable(StringSerde)));
    /// let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// let input = driver.input_topic("users", StringSerde, StringSerde)?;
    /// input.pipe("1".into(), "Ada".into(), 0)?;
    /// input.pipe_raw(Some(b"1"), None, 1)?; // a tombstone deletes user 1
    /// let out = driver.output_topic("user-updates", StringSerde, nullable(StringSerde));
    /// assert_eq!(out.read_key_values()?, vec![("1".into(), Some("Ada".into())), ("1".into(), None)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_stream(&self) -> KStream<K, Option<V>> {
        let factory = stateless(
            |cx, forward: &Forward<K, Option<V>>, record: Record<K, Change<V>>| {
                forward.send(cx, record.map_value(|change| change.new))
            },
        );
        let node = self.then("to-stream", factory);
        let value_serde = self
            .value_serde
            .clone()
            .map(|s| Arc::new(OptionSerde::new(s)) as SerdeRef<Option<V>>);
        KStream {
            graph: self.graph.clone(),
            node,
            key_serde: self.key_serde.clone(),
            value_serde,
            repartition_required: false,
        }
    }
}
