//! Replaying an application from its inputs, as Kafka's application reset tool does: the
//! consumer group's offsets on the input topics move back, the internal topics that hold
//! derived data (changelogs, repartition and foreign-key topics) are deleted, and so is the
//! local state on this machine. The next start rebuilds every store from the inputs.

use std::fmt;
use std::path::PathBuf;

use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use super::admin::TopicAdmin;
use super::group::{GroupView, TIMEOUT};
use super::kafka_error;
use crate::config::StreamsConfig;
use crate::error::StreamsError;
use crate::names::is_derived_topic;

/// Where a reset moves the application's input offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetTo {
    /// The beginning of each input partition.
    Earliest,
    /// The first record at or after this time (ms since the epoch) in each input
    /// partition, or its end when there is none.
    Time(i64),
}

/// What a reset does; a dry run prints it and does nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetPlan {
    /// The application, and its consumer group.
    pub application_id: String,
    /// Each input partition and the offset the group resumes from.
    pub offsets: Vec<(String, i32, i64)>,
    /// The internal topics deleted.
    pub delete_topics: Vec<String>,
    /// The application's local state directory on this machine, deleted when it exists.
    pub state_dir: PathBuf,
}

impl fmt::Display for ResetPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "reset of application `{}`:", self.application_id)?;
        for (topic, partition, offset) in &self.offsets {
            writeln!(
                f,
                "  input `{topic}` partition {partition}: resume at offset {offset}"
            )?;
        }
        for topic in &self.delete_topics {
            writeln!(f, "  delete internal topic `{topic}`")?;
        }
        match self.state_dir.exists() {
            true => writeln!(f, "  delete local state `{}`", self.state_dir.display()),
            false => writeln!(f, "  no local state at `{}`", self.state_dir.display()),
        }
    }
}

/// Plans the reset of `config`'s application over its input topics `inputs`.
///
/// # Errors
/// When the application's consumer group has active members (they are named: stop them
/// first), an input topic does not exist, or the broker cannot be asked.
pub fn plan_reset(
    config: &StreamsConfig,
    inputs: &[String],
    to: ResetTo,
) -> Result<ResetPlan, StreamsError> {
    let app = &config.application_id;
    let group = GroupView::open(config)?;
    let members = group.members()?;
    if !members.is_empty() {
        let named: Vec<String> = members
            .iter()
            .map(|(client, host)| format!("{client} at {host}"))
            .collect();
        return Err(StreamsError::Lifecycle {
            doing: format!("reset application `{app}`"),
            reason: format!(
                "its consumer group has {} active member(s): {}; stop every instance first",
                named.len(),
                named.join(", ")
            ),
        });
    }
    let consumer = group.consumer();
    let mut wanted = TopicPartitionList::new();
    for (input, count) in group.input_partitions(inputs)? {
        for partition in 0..count {
            let offset = match to {
                ResetTo::Earliest => Offset::Beginning,
                ResetTo::Time(ms) => Offset::Offset(ms),
            };
            wanted
                .add_partition_offset(&input, partition, offset)
                .map_err(kafka_error("list the input partitions"))?;
        }
    }
    let mut offsets = Vec::new();
    for element in wanted.elements() {
        let (topic, partition) = (element.topic(), element.partition());
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, TIMEOUT)
            .map_err(kafka_error("read an input partition's offsets"))?;
        let offset = match to {
            ResetTo::Earliest => low,
            ResetTo::Time(_) => {
                let mut one = TopicPartitionList::new();
                one.add_partition_offset(topic, partition, element.offset())
                    .map_err(kafka_error("list an input partition"))?;
                let found = consumer
                    .offsets_for_times(one, TIMEOUT)
                    .map_err(kafka_error("find the offsets for the time"))?;
                match found.find_partition(topic, partition).map(|e| e.offset()) {
                    Some(Offset::Offset(offset)) => offset.clamp(low, high),
                    _ => high,
                }
            }
        };
        offsets.push((topic.to_owned(), partition, offset));
    }
    let mut delete_topics: Vec<String> = group
        .topics()
        .filter(|(name, _)| is_derived_topic(app, name))
        .map(|(name, _)| name.to_owned())
        .collect();
    delete_topics.sort();
    Ok(ResetPlan {
        application_id: app.clone(),
        offsets,
        delete_topics,
        state_dir: config.state_dir.join(app),
    })
}

/// Carries out `plan`: commits the input offsets for the group, deletes the internal
/// topics and the local state.
///
/// # Errors
/// When the broker refuses the commit (an instance started since the plan was made) or a
/// deletion, or the state directory cannot be removed.
pub fn apply_reset(config: &StreamsConfig, plan: &ResetPlan) -> Result<(), StreamsError> {
    let group = GroupView::open(config)?;
    let mut offsets = TopicPartitionList::new();
    for (topic, partition, offset) in &plan.offsets {
        offsets
            .add_partition_offset(topic, *partition, Offset::Offset(*offset))
            .map_err(kafka_error("list the offsets to commit"))?;
    }
    if offsets.count() > 0 {
        group
            .consumer()
            .commit(&offsets, CommitMode::Sync)
            .map_err(kafka_error(
                "commit the reset offsets (is an instance running again?)",
            ))?;
    }
    TopicAdmin::new(config)?.delete_topics(&plan.delete_topics)?;
    if plan.state_dir.exists() {
        std::fs::remove_dir_all(&plan.state_dir).map_err(|e| StreamsError::Lifecycle {
            doing: format!("delete the local state `{}`", plan.state_dir.display()),
            reason: e.to_string(),
        })?;
    }
    Ok(())
}
