//! Repartitioning: a sink to an internal topic and a source reading it back, which is where
//! the compiler splits sub-topologies.

use super::Data;
use crate::error::TopologyError;
use crate::serde::{Serde, SerdeError, SerdeRef};
use crate::topology::graph::{NodeDraft, RepartitionDraft, Role, SharedGraph, TopicRef};

/// Adds a repartition topic after `upstream`; returns the node reading it back.
pub(crate) fn repartition<K: Data, V: Data>(
    graph: &SharedGraph,
    upstream: usize,
    name: Option<String>,
    key_serde: SerdeRef<K>,
    value_serde: SerdeRef<V>,
) -> usize {
    let mut g = graph.borrow_mut();
    g.repartitions.push(RepartitionDraft {
        explicit: name,
        upstream,
    });
    let topic = TopicRef::Repartition(g.repartitions.len() - 1);
    g.add_node(NodeDraft {
        kind: "repartition-sink",
        explicit: None,
        role: Role::Sink {
            topic: topic.clone(),
        },
        parents: vec![upstream],
        stores: Vec::new(),
        factory: super::sink::factory(key_serde.clone(), value_serde.clone()),
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

    fn format(&self) -> &'static str {
        "unset"
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
