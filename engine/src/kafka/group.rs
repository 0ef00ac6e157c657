//! An application's consumer group seen from outside it, as `tributary reset` and
//! `tributary status` see it: a consumer in the group that never joins, the group's active
//! members, and the cluster's topics.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::metadata::Metadata;

use super::client::{ClientRole, client_config};
use super::kafka_error;
use crate::config::StreamsConfig;
use crate::error::StreamsError;

/// How long a broker may take to answer.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(30);

/// A view of one application's group and of the cluster's topics.
pub(crate) struct GroupView {
    application_id: String,
    consumer: BaseConsumer,
    metadata: Metadata,
}

impl GroupView {
    /// A consumer in `config`'s application group (it never joins), and the cluster's
    /// topics now.
    ///
    /// # Errors
    /// When the consumer cannot be created or the metadata fetched.
    pub(crate) fn open(config: &StreamsConfig) -> Result<Self, StreamsError> {
        let consumer: BaseConsumer = client_config(config, ClientRole::Consumer)
            .set("statistics.interval.ms", "0")
            .create()
            .map_err(kafka_error("create a consumer of the application's group"))?;
        let metadata = consumer
            .fetch_metadata(None, TIMEOUT)
            .map_err(kafka_error("fetch the cluster's metadata"))?;
        Ok(Self {
            application_id: config.application_id.clone(),
            consumer,
            metadata,
        })
    }

    /// The consumer, for committing or reading offsets on the group's behalf.
    pub(crate) fn consumer(&self) -> &BaseConsumer {
        &self.consumer
    }

    /// The group's active members: client id and host.
    ///
    /// # Errors
    /// When the group cannot be described.
    pub(crate) fn members(&self) -> Result<Vec<(String, String)>, StreamsError> {
        let app = &self.application_id;
        let groups = self
            .consumer
            .fetch_group_list(Some(app), TIMEOUT)
            .map_err(kafka_error("describe the application's consumer group"))?;
        Ok(groups
            .groups()
            .iter()
            .filter(|g| g.name() == app)
            .flat_map(|g| g.members())
            .map(|m| (m.client_id().to_owned(), m.client_host().to_owned()))
            .collect())
    }

    /// Every topic of the cluster with its partition count.
    pub(crate) fn topics(&self) -> impl Iterator<Item = (&str, i32)> {
        self.metadata
            .topics()
            .iter()
            .filter(|t| t.error().is_none())
            .map(|t| (t.name(), t.partitions().len() as i32))
    }

    /// The partition count of each of `inputs`.
    ///
    /// # Errors
    /// [`StreamsError::Config`] naming an input topic that does not exist.
    pub(crate) fn input_partitions(
        &self,
        inputs: &[String],
    ) -> Result<Vec<(String, i32)>, StreamsError> {
        inputs
            .iter()
            .map(|input| {
                let count = self
                    .topics()
                    .find(|(name, _)| name == input)
                    .map(|(_, count)| count)
                    .ok_or_else(|| StreamsError::Config {
                        key: "input".into(),
                        reason: format!("topic `{input}` does not exist on the cluster"),
                    })?;
                Ok((input.clone(), count))
            })
            .collect()
    }
}
