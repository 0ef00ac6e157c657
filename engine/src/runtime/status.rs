//! What an application is doing, read from the broker and the instance directory: its
//! consumer group's members, each live instance's partitions, and the lag of every
//! partition the group reads (`tributary status`).

use std::fmt;

use crate::config::StreamsConfig;
use crate::discovery::{Directory, InstanceInfo};
use crate::error::StreamsError;
use crate::kafka::{GroupView, KafkaChangelogReader, TopicAdmin};
use crate::names::{instances_topic, is_consumed_internal_topic};
use crate::task::ChangelogReader;

/// One partition the application's group reads, and how far behind it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    /// The topic (an input or an internal repartition topic).
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset the group committed; `None` before its first commit.
    pub committed: Option<i64>,
    /// The partition's end.
    pub end: i64,
}

impl PartitionLag {
    /// Records between the committed offset and the end.
    pub fn lag(&self) -> i64 {
        self.end - self.committed.unwrap_or(0)
    }
}

/// An application's state as the cluster sees it.
#[derive(Debug, Clone)]
pub struct ApplicationStatus {
    /// The application.
    pub application_id: String,
    /// The consumer group's members: client id and host.
    pub members: Vec<(String, String)>,
    /// Every live instance and the store partitions it hosts, by the instance directory.
    pub instances: Vec<InstanceInfo>,
    /// Every partition the group reads, with its lag.
    pub lag: Vec<PartitionLag>,
}

/// Reads the status of `config`'s application, whose input topics are `inputs` (its
/// internal repartition and foreign-key topics are found on the cluster).
///
/// # Errors
/// When an input topic does not exist or the broker cannot be asked.
pub fn application_status(
    config: &StreamsConfig,
    inputs: &[String],
) -> Result<ApplicationStatus, StreamsError> {
    let app = &config.application_id;
    let group = GroupView::open(config)?;
    let members = group.members()?;
    let mut read = group.input_partitions(inputs)?;
    let mut internal: Vec<(String, i32)> = group
        .topics()
        .filter(|(name, _)| is_consumed_internal_topic(app, name))
        .map(|(name, count)| (name.to_owned(), count))
        .collect();
    internal.sort();
    read.extend(internal);
    let admin = TopicAdmin::new(config)?;
    let mut lag = Vec::new();
    for (topic, count) in &read {
        let committed = admin.committed_offsets(app, topic, *count)?;
        let ends = admin.end_offsets(topic, *count)?;
        for (partition, (committed, end)) in committed.into_iter().zip(ends).enumerate() {
            lag.push(PartitionLag {
                topic: topic.clone(),
                partition: partition as i32,
                committed,
                end,
            });
        }
    }
    let directory = instances_topic(app);
    let instances = match group.topics().any(|(name, _)| name == directory) {
        true => read_directory(config)?,
        false => Vec::new(),
    };
    Ok(ApplicationStatus {
        application_id: app.clone(),
        members,
        instances,
        lag,
    })
}

/// The live instances the application's directory topic holds.
fn read_directory(config: &StreamsConfig) -> Result<Vec<InstanceInfo>, StreamsError> {
    let topic = instances_topic(&config.application_id);
    let mut reader = KafkaChangelogReader::new(config)?;
    let directory = Directory::default();
    let mut from = 0;
    loop {
        let batch = reader.read_batch(&topic, 0, from, 1000)?;
        let Some(last) = batch.last() else { break };
        from = last.offset + 1;
        for record in batch {
            let address = String::from_utf8_lossy(&record.key).into_owned();
            let info = record
                .value
                .as_deref()
                .and_then(|v| serde_json::from_slice::<InstanceInfo>(v).ok());
            directory.update(&address, info);
        }
    }
    Ok(directory.instances())
}

impl fmt::Display for ApplicationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "application `{}`: {} active member(s)",
            self.application_id,
            self.members.len()
        )?;
        for (client, host) in &self.members {
            writeln!(f, "  member {client} at {host}")?;
        }
        writeln!(f, "instances ({} live):", self.instances.len())?;
        for instance in &self.instances {
            writeln!(f, "  {}", instance.address)?;
            for (store, hosted) in &instance.stores {
                writeln!(
                    f,
                    "    {store}: active {:?}, restoring {:?}, standby {:?}",
                    hosted.active, hosted.restoring, hosted.standby
                )?;
            }
        }
        let width = self
            .lag
            .iter()
            .map(|l| l.topic.len())
            .max()
            .unwrap_or(5)
            .max(5);
        writeln!(
            f,
            "{:<width$}  {:>9}  {:>12}  {:>12}  {:>10}",
            "topic", "partition", "committed", "end", "lag"
        )?;
        for l in &self.lag {
            let committed = l.committed.map_or("-".to_owned(), |c| c.to_string());
            writeln!(
                f,
                "{:<width$}  {:>9}  {:>12}  {:>12}  {:>10}",
                l.topic,
                l.partition,
                committed,
                l.end,
                l.lag()
            )?;
        }
        Ok(())
    }
}
