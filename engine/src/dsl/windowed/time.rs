//! Time windows (tumbling and hopping): a record updates every window that holds its
//! timestamp and is still open.

use std::sync::Arc;

use super::node::{Add, WindowLogic};
use super::output::WindowOutput;
use crate::dsl::Data;
use crate::error::StreamsError;
use crate::processor::TaskContext;
use crate::record::Record;
use crate::store::ValueAndTimestamp;
use crate::window::{TimeWindows, Window, Windowed};

/// Kafka Streams' `KStreamWindowAggregate`: each window of the record that has not closed
/// (stream time has not reached its end + grace) gets the record folded in and is stamped
/// with the largest record timestamp in it; each closed one counts the record as late.
pub(crate) struct TimeLogic<K, V, VA> {
    pub(crate) windows: TimeWindows,
    pub(crate) add: Arc<Add<K, V, VA>>,
}

impl<K: Data, V: Data, VA: Data> WindowLogic<K, V, VA> for TimeLogic<K, V, VA> {
    fn close_after(&self) -> i64 {
        self.windows.grace_ms
    }

    fn process(
        &self,
        out: &mut WindowOutput<K, VA>,
        cx: &mut TaskContext,
        record: Record<K, V>,
    ) -> Result<(), StreamsError> {
        let t = record.timestamp;
        let mut windows = self.windows.windows_for(t).peekable();
        let mut value = Some(record.value);
        // One window key for all the record's windows, its window set for each.
        let mut key = Windowed {
            key: record.key,
            window: Window { start: t, end: t },
        };
        while let Some(window) = windows.next() {
            if out.is_closed(window.end) {
                cx.metrics.dropped_late += 1;
                continue;
            }
            // The record's last window takes its value; earlier ones copies.
            let last = windows.peek().is_none();
            key.window = window;
            let old = out.store().get_timestamped(&key)?;
            let timestamp = old.as_ref().map_or(t, |o| o.timestamp.max(t));
            let value = (self.add)(&key.key, owned(&mut value, last), old.map(|o| o.value));
            out.put(cx, &key, ValueAndTimestamp { value, timestamp })?;
        }
        Ok(())
    }
}

/// The value in `slot`: taken out when `last`, else a copy.
fn owned<T: Clone>(slot: &mut Option<T>, last: bool) -> T {
    let taken = if last { slot.take() } else { slot.clone() };
    taken.expect("taken only for the last window")
}
