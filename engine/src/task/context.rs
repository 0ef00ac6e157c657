//! Task-wide state that processors reach through their context.

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crate::processor::{PunctuationType, ScheduleId};
use crate::record::Headers;
use crate::store::StoreEntry;
use crate::task::collector::RecordCollector;

/// A task: one sub-topology for one partition number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId {
    /// The sub-topology.
    pub subtopology: u32,
    /// The partition number of its input topics.
    pub partition: i32,
}

impl std::fmt::Display for TaskId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}_{}", self.subtopology, self.partition)
    }
}

/// Counters a task keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskMetrics {
    /// Records taken from the input queues.
    pub processed: u64,
    /// Records skipped because they could not be deserialized (with the
    /// log-and-continue handler).
    pub skipped_deserialization: u64,
    /// Records skipped because their timestamp was missing or negative (with the
    /// log-and-skip handler).
    pub skipped_invalid_timestamp: u64,
    /// Records dropped because a window they belong to had closed (counted once per
    /// window missed).
    pub dropped_late: u64,
    /// Punctuations run.
    pub punctuations: u64,
}

pub(crate) struct Schedule {
    pub(crate) node: usize,
    pub(crate) id: ScheduleId,
    pub(crate) interval_ms: i64,
    pub(crate) kind: PunctuationType,
    /// When it fires next; `None` for stream time that is not known yet.
    pub(crate) next: Option<i64>,
}

/// What a running task shares with its processors: the current record's metadata, time,
/// output, stores and schedules.
pub struct TaskContext {
    pub(crate) task_id: TaskId,
    pub(crate) application_id: Arc<str>,
    pub(crate) topic: Arc<str>,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) timestamp: i64,
    pub(crate) headers: Headers,
    pub(crate) stream_time: i64,
    pub(crate) wall_clock: i64,
    pub(crate) collector: Box<dyn RecordCollector>,
    pub(crate) schedules: Vec<Schedule>,
    pub(crate) stores: HashMap<String, StoreEntry>,
    /// The timestamp store writes are logged with: the current record's.
    pub(crate) clock: Rc<Cell<i64>>,
    pub(crate) key_buf: Vec<u8>,
    pub(crate) value_buf: Vec<u8>,
    pub(crate) metrics: TaskMetrics,
}

/// Stream time before any record was seen.
pub const UNKNOWN_TIME: i64 = i64::MIN;

impl TaskContext {
    pub(crate) fn schedule(
        &mut self,
        node: usize,
        interval: Duration,
        kind: PunctuationType,
    ) -> ScheduleId {
        let id = ScheduleId(self.schedules.len() as u32);
        let interval_ms = i64::try_from(interval.as_millis())
            .unwrap_or(i64::MAX)
            .max(1);
        let next = match kind {
            PunctuationType::WallClockTime => Some(self.wall_clock.saturating_add(interval_ms)),
            PunctuationType::StreamTime if self.stream_time == UNKNOWN_TIME => None,
            PunctuationType::StreamTime => Some(self.stream_time.saturating_add(interval_ms)),
        };
        self.schedules.push(Schedule {
            node,
            id,
            interval_ms,
            kind,
            next,
        });
        id
    }

    /// The schedules of `kind` due at `now`, with their next time moved past `now`.
    pub(crate) fn due(&mut self, kind: PunctuationType, now: i64) -> Vec<(usize, ScheduleId)> {
        let mut due = Vec::new();
        for s in self.schedules.iter_mut().filter(|s| s.kind == kind) {
            match s.next {
                // Stream-time schedules start counting at the first known stream time.
                None => s.next = Some(now.saturating_add(s.interval_ms)),
                Some(next) if next <= now => {
                    due.push((s.node, s.id));
                    let missed = (now - next) / s.interval_ms + 1;
                    s.next = Some(next.saturating_add(missed.saturating_mul(s.interval_ms)));
                }
                Some(_) => {}
            }
        }
        due
    }

    pub(crate) fn set_current(
        &mut self,
        topic: &Arc<str>,
        partition: i32,
        offset: i64,
        timestamp: i64,
        headers: Headers,
    ) {
        if !Arc::ptr_eq(&self.topic, topic) {
            self.topic = topic.clone();
        }
        self.partition = partition;
        self.offset = offset;
        self.timestamp = timestamp;
        self.headers = headers;
        self.clock.set(timestamp);
    }
}
