//! Windowed aggregations: [`TimeWindowedKStream`] (from [`KGroupedStream::windowed_by`])
//! counts, reduces or aggregates each key per time window into a window store, and forwards
//! every update or only each window's final result.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use super::grouped_stream::KGroupedStream;
use super::params::Materialized;
use super::repartition::require;
use super::table_changes::{Update, forward_flushed};
use super::{Data, KTable};
use crate::error::{StreamsError, TopologyError};
use crate::processor::PunctuationType;
use crate::processor::node::{Forward, Node, NodeHooks, NodeRef, node_factory};
use crate::record::{Change, Headers, Record};
use crate::serde::{I64Serde, SerdeRef};
use crate::store::{KeyValueStore, StoreSpec, WindowRetention};
use crate::task::{TaskContext, UNKNOWN_TIME};
use crate::topology::graph::{NodeDraft, Role, StoreDraft, StoreUse};
use crate::window::{TimeWindows, Windowed, WindowedSerde};

/// What a final-results buffer does when it holds `max_windows` open windows and another
/// one is updated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BufferFull {
    /// Emit the window that closes first now, before it closes (it is emitted again if it
    /// is updated later).
    EmitEarly,
    /// Stop the task with an error.
    Fail,
}

/// The buffer of windows awaiting their final result: at most `max_windows` open windows
/// (their values live in the window store; the buffer holds their keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FinalResults {
    max_windows: usize,
    when_full: BufferFull,
}

impl FinalResults {
    /// No limit on open windows.
    pub fn unbounded() -> Self {
        Self {
            max_windows: usize::MAX,
            when_full: BufferFull::Fail,
        }
    }

    /// At most `max_windows` open windows per task; `when_full` says what happens beyond.
    pub fn max_windows(max_windows: usize, when_full: BufferFull) -> Self {
        Self {
            max_windows: max_windows.max(1),
            when_full,
        }
    }
}

/// When a windowed aggregation forwards results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EmitStrategy {
    /// Every update as it is applied (subject to the record cache); the default.
    #[default]
    OnWindowUpdate,
    /// Each window's final result once, when it closes: stream time (or, with wall-clock
    /// closing, the wall clock) passes its end + grace. Like Kafka Streams'
    /// `suppress(untilWindowCloses(...))`.
    OnWindowClose(FinalResults),
}

/// A grouped stream cut into time windows, ready to aggregate per key and window.
pub struct TimeWindowedKStream<K, V> {
    grouped: KGroupedStream<K, V>,
    windows: TimeWindows,
    emit: EmitStrategy,
    wall_clock: Option<Duration>,
}

impl<K: Data, V: Data> KGroupedStream<K, V> {
    /// Aggregations per key and time window (tumbling or hopping, see [`TimeWindows`]).
    pub fn windowed_by(&self, windows: TimeWindows) -> TimeWindowedKStream<K, V> {
        TimeWindowedKStream {
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

impl<K: Data, V: Data> TimeWindowedKStream<K, V> {
    /// Forwards results as `strategy` says.
    pub fn emit_strategy(mut self, strategy: EmitStrategy) -> Self {
        self.emit = strategy;
        self
    }

    /// Also closes windows by the wall clock, checked every `interval`: a window closes
    /// when stream time or the wall clock passes its end + grace, so a partition that
    /// receives no more records still emits its final results. Records for windows closed
    /// this way are dropped as late.
    pub fn close_on_wall_clock(mut self, interval: Duration) -> Self {
        self.wall_clock = Some(interval);
        self
    }

    /// Counts the records per key and window.
    pub fn count(&self, materialized: Materialized<K, i64>) -> KTable<Windowed<K>, i64> {
        let update: Arc<Update<K, V, i64>> = Arc::new(|_, _, old| Some(old.unwrap_or(0) + 1));
        self.aggregate_with(
            "windowed-count",
            update,
            materialized,
            Some(Arc::new(I64Serde)),
        )
    }

    /// Combines the values per key and window with `reducer`.
    pub fn reduce(
        &self,
        reducer: impl Fn(V, V) -> V + Send + Sync + 'static,
        materialized: Materialized<K, V>,
    ) -> KTable<Windowed<K>, V> {
        let update: Arc<Update<K, V, V>> = Arc::new(move |_, value, old| {
            Some(match old {
                None => value,
                Some(aggregate) => reducer(aggregate, value),
            })
        });
        let value_serde = self.grouped.stream.value_serde.clone();
        self.aggregate_with("windowed-reduce", update, materialized, value_serde)
    }

    /// Folds the values per key and window into an aggregate that starts from
    /// `initializer`; the aggregate's serde must be given in `materialized`.
    pub fn aggregate<VA: Data>(
        &self,
        initializer: impl Fn() -> VA + Send + Sync + 'static,
        aggregator: impl Fn(&K, V, VA) -> VA + Send + Sync + 'static,
        materialized: Materialized<K, VA>,
    ) -> KTable<Windowed<K>, VA> {
        let update: Arc<Update<K, V, VA>> = Arc::new(move |key, value, old| {
            Some(aggregator(key, value, old.unwrap_or_else(&initializer)))
        });
        self.aggregate_with("windowed-aggregate", update, materialized, None)
    }

    fn aggregate_with<VA: Data>(
        &self,
        kind: &'static str,
        update: Arc<Update<K, V, VA>>,
        materialized: Materialized<K, VA>,
        value_serde: Option<SerdeRef<VA>>,
    ) -> KTable<Windowed<K>, VA> {
        let input = self.grouped.input(kind);
        let graph = &self.grouped.stream.graph;
        let fix = "give it in `Materialized` (with_key_serde / with_value_serde) or upstream";
        let key_serde = require(
            graph,
            materialized
                .key_serde
                .or(self.grouped.stream.key_serde.clone()),
            kind,
            "key",
            "store keys",
            fix,
        );
        let value_serde = require(
            graph,
            materialized.value_serde.or(value_serde),
            kind,
            "value",
            "store values",
            fix,
        );
        let windows = self.windows;
        let needed = windows.size_ms.saturating_add(windows.grace_ms);
        let retention = match materialized.retention {
            Some(r) => i64::try_from(r.as_millis()).unwrap_or(i64::MAX),
            None => needed,
        };
        if retention < needed {
            graph.borrow_mut().errors.push(TopologyError::InvalidWindows {
                operator: kind.to_owned(),
                reason: format!(
                    "the store's retention ({retention} ms) is shorter than window size + grace ({needed} ms); windows would be dropped before they close"
                ),
            });
        }
        let windowed_serde: SerdeRef<Windowed<K>> =
            Arc::new(WindowedSerde::new(key_serde.clone(), windows.size_ms));
        let spec = StoreSpec::new(
            String::new(),
            windowed_serde.clone(),
            value_serde.clone(),
            materialized.backend,
            materialized.logging,
            materialized.caching,
        )
        .windowed(WindowRetention::new(retention), key_serde.clone());
        let (emit, wall_clock) = (self.emit, self.wall_clock);
        let factory = node_factory::<K, V, Windowed<K>, Change<VA>>(move |cx, forward| {
            let node = Rc::new(RefCell::new(WindowAggregator {
                store: cx.store::<Windowed<K>, VA>(0)?,
                key_serde: windowed_serde.clone(),
                windows,
                update: update.clone(),
                forward,
                pending: match emit {
                    EmitStrategy::OnWindowUpdate => None,
                    EmitStrategy::OnWindowClose(buffer) => Some(Pending {
                        buffer,
                        windows: BTreeMap::new(),
                    }),
                },
                wall_clock,
                wall_close: UNKNOWN_TIME,
                hook: 0,
            }));
            let hook = cx.register(node.clone());
            node.borrow_mut().hook = hook;
            Ok(node as NodeRef<K, V>)
        });
        let mut g = graph.borrow_mut();
        let owner = g.nodes.len();
        g.stores.push(StoreDraft {
            explicit: materialized.name,
            owner,
            spec,
        });
        let store = g.stores.len() - 1;
        let node = g.add_node(NodeDraft {
            kind,
            explicit: None,
            role: Role::Processor,
            parents: vec![input],
            stores: vec![StoreUse::Owned(store)],
            factory,
        });
        let table_key_serde: SerdeRef<Windowed<K>> =
            Arc::new(WindowedSerde::new(key_serde, windows.size_ms));
        KTable {
            graph: graph.clone(),
            node,
            key_serde: Some(table_key_serde),
            value_serde: Some(value_serde),
        }
    }
}

/// Whether a window ending at `end` with `grace` has closed by `close_time`.
fn closed(end: i64, grace: i64, close_time: i64) -> bool {
    close_time != UNKNOWN_TIME && end.saturating_add(grace) <= close_time
}

/// The windows whose final result is still to come, by (end, key bytes).
struct Pending<K> {
    buffer: FinalResults,
    windows: BTreeMap<(i64, Vec<u8>), Windowed<K>>,
}

struct WindowAggregator<K, V, VA> {
    store: KeyValueStore<Windowed<K>, VA>,
    key_serde: SerdeRef<Windowed<K>>,
    windows: TimeWindows,
    update: Arc<Update<K, V, VA>>,
    forward: Forward<Windowed<K>, Change<VA>>,
    /// With final results only: the windows not emitted yet.
    pending: Option<Pending<K>>,
    wall_clock: Option<Duration>,
    /// The wall-clock time of the last wall-clock check, when windows close on it.
    wall_close: i64,
    hook: usize,
}

impl<K: Data, V: Data, VA: Data> WindowAggregator<K, V, VA> {
    /// The time windows are closed by: stream time, or the wall clock when later.
    fn close_time(&self, cx: &TaskContext) -> i64 {
        cx.stream_time.max(self.wall_close)
    }

    /// Forwards the final result of `key`'s window.
    fn emit_final(&self, cx: &mut TaskContext, key: Windowed<K>) -> Result<(), StreamsError> {
        let Some(value) = self.store.get(&key)? else {
            return Ok(());
        };
        let timestamp = key.window.end - 1;
        self.forward.send(
            cx,
            Record {
                key,
                value: Change {
                    new: Some(value),
                    old: None,
                },
                timestamp,
                headers: Headers::new(),
            },
        )
    }

    /// Emits every pending window closed by `close_time`, earliest end first.
    fn emit_closed(&mut self, cx: &mut TaskContext, close_time: i64) -> Result<(), StreamsError> {
        loop {
            let grace = self.windows.grace_ms;
            let Some(pending) = self.pending.as_mut() else {
                return Ok(());
            };
            let Some(entry) = pending.windows.first_entry() else {
                return Ok(());
            };
            if !closed(entry.key().0, grace, close_time) {
                return Ok(());
            }
            let key = entry.remove();
            self.emit_final(cx, key)?;
        }
    }

    /// Adds `key`'s window to the pending ones, enforcing the buffer's bound.
    fn hold(&mut self, cx: &mut TaskContext, key: Windowed<K>) -> Result<(), StreamsError> {
        let mut bytes = Vec::new();
        self.key_serde
            .serialize(&key, &mut bytes)
            .map_err(|e| StreamsError::Processor {
                processor: "windowed aggregation".into(),
                message: e.to_string(),
            })?;
        let Some(pending) = self.pending.as_mut() else {
            return Ok(());
        };
        pending.windows.insert((key.window.end, bytes), key);
        if pending.windows.len() <= pending.buffer.max_windows {
            return Ok(());
        }
        match pending.buffer.when_full {
            BufferFull::Fail => Err(StreamsError::Processor {
                processor: "windowed aggregation".into(),
                message: format!(
                    "the final-results buffer holds its limit of {} open windows; raise `FinalResults::max_windows` or use `BufferFull::EmitEarly`",
                    pending.buffer.max_windows
                ),
            }),
            BufferFull::EmitEarly => {
                let (_, first) = pending
                    .windows
                    .pop_first()
                    .expect("the buffer is over its limit");
                self.emit_final(cx, first)
            }
        }
    }
}

impl<K: Data, V: Data, VA: Data> Node<K, V> for WindowAggregator<K, V, VA> {
    fn process(&mut self, cx: &mut TaskContext, record: Record<K, V>) -> Result<(), StreamsError> {
        let close_time = self.close_time(cx);
        for window in self.windows.windows_for(record.timestamp) {
            if closed(window.end, self.windows.grace_ms, close_time) {
                cx.metrics.dropped_late += 1;
                continue;
            }
            let key = Windowed {
                key: record.key.clone(),
                window,
            };
            let old = self.store.get(&key)?;
            let new = (self.update)(&record.key, record.value.clone(), old);
            let flushed = self.store.write(&key, new.as_ref())?;
            if self.pending.is_some() {
                self.hold(cx, key)?;
            } else {
                forward_flushed(&self.store, &self.forward, cx, flushed)?;
            }
        }
        self.emit_closed(cx, close_time)
    }
}

impl<K: Data, V: Data, VA: Data> NodeHooks for WindowAggregator<K, V, VA> {
    fn init(&mut self, cx: &mut TaskContext) -> Result<(), StreamsError> {
        if let Some(interval) = self.wall_clock {
            cx.schedule(self.hook, interval, PunctuationType::WallClockTime);
        }
        if self.pending.is_some() {
            // After a restart the windows in the store may still await their final
            // result; those already emitted before a crash are emitted again
            // (at-least-once).
            for (key, _) in self.store.all()? {
                self.hold(cx, key)?;
            }
        }
        Ok(())
    }

    fn punctuate(
        &mut self,
        cx: &mut TaskContext,
        _id: crate::processor::ScheduleId,
        timestamp: i64,
    ) -> Result<(), StreamsError> {
        self.wall_close = self.wall_close.max(timestamp);
        let close_time = self.close_time(cx);
        self.emit_closed(cx, close_time)
    }

    fn flush(&mut self, cx: &mut TaskContext) -> Result<(), StreamsError> {
        let flushed = self.store.flush_cache()?;
        if self.pending.is_none() {
            forward_flushed(&self.store, &self.forward, cx, flushed)?;
        }
        Ok(())
    }
}
