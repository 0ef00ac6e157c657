//! Stream threads: OS threads that each own a consumer, a producer and their tasks.

mod backpressure;
mod rebalance;
mod restore_progress;
mod tasks;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::TopicPartitionList;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::config::StreamsConfig;
use crate::discovery::StoreRegistry;
use crate::error::{KafkaFailure, StreamsError};
use crate::kafka::{ClientRole, KafkaChangelogReader, KafkaCollector, client_config, kafka_error};
use crate::metrics::Metrics;
use crate::runtime::standby::StandbyControl;
use crate::task::TaskOptions;
use crate::topology::Topology;
use rebalance::{MANAGER, RebalanceContext};
use tasks::{InstanceServices, TaskManager};

/// How long a failed thread waits before its replacement starts.
const REPLACEMENT_DELAY: Duration = Duration::from_secs(1);

/// Changelog records restored per round: restoration happens between polls, a step at a
/// time, so that the thread stays in its consumer group however long it takes.
const RESTORE_STEP_RECORDS: usize = 50_000;

/// The most records polled per round before the thread processes them; a round polls no
/// more than `buffered.records.per.partition` either, so that tasks which keep up never
/// reach the limit.
const RECORDS_PER_POLL: usize = 5_000;

/// What a running stream thread reports to its application.
pub(crate) trait ThreadEvents: Send + Sync {
    /// The thread's partitions are being revoked or assigned: its tasks are not all
    /// processing until it reports [`ThreadEvents::ready`] again.
    fn rebalancing(&self, thread: usize);

    /// The thread has an assignment and every task of it has restored.
    fn ready(&self, thread: usize);

    /// The thread stopped on `error`; the answer says whether it starts again.
    fn failed(&self, thread: usize, error: &StreamsError) -> ThreadFailureResponse;
}

/// What an instance does when one of its stream threads fails (Kafka Streams'
/// `StreamsUncaughtExceptionHandler` responses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ThreadFailureResponse {
    /// Start the thread again with a new consumer, producer and tasks; the failed thread's
    /// tasks are closed without committing, so their records since the last commit are
    /// processed again. The instance keeps running. A failure that repeats on the same
    /// record (a poison record with the `fail` deserialization handler) repeats after every
    /// replacement.
    ReplaceThread,
    /// Stop every thread of the instance: the others commit and stop, the state becomes
    /// [`Error`](crate::StreamsState::Error) and `close` returns the error (the default).
    #[default]
    ShutdownClient,
}

/// What every stream thread of an instance shares besides its configuration: where its
/// stores are registered for queries, its metrics, its lifecycle.
#[derive(Clone)]
pub(crate) struct ThreadShared {
    pub(crate) shutdown: Arc<AtomicBool>,
    pub(crate) events: Arc<dyn ThreadEvents>,
    pub(crate) registry: Arc<StoreRegistry>,
    pub(crate) metrics: Arc<Metrics>,
    /// Identifies the instance (kept in its state directory across restarts), for the
    /// threads' transactional ids under exactly-once.
    pub(crate) process_id: String,
    /// Hands a task's state over from a standby copy to the thread that opens the task.
    pub(crate) standbys: Arc<StandbyControl>,
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
        shared: ThreadShared,
    ) -> Result<Self, StreamsError> {
        let name = crate::names::stream_thread(&config.application_id, index);
        let handle = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                let (shutdown, events) = (&shared.shutdown, shared.events.as_ref());
                loop {
                    let result = run(index, topology.clone(), &config, options.clone(), &shared);
                    let Err(error) = result else { return result };
                    if (error.is_task_migrated()
                        || (config.exactly_once() && error.ends_transaction()))
                        && !shutdown.load(Ordering::Acquire)
                    {
                        // The group moved on without this thread, or (under exactly-once)
                        // the transaction was aborted or fenced. The tasks closed without
                        // committing; a new incarnation rejoins the group and resumes from
                        // the last commit.
                        tracing::warn!(thread = index, %error, "the stream thread rejoins its group and starts again from the last commit");
                        events.rebalancing(index);
                        continue;
                    }
                    tracing::error!(thread = index, %error, "stream thread failed");
                    let response = events.failed(index, &error);
                    if response != ThreadFailureResponse::ReplaceThread
                        || shutdown.load(Ordering::Acquire)
                    {
                        return Err(error);
                    }
                    tracing::warn!(thread = index, %error, "replacing the failed stream thread");
                    events.rebalancing(index);
                    // A failure that recurs at once (a broker that refuses the clients) is
                    // retried once a second, not in a busy loop.
                    std::thread::sleep(REPLACEMENT_DELAY);
                }
            })
            .map_err(|e| StreamsError::Lifecycle {
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
            Err(StreamsError::Lifecycle {
                doing: "run a stream thread".into(),
                reason: "the thread panicked".into(),
            })
        })
    }
}

/// One incarnation of a stream thread: from creating its clients to closing its tasks.
fn run(
    index: usize,
    topology: Topology,
    config: &StreamsConfig,
    options: TaskOptions,
    shared: &ThreadShared,
) -> Result<(), StreamsError> {
    let consumer: BaseConsumer<RebalanceContext> = client_config(config, ClientRole::Consumer)
        .create_with_context(RebalanceContext {
            metrics: shared.metrics.clone(),
            replays: !config.exactly_once(),
        })
        .map_err(kafka_error("create the consumer"))?;
    let collector = match config.exactly_once() {
        true => {
            let id =
                crate::names::transactional_id(&config.application_id, &shared.process_id, index);
            KafkaCollector::transactional(config, &id)?
        }
        false => KafkaCollector::new(config)?,
    };
    let manager = TaskManager::new(
        (topology, options),
        collector,
        KafkaChangelogReader::new(config)?,
        InstanceServices {
            registry: shared.registry.clone(),
            metrics: shared.metrics.clone(),
            standbys: shared.standbys.clone(),
        },
        index,
    );
    let topics = manager.source_topics();
    MANAGER.set(Some(manager));
    let topic_refs: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer
        .subscribe(&topic_refs)
        .map_err(kafka_error("subscribe to the source topics"))?;

    let result = run_loop(
        index,
        &consumer,
        config,
        &shared.shutdown,
        shared.events.as_ref(),
    );
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
    // The rebalance generation this thread last reported on, and whether it reported ready.
    let (mut generation, mut ready) = (0, false);
    let mut paused = BTreeSet::new();
    let per_round = config
        .buffered_records_per_partition
        .clamp(1, RECORDS_PER_POLL);
    while !shutdown.load(Ordering::Acquire) {
        let idle = MANAGER.with_borrow(|m| {
            m.as_ref()
                .is_some_and(|m| m.buffered() == 0 && !m.is_restoring())
        });
        let mut wait = if idle {
            Duration::from_millis(100)
        } else {
            Duration::ZERO
        };
        for _ in 0..per_round {
            // No borrow of the manager is held here: rebalance callbacks run inside poll.
            let Some(polled) = consumer.poll(wait) else {
                break;
            };
            wait = Duration::ZERO;
            let message = match polled {
                Ok(message) => message,
                // A dropped broker connection: librdkafka reconnects by itself, as Kafka
                // Streams' consumer does.
                Err(error) if KafkaFailure::from(&error).retriable => {
                    tracing::warn!(thread = index, %error, "transient error while polling; retrying");
                    continue;
                }
                Err(error) => return Err(kafka_error("poll the source topics")(error)),
            };
            MANAGER.with_borrow_mut(|m| m.as_mut().map_or(Ok(()), |m| m.add_polled(&message)))?;
        }
        MANAGER.with_borrow_mut(|m| -> Result<(), StreamsError> {
            let Some(m) = m.as_mut() else { return Ok(()) };
            if let Some(failure) = m.failure.take() {
                return Err(failure);
            }
            m.restore(RESTORE_STEP_RECORDS)?;
            if m.generation != generation {
                generation = m.generation;
                if ready {
                    ready = false;
                    events.rebalancing(index);
                }
            }
            if !ready && m.assigned && !m.is_restoring() {
                ready = true;
                events.ready(index);
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
