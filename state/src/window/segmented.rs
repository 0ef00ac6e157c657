//! [`SegmentedWindowStore`]: a window store made of time segments, each a key-value store.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use super::shared::{SharedReader, SharedSegments};
use crate::InMemoryKeyValueStore;
use crate::StateError;
use crate::kv::{KeyValue, KeyValueStore, ReadOnlyKeyValueStore, WriteEntry};
use crate::rocksdb::MemoryBudget;
use crate::window::{KeyWindowValue, KeyWindows, WindowValue, split_window_key, window_key};

type SegmentReader = Arc<dyn ReadOnlyKeyValueStore + Send + Sync>;
type Readers = Arc<RwLock<BTreeMap<i64, SegmentReader>>>;

/// Where segments live.
enum Segments {
    /// Every segment in one RocksDB database, under its id as a key prefix.
    RocksDb(SharedSegments),
    /// Each segment a map in memory.
    InMemory(BTreeMap<i64, InMemoryKeyValueStore>),
}

/// A window store of time segments (see [the module](crate::window)).
///
/// Writes to windows that started before `stream time - retention` are dropped, as are
/// whole segments once they lie entirely before that point; fetches never return such
/// windows.
pub struct SegmentedWindowStore {
    name: String,
    retention_ms: i64,
    segment_interval_ms: i64,
    segments: Segments,
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
    /// The database of every segment, when they share one.
    whole: Option<SharedReader>,
    observed: Arc<AtomicI64>,
}

fn checked_interval(retention_ms: i64, segment_interval_ms: i64) -> (i64, i64) {
    (retention_ms.max(0), segment_interval_ms.max(1))
}

impl SegmentedWindowStore {
    /// Opens (or creates) the RocksDB window store `name`, one database in `dir` holding
    /// every segment, and finds the segments already there. A store an earlier version
    /// wrote as a database per segment (in subdirectories of `dir`) is moved into it.
    ///
    /// # Errors
    /// When the directory cannot be read or created, or RocksDB cannot open or read it.
    pub fn rocksdb(
        name: &str,
        dir: &Path,
        budget: &MemoryBudget,
        retention_ms: i64,
        segment_interval_ms: i64,
    ) -> Result<Self, StateError> {
        let shared = SharedSegments::open(name, dir, budget)?;
        let readers: BTreeMap<i64, SegmentReader> = shared
            .ids()
            .iter()
            .map(|&id| (id, shared.reader(id)))
            .collect();
        let newest = shared.ids().last().copied();
        let mut store = Self::new(
            name,
            Segments::RocksDb(shared),
            retention_ms,
            segment_interval_ms,
        );
        store.readers = Arc::new(RwLock::new(readers));
        if let Some(newest) = newest {
            store.reopened_until = (newest + 1)
                .saturating_mul(store.segment_interval_ms)
                .saturating_sub(1);
        }
        Ok(store)
    }

    /// An in-memory window store `name` (rebuilt from its changelog after a restart).
    pub fn in_memory(name: &str, retention_ms: i64, segment_interval_ms: i64) -> Self {
        Self::new(
            name,
            Segments::InMemory(BTreeMap::new()),
            retention_ms,
            segment_interval_ms,
        )
    }

    fn new(name: &str, segments: Segments, retention_ms: i64, segment_interval_ms: i64) -> Self {
        let (retention_ms, segment_interval_ms) =
            checked_interval(retention_ms, segment_interval_ms);
        Self {
            name: name.to_owned(),
            retention_ms,
            segment_interval_ms,
            segments,
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
        match &self.segments {
            Segments::RocksDb(shared) => shared.ids().len(),
            Segments::InMemory(maps) => maps.len(),
        }
    }

    /// Whether the data survives a restart on local disk.
    pub fn persistent(&self) -> bool {
        matches!(self.segments, Segments::RocksDb(_))
    }

    /// A handle other threads may fetch through.
    pub fn reader(&self) -> WindowReader {
        WindowReader {
            name: self.name.as_str().into(),
            retention_ms: self.retention_ms,
            segment_interval_ms: self.segment_interval_ms,
            readers: self.readers.clone(),
            whole: match &self.segments {
                Segments::RocksDb(shared) => Some(shared.whole()),
                Segments::InMemory(_) => None,
            },
            observed: self.observed.clone(),
        }
    }

    /// Makes segment `id` known to readers (and, in memory, creates its map).
    fn add_segment(&mut self, id: i64) {
        let reader = match &mut self.segments {
            Segments::RocksDb(shared) if shared.ids().contains(&id) => return,
            Segments::RocksDb(shared) => shared.reader(id),
            Segments::InMemory(maps) => {
                if maps.contains_key(&id) {
                    return;
                }
                let map = InMemoryKeyValueStore::new(&format!("{}.{id}", self.name));
                let reader = map.read_only_handle();
                maps.insert(id, map);
                reader
            }
        };
        self.readers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, reader);
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
        let id = start.div_euclid(self.segment_interval_ms);
        match &self.segments {
            Segments::RocksDb(shared) => shared.get(id, composite),
            Segments::InMemory(maps) => match maps.get(&id) {
                Some(map) => map.get(composite),
                None => Ok(None),
            },
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
    /// When a segment cannot be written, or an expired one removed.
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
        for &id in by_segment.keys() {
            self.add_segment(id);
        }
        match &mut self.segments {
            Segments::RocksDb(shared) => shared.put_all(&by_segment)?,
            Segments::InMemory(maps) => {
                for (id, batch) in &by_segment {
                    maps.get_mut(id).expect("added above").put_all(batch)?;
                }
            }
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
    /// When RocksDB fails to delete the expired segments.
    pub fn observe(&mut self, time: i64) -> Result<(), StateError> {
        self.observed.fetch_max(time, Ordering::AcqRel);
        let oldest = self.oldest_kept();
        let expired = |id: &i64| (id + 1).saturating_mul(self.segment_interval_ms) <= oldest;
        let last_expired = match &self.segments {
            Segments::RocksDb(shared) => shared.ids().iter().copied().take_while(expired).last(),
            Segments::InMemory(maps) => maps.keys().copied().take_while(expired).last(),
        };
        let Some(last_expired) = last_expired else {
            return Ok(());
        };
        let kept_from = last_expired + 1;
        {
            let mut readers = self.readers.write().unwrap_or_else(|p| p.into_inner());
            *readers = readers.split_off(&kept_from);
        }
        match &mut self.segments {
            Segments::RocksDb(shared) => shared.drop_before(kept_from)?,
            Segments::InMemory(maps) => *maps = maps.split_off(&kept_from),
        }
        Ok(())
    }

    /// Flushes the segments' memtables (on commit).
    ///
    /// # Errors
    /// When RocksDB fails to flush.
    pub fn flush(&mut self) -> Result<(), StateError> {
        match &mut self.segments {
            Segments::RocksDb(shared) => shared.flush(),
            Segments::InMemory(_) => Ok(()),
        }
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

    /// The segments that hold times from `from` to `to`, with their ids, in time order.
    fn segments_between(&self, from: i64, to: i64) -> Vec<(i64, SegmentReader)> {
        let (low, high) = (
            from.div_euclid(self.segment_interval_ms),
            to.div_euclid(self.segment_interval_ms),
        );
        self.readers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .range(low..=high)
            .map(|(&id, r)| (id, r.clone()))
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
        if let Some(whole) = &self.whole {
            let ids: Vec<i64> = self
                .segments_between(from, to)
                .into_iter()
                .map(|(id, _)| id)
                .collect();
            found = whole.key_windows(&ids, &query)?;
        } else {
            for (_, segment) in self.segments_between(from, to) {
                found.extend(segment.key_windows(&query)?);
            }
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
        if let Some(whole) = &self.whole {
            return whole.approximate_num_entries();
        }
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
        for (_, segment) in self.segments_between(from, to) {
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
        for (_, segment) in self.segments_between(from, to) {
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
    use crate::RocksDbKeyValueStore;

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
                drop((store, reader));
                let budget = MemoryBudget::new(8 << 20);
                let store =
                    SegmentedWindowStore::rocksdb("w", dir.path(), &budget, 100, 50).unwrap();
                assert_eq!(store.segment_count(), 1, "expired segments are deleted");
                assert_eq!(
                    store.get(&window_key(b"k", 170)).unwrap(),
                    Some(b"new".to_vec())
                );
            }
        }
    }

    /// A store an earlier version wrote, a RocksDB database per segment in a subdirectory
    /// named by its id, is moved into the one database when opened.
    #[test]
    fn segments_in_databases_of_their_own_are_moved_in() {
        let dir = tempfile::tempdir().unwrap();
        let budget = MemoryBudget::new(8 << 20);
        for (id, start, value) in [(1, 150, b"a"), (4, 420, b"b")] {
            let mut segment =
                RocksDbKeyValueStore::open("w", &dir.path().join(id.to_string()), &budget).unwrap();
            segment.put(&window_key(b"k", start), value).unwrap();
            segment.flush().unwrap();
        }
        let store = SegmentedWindowStore::rocksdb("w", dir.path(), &budget, 1000, 100).unwrap();
        assert_eq!(store.segment_count(), 2);
        let reader = store.reader();
        assert_eq!(reader.fetch(b"k", 150).unwrap(), Some(b"a".to_vec()));
        assert_eq!(reader.fetch_range(b"k", 0, 500).unwrap().len(), 2);
        assert!(
            !dir.path().join("1").exists() && !dir.path().join("4").exists(),
            "the old segments' directories are removed"
        );
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
