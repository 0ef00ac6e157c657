//! What windowed aggregations share around their own logic: the window store, forwarding
//! every update or only final results, and closing windows by the wall clock.

use std::time::Duration;

use super::Data;
use super::final_results::{EmitStrategy, FinalBuffer, WallClock};
use super::table_changes::forward_flushed;
use crate::error::StreamsError;
use crate::processor::node::Forward;
use crate::record::Change;
use crate::serde::SerdeRef;
use crate::store::KeyValueStore;
use crate::task::TaskContext;
use crate::window::Windowed;

/// A windowed aggregation's store and output.
pub(crate) struct WindowOutput<K, VA> {
    pub(crate) store: KeyValueStore<Windowed<K>, VA>,
    forward: Forward<Windowed<K>, Change<VA>>,
    /// With final results only: the windows not emitted yet.
    pending: Option<FinalBuffer<K>>,
    clock: WallClock,
}

impl<K: Data, VA: Data> WindowOutput<K, VA> {
    /// Output to `forward` as `emit` says; with final results, a window closes when the
    /// close time reaches its end + `close_after` (`key_serde` orders the pending windows).
    pub(crate) fn new(
        store: KeyValueStore<Windowed<K>, VA>,
        forward: Forward<Windowed<K>, Change<VA>>,
        emit: EmitStrategy,
        key_serde: SerdeRef<Windowed<K>>,
        close_after: i64,
        wall_clock: Option<Duration>,
    ) -> Self {
        let pending = match emit {
            EmitStrategy::OnWindowUpdate => None,
            EmitStrategy::OnWindowClose(buffer) => {
                Some(FinalBuffer::new(buffer, key_serde, close_after))
            }
        };
        Self {
            store,
            forward,
            pending,
            clock: WallClock::new(wall_clock),
        }
    }

    /// Sets the aggregation's hook, which wall-clock checks punctuate.
    pub(crate) fn set_hook(&mut self, hook: usize) {
        self.clock.set_hook(hook);
    }

    /// The time windows close by: stream time, or the wall clock when later.
    pub(crate) fn close_time(&self, cx: &TaskContext) -> i64 {
        self.clock.close_time(cx)
    }

    /// With final results, emits every pending window closed by `close_time`.
    pub(crate) fn emit_closed(
        &mut self,
        cx: &mut TaskContext,
        close_time: i64,
    ) -> Result<(), StreamsError> {
        match self.pending.as_mut() {
            Some(pending) => pending.emit_closed(cx, &self.store, &self.forward, close_time),
            None => Ok(()),
        }
    }

    /// Writes `value` (`None` removes) for `key`'s window, forwarding the change now or
    /// holding the window for its final result.
    pub(crate) fn write(
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
        self.clock.advance(now);
        let close_time = self.clock.close_time(cx);
        self.emit_closed(cx, close_time)
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
