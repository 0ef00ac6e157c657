use std::collections::HashMap;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Message, Offset, TopicPartitionList};

use super::client::{ClientRole, client_config};
use super::kafka_error;
use crate::config::StreamsConfig;
use crate::error::{KafkaFailure, StreamsError, TopologyError};
use crate::topology::{InternalTopicKind, Topology};

/// Creates and inspects topics with librdkafka's admin client.
pub struct TopicAdmin {
    client: AdminClient<DefaultClientContext>,
    /// The admin client's librdkafka settings, reused for helper consumers.
    client_settings: Vec<(String, String)>,
    runtime: tokio::runtime::Runtime,
    timeout: Duration,
}

impl TopicAdmin {
    /// An admin client for the cluster in `config`.
    ///
    /// # Errors
    /// When librdkafka rejects the configuration.
    pub fn new(config: &StreamsConfig) -> Result<Self, StreamsError> {
        let settings = client_config(config, ClientRole::Admin);
        let client = settings
            .create()
            .map_err(kafka_error("create the admin client"))?;
        let client_settings = settings
            .config_map()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(|e| StreamsError::Lifecycle {
                doing: "start the admin client's runtime".into(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            client,
            client_settings,
            runtime,
            timeout: Duration::from_secs(30),
        })
    }

    /// The partition counts of those of `topics` that exist.
    ///
    /// # Errors
    /// When the cluster's metadata cannot be fetched.
    pub fn partition_counts(
        &self,
        topics: &[String],
    ) -> Result<HashMap<String, i32>, StreamsError> {
        let metadata = self
            .client
            .inner()
            .fetch_metadata(None, self.timeout)
            .map_err(kafka_error("fetch the cluster's metadata"))?;
        Ok(metadata
            .topics()
            .iter()
            .filter(|t| t.error().is_none() && topics.iter().any(|name| name == t.name()))
            .map(|t| (t.name().to_owned(), t.partitions().len() as i32))
            .collect())
    }

    /// A consumer with the admin client's settings plus `settings`, for reading offsets.
    fn helper_consumer(&self, settings: &[(&str, &str)]) -> Result<BaseConsumer, StreamsError> {
        let mut config = rdkafka::ClientConfig::new();
        for (key, value) in &self.client_settings {
            config.set(key, value);
        }
        for (key, value) in settings {
            config.set(*key, *value);
        }
        config
            .create()
            .map_err(kafka_error("create a consumer to read offsets"))
    }

    /// The offsets consumer group `group` has committed for `topic`'s partitions
    /// `0..partitions` (`None` where it committed nothing).
    ///
    /// # Errors
    /// When the group coordinator cannot be asked.
    pub fn committed_offsets(
        &self,
        group: &str,
        topic: &str,
        partitions: i32,
    ) -> Result<Vec<Option<i64>>, StreamsError> {
        let consumer = self.helper_consumer(&[("group.id", group)])?;
        let mut list = TopicPartitionList::new();
        for partition in 0..partitions {
            list.add_partition(topic, partition);
        }
        let committed = consumer
            .committed_offsets(list, self.timeout)
            .map_err(kafka_error("read committed offsets"))?;
        Ok((0..partitions)
            .map(
                |p| match committed.find_partition(topic, p).map(|e| e.offset()) {
                    Some(Offset::Offset(o)) => Some(o),
                    _ => None,
                },
            )
            .collect())
    }

    /// The end offset (the offset the next record will get) of `topic`'s partitions
    /// `0..partitions`. Each partition's high watermark is confirmed by reading from the
    /// record before it to the end of the partition, so that a broker whose high watermark
    /// lags inside the last record batch still gives the true end.
    ///
    /// # Errors
    /// When the watermarks cannot be fetched or the partitions read.
    pub fn end_offsets(&self, topic: &str, partitions: i32) -> Result<Vec<i64>, StreamsError> {
        let consumer = self.helper_consumer(&[
            ("group.id", "tributary-end-offsets"),
            ("enable.auto.commit", "false"),
            ("enable.partition.eof", "true"),
            ("fetch.wait.max.ms", "10"),
        ])?;
        let mut ends = Vec::new();
        let mut assignment = TopicPartitionList::new();
        for partition in 0..partitions {
            let (_, high) = consumer
                .fetch_watermarks(topic, partition, self.timeout)
                .map_err(kafka_error("fetch watermarks"))?;
            ends.push(high);
            assignment
                .add_partition_offset(topic, partition, Offset::Offset((high - 1).max(0)))
                .map_err(kafka_error("assign partitions to read end offsets"))?;
        }
        consumer
            .assign(&assignment)
            .map_err(kafka_error("assign partitions to read end offsets"))?;
        let deadline = std::time::Instant::now() + self.timeout;
        let mut at_end = vec![false; partitions as usize];
        while at_end.iter().any(|done| !done) {
            if std::time::Instant::now() > deadline {
                return Err(StreamsError::kafka(
                    format!("read the end offsets of `{topic}`"),
                    KafkaFailure::detected(
                        format!("the end was not reached within {:?}", self.timeout),
                        true,
                    ),
                ));
            }
            match consumer.poll(Duration::from_millis(100)) {
                None => {}
                Some(Err(KafkaError::PartitionEOF(partition))) => {
                    at_end[partition as usize] = true;
                }
                // librdkafka reconnects by itself after a dropped connection.
                Some(Err(e)) if KafkaFailure::from(&e).retriable => {
                    tracing::debug!(error = %e, "transient error while reading end offsets");
                }
                Some(Err(e)) => return Err(kafka_error("read end offsets")(e)),
                Some(Ok(message)) => {
                    let end = &mut ends[message.partition() as usize];
                    *end = (*end).max(message.offset() + 1);
                }
            }
        }
        Ok(ends)
    }

    /// Deletes the topics `names`; one that does not exist (any more) is no error.
    ///
    /// # Errors
    /// When the broker refuses to delete one.
    pub fn delete_topics(&self, names: &[String]) -> Result<(), StreamsError> {
        if names.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let options = AdminOptions::new().operation_timeout(Some(self.timeout));
        let results = self
            .runtime
            .block_on(self.client.delete_topics(&names, &options))
            .map_err(kafka_error("delete topics"))?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
                Err((topic, code)) => {
                    return Err(StreamsError::kafka(
                        format!("delete topic `{topic}`"),
                        KafkaFailure::with_code(code, code.to_string()),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Creates `name` with `partitions` partitions and `config`, unless it exists.
    ///
    /// # Errors
    /// When the broker refuses to create it.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        config: &[(&str, &str)],
    ) -> Result<(), StreamsError> {
        let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(-1));
        for (key, value) in config {
            topic = topic.set(key, value);
        }
        let options = AdminOptions::new().operation_timeout(Some(self.timeout));
        let results = self
            .runtime
            .block_on(self.client.create_topics([&topic], &options))
            .map_err(kafka_error("create topics"))?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => {
                    return Err(StreamsError::kafka(
                        format!("create topic `{topic}`"),
                        KafkaFailure::with_code(code, code.to_string()),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Checks the user topics of `topology` exist and are co-partitioned where they must be,
    /// creates its internal topics (changelogs compacted, with one partition per task;
    /// repartition topics with the partition count of their writers' inputs), and returns
    /// the partition count of every topic it touches.
    ///
    /// # Errors
    /// [`TopologyError::UnknownTopic`] naming a missing user topic,
    /// [`TopologyError::CoPartitionMismatch`] naming the topics and their counts, or a
    /// Kafka error.
    pub fn prepare(
        &self,
        topology: &Topology,
        application_id: &str,
    ) -> Result<HashMap<String, i32>, StreamsError> {
        let mut user_topics: Vec<String> = topology.source_topics();
        user_topics.extend(topology.sink_topics());
        let globals: Vec<String> = topology
            .global_tables()
            .iter()
            .map(|g| g.topic().to_owned())
            .collect();
        user_topics.extend(globals.iter().cloned());
        let existing = self.partition_counts(&user_topics)?;
        let mut counts = topology
            .resolve_partitions(application_id, &existing)
            .map_err(|e| match e {
                TopologyError::UnknownTopic { topic, role } => {
                    StreamsError::Topology(TopologyError::UnknownTopic {
                        topic,
                        role: if role.starts_with("read") {
                            "read by the topology does not exist on the cluster"
                        } else {
                            "written by the topology does not exist on the cluster"
                        },
                    })
                }
                other => StreamsError::Topology(other),
            })?;
        for topic in globals {
            let partitions = existing.get(&topic).copied().ok_or_else(|| {
                StreamsError::Topology(TopologyError::UnknownTopic {
                    topic: topic.clone(),
                    role: "read by a global table does not exist on the cluster",
                })
            })?;
            counts.insert(topic, partitions);
        }
        for topic in topology.internal_topics() {
            let name = topic.name.resolve(application_id);
            let partitions = counts[&name];
            match topic.kind {
                InternalTopicKind::Changelog => {
                    self.create_topic(&name, partitions, &[("cleanup.policy", "compact")])?
                }
                InternalTopicKind::WindowChangelog { retention_ms } => self.create_topic(
                    &name,
                    partitions,
                    &[
                        ("cleanup.policy", "compact,delete"),
                        ("retention.ms", &retention_ms.to_string()),
                    ],
                )?,
                InternalTopicKind::Repartition => self.create_topic(&name, partitions, &[])?,
            }
        }
        Ok(counts)
    }
}
