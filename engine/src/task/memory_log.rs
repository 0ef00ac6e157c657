//! In-memory topics written in transactions, for driving tasks without a broker in tests
//! and benchmarks.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use tributary_state::{ChangelogRecord, ChangelogSink, StateError};

use crate::error::StreamsError;
use crate::processor::collector::{OutgoingRecord, RecordCollector};
use crate::task::restore::{ChangelogReader, RestoreRecord};

/// One record of a topic: key, value (`None` for a tombstone) and timestamp.
pub type LogEntry = (Vec<u8>, Option<Vec<u8>>, i64);

/// Per topic (one partition each), the committed records and those of the open transaction.
#[derive(Default)]
struct Topics {
    committed: HashMap<String, Vec<LogEntry>>,
    open: HashMap<String, Vec<LogEntry>>,
}

/// Topics that behave as Kafka's do under transactions, shared by a task's collector, its
/// changelogs and its restoration (clones share the topics): what a task sends joins the
/// open transaction; [`MemoryLog::commit`] makes it readable, [`MemoryLog::abort`] drops
/// it. Restoration reads committed records only.
#[derive(Clone, Default)]
pub struct MemoryLog(Rc<RefCell<Topics>>);

impl MemoryLog {
    fn append(&self, topic: &str, key: &[u8], value: Option<&[u8]>, timestamp: i64) {
        let record = (key.to_vec(), value.map(<[u8]>::to_vec), timestamp);
        let mut topics = self.0.borrow_mut();
        topics
            .open
            .entry(topic.to_owned())
            .or_default()
            .push(record);
    }

    /// Commits the open transaction.
    pub fn commit(&self) {
        let mut topics = self.0.borrow_mut();
        let open = std::mem::take(&mut topics.open);
        for (topic, records) in open {
            topics.committed.entry(topic).or_default().extend(records);
        }
    }

    /// Aborts the open transaction: its records are never read.
    pub fn abort(&self) {
        self.0.borrow_mut().open.clear();
    }

    /// The committed records of `topic`.
    pub fn committed(&self, topic: &str) -> Vec<LogEntry> {
        let topics = self.0.borrow();
        topics.committed.get(topic).cloned().unwrap_or_default()
    }
}

impl RecordCollector for MemoryLog {
    fn send(&mut self, r: OutgoingRecord<'_>) -> Result<(), StreamsError> {
        self.append(r.topic, r.key.unwrap_or_default(), r.value, r.timestamp);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamsError> {
        Ok(())
    }

    /// The offset after the last record sent, as a producer's delivery reports say.
    fn end_offset(&self, topic: &str, _: i32) -> Option<i64> {
        let topics = self.0.borrow();
        let len = |m: &HashMap<String, Vec<LogEntry>>| m.get(topic).map_or(0, Vec::len);
        Some((len(&topics.committed) + len(&topics.open)) as i64)
    }

    fn changelog_sink(&self) -> Box<dyn ChangelogSink> {
        Box::new(self.clone())
    }
}

impl ChangelogSink for MemoryLog {
    fn send(&mut self, r: ChangelogRecord<'_>) -> Result<(), StateError> {
        self.append(r.topic, r.key, r.value, r.timestamp);
        Ok(())
    }
}

impl ChangelogReader for MemoryLog {
    fn read_batch(
        &mut self,
        topic: &str,
        _: i32,
        from: i64,
        max: usize,
    ) -> Result<Vec<RestoreRecord>, StreamsError> {
        let topics = self.0.borrow();
        let records = topics.committed.get(topic).map_or(&[][..], Vec::as_slice);
        let from = usize::try_from(from).unwrap_or(0).min(records.len());
        Ok(records[from..]
            .iter()
            .take(max)
            .enumerate()
            .map(|(i, (key, value, timestamp))| RestoreRecord {
                offset: (from + i) as i64,
                key: key.clone(),
                value: value.clone(),
                timestamp: *timestamp,
            })
            .collect())
    }
}
