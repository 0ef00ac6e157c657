//! Final results of windowed aggregations: the buffer of windows whose result is still to
//! come, emitted once each when the window closes.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::dsl::Data;
use crate::error::StreamsError;
use crate::processor::PunctuationType;
use crate::processor::node::Forward;
use crate::processor::{TaskContext, UNKNOWN_TIME};
use crate::record::{Change, Headers, Record};
use crate::serde::SerdeRef;
use crate::store::{KeyValueStore, ValueAndTimestamp};
use crate::window::Windowed;

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

/// A windowed aggregation's clock: its own stream time (the largest timestamp of the
/// records that reached it) and, with wall-clock closing on, the wall clock, checked every
/// interval. Windows close by whichever is later.
pub(crate) struct WindowClock {
    interval: Option<Duration>,
    /// The largest record timestamp seen.
    observed: i64,
    /// The wall-clock time of the last check.
    now: i64,
    /// The aggregation's hook, which the checks punctuate.
    hook: usize,
}

impl WindowClock {
    /// Checks the wall clock every `interval`, or never.
    pub(crate) fn new(interval: Option<Duration>) -> Self {
        Self {
            interval,
            observed: UNKNOWN_TIME,
            now: UNKNOWN_TIME,
            hook: 0,
        }
    }

    /// Sets the hook that `schedule`'s checks punctuate.
    pub(crate) fn set_hook(&mut self, hook: usize) {
        self.hook = hook;
    }

    /// Schedules the checks, if on (when the aggregation initializes).
    pub(crate) fn schedule(&self, cx: &mut TaskContext) {
        if let Some(interval) = self.interval {
            cx.schedule(self.hook, interval, PunctuationType::WallClockTime);
        }
    }

    /// Records a record at `timestamp`.
    pub(crate) fn observe(&mut self, timestamp: i64) {
        self.observed = self.observed.max(timestamp);
    }

    /// Records a check at wall-clock time `now`.
    pub(crate) fn advance_wall_clock(&mut self, now: i64) {
        if self.interval.is_some() {
            self.now = self.now.max(now);
        }
    }

    /// The time windows close by: stream time, or the wall clock when later.
    pub(crate) fn close_time(&self) -> i64 {
        self.observed.max(self.now)
    }

    /// Whether a window ending at `end` has closed, when windows close `close_after` past
    /// their end.
    pub(crate) fn closes(&self, end: i64, close_after: i64) -> bool {
        closes_by(end, close_after, self.close_time())
    }
}

/// Whether a window ending at `end` has closed by `close_time`, when windows close
/// `close_after` past their end.
pub(crate) fn closes_by(end: i64, close_after: i64, close_time: i64) -> bool {
    close_time != UNKNOWN_TIME && end.saturating_add(close_after) <= close_time
}

/// The windows whose final result is still to come, by (end, key bytes); their values live
/// in the aggregation's store.
pub(crate) struct FinalBuffer<K> {
    config: FinalResults,
    key_serde: SerdeRef<Windowed<K>>,
    windows: BTreeMap<(i64, Vec<u8>), Windowed<K>>,
}

impl<K: Data> FinalBuffer<K> {
    pub(crate) fn new(config: FinalResults, key_serde: SerdeRef<Windowed<K>>) -> Self {
        Self {
            config,
            key_serde,
            windows: BTreeMap::new(),
        }
    }

    /// After a restart, the windows in the store may still await their final result; those
    /// already emitted before a crash are emitted again (at-least-once).
    pub(crate) fn rebuild<VA: Data>(
        &mut self,
        cx: &mut TaskContext,
        store: &KeyValueStore<Windowed<K>, VA>,
        forward: &Forward<Windowed<K>, Change<VA>>,
    ) -> Result<(), StreamsError> {
        for (key, _) in store.all()? {
            self.hold(cx, store, forward, key)?;
        }
        Ok(())
    }

    /// Adds `key`'s window to the pending ones, enforcing the buffer's bound.
    pub(crate) fn hold<VA: Data>(
        &mut self,
        cx: &mut TaskContext,
        store: &KeyValueStore<Windowed<K>, VA>,
        forward: &Forward<Windowed<K>, Change<VA>>,
        key: Windowed<K>,
    ) -> Result<(), StreamsError> {
        let mut bytes = Vec::new();
        self.key_serde
            .serialize(&key, &mut bytes)
            .map_err(|e| StreamsError::Serialization {
                target: "the final-results buffer".into(),
                part: crate::error::RecordPart::Key,
                source: e,
            })?;
        self.windows.insert((key.window.end, bytes), key);
        if self.windows.len() <= self.config.max_windows {
            return Ok(());
        }
        match self.config.when_full {
            BufferFull::Fail => Err(StreamsError::processor(
                "windowed aggregation",
                format!(
                    "the final-results buffer holds its limit of {} open windows; raise `FinalResults::max_windows` or use `BufferFull::EmitEarly`",
                    self.config.max_windows
                ),
            )),
            BufferFull::EmitEarly => {
                let (_, first) = self
                    .windows
                    .pop_first()
                    .expect("the buffer is over its limit");
                emit_final(cx, store, forward, first)
            }
        }
    }

    /// Emits every pending window closed by `close_time` (windows close `close_after`
    /// past their end), earliest end first.
    pub(crate) fn emit_closed<VA: Data>(
        &mut self,
        cx: &mut TaskContext,
        store: &KeyValueStore<Windowed<K>, VA>,
        forward: &Forward<Windowed<K>, Change<VA>>,
        close_after: i64,
        close_time: i64,
    ) -> Result<(), StreamsError> {
        while let Some(entry) = self.windows.first_entry() {
            if !closes_by(entry.key().0, close_after, close_time) {
                break;
            }
            emit_final(cx, store, forward, entry.remove())?;
        }
        Ok(())
    }
}

/// Forwards the final result of `key`'s window, if it still holds one (a merged-away
/// session does not), stamped as the window's aggregate is: with the largest record
/// timestamp in it (sessions: with their end).
fn emit_final<K: Data, VA: Data>(
    cx: &mut TaskContext,
    store: &KeyValueStore<Windowed<K>, VA>,
    forward: &Forward<Windowed<K>, Change<VA>>,
    key: Windowed<K>,
) -> Result<(), StreamsError> {
    let Some(ValueAndTimestamp { value, timestamp }) = store.get_timestamped(&key)? else {
        return Ok(());
    };
    forward.send(
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
