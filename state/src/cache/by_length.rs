//! Cached keys ordered by length, then by bytes: the order in which a window store's
//! windows of one record key lie next to each other.

use std::cmp::Ordering;
use std::rc::Rc;

/// A cached key ordered by its length first, then by its bytes. Window keys of one record
/// key are all equally long (the record key and a fixed suffix), so a range of them holds
/// nothing else; in byte order, the windows of longer record keys that start with it (the
/// sessions of `user-10` between those of `user-1`) would lie in between.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct ByLength(pub(super) Rc<[u8]>);

impl Ord for ByLength {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0
            .len()
            .cmp(&other.0.len())
            .then_with(|| self.0.cmp(&other.0))
    }
}

impl PartialOrd for ByLength {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
