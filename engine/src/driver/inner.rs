//! The driver's state: its tasks, topics and clock, and how records are routed between them.

use std::collections::HashMap;

use crate::error::StreamsError;
use crate::partitioner::partition_for;
use crate::record::Headers;
use crate::task::{GlobalStore, StreamTask, TaskOptions};
use crate::topology::Topology;

use super::topics::SharedTopics;

/// The tasks a driver runs, its topics, and its clock.
pub(crate) struct DriverInner {
    pub(crate) topology: Topology,
    pub(crate) options: TaskOptions,
    pub(crate) topics: SharedTopics,
    pub(crate) tasks: Vec<StreamTask>,
    /// `(topic, partition)` → the task reading it.
    pub(crate) routes: HashMap<(String, i32), usize>,
    /// Per topic, how many appended records were handed to tasks.
    pub(crate) routed: HashMap<String, usize>,
    pub(crate) wall_clock_ms: i64,
    pub(crate) commit_after_each_input: bool,
    /// The global tables' stores, which records of their topics go straight into.
    pub(crate) globals: Vec<GlobalStore>,
}

impl DriverInner {
    pub(crate) fn partitions(&self, topic: &str) -> i32 {
        self.options.partitions.get(topic).copied().unwrap_or(1)
    }

    pub(crate) fn reads(&self, topic: &str) -> bool {
        self.routes.keys().any(|(t, _)| t == topic)
            || self.globals.iter().any(|g| g.topic() == topic)
    }

    pub(crate) fn input_topics(&self) -> Vec<String> {
        let mut topics: Vec<String> = self.routes.keys().map(|(t, _)| t.clone()).collect();
        topics.extend(self.globals.iter().map(|g| g.topic().to_owned()));
        topics.sort();
        topics.dedup();
        topics
    }

    /// Appends one input record and runs the topology until it is idle.
    pub(crate) fn pipe(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        timestamp: i64,
        headers: Headers,
    ) -> Result<(), StreamsError> {
        let partitions = self.partitions(topic);
        let partition = key.map_or(0, |k| partition_for(k, partitions));
        self.topics
            .borrow_mut()
            .append(topic, partition, key, value, timestamp, headers);
        self.run()
    }

    /// Hands newly appended records of every topic a task reads to that task, and applies
    /// those of a global table's topic to its store; returns whether a task got any.
    ///
    /// # Errors
    /// When a global store cannot apply a record.
    pub(crate) fn route(&mut self) -> Result<bool, StreamsError> {
        let topics = self.topics.borrow();
        let mut any = false;
        for (name, log) in &topics.logs {
            let done = self.routed.entry(name.clone()).or_insert(0);
            for &(partition, offset) in &log.order[*done..] {
                if let Some(global) = self.globals.iter_mut().find(|g| g.topic() == name) {
                    global.apply(partition, &log.partitions[partition as usize][offset])?;
                } else if let Some(&t) = self.routes.get(&(name.clone(), partition)) {
                    let record = log.partitions[partition as usize][offset].clone();
                    self.tasks[t].add_records(name, [record]);
                    any = true;
                }
            }
            *done = log.order.len();
        }
        Ok(any)
    }

    /// Processes until no task has input; then, if configured, commits (which may emit
    /// more records) and repeats until a commit emits nothing.
    pub(crate) fn run(&mut self) -> Result<(), StreamsError> {
        loop {
            self.drain()?;
            if !self.commit_after_each_input {
                return Ok(());
            }
            self.commit_tasks()?;
            if !self.route()? {
                return Ok(());
            }
        }
    }

    pub(crate) fn drain(&mut self) -> Result<(), StreamsError> {
        loop {
            self.route()?;
            let mut worked = false;
            for task in &mut self.tasks {
                if task.buffered() > 0 {
                    task.process(usize::MAX)?;
                    worked = true;
                }
            }
            if !worked {
                return Ok(());
            }
        }
    }

    /// Commits every task; under exactly-once the driver's "transaction" (its in-memory
    /// topics take every record at once) commits at the same moment.
    pub(crate) fn commit_tasks(&mut self) -> Result<(), StreamsError> {
        for task in &mut self.tasks {
            task.commit()?;
            if self.options.exactly_once {
                task.complete_commit()?;
            }
        }
        Ok(())
    }
}
