//! Repartitioning: a sink to an internal topic and a source reading it back, which is where
//! the compiler splits sub-topologies.

use super::Data;
use crate::error::TopologyError;
use crate::serde::{Format, Serde, SerdeError, SerdeRef};
use crate::topology::graph::{
    NodeDraft, RepartitionDraft, Role, SharedGraph, TopicPurpose, TopicRef,
};

/// Adds a repartition topic after `upstream`; returns the node reading it back.
pub(crate) fn repartition<K: Data, V: Data>(
    graph: &SharedGraph,
    upstream: usize,
    name: Option<String>,
    key_serde: SerdeRef<K>,
    value_serde: SerdeRef<V>,
) -> usize {
    let sink = super::sink::factory(key_serde.clone(), value_serde.clone());
    let topic = InternalTopic {
        upstream,
        more_upstream: Vec::new(),
        name,
        purpose: TopicPurpose::Repartition,
    };
    through_topic(graph, topic, sink, key_serde, value_serde)
}

/// An internal topic between sub-topologies: the nodes writing it (a generated name derives
/// from the first), its name and purpose.
pub(crate) struct InternalTopic {
    pub(crate) upstream: usize,
    pub(crate) more_upstream: Vec<usize>,
    pub(crate) name: Option<String>,
    pub(crate) purpose: TopicPurpose,
}

/// Adds `topic`, written by a sink `sink` after its upstream nodes and read back with these
/// serdes; returns the node reading it.
pub(crate) fn through_topic<K: Data, V: Data>(
    graph: &SharedGraph,
    topic: InternalTopic,
    sink: crate::processor::node::Factory,
    key_serde: SerdeRef<K>,
    value_serde: SerdeRef<V>,
) -> usize {
    let mut g = graph.borrow_mut();
    g.repartitions.push(RepartitionDraft {
        explicit: topic.name,
        upstream: topic.upstream,
        purpose: topic.purpose,
    });
    let mut upstream = vec![topic.upstream];
    upstream.extend(topic.more_upstream);
    let topic = TopicRef::Repartition(g.repartitions.len() - 1);
    g.add_node(NodeDraft {
        kind: "repartition-sink",
        explicit: None,
        role: Role::Sink {
            topic: topic.clone(),
        },
        parents: upstream,
        stores: Vec::new(),
        factory: sink,
    });
    g.add_node(NodeDraft {
        kind: "repartition-source",
        explicit: None,
        role: Role::Source {
            topics: vec![topic],
        },
        parents: Vec::new(),
        stores: Vec::new(),
        // The writer put the extracted timestamp on the repartitioned record.
        factory: super::source::factory(
            key_serde,
            value_serde,
            crate::time::TimestampExtractor::RecordTimestamp,
        ),
    })
}

/// A stand-in for a serde the user did not give. `build()` reports the missing serde
/// before anything could use this one.
pub(crate) struct Unset;

impl<T> Serde<T> for Unset {
    fn serialize(&self, _: &T, _: &mut Vec<u8>) -> Result<(), SerdeError> {
        Err(SerdeError::new("unset", "no serde was given"))
    }

    fn deserialize(&self, _: &[u8]) -> Result<T, SerdeError> {
        Err(SerdeError::new("unset", "no serde was given"))
    }

    fn format(&self) -> Format {
        Format::Opaque("unset")
    }
}

/// `serde`, or a recorded [`TopologyError::MissingSerde`] and [`Unset`].
pub(crate) fn require<T: 'static>(
    graph: &SharedGraph,
    serde: Option<SerdeRef<T>>,
    operator: &str,
    part: &'static str,
    why: &'static str,
    fix: &'static str,
) -> SerdeRef<T> {
    serde.unwrap_or_else(|| {
        graph.borrow_mut().errors.push(TopologyError::MissingSerde {
            operator: operator.to_owned(),
            part,
            why,
            fix,
        });
        std::sync::Arc::new(Unset)
    })
}
