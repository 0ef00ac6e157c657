//! The stream task: runs one sub-topology for one partition.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::sync::Arc;

use tributary_state::{ChangeFeed, ReadOnlyKeyValueStore};

use crate::config::{
    DeserializationHandler, ErrorContext, ProcessingExceptionHandler, ProcessingHandler,
    ProcessingResponse,
};
use crate::error::StreamsError;
use crate::processor::RecordCollector;
use crate::processor::node::{
    ErasedRef, Factory, InstantiateCx, NodeHooks, SourceOutcome, SourceRef,
};
use crate::processor::{OutgoingRecord, PunctuationType};
use crate::processor::{TaskContext, TaskMetrics, UNKNOWN_TIME};
use crate::record::{BorrowedRecord, Headers, RawRecord};
use crate::store::{StoreReader, StoreSpec};
use crate::task::options::TaskOptions;
use crate::task::restore::{ChangelogReader, RestoreReport};
use crate::task::spare_buffers::SpareBuffers;
use crate::task::state_manager::StateManager;
use crate::task::storage::TaskStorage;
use crate::task_id::TaskId;
use crate::time::InvalidTimestampHandler;
use crate::topology::Topology;

/// The timestamp a queued record carries when its extractor found no valid one.
const INVALID_TIMESTAMP: i64 = -1;

struct InputQueue {
    topic: Arc<str>,
    partition: i32,
    source: SourceRef,
    records: VecDeque<RawRecord>,
    /// The offset after the last record processed.
    consumed: Option<i64>,
}

/// One sub-topology instantiated for one partition, with its processors, stores, input
/// queues, stream time and punctuation. The Kafka runtime and the test driver both run
/// records through this type.
pub struct StreamTask {
    id: TaskId,
    cx: TaskContext,
    queues: Vec<InputQueue>,
    hooks: Vec<Rc<RefCell<dyn NodeHooks>>>,
    state: StateManager,
    handler: DeserializationHandler,
    timestamp_handler: InvalidTimestampHandler,
    processing_handler: ProcessingHandler,
    processing_callback: Option<ProcessingExceptionHandler>,
    /// Where skipped records go (topic, partitions), if anywhere.
    dead_letter: Option<(Arc<str>, i32)>,
    initialized: bool,
    /// Under exactly-once the stores hold each transaction's writes until it commits (see
    /// [`StreamTask::complete_commit`]).
    exactly_once: bool,
    /// Input partitions with records an earlier owner may have processed past its last
    /// commit, and the offset those end before (see [`StreamTask::replay_until`]).
    replay: Vec<(Arc<str>, i64)>,
    /// Buffers of processed records for the bytes of the next consumed ones: shared by a
    /// stream thread's tasks (see [`StreamTask::share_spare_buffers`]); none kept until then.
    spare: SpareBuffers,
}

impl StreamTask {
    /// Instantiates task `id` of `topology`: opens its stores under `options.state_dir` and
    /// builds its processors. Call [`StreamTask::initialize`] before processing.
    ///
    /// # Errors
    /// When a store cannot be opened or a topic's partition count is unknown.
    pub fn new(
        topology: &Topology,
        id: TaskId,
        options: &TaskOptions,
        collector: Box<dyn RecordCollector>,
    ) -> Result<Self, StreamsError> {
        let storage = TaskStorage::open(id, &store_specs(topology, id), options)?;
        Self::with_storage(topology, storage, options, collector)
    }

    /// Opens the storage of tasks `ids` of `topology` — state directories, checkpoints,
    /// RocksDB instances — several at once: what [`StreamTask::new`] does first, for many
    /// tasks in a fraction of the time. The results come in the order of `ids`; build each
    /// task with [`StreamTask::with_storage`].
    pub fn open_storage(
        topology: &Topology,
        ids: &[TaskId],
        options: &TaskOptions,
    ) -> Vec<Result<TaskStorage, StreamsError>> {
        let tasks: Vec<_> = ids
            .iter()
            .map(|&id| (id, store_specs(topology, id)))
            .collect();
        TaskStorage::open_all(&tasks, options)
    }

    /// Instantiates the task of `topology` whose storage is `storage` (from
    /// [`StreamTask::open_storage`] with the same `topology` and `options`) and builds its
    /// processors. Call [`StreamTask::initialize`] before processing.
    ///
    /// # Errors
    /// When a topic's partition count is unknown.
    pub fn with_storage(
        topology: &Topology,
        storage: TaskStorage,
        options: &TaskOptions,
        collector: Box<dyn RecordCollector>,
    ) -> Result<Self, StreamsError> {
        let id = storage.id;
        let sub = topology.subtopology(id.subtopology);
        let specs = store_specs(topology, id);
        let (state, stores) = StateManager::open(storage, &specs, options, collector.as_ref())?;
        let clock = Rc::new(Cell::new(0));
        let mut hooks: Vec<Rc<RefCell<dyn NodeHooks>>> = Vec::new();
        let mut built: HashMap<usize, ErasedRef> = HashMap::new();
        let mut sources: Vec<(String, SourceRef)> = Vec::new();
        let mut shared = HashMap::new();
        for &n in sub.nodes.iter().rev() {
            let node = topology.node(n);
            let topics = node.resolved_topics(&options.application_id);
            let mut icx = InstantiateCx {
                meta: &node.meta,
                topics: &topics,
                stores: &stores,
                partitions: &options.partitions,
                clock: &clock,
                hooks: &mut hooks,
                shared: &mut shared,
                globals: &options.globals,
            };
            let children: Vec<&ErasedRef> = node
                .children
                .iter()
                .map(|c| {
                    built
                        .get(c)
                        .expect("children are built before their parents")
                })
                .collect();
            match &node.factory {
                Factory::Source(make) => {
                    let source = make(&mut icx, &children)?;
                    sources.extend(topics.into_iter().map(|t| (t, source.clone())));
                }
                Factory::Node(make) => {
                    let made = make(&mut icx, &children)?;
                    built.insert(n, made);
                }
            }
        }
        let queues = sources
            .into_iter()
            .map(|(topic, source)| InputQueue {
                topic: topic.into(),
                partition: id.partition,
                source,
                records: VecDeque::new(),
                consumed: None,
            })
            .collect();
        let cx = TaskContext {
            task_id: id,
            application_id: options.application_id.as_str().into(),
            topic: "".into(),
            partition: id.partition,
            offset: -1,
            timestamp: 0,
            headers: Headers::new(),
            stream_time: UNKNOWN_TIME,
            wall_clock: 0,
            collector,
            schedules: Vec::new(),
            stores,
            clock,
            key_buf: Vec::new(),
            value_buf: Vec::new(),
            metrics: TaskMetrics::default(),
            warned_null: false,
            production_handler: options.production_handler,
            rejected_output: None,
        };
        Ok(Self {
            id,
            cx,
            queues,
            hooks,
            state,
            handler: options.deserialization_handler,
            timestamp_handler: options.invalid_timestamp_handler,
            processing_handler: options.processing_handler,
            processing_callback: options.processing_callback.clone(),
            dead_letter: options.dead_letter.clone(),
            initialized: false,
            exactly_once: options.exactly_once,
            replay: Vec::new(),
            spare: SpareBuffers::none(),
        })
    }

    /// Restores the task's stores from their changelogs, then initializes its processors
    /// (in topological order). `wall_clock_ms` starts the wall clock for punctuation.
    ///
    /// # Errors
    /// When restoration or a processor's `init` fails.
    pub fn initialize(
        &mut self,
        reader: &mut dyn ChangelogReader,
        wall_clock_ms: i64,
    ) -> Result<RestoreReport, StreamsError> {
        while !self.restore_step(reader, usize::MAX)? {}
        self.cx.wall_clock = wall_clock_ms;
        for hook in self.hooks.iter().rev() {
            hook.borrow_mut().init(&mut self.cx)?;
        }
        self.initialized = true;
        Ok(self.state.report())
    }

    /// Restores about `max_records` more changelog records into the task's stores; returns
    /// whether restoration is complete. A stream thread calls this between polls, so that a
    /// long restoration does not keep it from the consumer group; [`StreamTask::initialize`]
    /// then finds the stores restored.
    ///
    /// # Errors
    /// When a changelog cannot be read or a store written.
    pub fn restore_step(
        &mut self,
        reader: &mut dyn ChangelogReader,
        max_records: usize,
    ) -> Result<bool, StreamsError> {
        self.state.restore_step(reader, max_records)
    }

    /// Changelog records restored so far.
    pub fn restored_records(&self) -> u64 {
        self.state.restored_records()
    }

    /// Changelog records still to restore, when the changelogs' ends are known.
    pub fn remaining_records(&self) -> Option<u64> {
        self.state.remaining_records()
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// The topics this task reads (resolved names).
    pub fn input_topics(&self) -> impl Iterator<Item = &str> {
        self.queues.iter().map(|q| &*q.topic)
    }

    /// Queues `records` of `topic` (this task's partition) for processing.
    ///
    /// # Panics
    /// When the task does not read `topic`: callers route by the topology's source topics.
    pub fn add_records(&mut self, topic: &str, records: impl IntoIterator<Item = RawRecord>) {
        let queue = self
            .queue_of(topic)
            .unwrap_or_else(|| panic!("task {} does not read topic `{topic}`", self.id));
        for raw in records {
            self.push(queue, raw);
        }
    }

    /// The index of the input queue of `topic`, for [`StreamTask::add_borrowed`]; `None`
    /// when the task does not read `topic`.
    pub(crate) fn queue_of(&self, topic: &str) -> Option<usize> {
        self.queues.iter().position(|q| &*q.topic == topic)
    }

    /// Makes the task take the buffers for the records it is given from `spare`, and keep
    /// those of the records it processed there: a stream thread's tasks share one set.
    pub(crate) fn share_spare_buffers(&mut self, spare: SpareBuffers) {
        self.spare = spare;
    }

    /// Queues a consumed record for input queue `queue` (from [`StreamTask::queue_of`]),
    /// copying its key and value into buffers of records already processed.
    pub(crate) fn add_borrowed(&mut self, queue: usize, record: BorrowedRecord<'_>) {
        let raw = RawRecord {
            offset: record.offset,
            timestamp: record.timestamp,
            key: self.spare.copy(record.key),
            value: self.spare.copy(record.value),
            headers: record.headers,
        };
        self.push(queue, raw);
    }

    fn push(&mut self, queue: usize, mut raw: RawRecord) {
        let queue = &mut self.queues[queue];
        // Ordered and timed by event time; an invalid one is marked with -1 and handled
        // when its turn comes.
        raw.timestamp = queue
            .source
            .borrow()
            .extract_timestamp(&raw)
            .unwrap_or(INVALID_TIMESTAMP);
        queue.records.push_back(raw);
    }

    /// Records queued and not yet processed.
    pub fn buffered(&self) -> usize {
        self.queues.iter().map(|q| q.records.len()).sum()
    }

    /// Records queued for `topic`.
    pub fn buffered_for(&self, topic: &str) -> usize {
        self.queues
            .iter()
            .filter(|q| &*q.topic == topic)
            .map(|q| q.records.len())
            .sum()
    }

    fn next_queue(&self) -> Option<usize> {
        self.queues
            .iter()
            .enumerate()
            .filter_map(|(i, q)| q.records.front().map(|r| (r.timestamp, i)))
            .min()
            .map(|(_, i)| i)
    }

    /// Processes up to `max` queued records, always taking the one with the smallest
    /// timestamp across the task's input partitions, and runs stream-time punctuations as
    /// stream time advances. Returns how many records were taken.
    ///
    /// # Errors
    /// The first processing error; with the fail handler, an undeserializable record.
    pub fn process(&mut self, max: usize) -> Result<usize, StreamsError> {
        assert!(
            self.initialized,
            "StreamTask::initialize must run before process"
        );
        let mut done = 0;
        while done < max {
            let Some(qi) = self.next_queue() else { break };
            let queue = &mut self.queues[qi];
            let mut raw = queue
                .records
                .pop_front()
                .expect("next_queue picked a non-empty queue");
            if raw.timestamp == INVALID_TIMESTAMP {
                let error = StreamsError::InvalidTimestamp {
                    topic: queue.topic.to_string(),
                    partition: queue.partition,
                    offset: raw.offset,
                };
                match self.timestamp_handler {
                    InvalidTimestampHandler::Fail => return Err(error),
                    InvalidTimestampHandler::LogAndSkip => {
                        tracing::warn!(task = %self.id, %error, "skipping a record without a valid timestamp");
                        self.cx.metrics.skipped_invalid_timestamp += 1;
                        queue.consumed = Some(raw.offset + 1);
                        continue;
                    }
                }
            }
            let headers = std::mem::take(&mut raw.headers);
            self.cx.set_current(
                &queue.topic,
                queue.partition,
                raw.offset,
                raw.timestamp,
                headers,
            );
            self.cx.stream_time = self.cx.stream_time.max(raw.timestamp);
            self.cx.metrics.processed += 1;
            done += 1;
            let source = queue.source.clone();
            self.cx.rejected_output = None;
            let outcome = match process_guarded(&source, &mut self.cx, &raw) {
                Ok(outcome) => outcome,
                Err(error @ StreamsError::ProcessingFailed { .. }) => {
                    match self.processing_response(&error, raw.timestamp) {
                        ProcessingResponse::Fail => return Err(error),
                        ProcessingResponse::Continue => {
                            tracing::warn!(task = %self.id, %error, "skipping a record whose processing failed");
                            self.cx.metrics.skipped_processing += 1;
                            // One dead letter per record: the failure, not an output a
                            // sink dropped before it.
                            self.cx.rejected_output = None;
                            send_dead_letter(
                                &mut self.cx,
                                self.dead_letter.as_ref(),
                                &raw,
                                &error,
                            )?;
                            SourceOutcome::Processed
                        }
                    }
                }
                Err(error) => return Err(error),
            };
            if let Some(error) = self.cx.rejected_output.take() {
                self.dead_letter_rejected(&raw, &error)?;
            }
            if let SourceOutcome::Undeserializable(err) = outcome {
                match self.handler {
                    DeserializationHandler::Fail => return Err(err),
                    DeserializationHandler::LogAndContinue => {
                        tracing::warn!(task = %self.id, error = %err, "skipping a record that cannot be deserialized");
                        self.cx.metrics.skipped_deserialization += 1;
                        send_dead_letter(&mut self.cx, self.dead_letter.as_ref(), &raw, &err)?;
                    }
                }
            }
            // Only a record that was handled counts as consumed: a failed one is read again
            // after a restart.
            self.queues[qi].consumed = Some(raw.offset + 1);
            self.spare.keep(raw.key);
            self.spare.keep(raw.value);
            self.punctuate(PunctuationType::StreamTime, self.cx.stream_time)?;
        }
        if !self.replay.is_empty() {
            let queues = &self.queues;
            self.replay.retain(|(topic, end)| {
                let consumed = queues
                    .iter()
                    .find(|q| q.topic == *topic)
                    .and_then(|q| q.consumed);
                consumed.is_none_or(|c| c < *end)
            });
            if self.replay.is_empty() {
                tracing::info!(task = %self.id, "replayed the records processed before; caching again");
                self.bypass_caches(false);
            }
        }
        Ok(done)
    }

    /// Dead-letters the current record `raw`, an output record of which a sink dropped
    /// because of `error` (`production.exception.handler = continue`). The dead letter may
    /// be refused for the same reason (a record too large for the output is as large in the
    /// dead-letter topic): it is then dropped with a warning, as the output record was.
    fn dead_letter_rejected(
        &mut self,
        raw: &RawRecord,
        error: &StreamsError,
    ) -> Result<(), StreamsError> {
        match send_dead_letter(&mut self.cx, self.dead_letter.as_ref(), raw, error) {
            Err(refused) if refused.is_record_rejected() => {
                tracing::warn!(task = %self.id, offset = raw.offset, error = %refused, "the dead-letter topic refuses the record too; dropping it");
                Ok(())
            }
            sent => sent,
        }
    }

    /// What to do about `error`, the failure of the current record (stamped `timestamp`):
    /// the Rust handler decides when there is one, else `processing.exception.handler`.
    fn processing_response(&self, error: &StreamsError, timestamp: i64) -> ProcessingResponse {
        let Some(handler) = &self.processing_callback else {
            return match self.processing_handler {
                ProcessingHandler::Fail => ProcessingResponse::Fail,
                ProcessingHandler::LogAndContinue => ProcessingResponse::Continue,
            };
        };
        let processor = match error {
            StreamsError::ProcessingFailed { source, .. } => match source.as_ref() {
                StreamsError::Processor { processor, .. } => processor.as_str(),
                _ => "",
            },
            _ => "",
        };
        let context = ErrorContext {
            task: self.id,
            topic: &self.cx.topic,
            partition: self.cx.partition,
            offset: self.cx.offset,
            timestamp,
            headers: &self.cx.headers,
            processor,
        };
        handler(&context, error)
    }

    /// Marks records an earlier owner of the task may have processed after its last commit
    /// (under at-least-once): on each input `topic`, those before offset `end` (its end
    /// when the task was assigned). Until the task has processed them all, its stores bypass
    /// their record caches, so every change goes downstream again in order — as the first
    /// time — instead of being collapsed with the next. Without this, a table regrouped by
    /// a new key could keep a row under a key it has left: the earlier owner's retraction
    /// was sent, its state was not saved, and a collapsed replay would never send it.
    pub fn replay_until(&mut self, ends: &[(String, i64)]) {
        if self.exactly_once {
            return; // nothing past the last commit was ever visible
        }
        self.replay = ends
            .iter()
            .filter_map(|(topic, end)| {
                let queue = self.queues.iter().find(|q| &*q.topic == topic.as_str())?;
                Some((queue.topic.clone(), *end))
            })
            .collect();
        if !self.replay.is_empty() {
            self.bypass_caches(true);
        }
    }

    fn bypass_caches(&mut self, on: bool) {
        for entry in self.cx.stores.values() {
            entry.store.borrow_mut().set_bypass_cache(on);
        }
    }

    /// Advances the wall clock to `now_ms` and runs the wall-clock punctuations due.
    ///
    /// # Errors
    /// The first punctuation error.
    pub fn punctuate_wall_clock(&mut self, now_ms: i64) -> Result<usize, StreamsError> {
        self.cx.wall_clock = now_ms;
        self.punctuate(PunctuationType::WallClockTime, now_ms)
    }

    fn punctuate(&mut self, kind: PunctuationType, now: i64) -> Result<usize, StreamsError> {
        if now == UNKNOWN_TIME || self.cx.schedules.is_empty() {
            return Ok(0);
        }
        let due = self.cx.due(kind, now);
        for &(node, id) in &due {
            self.cx
                .set_current(&"".into(), self.id.partition, -1, now, Headers::new());
            self.hooks[node]
                .borrow_mut()
                .punctuate(&mut self.cx, id, now)?;
            self.cx.metrics.punctuations += 1;
        }
        Ok(due.len())
    }

    /// Commits the task's progress: flushes the record caches (forwarding what they emit)
    /// and the collector, and returns the offsets to commit for its input partitions:
    /// `(topic, partition, next offset)`. When the stores took more than
    /// [`CHECKPOINT_DELTA`](crate::task::CHECKPOINT_DELTA) changelog records since the last
    /// checkpoint, it also flushes them to their files and writes a new one (see
    /// [`StreamTask::checkpoint`]).
    ///
    /// Under exactly-once (once the task processes) the stores hold what the caches flushed
    /// and nothing is checkpointed: the caller commits the transaction, then calls
    /// [`StreamTask::complete_commit`].
    ///
    /// # Errors
    /// When any of those steps fails; nothing after the failing step is done.
    pub fn commit(&mut self) -> Result<Vec<(String, i32, i64)>, StreamsError> {
        // A task still restoring has processed nothing: its checkpoint, when due, keeps the
        // restoration done so far.
        if self.initialized {
            for hook in self.hooks.iter().rev() {
                hook.borrow_mut().flush(&mut self.cx)?;
            }
        }
        // The collector first: the stores' files then never hold a write whose records
        // downstream were not acknowledged. A worker killed before they were, and started
        // again on its state directory, replays the records past the last commit from
        // what downstream saw — a store ahead of it would send the replay's retractions
        // (a regrouped table's subtractions) to the wrong keys.
        self.cx.collector.flush()?;
        if !(self.exactly_once && self.initialized)
            && self.state.checkpoint_due(self.cx.collector.as_ref())
        {
            self.state.checkpoint(self.cx.collector.as_ref())?;
        }
        Ok(self
            .queues
            .iter()
            .filter_map(|q| q.consumed.map(|o| (q.topic.to_string(), q.partition, o)))
            .collect())
    }

    /// Under exactly-once, after the transaction holding the task's writes has committed:
    /// writes them to the stores and, when due (as in [`StreamTask::commit`]), flushes the
    /// stores and writes the checkpoint, so that the local state and its checkpoint only
    /// ever reflect committed changelogs (a crash then costs a restore of the changelogs'
    /// tails, not a full restore).
    ///
    /// # Errors
    /// When a store or the checkpoint cannot be written.
    pub fn complete_commit(&mut self) -> Result<(), StreamsError> {
        self.state.apply_held()?;
        if self.state.checkpoint_due(self.cx.collector.as_ref()) {
            self.state.checkpoint(self.cx.collector.as_ref())?;
        }
        Ok(())
    }

    /// Flushes the stores to their files and writes the checkpoint now, however few
    /// changelog records they took since the last one: for a task about to close cleanly,
    /// so that whoever opens its state next restores nothing. Call after [`Self::commit`]
    /// (and, under exactly-once, [`Self::complete_commit`]).
    ///
    /// # Errors
    /// When a store cannot flush or the checkpoint cannot be written.
    pub fn checkpoint(&mut self) -> Result<(), StreamsError> {
        self.state.checkpoint(self.cx.collector.as_ref())
    }

    /// Under exactly-once, after the transaction holding the task's writes was aborted:
    /// drops what the stores hold for it. The task must then be closed and opened again,
    /// which restores it from the committed state.
    pub fn discard_uncommitted(&mut self) {
        self.state.discard_uncommitted();
    }

    /// Closes the processors (of an initialized task). Commit first to keep the progress.
    pub fn close(self) {
        if self.initialized {
            for hook in self.hooks.iter().rev() {
                hook.borrow_mut().close();
            }
        }
    }

    /// The task's counters.
    pub fn metrics(&self) -> TaskMetrics {
        self.cx.metrics
    }

    /// The largest timestamp processed, or [`UNKNOWN_TIME`].
    pub fn stream_time(&self) -> i64 {
        self.cx.stream_time
    }

    /// Read handles and change feeds of the task's stores, for interactive queries.
    pub(crate) fn queryable_stores(&self) -> Vec<(String, StoreReader, Arc<ChangeFeed>)> {
        self.cx
            .stores
            .iter()
            .map(|(name, entry)| {
                let store = entry.store.borrow();
                let reader: StoreReader = store.read_only_handle();
                (name.clone(), reader, store.feed())
            })
            .collect()
    }

    /// Read handles on the task's stores, by name.
    pub fn store_handles(&self) -> Vec<(String, Arc<dyn ReadOnlyKeyValueStore + Send + Sync>)> {
        self.cx
            .stores
            .iter()
            .map(|(name, entry)| {
                let reader: Arc<dyn ReadOnlyKeyValueStore + Send + Sync> =
                    entry.store.borrow().read_only_handle();
                (name.clone(), reader)
            })
            .collect()
    }
}

/// Runs `raw` through `source` and what follows it. A processor's error and a panic in a
/// user function become [`StreamsError::ProcessingFailed`] with the record's coordinates,
/// for the processing handler; the engine's own failures (stores, Kafka) pass unchanged.
fn process_guarded(
    source: &SourceRef,
    cx: &mut TaskContext,
    raw: &RawRecord,
) -> Result<SourceOutcome, StreamsError> {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        source.borrow_mut().process_raw(cx, raw)
    }));
    let failure = match result {
        Ok(Err(error @ StreamsError::Processor { .. })) => error,
        Ok(other) => return other,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_owned());
            StreamsError::Processor {
                processor: "a user function".into(),
                message: format!("panicked: {message}"),
                source: None,
            }
        }
    };
    Err(StreamsError::ProcessingFailed {
        topic: cx.topic.to_string(),
        partition: cx.partition,
        offset: cx.offset,
        source: Box::new(failure),
    })
}

/// Writes the current record `raw`, which a handler skipped because of `error`, to the
/// dead-letter topic when there is one (KIP-1034): its key, value, timestamp and headers as
/// read, plus headers naming the error and where the record came from. It goes out with
/// the task's other output, so it is written before the offset past it is committed (in
/// the same transaction under exactly-once).
fn send_dead_letter(
    cx: &mut TaskContext,
    dead_letter: Option<&(Arc<str>, i32)>,
    raw: &RawRecord,
    error: &StreamsError,
) -> Result<(), StreamsError> {
    let Some((topic, partitions)) = dead_letter else {
        return Ok(());
    };
    let mut causes = Vec::new();
    let mut cause = std::error::Error::source(error);
    while let Some(c) = cause {
        causes.push(c.to_string());
        cause = c.source();
    }
    let mut headers = cx.headers.clone();
    for (name, value) in [
        (
            "__streams.errors.exception",
            format!("tributary::StreamsError::{}", error.kind()),
        ),
        ("__streams.errors.message", error.to_string()),
        ("__streams.errors.stacktrace", causes.join("\ncaused by: ")),
        ("__streams.errors.topic", cx.topic.to_string()),
        ("__streams.errors.partition", cx.partition.to_string()),
        ("__streams.errors.offset", cx.offset.to_string()),
    ] {
        headers.push((name.to_owned(), Some(value.into_bytes())));
    }
    let partition = match &raw.key {
        Some(key) => crate::partitioner::partition_for(key, *partitions),
        None => cx.partition % partitions,
    };
    cx.collector.send(OutgoingRecord {
        topic,
        partition,
        key: raw.key.as_deref(),
        value: raw.value.as_deref(),
        timestamp: raw.timestamp,
        headers: &headers,
    })?;
    cx.metrics.dead_lettered += 1;
    Ok(())
}

/// The specs of task `id`'s stores, in the order its sub-topology lists them.
fn store_specs(topology: &Topology, id: TaskId) -> Vec<&StoreSpec> {
    topology
        .subtopology(id.subtopology)
        .stores
        .iter()
        .map(|name| topology.store_spec(name))
        .collect()
}
