//! Stream threads: OS threads that each own a consumer, a producer and their tasks.

mod backpressure;
mod rebalance;
mod tasks;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::TopicPartitionList;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers as _, Message};

use crate::config::StreamsConfig;
use crate::error::StreamsError;
use crate::kafka::{ClientRole, KafkaChangelogReader, KafkaCollector, client_config, kafka_error};
use crate::record::{Headers, RawRecord};
use crate::task::TaskOptions;
use crate::topology::Topology;
use rebalance::{MANAGER, RebalanceContext};
use tasks::TaskManager;

/// Records polled per round before the thread processes.
const RECORDS_PER_POLL: usize = 5_000;

/// What a running stream thread reports to its application.
pub(crate) trait ThreadEvents: Send + Sync {
    /// The thread received its first assignment and created its tasks.
    fn assigned(&self, thread: usize);

    /// The thread stopped on `error`.
    fn failed(&self, thread: usize, error: &StreamsError);
}

/// A running stream thread.
pub(crate) struct StreamThread {
    handle: JoinHandle<Result<(), StreamsError>>,
}

impl StreamThread {
    /// Starts thread `index`: subscribes to the topology's source topics and processes
    /// until `shutdown` is set.
    pub(crate) fn spawn(
        index: usize,
        topology: Topology,
        config: StreamsConfig,
        options: TaskOptions,
        shutdown: Arc<AtomicBool>,
        events: Arc<dyn ThreadEvents>,
    ) -> Result<Self, StreamsError> {
        let name = format!("{}-stream-thread-{index}", config.application_id);
        let handle = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || run(index, topology, config, options, shutdown, events))
            .map_err(|e| StreamsError::Kafka {
                doing: format!("start thread `{name}`"),
                reason: e.to_string(),
            })?;
        Ok(Self { handle })
    }

    /// Whether the thread has stopped.
    pub(crate) fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// Waits for the thread and returns how it ended.
    pub(crate) fn join(self) -> Result<(), StreamsError> {
        self.handle.join().unwrap_or_else(|_| {
            Err(StreamsError::Processor {
                processor: "stream thread".into(),
                message: "the thread panicked".into(),
            })
        })
    }
}

fn run(
    index: usize,
    topology: Topology,
    config: StreamsConfig,
    options: TaskOptions,
    shutdown: Arc<AtomicBool>,
    events: Arc<dyn ThreadEvents>,
) -> Result<(), StreamsError> {
    let consumer: BaseConsumer<RebalanceContext> = client_config(&config, ClientRole::Consumer)
        .create_with_context(RebalanceContext)
        .map_err(kafka_error("create the consumer"))?;
    let manager = TaskManager::new(
        topology,
        options,
        KafkaCollector::new(&config)?,
        KafkaChangelogReader::new(&config)?,
    );
    let topics = manager.source_topics();
    MANAGER.set(Some(manager));
    let topic_refs: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer
        .subscribe(&topic_refs)
        .map_err(kafka_error("subscribe to the source topics"))?;

    let result = run_loop(index, &consumer, &config, &shutdown, events.as_ref());
    if let Err(error) = &result {
        tracing::error!(thread = index, %error, "stream thread failed");
        events.failed(index, error);
    }
    // After a clean stop, commit what was processed and close the tasks. After a failure,
    // close them without committing: the failed record and everything after the last
    // commit are processed again (at-least-once). Leaving the group afterwards revokes
    // nothing more, since the manager is gone by then.
    let closed = MANAGER.with_borrow_mut(|m| match m.as_mut() {
        Some(m) if result.is_ok() => m.revoke_all(&consumer),
        Some(m) => {
            m.close_all();
            Ok(())
        }
        None => Ok(()),
    });
    MANAGER.set(None);
    drop(consumer);
    result.and(closed)
}

fn run_loop(
    index: usize,
    consumer: &BaseConsumer<RebalanceContext>,
    config: &StreamsConfig,
    shutdown: &AtomicBool,
    events: &dyn ThreadEvents,
) -> Result<(), StreamsError> {
    let commit_interval = Duration::from_millis(config.commit_interval_ms);
    let mut last_commit = Instant::now();
    let mut reported = false;
    let mut paused = BTreeSet::new();
    while !shutdown.load(Ordering::Acquire) {
        let idle = MANAGER.with_borrow(|m| m.as_ref().is_some_and(|m| m.buffered() == 0));
        let mut wait = if idle {
            Duration::from_millis(100)
        } else {
            Duration::ZERO
        };
        for _ in 0..RECORDS_PER_POLL {
            // No borrow of the manager is held here: rebalance callbacks run inside poll.
            let Some(polled) = consumer.poll(wait) else {
                break;
            };
            wait = Duration::ZERO;
            let message = polled.map_err(kafka_error("poll the source topics"))?;
            let record = RawRecord {
                offset: message.offset(),
                timestamp: message.timestamp().to_millis().unwrap_or(0),
                key: message.key().map(<[u8]>::to_vec),
                value: message.payload().map(<[u8]>::to_vec),
                headers: message.headers().map_or_else(Headers::new, |h| {
                    h.iter()
                        .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                        .collect()
                }),
            };
            let (topic, partition) = (message.topic().to_owned(), message.partition());
            drop(message);
            MANAGER.with_borrow_mut(|m| {
                m.as_mut()
                    .map_or(Ok(()), |m| m.add(&topic, partition, record))
            })?;
        }
        MANAGER.with_borrow_mut(|m| -> Result<(), StreamsError> {
            let Some(m) = m.as_mut() else { return Ok(()) };
            if let Some(failure) = m.failure.take() {
                return Err(failure);
            }
            if !reported && m.assignments > 0 {
                reported = true;
                events.assigned(index);
            }
            m.process()?;
            let decision = backpressure::decide(
                &m.buffered_by_partition(),
                &mut paused,
                config.buffered_records_per_partition,
            );
            apply(consumer, &decision)?;
            if last_commit.elapsed() >= commit_interval {
                m.commit(consumer)?;
                last_commit = Instant::now();
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// Pauses and resumes partitions as `decision` says.
fn apply(
    consumer: &BaseConsumer<RebalanceContext>,
    decision: &backpressure::Decision,
) -> Result<(), StreamsError> {
    let list = |partitions: &[backpressure::Partition]| {
        let mut list = TopicPartitionList::new();
        for (topic, partition) in partitions {
            list.add_partition(topic, *partition);
        }
        list
    };
    if !decision.pause.is_empty() {
        tracing::debug!(partitions = ?decision.pause, "pausing: buffers full");
        consumer
            .pause(&list(&decision.pause))
            .map_err(kafka_error("pause partitions"))?;
    }
    if !decision.resume.is_empty() {
        tracing::debug!(partitions = ?decision.resume, "resuming");
        consumer
            .resume(&list(&decision.resume))
            .map_err(kafka_error("resume partitions"))?;
    }
    Ok(())
}
