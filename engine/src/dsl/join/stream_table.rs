//! `KStream::join_table` and `left_join_table`: Kafka Streams' stream-table joins.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use super::Joiner;
use crate::dsl::kstream::Nulls;
use crate::dsl::params::Joined;
use crate::dsl::{Data, KStream, KTable};
use crate::error::StreamsError;
use crate::processor::TaskContext;
use crate::processor::node::{Forward, Node, NodeRef, node_factory};
use crate::record::Record;
use crate::store::ValueAndTimestamp;
use crate::topology::graph::{NodeDraft, Role, StoreUse};

impl<K: Data, V: Data> KStream<K, V> {
    /// Joins each record with the table's row of its key, when there is one (Kafka Streams'
    /// `KStream#join(KTable)`): `joiner(value, row)` becomes the value of a record with the
    /// same key, timestamp and headers. Only stream records trigger the join; the table's
    /// updates only change what later records find. Records with a null key or value are
    /// skipped (and counted). The stream and the table must be co-partitioned; a stream
    /// whose key may have changed is repartitioned first.
    ///
    /// ```
    /// # use tributary_engine::dsl::*;
    /// # use tributary_engine::serde::*;
    /// # use tributary_engine::{StreamsConfig, TopologyTestDriver};
    /// let builder = StreamsBuilder::new();
    /// let users = builder.table("users", Consumed::with(StringSerde, StringSerde), Materialized::named("users"));
    /// builder
    ///     .stream("clicks", Consumed::with(StringSerde, StringSerde))
    ///     .join_table(&users, |page, name| format!("{name} read {page}"), Joined::new())
    ///     .to("named-clicks", Produced::with(StringSerde, StringSerde));
    /// let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.input_topic("users", StringSerde, StringSerde)?.pipe("u1".into(), "Ada".into(), 1)?;
    /// let clicks = driver.input_topic("clicks", StringSerde, StringSerde)?;
    /// clicks.pipe("u1".into(), "/home".into(), 2)?;
    /// clicks.pipe("u2".into(), "/about".into(), 3)?; // no such user: no output
    /// let out = driver.output_topic("named-clicks", StringSerde, StringSerde);
    /// assert_eq!(out.read_key_values()?, vec![("u1".into(), "Ada read /home".into())]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn join_table<VT: Data, VR: Data>(
        &self,
        table: &KTable<K, VT>,
        joiner: impl Fn(&V, &VT) -> VR + Send + Sync + 'static,
        joined: Joined<K, V, VT>,
    ) -> KStream<K, VR> {
        let joiner = Joiner::Inner(Arc::new(joiner));
        self.join_table_with("stream-table-join", table, joiner, joined)
    }

    /// Joins each record with the table's row of its key, or with nothing (Kafka Streams'
    /// `KStream#leftJoin(KTable)`): every stream record with a value gives
    /// `joiner(value, row)`, `row` being `None` when the table has no row for the key (or
    /// the key is null). Otherwise as [`KStream::join_table`].
    pub fn left_join_table<VT: Data, VR: Data>(
        &self,
        table: &KTable<K, VT>,
        joiner: impl Fn(&V, Option<&VT>) -> VR + Send + Sync + 'static,
        joined: Joined<K, V, VT>,
    ) -> KStream<K, VR> {
        let joiner = Joiner::Left(Arc::new(joiner));
        self.join_table_with("stream-table-left-join", table, joiner, joined)
    }

    fn join_table_with<VT: Data, VR: Data>(
        &self,
        kind: &'static str,
        table: &KTable<K, VT>,
        joiner: Joiner<V, VT, VR>,
        joined: Joined<K, V, VT>,
    ) -> KStream<K, VR> {
        let mut stream = self.clone();
        stream.key_serde = joined.key_serde.or(stream.key_serde);
        stream.value_serde = joined.value_serde.or(stream.value_serde);
        let fix = "pass `Joined::with(key_serde, value_serde)` to the join";
        let input = stream.keyed_input(kind, joined.name, fix);
        let (view, nulls) = (table.view.clone(), stream.nulls());
        let factory = node_factory::<K, V, K, VR>(move |cx, forward| {
            let table = view.getter(cx, 0)?;
            let keys = nulls.clone();
            let node = StreamTableJoin {
                kind,
                lookup: Box::new(move |key: &K, _: &V| match keys.key(key) {
                    true => Ok(Found::NullKey),
                    false => table(key).map(Found::Row),
                }),
                joiner: joiner.clone(),
                nulls: nulls.clone(),
                forward,
            };
            Ok(Rc::new(RefCell::new(node)) as NodeRef<K, V>)
        });
        let node = self.graph.borrow_mut().add_node(NodeDraft {
            kind,
            explicit: None,
            role: Role::Processor,
            parents: vec![input],
            stores: vec![StoreUse::Owned(table.view.store)],
            factory,
        });
        KStream {
            graph: self.graph.clone(),
            node,
            key_serde: stream.key_serde,
            value_serde: None,
            repartition_required: false,
        }
    }
}

/// What a stream record finds in the table it joins.
pub(super) enum Found<VT> {
    /// Its join key is null: it can find nothing.
    NullKey,
    /// The table's row of its join key, if any.
    Row(Option<ValueAndTimestamp<VT>>),
}

/// Looks a stream record's row up, by the record's key and value.
pub(super) type Lookup<K, V, VT> = Box<dyn Fn(&K, &V) -> Result<Found<VT>, StreamsError>>;

/// Kafka Streams' `KStreamKTableJoinProcessor`, for tables and global tables alike: each
/// stream record with a value meets the row of its join key; a record whose join key is
/// null is skipped (and counted), except that a left join still joins a keyless record
/// (with the row its join key finds, if any).
pub(super) struct StreamTableJoin<K, V, VT, VR> {
    pub(super) kind: &'static str,
    pub(super) lookup: Lookup<K, V, VT>,
    pub(super) joiner: Joiner<V, VT, VR>,
    pub(super) nulls: Nulls<K, V>,
    pub(super) forward: Forward<K, VR>,
}

impl<K: Data, V: Data, VT: Data, VR: Data> Node<K, V> for StreamTableJoin<K, V, VT, VR> {
    fn process(&mut self, cx: &mut TaskContext, record: Record<K, V>) -> Result<(), StreamsError> {
        let null_value = self.nulls.value(&record.value);
        let keyless_left = self.joiner.keeps_left() && self.nulls.key(&record.key) && !null_value;
        let found = match null_value {
            true => Found::Row(None),
            false => (self.lookup)(&record.key, &record.value)?,
        };
        let null_join_key = matches!(found, Found::NullKey);
        if !keyless_left && cx.skips_null(self.kind, null_join_key, null_value) {
            return Ok(());
        }
        let row = match found {
            Found::Row(row) => row,
            Found::NullKey => None,
        };
        match self
            .joiner
            .join(Some(&record.value), row.as_ref().map(|r| &r.value))
        {
            Some(value) => self.forward.send(cx, record.with_value(value)),
            None => Ok(()),
        }
    }
}
