//! The record cache's entries in a slab, each on two intrusive lists: every entry in
//! recency order (for eviction), the dirty ones in the order of their latest write (for
//! flushing). Moving an entry to the back of a list, or taking it out, is O(1) and
//! allocates nothing.

use std::rc::Rc;

use super::CacheEntry;

/// No slot: the end of a list.
const NIL: usize = usize::MAX;

/// An entry's neighbours on one list.
#[derive(Clone, Copy)]
struct Links {
    prev: usize,
    next: usize,
}

const UNLINKED: Links = Links {
    prev: NIL,
    next: NIL,
};

/// The two orders the cache keeps its entries in.
#[derive(Clone, Copy)]
enum Order {
    /// Every entry, least recently written or remembered first.
    Recency,
    /// The dirty entries, least recently written first.
    Flush,
}

/// The ends of one list.
#[derive(Clone, Copy)]
struct Ends {
    head: usize,
    tail: usize,
}

const EMPTY: Ends = Ends {
    head: NIL,
    tail: NIL,
};

/// One cached key.
pub(super) struct Slot {
    pub(super) key: Rc<[u8]>,
    pub(super) entry: CacheEntry,
    /// Written since the last flush: the store does not hold `entry.value` yet.
    pub(super) dirty: bool,
    recency: Links,
    flush: Links,
}

impl Slot {
    /// A slot for `key`, on no list yet.
    pub(super) fn new(key: Rc<[u8]>, entry: CacheEntry, dirty: bool) -> Self {
        Self {
            key,
            entry,
            dirty,
            recency: UNLINKED,
            flush: UNLINKED,
        }
    }

    fn links(&mut self, order: Order) -> &mut Links {
        match order {
            Order::Recency => &mut self.recency,
            Order::Flush => &mut self.flush,
        }
    }
}

/// The slab of slots and the ends of both lists.
pub(super) struct Slots {
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    recency: Ends,
    flush: Ends,
}

impl Slots {
    pub(super) fn new() -> Self {
        Self {
            slots: Vec::new(),
            free: Vec::new(),
            recency: EMPTY,
            flush: EMPTY,
        }
    }

    /// The slot at `at`, if occupied (`at` may be any number).
    pub(super) fn try_get(&self, at: usize) -> Option<&Slot> {
        self.slots.get(at)?.as_ref()
    }

    pub(super) fn get(&self, at: usize) -> &Slot {
        self.slots[at].as_ref().expect("an occupied slot")
    }

    pub(super) fn get_mut(&mut self, at: usize) -> &mut Slot {
        self.slots[at].as_mut().expect("an occupied slot")
    }

    /// Stores `slot` at the back of the recency list (and of the flush list if it is
    /// dirty); returns where.
    pub(super) fn insert(&mut self, slot: Slot) -> usize {
        let dirty = slot.dirty;
        let at = match self.free.pop() {
            Some(at) => {
                self.slots[at] = Some(slot);
                at
            }
            None => {
                self.slots.push(Some(slot));
                self.slots.len() - 1
            }
        };
        self.push_back(Order::Recency, at);
        if dirty {
            self.push_back(Order::Flush, at);
        }
        at
    }

    /// Takes the slot at `at` out of the slab and off both lists.
    pub(super) fn remove(&mut self, at: usize) -> Slot {
        self.unlink(Order::Recency, at);
        if self.get(at).dirty {
            self.unlink(Order::Flush, at);
        }
        self.free.push(at);
        self.slots[at].take().expect("an occupied slot")
    }

    /// Moves the slot at `at` to the back of the recency list, and marks it dirty at the
    /// back of the flush list; returns whether it was dirty before.
    pub(super) fn written(&mut self, at: usize) -> bool {
        self.unlink(Order::Recency, at);
        self.push_back(Order::Recency, at);
        let was_dirty = std::mem::replace(&mut self.get_mut(at).dirty, true);
        if was_dirty {
            self.unlink(Order::Flush, at);
        }
        self.push_back(Order::Flush, at);
        was_dirty
    }

    /// Takes the least recently written dirty slot off the flush list and marks it clean;
    /// returns where it is.
    pub(super) fn clean_oldest_dirty(&mut self) -> Option<usize> {
        let at = Some(self.flush.head).filter(|&h| h != NIL)?;
        self.unlink(Order::Flush, at);
        self.get_mut(at).dirty = false;
        Some(at)
    }

    /// The least recently written or remembered slot.
    pub(super) fn oldest(&self) -> Option<usize> {
        Some(self.recency.head).filter(|&h| h != NIL)
    }

    /// Where the clean slots are.
    pub(super) fn clean(&self) -> Vec<usize> {
        let mut found = Vec::new();
        let mut at = self.recency.head;
        while at != NIL {
            let slot = self.get(at);
            if !slot.dirty {
                found.push(at);
            }
            at = slot.recency.next;
        }
        found
    }

    fn ends(&mut self, order: Order) -> &mut Ends {
        match order {
            Order::Recency => &mut self.recency,
            Order::Flush => &mut self.flush,
        }
    }

    fn push_back(&mut self, order: Order, at: usize) {
        let tail = self.ends(order).tail;
        *self.get_mut(at).links(order) = Links {
            prev: tail,
            next: NIL,
        };
        if tail == NIL {
            self.ends(order).head = at;
        } else {
            self.get_mut(tail).links(order).next = at;
        }
        self.ends(order).tail = at;
    }

    fn unlink(&mut self, order: Order, at: usize) {
        let Links { prev, next } = std::mem::replace(self.get_mut(at).links(order), UNLINKED);
        if prev == NIL {
            self.ends(order).head = next;
        } else {
            self.get_mut(prev).links(order).next = next;
        }
        if next == NIL {
            self.ends(order).tail = prev;
        } else {
            self.get_mut(next).links(order).prev = prev;
        }
    }

    /// How many slots the slab has, occupied or free.
    #[cfg(test)]
    pub(super) fn capacity(&self) -> usize {
        self.slots.len()
    }
}
