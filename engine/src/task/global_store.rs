//! [`GlobalStore`]: the store of a global table in this process — every partition of its
//! topic, restored from the topic itself and then kept up to date record by record.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use tributary_state::{
    CachingKeyValueStore, ChangeFeed, ChangeLoggingKeyValueStore, Checkpoint, DiscardingChangelog,
    TimestampedWrite, ValueReader,
};

use super::options::TaskOptions;
use super::restore::RestoreRecord;
use super::storage::open_backend;
use crate::config::DeserializationHandler;
use crate::error::StreamsError;
use crate::record::RawRecord;
use crate::store::StoreSpec;
use crate::topology::GlobalTable;

/// A global table's store: the latest value of every key of its topic, stamped with the
/// record's timestamp, and the next offset of each partition it reflects. A persistent
/// store keeps those offsets in `<state.dir>/<application.id>/global/<store>/.checkpoint`,
/// so a restart reads only what it missed.
pub struct GlobalStore {
    table: GlobalTable,
    store: CachingKeyValueStore,
    handler: DeserializationHandler,
    /// The next offset of each partition (the checkpointed ones at first).
    offsets: BTreeMap<i32, i64>,
    checkpoint_path: PathBuf,
    /// Records skipped because they did not decode (with log-and-continue).
    undecodable: u64,
}

impl GlobalStore {
    /// Opens the store of `table` under the state directory of `options`.
    ///
    /// # Errors
    /// When the store cannot be opened or its checkpoint read.
    pub fn open(table: &GlobalTable, options: &TaskOptions) -> Result<Self, StreamsError> {
        let dir = options
            .state_dir
            .join(&options.application_id)
            .join("global")
            .join(table.store.name());
        std::fs::create_dir_all(&dir).map_err(|e| tributary_state::StateError::Io {
            operation: "create the global store's directory",
            path: dir.clone(),
            source: e,
        })?;
        let checkpoint_path = dir.join(".checkpoint");
        let checkpoint = match Checkpoint::read(&checkpoint_path) {
            Ok(checkpoint) => checkpoint,
            Err(e) => {
                tracing::warn!(store = table.store.name(), error = %e, "unreadable checkpoint; restoring the global store from the start of its topic");
                None
            }
        };
        let offsets: BTreeMap<i32, i64> = checkpoint
            .iter()
            .flat_map(Checkpoint::entries)
            .filter(|(topic, _, _)| *topic == table.topic)
            .map(|(_, partition, offset)| (partition, offset))
            .collect();
        let inner = open_backend(&table.store, &dir, &options.budget, !offsets.is_empty())?;
        let persistent = inner.persistent();
        let logged =
            ChangeLoggingKeyValueStore::new(inner, String::new(), 0, Box::new(DiscardingChangelog));
        Ok(Self {
            table: table.clone(),
            store: CachingKeyValueStore::new(logged, None),
            handler: options.deserialization_handler,
            // A store that starts empty reads its topic from the start.
            offsets: if persistent { offsets } else { BTreeMap::new() },
            checkpoint_path,
            undecodable: 0,
        })
    }

    /// The store's declaration.
    pub fn spec(&self) -> &StoreSpec {
        &self.table.store
    }

    /// The topic it reads.
    pub fn topic(&self) -> &str {
        &self.table.topic
    }

    /// The next offset to read from `partition`; `None`: from the start.
    pub fn next_offset(&self, partition: i32) -> Option<i64> {
        self.offsets.get(&partition).copied()
    }

    /// Records skipped so far because they did not decode (with log-and-continue).
    pub fn undecodable(&self) -> u64 {
        self.undecodable
    }

    /// Applies records of `partition` as they are, in one batch (restoration: the topic is
    /// the store's changelog).
    ///
    /// # Errors
    /// When the store fails to write.
    pub fn restore_batch(
        &mut self,
        partition: i32,
        records: &[RestoreRecord],
    ) -> Result<(), StreamsError> {
        let Some(last) = records.last() else {
            return Ok(());
        };
        let writes: Vec<TimestampedWrite<'_>> = records
            .iter()
            .map(|r| (r.key.as_slice(), r.value.as_deref(), r.timestamp))
            .collect();
        self.store.logged_mut().restore_batch(&writes)?;
        self.offsets.insert(partition, last.offset + 1);
        Ok(())
    }

    /// Applies one record of `partition` read while running: a record whose key or value
    /// does not decode is skipped or fails as `default.deserialization.exception.handler`
    /// says; a record without a key, or without a valid timestamp, is skipped; a null
    /// value deletes the key.
    ///
    /// # Errors
    /// An undecodable record with the fail handler, or a store failure.
    pub fn apply(&mut self, partition: i32, raw: &RawRecord) -> Result<(), StreamsError> {
        self.offsets.insert(partition, raw.offset + 1);
        let Some(key) = &raw.key else {
            self.skip(partition, raw, "it has no key");
            return Ok(());
        };
        if let Err((part, source)) = (self.table.check)(raw) {
            let error = StreamsError::Deserialization {
                topic: self.table.topic.clone(),
                partition,
                offset: raw.offset,
                part,
                source,
            };
            return match self.handler {
                DeserializationHandler::Fail => Err(error),
                DeserializationHandler::LogAndContinue => {
                    self.undecodable += 1;
                    self.skip(partition, raw, &error.to_string());
                    Ok(())
                }
            };
        }
        let Some(timestamp) = self.table.extractor.extract(raw) else {
            self.skip(partition, raw, "it has no valid timestamp");
            return Ok(());
        };
        self.store.put(key, raw.value.as_deref(), timestamp)?;
        Ok(())
    }

    fn skip(&self, partition: i32, raw: &RawRecord, why: &str) {
        tracing::warn!(topic = %self.table.topic, partition, offset = raw.offset, "global table `{}` skips a record: {why}", self.table.store.name());
    }

    /// Flushes the store and, when it is persistent, records the offsets it reflects.
    ///
    /// # Errors
    /// When the store fails to flush or the checkpoint cannot be written.
    pub fn checkpoint(&mut self) -> Result<(), StreamsError> {
        self.store.flush()?;
        if self.store.logged().persistent() {
            let mut checkpoint = Checkpoint::new();
            for (&partition, &offset) in &self.offsets {
                checkpoint.set(&self.table.topic, partition, offset);
            }
            checkpoint.write(&self.checkpoint_path)?;
        }
        Ok(())
    }

    /// A read handle other threads may use while this store is written.
    pub fn reader(&self) -> Arc<ValueReader> {
        self.store.read_only_handle()
    }

    /// The feed of the store's changes (for subscriptions).
    pub fn feed(&self) -> Arc<ChangeFeed> {
        self.store.feed()
    }
}
