//! Rebalance callbacks. librdkafka runs them on the stream thread, inside `poll`, so they
//! reach the thread's [`TaskManager`](super::tasks::TaskManager) through a thread-local
//! rather than through shared, locked state; the thread never holds the manager while it
//! polls.

use std::cell::RefCell;
use std::sync::Arc;

use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::{ClientContext, Statistics};

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

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(partitions) = rebalance {
            let assigned: Vec<(String, i32)> = partitions
                .elements()
                .iter()
                .map(|e| (e.topic().to_owned(), e.partition()))
                .collect();
            tracing::info!(partitions = assigned.len(), "partitions assigned");
            with_manager(|manager| manager.assign(&assigned));
        }
    }
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
