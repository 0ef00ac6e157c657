//! `KTable::join`, `left_join` and `outer_join`: Kafka Streams' table-table joins.
//!
//! Each side's updates go through a node that looks the key up in the other side's table
//! and computes the new result; a materializing node after both keeps the results, so
//! that what downstream sees is a table like any other: updates with old and new values,
//! a delete when a result stops existing.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use super::{Joiner, SideJoin};
use crate::dsl::ktable::view::{Getter, TableView};
use crate::dsl::params::Materialized;
use crate::dsl::table_changes::{Materialize, Stamp, Update, materialize};
use crate::dsl::{Data, KTable};
use crate::error::StreamsError;
use crate::processor::TaskContext;
use crate::processor::node::{Forward, Node, NodeRef, node_factory};
use crate::record::{Change, Record};
use crate::topology::graph::{NodeDraft, Role, StoreUse};

impl<K: Data, V: Data> KTable<K, V> {
    /// Joins this table with `other` on the key (Kafka Streams' `KTable#join(KTable)`): a
    /// key has a result while both tables have a row for it, `joiner(row, other_row)`,
    /// stamped with the later of the two rows' timestamps. An update on either side
    /// updates the result; a delete on either side deletes it. The result is kept in the
    /// store `materialized` declares (queryable by its name).
    ///
    /// Both tables must be co-partitioned (same key, same partition count).
    ///
    /// ```
    /// # use tributary_engine::dsl::*;
    /// # use tributary_engine::serde::*;
    /// # use tributary_engine::{StreamsConfig, TopologyTestDriver};
    /// let builder = StreamsBuilder::new();
    /// let names = builder.table("names", Consumed::with(StringSerde, StringSerde), Materialized::new());
    /// let teams = builder.table("teams", Consumed::with(StringSerde, StringSerde), Materialized::new());
    /// let people = Materialized::named("people").with_value_serde(StringSerde);
    /// names.join(&teams, |name, team| format!("{name} ({team})"), people);
    /// let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.input_topic("names", StringSerde, StringSerde)?.pipe("u1".into(), "Ada".into(), 1)?;
    /// driver.input_topic("teams", StringSerde, StringSerde)?.pipe("u1".into(), "core".into(), 2)?;
    /// let people = driver.key_value_store::<String, String>("people")?;
    /// assert_eq!(people.get(&"u1".into())?, Some("Ada (core)".into()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn join<VO: Data, VR: Data>(
        &self,
        other: &KTable<K, VO>,
        joiner: impl Fn(&V, &VO) -> VR + Send + Sync + 'static,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR> {
        self.join_tables(other, Joiner::Inner(Arc::new(joiner)), materialized)
    }

    /// Joins this table with `other` on the key, keeping this table's rows (Kafka Streams'
    /// `KTable#leftJoin(KTable)`): a key has a result while this table has a row for it,
    /// `joiner(row, other_row)` with `None` when `other` has none. Otherwise as
    /// [`KTable::join`].
    pub fn left_join<VO: Data, VR: Data>(
        &self,
        other: &KTable<K, VO>,
        joiner: impl Fn(&V, Option<&VO>) -> VR + Send + Sync + 'static,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR> {
        self.join_tables(other, Joiner::Left(Arc::new(joiner)), materialized)
    }

    /// Joins this table with `other` on the key, keeping the rows of both (Kafka Streams'
    /// `KTable#outerJoin(KTable)`): a key has a result while either table has a row for
    /// it, `joiner(row, other_row)` with `None` for the missing one. Otherwise as
    /// [`KTable::join`].
    pub fn outer_join<VO: Data, VR: Data>(
        &self,
        other: &KTable<K, VO>,
        joiner: impl Fn(Option<&V>, Option<&VO>) -> VR + Send + Sync + 'static,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR> {
        self.join_tables(other, Joiner::Outer(Arc::new(joiner)), materialized)
    }

    fn join_tables<VO: Data, VR: Data>(
        &self,
        other: &KTable<K, VO>,
        joiner: Joiner<V, VO, VR>,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR> {
        let (this_kind, other_kind, merge_kind) = match joiner {
            Joiner::Inner(_) => ("table-join-this", "table-join-other", "table-join-merge"),
            Joiner::Left(_) => (
                "table-left-join-this",
                "table-left-join-other",
                "table-left-join-merge",
            ),
            Joiner::Outer(_) => (
                "table-outer-join-this",
                "table-outer-join-other",
                "table-outer-join-merge",
            ),
        };
        let this_node = side(
            self,
            this_kind,
            &other.view,
            joiner.for_left_side(),
            !joiner.keeps_left(),
        );
        let other_node = side(
            other,
            other_kind,
            &self.view,
            joiner.for_right_side(),
            !joiner.keeps_right(),
        );
        let update: Arc<Update<K, Option<VR>, VR>> = Arc::new(|_, result, _| result);
        let what = Materialize {
            kind: merge_kind,
            update,
            stamp: Stamp::Record,
            null_value: None,
        };
        materialize(
            &self.graph,
            vec![this_node, other_node],
            what,
            materialized,
            self.key_serde.clone(),
            None,
        )
    }
}

/// Adds the node that joins `table`'s updates with the rows of the table `other` views.
/// `other_required`: whether a result needs the other side's row.
fn side<K: Data, T: Data, O: Data, VR: Data>(
    table: &KTable<K, T>,
    kind: &'static str,
    other: &TableView<K, O>,
    join: SideJoin<T, O, VR>,
    other_required: bool,
) -> usize {
    let view = other.clone();
    let factory = node_factory::<K, Change<T>, K, Option<VR>>(move |cx, forward| {
        let node = TableJoinSide {
            other: view.getter(cx, 0)?,
            join: join.clone(),
            other_required,
            forward,
        };
        Ok(Rc::new(RefCell::new(node)) as NodeRef<K, Change<T>>)
    });
    table.graph.borrow_mut().add_node(NodeDraft {
        kind,
        explicit: None,
        role: Role::Processor,
        parents: vec![table.node],
        stores: vec![StoreUse::Owned(other.store)],
        factory,
    })
}

/// One side of a table-table join (Kafka Streams' `KTableKTable*Join` processors): each
/// update of this side becomes the new result of its key (`None`: no result), stamped
/// with the later of the update's and the other row's timestamps.
struct TableJoinSide<K, T, O, VR> {
    other: Getter<K, O>,
    join: SideJoin<T, O, VR>,
    other_required: bool,
    forward: Forward<K, Option<VR>>,
}

impl<K: Data, T: Data, O: Data, VR: Data> Node<K, Change<T>> for TableJoinSide<K, T, O, VR> {
    fn process(
        &mut self,
        cx: &mut TaskContext,
        record: Record<K, Change<T>>,
    ) -> Result<(), StreamsError> {
        let other = (self.other)(&record.key)?;
        let timestamp = match &other {
            None if self.other_required => return Ok(()),
            None if record.value.new.is_none() && record.value.old.is_none() => return Ok(()),
            None => record.timestamp,
            Some(row) => row.timestamp.max(record.timestamp),
        };
        let result = (self.join)(record.value.new.as_ref(), other.as_ref().map(|o| &o.value));
        self.forward.send(
            cx,
            Record {
                key: record.key,
                value: result,
                timestamp,
                headers: record.headers,
            },
        )
    }
}
