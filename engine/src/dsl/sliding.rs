//! Sliding-window aggregations: [`SlidingWindowedKStream`] (from
//! [`KGroupedStream::windowed_by_sliding`]) aggregates each key's records in the windows of
//! [`SlidingWindows`] and forwards every update or only each window's final result.
//!
//! A new window gets its aggregate without re-reading records. Every stored window holds
//! exactly the records in its time range: a record is accepted only while its own window
//! `[t - difference, t]` is open, and then every window it falls in (they all end at or
//! after `t`) is open too, so no window misses a record. The records a new window holds
//! before the record that creates it are always exactly those of a window already stored,
//! which the key's record times tell apart; those times live in a companion store named
//! after the main one with `-times`. The new window copies that aggregate and folds the
//! record in.
//!
//! The times store has no record cache, so that the range read of a key's times around each
//! record goes straight to the ordered store; windows are read by point lookups at the
//! starts the times imply (through the window store's cache).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use super::final_results::{EmitStrategy, closes_by};
use super::grouped_stream::KGroupedStream;
use super::params::Materialized;
use super::session::Fold;
use super::window_output::WindowOutput;
use super::{Data, KTable};
use crate::error::{StreamsError, TopologyError};
use crate::processor::node::{Node, NodeHooks, NodeRef, node_factory};
use crate::record::{Change, Record};
use crate::serde::{I64Serde, SerdeRef};
use crate::store::{KeyValueStore, StoreSpec, WindowRetention};
use crate::task::TaskContext;
use crate::window::{SlidingWindows, Window, Windowed, WindowedSerde};

/// A grouped stream cut into sliding windows, ready to aggregate per key and window.
pub struct SlidingWindowedKStream<K, V> {
    grouped: KGroupedStream<K, V>,
    windows: SlidingWindows,
    emit: EmitStrategy,
    wall_clock: Option<Duration>,
}

impl<K: Data + PartialEq, V: Data> KGroupedStream<K, V> {
    /// Aggregations per key and sliding window (see [`SlidingWindows`]); Kafka Streams'
    /// `windowedBy(SlidingWindows)`.
    pub fn windowed_by_sliding(&self, windows: SlidingWindows) -> SlidingWindowedKStream<K, V> {
        SlidingWindowedKStream {
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

impl<K: Data + PartialEq, V: Data> SlidingWindowedKStream<K, V> {
    /// Forwards results as `strategy` says (final results: once per window, when stream
    /// time passes its end + grace).
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
        self.build(
            "sliding-count",
            Arc::new(|_, _, n: Option<i64>| n.unwrap_or(0) + 1),
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
        let value_serde = self.grouped.stream.value_serde.clone();
        self.build(
            "sliding-reduce",
            Arc::new(move |_, value, acc: Option<V>| match acc {
                None => value,
                Some(acc) => reducer(acc, value),
            }),
            materialized,
            value_serde,
        )
    }

    /// Folds the values per key and window into an aggregate that starts from
    /// `initializer`; the aggregate's serde must be given in `materialized`.
    pub fn aggregate<VA: Data>(
        &self,
        initializer: impl Fn() -> VA + Send + Sync + 'static,
        aggregator: impl Fn(&K, V, VA) -> VA + Send + Sync + 'static,
        materialized: Materialized<K, VA>,
    ) -> KTable<Windowed<K>, VA> {
        self.build(
            "sliding-aggregate",
            Arc::new(move |key, value, acc: Option<VA>| {
                aggregator(key, value, acc.unwrap_or_else(&initializer))
            }),
            materialized,
            None,
        )
    }

    fn build<VA: Data>(
        &self,
        kind: &'static str,
        update: Arc<Fold<K, V, VA>>,
        materialized: Materialized<K, VA>,
        value_serde: Option<SerdeRef<VA>>,
    ) -> KTable<Windowed<K>, VA> {
        let input = self.grouped.input(kind);
        let graph = &self.grouped.stream.graph;
        let (key_serde, value_serde) = self.grouped.store_serdes(kind, &materialized, value_serde);
        let windows = self.windows;
        let until_closed = windows.difference_ms.saturating_add(windows.grace_ms);
        let retention = materialized
            .retention
            .map_or(0, |r| i64::try_from(r.as_millis()).unwrap_or(i64::MAX));
        if materialized.retention.is_some() && retention < until_closed {
            graph.borrow_mut().errors.push(TopologyError::InvalidWindows {
                operator: kind.to_owned(),
                reason: format!(
                    "the store's retention ({retention} ms) is shorter than time difference + grace ({until_closed} ms); windows would be dropped before they close"
                ),
            });
        }
        let retention = WindowRetention::new(retention.max(kept_for(&windows)));
        let windowed_serde: SerdeRef<Windowed<K>> =
            Arc::new(WindowedSerde::new(key_serde.clone(), windows.difference_ms));
        let (backend, logging, caching) = (
            materialized.backend,
            materialized.logging,
            materialized.caching,
        );
        let spec = StoreSpec::new(
            String::new(),
            windowed_serde.clone(),
            value_serde.clone(),
            backend,
            logging,
            caching,
        )
        .windowed(retention, key_serde.clone());
        let times_serde: SerdeRef<Windowed<K>> = Arc::new(WindowedSerde::new(key_serde.clone(), 0));
        let times_spec = StoreSpec::new(
            String::new(),
            times_serde,
            Arc::new(I64Serde) as SerdeRef<i64>,
            backend,
            logging,
            false,
        )
        .windowed(retention, key_serde.clone());
        let (emit, wall_clock) = (self.emit, self.wall_clock);
        let factory = node_factory::<K, V, Windowed<K>, Change<VA>>(move |cx, forward| {
            let out = WindowOutput::new(
                cx.store::<Windowed<K>, VA>(0)?,
                forward,
                emit,
                windowed_serde.clone(),
                close_after(&windows),
                wall_clock,
            );
            let node = Rc::new(RefCell::new(SlidingAggregator {
                out,
                times: cx.store::<Windowed<K>, i64>(1)?,
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
            vec![(spec, ""), (times_spec, "-times")],
            factory,
        );
        let table_key_serde: SerdeRef<Windowed<K>> =
            Arc::new(WindowedSerde::new(key_serde, windows.difference_ms));
        KTable {
            graph: graph.clone(),
            node,
            key_serde: Some(table_key_serde),
            value_serde: Some(value_serde),
        }
    }
}

/// A window `[start, end]` closes when stream time passes its end + grace: the close time
/// must reach end + grace + 1.
fn close_after(windows: &SlidingWindows) -> i64 {
    windows.grace_ms.saturating_add(1)
}

/// How long the stores keep windows and record times: a new window copies a window that
/// can start up to twice the time difference before the record, which itself can be up to
/// grace behind stream time.
fn kept_for(windows: &SlidingWindows) -> i64 {
    windows
        .difference_ms
        .saturating_mul(2)
        .saturating_add(windows.grace_ms)
        .saturating_add(2)
}

/// What a window that a record creates holds before the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Before {
    /// No records.
    Nothing,
    /// The same records as the stored window starting at this time.
    SameAs(i64),
}

/// The windows a record at `t` creates, by start, with what each holds before the record.
/// `times` are the key's record times in ascending order (at least those from
/// `t - 2 * difference` to `t + difference + 1`); `stored` says whether a window starting at
/// a time exists.
fn new_windows(
    t: i64,
    difference: i64,
    times: &[i64],
    stored: impl Fn(i64) -> bool,
) -> Vec<(i64, Before)> {
    let d = difference;
    let latest_in = |from: i64, to: i64| {
        times
            .iter()
            .rev()
            .copied()
            .find(|x| (from..=to).contains(x))
    };
    let mut created = Vec::new();
    // The record's own window [t - d, t]; before the record it holds the records in
    // [t - d, t). With `last` the latest of them and `p` the latest record before t - d,
    // those are the records of `last`'s own window when it starts after `p`, else of the
    // window right after `p`.
    let own = t.saturating_sub(d);
    if !stored(own) {
        let before = match latest_in(own, t - 1) {
            None => Before::Nothing,
            Some(last) => match latest_in(i64::MIN, own - 1) {
                Some(p) if p >= last.saturating_sub(d) => Before::SameAs(p + 1),
                _ => Before::SameAs(last.saturating_sub(d)),
            },
        };
        created.push((own, before));
    }
    // The window right after the record, [t + 1, t + 1 + d], when later records (arrived
    // earlier) fall in it. With `last` the latest of them, it holds the records of the
    // window right after the latest record `q` in [last - d, t), or of `last`'s own window
    // when there is none.
    let after = t.saturating_add(1);
    if !stored(after)
        && let Some(last) = latest_in(after, after.saturating_add(d))
    {
        let before = match latest_in(last.saturating_sub(d), t - 1) {
            Some(q) => Before::SameAs(q + 1),
            None => Before::SameAs(last.saturating_sub(d)),
        };
        created.push((after, before));
    }
    // The window right after the previous record, empty until this record falls in it.
    if let Some(prev) = latest_in(t.saturating_sub(d).saturating_sub(1), t - 1)
        && prev + 1 != own
        && !stored(prev + 1)
    {
        created.push((prev + 1, Before::Nothing));
    }
    created
}

struct SlidingAggregator<K, V, VA> {
    out: WindowOutput<K, VA>,
    /// How many records of each key arrived at each time.
    times: KeyValueStore<Windowed<K>, i64>,
    windows: SlidingWindows,
    update: Arc<Fold<K, V, VA>>,
}

impl<K: Data + PartialEq, V: Data, VA: Data> Node<K, V> for SlidingAggregator<K, V, VA> {
    fn process(&mut self, cx: &mut TaskContext, record: Record<K, V>) -> Result<(), StreamsError> {
        let (t, d) = (record.timestamp, self.windows.difference_ms);
        let close_time = self.out.close_time(cx);
        // Windows this record's stream time closes are emitted before its writes, which
        // may expire their segments.
        self.out.emit_closed(cx, close_time)?;
        if closes_by(t, close_after(&self.windows), close_time) {
            cx.metrics.dropped_late += 1;
            return Ok(());
        }
        let at = |start: i64, size: i64| Windowed {
            key: record.key.clone(),
            window: Window {
                start,
                end: start.saturating_add(size),
            },
        };
        let from = t.saturating_sub(d.saturating_mul(2));
        let to = t.saturating_add(d).saturating_add(1);
        let mut count_at_t = 0;
        let mut times = Vec::new();
        for (w, n) in self.times.range(&at(from, 0), &at(to, 0))? {
            if w.key == record.key {
                times.push(w.window.start);
                if w.window.start == t {
                    count_at_t = n;
                }
            }
        }
        // Every window starts at a record's time - d (its own) or + 1 (the one after it).
        // Point reads of those from t - d to t + 1 find every stored window the record
        // falls in or could create.
        let own = t.saturating_sub(d);
        let candidates: BTreeSet<i64> = times
            .iter()
            .flat_map(|r| [r.saturating_sub(d), r.saturating_add(1)])
            .filter(|start| (own..=t.saturating_add(1)).contains(start))
            .collect();
        let mut stored = BTreeMap::new();
        for start in candidates {
            if let Some(value) = self.out.store.get(&at(start, d))? {
                stored.insert(start, value);
            }
        }
        let mut before: BTreeMap<i64, Option<VA>> = BTreeMap::new();
        for (start, held) in new_windows(t, d, &times, |start| stored.contains_key(&start)) {
            let value = match held {
                Before::Nothing => None,
                // A window to copy that starts before t - d is read now. One is missing
                // only when the stores were restored from changelogs cut at different
                // points (a crash between commits); the new window then starts from what
                // it can see: the record alone.
                Before::SameAs(source) => match stored.get(&source) {
                    Some(value) => Some(value.clone()),
                    None => self.out.store.get(&at(source, d))?,
                },
            };
            before.insert(start, value);
        }
        // The stored windows the record falls in: those starting from t - d to t.
        before.extend(
            stored
                .into_iter()
                .filter(|(start, _)| *start <= t)
                .map(|(start, value)| (start, Some(value))),
        );
        for (start, held) in before {
            let value = if start <= t {
                (self.update)(&record.key, record.value.clone(), held)
            } else {
                match held {
                    Some(value) => value,
                    None => continue,
                }
            };
            self.out.write(cx, at(start, d), Some(&value))?;
        }
        self.times.put(&at(t, 0), &(count_at_t + 1))
    }
}

impl<K: Data + PartialEq, V: Data, VA: Data> NodeHooks for SlidingAggregator<K, V, VA> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn created(t: i64, times: &[i64], stored: &[i64]) -> Vec<(i64, Before)> {
        new_windows(t, 10, times, |s| stored.contains(&s))
    }

    #[test]
    fn an_in_order_record_creates_its_own_window_and_the_one_after_the_previous_record() {
        // Records at 0 and 5: windows [-10, 0], [-5, 5] and [1, 11] (after 0, holding 5).
        let stored = [-10, -5, 1];
        // A record at 8 holds 0 and 5 in its own window [-2, 8]: the same as 5's own window
        // [-5, 5], since nothing came before -2; and 5 had no window after it yet.
        assert_eq!(
            created(8, &[0, 5], &stored),
            vec![(-2, Before::SameAs(-5)), (6, Before::Nothing)]
        );
        // A record at 13: its window [3, 13] holds just 5 — the window after 0, [1, 11]
        // (0's own window would include 0).
        assert_eq!(
            created(13, &[0, 5], &stored),
            vec![(3, Before::SameAs(1)), (6, Before::Nothing)]
        );
        // A record at 30, far from the rest: an empty own window, nothing else.
        assert_eq!(created(30, &[0, 5], &stored), vec![(20, Before::Nothing)]);
    }

    #[test]
    fn an_out_of_order_record_also_creates_the_window_after_it() {
        // Records at 0 and 12: windows [-10, 0] and [2, 12]; none after 0, since 12 lies
        // beyond [1, 11].
        let stored = [-10, 2];
        // A record at 5: its own window [-5, 5] holds 0 (0's own window, [-10, 0]); the
        // window after it, [6, 16], holds 12 — the same as 12's own window [2, 12] since no
        // record lies in [2, 5); and 0's window after, [1, 11], is new and empty before 5.
        assert_eq!(
            created(5, &[0, 12], &stored),
            vec![
                (-5, Before::SameAs(-10)),
                (6, Before::SameAs(2)),
                (1, Before::Nothing)
            ]
        );
        // Records at 0, 3 and 12 (windows [-10, 0], [-7, 3], [1, 11], [2, 12], [4, 14]):
        // a record at 5 has [6, 16] holding only 12, as the window after 3 does.
        let stored = [-10, -7, 1, 2, 4];
        assert_eq!(
            created(5, &[0, 3, 12], &stored),
            vec![(-5, Before::SameAs(-7)), (6, Before::SameAs(4))]
        );
    }
}
