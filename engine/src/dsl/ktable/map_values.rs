use std::sync::Arc;

use crate::dsl::ktable::map_change;
use crate::dsl::{Data, KTable};
use crate::processor::node::{Forward, stateless};
use crate::record::{Change, Record};

impl<K: Data, V: Data> KTable<K, V> {
    /// A table with each row's value replaced by `mapper`'s result.
    ///
    /// ```
    /// # use tributary_engine::dsl::*;
    /// # use tributary_engine::serde::*;
    /// # use tributary_engine::{StreamsConfig, TopologyTestDriver};
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .table("names", Consumed::with(StringSerde, StringSerde), Materialized::named("names"))
    ///     .map_values(|name| name.len() as i64)
    ///     .to_stream()
    ///     .to("name-lengths", Produced::with(StringSerde, nullable(I64Serde)));
    /// let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.input_topic("names", StringSerde, StringSerde)?.pipe("1".into(), "Ada".into(), 0)?;
    /// let out = driver.output_topic("name-lengths", StringSerde, nullable(I64Serde));
    /// assert_eq!(out.read_key_values()?, vec![("1".into(), Some(3))]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn map_values<V2: Data>(
        &self,
        mapper: impl Fn(V) -> V2 + Send + Sync + 'static,
    ) -> KTable<K, V2> {
        let mapper = Arc::new(mapper);
        let maps = mapper.clone();
        let factory = stateless(
            move |cx, forward: &Forward<K, Change<V2>>, record: Record<K, Change<V>>| {
                forward.send(cx, record.map_value(|change| map_change(change, &*mapper)))
            },
        );
        let value = Arc::new(move |_: &K, value: V| Some(maps(value)));
        self.derive("table-map-values", factory, None, value)
    }
}
