//! Windowed aggregations: [`TimeWindowedKStream`] (from [`KGroupedStream::windowed_by`])
//! counts, reduces or aggregates each key per time window into a window store, and forwards
//! every update or only each window's final result.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use super::final_results::{EmitStrategy, closes_by};
use super::grouped_stream::KGroupedStream;
use super::params::Materialized;
use super::table_changes::Update;
use super::window_output::WindowOutput;
use super::{Data, KTable};
use crate::error::{StreamsError, TopologyError};
use crate::processor::node::{Node, NodeHooks, NodeRef, node_factory};
use crate::record::{Change, Record};
use crate::serde::{I64Serde, SerdeRef};
use crate::store::{StoreSpec, WindowRetention};
use crate::task::TaskContext;
use crate::window::{TimeWindows, Windowed, WindowedSerde};

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
        let (key_serde, value_serde) = self.grouped.store_serdes(kind, &materialized, value_serde);
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
            let out = WindowOutput::new(
                cx.store::<Windowed<K>, VA>(0)?,
                forward,
                emit,
                windowed_serde.clone(),
                windows.grace_ms,
                wall_clock,
            );
            let node = Rc::new(RefCell::new(WindowAggregator {
                out,
                windows,
                update: update.clone(),
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

struct WindowAggregator<K, V, VA> {
    out: WindowOutput<K, VA>,
    windows: TimeWindows,
    update: Arc<Update<K, V, VA>>,
}

impl<K: Data, V: Data, VA: Data> Node<K, V> for WindowAggregator<K, V, VA> {
    fn process(&mut self, cx: &mut TaskContext, record: Record<K, V>) -> Result<(), StreamsError> {
        // Windows this record's stream time closes are emitted before its writes, which
        // may expire their segments.
        let close_time = self.out.close_time(cx);
        self.out.emit_closed(cx, close_time)?;
        for window in self.windows.windows_for(record.timestamp) {
            if closes_by(window.end, self.windows.grace_ms, close_time) {
                cx.metrics.dropped_late += 1;
                continue;
            }
            let key = Windowed {
                key: record.key.clone(),
                window,
            };
            let old = self.out.store.get(&key)?;
            let new = (self.update)(&record.key, record.value.clone(), old);
            self.out.write(cx, key, new.as_ref())?;
        }
        Ok(())
    }
}

impl<K: Data, V: Data, VA: Data> NodeHooks for WindowAggregator<K, V, VA> {
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
