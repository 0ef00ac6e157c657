//! The tasks of one stream thread: created when their partitions are assigned, restored a
//! step at a time between polls, then fed from the consumer, committed together, closed on
//! revocation.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::message::BorrowedMessage;
use rdkafka::{Offset, TopicPartitionList};

use crate::discovery::StoreRegistry;
use crate::error::StreamsError;
use crate::kafka::{KafkaChangelogReader, KafkaCollector, borrowed_record};
use crate::metrics::{Metrics, TaskMetricHandles};
use crate::runtime::standby::StandbyControl;

use super::restore_progress::{RestoreProgress, Standing};
use crate::task::{SpareBuffers, StreamTask, TaskOptions};
use crate::task_id::TaskId;
use crate::topology::Topology;

/// What a thread's tasks use of the instance: where queries find their stores, the
/// metrics, and the handover from standby copies.
pub(crate) struct InstanceServices {
    pub(crate) registry: Arc<StoreRegistry>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) standbys: Arc<StandbyControl>,
}

pub(crate) struct TaskManager {
    topology: Topology,
    options: TaskOptions,
    collector: KafkaCollector,
    reader: KafkaChangelogReader,
    /// Resolved source topic → the sub-topology reading it.
    sources: HashMap<String, u32>,
    /// Where the last consumed message went.
    route: Option<Route>,
    /// The byte buffers the tasks copy consumed records into, shared by all of them.
    spare: SpareBuffers,
    /// Tasks processing records.
    tasks: BTreeMap<TaskId, StreamTask>,
    /// Tasks restoring their stores; records that arrive for them wait in their queues.
    restoring: BTreeMap<TaskId, StreamTask>,
    /// What the thread shows of its restoration.
    progress: RestoreProgress,
    /// Where queries find the tasks' stores.
    registry: Arc<StoreRegistry>,
    metrics: Arc<Metrics>,
    /// Takes a task's state over from a standby copy of it on this instance.
    standbys: Arc<StandbyControl>,
    /// Metric handles of every task, restoring ones included.
    task_metrics: HashMap<TaskId, TaskMetricHandles>,
    /// When the tasks last committed.
    last_commit: Instant,
    /// An error raised inside a rebalance callback, surfaced by the thread's loop.
    pub(crate) failure: Option<StreamsError>,
    /// Whether the thread holds an assignment now: from an assignment (even of no
    /// partitions) until its partitions are revoked.
    pub(crate) assigned: bool,
    /// Counts rebalance events (revocations and assignments), so the thread can tell that
    /// one happened since it last looked.
    pub(crate) generation: u64,
}

/// The task and input queue of a source partition.
struct Route {
    topic: Box<str>,
    partition: i32,
    task: TaskId,
    queue: usize,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl TaskManager {
    /// The tasks of stream thread `index`, running `topology` with `options`.
    pub(crate) fn new(
        (topology, options): (Topology, TaskOptions),
        collector: KafkaCollector,
        reader: KafkaChangelogReader,
        services: InstanceServices,
        index: usize,
    ) -> Self {
        let sources = topology
            .subtopologies()
            .iter()
            .flat_map(|s| {
                s.source_topics()
                    .iter()
                    .map(|t| (t.resolve(&options.application_id), s.id()))
            })
            .collect();
        Self {
            topology,
            options,
            collector,
            reader,
            sources,
            route: None,
            spare: SpareBuffers::new(),
            tasks: BTreeMap::new(),
            restoring: BTreeMap::new(),
            progress: RestoreProgress::new(format!("stream-thread-{index}")),
            registry: services.registry,
            metrics: services.metrics,
            standbys: services.standbys,
            task_metrics: HashMap::new(),
            last_commit: Instant::now(),
            failure: None,
            assigned: false,
            generation: 0,
        }
    }

    /// Every topic the thread subscribes to.
    pub(crate) fn source_topics(&self) -> Vec<String> {
        self.sources.keys().cloned().collect()
    }

    fn task_of(&self, topic: &str, partition: i32) -> Option<TaskId> {
        self.sources.get(topic).map(|&subtopology| TaskId {
            subtopology,
            partition,
        })
    }

    /// The task `id`, created (to be restored) if it does not exist.
    fn ensure_task(&mut self, id: TaskId) -> Result<&mut StreamTask, StreamsError> {
        // Called for every record polled: the task nearly always exists.
        if !self.tasks.contains_key(&id) && !self.restoring.contains_key(&id) {
            self.create_tasks(&[id])?;
        }
        Ok(match self.tasks.get_mut(&id) {
            Some(task) => task,
            None => self.restoring.get_mut(&id).expect("created above"),
        })
    }

    /// Creates (to be restored) the tasks among `ids` that do not exist yet, opening their
    /// storage at once: RocksDB syncs every new database's files, and a worker taking over
    /// many partitions should not wait for each task's syncs in turn.
    fn create_tasks(&mut self, ids: &[TaskId]) -> Result<(), StreamsError> {
        let mut new: Vec<TaskId> = ids
            .iter()
            .copied()
            .filter(|id| !self.tasks.contains_key(id) && !self.restoring.contains_key(id))
            .collect();
        new.sort_unstable();
        new.dedup();
        for (claimed, &id) in new.iter().enumerate() {
            if let Err(error) = self.standbys.claim(id) {
                for &id in &new[..claimed] {
                    self.standbys.release(id);
                }
                return Err(error);
            }
        }
        let opened = StreamTask::open_storage(&self.topology, &new, &self.options);
        let mut failure = None;
        for (&id, storage) in new.iter().zip(opened) {
            let collector = Box::new(self.collector.clone());
            let built = storage.and_then(|storage| {
                StreamTask::with_storage(&self.topology, storage, &self.options, collector)
            });
            let mut task = match built {
                Ok(task) => task,
                Err(error) => {
                    self.standbys.release(id);
                    failure.get_or_insert(error);
                    continue;
                }
            };
            task.share_spare_buffers(self.spare.clone());
            self.registry.host(id, task.queryable_stores());
            self.task_metrics.insert(id, self.metrics.task(id));
            self.metrics.restoring(1);
            self.restoring.insert(id, task);
        }
        failure.map_or(Ok(()), Err)
    }

    /// Creates the tasks of newly assigned partitions; they restore in
    /// [`TaskManager::restore`].
    /// `replay` lists the partitions with records past the group's committed offset, and
    /// the end offset they had at the assignment (see [`StreamTask::replay_until`]).
    pub(crate) fn assign(
        &mut self,
        partitions: &[(String, i32)],
        replay: &[(String, i32, i64)],
    ) -> Result<(), StreamsError> {
        self.assigned = true;
        self.generation += 1;
        let ids: Vec<TaskId> = partitions
            .iter()
            .filter_map(|(t, p)| self.task_of(t, *p))
            .collect();
        self.create_tasks(&ids)?;
        let mut ends: BTreeMap<TaskId, Vec<(String, i64)>> = BTreeMap::new();
        for (topic, partition, end) in replay {
            if let Some(id) = self.task_of(topic, *partition) {
                ends.entry(id).or_default().push((topic.clone(), *end));
            }
        }
        for (id, ends) in ends {
            self.ensure_task(id)?.replay_until(&ends);
        }
        Ok(())
    }

    /// Whether any task is still restoring.
    pub(crate) fn is_restoring(&self) -> bool {
        !self.restoring.is_empty()
    }

    /// Restores about `max_records` changelog records into the first restoring task; a
    /// task that has reached the end of its changelogs starts processing.
    pub(crate) fn restore(&mut self, max_records: usize) -> Result<(), StreamsError> {
        let Some(mut entry) = self.restoring.first_entry() else {
            self.progress.finish();
            return Ok(());
        };
        let id = *entry.key();
        let task = entry.get_mut();
        let finished = task.restore_step(&mut self.reader, max_records)?;
        self.metrics
            .restore_progress(id, task.restored_records(), task.remaining_records());
        if finished {
            let mut task = entry.remove();
            let report = task.initialize(&mut self.reader, now_ms())?;
            let restored: u64 = report.stores.iter().map(|s| s.records).sum();
            tracing::info!(task = %id, restored, fallback = ?report.checkpoint_fallback, "task created");
            self.progress.task_finished(restored);
            self.tasks.insert(id, task);
            self.registry.activate(id);
            self.metrics.restoring(-1);
        }
        let restoring = self.restoring.values();
        let standing = Standing {
            restored: restoring.clone().map(StreamTask::restored_records).sum(),
            remaining: restoring.map(StreamTask::remaining_records).sum(),
            tasks: self.restoring.len(),
        };
        match standing.tasks {
            0 => self.progress.finish(),
            _ => self.progress.update(&standing),
        }
        Ok(())
    }

    /// Queues a consumed message for its task. Consecutive messages mostly come from one
    /// partition: the task and input queue of the last one are remembered.
    pub(crate) fn add_polled(&mut self, message: &BorrowedMessage<'_>) -> Result<(), StreamsError> {
        let (topic, partition) = (message.topic(), message.partition());
        let (id, routed) = match &self.route {
            Some(route) if route.partition == partition && *route.topic == *topic => {
                (route.task, Some(route.queue))
            }
            _ => match self.task_of(topic, partition) {
                Some(id) => (id, None),
                None => return Ok(()),
            },
        };
        let task = self.ensure_task(id)?;
        let queue = routed.unwrap_or_else(|| {
            task.queue_of(topic)
                .expect("a task reads the topics its sub-topology reads")
        });
        task.add_borrowed(queue, borrowed_record(message));
        if routed.is_none() {
            self.route = Some(Route {
                topic: topic.into(),
                partition,
                task: id,
                queue,
            });
        }
        Ok(())
    }

    /// Processes every record the tasks have buffered, then runs wall-clock punctuation,
    /// then sends the changelog records whose earlier records are all acknowledged.
    /// Draining the buffers each round keeps partitions from being paused while their tasks
    /// keep up (see [`super::backpressure`]).
    pub(crate) fn process(&mut self) -> Result<usize, StreamsError> {
        let now = now_ms();
        let mut done = 0;
        for (id, task) in &mut self.tasks {
            let started = Instant::now();
            let processed = task.process(usize::MAX)?;
            if processed > 0
                && let Some(handles) = self.task_metrics.get(id)
            {
                handles.records.inc_by(processed as u64);
                handles.process.observe(started.elapsed().as_secs_f64());
            }
            done += processed;
            task.punctuate_wall_clock(now)?;
        }
        self.collector.release_acknowledged()?;
        Ok(done)
    }

    /// Records buffered per input partition of every task, restoring ones included.
    pub(crate) fn buffered_by_partition(&self) -> Vec<((String, i32), usize)> {
        self.tasks
            .iter()
            .chain(&self.restoring)
            .flat_map(|(id, task)| {
                task.input_topics()
                    .map(move |t| ((t.to_owned(), id.partition), task.buffered_for(t)))
            })
            .collect()
    }

    /// Records buffered in all tasks.
    pub(crate) fn buffered(&self) -> usize {
        self.tasks
            .values()
            .chain(self.restoring.values())
            .map(StreamTask::buffered)
            .sum()
    }

    /// Commits every task (caches, stores, producer, checkpoints), then the consumed offsets:
    /// with the consumer under at-least-once, or inside the thread's transaction, which then
    /// commits, under exactly-once.
    pub(crate) fn commit<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
    ) -> Result<(), StreamsError> {
        let started = Instant::now();
        let mut offsets = TopicPartitionList::new();
        // Where the consumer stands: past a transaction's commit marker, which no record
        // shows, once every record before it was consumed.
        let positions = consumer
            .position()
            .map_err(crate::kafka::kafka_error("read the consumer's positions"))?;
        // Restoring tasks have processed nothing; committing them checkpoints their
        // restoration so far.
        for task in self.tasks.values_mut().chain(self.restoring.values_mut()) {
            for (topic, partition, next) in task.commit()? {
                let next = match positions.find_partition(&topic, partition) {
                    Some(p) if task.buffered_for(&topic) == 0 => match p.offset() {
                        Offset::Offset(position) => next.max(position),
                        _ => next,
                    },
                    _ => next,
                };
                offsets
                    .add_partition_offset(&topic, partition, Offset::Offset(next))
                    .map_err(crate::kafka::kafka_error("list offsets to commit"))?;
            }
        }
        if self.collector.is_transactional() {
            self.collector.commit_transaction(&offsets, consumer)?;
            for task in self.tasks.values_mut() {
                task.complete_commit()?;
            }
        } else if offsets.count() > 0 {
            consumer
                .commit(&offsets, CommitMode::Sync)
                .map_err(crate::kafka::kafka_error("commit consumed offsets"))?;
        }
        self.metrics.committed(started.elapsed());
        let interval = self.last_commit.elapsed();
        self.last_commit = Instant::now();
        for (id, handles) in &mut self.task_metrics {
            let counted = self
                .tasks
                .get(id)
                .map(StreamTask::metrics)
                .unwrap_or_default();
            self.metrics.task_committed(handles, interval, &counted);
        }
        Ok(())
    }

    /// The group takes this thread's partitions: commits, then closes every task. When the
    /// group has already moved on (the commit is refused for a stale generation), the
    /// tasks close without committing and the thread carries on with its next assignment.
    pub(crate) fn revoke<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
    ) -> Result<(), StreamsError> {
        self.generation += 1;
        self.assigned = false;
        match self.revoke_all(consumer) {
            Err(error) if error.is_task_migrated() => {
                tracing::warn!(%error, "the group moved on before the revoked partitions committed; their new owners process the records since the last commit again");
                Ok(())
            }
            result => result,
        }
    }

    /// Commits, checkpoints and closes every task: their local state stays for reuse, and
    /// whoever opens it next restores nothing.
    pub(crate) fn revoke_all<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
    ) -> Result<(), StreamsError> {
        let committed = self.commit(consumer).and_then(|()| {
            self.tasks
                .values_mut()
                .chain(self.restoring.values_mut())
                .try_for_each(StreamTask::checkpoint)
        });
        self.close_all();
        committed
    }

    /// Closes every task without committing (under exactly-once, the open transaction is
    /// aborted and the tasks' uncommitted writes dropped: their stores keep the committed
    /// state and its checkpoint).
    pub(crate) fn close_all(&mut self) {
        if let Err(error) = self.collector.abort_transaction() {
            tracing::warn!(%error, "could not abort the open transaction; the broker aborts it when it times out");
        }
        let restoring = std::mem::take(&mut self.restoring);
        self.metrics.restoring(-(restoring.len() as i64));
        for (id, mut task) in std::mem::take(&mut self.tasks).into_iter().chain(restoring) {
            tracing::info!(task = %id, "task closed");
            task.discard_uncommitted();
            self.registry.release(id);
            if let Some(handles) = self.task_metrics.remove(&id) {
                self.metrics.task_closed(&handles);
            }
            task.close();
            self.standbys.release(id);
        }
    }
}
