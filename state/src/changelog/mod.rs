//! Change logging: every write to a logged store is also handed to a [`ChangelogSink`],
//! which the Kafka runtime backs with a producer writing the store's changelog topic.

mod logging;

pub use logging::{ChangeLoggingKeyValueStore, TimestampedIter, TimestampedWrite};

use crate::StateError;

/// One change of a store, as it is written to the changelog topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangelogRecord<'a> {
    /// The store whose change this is.
    pub store: &'a str,
    /// The changelog topic.
    pub topic: &'a str,
    /// The changelog partition: the partition of the task that owns the store.
    pub partition: i32,
    /// The store key.
    pub key: &'a [u8],
    /// The new value; `None` is a delete (a tombstone in the changelog).
    pub value: Option<&'a [u8]>,
    /// The timestamp of the record that caused the change (ms).
    pub timestamp: i64,
}

/// Where change-logging stores send their changes.
pub trait ChangelogSink {
    /// Takes one change. Implementations may buffer; the runtime flushes them on commit
    /// before it writes checkpoints.
    ///
    /// # Errors
    /// When the change cannot be accepted (the producer has failed or is closed).
    fn send(&mut self, record: ChangelogRecord<'_>) -> Result<(), StateError>;
}

/// A sink that drops every change: for stores whose logging is disabled, and benchmarks.
#[derive(Debug, Default, Clone, Copy)]
pub struct DiscardingChangelog;

impl ChangelogSink for DiscardingChangelog {
    fn send(&mut self, _record: ChangelogRecord<'_>) -> Result<(), StateError> {
        Ok(())
    }
}
