//! The driver's in-memory topics, and the collector and changelog reader tasks use.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use tributary_state::{ChangelogRecord, ChangelogSink, StateError};

use crate::error::StreamsError;
use crate::processor::{OutgoingRecord, RecordCollector};
use crate::record::{Headers, RawRecord};
use crate::task::{ChangelogReader, RestoreRecord};

/// One topic: records per partition, and the order they were appended across partitions.
#[derive(Default)]
pub(crate) struct TopicLog {
    pub(crate) partitions: Vec<Vec<RawRecord>>,
    /// `(partition, offset)` in append order.
    pub(crate) order: Vec<(i32, usize)>,
}

/// Every topic of a driver.
#[derive(Default)]
pub(crate) struct Topics {
    pub(crate) logs: HashMap<String, TopicLog>,
    pub(crate) partition_counts: HashMap<String, i32>,
}

pub(crate) type SharedTopics = Rc<RefCell<Topics>>;

impl Topics {
    /// Appends a record; returns its offset.
    pub(crate) fn append(
        &mut self,
        topic: &str,
        partition: i32,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        timestamp: i64,
        headers: Headers,
    ) -> i64 {
        let count = self
            .partition_counts
            .get(topic)
            .copied()
            .unwrap_or(1)
            .max(partition + 1);
        let log = self.logs.entry(topic.to_owned()).or_default();
        if log.partitions.len() < count as usize {
            log.partitions.resize_with(count as usize, Vec::new);
        }
        let records = &mut log.partitions[partition as usize];
        let offset = records.len();
        records.push(RawRecord {
            offset: offset as i64,
            timestamp,
            key: key.map(<[u8]>::to_vec),
            value: value.map(<[u8]>::to_vec),
            headers,
        });
        log.order.push((partition, offset));
        offset as i64
    }

    fn end_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        let records = self.logs.get(topic)?.partitions.get(partition as usize)?;
        (!records.is_empty()).then_some(records.len() as i64)
    }
}

/// Writes task output into the driver's topics.
pub(crate) struct DriverCollector {
    pub(crate) topics: SharedTopics,
}

impl RecordCollector for DriverCollector {
    fn send(&mut self, r: OutgoingRecord<'_>) -> Result<(), StreamsError> {
        self.topics.borrow_mut().append(
            r.topic,
            r.partition,
            r.key,
            r.value,
            r.timestamp,
            r.headers.clone(),
        );
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamsError> {
        Ok(())
    }

    fn end_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        self.topics.borrow().end_offset(topic, partition)
    }

    fn changelog_sink(&self) -> Box<dyn ChangelogSink> {
        Box::new(DriverChangelog {
            topics: self.topics.clone(),
        })
    }
}

struct DriverChangelog {
    topics: SharedTopics,
}

impl ChangelogSink for DriverChangelog {
    fn send(&mut self, r: ChangelogRecord<'_>) -> Result<(), StateError> {
        self.topics.borrow_mut().append(
            r.topic,
            r.partition,
            Some(r.key),
            r.value,
            r.timestamp,
            Headers::new(),
        );
        Ok(())
    }
}

/// Reads changelogs back from the driver's topics.
pub(crate) struct DriverChangelogReader {
    pub(crate) topics: SharedTopics,
}

impl ChangelogReader for DriverChangelogReader {
    fn read_batch(
        &mut self,
        topic: &str,
        partition: i32,
        from: i64,
        max: usize,
    ) -> Result<Vec<RestoreRecord>, StreamsError> {
        let topics = self.topics.borrow();
        let Some(records) = topics
            .logs
            .get(topic)
            .and_then(|l| l.partitions.get(partition as usize))
        else {
            return Ok(Vec::new());
        };
        Ok(records
            .iter()
            .skip(from.max(0) as usize)
            .take(max)
            .map(|r| RestoreRecord {
                offset: r.offset,
                key: r.key.clone().unwrap_or_default(),
                value: r.value.clone(),
                timestamp: r.timestamp,
            })
            .collect())
    }
}
