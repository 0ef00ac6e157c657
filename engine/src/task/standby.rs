//! A standby task: a warm copy of another instance's active task, kept by reading the
//! changelogs of the task's persistent stores continuously into the same local state an
//! active task would open. When the task moves to this instance, the active task opens that
//! state with its checkpoint and restores only what the standby had not read yet.

use std::collections::HashMap;
use std::sync::Arc;

use tributary_state::{ChangeFeed, ChangelogSink, DiscardingChangelog};

use crate::error::StreamsError;
use crate::processor::{OutgoingRecord, RecordCollector};
use crate::store::{StoreBackend, StoreEntry, StoreReader};
use crate::task::options::TaskOptions;
use crate::task::restore::ChangelogReader;
use crate::task::state_manager::StateManager;
use crate::task::storage::TaskStorage;
use crate::task_id::TaskId;
use crate::topology::Topology;

/// The stores a standby keeps for sub-topology `subtopology`: the persistent ones with a
/// changelog. An in-memory store would have to be restored in full when its task becomes
/// active anyway, so a copy of it on another instance saves nothing.
pub(crate) fn standby_stores(topology: &Topology, subtopology: u32) -> Vec<String> {
    topology
        .subtopology(subtopology)
        .stores
        .iter()
        .filter(|name| {
            let spec = topology.store_spec(name);
            spec.logging && spec.backend == StoreBackend::RocksDb
        })
        .cloned()
        .collect()
}

/// A warm copy of task `id`'s persistent stores.
pub(crate) struct StandbyTask {
    state: StateManager,
    stores: HashMap<String, StoreEntry>,
}

impl StandbyTask {
    /// Opens the local state of task `id` (what an active task would open) for the
    /// persistent logged stores of its sub-topology; reading starts at their checkpoint.
    ///
    /// # Errors
    /// When a store cannot be opened (its directory is in use, say).
    pub(crate) fn open(
        topology: &Topology,
        id: TaskId,
        options: &TaskOptions,
    ) -> Result<Self, StreamsError> {
        let names = standby_stores(topology, id.subtopology);
        let specs: Vec<_> = names.iter().map(|n| topology.store_spec(n)).collect();
        let storage = TaskStorage::open(id, &specs, options)?;
        let (state, stores) = StateManager::open(storage, &specs, options, &NoOutput)?;
        Ok(Self { state, stores })
    }

    /// Applies up to about `max_records` changelog records written since the last call.
    /// Returns whether the copy reached the end of every changelog.
    ///
    /// # Errors
    /// When the changelog cannot be read or a store cannot be written.
    pub(crate) fn catch_up(
        &mut self,
        reader: &mut dyn ChangelogReader,
        max_records: usize,
    ) -> Result<bool, StreamsError> {
        let done = self.state.restore_step(reader, max_records)?;
        if done {
            self.state.read_on();
        }
        Ok(done)
    }

    /// Each store of the copy: its name, changelog topic, and the changelog offset its
    /// local state reflects.
    pub(crate) fn positions(&self) -> Vec<(&str, &str, i64)> {
        self.state.positions()
    }

    /// Flushes the stores and records how far they are in the task's checkpoint, so that an
    /// active task opening this state restores only from there.
    ///
    /// # Errors
    /// When a store cannot flush or the checkpoint cannot be written.
    pub(crate) fn checkpoint(&mut self) -> Result<(), StreamsError> {
        self.state.checkpoint(&NoOutput)
    }

    /// Read handles and change feeds of the copy's stores, for stale reads.
    pub(crate) fn queryable_stores(&self) -> Vec<(String, StoreReader, Arc<ChangeFeed>)> {
        self.stores
            .iter()
            .map(|(name, entry)| {
                let store = entry.store.borrow();
                let reader: StoreReader = store.read_only_handle();
                (name.clone(), reader, store.feed())
            })
            .collect()
    }
}

/// The collector of a standby: it never processes a record, so it never writes one.
struct NoOutput;

impl RecordCollector for NoOutput {
    fn send(&mut self, record: OutgoingRecord<'_>) -> Result<(), StreamsError> {
        Err(StreamsError::processor(
            "standby",
            format!(
                "a standby task writes nothing, but was asked to write to `{}`",
                record.topic
            ),
        ))
    }

    fn flush(&mut self) -> Result<(), StreamsError> {
        Ok(())
    }

    fn end_offset(&self, _topic: &str, _partition: i32) -> Option<i64> {
        None
    }

    fn changelog_sink(&self) -> Box<dyn ChangelogSink> {
        Box::new(DiscardingChangelog)
    }
}
