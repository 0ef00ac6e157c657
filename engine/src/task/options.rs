//! [`TaskOptions`]: what every task of a process is built with, derived from the
//! configuration in one place for the runtime and the test driver alike.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use tributary_state::{MemoryBudget, ValueReader};

use crate::config::{
    DeserializationHandler, ProcessingExceptionHandler, ProcessingHandler, ProductionHandler,
    StreamsConfig,
};
use crate::time::InvalidTimestampHandler;
use crate::topology::Topology;

/// What a task needs from its process: identity, where state lives, and limits.
#[derive(Clone)]
pub struct TaskOptions {
    /// `application.id`: prefixes internal topics and names the state directory.
    pub(crate) application_id: String,
    /// `state.dir`: tasks keep state under `<state.dir>/<application.id>/<task-id>/`.
    pub(crate) state_dir: PathBuf,
    /// Record cache bytes for this task, split among its cached stores; 0 turns caching off.
    pub(crate) cache_max_bytes: usize,
    /// The RocksDB memory budget shared by every store of the process.
    pub(crate) budget: MemoryBudget,
    /// What to do with records that cannot be deserialized.
    pub(crate) deserialization_handler: DeserializationHandler,
    /// What to do with records whose processing fails.
    pub(crate) processing_handler: ProcessingHandler,
    /// A handler in Rust deciding instead of `processing_handler`, when set.
    pub(crate) processing_callback: Option<ProcessingExceptionHandler>,
    /// What to do with output records that cannot be written.
    pub(crate) production_handler: ProductionHandler,
    /// The dead-letter topic and its partition count, when records a handler skips are
    /// kept there.
    pub(crate) dead_letter: Option<(Arc<str>, i32)>,
    /// What to do with records whose timestamp is missing or negative.
    pub(crate) invalid_timestamp_handler: InvalidTimestampHandler,
    /// Partition counts of every topic the task reads or writes (resolved names).
    pub(crate) partitions: Arc<HashMap<String, i32>>,
    /// Read handles of the global tables' stores, in topology order (empty until they are
    /// open).
    pub(crate) globals: Arc<Vec<Arc<ValueReader>>>,
    /// Under exactly-once, stores hold their uncommitted writes in memory, and local state
    /// and its checkpoint advance only after the transaction commits (see
    /// [`StreamTask::complete_commit`](crate::task::StreamTask::complete_commit)).
    pub(crate) exactly_once: bool,
}

impl TaskOptions {
    /// The options of every task of `topology` in a process configured by `config`, given
    /// the partition counts of every topic it touches (see
    /// [`Topology::resolve_partitions`]). The record cache (`statestore.cache.max.bytes`)
    /// is split evenly among the application's tasks; the RocksDB memory budget
    /// (`rocksdb.memory.bytes`) is shared by all of them.
    pub fn from_config(
        config: &StreamsConfig,
        topology: &Topology,
        partitions: HashMap<String, i32>,
    ) -> Self {
        let tasks = topology
            .tasks(&config.application_id, &partitions)
            .len()
            .max(1);
        Self {
            application_id: config.application_id.clone(),
            state_dir: config.state_dir.clone(),
            cache_max_bytes: config.cache_max_bytes / tasks,
            budget: MemoryBudget::new(config.memory_budget_bytes),
            deserialization_handler: config.deserialization_handler,
            processing_handler: config.processing_handler,
            processing_callback: None,
            production_handler: config.production_handler,
            dead_letter: config.dead_letter_topic.as_ref().map(|topic| {
                let partitions = partitions.get(topic).copied().unwrap_or(1);
                (Arc::from(topic.as_str()), partitions)
            }),
            invalid_timestamp_handler: config.invalid_timestamp_handler,
            partitions: Arc::new(partitions),
            globals: Arc::default(),
            exactly_once: config.exactly_once(),
        }
    }

    /// The same options with tasks reading the global tables' stores through `readers`
    /// (in the order of [`Topology::global_tables`]).
    pub fn with_globals(mut self, readers: Vec<Arc<ValueReader>>) -> Self {
        self.globals = Arc::new(readers);
        self
    }

    /// The same options with `handler` deciding about records whose processing fails
    /// (instead of `processing.exception.handler`).
    pub fn with_processing_handler(mut self, handler: ProcessingExceptionHandler) -> Self {
        self.processing_callback = Some(handler);
        self
    }

    /// The same options with tasks keeping state under `state_dir`.
    pub fn with_state_dir(mut self, state_dir: PathBuf) -> Self {
        self.state_dir = state_dir;
        self
    }

    /// Record cache bytes of each task.
    pub fn cache_max_bytes(&self) -> usize {
        self.cache_max_bytes
    }

    /// Partition counts of every topic the tasks read or write.
    pub fn partitions(&self) -> &HashMap<String, i32> {
        &self.partitions
    }
}
