//! Sliding windows (KIP-450): windows `[start, start + difference]` that exist where records
//! are, so that each distinct set of records no further apart than the time difference is
//! aggregated once.
//!
//! This is Kafka Streams' `KStreamSlidingWindowAggregate`, step for step: the windows a
//! record needs are found, and new ones filled, from the aggregates of the windows around
//! it and the largest record timestamp each is stamped with — no record is read twice.
//! Every record at `t` has a left window `[t - difference, t]`; a right window
//! `[t + 1, t + 1 + difference]` exists once a later record falls into it. Records earlier
//! than the time difference after the epoch share the window `[0, difference]`, as windows
//! do not start before 0.

use std::collections::HashSet;
use std::sync::Arc;

use super::node::{Add, WindowLogic};
use super::output::WindowOutput;
use crate::dsl::Data;
use crate::error::StreamsError;
use crate::processor::TaskContext;
use crate::record::Record;
use crate::store::ValueAndTimestamp;
use crate::window::{SlidingWindows, Window, Windowed};

pub(crate) struct SlidingLogic<K, V, VA> {
    pub(crate) windows: SlidingWindows,
    pub(crate) add: Arc<Add<K, V, VA>>,
}

/// A stored window of the record's key: its start and its aggregate.
type Found<VA> = (i64, ValueAndTimestamp<VA>);

/// The record being aggregated. Its key sits in one window key, whose window each write
/// sets, so that the record's six to eight windows do not copy the key.
struct Current<K, V> {
    key: Windowed<K>,
    value: V,
    timestamp: i64,
}

/// What the windows around a record say about the windows it needs.
struct Around<VA> {
    /// Starts of every window found.
    starts: HashSet<i64>,
    /// The aggregate a new left window copies (the records before the record within
    /// the time difference).
    left: Option<ValueAndTimestamp<VA>>,
    /// The aggregate a new right window copies (the records after the record).
    right: Option<ValueAndTimestamp<VA>>,
    left_exists: bool,
    right_exists: bool,
    /// The timestamp of the latest record before this one, when the windows tell it.
    previous: Option<i64>,
}

impl<VA> Default for Around<VA> {
    fn default() -> Self {
        Self {
            starts: HashSet::new(),
            left: None,
            right: None,
            left_exists: false,
            right_exists: false,
            previous: None,
        }
    }
}

impl<K: Data + PartialEq, V: Data, VA: Data> WindowLogic<K, V, VA> for SlidingLogic<K, V, VA> {
    fn close_after(&self) -> i64 {
        // A window [start, end] closes when stream time passes end + grace.
        self.windows.grace_ms.saturating_add(1)
    }

    fn process(
        &self,
        out: &mut WindowOutput<K, VA>,
        cx: &mut TaskContext,
        record: Record<K, V>,
    ) -> Result<(), StreamsError> {
        let (t, d) = (record.timestamp, self.windows.difference_ms);
        // The record is late when even its latest window, [t, t + d], has closed.
        if out.is_closed(t.saturating_add(d)) {
            cx.metrics.dropped_late += 1;
            return Ok(());
        }
        let mut current = Current {
            key: Windowed {
                key: record.key,
                window: Window { start: t, end: t },
            },
            value: record.value,
            timestamp: t,
        };
        if t < d {
            return self.process_early(out, cx, &mut current);
        }
        let mut found = self.fetch_around(out, &current.key.key, t)?;
        found.reverse();
        let mut around = Around::default();
        for (start, value) in found {
            around.starts.insert(start);
            let end = start.saturating_add(d);
            if start == t + 1 {
                around.right_exists = true;
            } else if end > t {
                if around.right.is_none() {
                    around.right = Some(value.clone());
                }
                self.update(out, cx, &mut current, start, Some(value))?;
            } else if end == t {
                around.left_exists = true;
                let latest = value.timestamp;
                self.update(out, cx, &mut current, start, Some(value))?;
                if latest < t {
                    around.previous = Some(latest);
                } else {
                    // A record at t came before: every window this one needs exists.
                    return Ok(());
                }
            } else {
                around.previous = Some(value.timestamp);
                around.left = Some(value);
                break;
            }
        }
        self.create_windows(out, cx, &mut current, around)
    }
}

impl<K: Data + PartialEq, V: Data, VA: Data> SlidingLogic<K, V, VA> {
    /// The key's stored windows starting from `from` to `to`, by start.
    fn fetch(
        &self,
        out: &WindowOutput<K, VA>,
        key: &K,
        from: i64,
        to: i64,
    ) -> Result<Vec<Found<VA>>, StreamsError> {
        let d = self.windows.difference_ms;
        let at = |start: i64| Windowed {
            key: key.clone(),
            window: Window {
                start,
                end: start.saturating_add(d),
            },
        };
        Ok(out
            .fetch(&at(from), &at(to), from)?
            .into_iter()
            .map(|(times, value)| (times.start, value))
            .collect())
    }

    /// The windows a record at `t` (at least the time difference after the epoch) reads,
    /// by start: those from `t - 2 × difference` to `t + 1`, as Kafka Streams fetches them,
    /// of which [`WindowLogic::process`] reads backwards only down to the first one ending
    /// before `t`. Half the difference before `t - difference` holds such a window whenever
    /// the key's records are that close; only when it does not are the earlier ones read.
    fn fetch_around(
        &self,
        out: &WindowOutput<K, VA>,
        key: &K,
        t: i64,
    ) -> Result<Vec<Found<VA>>, StreamsError> {
        let d = self.windows.difference_ms;
        let from = t.saturating_sub(d.saturating_mul(2)).max(0);
        let near = t.saturating_sub(d.saturating_add(d / 2)).max(from);
        let mut found = self.fetch(out, key, near, t.saturating_add(1))?;
        if near > from && found.first().is_none_or(|(start, _)| *start >= t - d) {
            let mut earlier = self.fetch(out, key, from, near - 1)?;
            earlier.append(&mut found);
            found = earlier;
        }
        Ok(found)
    }

    /// Folds the record into the window starting at `start` whose aggregate so far is
    /// `held` (`None`: a new, empty window), unless the window has closed (then the record
    /// counts as late for it). The window is stamped with the largest record timestamp in
    /// it.
    fn update(
        &self,
        out: &mut WindowOutput<K, VA>,
        cx: &mut TaskContext,
        current: &mut Current<K, V>,
        start: i64,
        held: Option<ValueAndTimestamp<VA>>,
    ) -> Result<(), StreamsError> {
        let end = start.saturating_add(self.windows.difference_ms);
        if out.is_closed(end) {
            cx.metrics.dropped_late += 1;
            return Ok(());
        }
        let timestamp = held
            .as_ref()
            .map_or(current.timestamp, |h| h.timestamp.max(current.timestamp));
        let value = (self.add)(
            &current.key.key,
            current.value.clone(),
            held.map(|h| h.value),
        );
        current.key.window = Window { start, end };
        out.put(cx, &current.key, ValueAndTimestamp { value, timestamp })
    }

    /// Creates the windows the record needs that do not exist yet: the right window of the
    /// previous record (when this record falls into it), the record's left window, and its
    /// right window (when later records fall into it).
    fn create_windows(
        &self,
        out: &mut WindowOutput<K, VA>,
        cx: &mut TaskContext,
        current: &mut Current<K, V>,
        around: Around<VA>,
    ) -> Result<(), StreamsError> {
        let (t, d) = (current.timestamp, self.windows.difference_ms);
        let mut left_exists = around.left_exists;
        if let Some(previous) = around.previous {
            let start = previous + 1;
            if !around.starts.contains(&start) && start.saturating_add(d) >= t {
                self.update(out, cx, current, start, None)?;
                // The previous record's right window may be this record's left window:
                // created once (Kafka Streams forwards it a second time, unchanged).
                left_exists |= start == t - d;
            }
        }
        if !left_exists {
            let held = match (around.previous, around.left) {
                (Some(previous), Some(left)) if t - d <= previous => Some(left.value),
                _ => None,
            };
            let held = held.map(|value| ValueAndTimestamp {
                value,
                timestamp: t,
            });
            self.update(out, cx, current, t - d, held)?;
        }
        if !around.right_exists {
            self.create_right_window(out, cx, current, around.right)?;
        }
        Ok(())
    }

    /// The record's right window, holding `right` (the records after it), when that holds
    /// any record later than it.
    fn create_right_window(
        &self,
        out: &mut WindowOutput<K, VA>,
        cx: &mut TaskContext,
        current: &mut Current<K, V>,
        right: Option<ValueAndTimestamp<VA>>,
    ) -> Result<(), StreamsError> {
        let t = current.timestamp;
        let Some(right) = right.filter(|r| r.timestamp > t) else {
            return Ok(());
        };
        let start = t + 1;
        current.key.window = Window {
            start,
            end: start.saturating_add(self.windows.difference_ms),
        };
        out.put(cx, &current.key, right)
    }

    /// A record earlier than the time difference after the epoch: its left window would
    /// start before 0, so it goes into the window `[0, difference]` that holds every such
    /// record.
    fn process_early(
        &self,
        out: &mut WindowOutput<K, VA>,
        cx: &mut TaskContext,
        current: &mut Current<K, V>,
    ) -> Result<(), StreamsError> {
        let t = current.timestamp;
        let mut combined: Option<ValueAndTimestamp<VA>> = None;
        let mut right: Option<ValueAndTimestamp<VA>> = None;
        let mut right_exists = false;
        let mut previous = None;
        let mut starts = HashSet::new();
        for (start, value) in self.fetch(out, &current.key.key, 0, t.saturating_add(1))? {
            starts.insert(start);
            if start == 0 {
                if value.timestamp < t {
                    previous = Some(value.timestamp);
                }
                combined = Some(value);
            } else if start <= t {
                right = Some(value.clone());
                self.update(out, cx, current, start, Some(value))?;
            } else if start == t + 1 {
                right_exists = true;
            }
        }
        // Without a right window found, the combined window's records after this one are
        // exactly what its right window holds.
        if right.is_none() {
            right = combined.clone().filter(|c| c.timestamp > t);
        }
        if !right_exists {
            self.create_right_window(out, cx, current, right)?;
        }
        if let Some(previous) = previous
            && !starts.contains(&(previous + 1))
        {
            self.update(out, cx, current, previous + 1, None)?;
        }
        self.update(out, cx, current, 0, combined)
    }
}
