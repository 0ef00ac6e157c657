//! The stores of one instance that queries may read: which store partitions this process
//! hosts, whether they are still restoring, and read handles and change feeds for each.
//!
//! Stream threads register a task's stores when the task is created (restoring), mark them
//! active when restoration ends and release them when the task closes. The HTTP server
//! reads the registry from its own threads; nothing here is on the record path.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use dashmap::DashMap;
use tributary_state::{ChangeFeed, FeedEnd};

use crate::partitioner::partition_for;
use crate::store::{StoreReader, StoreSpec};
use crate::task_id::TaskId;
use crate::topology::Topology;

/// A store's partition as hosted by this process.
#[derive(Clone)]
pub struct HostedPartition {
    /// Reads the partition's state (as written through the record cache).
    pub reader: StoreReader,
    /// Every write applied to the partition from now on.
    pub feed: Arc<ChangeFeed>,
    /// Whether the partition is still restoring from its changelog (not yet queryable).
    pub restoring: bool,
}

/// A store's partition kept here as a standby: a warm copy of another instance's active
/// partition, readable by queries that accept stale answers.
#[derive(Clone)]
pub struct StandbyPartition {
    /// Reads the copy.
    pub reader: StoreReader,
    /// Changelog records the copy is behind the active partition (as last measured);
    /// `i64::MAX` until the first measurement.
    lag: Arc<AtomicI64>,
}

impl StandbyPartition {
    /// Changelog records the copy is behind, as last measured (`i64::MAX` before that).
    pub fn lag(&self) -> i64 {
        self.lag.load(Ordering::Acquire)
    }
}

/// A store of the topology, as queries see it.
pub struct QueryableStore {
    /// Its declaration: name, formats, backend.
    pub spec: StoreSpec,
    /// The sub-topology whose tasks hold it; `None` for a global table's store, which
    /// every instance holds whole (one partition, answered locally).
    pub subtopology: Option<u32>,
}

/// The stores of a topology and the partitions of them this process hosts.
pub struct StoreRegistry {
    stores: Vec<QueryableStore>,
    /// Partition count of each store (of its sub-topology's input topics), known once the
    /// instance has started.
    partitions: OnceLock<Vec<i32>>,
    hosted: DashMap<(usize, i32), HostedPartition>,
    /// Standby copies this process keeps, by store and partition.
    standbys: DashMap<(usize, i32), StandbyPartition>,
    /// Bumped on every change of what is hosted, so that publishers can tell.
    version: AtomicU64,
}

impl StoreRegistry {
    /// The queryable stores of `topology`; nothing hosted yet.
    pub fn new(topology: &Topology) -> Self {
        let stores = topology
            .subtopologies()
            .iter()
            .flat_map(|sub| {
                sub.stores().iter().map(move |name| QueryableStore {
                    spec: topology.store_spec(name).clone(),
                    subtopology: Some(sub.id()),
                })
            })
            .chain(
                topology
                    .global_tables()
                    .iter()
                    .map(|global| QueryableStore {
                        spec: global.store().clone(),
                        subtopology: None,
                    }),
            )
            .collect();
        Self {
            stores,
            partitions: OnceLock::new(),
            hosted: DashMap::new(),
            standbys: DashMap::new(),
            version: AtomicU64::new(0),
        }
    }

    /// Records the partition count of every store from the partition counts of the
    /// topology's topics (by resolved name), once, when the instance starts.
    pub(crate) fn set_partitions(
        &self,
        topology: &Topology,
        application_id: &str,
        counts: &HashMap<String, i32>,
    ) {
        let partitions = self
            .stores
            .iter()
            .map(|store| match store.subtopology {
                Some(sub) => topology
                    .subtopology(sub)
                    .source_topics()
                    .iter()
                    .filter_map(|t| counts.get(&t.resolve(application_id)).copied())
                    .max()
                    .unwrap_or(1),
                None => 1,
            })
            .collect();
        let _ = self.partitions.set(partitions);
    }

    /// Every store, in topology order.
    pub fn stores(&self) -> &[QueryableStore] {
        &self.stores
    }

    /// The index of store `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.stores.iter().position(|s| s.spec.name() == name)
    }

    /// The names of every store, for error messages.
    pub fn names(&self) -> Vec<&str> {
        self.stores.iter().map(|s| s.spec.name()).collect()
    }

    /// How many partitions store `index` has; `None` before the instance has started.
    pub fn partition_count(&self, index: usize) -> Option<i32> {
        self.partitions.get().map(|p| p[index])
    }

    /// The partition that holds `key` (canonical store bytes) of store `index`, computed as
    /// the writes partition it; `None` before the instance has started.
    pub fn partition_of(&self, index: usize, key: &[u8]) -> Option<i32> {
        self.partition_count(index).map(|n| partition_for(key, n))
    }

    /// The hosted partition `partition` of store `index`, if this process hosts it.
    pub fn hosted(&self, index: usize, partition: i32) -> Option<HostedPartition> {
        self.hosted.get(&(index, partition)).map(|h| h.clone())
    }

    /// Every partition of store `index` this process hosts, with whether it is restoring,
    /// in partition order.
    pub fn hosted_partitions(&self, index: usize) -> Vec<(i32, bool)> {
        let mut hosted: Vec<(i32, bool)> = self
            .hosted
            .iter()
            .filter(|e| e.key().0 == index)
            .map(|e| (e.key().1, e.value().restoring))
            .collect();
        hosted.sort_unstable();
        hosted
    }

    /// Whether any hosted partition is restoring.
    pub fn any_restoring(&self) -> bool {
        self.hosted.iter().any(|e| e.value().restoring)
    }

    /// A number that changes whenever what this process hosts changes.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    fn changed(&self) {
        self.version.fetch_add(1, Ordering::AcqRel);
    }

    /// Registers the stores of task `id` (created, about to restore): `stores` gives each
    /// store's name, read handle and change feed.
    pub(crate) fn host(&self, id: TaskId, stores: Vec<(String, StoreReader, Arc<ChangeFeed>)>) {
        for (name, reader, feed) in stores {
            if let Some(index) = self.index_of(&name) {
                let hosted = HostedPartition {
                    reader,
                    feed,
                    restoring: true,
                };
                self.hosted.insert((index, id.partition), hosted);
            }
        }
        self.changed();
    }

    /// The stores of task `id` have restored: queries may read them.
    pub(crate) fn activate(&self, id: TaskId) {
        for mut e in self.hosted.iter_mut() {
            if self.stores[e.key().0].subtopology == Some(id.subtopology)
                && e.key().1 == id.partition
            {
                e.value_mut().restoring = false;
            }
        }
        self.changed();
    }

    /// Task `id` closed: its stores leave the registry and their subscribers hear that the
    /// partition moved.
    pub(crate) fn release(&self, id: TaskId) {
        let keys: Vec<(usize, i32)> = self
            .hosted
            .iter()
            .map(|e| *e.key())
            .filter(|(index, partition)| {
                self.stores[*index].subtopology == Some(id.subtopology)
                    && *partition == id.partition
            })
            .collect();
        for key in keys {
            if let Some((_, hosted)) = self.hosted.remove(&key) {
                hosted.feed.end(FeedEnd::Moved);
            }
        }
        self.changed();
    }

    /// Registers the stores of standby task `id` (`stores` as for [`StoreRegistry::host`]);
    /// their lag is unknown until [`StoreRegistry::set_standby_lag`].
    pub(crate) fn host_standby(
        &self,
        id: TaskId,
        stores: Vec<(String, StoreReader, Arc<ChangeFeed>)>,
    ) {
        for (name, reader, _) in stores {
            if let Some(index) = self.index_of(&name) {
                let standby = StandbyPartition {
                    reader,
                    lag: Arc::new(AtomicI64::new(i64::MAX)),
                };
                self.standbys.insert((index, id.partition), standby);
            }
        }
        self.changed();
    }

    /// Records that the standby copy of `partition` of store `name` is `lag` changelog
    /// records behind.
    pub(crate) fn set_standby_lag(&self, name: &str, partition: i32, lag: i64) {
        if let Some(index) = self.index_of(name)
            && let Some(standby) = self.standbys.get(&(index, partition))
        {
            standby.lag.store(lag.max(0), Ordering::Release);
        }
    }

    /// Standby task `id` closed: its copies leave the registry.
    pub(crate) fn release_standby(&self, id: TaskId) {
        self.standbys.retain(|(index, partition), _| {
            !(self.stores[*index].subtopology == Some(id.subtopology) && *partition == id.partition)
        });
        self.changed();
    }

    /// Every `(store index, partition)` this process keeps a standby copy of, sorted.
    pub fn standby_partitions(&self) -> Vec<(usize, i32)> {
        let mut all: Vec<_> = self.standbys.iter().map(|e| *e.key()).collect();
        all.sort_unstable();
        all
    }

    /// The standby copy of `partition` of store `index`, if this process keeps one.
    pub fn standby(&self, index: usize, partition: i32) -> Option<StandbyPartition> {
        self.standbys.get(&(index, partition)).map(|s| s.clone())
    }

    /// Registers the store of a global table (restoring until [`StoreRegistry::activate_global`]).
    pub(crate) fn host_global(&self, name: &str, reader: StoreReader, feed: Arc<ChangeFeed>) {
        if let Some(index) = self.index_of(name) {
            let hosted = HostedPartition {
                reader,
                feed,
                restoring: true,
            };
            self.hosted.insert((index, 0), hosted);
            self.changed();
        }
    }

    /// The global tables' stores have caught up with their topics: queries may read them.
    pub(crate) fn activate_globals(&self) {
        for mut e in self.hosted.iter_mut() {
            if self.stores[e.key().0].subtopology.is_none() {
                e.value_mut().restoring = false;
            }
        }
        self.changed();
    }

    /// The global thread stopped: its stores leave the registry (closing them once no
    /// query reads them) and their subscribers hear that they moved.
    pub(crate) fn release_globals(&self) {
        let keys: Vec<(usize, i32)> = self
            .hosted
            .iter()
            .map(|e| *e.key())
            .filter(|(index, _)| self.stores[*index].subtopology.is_none())
            .collect();
        for key in keys {
            if let Some((_, hosted)) = self.hosted.remove(&key) {
                hosted.feed.end(FeedEnd::Moved);
            }
        }
        self.changed();
    }

    /// What this process hosts: `(store index, partition, restoring)`, sorted.
    pub fn snapshot(&self) -> Vec<(usize, i32, bool)> {
        let mut all: Vec<_> = self
            .hosted
            .iter()
            .map(|e| (e.key().0, e.key().1, e.value().restoring))
            .collect();
        all.sort_unstable();
        all
    }
}
