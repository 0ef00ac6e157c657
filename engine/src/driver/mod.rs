//! [`TopologyTestDriver`]: runs a topology in-process, with no broker, through the same
//! [`StreamTask`](crate::task::StreamTask) code the Kafka runtime runs — for Tributary's
//! tests and for users' own.

mod inner;
mod io;
mod topics;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use tributary_state::ReadOnlyKeyValueStore;

pub use io::{DriverKeyValueStore, TestInputTopic, TestOutputTopic};

use crate::config::StreamsConfig;
use crate::error::StreamsError;
use crate::processor::TaskMetrics;
use crate::record::RawRecord;
use crate::serde::Serde;
use crate::store::typed_serdes;
use crate::task::{GlobalStore, StreamTask, TaskOptions};
use crate::task_id::TaskId;
use crate::topology::Topology;
use inner::DriverInner;
use topics::{DriverChangelogReader, DriverCollector, SharedTopics, Topics};

/// Builds a [`TopologyTestDriver`] with partition counts and commit behaviour.
pub struct DriverBuilder {
    topology: Topology,
    config: StreamsConfig,
    partitions: HashMap<String, i32>,
    commit_after_each_input: bool,
    wall_clock_ms: i64,
}

impl DriverBuilder {
    /// Gives user topic `topic` `count` partitions (default 1); the driver then runs one
    /// task per partition, and keys are partitioned as a Kafka producer would.
    pub fn partitions(mut self, topic: &str, count: i32) -> Self {
        self.partitions.insert(topic.to_owned(), count.max(1));
        self
    }

    /// Whether each `pipe` ends with a commit (flushing record caches, so that every update
    /// is visible downstream at once). Default: yes, as in Kafka Streams' test driver.
    /// Without it, commit with [`TopologyTestDriver::commit`].
    pub fn commit_after_each_input(mut self, on: bool) -> Self {
        self.commit_after_each_input = on;
        self
    }

    /// The wall-clock time (ms) the driver starts at. Default 0.
    pub fn wall_clock_start(mut self, ms: i64) -> Self {
        self.wall_clock_ms = ms;
        self
    }

    /// Creates the tasks and their stores (in a temporary state directory).
    ///
    /// # Errors
    /// Co-partitioning errors, and store failures.
    pub fn build(self) -> Result<TopologyTestDriver, StreamsError> {
        let app = self.config.application_id.clone();
        let mut external = HashMap::new();
        for sub in self.topology.subtopologies() {
            for topic in sub.source_topics().iter().chain(sub.sink_topics()) {
                if let crate::topology::TopicName::External(name) = topic {
                    external.insert(
                        name.clone(),
                        self.partitions.get(name).copied().unwrap_or(1),
                    );
                }
            }
        }
        let mut counts = self.topology.resolve_partitions(&app, &external)?;
        for global in self.topology.global_tables() {
            let topic = global.topic();
            counts.insert(
                topic.to_owned(),
                self.partitions.get(topic).copied().unwrap_or(1),
            );
        }
        let state_dir = tempfile::Builder::new()
            .prefix("tributary-driver-")
            .tempdir()
            .map_err(|e| {
                StreamsError::State(tributary_state::StateError::Io {
                    operation: "create a temporary state directory",
                    path: std::env::temp_dir(),
                    source: e,
                })
            })?;
        let topics: SharedTopics = Rc::new(RefCell::new(Topics {
            logs: HashMap::new(),
            partition_counts: counts.clone(),
        }));
        let options = TaskOptions::from_config(&self.config, &self.topology, counts)
            .with_state_dir(state_dir.path().to_owned());
        let globals = self
            .topology
            .global_tables()
            .iter()
            .map(|table| GlobalStore::open(table, &options))
            .collect::<Result<Vec<_>, _>>()?;
        let options = options.with_globals(globals.iter().map(GlobalStore::reader).collect());
        let mut tasks = Vec::new();
        let mut routes = HashMap::new();
        for id in self.topology.tasks(&app, &options.partitions) {
            let collector = Box::new(DriverCollector {
                topics: topics.clone(),
            });
            let mut task = StreamTask::new(&self.topology, id, &options, collector)?;
            task.initialize(
                &mut DriverChangelogReader {
                    topics: topics.clone(),
                },
                self.wall_clock_ms,
            )?;
            for topic in task.input_topics() {
                routes.insert((topic.to_owned(), id.partition), tasks.len());
            }
            tasks.push(task);
        }
        let inner = DriverInner {
            topology: self.topology,
            options,
            topics,
            tasks,
            routes,
            routed: HashMap::new(),
            wall_clock_ms: self.wall_clock_ms,
            commit_after_each_input: self.commit_after_each_input,
            globals,
        };
        Ok(TopologyTestDriver {
            inner: Rc::new(RefCell::new(inner)),
            _state_dir: state_dir,
        })
    }
}

/// Runs a topology without a broker: pipe records into input topics, read output topics,
/// look into stores, and move the wall clock.
///
/// Each topic has one partition unless [`DriverBuilder::partitions`] says otherwise; the
/// driver then runs one task per (sub-topology, partition), routes records by key as Kafka
/// would, and carries repartition topics between sub-topologies. After each piped record it
/// runs every task until idle and (by default) commits, so output is complete when `pipe`
/// returns.
pub struct TopologyTestDriver {
    inner: Rc<RefCell<DriverInner>>,
    _state_dir: tempfile::TempDir,
}

impl TopologyTestDriver {
    /// A driver with one partition per topic and a commit after every input.
    ///
    /// # Errors
    /// As [`DriverBuilder::build`].
    pub fn new(topology: Topology, config: StreamsConfig) -> Result<Self, StreamsError> {
        Self::builder(topology, config).build()
    }

    /// A builder for partition counts and commit behaviour.
    pub fn builder(topology: Topology, config: StreamsConfig) -> DriverBuilder {
        DriverBuilder {
            topology,
            config,
            partitions: HashMap::new(),
            commit_after_each_input: true,
            wall_clock_ms: 0,
        }
    }

    /// A typed handle for piping records into `topic`.
    ///
    /// # Errors
    /// [`StreamsError::UnknownInputTopic`] when the topology does not read `topic`.
    pub fn input_topic<K, V>(
        &self,
        topic: &str,
        key_serde: impl Serde<K> + 'static,
        value_serde: impl Serde<V> + 'static,
    ) -> Result<TestInputTopic<K, V>, StreamsError> {
        let inner = self.inner.borrow();
        if !inner.reads(topic) {
            return Err(StreamsError::UnknownInputTopic {
                topic: topic.to_owned(),
                known: inner.input_topics().join(", "),
            });
        }
        Ok(TestInputTopic::new(
            self.inner.clone(),
            topic,
            Arc::new(key_serde),
            Arc::new(value_serde),
        ))
    }

    /// A typed handle for reading what the topology wrote to `topic`, from the start.
    pub fn output_topic<K, V>(
        &self,
        topic: &str,
        key_serde: impl Serde<K> + 'static,
        value_serde: impl Serde<V> + 'static,
    ) -> TestOutputTopic<K, V> {
        TestOutputTopic::new(
            self.inner.borrow().topics.clone(),
            topic,
            Arc::new(key_serde),
            Arc::new(value_serde),
        )
    }

    /// A typed read view of store `name` across all its tasks (what has been committed or
    /// evicted from the record caches; with the default commit after each input, all of it).
    ///
    /// # Errors
    /// When no store has that name, or `K`/`V` are not its declared types.
    pub fn key_value_store<K: 'static, V: 'static>(
        &self,
        name: &str,
    ) -> Result<DriverKeyValueStore<K, V>, StreamsError> {
        let inner = self.inner.borrow();
        if let Some(global) = inner.globals.iter().find(|g| g.spec().name() == name) {
            let (key_serde, value_serde) = typed_serdes::<K, V>(global.spec())?;
            let reader: Arc<dyn ReadOnlyKeyValueStore + Send + Sync> = global.reader();
            return Ok(DriverKeyValueStore::new(
                vec![(0, reader)],
                key_serde,
                value_serde,
            ));
        }
        let spec = inner
            .topology
            .stores()
            .iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| {
                let mut known: Vec<&str> =
                    inner.topology.stores().iter().map(|s| s.name()).collect();
                known.extend(inner.globals.iter().map(|g| g.spec().name()));
                StreamsError::Topology(crate::error::TopologyError::UnknownStore {
                    operator: "the test driver".into(),
                    store: name.to_owned(),
                    known: known.join(", "),
                })
            })?;
        let (key_serde, value_serde) = typed_serdes::<K, V>(spec)?;
        let mut handles: Vec<(i32, Arc<dyn ReadOnlyKeyValueStore + Send + Sync>)> = inner
            .tasks
            .iter()
            .flat_map(|t| {
                let partition = t.id().partition;
                t.store_handles()
                    .into_iter()
                    .filter(|(n, _)| n == name)
                    .map(move |(_, h)| (partition, h))
            })
            .collect();
        handles.sort_by_key(|(p, _)| *p);
        Ok(DriverKeyValueStore::new(handles, key_serde, value_serde))
    }

    /// Moves the wall clock forward by `by`, runs the wall-clock punctuations due, and
    /// processes what they emit.
    ///
    /// # Errors
    /// The first punctuation or processing error.
    pub fn advance_wall_clock(&self, by: Duration) -> Result<(), StreamsError> {
        let mut inner = self.inner.borrow_mut();
        inner.wall_clock_ms += i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        let now = inner.wall_clock_ms;
        for task in &mut inner.tasks {
            task.punctuate_wall_clock(now)?;
        }
        inner.run()
    }

    /// Commits every task: record caches are flushed and what they emit is processed.
    ///
    /// # Errors
    /// The first commit or processing error.
    pub fn commit(&self) -> Result<(), StreamsError> {
        let mut inner = self.inner.borrow_mut();
        loop {
            inner.commit_tasks()?;
            if !inner.route()? {
                return Ok(());
            }
            inner.drain()?;
        }
    }

    /// The tasks the driver runs.
    pub fn tasks(&self) -> Vec<TaskId> {
        self.inner
            .borrow()
            .tasks
            .iter()
            .map(StreamTask::id)
            .collect()
    }

    /// Counters summed over all tasks (with the records of global tables' topics that did
    /// not decode).
    pub fn metrics(&self) -> TaskMetrics {
        let inner = self.inner.borrow();
        let globals = TaskMetrics {
            skipped_deserialization: inner.globals.iter().map(GlobalStore::undecodable).sum(),
            ..TaskMetrics::default()
        };
        inner
            .tasks
            .iter()
            .map(StreamTask::metrics)
            .fold(globals, |a, m| TaskMetrics {
                processed: a.processed + m.processed,
                skipped_deserialization: a.skipped_deserialization + m.skipped_deserialization,
                skipped_invalid_timestamp: a.skipped_invalid_timestamp
                    + m.skipped_invalid_timestamp,
                dropped_late: a.dropped_late + m.dropped_late,
                dropped_null: a.dropped_null + m.dropped_null,
                dropped_duplicates: a.dropped_duplicates + m.dropped_duplicates,
                skipped_processing: a.skipped_processing + m.skipped_processing,
                skipped_production: a.skipped_production + m.skipped_production,
                dead_lettered: a.dead_lettered + m.dead_lettered,
                punctuations: a.punctuations + m.punctuations,
            })
    }

    /// Every record written to `topic` (including internal topics such as changelogs, by
    /// full name), with its partition, in the order written.
    pub fn raw_records(&self, topic: &str) -> Vec<(i32, RawRecord)> {
        let inner = self.inner.borrow();
        let topics = inner.topics.borrow();
        topics
            .logs
            .get(topic)
            .map(|log| {
                log.order
                    .iter()
                    .map(|&(p, o)| (p, log.partitions[p as usize][o].clone()))
                    .collect()
            })
            .unwrap_or_default()
    }
}
