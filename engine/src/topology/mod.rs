//! Compiled topologies: sub-topologies, nodes, stores and internal topics.

mod compile;
mod describe;
pub(crate) mod graph;
mod partitions;

use std::sync::Arc;

use crate::error::RecordPart;
use crate::processor::node::{Factory, NodeMeta};
use crate::record::RawRecord;
use crate::serde::SerdeError;
use crate::store::StoreSpec;
use crate::task_id::TaskId;
use crate::time::TimestampExtractor;

pub(crate) use compile::compile;

/// A topic name as the topology knows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TopicName {
    /// A user topic, used as named.
    External(String),
    /// An internal topic; its full name is `<application.id>-<suffix>`.
    Internal(String),
}

impl TopicName {
    /// The topic's full name for application `application_id`.
    pub fn resolve(&self, application_id: &str) -> String {
        match self {
            Self::External(name) => name.clone(),
            Self::Internal(suffix) => crate::names::internal_topic(application_id, suffix),
        }
    }
}

impl std::fmt::Display for TopicName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::External(name) => f.write_str(name),
            Self::Internal(suffix) => write!(f, "<application.id>-{suffix}"),
        }
    }
}

/// The kind of an internal topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InternalTopicKind {
    /// Carries re-keyed records between sub-topologies.
    Repartition,
    /// Logs a store's changes (`cleanup.policy=compact`).
    Changelog,
    /// Logs a window store's changes (`cleanup.policy=compact,delete`), keeping them
    /// `retention_ms`.
    WindowChangelog {
        /// The topic's `retention.ms`: the store's retention plus a day.
        retention_ms: i64,
    },
}

/// An internal topic the application needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InternalTopic {
    /// The topic.
    pub name: TopicName,
    /// What it is for.
    pub kind: InternalTopicKind,
}

#[derive(Clone)]
pub(crate) enum CompiledRole {
    Source(Vec<TopicName>),
    Processor,
    Sink(TopicName),
}

pub(crate) struct CompiledNode {
    pub(crate) meta: NodeMeta,
    pub(crate) kind: &'static str,
    pub(crate) role: CompiledRole,
    pub(crate) parents: Vec<usize>,
    pub(crate) children: Vec<usize>,
    pub(crate) factory: Factory,
}

impl CompiledNode {
    /// The topics a source reads or a sink writes, resolved for `application_id`.
    pub(crate) fn resolved_topics(&self, application_id: &str) -> Vec<String> {
        match &self.role {
            CompiledRole::Source(topics) => {
                topics.iter().map(|t| t.resolve(application_id)).collect()
            }
            CompiledRole::Sink(topic) => vec![topic.resolve(application_id)],
            CompiledRole::Processor => Vec::new(),
        }
    }
}

/// A connected part of the topology: the unit that becomes one task per partition.
#[derive(Debug, Clone)]
pub struct SubTopology {
    pub(crate) id: u32,
    /// Node indices in topological order.
    pub(crate) nodes: Vec<usize>,
    pub(crate) stores: Vec<String>,
    pub(crate) sources: Vec<TopicName>,
    pub(crate) sinks: Vec<TopicName>,
}

impl SubTopology {
    /// Its number.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The topics it reads.
    pub fn source_topics(&self) -> &[TopicName] {
        &self.sources
    }

    /// The topics it writes (sinks and repartition topics; not changelogs).
    pub fn sink_topics(&self) -> &[TopicName] {
        &self.sinks
    }

    /// Its stores.
    pub fn stores(&self) -> &[String] {
        &self.stores
    }
}

/// Checks that a record of a global table's topic decodes: the part that does not, and why.
pub(crate) type CheckRecord =
    Arc<dyn Fn(&RawRecord) -> Result<(), (RecordPart, SerdeError)> + Send + Sync>;

/// A global table: every partition of `topic`, kept in store `store` by every instance.
#[derive(Clone)]
pub struct GlobalTable {
    pub(crate) topic: String,
    pub(crate) store: StoreSpec,
    pub(crate) check: CheckRecord,
    pub(crate) extractor: TimestampExtractor,
}

impl GlobalTable {
    /// The topic it reads.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Its store.
    pub fn store(&self) -> &StoreSpec {
        &self.store
    }
}

pub(crate) struct TopologyInner {
    pub(crate) nodes: Vec<CompiledNode>,
    pub(crate) stores: Vec<StoreSpec>,
    pub(crate) subtopologies: Vec<SubTopology>,
    pub(crate) globals: Vec<GlobalTable>,
    /// Internal topics (suffixes) that get the partition count of the sub-topology
    /// reading them: a foreign-key join's subscription and response topics.
    pub(crate) reader_sized: std::collections::HashSet<String>,
}

/// A compiled topology, ready to run. Cheap to clone; shared by every task and thread.
#[derive(Clone)]
pub struct Topology {
    pub(crate) inner: Arc<TopologyInner>,
}

impl Topology {
    /// The sub-topologies, in order.
    pub fn subtopologies(&self) -> &[SubTopology] {
        &self.inner.subtopologies
    }

    pub(crate) fn subtopology(&self, id: u32) -> &SubTopology {
        &self.inner.subtopologies[id as usize]
    }

    pub(crate) fn node(&self, index: usize) -> &CompiledNode {
        &self.inner.nodes[index]
    }

    /// Every store's declaration (of the sub-topologies; global tables have their own, see
    /// [`Topology::global_tables`]).
    pub fn stores(&self) -> &[StoreSpec] {
        &self.inner.stores
    }

    /// The global tables: topics every instance reads whole into a store.
    pub fn global_tables(&self) -> &[GlobalTable] {
        &self.inner.globals
    }

    pub(crate) fn store_spec(&self, name: &str) -> &StoreSpec {
        self.inner
            .stores
            .iter()
            .find(|s| s.name == name)
            .expect("sub-topologies list only compiled stores")
    }

    /// The user topics the topology reads.
    pub fn source_topics(&self) -> Vec<String> {
        self.user_topics(SubTopology::source_topics)
    }

    /// The user topics the topology writes.
    pub fn sink_topics(&self) -> Vec<String> {
        self.user_topics(SubTopology::sink_topics)
    }

    /// The external topics `side` lists, over all sub-topologies, sorted and unique.
    fn user_topics(&self, side: fn(&SubTopology) -> &[TopicName]) -> Vec<String> {
        let mut topics: Vec<String> = self
            .subtopologies()
            .iter()
            .flat_map(side)
            .filter_map(|t| match t {
                TopicName::External(name) => Some(name.clone()),
                TopicName::Internal(_) => None,
            })
            .collect();
        topics.sort();
        topics.dedup();
        topics
    }

    /// Every internal topic: repartition topics, then changelogs of logged stores.
    pub fn internal_topics(&self) -> Vec<InternalTopic> {
        let mut topics: Vec<InternalTopic> = self
            .subtopologies()
            .iter()
            .flat_map(|s| &s.sinks)
            .filter(|t| matches!(t, TopicName::Internal(_)))
            .map(|t| InternalTopic {
                name: t.clone(),
                kind: InternalTopicKind::Repartition,
            })
            .collect();
        topics.extend(self.stores().iter().filter(|s| s.logging).map(|s| {
            InternalTopic {
                name: TopicName::Internal(crate::names::changelog_suffix(&s.name)),
                kind: match s.window {
                    None => InternalTopicKind::Changelog,
                    Some(w) => InternalTopicKind::WindowChangelog {
                        retention_ms: w
                            .retention_ms
                            .saturating_add(crate::window::CHANGELOG_EXTRA_RETENTION_MS),
                    },
                },
            }
        }));
        topics
    }

    /// The tasks for the given partition counts (see [`Topology::resolve_partitions`]):
    /// one per sub-topology and partition number of its inputs.
    pub fn tasks(
        &self,
        application_id: &str,
        partitions: &std::collections::HashMap<String, i32>,
    ) -> Vec<TaskId> {
        self.subtopologies()
            .iter()
            .flat_map(|s| {
                let n = s
                    .sources
                    .iter()
                    .filter_map(|t| partitions.get(&t.resolve(application_id)))
                    .copied()
                    .max()
                    .unwrap_or(0);
                (0..n).map(move |partition| TaskId {
                    subtopology: s.id,
                    partition,
                })
            })
            .collect()
    }
}
