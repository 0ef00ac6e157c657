//! Standby replicas (`num.standby.replicas`): warm copies of other instances' active tasks,
//! kept by a standby thread that reads their changelogs continuously.
//!
//! librdkafka lets no application choose the group's assignment, so Tributary cannot place
//! standbys where its assignor will move a task, as Kafka Streams does. Instead every
//! instance places its own standbys from the instance directory: the copies of a task live
//! on the `num.standby.replicas` live instances that follow its active owner in address
//! order. A copy is kept while the owner is unknown (it died, or the group is moving the
//! task), so that it is there when the group hands the task over. Whichever instance the
//! group picks restores from its own state and checkpoint: an instance with a standby
//! restores only the standby's lag, one without restores from its last checkpoint, as
//! before. With one standby on two instances, or `instances - 1` standbys, the new owner
//! always has a copy.
//!
//! A standby and an active task of one instance share the task's state directory, so the
//! [`StandbyControl`] hands it over: a stream thread claims a task before opening it, and
//! waits until the standby has checkpointed and closed it.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::background::BackgroundThread;
use crate::config::StreamsConfig;
use crate::discovery::{Directory, StoreRegistry};
use crate::error::StreamsError;
use crate::kafka::KafkaChangelogReader;
use crate::task::{StandbyTask, TaskOptions, standby_stores};
use crate::task_id::TaskId;
use crate::topology::Topology;

/// How long a stream thread waits for a standby to hand a task's state over.
const HANDOVER_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the standby thread decides again which copies to keep.
const PLACEMENT_INTERVAL: Duration = Duration::from_secs(1);
/// How often the copies are checkpointed and their lag measured.
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(2);
/// Changelog records applied to one copy before the thread looks at hand-overs again.
const STEP_RECORDS: usize = 10_000;
/// How long the thread rests when every copy has caught up.
const IDLE: Duration = Duration::from_millis(200);

/// Which tasks of this instance are active and which are kept as standbys, so that a
/// task's state directory is opened by one of them at a time.
#[derive(Default)]
pub(crate) struct StandbyControl {
    held: Mutex<Held>,
    changed: Condvar,
}

#[derive(Default)]
struct Held {
    active: HashSet<TaskId>,
    standby: HashSet<TaskId>,
}

impl StandbyControl {
    fn lock(&self) -> MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A stream thread is about to open task `id`: no standby opens it from now on, and
    /// this waits until a standby holding it has checkpointed and closed it.
    ///
    /// # Errors
    /// When the standby does not let go within 30 s.
    pub(crate) fn claim(&self, id: TaskId) -> Result<(), StreamsError> {
        let mut held = self.lock();
        held.active.insert(id);
        let deadline = Instant::now() + HANDOVER_TIMEOUT;
        while held.standby.contains(&id) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(StreamsError::Lifecycle {
                    doing: format!("take task {id} over from its standby"),
                    reason: format!(
                        "the standby did not close its stores within {HANDOVER_TIMEOUT:?}"
                    ),
                });
            }
            held = self
                .changed
                .wait_timeout(held, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        Ok(())
    }

    /// Task `id`'s active task closed: a standby may keep it again.
    pub(crate) fn release(&self, id: TaskId) {
        self.lock().active.remove(&id);
    }

    fn is_active(&self, id: TaskId) -> bool {
        self.lock().active.contains(&id)
    }

    /// Marks `id` as held by a standby, unless it is active here.
    fn hold_standby(&self, id: TaskId) -> bool {
        let mut held = self.lock();
        !held.active.contains(&id) && held.standby.insert(id)
    }

    fn standby_closed(&self, id: TaskId) {
        self.lock().standby.remove(&id);
        self.changed.notify_all();
    }
}

/// Whether instance `me` keeps a copy of a task whose active owner is `owner`, given the
/// live instances' addresses in order: the `replicas` instances after the owner (wrapping
/// around) do.
pub(crate) fn keeps_standby(instances: &[&str], owner: &str, me: &str, replicas: usize) -> bool {
    let Some(at) = instances.iter().position(|i| *i == owner) else {
        return false;
    };
    let others = instances.len() - 1;
    (1..=replicas.min(others)).any(|step| instances[(at + step) % instances.len()] == me)
}

/// What the standby thread needs.
pub(crate) struct StandbyParts {
    pub(crate) topology: Topology,
    pub(crate) config: StreamsConfig,
    pub(crate) options: TaskOptions,
    pub(crate) registry: Arc<StoreRegistry>,
    pub(crate) directory: Arc<Directory>,
    pub(crate) control: Arc<StandbyControl>,
    /// This instance's address in the directory.
    pub(crate) address: String,
}

/// The thread that keeps this instance's standby copies.
pub(crate) struct StandbyThread {
    thread: BackgroundThread,
}

impl StandbyThread {
    /// Starts keeping copies as `parts.config.num_standby_replicas` says.
    ///
    /// # Errors
    /// When the changelog consumer or the thread cannot be created.
    pub(crate) fn start(parts: StandbyParts) -> Result<Self, StreamsError> {
        let reader = KafkaChangelogReader::new(&parts.config)?;
        let name = crate::names::client_id(&parts.config.application_id, "standby");
        let thread = BackgroundThread::spawn(name, "the standby thread", move |stop| {
            let mut standbys = Standbys {
                parts,
                reader,
                open: BTreeMap::new(),
            };
            standbys.run(stop);
        })?;
        Ok(Self { thread })
    }

    /// Checkpoints and closes every copy, and stops.
    pub(crate) fn stop(&mut self) {
        self.thread.stop();
    }
}

struct Standbys {
    parts: StandbyParts,
    reader: KafkaChangelogReader,
    open: BTreeMap<TaskId, StandbyTask>,
}

impl Standbys {
    fn run(&mut self, stop: &AtomicBool) {
        let mut placed = Instant::now() - PLACEMENT_INTERVAL;
        let mut checkpointed = Instant::now();
        while !stop.load(Ordering::Acquire) {
            if placed.elapsed() >= PLACEMENT_INTERVAL {
                placed = Instant::now();
                self.place();
            }
            let ids: Vec<TaskId> = self.open.keys().copied().collect();
            let mut caught_up = true;
            for id in ids {
                self.hand_over();
                let Some(task) = self.open.get_mut(&id) else {
                    continue;
                };
                match task.catch_up(&mut self.reader, STEP_RECORDS) {
                    Ok(done) => caught_up &= done,
                    Err(error) => {
                        tracing::warn!(task = %id, %error, "standby cannot read its changelogs; closing it until the next placement");
                        self.close(id);
                    }
                }
            }
            self.hand_over();
            if checkpointed.elapsed() >= CHECKPOINT_INTERVAL {
                checkpointed = Instant::now();
                self.checkpoint();
            }
            if caught_up {
                std::thread::sleep(IDLE);
            }
        }
        let ids: Vec<TaskId> = self.open.keys().copied().collect();
        for id in ids {
            self.close(id);
        }
    }

    /// Opens the copies this instance should keep and closes the ones it should not.
    fn place(&mut self) {
        for (id, keep) in self.placement() {
            match (keep, self.open.contains_key(&id)) {
                (true, false) => self.open_standby(id),
                (false, true) => self.close(id),
                _ => {}
            }
        }
    }

    /// Every task with persistent stores, and whether this instance should keep a copy of
    /// it now; nothing before the directory has seen this instance.
    fn placement(&self) -> Vec<(TaskId, bool)> {
        let me = self.parts.address.as_str();
        let instances = self.parts.directory.instances();
        let addresses: Vec<&str> = instances.iter().map(|i| i.address.as_str()).collect();
        if !addresses.contains(&me) {
            return Vec::new();
        }
        let (topology, registry) = (&self.parts.topology, &self.parts.registry);
        let mut decisions = Vec::new();
        for sub in topology.subtopologies() {
            let stores = standby_stores(topology, sub.id());
            let Some(first) = stores.first() else {
                continue;
            };
            let Some(count) = registry
                .index_of(first)
                .and_then(|i| registry.partition_count(i))
            else {
                continue;
            };
            for partition in 0..count {
                let id = TaskId {
                    subtopology: sub.id(),
                    partition,
                };
                let keep = match self.parts.directory.owner(first, partition) {
                    Some(owner) => {
                        owner.address != me
                            && keeps_standby(
                                &addresses,
                                &owner.address,
                                me,
                                self.parts.config.num_standby_replicas,
                            )
                    }
                    // Its owner died or the group is moving it: keep the copy for whoever
                    // takes it.
                    None => self.open.contains_key(&id),
                };
                decisions.push((id, keep));
            }
        }
        decisions
    }

    fn open_standby(&mut self, id: TaskId) {
        if !self.parts.control.hold_standby(id) {
            return;
        }
        let parts = &self.parts;
        match StandbyTask::open(&parts.topology, id, &parts.options) {
            Ok(task) => {
                tracing::info!(task = %id, "standby opened");
                parts.registry.host_standby(id, task.queryable_stores());
                self.open.insert(id, task);
            }
            Err(error) => {
                tracing::warn!(task = %id, %error, "cannot open a standby; trying again at the next placement");
                parts.control.standby_closed(id);
            }
        }
    }

    /// Closes the copies of tasks a stream thread of this instance has claimed.
    fn hand_over(&mut self) {
        let claimed: Vec<TaskId> = self
            .open
            .keys()
            .copied()
            .filter(|id| self.parts.control.is_active(*id))
            .collect();
        for id in claimed {
            tracing::info!(task = %id, "standby hands its state over to the active task");
            self.close(id);
        }
    }

    /// Checkpoints a copy and closes it.
    fn close(&mut self, id: TaskId) {
        let Some(mut task) = self.open.remove(&id) else {
            return;
        };
        if let Err(error) = task.checkpoint() {
            tracing::warn!(task = %id, %error, "cannot checkpoint a closing standby; its next owner restores from the previous checkpoint");
        }
        self.parts.registry.release_standby(id);
        drop(task);
        self.parts.control.standby_closed(id);
    }

    /// Checkpoints every copy and measures how far behind each store is.
    fn checkpoint(&mut self) {
        let mut failed = Vec::new();
        for (id, task) in &mut self.open {
            if let Err(error) = task.checkpoint() {
                tracing::warn!(task = %id, %error, "cannot checkpoint a standby");
                failed.push(*id);
                continue;
            }
            for (store, topic, next) in task.positions() {
                match self.reader.end_offset(topic, id.partition) {
                    Ok(end) => self
                        .parts
                        .registry
                        .set_standby_lag(store, id.partition, end - next),
                    Err(error) => {
                        tracing::debug!(task = %id, %error, "cannot measure a standby's lag")
                    }
                }
            }
        }
        for id in failed {
            self.close(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_live_on_the_instances_after_the_owner() {
        let all = ["a:1", "b:1", "c:1"];
        assert!(keeps_standby(&all, "a:1", "b:1", 1));
        assert!(!keeps_standby(&all, "a:1", "c:1", 1));
        assert!(
            keeps_standby(&all, "c:1", "a:1", 1),
            "the order wraps around"
        );
        assert!(keeps_standby(&all, "a:1", "c:1", 2));
        assert!(!keeps_standby(&all, "a:1", "a:1", 5), "never on the owner");
        assert!(
            !keeps_standby(&all, "gone:1", "b:1", 1),
            "an unknown owner places none"
        );
        assert!(!keeps_standby(&all, "a:1", "b:1", 0));
    }

    #[test]
    fn a_claimed_task_is_not_opened_as_a_standby_and_waits_for_one_to_close() {
        let control = Arc::new(StandbyControl::default());
        let id = TaskId {
            subtopology: 0,
            partition: 3,
        };
        assert!(control.hold_standby(id));
        let claimer = {
            let control = control.clone();
            std::thread::spawn(move || control.claim(id))
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(!claimer.is_finished(), "the claim waits for the standby");
        assert!(control.is_active(id));
        control.standby_closed(id);
        claimer.join().unwrap().unwrap();
        assert!(
            !control.hold_standby(id),
            "an active task is not copied here"
        );
        control.release(id);
        assert!(control.hold_standby(id));
    }
}
