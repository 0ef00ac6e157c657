//! Writing the task list's events, as the broker benchmarks over the task-list projection do.

use tributary::engine::internals::{KafkaCollector, OutgoingRecord, RecordCollector};
use tributary::engine::partitioner::partition_for;
use tributary::topologies::task_list::TaskEvent;

/// Sends `event` to `topic`, keyed by its task id, on the partition (of `partitions`) the
/// key maps to.
pub fn send(
    producer: &mut KafkaCollector,
    topic: &str,
    partitions: i32,
    event: &TaskEvent,
    timestamp: i64,
) {
    let value = serde_json::to_vec(event).unwrap();
    producer
        .send(OutgoingRecord {
            topic,
            partition: partition_for(event.task_id.as_bytes(), partitions),
            key: Some(event.task_id.as_bytes()),
            value: Some(&value),
            timestamp,
            headers: &Vec::new(),
        })
        .unwrap();
}
