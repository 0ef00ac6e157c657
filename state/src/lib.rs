//! State stores for Tributary.
//!
//! Tasks keep their state in the stores of this crate. Everything here works on bytes;
//! typed access (serdes) is layered on top by `tributary-engine`, which this crate does
//! not depend on.
//!
//! | module | what it holds |
//! |---|---|
//! | [`kv`] | the key-value store traits: [`ReadOnlyKeyValueStore`] and [`KeyValueStore`] |
//! | [`memory`] | [`InMemoryKeyValueStore`], a `BTreeMap` store |
//! | [`rocksdb`] | [`RocksDbKeyValueStore`] and the process-wide [`MemoryBudget`] |
//! | [`changelog`] | the change-logging layer and the [`ChangelogSink`] it hands changes to |
//! | [`cache`] | the [`RecordCache`] that collapses repeated updates between commits |
//! | [`caching`] | [`CachingKeyValueStore`]: cache, change logging and store stacked for a task |
//! | [`checkpoint`] | the atomically written [`Checkpoint`] file of changelog offsets |
//! | [`window`] | [`SegmentedWindowStore`]: window stores in time segments, RocksDB or in memory |
//! | [`window_key`] | how window stores key a record key's windows, and the [`KeyWindows`](window_key::KeyWindows) query |
//! | [`feed`] | the [`ChangeFeed`] that hands a store's applied writes to subscribers |
//! | [`timestamped`] | the stored form of values (timestamp, then value) and the [`ValueReader`] that hides it |
//!
//! Stores a task writes keep each value with the timestamp of the record that wrote it (see
//! [`timestamped`]), as Kafka Streams' timestamped stores do.
//!
//! Stores are durable through their changelog, not through RocksDB's write-ahead log:
//! local state can always be wiped and rebuilt by replaying the changelog into
//! [`ChangeLoggingKeyValueStore::restore_batch`].
#![warn(missing_docs)]

pub mod cache;
pub mod caching;
pub mod changelog;
pub mod checkpoint;
mod error;
pub mod feed;
pub mod kv;
pub mod memory;
pub mod rocksdb;
pub mod timestamped;
pub mod window;
pub mod window_key;

pub use cache::{CacheEntry, RecordCache};
pub use caching::{CachingKeyValueStore, FlushedEntry, TimestampedEntry};
pub use changelog::{
    ChangeLoggingKeyValueStore, ChangelogRecord, ChangelogSink, DiscardingChangelog,
    TimestampedIter, TimestampedWrite,
};
pub use checkpoint::Checkpoint;
pub use error::StateError;
pub use feed::{AppliedChange, ChangeFeed, ChangeSubscriber, Delivery, FeedEnd};
pub use kv::{KeyValue, KeyValueStore, KvIter, ReadOnlyKeyValueStore, WriteEntry};
pub use memory::InMemoryKeyValueStore;
pub use rocksdb::{MemoryBudget, RocksDbKeyValueStore};
pub use timestamped::{TimestampedBytes, ValueReader};
pub use window::{SegmentedWindowStore, WindowKeyValueStore, WindowReader};
