//! A window store's cached windows grouped by record key, so that reading one key's windows
//! looks up that key alone, with the mark of the keys whose windows are all cached.

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
    groups: FxHashMap<Box<[u8]>, Group>,
    /// How many groups hold no window.
    empty: usize,
}

/// One record key's cached windows.
struct Group {
    slots: Vec<usize>,
    /// Every window of the key that the store below holds (within retention) is cached, as
    /// a value or as a delete (see
    /// [`RecordCache::mark_all_windows_cached`](super::RecordCache::mark_all_windows_cached)).
    complete: bool,
}

impl WindowsByRecordKey {
    /// Groups `windows` (window keys and their slots) by their record keys, `suffix` bytes
    /// shorter.
    pub(super) fn new<'a>(suffix: usize, windows: impl Iterator<Item = (&'a [u8], usize)>) -> Self {
        let mut grouped = Self {
            suffix,
            groups: FxHashMap::default(),
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
        match self.groups.get_mut(record_key) {
            Some(group) => {
                if group.slots.is_empty() {
                    self.empty -= 1;
                }
                group.slots.push(at);
            }
            None => {
                let group = Group {
                    slots: vec![at],
                    complete: false,
                };
                self.groups.insert(record_key.into(), group);
            }
        }
    }

    /// Removes the window key `key`, cached at `at`. An `evicted` window is still in the
    /// store, so its record key's windows are no longer all cached: the key is unmarked.
    pub(super) fn remove(&mut self, key: &[u8], at: usize, evicted: bool) {
        let Some(record_key) = record_key_of(key, self.suffix) else {
            return;
        };
        let Some(group) = self.groups.get_mut(record_key) else {
            return;
        };
        if evicted {
            group.complete = false;
        }
        let had = group.slots.len();
        group.slots.retain(|&s| s != at);
        if had > 0 && group.slots.is_empty() {
            self.empty += 1;
            self.drop_empty_groups_past_half();
        }
    }

    /// Drops the empty groups once they outnumber the others (a key's mark goes with its
    /// group: its next read takes its windows in again).
    fn drop_empty_groups_past_half(&mut self) {
        if self.empty > self.groups.len() / 2 {
            self.groups.retain(|_, group| !group.slots.is_empty());
            self.empty = 0;
        }
    }

    /// The slots of `record_key`'s cached windows, in no particular order.
    pub(super) fn slots(&self, record_key: &[u8]) -> &[usize] {
        self.groups
            .get(record_key)
            .map_or(&[], |g| g.slots.as_slice())
    }

    /// Whether `record_key`'s windows are all cached.
    pub(super) fn is_complete(&self, record_key: &[u8]) -> bool {
        self.groups.get(record_key).is_some_and(|g| g.complete)
    }

    /// Marks `record_key`'s windows as all cached.
    pub(super) fn mark_complete(&mut self, record_key: &[u8]) {
        if let Some(group) = self.groups.get_mut(record_key) {
            group.complete = true;
            return;
        }
        // Before the new group joins, so that it keeps its mark.
        self.drop_empty_groups_past_half();
        let group = Group {
            slots: Vec::new(),
            complete: true,
        };
        self.groups.insert(record_key.into(), group);
        self.empty += 1;
    }

    /// Unmarks every record key.
    pub(super) fn unmark_all(&mut self) {
        for group in self.groups.values_mut() {
            group.complete = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(key: &str, start: i64) -> Vec<u8> {
        crate::window_key::window_key(key.as_bytes(), start)
    }

    /// A group emptied by a session's update stays for the next window of its key, and
    /// keeps its mark; empty groups go once they outnumber the rest.
    #[test]
    fn empty_groups_stay_until_they_outnumber_the_others() {
        let mut grouped = WindowsByRecordKey::new(8, std::iter::empty());
        for (at, key) in ["a", "b", "c", "d"].into_iter().enumerate() {
            grouped.insert(&window(key, 0), at);
        }
        grouped.mark_complete(b"a");
        grouped.remove(&window("a", 0), 0, false);
        assert_eq!(grouped.groups.len(), 4, "one empty group of four stays");
        assert_eq!(grouped.slots(b"a"), &[] as &[usize]);
        assert!(grouped.is_complete(b"a"));
        grouped.insert(&window("a", 60), 4);
        assert_eq!(grouped.slots(b"a"), &[4]);
        grouped.remove(&window("b", 0), 1, false);
        grouped.remove(&window("c", 0), 2, false);
        assert_eq!(grouped.groups.len(), 4, "two empty groups of four stay");
        grouped.remove(&window("d", 0), 3, false);
        assert_eq!(grouped.groups.len(), 1, "three of four empty: they go");
        assert_eq!(grouped.slots(b"a"), &[4]);
        assert!(grouped.is_complete(b"a"));
        assert_eq!(grouped.empty, 0);
    }

    /// A mark lasts until one of the key's windows is evicted, or all marks are dropped;
    /// marking a key with no cached window makes its group.
    #[test]
    fn marks_last_until_a_window_of_the_key_is_evicted() {
        let mut grouped = WindowsByRecordKey::new(8, std::iter::empty());
        grouped.insert(&window("a", 0), 0);
        grouped.insert(&window("b", 0), 1);
        grouped.insert(&window("b", 60), 2);
        grouped.mark_complete(b"a");
        grouped.mark_complete(b"b");
        grouped.mark_complete(b"c");
        assert!(
            ["a", "b", "c"]
                .iter()
                .all(|k| grouped.is_complete(k.as_bytes()))
        );
        grouped.remove(&window("b", 0), 1, false);
        assert!(grouped.is_complete(b"b"), "a window removed keeps the mark");
        grouped.remove(&window("a", 0), 0, true);
        assert!(!grouped.is_complete(b"a"), "a window evicted unmarks");
        assert!(grouped.is_complete(b"b"));
        grouped.unmark_all();
        assert!(!grouped.is_complete(b"b") && !grouped.is_complete(b"c"));
    }
}
