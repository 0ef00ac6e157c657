use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    delivered: Mutex<HashMap<(String, i32), i64>>,
    failure: Mutex<Option<String>>,
}

impl ClientContext for DeliveryTracker {}

impl ProducerContext for DeliveryTracker {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(message) => {
                let mut delivered = self.delivered.lock().unwrap_or_else(|p| p.into_inner());
                let end = delivered
                    .entry((message.topic().to_owned(), message.partition()))
                    .or_insert(0);
                *end = (*end).max(message.offset() + 1);
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

/// A [`RecordCollector`] writing through an idempotent librdkafka producer. Clones share the
/// producer: one per stream thread, used by all its tasks and their changelogs.
#[derive(Clone)]
pub struct KafkaCollector {
    producer: Shared,
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
            flush_timeout: Duration::from_secs(60),
        })
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
        self.producer
            .flush(self.flush_timeout)
            .map_err(kafka_error("flush the producer"))?;
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

    fn end_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        let delivered = self
            .producer
            .context()
            .delivered
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        delivered.get(&(topic.to_owned(), partition)).copied()
    }

    fn changelog_sink(&self) -> Box<dyn ChangelogSink> {
        Box::new(self.clone())
    }
}

impl ChangelogSink for KafkaCollector {
    fn send(&mut self, r: ChangelogRecord<'_>) -> Result<(), StateError> {
        send(
            &self.producer,
            r.topic,
            r.partition,
            Some(r.key),
            r.value,
            r.timestamp,
            None,
        )
        .map_err(|reason| StateError::Changelog {
            store: r.topic.trim_end_matches("-changelog").to_owned(),
            topic: r.topic.to_owned(),
            reason,
        })
    }
}
