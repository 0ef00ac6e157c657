//! `KTable::join_on_foreign_key` and `left_join_on_foreign_key`: Kafka Streams'
//! foreign-key table joins (KIP-213), which need no co-partitioning.
//!
//! A row's update sends a subscription, keyed by the row's foreign key, through the topic
//! `<application.id>-<name>-subscription-registration-topic` (partitioned like the
//! foreign table) to the foreign side, which keeps it in a subscription store and answers
//! through `<application.id>-<name>-subscription-response-topic` (back to the row's
//! partition); an update of a foreign row answers every row subscribed to it. A response
//! carries the hash of the row value it was asked for, so one computed for a value the row
//! no longer has is dropped.

mod nodes;
mod wire;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use nodes::{ForeignJoin, ForeignKeyFn, ResponseJoin, SubscriptionReceive, SubscriptionSend};
use wire::{
    CombinedKey, CombinedKeySerde, Response, ResponseSerde, Subscription, SubscriptionSerde,
};

use super::Joiner;
use crate::dsl::params::Materialized;
use crate::dsl::repartition::{InternalTopic, require, through_topic};
use crate::dsl::sink::{PartitionFn, partitioned};
use crate::dsl::table_changes::{Materialize, Stamp, Update, materialize};
use crate::dsl::{Data, KTable};
use crate::processor::node::{NodeRef, node_factory};
use crate::record::Change;
use crate::serde::{OptionSerde, SerdeRef};
use crate::store::{StoreBackend, StoreSpec};
use crate::topology::graph::{NodeDraft, Role, SharedGraph, StoreUse, TopicPurpose};

impl<K: Data, V: Data> KTable<K, V> {
    /// Joins each row with the row of `other` whose key `foreign_key` extracts from it
    /// (Kafka Streams' foreign-key `KTable#join`): a row has a result while it has a
    /// foreign key and `other` a row for it, `joiner(row, foreign_row)`. Many rows may
    /// share a foreign row; an update of the foreign row updates all their results. The
    /// tables need not be co-partitioned. The result is kept in the store `materialized`
    /// declares, whose name also names the join's topics and subscription store (kept on
    /// the same backend).
    ///
    /// Unlike Kafka Streams, a row whose foreign key becomes `None` loses its result at
    /// once, and a row whose foreign key goes from `None` to a key joins at once (Kafka
    /// Streams' inner join ignores both updates).
    ///
    /// ```
    /// # use tributary_engine::dsl::*;
    /// # use tributary_engine::serde::*;
    /// # use tributary_engine::{StreamsConfig, TopologyTestDriver};
    /// let builder = StreamsBuilder::new();
    /// // Tasks: task id → "assignee:title"; users: user id → name.
    /// let tasks = builder.table("tasks", Consumed::with(StringSerde, StringSerde), Materialized::new());
    /// let users = builder.table("users", Consumed::with(StringSerde, StringSerde), Materialized::new());
    /// tasks.join_on_foreign_key(
    ///     &users,
    ///     |task: &String| task.split(':').next().map(str::to_owned),
    ///     |task, name| format!("{task} ({name})"),
    ///     Materialized::named("assigned").with_value_serde(StringSerde),
    /// );
    /// let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.input_topic("users", StringSerde, StringSerde)?.pipe("u1".into(), "Ada".into(), 1)?;
    /// driver.input_topic("tasks", StringSerde, StringSerde)?.pipe("t1".into(), "u1:write".into(), 2)?;
    /// let assigned = driver.key_value_store::<String, String>("assigned")?;
    /// assert_eq!(assigned.get(&"t1".into())?, Some("u1:write (Ada)".into()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn join_on_foreign_key<KO: Data, VO: Data, VR: Data>(
        &self,
        other: &KTable<KO, VO>,
        foreign_key: impl Fn(&V) -> Option<KO> + Send + Sync + 'static,
        joiner: impl Fn(&V, &VO) -> VR + Send + Sync + 'static,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR> {
        let joiner = Joiner::Inner(Arc::new(joiner));
        self.join_foreign(other, Arc::new(foreign_key), joiner, materialized)
    }

    /// Joins each row with the row of `other` whose key `foreign_key` extracts from it, or
    /// with nothing (Kafka Streams' foreign-key `KTable#leftJoin`): every row has a result,
    /// `joiner(row, foreign_row)` with `None` when it has no foreign key or `other` no row
    /// for it. Otherwise as [`KTable::join_on_foreign_key`].
    pub fn left_join_on_foreign_key<KO: Data, VO: Data, VR: Data>(
        &self,
        other: &KTable<KO, VO>,
        foreign_key: impl Fn(&V) -> Option<KO> + Send + Sync + 'static,
        joiner: impl Fn(&V, Option<&VO>) -> VR + Send + Sync + 'static,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR> {
        let joiner = Joiner::Left(Arc::new(joiner));
        self.join_foreign(other, Arc::new(foreign_key), joiner, materialized)
    }

    fn join_foreign<KO: Data, VO: Data, VR: Data>(
        &self,
        other: &KTable<KO, VO>,
        foreign_key: ForeignKeyFn<V, KO>,
        joiner: Joiner<V, VO, VR>,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR> {
        let graph = &self.graph;
        let left = joiner.keeps_left();
        let send_kind = "fk-subscription-send";
        let fix = "give the tables their serdes (in `Consumed` or `Materialized`)";
        let why = "send the join's subscriptions";
        let key_serde = require(graph, self.key_serde.clone(), send_kind, "key", why, fix);
        let value_serde = require(
            graph,
            self.value_serde.clone(),
            send_kind,
            "value",
            why,
            fix,
        );
        let fk_serde = require(
            graph,
            other.key_serde.clone(),
            send_kind,
            "foreign key",
            why,
            fix,
        );
        let foreign_value_serde = require(
            graph,
            other.value_serde.clone(),
            send_kind,
            "foreign value",
            "send the join's responses",
            fix,
        );
        let base = materialized.name.clone();

        // The row side sends subscriptions, keyed by foreign key.
        let send = {
            let (fk, fk_serde, value_serde) = (foreign_key, fk_serde.clone(), value_serde.clone());
            let factory =
                node_factory::<K, Change<V>, Option<KO>, Subscription<K>>(move |_, forward| {
                    let node = SubscriptionSend {
                        kind: send_kind,
                        foreign_key: fk.clone(),
                        foreign_key_serde: fk_serde.clone(),
                        value_serde: value_serde.clone(),
                        left,
                        forward,
                    };
                    Ok(Rc::new(RefCell::new(node)) as NodeRef<K, Change<V>>)
                });
            self.then(send_kind, factory)
        };
        let optional_fk: SerdeRef<Option<KO>> = Arc::new(OptionSerde::new(fk_serde.clone()));
        let subscription_serde: SerdeRef<Subscription<K>> =
            Arc::new(SubscriptionSerde::new(key_serde.clone()));
        let subscriptions = through_topic(
            graph,
            InternalTopic {
                upstream: send,
                more_upstream: Vec::new(),
                name: base.clone(),
                purpose: TopicPurpose::SubscriptionRegistration,
            },
            partitioned(optional_fk.clone(), subscription_serde.clone(), None),
            optional_fk,
            subscription_serde.clone(),
        );

        // The foreign side keeps them and answers.
        let store = subscription_store(
            graph,
            (&base, materialized.backend),
            &fk_serde,
            &key_serde,
            subscription_serde,
        );
        let receive = {
            let view = other.view.clone();
            let factory =
                node_factory::<Option<KO>, Subscription<K>, K, Response<VO>>(move |cx, forward| {
                    let node = SubscriptionReceive {
                        kind: "fk-subscription-receive",
                        subscriptions: cx.store(0)?,
                        foreign: view.getter(cx, 1)?,
                        forward,
                    };
                    Ok(Rc::new(RefCell::new(node)) as NodeRef<Option<KO>, Subscription<K>>)
                });
            graph.borrow_mut().add_node(NodeDraft {
                kind: "fk-subscription-receive",
                explicit: None,
                role: Role::Processor,
                parents: vec![subscriptions],
                stores: vec![StoreUse::Owned(store), StoreUse::Owned(other.view.store)],
                factory,
            })
        };
        let foreign = {
            let fk_serde = fk_serde.clone();
            let factory = node_factory::<KO, Change<VO>, K, Response<VO>>(move |cx, forward| {
                let node = ForeignJoin {
                    kind: "fk-foreign-join",
                    subscriptions: cx.store(0)?,
                    foreign_key_serde: fk_serde.clone(),
                    forward,
                };
                Ok(Rc::new(RefCell::new(node)) as NodeRef<KO, Change<VO>>)
            });
            graph.borrow_mut().add_node(NodeDraft {
                kind: "fk-foreign-join",
                explicit: None,
                role: Role::Processor,
                parents: vec![other.node],
                stores: vec![StoreUse::Owned(store)],
                factory,
            })
        };
        let response_serde: SerdeRef<Response<VO>> =
            Arc::new(ResponseSerde::new(foreign_value_serde));
        let to_row: PartitionFn<K, Response<VO>> =
            Arc::new(|_, response| Some(response.primary_partition));
        let responses = through_topic(
            graph,
            InternalTopic {
                upstream: receive,
                more_upstream: vec![foreign],
                name: base,
                purpose: TopicPurpose::SubscriptionResponse,
            },
            partitioned(key_serde.clone(), response_serde.clone(), Some(to_row)),
            key_serde.clone(),
            response_serde,
        );

        // The row side turns answers for its current values into results.
        let respond = {
            let (view, value_serde) = (self.view.clone(), value_serde);
            let factory = node_factory::<K, Response<VO>, K, Option<VR>>(move |cx, forward| {
                let node = ResponseJoin {
                    kind: "fk-response-join",
                    rows: view.getter(cx, 0)?,
                    value_serde: value_serde.clone(),
                    joiner: joiner.clone(),
                    forward,
                };
                Ok(Rc::new(RefCell::new(node)) as NodeRef<K, Response<VO>>)
            });
            graph.borrow_mut().add_node(NodeDraft {
                kind: "fk-response-join",
                explicit: None,
                role: Role::Processor,
                parents: vec![responses],
                stores: vec![StoreUse::Owned(self.view.store)],
                factory,
            })
        };
        let update: Arc<Update<K, Option<VR>, VR>> = Arc::new(|_, result, _| result);
        let what = Materialize {
            kind: "fk-join-result",
            update,
            stamp: Stamp::Record,
            null_value: None,
        };
        materialize(
            graph,
            vec![respond],
            what,
            materialized,
            Some(key_serde),
            None,
        )
    }
}

/// Declares the subscription store (`<name>-subscription-store`, after the node added
/// next when unnamed; on the backend of the join's result): subscriptions by foreign key,
/// then row key.
fn subscription_store<KO: 'static, K: 'static>(
    graph: &SharedGraph,
    (base, backend): (&Option<String>, StoreBackend),
    fk_serde: &SerdeRef<KO>,
    key_serde: &SerdeRef<K>,
    subscription_serde: SerdeRef<Subscription<K>>,
) -> usize {
    let keys: SerdeRef<CombinedKey<KO, K>> =
        Arc::new(CombinedKeySerde::new(fk_serde.clone(), key_serde.clone()));
    let spec = StoreSpec::new(
        String::new(),
        keys,
        subscription_serde,
        backend,
        true,
        false,
    );
    let mut g = graph.borrow_mut();
    let owner = g.nodes.len();
    g.add_store(owner, base.clone(), spec, "-subscription-store")
}
