//! A task's stores over its opened [`TaskStorage`]: restores them from their changelogs
//! and writes the checkpoint on commit.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;

use tributary_state::{
    CachingKeyValueStore, ChangeLoggingKeyValueStore, Checkpoint, DiscardingChangelog,
    TimestampedWrite,
};

use crate::error::StreamsError;
use crate::names::changelog_topic;
use crate::processor::RecordCollector;
use crate::store::{StoreEntry, StoreSpec};
use crate::task::options::TaskOptions;
use crate::task::restore::{ChangelogReader, RESTORE_BATCH, RestoreReport, StoreRestore};
use crate::task::storage::TaskStorage;

struct ManagedStore {
    entry: StoreEntry,
    /// The changelog topic, when the store is logged.
    changelog: Option<String>,
    /// How far restoration has come; `None` before it starts.
    restore: Option<Progress>,
}

/// A store's restoration so far.
struct Progress {
    /// Where it started: the checkpointed offset, or 0.
    from: i64,
    /// The changelog offset the local state reflects.
    next: i64,
    /// Records applied.
    records: u64,
    /// Where the changelog ended when restoration started, when the reader could tell.
    end: Option<i64>,
    /// Whether the end of the changelog was reached.
    done: bool,
}

/// How many changelog records a task's stores may take, together, before a commit flushes
/// them to their files and writes a new checkpoint. As Kafka Streams (its
/// `OFFSET_DELTA_THRESHOLD_FOR_CHECKPOINT`): flushing RocksDB's memtables at every commit
/// costs file syncs that hold up processing, while a crash between checkpoints only costs
/// restoring the changelogs' tails past the last one. A task closing cleanly always writes
/// its checkpoint.
pub const CHECKPOINT_DELTA: i64 = 10_000;

pub(crate) struct StateManager {
    partition: i32,
    checkpoint_path: PathBuf,
    checkpoint: Checkpoint,
    fallback: Option<String>,
    stores: Vec<ManagedStore>,
    /// Whether restoration goes on past the end it reached (a standby reading its
    /// changelogs continuously); each round's records are then logged at debug level only.
    reading_on: bool,
}

impl StateManager {
    /// The state of the task whose storage is `storage`, over stores of `specs` (the
    /// specs `storage` was opened for, in the same order).
    pub(crate) fn open(
        storage: TaskStorage,
        specs: &[&StoreSpec],
        options: &TaskOptions,
        collector: &dyn RecordCollector,
    ) -> Result<(Self, HashMap<String, StoreEntry>), StreamsError> {
        let TaskStorage {
            id,
            checkpoint_path,
            checkpoint,
            fallback,
            backends,
        } = storage;
        let cached = specs.iter().filter(|s| s.caching).count().max(1);
        let cache_bytes = options.cache_max_bytes / cached;
        let mut stores = Vec::new();
        let mut entries = HashMap::new();
        for (spec, inner) in specs.iter().zip(backends) {
            let changelog = spec
                .logging
                .then(|| changelog_topic(&options.application_id, &spec.name));
            let sink = match &changelog {
                Some(_) => collector.changelog_sink(),
                None => Box::new(DiscardingChangelog),
            };
            let topic = changelog.clone().unwrap_or_default();
            let logged = ChangeLoggingKeyValueStore::new(inner, topic, id.partition, sink);
            let cache = (spec.caching && options.cache_max_bytes > 0).then_some(cache_bytes);
            let mut store = CachingKeyValueStore::new(logged, cache);
            if options.exactly_once {
                store = store.holding_writes();
            }
            let entry = StoreEntry {
                store: Rc::new(RefCell::new(store)),
                spec: (*spec).clone(),
            };
            entries.insert(spec.name.clone(), entry.clone());
            stores.push(ManagedStore {
                entry,
                changelog,
                restore: None,
            });
        }
        let manager = Self {
            partition: id.partition,
            checkpoint_path,
            checkpoint: checkpoint.unwrap_or_default(),
            fallback,
            stores,
            reading_on: false,
        };
        Ok((manager, entries))
    }

    /// Applies each logged store's changelog from its checkpointed offset towards the end,
    /// about `max_records` records per call (in batches of [`RESTORE_BATCH`], each one
    /// store write), so that a caller can restore a little at a time between polls.
    /// Returns whether every store has reached the end of its changelog.
    pub(crate) fn restore_step(
        &mut self,
        reader: &mut dyn ChangelogReader,
        max_records: usize,
    ) -> Result<bool, StreamsError> {
        let mut budget = max_records;
        for managed in &mut self.stores {
            let Some(topic) = &managed.changelog else {
                continue;
            };
            if managed.restore.is_none() {
                let from = if managed.entry.store.borrow().logged().persistent() {
                    self.checkpoint.get(topic, self.partition).unwrap_or(0)
                } else {
                    0
                };
                managed.restore = Some(Progress {
                    from,
                    next: from,
                    records: 0,
                    end: reader.known_end(topic, self.partition),
                    done: false,
                });
            }
        }
        for managed in &mut self.stores {
            let (Some(topic), Some(progress)) = (&managed.changelog, &mut managed.restore) else {
                continue;
            };
            let mut store = managed.entry.store.borrow_mut();
            // Nothing past the checkpoint (an empty changelog partition, or a store that is
            // up to date): done without waiting for the consumer to report the end. Only
            // on the first pass: a standby reading on goes past the end it first saw.
            if !self.reading_on && progress.end == Some(progress.next) {
                progress.done = true;
            }
            while !progress.done {
                if budget == 0 {
                    return Ok(false);
                }
                let batch = reader.read_batch(
                    topic,
                    self.partition,
                    progress.next,
                    RESTORE_BATCH.min(budget),
                )?;
                let Some(last) = batch.last() else {
                    progress.done = true;
                    if self.reading_on {
                        tracing::debug!(store = %managed.entry.spec.name, %topic, partition = self.partition, records = progress.records, "standby caught up");
                    } else if progress.records > 0 {
                        tracing::info!(store = %managed.entry.spec.name, %topic, partition = self.partition, from = progress.from, records = progress.records, "restored");
                    }
                    break;
                };
                progress.next = last.offset + 1;
                progress.records += batch.len() as u64;
                budget = budget.saturating_sub(batch.len());
                let writes: Vec<TimestampedWrite<'_>> = batch
                    .iter()
                    .map(|r| (r.key.as_slice(), r.value.as_deref(), r.timestamp))
                    .collect();
                store.logged_mut().restore_batch(&writes)?;
            }
        }
        Ok(true)
    }

    /// Lets restoration read on past the end it reached: the next
    /// [`StateManager::restore_step`] applies what was written to the changelogs since (a
    /// standby task keeps its copy warm this way).
    pub(crate) fn read_on(&mut self) {
        self.reading_on = true;
        for progress in self.stores.iter_mut().filter_map(|m| m.restore.as_mut()) {
            progress.done = false;
            progress.records = 0;
        }
    }

    /// Each logged store's name, changelog topic and the offset its local state reflects
    /// (where restoration stands, or the checkpoint before it starts).
    pub(crate) fn positions(&self) -> Vec<(&str, &str, i64)> {
        self.stores
            .iter()
            .filter_map(|m| {
                let topic = m.changelog.as_deref()?;
                let next = match &m.restore {
                    Some(progress) => progress.next,
                    None => self.checkpoint.get(topic, self.partition).unwrap_or(0),
                };
                Some((m.entry.spec.name.as_str(), topic, next))
            })
            .collect()
    }

    /// Records still to restore, over all stores, as far as the changelogs' ends were
    /// known when restoration started (`None`: not started, or an end unknown).
    pub(crate) fn remaining_records(&self) -> Option<u64> {
        self.stores
            .iter()
            .filter(|m| m.changelog.is_some())
            .map(|m| {
                let progress = m.restore.as_ref()?;
                let left = if progress.done {
                    0
                } else {
                    progress.end? - progress.next
                };
                Some(u64::try_from(left).unwrap_or(0))
            })
            .sum()
    }

    /// Records restored so far, over all stores.
    pub(crate) fn restored_records(&self) -> u64 {
        self.stores
            .iter()
            .filter_map(|m| m.restore.as_ref())
            .map(|p| p.records)
            .sum()
    }

    /// What restoration did, store by store.
    pub(crate) fn report(&self) -> RestoreReport {
        let stores = self
            .stores
            .iter()
            .filter_map(|m| Some((m, m.changelog.as_ref()?, m.restore.as_ref()?)))
            .map(|(managed, topic, progress)| StoreRestore {
                store: managed.entry.spec.name.clone(),
                topic: topic.clone(),
                partition: self.partition,
                from_offset: progress.from,
                next_offset: progress.next,
                records: progress.records,
            })
            .collect();
        RestoreReport {
            stores,
            checkpoint_fallback: self.fallback.clone(),
        }
    }

    /// Writes each store's held writes (exactly-once, after their transaction committed).
    pub(crate) fn apply_held(&mut self) -> Result<(), StreamsError> {
        for managed in &self.stores {
            managed.entry.store.borrow_mut().apply_held()?;
        }
        Ok(())
    }

    /// Drops each store's uncommitted writes (exactly-once, after an abort).
    pub(crate) fn discard_uncommitted(&mut self) {
        for managed in &self.stores {
            managed.entry.store.borrow_mut().discard_uncommitted();
        }
    }

    /// Whether a commit should write the checkpoint: the task's logged stores have taken
    /// more than [`CHECKPOINT_DELTA`] changelog records, together, since the last one.
    pub(crate) fn checkpoint_due(&self, collector: &dyn RecordCollector) -> bool {
        let behind: i64 = self
            .reflected(collector)
            .map(|(topic, next)| next - self.checkpoint.get(topic, self.partition).unwrap_or(0))
            .sum();
        behind > CHECKPOINT_DELTA
    }

    /// Flushes every store to local disk, then records, for every logged persistent store,
    /// the changelog offset its local state now reflects. Call after the collector is
    /// flushed: the files then never hold a write whose changelog record was not
    /// acknowledged.
    pub(crate) fn checkpoint(
        &mut self,
        collector: &dyn RecordCollector,
    ) -> Result<(), StreamsError> {
        for managed in &self.stores {
            managed.entry.store.borrow_mut().flush()?;
        }
        let reflected: Vec<(String, i64)> = self
            .reflected(collector)
            .map(|(topic, next)| (topic.to_owned(), next))
            .collect();
        if reflected.is_empty() {
            return Ok(());
        }
        for (topic, next) in &reflected {
            self.checkpoint.set(topic, self.partition, *next);
        }
        self.checkpoint.write(&self.checkpoint_path)?;
        Ok(())
    }

    /// Each logged persistent store's changelog topic and the offset its local state
    /// reflects: what the collector wrote to it, or how far restoration came.
    fn reflected<'a>(
        &'a self,
        collector: &'a dyn RecordCollector,
    ) -> impl Iterator<Item = (&'a str, i64)> + 'a {
        self.stores.iter().filter_map(move |managed| {
            let topic = managed.changelog.as_deref()?;
            if !managed.entry.store.borrow().logged().persistent() {
                return None;
            }
            let written = collector.end_offset(topic, self.partition).unwrap_or(0);
            // A store whose restoration has not started still reflects its checkpoint.
            let restored = match &managed.restore {
                Some(progress) => progress.next,
                None => self.checkpoint.get(topic, self.partition).unwrap_or(0),
            };
            Some((topic, written.max(restored)))
        })
    }
}
