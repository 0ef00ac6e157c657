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
        // Repartition topics: settle in dependency order.
        loop {
            let mut progress = false;
            for sub in self.subtopologies() {
                let inputs: Option<Vec<i32>> = sub
                    .sources
                    .iter()
                    .map(|t| counts.get(&t.resolve(application_id)).copied())
                    .collect();
                let Some(n) = inputs.and_then(|i| i.into_iter().max()) else {
                    continue;
                };
                for sink in &sub.sinks {
                    let name = sink.resolve(application_id);
                    if matches!(sink, TopicName::Internal(_)) && !counts.contains_key(&name) {
                        counts.insert(name, n);
                        progress = true;
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
                    counts.insert(format!("{application_id}-{store}-changelog"), tasks);
                }
            }
        }
        Ok(counts)
    }
}
