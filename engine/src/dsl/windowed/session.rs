//! Session windows: a key's records closer than the inactivity gap form one session; a
//! record that falls within the gap of sessions merges them.

use std::sync::Arc;

use super::node::{Add, Merge, WindowLogic};
use super::output::WindowOutput;
use crate::dsl::Data;
use crate::error::StreamsError;
use crate::processor::TaskContext;
use crate::record::Record;
use crate::store::ValueAndTimestamp;
use crate::window::{SessionWindows, Window, Windowed};

/// Kafka Streams' `KStreamSessionWindowAggregate`, with one difference: closed sessions are
/// final.
///
/// A record at `t` finds the key's sessions that end no earlier than `t - gap` and start no
/// later than `t + gap`. Their aggregates are merged (the merger folds each, in the order
/// the sessions end, into a fresh initial aggregate), the record is aggregated into the
/// result, and the merged session — from the earliest start to the latest end, `t`
/// included — replaces them: each found session is deleted downstream (even one that the
/// merged session equals, as Kafka Streams re-emits a session a record falls into), then
/// the merged one is written. Every result, delete included, is stamped with its session's
/// end.
///
/// A session closes when stream time passes its end + gap + grace. A record that would
/// change a closed session (merge with it, or fall into it) is dropped as late, so a
/// session's final result is never retracted or extended afterwards; Kafka Streams merges
/// such a record into the closed session as long as the store still holds it.
pub(crate) struct SessionLogic<K, V, VA> {
    pub(crate) windows: SessionWindows,
    pub(crate) add: Arc<Add<K, V, VA>>,
    pub(crate) merge: Arc<Merge<K, VA>>,
}

impl<K: Data + PartialEq, V: Data, VA: Data> WindowLogic<K, V, VA> for SessionLogic<K, V, VA> {
    fn close_after(&self) -> i64 {
        // Strictly past end + gap + grace, as in Kafka Streams.
        self.windows
            .gap_ms
            .saturating_add(self.windows.grace_ms)
            .saturating_add(1)
    }

    fn process(
        &self,
        out: &mut WindowOutput<K, VA>,
        cx: &mut TaskContext,
        record: Record<K, V>,
    ) -> Result<(), StreamsError> {
        let (t, gap) = (record.timestamp, self.windows.gap_ms);
        let at = |start: i64, end: i64| Windowed {
            key: record.key.clone(),
            window: Window { start, end },
        };
        let found: Vec<(Windowed<K>, ValueAndTimestamp<VA>)> = out
            .fetch(
                &at(i64::MIN, i64::MIN),
                &at(t.saturating_add(gap), i64::MAX),
                t.saturating_sub(gap),
            )?
            .into_iter()
            .filter_map(|(times, value)| Some((at(times.start, times.end?), value)))
            .collect();
        let merged = found
            .iter()
            .fold(Window { start: t, end: t }, |m, (s, _)| Window {
                start: m.start.min(s.window.start),
                end: m.end.max(s.window.end),
            });
        if out.is_closed(merged.end) || found.iter().any(|(s, _)| out.is_closed(s.window.end)) {
            cx.metrics.dropped_late += 1;
            return Ok(());
        }
        let mut merged_value = None;
        for (_, value) in &found {
            merged_value = Some((self.merge)(&record.key, merged_value, value.value.clone()));
        }
        if merged != (Window { start: t, end: t }) {
            for (session, _) in found {
                let end = session.window.end;
                out.write(cx, &session, None, end)?;
            }
        }
        let value = (self.add)(&record.key, record.value, merged_value);
        let key = Windowed {
            key: record.key,
            window: merged,
        };
        out.put(
            cx,
            &key,
            ValueAndTimestamp {
                value,
                timestamp: merged.end,
            },
        )
    }
}
