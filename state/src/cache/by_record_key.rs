//! A window store's cached windows grouped by record key, so that reading one key's windows
//! looks up that key alone.

use rustc_hash::FxHashMap;

use crate::window_key::record_key_of;

/// The slots of a window store's cached windows under their record key: each window key
/// less its last `suffix` bytes (8 for time windows, 16 for sessions; a store has one kind).
///
/// A record key whose windows all left keeps its (empty) group for a while: a session's
/// update removes the old session and writes the merged one, and would otherwise drop the
/// group and build it again on every record. Empty groups go once they outnumber the
/// others.
pub(super) struct WindowsByRecordKey {
    suffix: usize,
    slots: FxHashMap<Box<[u8]>, Vec<usize>>,
    /// How many groups are empty.
    empty: usize,
}

impl WindowsByRecordKey {
    /// Groups `windows` (window keys and their slots) by their record keys, `suffix` bytes
    /// shorter.
    pub(super) fn new<'a>(suffix: usize, windows: impl Iterator<Item = (&'a [u8], usize)>) -> Self {
        let mut grouped = Self {
            suffix,
            slots: FxHashMap::default(),
            empty: 0,
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
            Some(slots) => {
                if slots.is_empty() {
                    self.empty -= 1;
                }
                slots.push(at);
            }
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
        let Some(slots) = self.slots.get_mut(record_key) else {
            return;
        };
        let had = slots.len();
        slots.retain(|&s| s != at);
        if had > 0 && slots.is_empty() {
            self.empty += 1;
            if self.empty > self.slots.len() / 2 {
                self.slots.retain(|_, slots| !slots.is_empty());
                self.empty = 0;
            }
        }
    }

    /// The slots of `record_key`'s cached windows, in no particular order.
    pub(super) fn slots(&self, record_key: &[u8]) -> &[usize] {
        self.slots.get(record_key).map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(key: &str, start: i64) -> Vec<u8> {
        crate::window_key::window_key(key.as_bytes(), start)
    }

    /// A group emptied by a session's update stays for the next window of its key; empty
    /// groups go once they outnumber the rest.
    #[test]
    fn empty_groups_stay_until_they_outnumber_the_others() {
        let mut grouped = WindowsByRecordKey::new(8, std::iter::empty());
        for (at, key) in ["a", "b", "c", "d"].into_iter().enumerate() {
            grouped.insert(&window(key, 0), at);
        }
        grouped.remove(&window("a", 0), 0);
        assert_eq!(grouped.slots.len(), 4, "one empty group of four stays");
        assert_eq!(grouped.slots(b"a"), &[] as &[usize]);
        grouped.insert(&window("a", 60), 4);
        assert_eq!(grouped.slots(b"a"), &[4]);
        grouped.remove(&window("b", 0), 1);
        grouped.remove(&window("c", 0), 2);
        assert_eq!(grouped.slots.len(), 4, "two empty groups of four stay");
        grouped.remove(&window("d", 0), 3);
        assert_eq!(grouped.slots.len(), 1, "three of four empty: they go");
        assert_eq!(grouped.slots(b"a"), &[4]);
        assert_eq!(grouped.empty, 0);
    }
}
