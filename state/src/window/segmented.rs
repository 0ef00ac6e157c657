//! [`SegmentedWindowStore`]: a window store made of time segments, each a key-value store.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use crate::StateError;
use crate::kv::{KeyValue, KeyValueStore, ReadOnlyKeyValueStore, WriteEntry};
use crate::rocksdb::MemoryBudget;
use crate::window::{KeyWindowValue, KeyWindows, WindowValue, split_window_key, window_key};
use crate::{InMemoryKeyValueStore, RocksDbKeyValueStore};

type SegmentReader = Arc<dyn ReadOnlyKeyValueStore + Send + Sync>;
type Readers = Arc<RwLock<BTreeMap<i64, SegmentReader>>>;

/// Where segments live.
enum Backend {
    /// Each segment a RocksDB instance in `dir/<segment id>`.
    RocksDb { dir: PathBuf, budget: MemoryBudget },
    /// Each segment a map in memory.
    InMemory,
}

/// A window store of time segments (see [the module](crate::window)).
///
/// Writes to windows that started before `stream time - retention` are dropped, as are
/// whole segments once they lie entirely before that point; fetches never return such
/// windows.
pub struct SegmentedWindowStore {
    name: String,
    backend: Backend,
    retention_ms: i64,
    segment_interval_ms: i64,
    segments: BTreeMap<i64, Box<dyn KeyValueStore + Send>>,
    readers: Readers,
    /// The largest time the store has observed (stream time), shared with readers.
    observed: Arc<AtomicI64>,
    /// For segments reopened from disk, the end of the newest one's time span: no window
    /// they hold starts after it (a window written since then starts no later than
    /// `observed`).
    reopened_until: i64,
}

/// The read side of a [`SegmentedWindowStore`], for other threads.
#[derive(Clone)]
pub struct WindowReader {
    name: Arc<str>,
    retention_ms: i64,
    segment_interval_ms: i64,
    readers: Readers,
    observed: Arc<AtomicI64>,
}

fn checked_interval(retention_ms: i64, segment_interval_ms: i64) -> (i64, i64) {
    (retention_ms.max(0), segment_interval_ms.max(1))
}

impl SegmentedWindowStore {
    /// Opens (or creates) the RocksDB window store `name` under `dir`, reopening the
    /// segments already there.
    ///
    /// # Errors
    /// When the directory cannot be read or a segment cannot be opened.
    pub fn rocksdb(
        name: &str,
        dir: &Path,
        budget: &MemoryBudget,
        retention_ms: i64,
        segment_interval_ms: i64,
    ) -> Result<Self, StateError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StateError::io("create the window store directory", dir, e))?;
        let mut store = Self::new(
            name,
            Backend::RocksDb {
                dir: dir.to_owned(),
                budget: budget.clone(),
            },
            retention_ms,
            segment_interval_ms,
        );
        let entries =
            std::fs::read_dir(dir).map_err(|e| StateError::io("list the segments of", dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| StateError::io("list the segments of", dir, e))?;
            if let Some(id) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<i64>().ok())
            {
                store.segment(id)?;
            }
        }
        if let Some(&newest) = store.segments.keys().next_back() {
            store.reopened_until = (newest + 1)
                .saturating_mul(store.segment_interval_ms)
                .saturating_sub(1);
        }
        Ok(store)
    }

    /// An in-memory window store `name` (rebuilt from its changelog after a restart).
    pub fn in_memory(name: &str, retention_ms: i64, segment_interval_ms: i64) -> Self {
        Self::new(name, Backend::InMemory, retention_ms, segment_interval_ms)
    }

    fn new(name: &str, backend: Backend, retention_ms: i64, segment_interval_ms: i64) -> Self {
        let (retention_ms, segment_interval_ms) =
            checked_interval(retention_ms, segment_interval_ms);
        Self {
            name: name.to_owned(),
            backend,
            retention_ms,
            segment_interval_ms,
            segments: BTreeMap::new(),
            readers: Arc::default(),
            observed: Arc::new(AtomicI64::new(i64::MIN)),
            reopened_until: i64::MIN,
        }
    }

    /// The store's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How long windows are kept after stream time passes their start.
    pub fn retention_ms(&self) -> i64 {
        self.retention_ms
    }

    /// How many segments exist now.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Whether the data survives a restart on local disk.
    pub fn persistent(&self) -> bool {
        matches!(self.backend, Backend::RocksDb { .. })
    }

    /// A handle other threads may fetch through.
    pub fn reader(&self) -> WindowReader {
        WindowReader {
            name: self.name.as_str().into(),
            retention_ms: self.retention_ms,
            segment_interval_ms: self.segment_interval_ms,
            readers: self.readers.clone(),
            observed: self.observed.clone(),
        }
    }

    fn segment(&mut self, id: i64) -> Result<&mut Box<dyn KeyValueStore + Send>, StateError> {
        if !self.segments.contains_key(&id) {
            let name = format!("{}.{id}", self.name);
            let store: Box<dyn KeyValueStore + Send> = match &self.backend {
                Backend::RocksDb { dir, budget } => Box::new(RocksDbKeyValueStore::open(
                    &name,
                    &dir.join(id.to_string()),
                    budget,
                )?),
                Backend::InMemory => Box::new(InMemoryKeyValueStore::new(&name)),
            };
            self.readers
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id, store.read_only_handle());
            self.segments.insert(id, store);
        }
        Ok(self.segments.get_mut(&id).expect("inserted above"))
    }

    /// The value under window key `composite` (record key, then window start): one read of
    /// one segment, or none for a window that starts after every window written so far —
    /// the common case of a record opening a new window, whose lookup would otherwise
    /// search RocksDB's memtable, filters and files for nothing.
    ///
    /// # Errors
    /// When the segment fails to read.
    pub fn get(&self, composite: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        let Some((_, start)) = split_window_key(composite) else {
            return Ok(None);
        };
        // Every write observes its window start first, so nothing written starts after
        // `observed`; nothing reopened after `reopened_until`.
        let observed = self.observed.load(Ordering::Acquire);
        if start < oldest_kept(observed, self.retention_ms)
            || start > observed.max(self.reopened_until)
        {
            return Ok(None);
        }
        match self
            .segments
            .get(&start.div_euclid(self.segment_interval_ms))
        {
            Some(segment) => segment.get(composite),
            None => Ok(None),
        }
    }

    /// The latest window start written so far (restoration included); `None` before any.
    pub fn observed_time(&self) -> Option<i64> {
        Some(self.observed.load(Ordering::Acquire)).filter(|&t| t != i64::MIN)
    }

    /// The time before which windows have expired (the earliest one still kept); `None`
    /// before any write.
    pub fn expired_before(&self) -> Option<i64> {
        self.observed_time()
            .map(|observed| oldest_kept(observed, self.retention_ms))
    }

    /// The earliest window start still kept.
    fn oldest_kept(&self) -> i64 {
        oldest_kept(self.observed.load(Ordering::Acquire), self.retention_ms)
    }

    /// Writes `entries` — [`window_key`]s (record key, then the window's time) and their
    /// values, `None` deleting — one batch per segment, written as they are, after
    /// observing their window starts; returns how many were dropped because their windows
    /// had already expired or their keys are too short to hold a window start.
    ///
    /// # Errors
    /// When a segment cannot be opened or written, or an expired one removed.
    pub fn put_all(&mut self, entries: &[WriteEntry<'_>]) -> Result<usize, StateError> {
        let starts = entries
            .iter()
            .filter_map(|(key, _)| split_window_key(key).map(|(_, start)| start));
        if let Some(latest) = starts.max() {
            self.observe(latest)?;
        }
        let oldest = self.oldest_kept();
        let mut by_segment: BTreeMap<i64, Vec<WriteEntry<'_>>> = BTreeMap::new();
        let mut dropped = 0;
        for &(key, value) in entries {
            match split_window_key(key) {
                Some((_, start)) if start >= oldest => by_segment
                    .entry(start.div_euclid(self.segment_interval_ms))
                    .or_default()
                    .push((key, value)),
                _ => dropped += 1,
            }
        }
        for (id, batch) in by_segment {
            self.segment(id)?.put_all(&batch)?;
        }
        Ok(dropped)
    }

    /// Applies changelog records (keys are [`window_key`]s) during restoration.
    ///
    /// # Errors
    /// As [`SegmentedWindowStore::put_all`]; a key too short to hold a window start is
    /// skipped.
    pub fn restore_batch(&mut self, entries: &[WriteEntry<'_>]) -> Result<(), StateError> {
        self.put_all(entries).map(|_| ())
    }

    /// Moves observed stream time to `time` (if later) and drops every segment that now
    /// lies entirely before the retention period.
    ///
    /// # Errors
    /// When an expired segment's directory cannot be removed.
    pub fn observe(&mut self, time: i64) -> Result<(), StateError> {
        self.observed.fetch_max(time, Ordering::AcqRel);
        let oldest = self.oldest_kept();
        let expired: Vec<i64> = self
            .segments
            .keys()
            .copied()
            .take_while(|id| (id + 1).saturating_mul(self.segment_interval_ms) <= oldest)
            .collect();
        for id in expired {
            self.readers
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
            drop(self.segments.remove(&id));
            if let Backend::RocksDb { dir, .. } = &self.backend {
                let path = dir.join(id.to_string());
                std::fs::remove_dir_all(&path)
                    .map_err(|e| StateError::io("remove the expired segment", &path, e))?;
            }
        }
        Ok(())
    }

    /// Flushes every segment (on commit).
    ///
    /// # Errors
    /// When a segment fails to flush.
    pub fn flush(&mut self) -> Result<(), StateError> {
        self.segments.values_mut().try_for_each(|s| s.flush())
    }
}

fn oldest_kept(observed: i64, retention_ms: i64) -> i64 {
    if observed == i64::MIN {
        i64::MIN
    } else {
        observed.saturating_sub(retention_ms)
    }
}

impl WindowReader {
    /// The store's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn segments_between(&self, from: i64, to: i64) -> Vec<SegmentReader> {
        let (low, high) = (
            from.div_euclid(self.segment_interval_ms),
            to.div_euclid(self.segment_interval_ms),
        );
        self.readers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .range(low..=high)
            .map(|(_, r)| r.clone())
            .collect()
    }

    /// `[from, to]` clipped to the retention period; `None` when nothing of it is kept.
    fn kept(&self, from: i64, to: i64) -> Option<(i64, i64)> {
        let oldest = oldest_kept(self.observed.load(Ordering::Acquire), self.retention_ms);
        let from = from.max(oldest);
        (from <= to).then_some((from, to))
    }

    /// Entries of every segment with a window key within `from` and `to`, unordered, those
    /// outside retention left out.
    pub(crate) fn range_all_segments(
        &self,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
    ) -> Result<Vec<KeyValue>, StateError> {
        let oldest = oldest_kept(self.observed.load(Ordering::Acquire), self.retention_ms);
        let segments: Vec<SegmentReader> = self
            .readers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        let mut found = Vec::new();
        for segment in segments {
            for entry in segment.range(from, to)? {
                let (composite, value) = entry?;
                if split_window_key(&composite).is_some_and(|(_, start)| start >= oldest) {
                    found.push((composite, value));
                }
            }
        }
        Ok(found)
    }

    /// One record key's windows (see [`KeyWindows`]), from the segments of the query's
    /// times only, those outside retention left out, in key order.
    pub(crate) fn key_windows_in_segments(
        &self,
        query: &KeyWindows<'_>,
    ) -> Result<Vec<KeyValue>, StateError> {
        let Some((from, to)) = self.kept(query.times.0, query.times.1) else {
            return Ok(Vec::new());
        };
        let query = KeyWindows {
            times: (from, to),
            ..*query
        };
        let mut found = Vec::new();
        for segment in self.segments_between(from, to) {
            found.extend(segment.key_windows(&query)?);
        }
        // Segments follow each other in time; keys whose time is not their last part (a
        // session's start precedes its end) may then be out of key order.
        if !found.is_sorted_by(|a, b| a.0 <= b.0) {
            found.sort_by(|a, b| a.0.cmp(&b.0));
        }
        Ok(found)
    }

    /// An estimate of the windows held, over all segments.
    pub(crate) fn approximate_entries(&self) -> Result<u64, StateError> {
        let segments: Vec<SegmentReader> = self
            .readers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        segments.iter().map(|s| s.approximate_num_entries()).sum()
    }

    /// The value of `key`'s window starting at `start`.
    ///
    /// # Errors
    /// When a segment fails to read.
    pub fn fetch(&self, key: &[u8], start: i64) -> Result<Option<Vec<u8>>, StateError> {
        if self.kept(start, start).is_none() {
            return Ok(None);
        }
        let segment = self
            .readers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&start.div_euclid(self.segment_interval_ms))
            .cloned();
        match segment {
            Some(segment) => segment.get(&window_key(key, start)),
            None => Ok(None),
        }
    }

    /// `key`'s windows that start in `[from, to]`, in time order.
    ///
    /// # Errors
    /// When a segment fails to read.
    pub fn fetch_range(
        &self,
        key: &[u8],
        from: i64,
        to: i64,
    ) -> Result<Vec<WindowValue>, StateError> {
        let Some((from, to)) = self.kept(from, to) else {
            return Ok(Vec::new());
        };
        let (low, high) = (window_key(key, from), window_key(key, to));
        let mut found = Vec::new();
        for segment in self.segments_between(from, to) {
            for entry in segment.range(Bound::Included(&low), Bound::Included(&high))? {
                let (composite, value) = entry?;
                // A longer key that starts with `key` can sort inside the range: skip it.
                if let Some((k, start)) = split_window_key(&composite)
                    && k == key
                {
                    found.push((start, value));
                }
            }
        }
        Ok(found)
    }

    /// Every key's windows that start in `[from, to]`, ordered by start, then key.
    ///
    /// # Errors
    /// When a segment fails to read.
    pub fn fetch_all(&self, from: i64, to: i64) -> Result<Vec<KeyWindowValue>, StateError> {
        let Some((from, to)) = self.kept(from, to) else {
            return Ok(Vec::new());
        };
        let mut found = Vec::new();
        for segment in self.segments_between(from, to) {
            for entry in segment.all()? {
                let (composite, value) = entry?;
                if let Some((key, start)) = split_window_key(&composite)
                    && (from..=to).contains(&start)
                {
                    found.push((key.to_vec(), start, value));
                }
            }
        }
        found.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One write in the tests: record key, window start, value (`None` deletes).
    type Write<'a> = (&'a [u8], i64, Option<&'a [u8]>);

    /// Writes `writes` through [`SegmentedWindowStore::put_all`]; returns how many it
    /// dropped.
    fn put(store: &mut SegmentedWindowStore, writes: &[Write<'_>]) -> usize {
        let keys: Vec<Vec<u8>> = writes
            .iter()
            .map(|(key, start, _)| window_key(key, *start))
            .collect();
        let entries: Vec<WriteEntry<'_>> = keys
            .iter()
            .map(Vec::as_slice)
            .zip(writes.iter().map(|(_, _, value)| *value))
            .collect();
        store.put_all(&entries).unwrap()
    }

    fn stores(dir: &Path) -> Vec<SegmentedWindowStore> {
        let budget = MemoryBudget::new(8 << 20);
        vec![
            SegmentedWindowStore::rocksdb("w", dir, &budget, 100, 50).unwrap(),
            SegmentedWindowStore::in_memory("w", 100, 50),
        ]
    }

    #[test]
    fn reads_windows_up_to_the_latest_start_written_or_restored() {
        let dir = tempfile::tempdir().unwrap();
        for mut store in stores(dir.path()) {
            assert_eq!(store.get(&window_key(b"a", 0)).unwrap(), None, "empty");
            put(
                &mut store,
                &[(b"a", 10, Some(b"1")), (b"a", 60, Some(b"2"))],
            );
            assert_eq!(
                store.get(&window_key(b"a", 60)).unwrap(),
                Some(b"2".to_vec())
            );
            assert_eq!(
                store.get(&window_key(b"a", 10)).unwrap(),
                Some(b"1".to_vec())
            );
            assert_eq!(store.get(&window_key(b"a", 61)).unwrap(), None);
            let restored = window_key(b"b", 80);
            store.restore_batch(&[(&restored, Some(b"3"))]).unwrap();
            assert_eq!(store.get(&restored).unwrap(), Some(b"3".to_vec()));
        }
    }

    #[test]
    fn fetches_by_key_and_time_skip_longer_keys() {
        let dir = tempfile::tempdir().unwrap();
        for mut store in stores(dir.path()) {
            let writes: [Write<'_>; 5] = [
                (b"a", 10, Some(b"1")),
                (b"a", 60, Some(b"2")),
                (b"a\x00\x00", 20, Some(b"x")),
                (b"b", 10, Some(b"3")),
                (b"a", 60, None),
            ];
            assert_eq!(put(&mut store, &writes), 0);
            let reader = store.reader();
            assert_eq!(
                reader.fetch_range(b"a", 0, 100).unwrap(),
                vec![(10, b"1".to_vec())]
            );
            assert_eq!(reader.fetch(b"b", 10).unwrap(), Some(b"3".to_vec()));
            assert_eq!(reader.fetch(b"b", 11).unwrap(), None);
            let all: Vec<(Vec<u8>, i64)> = reader
                .fetch_all(0, 15)
                .unwrap()
                .into_iter()
                .map(|(k, s, _)| (k, s))
                .collect();
            assert_eq!(all, vec![(b"a".to_vec(), 10), (b"b".to_vec(), 10)]);
        }
    }

    #[test]
    fn expired_segments_are_dropped_and_never_fetched() {
        let dir = tempfile::tempdir().unwrap();
        for mut store in stores(dir.path()) {
            let persistent = store.persistent();
            put(
                &mut store,
                &[(b"k", 0, Some(b"old")), (b"k", 60, Some(b"mid"))],
            );
            assert_eq!(store.segment_count(), 2);
            // Stream time 170: windows before 70 are gone, and so is segment [0, 50).
            put(&mut store, &[(b"k", 170, Some(b"new"))]);
            assert_eq!(
                store.segment_count(),
                2,
                "[0, 50) dropped; [50, 100) ends after 70"
            );
            let reader = store.reader();
            assert_eq!(reader.fetch(b"k", 0).unwrap(), None);
            assert_eq!(reader.fetch(b"k", 60).unwrap(), None, "outside retention");
            assert_eq!(reader.fetch(b"k", 170).unwrap(), Some(b"new".to_vec()));
            assert_eq!(
                put(&mut store, &[(b"k", 65, Some(b"late"))]),
                1,
                "a write to an expired window is dropped"
            );
            store.observe(260).unwrap();
            assert_eq!(store.segment_count(), 1);
            if persistent {
                let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
                assert_eq!(left.len(), 1, "expired segment directories are removed");
            }
        }
    }

    #[test]
    fn a_reopened_rocksdb_store_finds_its_segments_and_restores_from_changelog_keys() {
        let dir = tempfile::tempdir().unwrap();
        let budget = MemoryBudget::new(8 << 20);
        {
            let mut store =
                SegmentedWindowStore::rocksdb("w", dir.path(), &budget, 1000, 100).unwrap();
            put(&mut store, &[(b"k", 150, Some(b"v"))]);
            store.flush().unwrap();
        }
        let mut store = SegmentedWindowStore::rocksdb("w", dir.path(), &budget, 1000, 100).unwrap();
        assert_eq!(store.segment_count(), 1);
        assert_eq!(
            store.get(&window_key(b"k", 150)).unwrap(),
            Some(b"v".to_vec()),
            "a window on disk is read before anything new is written"
        );
        let key = window_key(b"j", 420);
        store.restore_batch(&[(&key, Some(b"r"))]).unwrap();
        let reader = store.reader();
        assert_eq!(reader.fetch(b"k", 150).unwrap(), Some(b"v".to_vec()));
        assert_eq!(reader.fetch(b"j", 420).unwrap(), Some(b"r".to_vec()));
    }
}
