//! Session-windowed aggregations: [`SessionWindowedKStream`] (from
//! [`KGroupedStream::windowed_by_session`]) aggregates each key's records into sessions
//! separated by an inactivity gap, merging sessions that a record bridges and retracting the
//! merged-away ones downstream.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use super::final_results::{EmitStrategy, FinalBuffer, closes_by};
use super::grouped_stream::KGroupedStream;
use super::params::Materialized;
use super::repartition::require;
use super::table_changes::forward_flushed;
use super::{Data, KTable};
use crate::error::StreamsError;
use crate::processor::node::{Forward, Node, NodeHooks, NodeRef, node_factory};
use crate::record::{Change, Record};
use crate::serde::{I64Serde, SerdeRef};
use crate::store::{KeyValueStore, StoreSpec, WindowRetention};
use crate::task::TaskContext;
use crate::topology::graph::{NodeDraft, Role, StoreDraft, StoreUse};
use crate::window::{SessionSerde, SessionWindows, Window, Windowed};

/// A session's new aggregate from a record's value and the aggregate so far (`None` for a
/// new session).
type Update<K, V, VA> = dyn Fn(&K, V, Option<VA>) -> VA + Send + Sync;
/// The aggregate of two sessions a record bridges.
type Merge<K, VA> = dyn Fn(&K, VA, VA) -> VA + Send + Sync;

/// A grouped stream cut into sessions, ready to aggregate per key and session.
pub struct SessionWindowedKStream<K, V> {
    grouped: KGroupedStream<K, V>,
    windows: SessionWindows,
    emit: EmitStrategy,
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
        update: Arc<Update<K, V, VA>>,
        merge: Arc<Merge<K, VA>>,
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
        .windowed(WindowRetention::new(retention), key_serde.clone());
        let emit = self.emit;
        let factory = node_factory::<K, V, Windowed<K>, Change<VA>>(move |cx, forward| {
            let node = Rc::new(RefCell::new(SessionAggregator {
                store: cx.store::<Windowed<K>, VA>(0)?,
                windows,
                update: update.clone(),
                merge: merge.clone(),
                forward,
                pending: match emit {
                    EmitStrategy::OnWindowUpdate => None,
                    EmitStrategy::OnWindowClose(buffer) => Some(FinalBuffer::new(
                        buffer,
                        session_serde.clone(),
                        close_after(&windows),
                    )),
                },
            }));
            cx.register(node.clone());
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
    store: KeyValueStore<Windowed<K>, VA>,
    windows: SessionWindows,
    update: Arc<Update<K, V, VA>>,
    merge: Arc<Merge<K, VA>>,
    forward: Forward<Windowed<K>, Change<VA>>,
    pending: Option<FinalBuffer<K>>,
}

impl<K: Data + PartialEq, V: Data, VA: Data> SessionAggregator<K, V, VA> {
    /// Writes `value` (`None` removes) for `key`'s session, forwarding the change now or
    /// holding the session for its final result.
    fn write(
        &mut self,
        cx: &mut TaskContext,
        key: Windowed<K>,
        value: Option<&VA>,
    ) -> Result<(), StreamsError> {
        let flushed = self.store.write(&key, value)?;
        match self.pending.as_mut() {
            Some(pending) if value.is_some() => pending.hold(cx, &self.store, &self.forward, key),
            Some(_) => Ok(()),
            None => forward_flushed(&self.store, &self.forward, cx, flushed),
        }
    }
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
        let close_time = cx.stream_time;
        let after = close_after(&self.windows);
        let overlapping: Vec<(Windowed<K>, VA)> = self
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
                self.write(cx, session.clone(), None)?;
            }
        }
        let aggregate = (self.update)(&record.key, record.value, merged_value);
        let key = Windowed {
            key: record.key,
            window: merged,
        };
        self.write(cx, key, Some(&aggregate))?;
        if let Some(pending) = self.pending.as_mut() {
            pending.emit_closed(cx, &self.store, &self.forward, close_time)?;
        }
        Ok(())
    }
}

impl<K: Data + PartialEq, V: Data, VA: Data> NodeHooks for SessionAggregator<K, V, VA> {
    fn init(&mut self, cx: &mut TaskContext) -> Result<(), StreamsError> {
        match self.pending.as_mut() {
            Some(pending) => pending.rebuild(cx, &self.store, &self.forward),
            None => Ok(()),
        }
    }

    fn flush(&mut self, cx: &mut TaskContext) -> Result<(), StreamsError> {
        let flushed = self.store.flush_cache()?;
        if self.pending.is_none() {
            forward_flushed(&self.store, &self.forward, cx, flushed)?;
        }
        Ok(())
    }
}
