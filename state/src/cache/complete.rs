//! The record keys of a window store whose windows the record cache holds all of, so that
//! reading one of them can skip the store.

use rustc_hash::FxHashSet;

use crate::window_key::record_key_of;

/// Record keys every window of which (every entry below the cache whose key is the record
/// key followed by `suffix` bytes, within retention) is in the cache, as a value or as a
/// delete. A key is marked after the cache took in everything the store held of it, and
/// unmarked when one of its windows is evicted (see
/// [`RecordCache::mark_all_windows_cached`](super::RecordCache::mark_all_windows_cached)).
#[derive(Default)]
pub(super) struct CompleteKeys {
    /// How many bytes follow the record key in a window key: 8 for time windows, 16 for
    /// sessions (a store has one kind).
    suffix: usize,
    keys: FxHashSet<Box<[u8]>>,
}

impl CompleteKeys {
    /// Whether `key`'s windows, each `suffix` bytes after the key, are all cached.
    pub(super) fn contains(&self, key: &[u8], suffix: usize) -> bool {
        suffix == self.suffix && self.keys.contains(key)
    }

    /// Marks `key`'s windows (each `suffix` bytes after it) as all cached.
    pub(super) fn insert(&mut self, key: &[u8], suffix: usize) {
        if suffix != self.suffix {
            self.keys.clear();
            self.suffix = suffix;
        }
        self.keys.insert(key.into());
    }

    /// Unmarks the record key of the window key `window_key`, which the cache evicts.
    pub(super) fn remove_window(&mut self, window_key: &[u8]) {
        if self.keys.is_empty() {
            return;
        }
        if let Some(record_key) = record_key_of(window_key, self.suffix) {
            self.keys.remove(record_key);
        }
    }

    /// How many keys are marked.
    pub(super) fn len(&self) -> usize {
        self.keys.len()
    }

    /// Unmarks every key.
    pub(super) fn clear(&mut self) {
        self.keys.clear();
    }
}
