//! Where a task's output goes: sink topics, repartition topics and changelogs.

use tributary_state::ChangelogSink;

use crate::error::StreamsError;
use crate::record::Headers;

/// One record a task writes, already serialized and assigned its partition.
#[derive(Debug, Clone, Copy)]
pub struct OutgoingRecord<'a> {
    /// The topic.
    pub topic: &'a str,
    /// The partition, computed by the engine's Java-compatible partitioner.
    pub partition: i32,
    /// Key bytes; `None` for a null key.
    pub key: Option<&'a [u8]>,
    /// Value bytes; `None` for a tombstone.
    pub value: Option<&'a [u8]>,
    /// Timestamp (ms).
    pub timestamp: i64,
    /// Headers.
    pub headers: &'a Headers,
}

/// The output side of a task. The Kafka runtime backs it with a producer; the test driver
/// with in-memory topics; benchmarks with a sink that discards.
pub trait RecordCollector {
    /// Takes one record for sending.
    ///
    /// # Errors
    /// When the record cannot be accepted.
    fn send(&mut self, record: OutgoingRecord<'_>) -> Result<(), StreamsError>;

    /// Waits until everything sent so far is written. Called on commit.
    ///
    /// # Errors
    /// When some record could not be written.
    fn flush(&mut self) -> Result<(), StreamsError>;

    /// The offset after the last record written to `topic`/`partition` by this collector, if
    /// it wrote any: what a checkpoint records for a changelog.
    fn end_offset(&self, topic: &str, partition: i32) -> Option<i64>;

    /// A sink through which the task's stores log their changes to the same destination.
    fn changelog_sink(&self) -> Box<dyn ChangelogSink>;
}
