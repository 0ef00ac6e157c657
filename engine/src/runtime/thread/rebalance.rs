//! Rebalance callbacks. librdkafka runs them on the stream thread, inside `poll`, so they
//! reach the thread's [`TaskManager`](super::tasks::TaskManager) through a thread-local
//! rather than through shared, locked state; the thread never holds the manager while it
//! polls.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::{ClientContext, Offset, Statistics, TopicPartitionList};

use super::tasks::TaskManager;
use crate::metrics::Metrics;

thread_local! {
    /// The task manager of the stream thread running on this OS thread.
    pub(crate) static MANAGER: RefCell<Option<TaskManager>> = const { RefCell::new(None) };
}

/// The consumer context of a stream thread: rebalance callbacks, and librdkafka's
/// statistics (every `statistics.interval.ms`) for the consumer-lag metric.
pub(crate) struct RebalanceContext {
    pub(crate) metrics: Arc<Metrics>,
    /// Whether tasks replay the records past the last commit with their caches bypassed
    /// (at-least-once; under exactly-once nothing past a commit was ever visible).
    pub(crate) replays: bool,
}

impl ClientContext for RebalanceContext {
    fn stats(&self, statistics: Statistics) {
        for (name, topic) in &statistics.topics {
            for (partition, stats) in &topic.partitions {
                // librdkafka reports -1 for the internal UA partition and for partitions it
                // has no offsets for yet.
                if *partition >= 0 && stats.consumer_lag >= 0 {
                    self.metrics.lag(name, *partition, stats.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for RebalanceContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance {
            tracing::info!(
                partitions = partitions.count(),
                "partitions revoked; committing and closing tasks"
            );
            with_manager(|manager| manager.revoke(consumer));
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(partitions) = rebalance {
            let assigned: Vec<(String, i32)> = partitions
                .elements()
                .iter()
                .map(|e| (e.topic().to_owned(), e.partition()))
                .collect();
            tracing::info!(partitions = assigned.len(), "partitions assigned");
            let replay = match self.replays {
                true => past_committed(consumer, partitions),
                false => Vec::new(),
            };
            with_manager(|manager| manager.assign(&assigned, &replay));
        }
    }
}

/// How long the broker may take to say where a partition stands.
const OFFSETS_TIMEOUT: Duration = Duration::from_secs(10);

/// The assigned partitions with records past the group's committed offset, and each one's
/// end offset now: what an earlier owner may have processed without committing. A
/// partition whose end the broker cannot tell is listed with no end (`i64::MAX`): its task
/// bypasses its caches until the next rebalance, slower but never wrong. When the broker
/// cannot tell the committed offsets, none (the tasks then cache from the start).
fn past_committed<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    partitions: &TopicPartitionList,
) -> Vec<(String, i32, i64)> {
    let committed = match consumer.committed_offsets(partitions.clone(), OFFSETS_TIMEOUT) {
        Ok(committed) => committed,
        Err(error) => {
            tracing::warn!(%error, "cannot read the committed offsets; replayed records will be cached");
            return Vec::new();
        }
    };
    committed
        .elements()
        .iter()
        .filter_map(|e| {
            // A group that never committed on the partition has no earlier owner to
            // replay after (a new application reading its backlog caches from the start).
            let Offset::Offset(from) = e.offset() else {
                return None;
            };
            let (topic, partition) = (e.topic(), e.partition());
            let end = match consumer.fetch_watermarks(topic, partition, OFFSETS_TIMEOUT) {
                Ok((_, end)) => end,
                Err(error) => {
                    tracing::warn!(%error, topic, partition, "cannot read where the partition ends; its task bypasses its caches until the next rebalance");
                    i64::MAX
                }
            };
            (end > from).then(|| (topic.to_owned(), partition, end))
        })
        .collect()
}

/// Runs `f` on this thread's manager; an error is kept for the thread's loop to raise.
fn with_manager(f: impl FnOnce(&mut TaskManager) -> Result<(), crate::StreamsError>) {
    MANAGER.with_borrow_mut(|manager| {
        if let Some(manager) = manager
            && let Err(e) = f(manager)
        {
            manager.failure.get_or_insert(e);
        }
    });
}
