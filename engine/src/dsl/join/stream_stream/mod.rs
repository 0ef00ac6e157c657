//! `KStream::join`, `left_join` and `outer_join` of two streams within [`JoinWindows`]:
//! Kafka Streams' stream-stream joins.
//!
//! Each side keeps its records in a window store for the join's retention; a record
//! arriving on one side joins the other side's records of its key within its window. Left
//! and outer joins keep the records that found no partner in a shared store, in time
//! order, and emit them with a missing partner once their window has closed (window end +
//! grace passed by the stream time both sides share), so no `(v, null)` is followed by a
//! `(v, w)` for the same record.

mod node;
mod stores;

use std::cell::RefCell;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;

use node::{JoinSide, JoinTime, LeftSide, RightSide, Side};
use stores::{
    JoinStore, ListSerde, Pending, PendingKey, PendingKeySerde, PendingSerde, PendingStore,
};

use super::Joiner;
use crate::dsl::kstream::Nulls;
use crate::dsl::params::StreamJoined;
use crate::dsl::repartition::require;
use crate::dsl::timed_store::timed_spec;
use crate::dsl::{Data, KStream};
use crate::processor::node::{NodeRef, node_factory, passthrough};
use crate::serde::SerdeRef;
use crate::store::StoreSpec;
use crate::topology::graph::{NodeDraft, Role, SharedGraph, StoreUse};
use crate::window::JoinWindows;

impl<K: Data + PartialEq, V: Data> KStream<K, V> {
    /// Joins this stream with `other` within `windows` (Kafka Streams'
    /// `KStream#join(KStream, ValueJoiner, JoinWindows, StreamJoined)`): each pair of
    /// records of one key whose times are within the windows gives `joiner(value,
    /// other_value)`, with the key and the later of the two timestamps (and the headers of
    /// the record that arrived second). Records with a null key or value are skipped (and
    /// counted); records older than the join's retention are joined with what is still
    /// kept but not kept themselves (counted as late).
    ///
    /// Both streams must be co-partitioned; a stream whose key may have changed is
    /// repartitioned first.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tributary_engine::dsl::*;
    /// # use tributary_engine::serde::*;
    /// # use tributary_engine::{JoinWindows, StreamsConfig, TopologyTestDriver};
    /// let builder = StreamsBuilder::new();
    /// let views = builder.stream("views", Consumed::with(StringSerde, StringSerde));
    /// let clicks = builder.stream("clicks", Consumed::with(StringSerde, StringSerde));
    /// views
    ///     .join(
    ///         &clicks,
    ///         |view, click| format!("{view}->{click}"),
    ///         JoinWindows::of_time_difference_with_no_grace(Duration::from_secs(10)),
    ///         StreamJoined::new(),
    ///     )
    ///     .to("view-clicks", Produced::with(StringSerde, StringSerde));
    /// let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.input_topic("views", StringSerde, StringSerde)?.pipe("ad".into(), "v1".into(), 1_000)?;
    /// let clicks = driver.input_topic("clicks", StringSerde, StringSerde)?;
    /// clicks.pipe("ad".into(), "c1".into(), 5_000)?;
    /// clicks.pipe("ad".into(), "c2".into(), 60_000)?; // too late for v1
    /// let out = driver.output_topic("view-clicks", StringSerde, StringSerde);
    /// assert_eq!(out.read_key_values()?, vec![("ad".into(), "v1->c1".into())]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn join<VO: Data, VR: Data>(
        &self,
        other: &KStream<K, VO>,
        joiner: impl Fn(&V, &VO) -> VR + Send + Sync + 'static,
        windows: JoinWindows,
        joined: StreamJoined<K, V, VO>,
    ) -> KStream<K, VR> {
        self.join_streams(other, Joiner::Inner(Arc::new(joiner)), windows, joined)
    }

    /// Joins this stream with `other` within `windows`, keeping this stream's records
    /// (Kafka Streams' `KStream#leftJoin(KStream, …)`): as [`KStream::join`], and a record
    /// of this stream that found no partner gives `joiner(value, None)` (at its own time)
    /// once its window has closed — window end + grace passed by stream time — or at once
    /// when it arrives after that, or has a null key.
    pub fn left_join<VO: Data, VR: Data>(
        &self,
        other: &KStream<K, VO>,
        joiner: impl Fn(&V, Option<&VO>) -> VR + Send + Sync + 'static,
        windows: JoinWindows,
        joined: StreamJoined<K, V, VO>,
    ) -> KStream<K, VR> {
        self.join_streams(other, Joiner::Left(Arc::new(joiner)), windows, joined)
    }

    /// Joins this stream with `other` within `windows`, keeping the records of both (Kafka
    /// Streams' `KStream#outerJoin(KStream, …)`): as [`KStream::left_join`], and a record
    /// of `other` that found no partner gives `joiner(None, other_value)` the same way.
    pub fn outer_join<VO: Data, VR: Data>(
        &self,
        other: &KStream<K, VO>,
        joiner: impl Fn(Option<&V>, Option<&VO>) -> VR + Send + Sync + 'static,
        windows: JoinWindows,
        joined: StreamJoined<K, V, VO>,
    ) -> KStream<K, VR> {
        self.join_streams(other, Joiner::Outer(Arc::new(joiner)), windows, joined)
    }

    fn join_streams<VO: Data, VR: Data>(
        &self,
        other: &KStream<K, VO>,
        joiner: Joiner<V, VO, VR>,
        windows: JoinWindows,
        joined: StreamJoined<K, V, VO>,
    ) -> KStream<K, VR> {
        let graph = &self.graph;
        let kind = match joiner {
            Joiner::Inner(_) => "stream-join",
            Joiner::Left(_) => "stream-left-join",
            Joiner::Outer(_) => "stream-outer-join",
        };
        let fix = "pass `StreamJoined::with(key_serde, value_serde, other_value_serde)`";
        let why = "keep the join's records";
        let mut left = self.clone();
        left.key_serde = joined.key_serde.clone().or(left.key_serde);
        left.value_serde = joined.value_serde.or(left.value_serde);
        let mut right = other.clone();
        right.key_serde = joined.key_serde.or(right.key_serde);
        right.value_serde = joined.other_value_serde.or(right.value_serde);
        let suffixed = |suffix: &str| joined.name.as_ref().map(|n| format!("{n}{suffix}"));
        let left_input = left.keyed_input(kind, suffixed("-left"), fix);
        let right_input = right.keyed_input(kind, suffixed("-right"), fix);
        let key_serde = require(graph, left.key_serde.clone(), kind, "key", why, fix);
        let left_serde = require(graph, left.value_serde.clone(), kind, "value", why, fix);
        let right_serde = require(
            graph,
            right.value_serde.clone(),
            kind,
            "other value",
            why,
            fix,
        );

        let (left_outer, right_outer) = (joiner.keeps_left(), joiner.keeps_right());
        let stores = Stores {
            graph: graph.clone(),
            owner: graph.borrow().nodes.len(),
            base: joined.store_name.or_else(|| joined.name.clone()),
            windows,
            backend_of: (joined.backend, joined.logging),
            key_serde: key_serde.clone(),
        };
        let left_store = stores.window(
            left_serde.clone(),
            if right_outer {
                "-outer-this-join-store"
            } else {
                "-this-join-store"
            },
        );
        let right_store = stores.window(
            right_serde.clone(),
            if left_outer {
                "-outer-other-join-store"
            } else {
                "-other-join-store"
            },
        );
        let pending_store = left_outer.then(|| {
            stores.pending(
                PendingSerde::new(left_serde, right_serde),
                if right_outer {
                    "-outer-shared-join-store"
                } else {
                    "-left-shared-join-store"
                },
            )
        });
        let id = stores.owner;
        let side_names = (
            if right_outer {
                "-outer-this-join"
            } else {
                "-this-join"
            },
            if left_outer {
                "-outer-other-join"
            } else {
                "-other-join"
            },
        );
        let plan = SidePlan {
            kind,
            id,
            windows,
            joiner,
            stores: (left_store, right_store, pending_store),
        };
        let left_node =
            plan.add::<LeftSide, K>(graph, left_input, left.nulls(), suffixed(side_names.0));
        let right_node =
            plan.add::<RightSide, K>(graph, right_input, right.nulls(), suffixed(side_names.1));
        let merge = passthrough::<K, VR>();
        let node = graph.borrow_mut().add_node(NodeDraft {
            kind: "stream-join-merge",
            explicit: suffixed("-merge"),
            role: Role::Processor,
            parents: vec![left_node, right_node],
            stores: Vec::new(),
            factory: merge,
        });
        KStream {
            graph: graph.clone(),
            node,
            key_serde: Some(key_serde),
            value_serde: None,
            repartition_required: false,
        }
    }
}

/// Declares a join's stores.
struct Stores<K> {
    graph: SharedGraph,
    /// The first node of the join, which generated store names derive from.
    owner: usize,
    /// The explicit base name of the stores.
    base: Option<String>,
    windows: JoinWindows,
    backend_of: (crate::store::StoreBackend, bool),
    key_serde: SerdeRef<K>,
}

impl<K: Data> Stores<K> {
    /// A side's window store of `V` records; returns its draft index.
    fn window<V: Data>(&self, value_serde: SerdeRef<V>, suffix: &'static str) -> usize {
        let values: SerdeRef<Vec<V>> = Arc::new(ListSerde::new(value_serde));
        let retention = self.windows.retention_ms();
        let spec = timed_spec(self.key_serde.clone(), values, retention, self.backend_of);
        self.graph
            .borrow_mut()
            .add_store(self.owner, self.base.clone(), spec, suffix)
    }

    /// The store of records waiting for a partner; returns its draft index.
    fn pending<L: Data, R: Data>(&self, serde: PendingSerde<L, R>, suffix: &'static str) -> usize {
        let key: SerdeRef<PendingKey<K>> = Arc::new(PendingKeySerde::new(self.key_serde.clone()));
        let values: SerdeRef<Pending<L, R>> = Arc::new(serde);
        let (backend, logging) = self.backend_of;
        let spec = StoreSpec::new(String::new(), key, values, backend, logging, false);
        self.graph
            .borrow_mut()
            .add_store(self.owner, self.base.clone(), spec, suffix)
    }
}

/// What both side nodes of one join are built from.
struct SidePlan<L, R, VR> {
    kind: &'static str,
    /// The join's id: the nodes share their stream time under it.
    id: usize,
    windows: JoinWindows,
    joiner: Joiner<L, R, VR>,
    /// The left and right window stores and the pending store (draft indices).
    stores: (usize, usize, Option<usize>),
}

impl<L: Data, R: Data, VR: Data> SidePlan<L, R, VR> {
    /// Adds side `S`'s node after `input`; returns it.
    fn add<S: Side<L, R>, K: Data + PartialEq>(
        &self,
        graph: &SharedGraph,
        input: usize,
        nulls: Nulls<K, S::This>,
        explicit: Option<String>,
    ) -> usize {
        let (left, right, pending) = self.stores;
        let (own, other) = if S::LEFT {
            (left, right)
        } else {
            (right, left)
        };
        let mut stores = vec![StoreUse::Owned(own), StoreUse::Owned(other)];
        stores.extend(pending.map(StoreUse::Owned));
        let (kind, id, windows, joiner) = (self.kind, self.id, self.windows, self.joiner.clone());
        let retention = windows.retention_ms();
        let factory = node_factory::<K, S::This, K, VR>(move |cx, forward| {
            let node = Rc::new(RefCell::new(JoinSide::<K, L, R, VR, S> {
                kind,
                windows,
                joiner: joiner.clone(),
                time: cx.shared::<RefCell<JoinTime>>(id)?,
                own: JoinStore::new(cx.store(0)?, retention),
                other: JoinStore::new(cx.store(1)?, retention),
                pending: match pending {
                    Some(_) => Some(PendingStore::new(cx.store(2)?)),
                    None => None,
                },
                nulls: nulls.clone(),
                forward,
                side: PhantomData,
            }));
            cx.register(node.clone());
            Ok(node as NodeRef<K, S::This>)
        });
        graph.borrow_mut().add_node(NodeDraft {
            kind,
            explicit,
            role: Role::Processor,
            parents: vec![input],
            stores,
            factory,
        })
    }
}
