use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Message};
use tributary_state::{ChangelogRecord, ChangelogSink, StateError};

use super::client::{ClientRole, client_config};
use super::kafka_error;
use crate::config::StreamsConfig;
use crate::error::StreamsError;
use crate::record::Headers;
use crate::task::{OutgoingRecord, RecordCollector};

/// Tracks what the brokers acknowledged: the offset after the last delivered record of each
/// partition, and the first delivery failure.
#[derive(Default)]
pub struct DeliveryTracker {
    /// Topic → the offset after the last delivered record, by partition (`None`: nothing
    /// delivered). Looked up by `&str`, so a delivery report allocates nothing.
    delivered: Mutex<HashMap<String, Vec<Option<i64>>>>,
    failure: Mutex<Option<String>>,
}

impl ClientContext for DeliveryTracker {}

impl ProducerContext for DeliveryTracker {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(message) => {
                let mut delivered = self.delivered.lock().unwrap_or_else(|p| p.into_inner());
                let partitions = match delivered.get_mut(message.topic()) {
                    Some(partitions) => partitions,
                    None => delivered.entry(message.topic().to_owned()).or_default(),
                };
                let index = message.partition().max(0) as usize;
                if partitions.len() <= index {
                    partitions.resize(index + 1, None);
                }
                let end = &mut partitions[index];
                *end = Some(end.unwrap_or(0).max(message.offset() + 1));
            }
            Err((error, message)) => {
                let mut failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
                failure.get_or_insert_with(|| {
                    format!(
                        "a record for `{}` partition {} was not delivered: {error}",
                        message.topic(),
                        message.partition()
                    )
                });
            }
        }
    }
}

type Shared = Arc<BaseProducer<DeliveryTracker>>;

/// Changelog records held back until the records sent before them are acknowledged.
#[derive(Default)]
struct HeldChangelog {
    /// Topics of the held records (a stream thread logs to a handful).
    topics: Vec<String>,
    records: Vec<HeldRecord>,
}

struct HeldRecord {
    topic: usize,
    partition: i32,
    key: Vec<u8>,
    value: Option<Vec<u8>>,
    timestamp: i64,
}

/// How many changelog records are held before they are released without waiting for a
/// commit.
const HELD_CHANGELOG_LIMIT: usize = 20_000;

/// A [`RecordCollector`] writing through an idempotent librdkafka producer. Clones share the
/// producer: one per stream thread, used by all its tasks and their changelogs.
///
/// Changelog records are held back and sent only once every record sent before them (to
/// sinks and repartition topics) is acknowledged: at each flush, or earlier when many are
/// held. A changelog is then never ahead of what its task wrote downstream, so that after a
/// crash, a store restored to the end of its changelog and records processed again produce
/// the same downstream records rather than lose some. Without this, a table regrouped by
/// a new key could keep a row under its old key forever: the old key's retraction lost in
/// flight, and the restored store no longer knowing the old key.
#[derive(Clone)]
pub struct KafkaCollector {
    producer: Shared,
    held: Arc<Mutex<HeldChangelog>>,
    flush_timeout: Duration,
}

impl KafkaCollector {
    /// A producer for the cluster in `config`.
    ///
    /// # Errors
    /// When librdkafka rejects the configuration.
    pub fn new(config: &StreamsConfig) -> Result<Self, StreamsError> {
        let producer = client_config(config, ClientRole::Producer)
            .create_with_context(DeliveryTracker::default())
            .map_err(kafka_error("create the producer"))?;
        Ok(Self {
            producer: Arc::new(producer),
            held: Arc::default(),
            flush_timeout: Duration::from_secs(60),
        })
    }

    /// Waits for every record sent so far, and fails on the first record not delivered.
    fn flush_producer(&self) -> Result<(), StreamsError> {
        // librdkafka's flush as rdkafka wraps it wakes in 100 ms steps; serving delivery
        // reports in 1 ms polls returns as soon as the last one is in.
        let deadline = Instant::now() + self.flush_timeout;
        while self.producer.in_flight_count() > 0 {
            if Instant::now() > deadline {
                return Err(StreamsError::Kafka {
                    doing: "flush the producer".into(),
                    reason: format!(
                        "{} records were not acknowledged within {:?}",
                        self.producer.in_flight_count(),
                        self.flush_timeout
                    ),
                });
            }
            self.producer.poll(Duration::from_millis(1));
        }
        let tracker = self.producer.context();
        match tracker
            .failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            Some(reason) => Err(StreamsError::Kafka {
                doing: "deliver records".into(),
                reason,
            }),
            None => Ok(()),
        }
    }

    /// Waits for everything sent so far, then sends the held changelog records.
    fn release_changelog(&self) -> Result<(), StreamsError> {
        self.flush_producer()?;
        let held = std::mem::take(&mut *self.held.lock().unwrap_or_else(|p| p.into_inner()));
        for r in held.records {
            let topic = &held.topics[r.topic];
            send(
                &self.producer,
                topic,
                r.partition,
                Some(&r.key),
                r.value.as_deref(),
                r.timestamp,
                None,
            )
            .map_err(|reason| StreamsError::Produce {
                topic: topic.clone(),
                reason,
            })?;
        }
        Ok(())
    }
}

/// Sends one record, waiting for room while librdkafka's queue is full.
fn send(
    producer: &Shared,
    topic: &str,
    partition: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    timestamp: i64,
    headers: Option<OwnedHeaders>,
) -> Result<(), String> {
    let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic)
        .partition(partition)
        .timestamp(timestamp);
    if let Some(key) = key {
        record = record.key(key);
    }
    if let Some(value) = value {
        record = record.payload(value);
    }
    if let Some(headers) = headers {
        record = record.headers(headers);
    }
    loop {
        match producer.send(record) {
            Ok(()) => {
                producer.poll(Duration::ZERO);
                return Ok(());
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                record = returned;
                producer.poll(Duration::from_millis(10));
            }
            Err((error, _)) => return Err(error.to_string()),
        }
    }
}

fn owned_headers(headers: &Headers) -> Option<OwnedHeaders> {
    if headers.is_empty() {
        return None;
    }
    let mut owned = OwnedHeaders::new_with_capacity(headers.len());
    for (key, value) in headers {
        owned = owned.insert(Header {
            key,
            value: value.as_deref(),
        });
    }
    Some(owned)
}

impl RecordCollector for KafkaCollector {
    fn send(&mut self, r: OutgoingRecord<'_>) -> Result<(), StreamsError> {
        send(
            &self.producer,
            r.topic,
            r.partition,
            r.key,
            r.value,
            r.timestamp,
            owned_headers(r.headers),
        )
        .map_err(|reason| StreamsError::Produce {
            topic: r.topic.to_owned(),
            reason,
        })
    }

    fn flush(&mut self) -> Result<(), StreamsError> {
        self.release_changelog()?;
        self.flush_producer()
    }

    fn end_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        let delivered = self
            .producer
            .context()
            .delivered
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        delivered
            .get(topic)
            .and_then(|partitions| partitions.get(usize::try_from(partition).ok()?).copied())
            .flatten()
    }

    fn changelog_sink(&self) -> Box<dyn ChangelogSink> {
        Box::new(self.clone())
    }
}

impl ChangelogSink for KafkaCollector {
    fn send(&mut self, r: ChangelogRecord<'_>) -> Result<(), StateError> {
        let full = {
            let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
            let topic = match held.topics.iter().position(|t| t == r.topic) {
                Some(index) => index,
                None => {
                    held.topics.push(r.topic.to_owned());
                    held.topics.len() - 1
                }
            };
            held.records.push(HeldRecord {
                topic,
                partition: r.partition,
                key: r.key.to_vec(),
                value: r.value.map(<[u8]>::to_vec),
                timestamp: r.timestamp,
            });
            held.records.len() >= HELD_CHANGELOG_LIMIT
        };
        if full {
            self.release_changelog()
                .map_err(|e| StateError::Changelog {
                    store: r.topic.trim_end_matches("-changelog").to_owned(),
                    topic: r.topic.to_owned(),
                    reason: e.to_string(),
                })?;
        }
        Ok(())
    }
}
