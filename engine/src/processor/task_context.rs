//! The task-wide [`TaskContext`] every node of a task shares: the current record's
//! metadata, stream time, output, stores, schedules and counters.

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use super::collector::RecordCollector;
use super::schedule::{PunctuationType, Schedule, ScheduleId};
use crate::config::ProductionHandler;
use crate::error::StreamsError;
use crate::record::Headers;
use crate::store::StoreEntry;
use crate::task_id::TaskId;

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
    /// Records an operator that needs a key (or a value) skipped because it was null: a
    /// `None` key of an aggregation or table, or a `None` value of a stream aggregation, as
    /// Kafka Streams skips them.
    pub dropped_null: u64,
    /// Records a deduplication dropped because their id had been seen.
    pub dropped_duplicates: u64,
    /// Records skipped because their processing failed or panicked (with the
    /// log-and-continue processing handler).
    pub skipped_processing: u64,
    /// Output records dropped because the producer refused them or a sink could not
    /// serialize them (with the continue production handler).
    pub skipped_production: u64,
    /// Skipped records written to the dead-letter topic.
    pub dead_lettered: u64,
    /// Punctuations run.
    pub punctuations: u64,
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
    /// Whether a skipped null record was logged as a warning yet (later ones are counted
    /// and logged at debug level, so a keyless topic does not flood the log).
    pub(crate) warned_null: bool,
    /// What a sink does with a record it cannot write.
    pub(crate) production_handler: ProductionHandler,
    /// Why a sink dropped an output record of the current input record (the first such
    /// error), for the task to dead-letter the input record.
    pub(crate) rejected_output: Option<StreamsError>,
}

/// Stream time before any record was seen.
pub const UNKNOWN_TIME: i64 = i64::MIN;

impl TaskContext {
    /// Whether operator `operator`, which needs a key (and a value), skips a record whose
    /// key or value is null; a skipped record is counted and logged.
    pub(crate) fn skips_null(&mut self, operator: &str, null_key: bool, null_value: bool) -> bool {
        let part = match (null_key, null_value) {
            (false, false) => return false,
            (true, _) => "key",
            (false, true) => "value",
        };
        self.metrics.dropped_null += 1;
        if self.warned_null {
            tracing::debug!(task = %self.task_id, operator, topic = %self.topic, partition = self.partition, offset = self.offset, "skipping a record with a null {part}");
        } else {
            self.warned_null = true;
            tracing::warn!(task = %self.task_id, operator, topic = %self.topic, partition = self.partition, offset = self.offset, "skipping a record with a null {part}, as Kafka Streams does; later ones are counted in tributary_task_records_skipped_total{{reason=\"null_key_or_value\"}}");
        }
        true
    }

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
