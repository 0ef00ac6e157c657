//! Session-windowed aggregations: [`SessionWindowedKStream`] (from
//! [`KGroupedStream::windowed_by_session`]) aggregates each key's records into sessions
//! separated by an inactivity gap, merging sessions that a record bridges and retracting the
//! merged-away ones downstream.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use super::final_results::{EmitStrategy, closes_by};
use super::grouped_stream::KGroupedStream;
use super::params::Materialized;
use super::window_output::WindowOutput;
use super::{Data, KTable};
use crate::error::StreamsError;
use crate::processor::node::{Node, NodeHooks, NodeRef, node_factory};
use crate::record::{Change, Record};
use crate::serde::{I64Serde, SerdeRef};
use crate::store::{StoreSpec, WindowRetention};
use crate::task::TaskContext;
use crate::window::{SessionSerde, SessionWindows, Window, Windowed};

/// A window's new aggregate from a record's value and the window's aggregate so far (`None`
/// for a new window).
pub(crate) type Fold<K, V, VA> = dyn Fn(&K, V, Option<VA>) -> VA + Send + Sync;
/// The aggregate of two sessions a record bridges.
type Merge<K, VA> = dyn Fn(&K, VA, VA) -> VA + Send + Sync;

/// A grouped stream cut into sessions, ready to aggregate per key and session.
pub struct SessionWindowedKStream<K, V> {
    grouped: KGroupedStream<K, V>,
    windows: SessionWindows,
    emit: EmitStrategy,
    wall_clock: Option<Duration>,
}

impl<K: Data + PartialEq, V: Data> KGroupedStream<K, V> {
    /// Aggregations per key and session (see [`SessionWindows`]); Kafka Streams'
    /// `windowedBy(SessionWindows)`.
    pub fn windowed_by_session(&self, windows: SessionWindows) -> SessionWindowedKStream<K, V> {
        SessionWindowedKStream {
            grouped: KGroupedStream {
                stream: self.stream.clone(),
                repartition_name: self.repartition_name.clone(),
            },
            windows,
            emit: EmitStrategy::OnWindowUpdate,
            wall_clock: None,
        }
    }
}

impl<K: Data + PartialEq, V: Data> SessionWindowedKStream<K, V> {
    /// Forwards results as `strategy` says (final results: once per session, when stream
    /// time passes its end + gap + grace).
    pub fn emit_strategy(mut self, strategy: EmitStrategy) -> Self {
        self.emit = strategy;
        self
    }

    /// Also closes sessions by the wall clock, checked every `interval`: a session closes
    /// when stream time or the wall clock passes its end + gap + grace, so a partition that
    /// receives no more records still emits its final results. Records for sessions closed
    /// this way are dropped as late.
    pub fn close_on_wall_clock(mut self, interval: Duration) -> Self {
        self.wall_clock = Some(interval);
        self
    }

    /// Counts the records per key and session.
    pub fn count(&self, materialized: Materialized<K, i64>) -> KTable<Windowed<K>, i64> {
        self.build(
            "session-count",
            Arc::new(|_, _, n: Option<i64>| n.unwrap_or(0) + 1),
            Arc::new(|_, a, b| a + b),
            materialized,
            Some(Arc::new(I64Serde)),
        )
    }

    /// Combines the values per key and session with `reducer` (which also merges the
    /// aggregates of sessions a record bridges).
    pub fn reduce(
        &self,
        reducer: impl Fn(V, V) -> V + Send + Sync + 'static,
        materialized: Materialized<K, V>,
    ) -> KTable<Windowed<K>, V> {
        let reducer = Arc::new(reducer);
        let merge_with = reducer.clone();
        let value_serde = self.grouped.stream.value_serde.clone();
        self.build(
            "session-reduce",
            Arc::new(move |_, value, acc: Option<V>| match acc {
                None => value,
                Some(acc) => reducer(acc, value),
            }),
            Arc::new(move |_, a, b| merge_with(a, b)),
            materialized,
            value_serde,
        )
    }

    /// Folds the values per key and session into an aggregate that starts from
    /// `initializer`; `merger` combines the aggregates of two sessions a record bridges.
    /// The aggregate's serde must be given in `materialized`.
    pub fn aggregate<VA: Data>(
        &self,
        initializer: impl Fn() -> VA + Send + Sync + 'static,
        aggregator: impl Fn(&K, V, VA) -> VA + Send + Sync + 'static,
        merger: impl Fn(&K, VA, VA) -> VA + Send + Sync + 'static,
        materialized: Materialized<K, VA>,
    ) -> KTable<Windowed<K>, VA> {
        self.build(
            "session-aggregate",
            Arc::new(move |key, value, acc: Option<VA>| {
                aggregator(key, value, acc.unwrap_or_else(&initializer))
            }),
            Arc::new(merger),
            materialized,
            None,
        )
    }

    fn build<VA: Data>(
        &self,
        kind: &'static str,
        update: Arc<Fold<K, V, VA>>,
        merge: Arc<Merge<K, VA>>,
        materialized: Materialized<K, VA>,
        value_serde: Option<SerdeRef<VA>>,
    ) -> KTable<Windowed<K>, VA> {
        let input = self.grouped.input(kind);
        let graph = &self.grouped.stream.graph;
        let (key_serde, value_serde) = self.grouped.store_serdes(kind, &materialized, value_serde);
        let windows = self.windows;
        let needed = windows.gap_ms.saturating_add(windows.grace_ms);
        let retention = materialized
            .retention
            .map_or(needed, |r| i64::try_from(r.as_millis()).unwrap_or(i64::MAX))
            .max(needed);
        let session_serde: SerdeRef<Windowed<K>> = Arc::new(SessionSerde::new(key_serde.clone()));
        let spec = StoreSpec::new(
            String::new(),
            session_serde.clone(),
            value_serde.clone(),
            materialized.backend,
            materialized.logging,
            materialized.caching,
        )
        .windowed(WindowRetention::new(retention), key_serde.clone())
        .of_sessions();
        let (emit, wall_clock) = (self.emit, self.wall_clock);
        let factory = node_factory::<K, V, Windowed<K>, Change<VA>>(move |cx, forward| {
            let out = WindowOutput::new(
                cx.store::<Windowed<K>, VA>(0)?,
                forward,
                emit,
                session_serde.clone(),
                close_after(&windows),
                wall_clock,
            );
            let node = Rc::new(RefCell::new(SessionAggregator {
                out,
                windows,
                update: update.clone(),
                merge: merge.clone(),
            }));
            let hook = cx.register(node.clone());
            node.borrow_mut().out.set_hook(hook);
            Ok(node as NodeRef<K, V>)
        });
        let node = graph.borrow_mut().add_aggregation(
            kind,
            input,
            materialized.name,
            vec![(spec, "")],
            factory,
        );
        let table_key_serde: SerdeRef<Windowed<K>> = Arc::new(SessionSerde::new(key_serde));
        KTable {
            graph: graph.clone(),
            node,
            key_serde: Some(table_key_serde),
            value_serde: Some(value_serde),
        }
    }
}

/// A session closes when stream time passes its end + gap + grace (strictly, as in Kafka
/// Streams): the close time must reach end + gap + grace + 1.
fn close_after(windows: &SessionWindows) -> i64 {
    windows
        .gap_ms
        .saturating_add(windows.grace_ms)
        .saturating_add(1)
}

struct SessionAggregator<K, V, VA> {
    out: WindowOutput<K, VA>,
    windows: SessionWindows,
    update: Arc<Fold<K, V, VA>>,
    merge: Arc<Merge<K, VA>>,
}

impl<K: Data + PartialEq, V: Data, VA: Data> Node<K, V> for SessionAggregator<K, V, VA> {
    fn process(&mut self, cx: &mut TaskContext, record: Record<K, V>) -> Result<(), StreamsError> {
        let (ts, gap) = (record.timestamp, self.windows.gap_ms);
        let bound = |t: i64| Windowed {
            key: record.key.clone(),
            window: Window { start: t, end: t },
        };
        // The key's open sessions within `gap` of the record (a closed session is final:
        // nothing merges into it).
        let close_time = self.out.close_time(cx);
        // Sessions this record's stream time closes are emitted before its writes, which
        // may expire their segments.
        self.out.emit_closed(cx, close_time)?;
        let after = close_after(&self.windows);
        let overlapping: Vec<(Windowed<K>, VA)> = self
            .out
            .store
            .range(&bound(i64::MIN), &bound(i64::MAX))?
            .into_iter()
            .filter(|(w, _)| w.key == record.key)
            .filter(|(w, _)| {
                w.window.end >= ts.saturating_sub(gap)
                    && w.window.start <= ts.saturating_add(gap)
                    && !closes_by(w.window.end, after, close_time)
            })
            .collect();
        let merged = overlapping
            .iter()
            .fold(Window { start: ts, end: ts }, |m, (w, _)| Window {
                start: m.start.min(w.window.start),
                end: m.end.max(w.window.end),
            });
        if closes_by(merged.end, after, close_time) {
            cx.metrics.dropped_late += 1;
            return Ok(());
        }
        let mut merged_value: Option<VA> = None;
        for (session, value) in &overlapping {
            merged_value = Some(match merged_value {
                None => value.clone(),
                Some(acc) => (self.merge)(&record.key, acc, value.clone()),
            });
            if session.window != merged {
                self.out.write(cx, session.clone(), None)?;
            }
        }
        let aggregate = (self.update)(&record.key, record.value, merged_value);
        let key = Windowed {
            key: record.key,
            window: merged,
        };
        self.out.write(cx, key, Some(&aggregate))
    }
}

impl<K: Data + PartialEq, V: Data, VA: Data> NodeHooks for SessionAggregator<K, V, VA> {
    fn init(&mut self, cx: &mut TaskContext) -> Result<(), StreamsError> {
        self.out.init(cx)
    }

    fn punctuate(
        &mut self,
        cx: &mut TaskContext,
        _id: crate::processor::ScheduleId,
        timestamp: i64,
    ) -> Result<(), StreamsError> {
        self.out.punctuate(cx, timestamp)
    }

    fn flush(&mut self, cx: &mut TaskContext) -> Result<(), StreamsError> {
        self.out.flush(cx)
    }
}
