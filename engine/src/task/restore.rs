//! Restoring stores from their changelogs.

use crate::error::StreamsError;

/// A changelog record read back for restoration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreRecord {
    /// Its offset in the changelog partition.
    pub offset: i64,
    /// The store key.
    pub key: Vec<u8>,
    /// The value; `None` is a delete.
    pub value: Option<Vec<u8>>,
    /// The record's timestamp: the timestamp the store keeps with the value.
    pub timestamp: i64,
}

/// Reads changelog partitions for restoration. The Kafka runtime reads with a dedicated
/// consumer; the test driver from its in-memory topics.
pub trait ChangelogReader {
    /// Up to `max` records of `topic`/`partition` at offsets `>= from`, in offset order. An
    /// empty batch means the end of the changelog is reached.
    ///
    /// # Errors
    /// When the changelog cannot be read.
    fn read_batch(
        &mut self,
        topic: &str,
        partition: i32,
        from: i64,
        max: usize,
    ) -> Result<Vec<RestoreRecord>, StreamsError>;

    /// Where `topic`/`partition` ends now, when the reader can tell cheaply: how far a
    /// restoration has to go, for its progress report. `None` (the default): unknown.
    fn known_end(&mut self, _topic: &str, _partition: i32) -> Option<i64> {
        None
    }
}

/// How one store was restored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreRestore {
    /// The store.
    pub store: String,
    /// Its changelog topic.
    pub topic: String,
    /// The changelog partition.
    pub partition: i32,
    /// Where restoration started: the checkpointed offset, or 0 for a full restore.
    pub from_offset: i64,
    /// The offset after the last restored record.
    pub next_offset: i64,
    /// How many records were applied.
    pub records: u64,
}

/// What restoring a task did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreReport {
    /// One entry per logged store.
    pub stores: Vec<StoreRestore>,
    /// Why the checkpoint could not be used, when the task fell back to a full restore of
    /// its persistent stores.
    pub checkpoint_fallback: Option<String>,
}

/// Records per restore batch: each batch is one store write.
pub(crate) const RESTORE_BATCH: usize = 10_000;
