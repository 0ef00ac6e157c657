//! Source nodes: deserialize raw records and forward them.

use std::cell::RefCell;
use std::rc::Rc;

use crate::error::{RecordPart, StreamsError};
use crate::processor::TaskContext;
use crate::processor::node::{
    Factory, Forward, SourceNode, SourceOutcome, SourceRef, source_factory, undeserializable,
};
use crate::record::{RawRecord, Record};
use crate::serde::{SerdeRef, decode};
use crate::time::TimestampExtractor;
use crate::topology::graph::{NodeDraft, Role, SharedGraph, TopicRef};

struct Source<K, V> {
    key_serde: SerdeRef<K>,
    value_serde: SerdeRef<V>,
    extractor: TimestampExtractor,
    forward: Forward<K, V>,
}

impl<K: Clone + 'static, V: Clone + 'static> SourceNode for Source<K, V> {
    fn extract_timestamp(&self, raw: &RawRecord) -> Option<i64> {
        self.extractor.extract(raw)
    }

    fn process_raw(
        &mut self,
        cx: &mut TaskContext,
        raw: &RawRecord,
    ) -> Result<SourceOutcome, StreamsError> {
        let key = match decode(&*self.key_serde, raw.key.as_deref()) {
            Ok(key) => key,
            Err(e) => return Ok(undeserializable(cx, RecordPart::Key, e)),
        };
        let value = match decode(&*self.value_serde, raw.value.as_deref()) {
            Ok(value) => value,
            Err(e) => return Ok(undeserializable(cx, RecordPart::Value, e)),
        };
        let record = Record {
            key,
            value,
            timestamp: raw.timestamp,
            headers: cx.headers.clone(),
        };
        self.forward.send(cx, record)?;
        Ok(SourceOutcome::Processed)
    }
}

/// A source reading keys and values with these serdes and timestamps with `extractor`.
pub(crate) fn factory<K: Clone + 'static, V: Clone + 'static>(
    key_serde: SerdeRef<K>,
    value_serde: SerdeRef<V>,
    extractor: TimestampExtractor,
) -> Factory {
    source_factory::<K, V>(move |_, forward| {
        let source = Source {
            key_serde: key_serde.clone(),
            value_serde: value_serde.clone(),
            extractor: extractor.clone(),
            forward,
        };
        Ok(Rc::new(RefCell::new(source)) as SourceRef)
    })
}

/// Adds a source node reading `topic` with these serdes; returns its index.
pub(crate) fn add<K: Clone + 'static, V: Clone + 'static>(
    graph: &SharedGraph,
    topic: &str,
    name: Option<String>,
    key_serde: SerdeRef<K>,
    value_serde: SerdeRef<V>,
    extractor: TimestampExtractor,
) -> usize {
    graph.borrow_mut().add_node(NodeDraft {
        kind: "source",
        explicit: name,
        role: Role::Source {
            topics: vec![TopicRef::External(topic.to_owned())],
        },
        parents: Vec::new(),
        stores: Vec::new(),
        factory: factory(key_serde, value_serde, extractor),
    })
}
