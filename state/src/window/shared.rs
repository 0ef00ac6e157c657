//! [`SharedSegments`]: every time segment of a RocksDB window store in one database, each
//! segment's entries under its id as a key prefix.
//!
//! A database per segment (as Kafka Streams keeps them) costs a RocksDB open — a dozen files
//! created and synced, a pool of threads started — whenever event time enters a new
//! segment, a close that flushes the memtable of a segment about to be deleted, and at each
//! checkpoint a flush per segment. In one database a new segment costs nothing, a
//! checkpoint flushes one memtable, and an expired segment goes by one range deletion:
//! RocksDB drops the files that hold only expired segments at once and compaction clears
//! the rest.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::StateError;
use crate::kv::{KeyValue, KeyValueStore, KvIter, ReadOnlyKeyValueStore, WriteEntry};
use crate::rocksdb::{MemoryBudget, RocksDbKeyValueStore, RocksDbReader};
use crate::window_key::{KeyWindows, push_window_time, split_window_key, window_key};

/// How many entries of an earlier version's segment are moved per write batch.
const MOVE_BATCH: usize = 10_000;

/// How long a segment's key prefix is.
const PREFIX_LEN: usize = 8;

/// The key prefix of segment `id`: eight bytes ordered as the ids are (written as a window
/// key writes a time).
fn prefix(id: i64) -> Vec<u8> {
    window_key(&[], id)
}

/// `key` behind segment `id`'s prefix.
fn prefixed(id: i64, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(PREFIX_LEN + key.len());
    push_window_time(&mut out, id);
    out.extend_from_slice(key);
    out
}

/// The segments of one window store in one RocksDB database.
pub(super) struct SharedSegments {
    db: RocksDbKeyValueStore,
    /// The segments that may hold entries.
    ids: BTreeSet<i64>,
}

impl SharedSegments {
    /// Opens (or creates) the database in `dir`, finding the segments it holds. The
    /// segments of a store written by an earlier version — a database each, in
    /// subdirectories named by their ids — are moved into it first.
    pub(super) fn open(name: &str, dir: &Path, budget: &MemoryBudget) -> Result<Self, StateError> {
        let mut db = RocksDbKeyValueStore::open(name, dir, budget)?;
        move_in_separate_segments(&mut db, name, dir, budget)?;
        let ids = stored_ids(&db)?;
        Ok(Self { db, ids })
    }

    /// The segments that may hold entries.
    pub(super) fn ids(&self) -> &BTreeSet<i64> {
        &self.ids
    }

    /// A reader of segment `id`, for other threads.
    pub(super) fn reader(&self, id: i64) -> Arc<dyn ReadOnlyKeyValueStore + Send + Sync> {
        Arc::new(SegmentReader {
            db: self.db.read_only_handle(),
            id,
        })
    }

    /// A reader of the whole database, for reads across segments.
    pub(super) fn whole(&self) -> SharedReader {
        SharedReader {
            db: self.db.reader(),
        }
    }

    /// The value of window key `composite` in segment `id`.
    pub(super) fn get(&self, id: i64, composite: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        if !self.ids.contains(&id) {
            return Ok(None);
        }
        self.db.get(&prefixed(id, composite))
    }

    /// Writes each segment's entries, all in one batch.
    pub(super) fn put_all(
        &mut self,
        by_segment: &BTreeMap<i64, Vec<WriteEntry<'_>>>,
    ) -> Result<(), StateError> {
        // Every prefixed key in one buffer, cut into the batch's keys afterwards.
        let mut keys = Vec::new();
        let mut ends = Vec::new();
        for (&id, entries) in by_segment {
            self.ids.insert(id);
            for &(key, _) in entries {
                push_window_time(&mut keys, id);
                keys.extend_from_slice(key);
                ends.push(keys.len());
            }
        }
        let starts = std::iter::once(0).chain(ends.iter().copied());
        let values = by_segment.values().flatten().map(|&(_, value)| value);
        let batch: Vec<WriteEntry<'_>> = starts
            .zip(&ends)
            .map(|(start, &end)| &keys[start..end])
            .zip(values)
            .collect();
        self.db.put_all(&batch)
    }

    /// Deletes every segment before `id`.
    pub(super) fn drop_before(&mut self, id: i64) -> Result<(), StateError> {
        self.db.delete_range(&prefix(i64::MIN), &prefix(id))?;
        self.ids = self.ids.split_off(&id);
        Ok(())
    }

    /// Flushes the database's memtables (on commit).
    pub(super) fn flush(&mut self) -> Result<(), StateError> {
        self.db.flush()
    }
}

/// The ids of the segments `db` holds entries of: the first key at or after each segment's
/// prefix names the next segment.
fn stored_ids(db: &RocksDbKeyValueStore) -> Result<BTreeSet<i64>, StateError> {
    let mut ids = BTreeSet::new();
    let mut from = prefix(i64::MIN);
    loop {
        let first = db.range(Bound::Included(&from), Bound::Unbounded)?.next();
        let Some(entry) = first else {
            return Ok(ids);
        };
        let (key, _) = entry?;
        let Some((_, id)) = key.get(..PREFIX_LEN).and_then(split_window_key) else {
            return Ok(ids);
        };
        ids.insert(id);
        match id.checked_add(1) {
            Some(next) => from = prefix(next),
            None => return Ok(ids),
        }
    }
}

/// Moves the segments an earlier version kept as databases of their own (subdirectories of
/// `dir` named by their ids) into `db` under their prefixes, then removes them. They are
/// removed only after `db` is flushed, so an interruption leaves them to move again.
fn move_in_separate_segments(
    db: &mut RocksDbKeyValueStore,
    name: &str,
    dir: &Path,
    budget: &MemoryBudget,
) -> Result<(), StateError> {
    let mut separate: Vec<(i64, PathBuf)> = Vec::new();
    let entries =
        std::fs::read_dir(dir).map_err(|e| StateError::io("list the segments of", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| StateError::io("list the segments of", dir, e))?;
        let id = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i64>().ok());
        if let Some(id) = id
            && entry.path().is_dir()
        {
            separate.push((id, entry.path()));
        }
    }
    if separate.is_empty() {
        return Ok(());
    }
    for (id, path) in &separate {
        let segment = RocksDbKeyValueStore::open(&format!("{name}.{id}"), path, budget)?;
        let mut moving: Vec<KeyValue> = Vec::with_capacity(MOVE_BATCH);
        for entry in segment.all()? {
            let (key, value) = entry?;
            moving.push((prefixed(*id, &key), value));
            if moving.len() == MOVE_BATCH {
                write_moved(db, &mut moving)?;
            }
        }
        write_moved(db, &mut moving)?;
    }
    db.flush()?;
    for (_, path) in &separate {
        std::fs::remove_dir_all(path)
            .map_err(|e| StateError::io("remove the moved segment", path, e))?;
    }
    Ok(())
}

fn write_moved(
    db: &mut RocksDbKeyValueStore,
    moving: &mut Vec<KeyValue>,
) -> Result<(), StateError> {
    let batch: Vec<WriteEntry<'_>> = moving
        .iter()
        .map(|(k, v)| (k.as_slice(), Some(v.as_slice())))
        .collect();
    db.put_all(&batch)?;
    moving.clear();
    Ok(())
}

/// The read side of [`SharedSegments`] as a whole.
#[derive(Clone)]
pub(super) struct SharedReader {
    db: Arc<RocksDbReader>,
}

impl SharedReader {
    /// The entries of one record key's windows (see [`KeyWindows`]) in segments `ids`
    /// (ascending), read through one iterator, with the window keys as the segments hold
    /// them.
    pub(super) fn key_windows(
        &self,
        ids: &[i64],
        query: &KeyWindows<'_>,
    ) -> Result<Vec<KeyValue>, StateError> {
        let ranges: Vec<(Vec<u8>, Vec<u8>)> = ids
            .iter()
            .map(|&id| {
                let mut to = prefixed(id, query.to);
                to.push(0);
                (prefixed(id, query.from), to)
            })
            .collect();
        let mut found = Vec::new();
        self.db.read_ranges(&ranges, &mut |key, value| {
            let key = &key[PREFIX_LEN..];
            if query.matches(key) {
                found.push((key.to_vec(), value.to_vec()));
            }
        })?;
        Ok(found)
    }

    /// An estimate of the entries of every segment.
    pub(super) fn approximate_num_entries(&self) -> Result<u64, StateError> {
        self.db.approximate_num_entries()
    }
}

/// One segment of a shared database, read through its prefix: keys come back without it.
struct SegmentReader {
    db: Arc<dyn ReadOnlyKeyValueStore + Send + Sync>,
    id: i64,
}

impl ReadOnlyKeyValueStore for SegmentReader {
    fn name(&self) -> &str {
        self.db.name()
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        self.db.get(&prefixed(self.id, key))
    }

    fn range(&self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Result<KvIter<'_>, StateError> {
        let from = match from {
            Bound::Unbounded => Bound::Included(prefix(self.id)),
            from => from.map(|k| prefixed(self.id, k)),
        };
        let to = match to {
            Bound::Unbounded => match self.id.checked_add(1) {
                Some(next) => Bound::Excluded(prefix(next)),
                None => Bound::Unbounded,
            },
            to => to.map(|k| prefixed(self.id, k)),
        };
        let entries = self
            .db
            .range(
                from.as_ref().map(Vec::as_slice),
                to.as_ref().map(Vec::as_slice),
            )?
            .map(move |entry| {
                entry.map(|(mut key, value)| {
                    key.drain(..PREFIX_LEN);
                    (key, value)
                })
            });
        Ok(Box::new(entries))
    }

    /// The whole database's estimate: its segments are not counted apart.
    fn approximate_num_entries(&self) -> Result<u64, StateError> {
        self.db.approximate_num_entries()
    }
}
