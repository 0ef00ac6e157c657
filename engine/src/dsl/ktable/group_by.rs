use std::sync::Arc;

use crate::dsl::params::Grouped;
use crate::dsl::repartition::{repartition, require};
use crate::dsl::{Data, KGroupedTable, KTable};
use crate::processor::node::{Forward, stateless};
use crate::record::{Change, Record};
use crate::serde::{ChangeSerde, SerdeRef};

impl<K: Data, V: Data> KTable<K, V> {
    /// Regroups the table's rows under new keys for an aggregation. Every update is sent
    /// through a repartition topic as a retraction of the old row (to its old group) and an
    /// addition of the new row (to its new group), so aggregates stay right when a row
    /// moves between groups.
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
        let factory = stateless(
            move |cx, forward: &Forward<K2, Change<V2>>, record: Record<K, Change<V>>| {
                if let Some(old) = &record.value.old {
                    let (key, value) = selector(&record.key, old);
                    let retract = Change {
                        new: None,
                        old: Some(value),
                    };
                    forward.send(
                        cx,
                        Record {
                            key,
                            value: retract,
                            timestamp: record.timestamp,
                            headers: record.headers.clone(),
                        },
                    )?;
                }
                if let Some(new) = &record.value.new {
                    let (key, value) = selector(&record.key, new);
                    let add = Change {
                        new: Some(value),
                        old: None,
                    };
                    forward.send(
                        cx,
                        Record {
                            key,
                            value: add,
                            timestamp: record.timestamp,
                            headers: record.headers,
                        },
                    )?;
                }
                Ok(())
            },
        );
        let selected = self.derive::<V2>("table-group-by", factory, None);
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
        let change_serde: SerdeRef<Change<V2>> = Arc::new(ChangeSerde::new(value_serde.clone()));
        let input = repartition(
            &self.graph,
            selected.node,
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
