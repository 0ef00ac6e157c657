use std::sync::Arc;

use crate::dsl::params::Grouped;
use crate::dsl::repartition::{repartition, require};
use crate::dsl::{Data, KGroupedTable, KTable};
use crate::processor::TaskContext;
use crate::processor::node::{Forward, stateless};
use crate::record::{Change, Record};
use crate::serde::{ChangeSerde, Serde, SerdeRef};

impl<K: Data, V: Data> KTable<K, V> {
    /// Regroups the table's rows under new keys for an aggregation. An update that moves a
    /// row to another group is sent through a repartition topic as a retraction of the old
    /// row (to its old group) and an addition of the new row (to its new group), so
    /// aggregates stay right; an update that keeps the row in its group is sent as one
    /// update (Kafka Streams' KIP-904). Rows whose selected key or value is null join no
    /// group.
    ///
    /// ```
    /// # use tributary_engine::dsl::*;
    /// # use tributary_engine::serde::*;
    /// # use tributary_engine::{StreamsConfig, TopologyTestDriver};
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .table("user-region", Consumed::with(StringSerde, StringSerde), Materialized::named("user-region"))
    ///     .group_by(|user, region| (region.clone(), user.clone()), Grouped::with(StringSerde, StringSerde))
    ///     .count(Materialized::named("users-per-region"));
    /// let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// let input = driver.input_topic("user-region", StringSerde, StringSerde)?;
    /// input.pipe("ann".into(), "eu".into(), 0)?;
    /// input.pipe("ann".into(), "us".into(), 1)?; // ann moves: eu loses her, us gains her
    /// let store = driver.key_value_store::<String, i64>("users-per-region")?;
    /// assert_eq!(store.get(&"eu".to_string())?, Some(0));
    /// assert_eq!(store.get(&"us".to_string())?, Some(1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn group_by<K2: Data, V2: Data>(
        &self,
        selector: impl Fn(&K, &V) -> (K2, V2) + Send + Sync + 'static,
        grouped: Grouped<K2, V2>,
    ) -> KGroupedTable<K2, V2> {
        let fix = "pass `Grouped::with(key_serde, value_serde)` to `KTable::group_by`";
        let key_serde = require(
            &self.graph,
            grouped.key_serde,
            "table-group-by",
            "key",
            "write the repartition topic",
            fix,
        );
        let value_serde = require(
            &self.graph,
            grouped.value_serde,
            "table-group-by",
            "value",
            "write the repartition topic",
            fix,
        );
        let (keys, values) = (key_serde.clone(), value_serde.clone());
        let factory = stateless(
            move |cx, forward: &Forward<K2, Change<V2>>, record: Record<K, Change<V>>| {
                // A row whose selected key or value is null joins no group.
                let select = |row: &V| {
                    let (key, value) = selector(&record.key, row);
                    (!keys.is_null(&key) && !values.is_null(&value)).then_some((key, value))
                };
                let old = record.value.old.as_ref().and_then(select);
                let new = record.value.new.as_ref().and_then(select);
                let send = |cx: &mut TaskContext, key, value| {
                    let headers = record.headers.clone();
                    forward.send(
                        cx,
                        Record::new(key, value, record.timestamp).with_headers(headers),
                    )
                };
                match (old, new) {
                    // The row stays in its group (KIP-904): one update, not a subtraction
                    // and an addition that would each show downstream.
                    (Some((old_key, old_value)), Some((new_key, new_value)))
                        if same_key(&*keys, &old_key, &new_key) =>
                    {
                        let update = Change {
                            new: Some(new_value),
                            old: Some(old_value),
                        };
                        send(cx, new_key, update)
                    }
                    (old, new) => {
                        if let Some((key, value)) = old {
                            let retract = Change {
                                new: None,
                                old: Some(value),
                            };
                            send(cx, key, retract)?;
                        }
                        if let Some((key, value)) = new {
                            let add = Change {
                                new: Some(value),
                                old: None,
                            };
                            send(cx, key, add)?;
                        }
                        Ok(())
                    }
                }
            },
        );
        let selected = self.then("table-group-by", factory);
        let change_serde: SerdeRef<Change<V2>> = Arc::new(ChangeSerde::new(value_serde.clone()));
        let input = repartition(
            &self.graph,
            selected,
            grouped.name,
            key_serde.clone(),
            change_serde,
        );
        KGroupedTable {
            graph: self.graph.clone(),
            input,
            key_serde,
            value_serde,
        }
    }
}

/// Whether two keys are the same key: their serialized bytes are equal (keys that do not
/// serialize are never the same).
fn same_key<K>(serde: &dyn Serde<K>, a: &K, b: &K) -> bool {
    let (mut left, mut right) = (Vec::new(), Vec::new());
    serde.serialize(a, &mut left).is_ok() && serde.serialize(b, &mut right).is_ok() && left == right
}
