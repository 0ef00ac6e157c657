//! What windowed aggregations share around their own logic: the window store, the
//! aggregation's clock, and forwarding every update or only final results.

use std::time::Duration;

use super::final_results::{EmitStrategy, FinalBuffer, WindowClock};
use crate::dsl::Data;
use crate::dsl::table_changes::forward_flushed;
use crate::error::StreamsError;
use crate::processor::node::Forward;
use crate::processor::{TaskContext, UNKNOWN_TIME};
use crate::record::Change;
use crate::serde::SerdeRef;
use crate::store::{KeyValueStore, ValueAndTimestamp, WindowEntry};
use crate::window::Windowed;

/// A windowed aggregation's store, clock and output.
pub(crate) struct WindowOutput<K, VA> {
    store: KeyValueStore<Windowed<K>, VA>,
    forward: Forward<Windowed<K>, Change<VA>>,
    /// With final results only: the windows not emitted yet.
    pending: Option<FinalBuffer<K>>,
    clock: WindowClock,
    /// A window closes when the close time reaches its end plus this.
    close_after: i64,
    /// How the store ages windows out: by their start, or (sessions) their end.
    expiry: Expiry,
    /// The latest time (start, or end for sessions) of a window written, as the store
    /// observes it.
    written: i64,
}

/// How long a window store keeps a window, and by which of its times.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Expiry {
    /// Windows older than the latest one written by more than this are gone.
    pub(crate) retention_ms: i64,
    /// Whether a window's age is its end (sessions) rather than its start.
    pub(crate) by_end: bool,
}

impl Expiry {
    fn time(self, window: &crate::window::Window) -> i64 {
        if self.by_end {
            window.end
        } else {
            window.start
        }
    }
}

impl<K: Data, VA: Data> WindowOutput<K, VA> {
    /// Output to `forward` as `emit` says; a window closes when the close time reaches its
    /// end + `close_after` (`key_serde` orders the pending windows of final results).
    pub(crate) fn new(
        store: KeyValueStore<Windowed<K>, VA>,
        forward: Forward<Windowed<K>, Change<VA>>,
        emit: EmitStrategy,
        key_serde: SerdeRef<Windowed<K>>,
        close_after: i64,
        expiry: Expiry,
        wall_clock: Option<Duration>,
    ) -> Self {
        let pending = match emit {
            EmitStrategy::OnWindowUpdate => None,
            EmitStrategy::OnWindowClose(buffer) => Some(FinalBuffer::new(buffer, key_serde)),
        };
        Self {
            store,
            forward,
            pending,
            clock: WindowClock::new(wall_clock),
            close_after,
            expiry,
            written: UNKNOWN_TIME,
        }
    }

    /// Sets the aggregation's hook, which wall-clock checks punctuate.
    pub(crate) fn set_hook(&mut self, hook: usize) {
        self.clock.set_hook(hook);
    }

    /// Records that the aggregation saw a record at `timestamp`: its stream time is the
    /// largest timestamp of the records that reached it (not the task's, which other
    /// operators' records advance), as each Kafka Streams windowed processor keeps it.
    pub(crate) fn observe(&mut self, timestamp: i64) {
        self.clock.observe(timestamp);
    }

    /// Whether a window ending at `end` has closed.
    pub(crate) fn is_closed(&self, end: i64) -> bool {
        self.clock.closes(end, self.close_after)
    }

    /// The windows of `from`'s record key with window keys from `from` to `to` whose age
    /// (start, or end for sessions) lies from `oldest` on, that the store still keeps: each
    /// as its window key's bytes (the record key, then the start, and for sessions the end)
    /// and its aggregate. Only the store's segments of those ages are read. Windows age out
    /// once their age lies more than the retention before the latest one written; the
    /// record cache may still hold such a window, which is not returned either, so that
    /// what an aggregation finds does not depend on the cache.
    pub(crate) fn fetch(
        &self,
        from: &Windowed<K>,
        to: &Windowed<K>,
        oldest: i64,
    ) -> Result<Vec<WindowEntry<VA>>, StreamsError> {
        let suffix = if self.expiry.by_end { 16 } else { 8 };
        let oldest = match self.written {
            UNKNOWN_TIME => oldest,
            written => oldest.max(written.saturating_sub(self.expiry.retention_ms)),
        };
        self.store.key_windows(from, to, suffix, (oldest, i64::MAX))
    }

    /// The windows of the store.
    pub(crate) fn store(&self) -> &KeyValueStore<Windowed<K>, VA> {
        &self.store
    }

    /// With final results, emits every pending window the close time has closed.
    pub(crate) fn emit_closed(&mut self, cx: &mut TaskContext) -> Result<(), StreamsError> {
        let Some(pending) = self.pending.as_mut() else {
            return Ok(());
        };
        let close_time = self.clock.close_time();
        pending.emit_closed(cx, &self.store, &self.forward, self.close_after, close_time)
    }

    /// Writes `value` (`None` removes) with `timestamp` for `key`'s window, forwarding the
    /// change now (through the record cache) or holding the window for its final result.
    pub(crate) fn write(
        &mut self,
        cx: &mut TaskContext,
        key: &Windowed<K>,
        value: Option<&VA>,
        timestamp: i64,
    ) -> Result<(), StreamsError> {
        self.written = self.written.max(self.expiry.time(&key.window));
        let flushed = self.store.write(key, value, timestamp)?;
        match self.pending.as_mut() {
            Some(pending) if value.is_some() => {
                pending.hold(cx, &self.store, &self.forward, key.clone())
            }
            Some(_) => Ok(()),
            None => forward_flushed(&self.store, &self.forward, cx, flushed),
        }
    }

    /// Writes `value` as the new aggregate of `key`'s window.
    pub(crate) fn put(
        &mut self,
        cx: &mut TaskContext,
        key: &Windowed<K>,
        value: ValueAndTimestamp<VA>,
    ) -> Result<(), StreamsError> {
        self.write(cx, key, Some(&value.value), value.timestamp)
    }

    /// On the task's start: schedules wall-clock checks and, with final results, takes
    /// up the windows in the store again.
    pub(crate) fn init(&mut self, cx: &mut TaskContext) -> Result<(), StreamsError> {
        self.clock.schedule(cx);
        match self.pending.as_mut() {
            Some(pending) => pending.rebuild(cx, &self.store, &self.forward),
            None => Ok(()),
        }
    }

    /// A wall-clock check at `now`: emits the windows it closes.
    pub(crate) fn punctuate(&mut self, cx: &mut TaskContext, now: i64) -> Result<(), StreamsError> {
        self.clock.advance_wall_clock(now);
        self.emit_closed(cx)
    }

    /// On commit: writes the cache to the store, forwarding what it held (unless only
    /// final results go out).
    pub(crate) fn flush(&mut self, cx: &mut TaskContext) -> Result<(), StreamsError> {
        let flushed = self.store.flush_cache()?;
        if self.pending.is_none() {
            forward_flushed(&self.store, &self.forward, cx, flushed)?;
        }
        Ok(())
    }
}
