//! Windowed aggregations: [`WindowedKStream`] (from [`KGroupedStream::windowed_by`],
//! [`KGroupedStream::windowed_by_sliding`] or [`KGroupedStream::windowed_by_session`])
//! counts, reduces or aggregates each key per window into a window store, and forwards every
//! update or only each window's final result.
//!
//! One stream type serves every window kind; what differs is the logic each kind's node
//! runs (`time.rs`, `sliding.rs`, `session.rs`) and its store. The nodes share their store,
//! output and clock (`output.rs`), and follow Kafka Streams' rules for
//! which windows a record updates, when a record is late, and the timestamp of every
//! result: the largest record timestamp in the window for time and sliding windows, the
//! session's end for sessions.

mod final_results;
mod node;
mod output;
mod session;
mod sliding;
mod time;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

pub use final_results::{BufferFull, EmitStrategy, FinalResults};

use super::grouped_stream::KGroupedStream;
use super::ktable::view::TableView;
use super::params::Materialized;
use super::table_changes::IsNull;
use super::{Data, KTable};
use crate::error::TopologyError;
use crate::processor::node::{Factory, NodeRef, node_factory, passthrough};
use crate::record::Change;
use crate::serde::{I64Serde, SerdeRef};
use crate::store::{StoreSpec, WindowRetention};
use crate::topology::graph::{NodeDraft, Role, SharedGraph, StoreUse};
use crate::window::{
    SessionSerde, SessionWindows, SlidingWindows, TimeWindows, Windowed, WindowedSerde,
};
pub(crate) use node::{Aggregation, Merge};
use node::{WindowLogic, WindowedNode};
use output::{Expiry, WindowOutput};

/// The window kinds a grouped stream can be cut into: [`TimeWindows`], [`SlidingWindows`]
/// and [`SessionWindows`]. Sealed: the aggregations are built for these three.
pub trait WindowKind: sealed::Sealed + Copy + Send + Sync + 'static {}

/// Window kinds whose windows never merge, so that an aggregation needs no merger: time
/// and sliding windows.
pub trait MergelessWindows: WindowKind {}

impl WindowKind for TimeWindows {}
impl WindowKind for SlidingWindows {}
impl WindowKind for SessionWindows {}
impl MergelessWindows for TimeWindows {}
impl MergelessWindows for SlidingWindows {}

mod sealed {
    use crate::window::{SessionWindows, SlidingWindows, TimeWindows};

    /// The window kind behind a [`WindowKind`](super::WindowKind), for the aggregation
    /// builder.
    #[derive(Debug, Clone, Copy)]
    pub enum Kind {
        Time(TimeWindows),
        Sliding(SlidingWindows),
        Session(SessionWindows),
    }

    pub trait Sealed {
        fn kind(&self) -> Kind;
    }

    impl Sealed for TimeWindows {
        fn kind(&self) -> Kind {
            Kind::Time(*self)
        }
    }

    impl Sealed for SlidingWindows {
        fn kind(&self) -> Kind {
            Kind::Sliding(*self)
        }
    }

    impl Sealed for SessionWindows {
        fn kind(&self) -> Kind {
            Kind::Session(*self)
        }
    }
}

pub(crate) use sealed::Kind;

/// The kind behind `windows`.
pub(crate) fn kind_of<W: WindowKind>(windows: &W) -> Kind {
    windows.kind()
}

/// A grouped stream cut into windows of kind `W`, ready to aggregate per key and window.
pub struct WindowedKStream<K, V, W> {
    grouped: KGroupedStream<K, V>,
    windows: W,
    emit: EmitStrategy,
    wall_clock: Option<Duration>,
}

/// A grouped stream cut into time windows (tumbling or hopping).
pub type TimeWindowedKStream<K, V> = WindowedKStream<K, V, TimeWindows>;
/// A grouped stream cut into sliding windows.
pub type SlidingWindowedKStream<K, V> = WindowedKStream<K, V, SlidingWindows>;
/// A grouped stream cut into sessions.
pub type SessionWindowedKStream<K, V> = WindowedKStream<K, V, SessionWindows>;

impl<K: Data + PartialEq, V: Data> KGroupedStream<K, V> {
    fn windowed<W>(&self, windows: W) -> WindowedKStream<K, V, W> {
        WindowedKStream {
            grouped: KGroupedStream {
                stream: self.stream.clone(),
                repartition_name: self.repartition_name.clone(),
            },
            windows,
            emit: EmitStrategy::OnWindowUpdate,
            wall_clock: None,
        }
    }

    /// Aggregations per key and time window (tumbling or hopping, see [`TimeWindows`]).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tributary_engine::dsl::*;
    /// # use tributary_engine::serde::*;
    /// # use tributary_engine::{StreamsConfig, TimeWindows, TopologyTestDriver, Windowed, WindowedSerde};
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream("clicks", Consumed::with(StringSerde, StringSerde))
    ///     .group_by_key(Grouped::new())
    ///     .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_millis(500)))
    ///     .count(Materialized::named("clicks-per-window"))
    ///     .to_stream()
    ///     .to("counts", Produced::with(WindowedSerde::new(std::sync::Arc::new(StringSerde), 500), nullable(I64Serde)));
    /// let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// let input = driver.input_topic("clicks", StringSerde, StringSerde)?;
    /// input.pipe("ann".into(), "/".into(), 550)?;
    /// input.pipe("ann".into(), "/a".into(), 500)?;
    /// let out = driver.output_topic("counts", WindowedSerde::new(std::sync::Arc::new(StringSerde), 500), nullable(I64Serde));
    /// let stamps: Vec<i64> = out.read_records()?.iter().map(|r| r.timestamp).collect();
    /// // Each update carries the largest record timestamp in its window so far.
    /// assert_eq!(stamps, vec![550, 550]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn windowed_by(&self, windows: TimeWindows) -> TimeWindowedKStream<K, V> {
        self.windowed(windows)
    }

    /// Aggregations per key and sliding window (see [`SlidingWindows`]); Kafka Streams'
    /// `windowedBy(SlidingWindows)`.
    pub fn windowed_by_sliding(&self, windows: SlidingWindows) -> SlidingWindowedKStream<K, V> {
        self.windowed(windows)
    }

    /// Aggregations per key and session (see [`SessionWindows`]); Kafka Streams'
    /// `windowedBy(SessionWindows)`.
    pub fn windowed_by_session(&self, windows: SessionWindows) -> SessionWindowedKStream<K, V> {
        self.windowed(windows)
    }
}

impl<K: Data + PartialEq, V: Data, W: WindowKind> WindowedKStream<K, V, W> {
    /// Forwards results as `strategy` says (final results: once per window, when stream
    /// time passes its end + grace; for sessions, end + gap + grace).
    pub fn emit_strategy(mut self, strategy: EmitStrategy) -> Self {
        self.emit = strategy;
        self
    }

    /// Also closes windows by the wall clock, checked every `interval`: a window closes
    /// when stream time or the wall clock passes its end + grace (sessions: end + gap +
    /// grace), so a partition that receives no more records still emits its final results.
    /// Records for windows closed this way are dropped as late.
    pub fn close_on_wall_clock(mut self, interval: Duration) -> Self {
        self.wall_clock = Some(interval);
        self
    }

    /// Counts the records per key and window.
    pub fn count(&self, materialized: Materialized<K, i64>) -> KTable<Windowed<K>, i64> {
        let aggregation = Aggregation {
            add: Arc::new(|_, _, n: Option<i64>| n.unwrap_or(0) + 1),
            merge: Some(Arc::new(|_, acc: Option<i64>, n| acc.unwrap_or(0) + n)),
        };
        self.build(
            Operation::Count,
            aggregation,
            materialized,
            Some(Arc::new(I64Serde)),
        )
    }

    /// Combines the values per key and window with `reducer` (which also combines the
    /// aggregates of sessions a record merges).
    pub fn reduce(
        &self,
        reducer: impl Fn(V, V) -> V + Send + Sync + 'static,
        materialized: Materialized<K, V>,
    ) -> KTable<Windowed<K>, V> {
        let reducer = Arc::new(reducer);
        let merge_with = reducer.clone();
        let aggregation = Aggregation {
            add: Arc::new(move |_, value, acc: Option<V>| match acc {
                None => value,
                Some(acc) => reducer(acc, value),
            }),
            merge: Some(Arc::new(move |_, acc: Option<V>, value| match acc {
                None => value,
                Some(acc) => merge_with(acc, value),
            })),
        };
        let value_serde = self.grouped.stream.value_serde.clone();
        self.build(Operation::Reduce, aggregation, materialized, value_serde)
    }

    fn build<VA: Data>(
        &self,
        operation: Operation,
        aggregation: Aggregation<K, V, VA>,
        materialized: Materialized<K, VA>,
        value_serde: Option<SerdeRef<VA>>,
    ) -> KTable<Windowed<K>, VA> {
        let kind = self.windows.kind();
        let node_kind = node_kind(kind, operation);
        let input = self.grouped.input(node_kind);
        let (key_serde, value_serde) =
            self.grouped
                .store_serdes(node_kind, &materialized, value_serde);
        let plan = WindowPlan::new(
            &self.grouped.stream.graph,
            kind,
            node_kind,
            (self.emit, self.wall_clock),
            (key_serde, value_serde),
            &materialized,
        );
        // Sliding windows skip records with a null value, as Kafka Streams does.
        let null_value = match kind {
            Kind::Sliding(_) => self.grouped.null_values(),
            Kind::Time(_) | Kind::Session(_) => None,
        };
        let factory = plan.factory(aggregation, null_value);
        plan.add(
            &self.grouped.stream.graph,
            (input, factory),
            Vec::new(),
            materialized.name,
        )
    }
}

/// A windowed aggregation's store and what its nodes share: one node per input stream
/// (cogrouped aggregations have several), all writing the one store.
pub(crate) struct WindowPlan<K, VA> {
    kind: Kind,
    spec: StoreSpec,
    settings: NodeSettings<K>,
    value_serde: SerdeRef<VA>,
}

impl<K: Data + PartialEq, VA: Data> WindowPlan<K, VA> {
    /// The store of an aggregation `node_kind` over windows of `kind`, declared by
    /// `materialized`, emitting as `emit` says (and closing windows on the wall clock
    /// every `wall_clock`); an unworkable retention is recorded as a topology error.
    pub(crate) fn new(
        graph: &SharedGraph,
        kind: Kind,
        node_kind: &'static str,
        (emit, wall_clock): (EmitStrategy, Option<Duration>),
        (key_serde, value_serde): (SerdeRef<K>, SerdeRef<VA>),
        materialized: &Materialized<K, VA>,
    ) -> Self {
        let store = window_store(kind, &key_serde, materialized);
        if let Err(reason) = &store {
            graph
                .borrow_mut()
                .errors
                .push(TopologyError::InvalidWindows {
                    operator: node_kind.to_owned(),
                    reason: reason.clone(),
                });
        }
        let (retention, windowed_serde) = store.unwrap_or_else(|_| {
            let serde: SerdeRef<Windowed<K>> = Arc::new(WindowedSerde::new(key_serde.clone(), 0));
            (WindowRetention::new(0), serde)
        });
        let mut spec = StoreSpec::new(
            String::new(),
            windowed_serde.clone(),
            value_serde.clone(),
            materialized.backend,
            materialized.logging,
            materialized.caching,
        )
        .windowed(retention, key_serde.clone());
        if matches!(kind, Kind::Session(_)) {
            spec = spec.of_sessions();
        }
        let settings = NodeSettings {
            kind: node_kind,
            expiry: Expiry {
                retention_ms: retention.retention_ms,
                by_end: matches!(kind, Kind::Session(_)),
            },
            emit,
            wall_clock,
            key_serde,
            windowed_serde,
        };
        Self {
            kind,
            spec,
            settings,
            value_serde,
        }
    }

    /// Whether the aggregation skips records with a null value (sliding windows do, as in
    /// Kafka Streams; time and session windows aggregate them).
    pub(crate) fn skips_null_values(&self) -> bool {
        matches!(self.kind, Kind::Sliding(_))
    }

    /// The node of one input of `V` values, folded in by `aggregation`; records whose
    /// value `null_value` says is null are skipped.
    pub(crate) fn factory<V: Data>(
        &self,
        aggregation: Aggregation<K, V, VA>,
        null_value: Option<IsNull<V>>,
    ) -> Factory {
        let (kind, settings) = (self.kind, self.settings.clone());
        node_factory::<K, V, Windowed<K>, Change<VA>>(move |cx, forward| {
            let logic: Box<dyn WindowLogic<K, V, VA>> = match kind {
                Kind::Time(windows) => Box::new(time::TimeLogic {
                    windows,
                    add: aggregation.add.clone(),
                }),
                Kind::Sliding(windows) => Box::new(sliding::SlidingLogic {
                    windows,
                    add: aggregation.add.clone(),
                }),
                Kind::Session(windows) => Box::new(session::SessionLogic {
                    windows,
                    add: aggregation.add.clone(),
                    merge: aggregation
                        .merge
                        .clone()
                        .expect("session aggregations are built with a merger"),
                }),
            };
            let out = WindowOutput::new(
                cx.store::<Windowed<K>, VA>(0)?,
                forward,
                settings.emit,
                settings.windowed_serde.clone(),
                logic.close_after(),
                settings.expiry,
                settings.wall_clock,
            );
            let node = Rc::new(RefCell::new(WindowedNode {
                kind: settings.kind,
                key_serde: settings.key_serde.clone(),
                null_value: null_value.clone(),
                out,
                logic,
            }));
            let hook = cx.register(node.clone());
            node.borrow_mut().out.set_hook(hook);
            Ok(node as NodeRef<K, V>)
        })
    }

    /// Adds the nodes (each after its input: `first`, then `more` for a cogrouped
    /// aggregation) writing the store named `name`, and, when there are several, the node
    /// merging their updates; the resulting table.
    pub(crate) fn add(
        self,
        graph: &SharedGraph,
        (input, first): (usize, Factory),
        more: Vec<(usize, Factory)>,
        name: Option<String>,
    ) -> KTable<Windowed<K>, VA> {
        let node_kind = self.settings.kind;
        let (first, stores) = graph.borrow_mut().add_aggregation(
            node_kind,
            vec![input],
            name,
            vec![(self.spec, "")],
            first,
        );
        let mut outputs = vec![first];
        for (input, factory) in more {
            outputs.push(graph.borrow_mut().add_node(NodeDraft {
                kind: node_kind,
                explicit: None,
                role: Role::Processor,
                parents: vec![input],
                stores: vec![StoreUse::Owned(stores[0])],
                factory,
            }));
        }
        let node = merged::<Windowed<K>, Change<VA>>(graph, outputs);
        KTable {
            graph: graph.clone(),
            node,
            key_serde: Some(self.settings.windowed_serde),
            value_serde: Some(self.value_serde),
            view: TableView::of_store(stores[0]),
        }
    }
}

/// The one node of `nodes`, or a node passing on the updates of all of them.
pub(crate) fn merged<K: Data, V: Data>(graph: &SharedGraph, nodes: Vec<usize>) -> usize {
    if let [only] = nodes[..] {
        return only;
    }
    graph.borrow_mut().add_node(NodeDraft {
        kind: "cogroup-merge",
        explicit: None,
        role: Role::Processor,
        parents: nodes,
        stores: Vec::new(),
        factory: passthrough::<K, V>(),
    })
}

impl<K: Data + PartialEq, V: Data, W: MergelessWindows> WindowedKStream<K, V, W> {
    /// Folds the values per key and window into an aggregate that starts from
    /// `initializer`; the aggregate's serde must be given in `materialized`.
    pub fn aggregate<VA: Data>(
        &self,
        initializer: impl Fn() -> VA + Send + Sync + 'static,
        aggregator: impl Fn(&K, V, VA) -> VA + Send + Sync + 'static,
        materialized: Materialized<K, VA>,
    ) -> KTable<Windowed<K>, VA> {
        let aggregation = Aggregation {
            add: Arc::new(move |key: &K, value, acc: Option<VA>| {
                aggregator(key, value, acc.unwrap_or_else(&initializer))
            }),
            merge: None,
        };
        self.build(Operation::Aggregate, aggregation, materialized, None)
    }
}

impl<K: Data + PartialEq, V: Data> WindowedKStream<K, V, SessionWindows> {
    /// Folds the values per key and session into an aggregate that starts from
    /// `initializer`. When a record merges sessions, their aggregates are folded with
    /// `merger` into a fresh `initializer()` (in the order the sessions end), and then the
    /// record is aggregated into the result, as Kafka Streams does. The aggregate's serde
    /// must be given in `materialized`.
    pub fn aggregate<VA: Data>(
        &self,
        initializer: impl Fn() -> VA + Send + Sync + 'static,
        aggregator: impl Fn(&K, V, VA) -> VA + Send + Sync + 'static,
        merger: impl Fn(&K, VA, VA) -> VA + Send + Sync + 'static,
        materialized: Materialized<K, VA>,
    ) -> KTable<Windowed<K>, VA> {
        let initializer = Arc::new(initializer);
        let init = initializer.clone();
        let aggregation = Aggregation {
            add: Arc::new(move |key: &K, value, acc: Option<VA>| {
                aggregator(key, value, acc.unwrap_or_else(|| init()))
            }),
            merge: Some(Arc::new(move |key: &K, acc: Option<VA>, session| {
                merger(key, acc.unwrap_or_else(|| initializer()), session)
            })),
        };
        self.build(Operation::Aggregate, aggregation, materialized, None)
    }
}

/// What a windowed aggregation does with its values.
#[derive(Debug, Clone, Copy)]
enum Operation {
    Count,
    Reduce,
    Aggregate,
}

/// The operator name of `operation` over windows of `kind`, which generated store and
/// node names derive from.
fn node_kind(kind: Kind, operation: Operation) -> &'static str {
    match (kind, operation) {
        (Kind::Time(_), Operation::Count) => "windowed-count",
        (Kind::Time(_), Operation::Reduce) => "windowed-reduce",
        (Kind::Time(_), Operation::Aggregate) => "windowed-aggregate",
        (Kind::Sliding(_), Operation::Count) => "sliding-count",
        (Kind::Sliding(_), Operation::Reduce) => "sliding-reduce",
        (Kind::Sliding(_), Operation::Aggregate) => "sliding-aggregate",
        (Kind::Session(_), Operation::Count) => "session-count",
        (Kind::Session(_), Operation::Reduce) => "session-reduce",
        (Kind::Session(_), Operation::Aggregate) => "session-aggregate",
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// What a windowed aggregation's nodes are built with, besides their logic.
struct NodeSettings<K> {
    kind: &'static str,
    expiry: Expiry,
    emit: EmitStrategy,
    wall_clock: Option<Duration>,
    key_serde: SerdeRef<K>,
    windowed_serde: SerdeRef<Windowed<K>>,
}

impl<K> Clone for NodeSettings<K> {
    fn clone(&self) -> Self {
        Self {
            kind: self.kind,
            expiry: self.expiry,
            emit: self.emit,
            wall_clock: self.wall_clock,
            key_serde: self.key_serde.clone(),
            windowed_serde: self.windowed_serde.clone(),
        }
    }
}

/// The retention and key serde of a window store of `kind`, or why the store's retention
/// cannot work.
fn window_store<K: 'static, VA>(
    kind: Kind,
    key_serde: &SerdeRef<K>,
    materialized: &Materialized<K, VA>,
) -> Result<(WindowRetention, SerdeRef<Windowed<K>>), String> {
    // Kafka Streams' minimum retention for each kind, which is also the default.
    let (needed, what, serde): (i64, &str, SerdeRef<Windowed<K>>) = match kind {
        Kind::Time(w) => (
            w.size_ms.saturating_add(w.grace_ms),
            "window size + grace",
            Arc::new(WindowedSerde::new(key_serde.clone(), w.size_ms)),
        ),
        Kind::Sliding(w) => (
            w.difference_ms.saturating_mul(2).saturating_add(w.grace_ms),
            "2 × time difference + grace",
            Arc::new(WindowedSerde::new(key_serde.clone(), w.difference_ms)),
        ),
        Kind::Session(w) => (
            w.gap_ms.saturating_add(w.grace_ms),
            "inactivity gap + grace",
            Arc::new(SessionSerde::new(key_serde.clone())),
        ),
    };
    let retention = materialized.retention.map_or(needed, millis);
    if retention < needed {
        return Err(format!(
            "the store's retention ({retention} ms) is shorter than {what} ({needed} ms); windows would be dropped before they close"
        ));
    }
    Ok((WindowRetention::new(retention), serde))
}
