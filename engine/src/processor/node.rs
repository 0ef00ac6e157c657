//! Runtime plumbing: processors instantiated per task, wired child-first into a graph of
//! typed nodes. The compiled topology holds type-erased factories; each factory knows its
//! own input and output types and recovers its children's typed handles.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use crate::error::StreamsError;
use crate::processor::{Processor, ProcessorContext, ScheduleId};
use crate::record::{RawRecord, Record};
use crate::serde::SerdeError;
use crate::store::{KeyValueStore, StoreEntry};
use crate::task::TaskContext;

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

/// A user [`Processor`] in the graph.
pub(crate) struct ProcessorNode<P, Ko, Vo> {
    pub(crate) processor: P,
    pub(crate) forward: Forward<Ko, Vo>,
    pub(crate) meta: NodeMeta,
    pub(crate) index: usize,
}

impl<Ki, Vi, Ko: Clone + 'static, Vo: Clone + 'static, P: Processor<Ki, Vi, Ko, Vo>> Node<Ki, Vi>
    for ProcessorNode<P, Ko, Vo>
{
    fn process(
        &mut self,
        cx: &mut TaskContext,
        record: Record<Ki, Vi>,
    ) -> Result<(), StreamsError> {
        let mut ctx = ProcessorContext {
            task: cx,
            forward: &self.forward,
            meta: &self.meta,
            index: self.index,
        };
        self.processor.process(&mut ctx, record)
    }
}

/// Hooks of a [`ProcessorNode`], reached through a handle on the same node.
pub(crate) struct ProcessorHooks<P, Ki, Vi, Ko, Vo> {
    pub(crate) node: Rc<RefCell<ProcessorNode<P, Ko, Vo>>>,
    pub(crate) _types: std::marker::PhantomData<fn(Ki, Vi)>,
}

impl<Ki, Vi, Ko: Clone + 'static, Vo: Clone + 'static, P: Processor<Ki, Vi, Ko, Vo>> NodeHooks
    for ProcessorHooks<P, Ki, Vi, Ko, Vo>
{
    fn init(&mut self, cx: &mut TaskContext) -> Result<(), StreamsError> {
        let node = &mut *self.node.borrow_mut();
        let mut ctx = ProcessorContext {
            task: cx,
            forward: &node.forward,
            meta: &node.meta,
            index: node.index,
        };
        node.processor.init(&mut ctx)
    }

    fn punctuate(
        &mut self,
        cx: &mut TaskContext,
        id: ScheduleId,
        timestamp: i64,
    ) -> Result<(), StreamsError> {
        let node = &mut *self.node.borrow_mut();
        let mut ctx = ProcessorContext {
            task: cx,
            forward: &node.forward,
            meta: &node.meta,
            index: node.index,
        };
        node.processor.punctuate(&mut ctx, id, timestamp)
    }

    fn close(&mut self) {
        self.node.borrow_mut().processor.close();
    }
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
