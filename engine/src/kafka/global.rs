//! [`GlobalConsumer`]: reads every partition of the global tables' topics, without a
//! consumer group, from the offsets their stores reflect.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};

use super::client::{ClientRole, client_config};
use super::{kafka_error, raw_record};
use crate::config::StreamsConfig;
use crate::error::{KafkaFailure, StreamsError};
use crate::record::RawRecord;

/// The global consumer's context: reaching the end of a partition is how restoration
/// knows it is done, so librdkafka's reports of it are not errors.
struct GlobalContext;

impl ClientContext for GlobalContext {
    fn error(&self, error: KafkaError, reason: &str) {
        match error {
            KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF) => {}
            other => tracing::error!(error = %other, reason, "global consumer error"),
        }
    }
}

impl ConsumerContext for GlobalContext {}

/// What one poll gave.
pub enum Polled {
    /// A record of `topic` partition `partition`.
    Record {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The record.
        record: RawRecord,
    },
    /// The end of a partition was reached (it may grow again).
    End,
    /// Nothing within the timeout.
    Nothing,
}

/// A consumer assigned every partition of the global tables' topics.
pub struct GlobalConsumer {
    consumer: BaseConsumer<GlobalContext>,
    /// Partitions not yet read up to where they ended when reading began, with that end.
    behind: BTreeMap<(String, i32), i64>,
}

impl GlobalConsumer {
    /// Reads each `(topic, partition, next offset)` from that offset (`None`: the start).
    ///
    /// # Errors
    /// When librdkafka rejects the configuration or the assignment.
    pub fn new(
        config: &StreamsConfig,
        assignment: &[(String, i32, Option<i64>)],
    ) -> Result<Self, StreamsError> {
        let consumer: BaseConsumer<GlobalContext> =
            client_config(config, ClientRole::GlobalConsumer)
                .set("enable.partition.eof", "true")
                .create_with_context(GlobalContext)
                .map_err(kafka_error("create the global consumer"))?;
        let mut list = TopicPartitionList::new();
        for (topic, partition, next) in assignment {
            let offset = next.map_or(Offset::Beginning, Offset::Offset);
            list.add_partition_offset(topic, *partition, offset)
                .map_err(kafka_error("assign the global tables' partitions"))?;
        }
        consumer
            .assign(&list)
            .map_err(kafka_error("assign the global tables' partitions"))?;
        let mut behind = BTreeMap::new();
        for (topic, partition, next) in assignment {
            let (low, high) = consumer
                .fetch_watermarks(topic, *partition, Duration::from_secs(30))
                .map_err(kafka_error("read the global tables' topic ends"))?;
            if next.unwrap_or(low).max(low) < high {
                behind.insert((topic.clone(), *partition), high);
            }
        }
        Ok(Self { consumer, behind })
    }

    /// Whether every partition's end has been reached once: the stores have caught up
    /// with their topics as of the start.
    pub fn caught_up(&self) -> bool {
        self.behind.is_empty()
    }

    /// Waits up to `timeout` for a record.
    ///
    /// # Errors
    /// A Kafka error other than reaching a partition's end.
    pub fn poll(&mut self, timeout: Duration) -> Result<Polled, StreamsError> {
        match self.consumer.poll(timeout) {
            None => Ok(Polled::Nothing),
            Some(Err(KafkaError::PartitionEOF(_))) => {
                // The report names no topic; the positions tell which partitions are done
                // (the last offsets may be transaction markers, never delivered).
                if !self.behind.is_empty() {
                    let positions = self
                        .consumer
                        .position()
                        .map_err(kafka_error("read the global consumer's positions"))?;
                    for element in positions.elements() {
                        let key = (element.topic().to_owned(), element.partition());
                        if let (Some(&end), Offset::Offset(at)) =
                            (self.behind.get(&key), element.offset())
                            && at >= end
                        {
                            self.behind.remove(&key);
                        }
                    }
                }
                Ok(Polled::End)
            }
            // librdkafka reconnects by itself after a dropped connection.
            Some(Err(e)) if KafkaFailure::from(&e).retriable => {
                tracing::warn!(error = %e, "transient error while reading the global tables' topics; retrying");
                Ok(Polled::Nothing)
            }
            Some(Err(e)) => Err(kafka_error("read the global tables' topics")(e)),
            Some(Ok(message)) => {
                let key = (message.topic().to_owned(), message.partition());
                if self
                    .behind
                    .get(&key)
                    .is_some_and(|&end| message.offset() + 1 >= end)
                {
                    self.behind.remove(&key);
                }
                Ok(Polled::Record {
                    topic: key.0,
                    partition: key.1,
                    record: raw_record(&message),
                })
            }
        }
    }
}
