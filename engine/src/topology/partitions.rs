//! Partition counts of every topic a topology touches, and the co-partitioning check.

use std::collections::HashMap;

use super::{TopicName, Topology};
use crate::error::TopologyError;

impl Topology {
    /// Partition counts of every topic the topology reads or writes, by full name, given the
    /// counts of the user topics in `external`:
    /// - a repartition topic gets the largest partition count among the inputs of the
    ///   sub-topology that writes it;
    /// - a changelog gets the partition count of its store's sub-topology (one partition
    ///   per task).
    ///
    /// # Errors
    /// [`TopologyError::UnknownTopic`] when a user topic is missing from `external`, and
    /// [`TopologyError::CoPartitionMismatch`] when a sub-topology with stores reads topics
    /// with different partition counts (its keys would land in different tasks).
    pub fn resolve_partitions(
        &self,
        application_id: &str,
        external: &HashMap<String, i32>,
    ) -> Result<HashMap<String, i32>, TopologyError> {
        let mut counts: HashMap<String, i32> = HashMap::new();
        for sub in self.subtopologies() {
            for (topics, role) in [
                (&sub.sources, "read by the topology"),
                (&sub.sinks, "written by the topology"),
            ] {
                for topic in topics {
                    if let TopicName::External(name) = topic {
                        let n = external.get(name).copied().ok_or_else(|| {
                            TopologyError::UnknownTopic {
                                topic: name.clone(),
                                role,
                            }
                        })?;
                        counts.insert(name.clone(), n);
                    }
                }
            }
        }
        // Internal topics: settle in dependency order. A repartition topic takes the
        // writer's input count; a topic sized by its reader takes the count of the reader's
        // other inputs.
        let reader_sized = |t: &TopicName| match t {
            TopicName::Internal(suffix) => self.inner.reader_sized.contains(suffix),
            TopicName::External(_) => false,
        };
        loop {
            let mut progress = false;
            for sub in self.subtopologies() {
                if let Some(n) = largest(&counts, application_id, sub.sources.iter()) {
                    for sink in &sub.sinks {
                        let name = sink.resolve(application_id);
                        if matches!(sink, TopicName::Internal(_))
                            && !reader_sized(sink)
                            && !counts.contains_key(&name)
                        {
                            counts.insert(name, n);
                            progress = true;
                        }
                    }
                }
                let others = sub.sources.iter().filter(|t| !reader_sized(t));
                if let Some(n) = largest(&counts, application_id, others) {
                    for source in sub.sources.iter().filter(|t| reader_sized(t)) {
                        let name = source.resolve(application_id);
                        if let std::collections::hash_map::Entry::Vacant(entry) = counts.entry(name)
                        {
                            entry.insert(n);
                            progress = true;
                        }
                    }
                }
            }
            if !progress {
                break;
            }
        }
        for sub in self.subtopologies() {
            let mut inputs = Vec::new();
            for topic in &sub.sources {
                let name = topic.resolve(application_id);
                let n = *counts
                    .get(&name)
                    .ok_or_else(|| TopologyError::UnknownTopic {
                        topic: name.clone(),
                        role: "read by the topology (its writer's inputs are unknown)",
                    })?;
                inputs.push((name, n));
            }
            if !sub.stores.is_empty()
                && let Some((first, rest)) = inputs.split_first()
                && let Some(other) = rest.iter().find(|(_, n)| *n != first.1)
            {
                return Err(TopologyError::CoPartitionMismatch {
                    left: first.0.clone(),
                    left_partitions: first.1,
                    right: other.0.clone(),
                    right_partitions: other.1,
                    context: format!(
                        "sub-topology {} (stores: {})",
                        sub.id,
                        sub.stores.join(", ")
                    ),
                });
            }
            let tasks = inputs.iter().map(|(_, n)| *n).max().unwrap_or(0);
            for store in &sub.stores {
                if self.store_spec(store).logging {
                    counts.insert(crate::names::changelog_topic(application_id, store), tasks);
                }
            }
        }
        Ok(counts)
    }
}

/// The largest partition count of `topics`, once all of them are known.
fn largest<'a>(
    counts: &HashMap<String, i32>,
    application_id: &str,
    mut topics: impl Iterator<Item = &'a TopicName>,
) -> Option<i32> {
    topics.try_fold(None, |max: Option<i32>, t| {
        let n = *counts.get(&t.resolve(application_id))?;
        Some(Some(max.map_or(n, |m| m.max(n))))
    })?
}
