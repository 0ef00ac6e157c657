//! `KStream::join_global` and `left_join_global`: Kafka Streams' stream-global-table joins.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use super::Joiner;
use super::stream_table::{Found, StreamTableJoin};
use crate::dsl::{Data, GlobalKTable, KStream};
use crate::processor::node::{NodeRef, node_factory};

/// Computes a stream record's key in the global table.
type KeySelector<K, V, GK> = Arc<dyn Fn(&K, &V) -> GK + Send + Sync>;

impl<K: Data, V: Data> KStream<K, V> {
    /// Joins each record with the global table's row of the key `key_selector` computes
    /// from it (Kafka Streams' `KStream#join(GlobalKTable, …)`): `joiner(value, row)`
    /// becomes the value of a record with the same key, timestamp and headers. No
    /// co-partitioning or repartitioning: every instance holds the whole table. Records
    /// with a null value, or whose selected key is null, are skipped (and counted). The
    /// table's updates arrive on their own thread, so a record meets the row as it is when
    /// the record is processed, not as of the record's time.
    ///
    /// ```
    /// # use tributary_engine::dsl::*;
    /// # use tributary_engine::serde::*;
    /// # use tributary_engine::{StreamsConfig, TopologyTestDriver};
    /// let builder = StreamsBuilder::new();
    /// let countries = builder.global_table("countries", Consumed::with(StringSerde, StringSerde), Materialized::named("countries"));
    /// builder
    ///     .stream("orders", Consumed::with(StringSerde, StringSerde))
    ///     .join_global(&countries, |_, order| order.split(':').next().unwrap_or("").to_owned(), |order, country| format!("{order} ({country})"))
    ///     .to("placed", Produced::with(StringSerde, StringSerde));
    /// let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.input_topic("countries", StringSerde, StringSerde)?.pipe("fr".into(), "France".into(), 1)?;
    /// driver.input_topic("orders", StringSerde, StringSerde)?.pipe("o1".into(), "fr:book".into(), 2)?;
    /// let out = driver.output_topic("placed", StringSerde, StringSerde);
    /// assert_eq!(out.read_key_values()?, vec![("o1".into(), "fr:book (France)".into())]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn join_global<GK: Data, GV: Data, VR: Data>(
        &self,
        global: &GlobalKTable<GK, GV>,
        key_selector: impl Fn(&K, &V) -> GK + Send + Sync + 'static,
        joiner: impl Fn(&V, &GV) -> VR + Send + Sync + 'static,
    ) -> KStream<K, VR> {
        let joiner = Joiner::Inner(Arc::new(joiner));
        self.join_global_with("stream-global-join", global, Arc::new(key_selector), joiner)
    }

    /// Joins each record with the global table's row of the key `key_selector` computes,
    /// or with nothing (Kafka Streams' `KStream#leftJoin(GlobalKTable, …)`): every record
    /// with a value gives `joiner(value, row)`, `row` being `None` when the table has no row
    /// for the selected key. Otherwise as [`KStream::join_global`].
    pub fn left_join_global<GK: Data, GV: Data, VR: Data>(
        &self,
        global: &GlobalKTable<GK, GV>,
        key_selector: impl Fn(&K, &V) -> GK + Send + Sync + 'static,
        joiner: impl Fn(&V, Option<&GV>) -> VR + Send + Sync + 'static,
    ) -> KStream<K, VR> {
        let joiner = Joiner::Left(Arc::new(joiner));
        self.join_global_with(
            "stream-global-left-join",
            global,
            Arc::new(key_selector),
            joiner,
        )
    }

    fn join_global_with<GK: Data, GV: Data, VR: Data>(
        &self,
        kind: &'static str,
        global: &GlobalKTable<GK, GV>,
        key_selector: KeySelector<K, V, GK>,
        joiner: Joiner<V, GV, VR>,
    ) -> KStream<K, VR> {
        let (global, nulls) = (global.clone(), self.nulls());
        let factory = node_factory::<K, V, K, VR>(move |cx, forward| {
            let table = cx.global(
                global.index,
                global.key_serde.clone(),
                global.value_serde.clone(),
            )?;
            let (selector, key_serde) = (key_selector.clone(), global.key_serde.clone());
            let node = StreamTableJoin {
                kind,
                lookup: Box::new(move |key: &K, value: &V| {
                    let selected = selector(key, value);
                    match key_serde.is_null(&selected) {
                        true => Ok(Found::NullKey),
                        false => table.get(&selected).map(Found::Row),
                    }
                }),
                joiner: joiner.clone(),
                nulls: nulls.clone(),
                forward,
            };
            Ok(Rc::new(RefCell::new(node)) as NodeRef<K, V>)
        });
        self.derive(
            kind,
            factory,
            self.key_serde.clone(),
            None,
            self.repartition_required,
        )
    }
}
