//! Key-value store traits.
//!
//! Keys are ordered bytewise (lexicographically), as RocksDB orders them, so range and
//! prefix scans behave the same in every implementation.

use std::ops::Bound;
use std::sync::Arc;

use crate::StateError;
use crate::window_key::KeyWindows;

/// An owned key and value.
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// An iterator over entries in key order. Reading may fail part-way, so each item is a result.
pub type KvIter<'a> = Box<dyn Iterator<Item = Result<KeyValue, StateError>> + 'a>;

/// One write of a batch: `Some(value)` puts, `None` deletes.
pub type WriteEntry<'a> = (&'a [u8], Option<&'a [u8]>);

/// Reads of a key-value store: what interactive queries may do.
pub trait ReadOnlyKeyValueStore {
    /// The store's name, unique within a topology.
    fn name(&self) -> &str;

    /// The value stored under `key`, if any.
    ///
    /// # Errors
    /// When the underlying storage fails to read.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError>;

    /// Entries with `from <= key <= to` (as the bounds say), in key order.
    ///
    /// # Errors
    /// When the underlying storage fails to open an iterator.
    fn range(&self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Result<KvIter<'_>, StateError>;

    /// Entries whose key starts with `prefix`, in key order.
    ///
    /// # Errors
    /// When the underlying storage fails to open an iterator.
    fn prefix_scan(&self, prefix: &[u8]) -> Result<KvIter<'_>, StateError> {
        match prefix_successor(prefix) {
            Some(end) => {
                let from = Bound::Included(prefix);
                // The iterator must not borrow `end`, so collect the bounded scan here.
                let entries: Vec<_> = self.range(from, Bound::Excluded(&end))?.collect();
                Ok(Box::new(entries.into_iter()))
            }
            None => self.range(Bound::Included(prefix), Bound::Unbounded),
        }
    }

    /// Every entry, in key order.
    ///
    /// # Errors
    /// When the underlying storage fails to open an iterator.
    fn all(&self) -> Result<KvIter<'_>, StateError> {
        self.range(Bound::Unbounded, Bound::Unbounded)
    }

    /// Reads the entries with `from <= key <= to` (as the bounds say), in key order, from
    /// one consistent snapshot of the store, passing each to `each` until it returns
    /// `false`.
    ///
    /// `at_snapshot` brackets the moment the snapshot is taken: it receives a function that
    /// takes it, must call that function once, and returns whether to go on; so a caller
    /// can take the snapshot atomically with something else (a change feed's
    /// registration). Stores that can take a snapshot cheaply (RocksDB, the in-memory
    /// store) do only that inside `at_snapshot` and read afterwards, outside whatever lock
    /// the caller holds there; the default reads the whole range inside it.
    ///
    /// # Errors
    /// When the underlying storage fails to read.
    fn snapshot_scan(
        &self,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
        at_snapshot: &mut dyn FnMut(&mut dyn FnMut()) -> bool,
        each: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StateError> {
        let mut taken: Option<Result<Vec<KeyValue>, StateError>> = None;
        let go_on = at_snapshot(&mut || {
            taken = Some(self.range(from, to).and_then(Iterator::collect));
        });
        if !go_on {
            return Ok(());
        }
        for (key, value) in taken.expect("at_snapshot takes the snapshot")? {
            if !each(&key, &value) {
                break;
            }
        }
        Ok(())
    }

    /// The entries of one record key's windows (see [`KeyWindows`]), in key order. A window
    /// store looks only in the segments of the query's times; the default ranges over the
    /// query's bounds and keeps the matching keys.
    ///
    /// # Errors
    /// When the underlying storage fails to read.
    fn key_windows(&self, query: &KeyWindows<'_>) -> Result<Vec<KeyValue>, StateError> {
        let mut found = Vec::new();
        for entry in self.range(Bound::Included(query.from), Bound::Included(query.to))? {
            let entry = entry?;
            if query.matches(&entry.0) {
                found.push(entry);
            }
        }
        Ok(found)
    }

    /// An estimate of the number of entries (exact for in-memory stores).
    ///
    /// # Errors
    /// When the underlying storage cannot report it.
    fn approximate_num_entries(&self) -> Result<u64, StateError>;
}

/// A key-value store a task owns and writes.
pub trait KeyValueStore: ReadOnlyKeyValueStore {
    /// Stores `value` under `key`, replacing any earlier value.
    ///
    /// # Errors
    /// When the underlying storage fails to write.
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StateError>;

    /// Removes `key`; removing an absent key is not an error.
    ///
    /// # Errors
    /// When the underlying storage fails to write.
    fn delete(&mut self, key: &[u8]) -> Result<(), StateError>;

    /// Applies all `entries` in order as one batch (one RocksDB write batch).
    ///
    /// # Errors
    /// When the underlying storage fails to write; then none of the batch is applied.
    fn put_all(&mut self, entries: &[WriteEntry<'_>]) -> Result<(), StateError>;

    /// Applies records read back from the changelog. Restoration calls this, in large
    /// batches, before the task processes anything. Same semantics as
    /// [`KeyValueStore::put_all`]; layers that log changes do not log these.
    ///
    /// # Errors
    /// When the underlying storage fails to write.
    fn restore_batch(&mut self, entries: &[WriteEntry<'_>]) -> Result<(), StateError> {
        self.put_all(entries)
    }

    /// Makes every write so far durable locally (RocksDB flushes its memtables). Called on
    /// commit before the checkpoint is written.
    ///
    /// # Errors
    /// When the underlying storage fails to flush.
    fn flush(&mut self) -> Result<(), StateError>;

    /// Whether the store keeps its data on disk across restarts (and so has a checkpoint).
    fn persistent(&self) -> bool;

    /// A handle other threads may read through while the task keeps writing.
    fn read_only_handle(&self) -> Arc<dyn ReadOnlyKeyValueStore + Send + Sync>;

    /// For a window store, the latest window start it has been written (its stream time;
    /// restoration counts); `None` for other stores and before the first write.
    fn observed_time(&self) -> Option<i64> {
        None
    }

    /// For a window store, the time before which its windows have expired (by the last
    /// eight bytes of their keys): they are neither read nor written any more. `None` for
    /// other stores and before the first write.
    fn expired_before(&self) -> Option<i64> {
        None
    }
}

/// The smallest key greater than every key starting with `prefix`, or `None` when no such
/// key exists (the prefix is empty or all `0xFF`).
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Whether `key` lies within `from` and `to`.
pub fn in_bounds(key: &[u8], from: Bound<&[u8]>, to: Bound<&[u8]>) -> bool {
    let above = match from {
        Bound::Included(f) => key >= f,
        Bound::Excluded(f) => key > f,
        Bound::Unbounded => true,
    };
    let below = match to {
        Bound::Included(t) => key <= t,
        Bound::Excluded(t) => key < t,
        Bound::Unbounded => true,
    };
    above && below
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_successor_increments_the_last_byte_below_max() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(&[1, 0xFF]), Some(vec![2]));
        assert_eq!(prefix_successor(&[0xFF, 0xFF]), None);
        assert_eq!(prefix_successor(b""), None);
    }

    #[test]
    fn bounds_are_checked_on_both_sides() {
        assert!(in_bounds(
            b"b",
            Bound::Included(b"b"),
            Bound::Excluded(b"c")
        ));
        assert!(!in_bounds(
            b"c",
            Bound::Included(b"b"),
            Bound::Excluded(b"c")
        ));
        assert!(!in_bounds(b"b", Bound::Excluded(b"b"), Bound::Unbounded));
    }
}
