use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rocksdb::{
    BlockBasedIndexType, BlockBasedOptions, DB, Direction, IteratorMode, Options, ReadOptions,
    WriteBatch, WriteOptions,
};

use crate::StateError;
use crate::kv::{KeyValueStore, KvIter, ReadOnlyKeyValueStore, WriteEntry, prefix_successor};
use crate::rocksdb::MemoryBudget;

/// A key-value store in its own RocksDB instance under the task's state directory.
///
/// The write-ahead log is off: the store's changelog is its durability, and a commit calls
/// [`KeyValueStore::flush`] before the checkpoint records the changelog offset the local
/// files reflect.
pub struct RocksDbKeyValueStore {
    reader: Arc<RocksDbReader>,
    write_options: WriteOptions,
}

/// The shareable read side of a [`RocksDbKeyValueStore`].
pub struct RocksDbReader {
    name: String,
    path: PathBuf,
    db: DB,
}

impl RocksDbKeyValueStore {
    /// Opens (or creates) the store `name` in the directory `path`, drawing its memory from
    /// `budget`.
    ///
    /// # Errors
    /// When the directory cannot be created or RocksDB cannot open it (for example because
    /// another process holds its lock).
    pub fn open(name: &str, path: &Path, budget: &MemoryBudget) -> Result<Self, StateError> {
        std::fs::create_dir_all(path)
            .map_err(|e| StateError::io("create the store directory", path, e))?;
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(budget.cache());
        // Index and filter blocks live in the shared cache, so the budget bounds them too.
        // Partitioned into small blocks: a store's full filter grows with its keys (a few
        // MiB at millions of keys), past what one shard of the cache can hold, and would then
        // be read from disk and checksummed on every lookup. The top level of each stays
        // pinned; the partitions are cached with high priority.
        table.set_cache_index_and_filter_blocks(true);
        table.set_cache_index_and_filter_blocks_with_high_priority(true);
        table.set_index_type(BlockBasedIndexType::TwoLevelIndexSearch);
        table.set_partition_filters(true);
        table.set_pin_top_level_index_and_filter(true);
        table.set_bloom_filter(10.0, false);
        let mut options = Options::default();
        options.create_if_missing(true);
        options.set_block_based_table_factory(&table);
        options.set_write_buffer_manager(budget.write_buffers());
        options.set_max_background_jobs(2);
        options.set_compression_type(rocksdb::DBCompressionType::Lz4);
        let db = DB::open(&options, path).map_err(|source| StateError::RocksDb {
            store: name.to_owned(),
            operation: "open",
            source,
        })?;
        let mut write_options = WriteOptions::default();
        write_options.disable_wal(true);
        Ok(Self {
            reader: Arc::new(RocksDbReader {
                name: name.to_owned(),
                path: path.to_owned(),
                db,
            }),
            write_options,
        })
    }

    /// Removes every key from `from` up to `to` at once: RocksDB deletes the files that
    /// hold only such keys and covers the rest with one range deletion, which compaction
    /// clears. Whole files are dropped up to and including `to`, so pass a `to` that no
    /// key equals (a window store's segment prefixes: no key is a bare prefix).
    ///
    /// # Errors
    /// When RocksDB fails to delete the files or to write the range deletion.
    pub(crate) fn delete_range(&mut self, from: &[u8], to: &[u8]) -> Result<(), StateError> {
        let db = &self.reader.db;
        db.delete_file_in_range(from, to)
            .map_err(self.failed("delete the files of a range"))?;
        let mut batch = WriteBatch::default();
        batch.delete_range(from, to);
        db.write_opt(batch, &self.write_options)
            .map_err(self.failed("delete a range"))
    }

    /// The read side, for readers within this crate that need more than the
    /// [`ReadOnlyKeyValueStore`] interface.
    pub(crate) fn reader(&self) -> Arc<RocksDbReader> {
        self.reader.clone()
    }

    /// The directory the store lives in.
    pub fn path(&self) -> &Path {
        &self.reader.path
    }

    fn failed(&self, operation: &'static str) -> impl FnOnce(rocksdb::Error) -> StateError + '_ {
        move |source| StateError::RocksDb {
            store: self.reader.name.clone(),
            operation,
            source,
        }
    }
}

impl RocksDbReader {
    /// Reads the entries of each `[from, to)` range in turn through one iterator, passing
    /// each to `each`: for several small reads (one key's windows in consecutive segments)
    /// cheaper than an iterator per range.
    ///
    /// # Errors
    /// When RocksDB fails to read.
    pub(crate) fn read_ranges(
        &self,
        ranges: &[(Vec<u8>, Vec<u8>)],
        each: &mut dyn FnMut(&[u8], &[u8]),
    ) -> Result<(), StateError> {
        let mut iter = self.db.raw_iterator();
        for (from, to) in ranges {
            iter.seek(from);
            while let Some((key, value)) = iter.item() {
                if key >= to.as_slice() {
                    break;
                }
                each(key, value);
                iter.next();
            }
            iter.status().map_err(self.failed("iterate"))?;
        }
        Ok(())
    }

    fn failed(&self, operation: &'static str) -> impl FnOnce(rocksdb::Error) -> StateError + '_ {
        move |source| StateError::RocksDb {
            store: self.name.clone(),
            operation,
            source,
        }
    }

    fn scan(&self, lower: Option<Vec<u8>>, upper: Option<Vec<u8>>) -> KvIter<'_> {
        let (options, start) = bounded(lower, upper);
        let iter = self
            .db
            .iterator_opt(starting_at(&start), options)
            .map(move |item| {
                item.map(|(k, v)| (k.into_vec(), v.into_vec()))
                    .map_err(|source| StateError::RocksDb {
                        store: self.name.clone(),
                        operation: "iterate",
                        source,
                    })
            });
        Box::new(iter)
    }
}

/// Read options iterating from `lower` (inclusive) to `upper` (exclusive), and the key to
/// start at.
fn bounded(lower: Option<Vec<u8>>, upper: Option<Vec<u8>>) -> (ReadOptions, Option<Vec<u8>>) {
    let mut options = ReadOptions::default();
    let start = lower.clone();
    if let Some(lower) = lower {
        options.set_iterate_lower_bound(lower);
    }
    if let Some(upper) = upper {
        options.set_iterate_upper_bound(upper);
    }
    (options, start)
}

/// Iterating forward from `start`, or from the first key.
fn starting_at(start: &Option<Vec<u8>>) -> IteratorMode<'_> {
    match start {
        Some(key) => IteratorMode::From(key, Direction::Forward),
        None => IteratorMode::Start,
    }
}

/// The smallest key after `key`: `key` followed by a zero byte.
fn successor(key: &[u8]) -> Vec<u8> {
    let mut next = Vec::with_capacity(key.len() + 1);
    next.extend_from_slice(key);
    next.push(0);
    next
}

/// The inclusive lower iteration bound of `from`.
fn lower_bound(from: Bound<&[u8]>) -> Option<Vec<u8>> {
    match from {
        Bound::Included(k) => Some(k.to_vec()),
        Bound::Excluded(k) => Some(successor(k)),
        Bound::Unbounded => None,
    }
}

/// The exclusive upper iteration bound of `to`.
fn upper_bound(to: Bound<&[u8]>) -> Option<Vec<u8>> {
    match to {
        Bound::Included(k) => Some(successor(k)),
        Bound::Excluded(k) => Some(k.to_vec()),
        Bound::Unbounded => None,
    }
}

impl ReadOnlyKeyValueStore for RocksDbReader {
    fn name(&self) -> &str {
        &self.name
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        self.db
            .get_pinned(key)
            .map(|v| v.map(|v| v.to_vec()))
            .map_err(self.failed("read"))
    }

    fn range(&self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Result<KvIter<'_>, StateError> {
        let (lower, upper) = (lower_bound(from), upper_bound(to));
        if let (Some(l), Some(u)) = (&lower, &upper)
            && l >= u
        {
            return Ok(Box::new(std::iter::empty()));
        }
        Ok(self.scan(lower, upper))
    }

    fn prefix_scan(&self, prefix: &[u8]) -> Result<KvIter<'_>, StateError> {
        Ok(self.scan(Some(prefix.to_vec()), prefix_successor(prefix)))
    }

    /// Takes a RocksDB snapshot (constant time) inside `at_snapshot`, then reads it outside.
    fn snapshot_scan(
        &self,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
        at_snapshot: &mut dyn FnMut(&mut dyn FnMut()) -> bool,
        each: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StateError> {
        let mut snapshot = None;
        if !at_snapshot(&mut || snapshot = Some(self.db.snapshot())) {
            return Ok(());
        }
        let snapshot = snapshot.expect("at_snapshot takes the snapshot");
        let (lower, upper) = (lower_bound(from), upper_bound(to));
        if let (Some(l), Some(u)) = (&lower, &upper)
            && l >= u
        {
            return Ok(());
        }
        let (options, start) = bounded(lower, upper);
        for item in snapshot.iterator_opt(starting_at(&start), options) {
            let (key, value) = item.map_err(self.failed("iterate a snapshot"))?;
            if !each(&key, &value) {
                break;
            }
        }
        Ok(())
    }

    fn approximate_num_entries(&self) -> Result<u64, StateError> {
        self.db
            .property_int_value(rocksdb::properties::ESTIMATE_NUM_KEYS)
            .map(|n| n.unwrap_or(0))
            .map_err(self.failed("estimate its size"))
    }
}

impl ReadOnlyKeyValueStore for RocksDbKeyValueStore {
    fn name(&self) -> &str {
        self.reader.name()
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        self.reader.get(key)
    }

    fn range(&self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Result<KvIter<'_>, StateError> {
        self.reader.range(from, to)
    }

    fn prefix_scan(&self, prefix: &[u8]) -> Result<KvIter<'_>, StateError> {
        self.reader.prefix_scan(prefix)
    }

    fn approximate_num_entries(&self) -> Result<u64, StateError> {
        self.reader.approximate_num_entries()
    }
}

impl KeyValueStore for RocksDbKeyValueStore {
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StateError> {
        self.reader
            .db
            .put_opt(key, value, &self.write_options)
            .map_err(self.failed("write"))
    }

    fn delete(&mut self, key: &[u8]) -> Result<(), StateError> {
        self.reader
            .db
            .delete_opt(key, &self.write_options)
            .map_err(self.failed("delete"))
    }

    fn put_all(&mut self, entries: &[WriteEntry<'_>]) -> Result<(), StateError> {
        // In key order the memtable's skip list inserts each key next to the previous one
        // (a cache flush comes in hash order). The sort is stable: of two writes to one
        // key, the later still wins.
        let mut order: Vec<usize> = (0..entries.len()).collect();
        order.sort_by(|&a, &b| entries[a].0.cmp(entries[b].0));
        let mut batch = WriteBatch::default();
        for (key, value) in order.into_iter().map(|i| &entries[i]) {
            match value {
                Some(v) => batch.put(key, v),
                None => batch.delete(key),
            }
        }
        self.reader
            .db
            .write_opt(batch, &self.write_options)
            .map_err(self.failed("write a batch"))
    }

    fn flush(&mut self) -> Result<(), StateError> {
        self.reader.db.flush().map_err(self.failed("flush"))
    }

    fn persistent(&self) -> bool {
        true
    }

    fn read_only_handle(&self) -> Arc<dyn ReadOnlyKeyValueStore + Send + Sync> {
        self.reader.clone()
    }
}
