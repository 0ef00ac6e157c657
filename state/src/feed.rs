//! Change feeds: how subscribers hear of every write applied to a store.
//!
//! A store's writer applies each batch inside [`ChangeFeed::apply`], which holds the feed's
//! lock while the batch is written and handed to the subscribers. A new subscriber takes
//! its snapshot inside [`ChangeFeed::subscribe`], under the same lock. So every change is
//! either in a subscriber's snapshot or delivered to it afterwards, never both and never
//! neither, and changes reach each subscriber in the order they were applied.

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
    /// Set once the store has left the process: later subscriptions are refused.
    ended: Option<FeedEnd>,
}

/// The subscribers of one store partition.
#[derive(Default)]
pub struct ChangeFeed {
    subscribers: Mutex<Subscribers>,
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

    /// Runs `write` (which applies `changes` to the store) and then hands each change to
    /// the subscribers whose filter matches, all under the feed's lock. Subscribers that
    /// are gone are dropped; those that are full are ended with [`FeedEnd::Lagging`].
    ///
    /// # Errors
    /// `write`'s error; then nothing is delivered.
    pub fn apply<'a, E>(
        &self,
        changes: impl IntoIterator<Item = AppliedChange<'a>>,
        write: impl FnOnce() -> Result<(), E>,
    ) -> Result<(), E> {
        let mut subscribers = self.lock();
        write()?;
        if subscribers.live.is_empty() {
            return Ok(());
        }
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
        Ok(())
    }

    /// Takes a snapshot with `snapshot` and registers `subscriber`, atomically with respect
    /// to writes: every change after the snapshot reaches the subscriber.
    ///
    /// # Errors
    /// The reason the feed ended, when the store has already left the process.
    pub fn subscribe<R>(
        &self,
        snapshot: impl FnOnce() -> R,
        subscriber: Box<dyn ChangeSubscriber>,
    ) -> Result<R, FeedEnd> {
        let mut subscribers = self.lock();
        if let Some(reason) = subscribers.ended {
            return Err(reason);
        }
        let taken = snapshot();
        subscribers.live.push(subscriber);
        Ok(taken)
    }

    /// Ends every subscription with `reason` and refuses new ones.
    pub fn end(&self, reason: FeedEnd) {
        let mut subscribers = self.lock();
        subscribers.ended = Some(reason);
        for mut s in subscribers.live.drain(..) {
            s.end(reason);
        }
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
        let snapshot = feed.subscribe(|| "snap", sub).unwrap();
        assert_eq!(snapshot, "snap");
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
        feed.subscribe(|| (), sub).unwrap();
        let err = feed.apply([change(b"k", Some(b"v"))], || Err("disk full"));
        assert_eq!(err, Err("disk full"));
        assert!(log.lock().unwrap().changes.is_empty());
    }

    #[test]
    fn a_full_subscriber_is_ended_as_lagging_and_the_others_go_on() {
        let feed = ChangeFeed::new();
        let (slow, slow_log) = subscriber(b"", 1);
        let (fast, fast_log) = subscriber(b"", 10);
        feed.subscribe(|| (), slow).unwrap();
        feed.subscribe(|| (), fast).unwrap();
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
        feed.subscribe(|| (), Box::new(Gone)).unwrap();
        feed.apply([change(b"k", None)], || Ok::<(), ()>(()))
            .unwrap();
        assert_eq!(feed.subscribers(), 0);
    }

    #[test]
    fn an_ended_feed_tells_its_subscribers_and_refuses_new_ones() {
        let feed = ChangeFeed::new();
        let (sub, log) = subscriber(b"", 10);
        feed.subscribe(|| (), sub).unwrap();
        feed.end(FeedEnd::Moved);
        assert_eq!(log.lock().unwrap().ended, Some(FeedEnd::Moved));
        let (late, _) = subscriber(b"", 10);
        assert_eq!(feed.subscribe(|| (), late).unwrap_err(), FeedEnd::Moved);
    }
}
