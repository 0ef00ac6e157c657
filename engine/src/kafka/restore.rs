use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};

use super::client::{ClientRole, client_config};
use super::kafka_error;
use crate::config::StreamsConfig;
use crate::error::{KafkaFailure, StreamsError};
use crate::task::{ChangelogReader, RestoreRecord};

/// The restore consumer's context: reaching the end of a partition is what restoration
/// waits for, so librdkafka's reports of it are not errors.
struct RestoreContext;

impl ClientContext for RestoreContext {
    fn error(&self, error: KafkaError, reason: &str) {
        match error {
            KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF) => {
                tracing::debug!(reason, "changelog partition end reached")
            }
            other => tracing::error!(error = %other, reason, "restore consumer error"),
        }
    }
}

impl ConsumerContext for RestoreContext {}

/// Where the reader is: the partition, the next offset, and whether it has reached the end.
struct Position {
    topic: String,
    partition: i32,
    next: i64,
    at_end: bool,
}

/// Reads changelog partitions for restoration with a consumer that is assigned partitions
/// directly (no group membership, no commits). A partition is read until librdkafka reports
/// its end (partition EOF), rather than up to a watermark fetched beforehand: the end is then
/// wherever the broker's fetch responses say it is.
pub struct KafkaChangelogReader {
    consumer: BaseConsumer<RestoreContext>,
    position: Option<Position>,
    idle_timeout: Duration,
}

impl KafkaChangelogReader {
    /// A restore consumer for the cluster in `config`.
    ///
    /// # Errors
    /// When librdkafka rejects the configuration.
    pub fn new(config: &StreamsConfig) -> Result<Self, StreamsError> {
        let consumer = client_config(config, ClientRole::RestoreConsumer)
            .set("enable.partition.eof", "true")
            .create_with_context(RestoreContext)
            .map_err(kafka_error("create the restore consumer"))?;
        Ok(Self {
            consumer,
            position: None,
            idle_timeout: Duration::from_secs(30),
        })
    }

    /// The end of `topic`/`partition` now (its high watermark): how far a standby reading
    /// it has to go.
    ///
    /// # Errors
    /// When the broker does not answer in time.
    pub(crate) fn end_offset(&self, topic: &str, partition: i32) -> Result<i64, StreamsError> {
        self.consumer
            .fetch_watermarks(topic, partition, Duration::from_secs(10))
            .map(|(_, high)| high)
            .map_err(kafka_error("read the end offset of a changelog"))
    }

    /// Moves to `topic`/`partition` at `from`, unless a read in progress is already there.
    /// A partition whose end was reached is assigned again, so that records written since
    /// are not missed by a later restoration.
    fn seek(&mut self, topic: &str, partition: i32, from: i64) -> Result<(), StreamsError> {
        if let Some(p) = &self.position
            && p.topic == topic
            && p.partition == partition
            && p.next == from
            && !p.at_end
        {
            return Ok(());
        }
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(topic, partition, Offset::Offset(from))
            .map_err(kafka_error("assign the changelog partition"))?;
        self.consumer
            .assign(&assignment)
            .map_err(kafka_error("assign the changelog partition"))?;
        self.position = Some(Position {
            topic: topic.to_owned(),
            partition,
            next: from,
            at_end: false,
        });
        Ok(())
    }
}

impl ChangelogReader for KafkaChangelogReader {
    fn known_end(&mut self, topic: &str, partition: i32) -> Option<i64> {
        self.end_offset(topic, partition).ok()
    }

    fn read_batch(
        &mut self,
        topic: &str,
        partition: i32,
        from: i64,
        max: usize,
    ) -> Result<Vec<RestoreRecord>, StreamsError> {
        self.seek(topic, partition, from)?;
        let position = self.position.as_mut().expect("seek sets the position");
        let mut batch = Vec::new();
        let mut last_progress = Instant::now();
        while !position.at_end && batch.len() < max {
            match self.consumer.poll(Duration::from_millis(100)) {
                None if last_progress.elapsed() > self.idle_timeout => {
                    return Err(StreamsError::kafka(
                        format!("restore from `{topic}` partition {partition}"),
                        KafkaFailure::detected(
                            format!(
                                "nothing arrived for {:?} after offset {}, and the end was not reached",
                                self.idle_timeout, position.next
                            ),
                            true,
                        ),
                    ));
                }
                None => {}
                Some(Err(KafkaError::PartitionEOF(_))) => {
                    position.at_end = true;
                    // Stop fetching in the background: an idle assignment would keep
                    // reporting the end of the partition.
                    self.consumer
                        .unassign()
                        .map_err(kafka_error("release the changelog partition"))?;
                }
                // librdkafka reconnects by itself after a dropped connection; the idle
                // timeout above bounds how long that may take.
                Some(Err(e)) if KafkaFailure::from(&e).retriable => {
                    tracing::warn!(error = %e, %topic, partition, "transient error while reading a changelog; retrying");
                }
                Some(Err(e)) => return Err(kafka_error("read the changelog")(e)),
                Some(Ok(message)) => {
                    last_progress = Instant::now();
                    position.next = message.offset() + 1;
                    // Changelog records always have a key; anything else is not ours to apply.
                    let Some(key) = message.key() else { continue };
                    let value = message.payload().map(<[u8]>::to_vec);
                    batch.push(RestoreRecord {
                        offset: message.offset(),
                        key: key.to_vec(),
                        value,
                        timestamp: message.timestamp().to_millis().unwrap_or(-1),
                    });
                }
            }
        }
        Ok(batch)
    }
}
