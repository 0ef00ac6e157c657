//! Change feeds: how subscribers hear of every write applied to a store.
//!
//! A store's writer applies each batch through [`ChangeFeed::apply`]; a new subscriber takes
//! its snapshot of the store through [`ChangeFeed::subscribe`]. Every change is either in a
//! subscriber's snapshot or delivered to it afterwards, never both and never neither, and
//! changes reach each subscriber in the order they were applied.
//!
//! Nothing here slows the writer down for long. While no one subscribes, a write takes no
//! lock at all: it raises a flag, checks that no subscriber is arriving, writes, and lowers
//! the flag. A subscriber announces itself, waits for a write in progress to end, and then,
//! under the feed's lock, only *takes* a snapshot (constant time for RocksDB and in-memory
//! stores) and joins; it reads the snapshot afterwards, outside the lock, while writes go
//! on. Writes made while subscribers are attached hold the lock for the write and the
//! hand-over of its changes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

/// One change applied to a store: `value` is `None` for a delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppliedChange<'a> {
    /// The key, in the store's bytes.
    pub key: &'a [u8],
    /// The new value, or `None` when the key was deleted.
    pub value: Option<&'a [u8]>,
    /// The timestamp of the record that caused the change.
    pub timestamp: i64,
}

/// What became of a change handed to a subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Queued for the subscriber.
    Queued,
    /// The subscriber is gone (its client disconnected); drop it.
    Gone,
    /// The subscriber's queue is full: it cannot keep up; end it with
    /// [`FeedEnd::Lagging`].
    Full,
}

/// Why a feed stopped serving a subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedEnd {
    /// The subscriber fell too far behind the writes.
    Lagging,
    /// The store's partition left this process (revoked in a rebalance, or the instance is
    /// closing): later changes are applied somewhere else.
    Moved,
}

/// A subscription to a store's changes.
pub trait ChangeSubscriber: Send {
    /// Whether the subscriber wants changes of `key`.
    fn matches(&self, key: &[u8]) -> bool;

    /// Queues `change`; must not block.
    fn deliver(&mut self, change: AppliedChange<'_>) -> Delivery;

    /// Tells the subscriber no more changes will come, and why.
    fn end(&mut self, reason: FeedEnd);

    /// Whether the subscriber has gone (its client disconnected), so that it is dropped
    /// on the next write even when no change matches it.
    fn is_gone(&self) -> bool {
        false
    }
}

#[derive(Default)]
struct Subscribers {
    live: Vec<Box<dyn ChangeSubscriber>>,
    /// Subscribers that announced themselves and have not joined yet.
    arriving: usize,
    /// Set once the store has left the process: later subscriptions are refused.
    ended: Option<FeedEnd>,
}

/// The subscribers of one store partition.
#[derive(Default)]
pub struct ChangeFeed {
    subscribers: Mutex<Subscribers>,
    /// Whether writes must go through the lock: subscribers are attached or arriving.
    watched: AtomicBool,
    /// Whether a write that takes no lock is in progress.
    writing: AtomicBool,
}

impl ChangeFeed {
    /// A feed with no subscribers.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Subscribers> {
        // A subscriber that panicked leaves the list intact; keep serving it.
        self.subscribers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `write` (which applies `changes` to the store) and hands each change to the
    /// subscribers whose filter matches. Subscribers that are gone are dropped; those that
    /// are full are ended with [`FeedEnd::Lagging`]. With no subscriber attached or
    /// arriving, this takes no lock.
    ///
    /// # Errors
    /// `write`'s error; then nothing is delivered.
    pub fn apply<'a, E>(
        &self,
        changes: impl IntoIterator<Item = AppliedChange<'a>>,
        write: impl FnOnce() -> Result<(), E>,
    ) -> Result<(), E> {
        // Paired with `subscribe`: either this write sees `watched` and takes the lock, or
        // the arriving subscriber sees `writing` and waits for this write to be done before
        // it takes its snapshot (which then holds the write).
        self.writing.store(true, Ordering::SeqCst);
        if !self.watched.load(Ordering::SeqCst) {
            let written = write();
            self.writing.store(false, Ordering::SeqCst);
            return written;
        }
        self.writing.store(false, Ordering::SeqCst);
        let mut subscribers = self.lock();
        write()?;
        subscribers.live.retain(|s| !s.is_gone());
        for change in changes {
            subscribers.live.retain_mut(|s| {
                if !s.matches(change.key) {
                    return true;
                }
                match s.deliver(change) {
                    Delivery::Queued => true,
                    Delivery::Gone => false,
                    Delivery::Full => {
                        s.end(FeedEnd::Lagging);
                        false
                    }
                }
            });
        }
        self.unwatch_if_idle(&subscribers);
        Ok(())
    }

    /// Lets writes skip the lock again once no subscriber is attached or arriving.
    fn unwatch_if_idle(&self, subscribers: &Subscribers) {
        if subscribers.live.is_empty() && subscribers.arriving == 0 {
            self.watched.store(false, Ordering::SeqCst);
        }
    }

    /// Registers `subscriber`, calling `take_snapshot` at the moment it joins: every change
    /// the snapshot does not hold reaches the subscriber. `take_snapshot` runs under the
    /// feed's lock, so it should only take the snapshot, not read it.
    ///
    /// # Errors
    /// The reason the feed ended, when the store has already left the process (then
    /// `take_snapshot` is not called).
    pub fn subscribe(
        &self,
        subscriber: Box<dyn ChangeSubscriber>,
        take_snapshot: &mut dyn FnMut(),
    ) -> Result<(), FeedEnd> {
        {
            let mut subscribers = self.lock();
            if let Some(reason) = subscribers.ended {
                return Err(reason);
            }
            subscribers.arriving += 1;
            self.watched.store(true, Ordering::SeqCst);
        }
        // A write that did not see `watched` finishes before the snapshot is taken.
        while self.writing.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        let mut subscribers = self.lock();
        subscribers.arriving -= 1;
        if let Some(reason) = subscribers.ended {
            self.unwatch_if_idle(&subscribers);
            return Err(reason);
        }
        take_snapshot();
        subscribers.live.push(subscriber);
        Ok(())
    }

    /// Ends every subscription with `reason` and refuses new ones.
    pub fn end(&self, reason: FeedEnd) {
        let mut subscribers = self.lock();
        subscribers.ended = Some(reason);
        for mut s in subscribers.live.drain(..) {
            s.end(reason);
        }
        self.unwatch_if_idle(&subscribers);
    }

    /// How many subscribers are attached.
    pub fn subscribers(&self) -> usize {
        self.lock().live.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[derive(Default)]
    struct Log {
        changes: Vec<(Vec<u8>, Option<Vec<u8>>)>,
        ended: Option<FeedEnd>,
    }

    struct Sub {
        prefix: &'static [u8],
        capacity: usize,
        log: Arc<Mutex<Log>>,
    }

    impl ChangeSubscriber for Sub {
        fn matches(&self, key: &[u8]) -> bool {
            key.starts_with(self.prefix)
        }
        fn deliver(&mut self, c: AppliedChange<'_>) -> Delivery {
            let mut log = self.log.lock().unwrap();
            if log.changes.len() == self.capacity {
                return Delivery::Full;
            }
            log.changes
                .push((c.key.to_vec(), c.value.map(<[u8]>::to_vec)));
            Delivery::Queued
        }
        fn end(&mut self, reason: FeedEnd) {
            self.log.lock().unwrap().ended = Some(reason);
        }
    }

    fn change<'a>(key: &'a [u8], value: Option<&'a [u8]>) -> AppliedChange<'a> {
        AppliedChange {
            key,
            value,
            timestamp: 0,
        }
    }

    fn subscriber(prefix: &'static [u8], capacity: usize) -> (Box<Sub>, Arc<Mutex<Log>>) {
        let log = Arc::new(Mutex::new(Log::default()));
        let sub = Sub {
            prefix,
            capacity,
            log: log.clone(),
        };
        (Box::new(sub), log)
    }

    #[test]
    fn matching_changes_arrive_in_order_after_the_snapshot() {
        let feed = ChangeFeed::new();
        let (sub, log) = subscriber(b"u1", 10);
        let mut taken = false;
        feed.subscribe(sub, &mut || taken = true).unwrap();
        assert!(taken, "the snapshot is taken as the subscriber joins");
        let batch = [
            change(b"u1/a", Some(b"1")),
            change(b"u2/a", Some(b"2")),
            change(b"u1/a", None),
        ];
        feed.apply(batch, || Ok::<(), ()>(())).unwrap();
        let log = log.lock().unwrap();
        assert_eq!(
            log.changes,
            vec![
                (b"u1/a".to_vec(), Some(b"1".to_vec())),
                (b"u1/a".to_vec(), None)
            ]
        );
    }

    #[test]
    fn a_failed_write_delivers_nothing() {
        let feed = ChangeFeed::new();
        let (sub, log) = subscriber(b"", 10);
        feed.subscribe(sub, &mut || ()).unwrap();
        let err = feed.apply([change(b"k", Some(b"v"))], || Err("disk full"));
        assert_eq!(err, Err("disk full"));
        assert!(log.lock().unwrap().changes.is_empty());
    }

    #[test]
    fn a_full_subscriber_is_ended_as_lagging_and_the_others_go_on() {
        let feed = ChangeFeed::new();
        let (slow, slow_log) = subscriber(b"", 1);
        let (fast, fast_log) = subscriber(b"", 10);
        feed.subscribe(slow, &mut || ()).unwrap();
        feed.subscribe(fast, &mut || ()).unwrap();
        let batch = [change(b"a", Some(b"1")), change(b"b", Some(b"2"))];
        feed.apply(batch, || Ok::<(), ()>(())).unwrap();
        assert_eq!(slow_log.lock().unwrap().ended, Some(FeedEnd::Lagging));
        assert_eq!(fast_log.lock().unwrap().changes.len(), 2);
        assert_eq!(feed.subscribers(), 1);
    }

    #[test]
    fn subscribers_that_are_gone_are_dropped_on_any_write() {
        struct Gone;
        impl ChangeSubscriber for Gone {
            fn matches(&self, _: &[u8]) -> bool {
                false
            }
            fn deliver(&mut self, _: AppliedChange<'_>) -> Delivery {
                Delivery::Gone
            }
            fn end(&mut self, _: FeedEnd) {}
            fn is_gone(&self) -> bool {
                true
            }
        }
        let feed = ChangeFeed::new();
        feed.subscribe(Box::new(Gone), &mut || ()).unwrap();
        feed.apply([change(b"k", None)], || Ok::<(), ()>(()))
            .unwrap();
        assert_eq!(feed.subscribers(), 0);
    }

    #[test]
    fn an_ended_feed_tells_its_subscribers_and_refuses_new_ones() {
        let feed = ChangeFeed::new();
        let (sub, log) = subscriber(b"", 10);
        feed.subscribe(sub, &mut || ()).unwrap();
        feed.end(FeedEnd::Moved);
        assert_eq!(log.lock().unwrap().ended, Some(FeedEnd::Moved));
        let (late, _) = subscriber(b"", 10);
        assert_eq!(
            feed.subscribe(late, &mut || ()).unwrap_err(),
            FeedEnd::Moved
        );
    }
}
