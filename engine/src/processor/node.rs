//! Runtime plumbing: processors instantiated per task, wired child-first into a graph of
//! typed nodes. The compiled topology holds type-erased factories; each factory knows its
//! own input and output types and recovers its children's typed handles.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use tributary_state::{ReadOnlyKeyValueStore, ValueReader};

use super::schedule::ScheduleId;
use super::task_context::TaskContext;
use crate::error::RecordPart;
use crate::error::StreamsError;
use crate::record::{RawRecord, Record};
use crate::serde::{SerdeError, SerdeRef, encode};
use crate::store::{KeyValueStore, StoreEntry, ValueAndTimestamp};

/// A node that receives typed records.
pub(crate) trait Node<K, V> {
    fn process(&mut self, cx: &mut TaskContext, record: Record<K, V>) -> Result<(), StreamsError>;
}

pub(crate) type NodeRef<K, V> = Rc<RefCell<dyn Node<K, V>>>;

/// What a source node makes of a raw record.
pub(crate) enum SourceOutcome {
    Processed,
    /// The record could not be deserialized; nothing was forwarded.
    Undeserializable(StreamsError),
}

/// A node that receives raw records from an input partition.
pub(crate) trait SourceNode {
    /// The record's event time by the source's extractor; `None` when invalid.
    fn extract_timestamp(&self, raw: &RawRecord) -> Option<i64>;

    fn process_raw(
        &mut self,
        cx: &mut TaskContext,
        raw: &RawRecord,
    ) -> Result<SourceOutcome, StreamsError>;
}

pub(crate) type SourceRef = Rc<RefCell<dyn SourceNode>>;

/// Task lifecycle hooks of a node. Nodes register for them at instantiation.
pub(crate) trait NodeHooks {
    fn init(&mut self, _cx: &mut TaskContext) -> Result<(), StreamsError> {
        Ok(())
    }
    fn punctuate(
        &mut self,
        _cx: &mut TaskContext,
        _id: ScheduleId,
        _timestamp: i64,
    ) -> Result<(), StreamsError> {
        Ok(())
    }
    /// Writes out cached state and forwards what that emits (on commit).
    fn flush(&mut self, _cx: &mut TaskContext) -> Result<(), StreamsError> {
        Ok(())
    }
    fn close(&mut self) {}
}

/// The downstream nodes of a node.
pub(crate) struct Forward<K, V> {
    pub(crate) children: Vec<NodeRef<K, V>>,
}

impl<K: Clone, V: Clone> Forward<K, V> {
    /// Sends `record` to every child; clones for all but the last.
    pub(crate) fn send(
        &self,
        cx: &mut TaskContext,
        record: Record<K, V>,
    ) -> Result<(), StreamsError> {
        match self.children.split_last() {
            None => Ok(()),
            Some((last, rest)) => {
                for child in rest {
                    child.borrow_mut().process(cx, record.clone())?;
                }
                last.borrow_mut().process(cx, record)
            }
        }
    }
}

/// Typed reads of a global table's store.
pub(crate) struct GlobalReader<K, V> {
    reader: Arc<ValueReader>,
    key_serde: SerdeRef<K>,
    value_serde: SerdeRef<V>,
    key_buf: RefCell<Vec<u8>>,
}

impl<K, V> GlobalReader<K, V> {
    /// The value of `key` with its timestamp.
    ///
    /// # Errors
    /// When the store fails or bytes do not (de)serialize.
    pub(crate) fn get(&self, key: &K) -> Result<Option<ValueAndTimestamp<V>>, StreamsError> {
        let name = || format!("global store `{}`", self.reader.name());
        let mut buf = self.key_buf.borrow_mut();
        encode(&*self.key_serde, key, &mut buf).map_err(|source| StreamsError::Serialization {
            target: name(),
            part: RecordPart::Key,
            source,
        })?;
        let Some(found) = self.reader.get_timestamped(&buf)? else {
            return Ok(None);
        };
        let value = self
            .value_serde
            .deserialize(found.value())
            .map_err(|source| StreamsError::Serialization {
                target: name(),
                part: RecordPart::Value,
                source,
            })?;
        Ok(Some(ValueAndTimestamp {
            value,
            timestamp: found.timestamp(),
        }))
    }
}

/// A node's name and connected stores, as processors see them.
#[derive(Debug, Clone)]
pub(crate) struct NodeMeta {
    pub(crate) name: String,
    pub(crate) stores: Vec<String>,
}

/// What a factory gets to build one node of one task.
pub(crate) struct InstantiateCx<'a> {
    pub(crate) meta: &'a NodeMeta,
    /// The resolved topic of a source or sink node.
    pub(crate) topics: &'a [String],
    pub(crate) stores: &'a HashMap<String, StoreEntry>,
    pub(crate) partitions: &'a HashMap<String, i32>,
    pub(crate) clock: &'a Rc<Cell<i64>>,
    pub(crate) hooks: &'a mut Vec<Rc<RefCell<dyn NodeHooks>>>,
    /// State that several nodes of one operator share within the task (say, the stream
    /// time of both sides of a join), by the operator's id.
    pub(crate) shared: &'a mut HashMap<usize, Rc<dyn Any>>,
    /// Read handles of the global tables' stores, in topology order.
    pub(crate) globals: &'a [Arc<ValueReader>],
}

impl InstantiateCx<'_> {
    /// The `i`th store connected to this node, typed.
    pub(crate) fn store<K: 'static, V: 'static>(
        &self,
        i: usize,
    ) -> Result<KeyValueStore<K, V>, StreamsError> {
        let name = &self.meta.stores[i];
        let entry = self
            .stores
            .get(name)
            .ok_or_else(|| StreamsError::StoreNotConnected {
                processor: self.meta.name.clone(),
                store: name.clone(),
            })?;
        KeyValueStore::from_entry(entry, self.clock)
    }

    /// The state the nodes of operator `id` share in this task, made on first use.
    ///
    /// # Errors
    /// When another type was shared under `id` (two operators with one id).
    pub(crate) fn shared<T: Default + 'static>(
        &mut self,
        id: usize,
    ) -> Result<Rc<T>, StreamsError> {
        let state = self
            .shared
            .entry(id)
            .or_insert_with(|| Rc::new(T::default()) as Rc<dyn Any>)
            .clone();
        state.downcast::<T>().map_err(|_| StreamsError::Lifecycle {
            doing: format!("build processor `{}`", self.meta.name),
            reason: format!(
                "the state its operator shares (id {id}) is not a {}",
                std::any::type_name::<T>()
            ),
        })
    }

    /// The store of global table `index` (in topology order), typed by `key_serde` and
    /// `value_serde`.
    ///
    /// # Errors
    /// When the global stores are not open (a task built without them).
    pub(crate) fn global<K, V>(
        &self,
        index: usize,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
    ) -> Result<GlobalReader<K, V>, StreamsError> {
        let reader = self
            .globals
            .get(index)
            .ok_or_else(|| StreamsError::Lifecycle {
                doing: format!("build processor `{}`", self.meta.name),
                reason: "the global tables' stores are not open; tasks must be built after them"
                    .into(),
            })?;
        Ok(GlobalReader {
            reader: reader.clone(),
            key_serde,
            value_serde,
            key_buf: RefCell::new(Vec::new()),
        })
    }

    /// Registers `hooks` for init, punctuation, flush and close; returns its index.
    pub(crate) fn register(&mut self, hooks: Rc<RefCell<dyn NodeHooks>>) -> usize {
        self.hooks.push(hooks);
        self.hooks.len() - 1
    }

    /// The single topic of a sink node.
    pub(crate) fn topic(&self) -> &str {
        &self.topics[0]
    }

    pub(crate) fn partitions_of(&self, topic: &str) -> Result<i32, StreamsError> {
        self.partitions.get(topic).copied().ok_or_else(|| {
            StreamsError::Topology(crate::error::TopologyError::UnknownTopic {
                topic: topic.to_owned(),
                role: "written by a sink",
            })
        })
    }
}

pub(crate) type ErasedRef = Box<dyn Any>;

type NodeFn =
    dyn Fn(&mut InstantiateCx<'_>, &[&ErasedRef]) -> Result<ErasedRef, StreamsError> + Send + Sync;
type SourceFn =
    dyn Fn(&mut InstantiateCx<'_>, &[&ErasedRef]) -> Result<SourceRef, StreamsError> + Send + Sync;

/// Builds one node of a task from its children's handles.
#[derive(Clone)]
pub(crate) enum Factory {
    Source(Arc<SourceFn>),
    Node(Arc<NodeFn>),
}

fn forward_of<K: 'static, V: 'static>(children: &[&ErasedRef]) -> Forward<K, V> {
    let children = children
        .iter()
        .map(|c| {
            c.downcast_ref::<NodeRef<K, V>>()
                .expect("a child node accepts the types its parent forwards (checked by the DSL's generics)")
                .clone()
        })
        .collect();
    Forward { children }
}

/// A factory for a node receiving `(Ki, Vi)` and forwarding `(Ko, Vo)`.
pub(crate) fn node_factory<Ki: 'static, Vi: 'static, Ko: 'static, Vo: 'static>(
    f: impl Fn(&mut InstantiateCx<'_>, Forward<Ko, Vo>) -> Result<NodeRef<Ki, Vi>, StreamsError>
    + Send
    + Sync
    + 'static,
) -> Factory {
    Factory::Node(Arc::new(move |cx, children| {
        let node = f(cx, forward_of::<Ko, Vo>(children))?;
        Ok(Box::new(node) as ErasedRef)
    }))
}

/// A factory for a source node forwarding `(Ko, Vo)`.
pub(crate) fn source_factory<Ko: 'static, Vo: 'static>(
    f: impl Fn(&mut InstantiateCx<'_>, Forward<Ko, Vo>) -> Result<SourceRef, StreamsError>
    + Send
    + Sync
    + 'static,
) -> Factory {
    Factory::Source(Arc::new(move |cx, children| {
        f(cx, forward_of::<Ko, Vo>(children))
    }))
}

/// A stateless node: a shared closure given the task context, the children and a record.
struct FnNode<F, Ko, Vo> {
    f: Arc<F>,
    forward: Forward<Ko, Vo>,
}

impl<Ki, Vi, Ko, Vo, F> Node<Ki, Vi> for FnNode<F, Ko, Vo>
where
    F: Fn(&mut TaskContext, &Forward<Ko, Vo>, Record<Ki, Vi>) -> Result<(), StreamsError>,
{
    fn process(
        &mut self,
        cx: &mut TaskContext,
        record: Record<Ki, Vi>,
    ) -> Result<(), StreamsError> {
        (self.f)(cx, &self.forward, record)
    }
}

/// A factory for a stateless node running `f` on every record.
pub(crate) fn stateless<Ki: 'static, Vi: 'static, Ko: 'static, Vo: 'static, F>(f: F) -> Factory
where
    F: Fn(&mut TaskContext, &Forward<Ko, Vo>, Record<Ki, Vi>) -> Result<(), StreamsError>
        + Send
        + Sync
        + 'static,
{
    let f = Arc::new(f);
    node_factory::<Ki, Vi, Ko, Vo>(move |_, forward| {
        Ok(Rc::new(RefCell::new(FnNode {
            f: f.clone(),
            forward,
        })) as NodeRef<Ki, Vi>)
    })
}

/// A factory for a stateless node running `f`, which is also given the node's name (for
/// the errors of a fallible user function, see [`user_failure`]).
pub(crate) fn named_stateless<Ki: 'static, Vi: 'static, Ko: 'static, Vo: 'static, F>(
    f: F,
) -> Factory
where
    F: Fn(&str, &mut TaskContext, &Forward<Ko, Vo>, Record<Ki, Vi>) -> Result<(), StreamsError>
        + Send
        + Sync
        + 'static,
{
    let f = Arc::new(f);
    node_factory::<Ki, Vi, Ko, Vo>(move |icx, forward| {
        let (f, name) = (f.clone(), icx.meta.name.clone());
        let named = move |cx: &mut TaskContext, forward: &Forward<Ko, Vo>, record| {
            f(&name, cx, forward, record)
        };
        Ok(Rc::new(RefCell::new(FnNode {
            f: Arc::new(named),
            forward,
        })) as NodeRef<Ki, Vi>)
    })
}

/// The error a fallible user function of node `node` returned, as a processing error
/// (what `processing.exception.handler` decides about).
pub(crate) fn user_failure(
    node: &str,
    error: impl std::error::Error + Send + Sync + 'static,
) -> StreamsError {
    StreamsError::Processor {
        processor: node.to_owned(),
        message: error.to_string(),
        source: Some(Box::new(error)),
    }
}

/// A factory for a node that passes every record on: where the outputs of several nodes
/// meet (merged streams, the two sides of a join).
pub(crate) fn passthrough<K: Clone + 'static, V: Clone + 'static>() -> Factory {
    stateless(|cx, forward: &Forward<K, V>, record: Record<K, V>| forward.send(cx, record))
}

/// Deserialization failure of a source record, with the record's coordinates.
pub(crate) fn undeserializable(
    cx: &TaskContext,
    part: crate::error::RecordPart,
    source: SerdeError,
) -> SourceOutcome {
    SourceOutcome::Undeserializable(StreamsError::Deserialization {
        topic: cx.topic.to_string(),
        partition: cx.partition,
        offset: cx.offset,
        part,
        source,
    })
}
