//! A window store's cached windows grouped by record key, so that reading one key's windows
//! looks up that key alone.

use rustc_hash::FxHashMap;

use crate::window_key::record_key_of;

/// The slots of a window store's cached windows under their record key: each window key
/// less its last `suffix` bytes (8 for time windows, 16 for sessions; a store has one kind).
pub(super) struct WindowsByRecordKey {
    suffix: usize,
    slots: FxHashMap<Box<[u8]>, Vec<usize>>,
}

impl WindowsByRecordKey {
    /// Groups `windows` (window keys and their slots) by their record keys, `suffix` bytes
    /// shorter.
    pub(super) fn new<'a>(suffix: usize, windows: impl Iterator<Item = (&'a [u8], usize)>) -> Self {
        let mut grouped = Self {
            suffix,
            slots: FxHashMap::default(),
        };
        for (key, at) in windows {
            grouped.insert(key, at);
        }
        grouped
    }

    /// How many bytes follow the record key in the window keys grouped.
    pub(super) fn suffix(&self) -> usize {
        self.suffix
    }

    /// Adds the window key `key`, cached at `at`.
    pub(super) fn insert(&mut self, key: &[u8], at: usize) {
        let Some(record_key) = record_key_of(key, self.suffix) else {
            return;
        };
        match self.slots.get_mut(record_key) {
            Some(slots) => slots.push(at),
            None => {
                self.slots.insert(record_key.into(), vec![at]);
            }
        }
    }

    /// Removes the window key `key`, cached at `at`.
    pub(super) fn remove(&mut self, key: &[u8], at: usize) {
        let Some(record_key) = record_key_of(key, self.suffix) else {
            return;
        };
        if let Some(slots) = self.slots.get_mut(record_key) {
            slots.retain(|&s| s != at);
            if slots.is_empty() {
                self.slots.remove(record_key);
            }
        }
    }

    /// The slots of `record_key`'s cached windows, in no particular order.
    pub(super) fn slots(&self, record_key: &[u8]) -> &[usize] {
        self.slots.get(record_key).map_or(&[], Vec::as_slice)
    }
}
