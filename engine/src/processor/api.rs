//! The Processor API users implement: [`Processor`], the [`ProcessorContext`] it works
//! through, and the node that puts a user processor into a task's graph.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use super::node::{Forward, Node, NodeHooks, NodeMeta};
use super::schedule::{PunctuationType, ScheduleId};
use super::task_context::TaskContext;
use crate::error::StreamsError;
use crate::record::{Headers, Record};
use crate::store::KeyValueStore;
use crate::task_id::TaskId;

/// A record processor. `KIn`/`VIn` are the types it receives, `KOut`/`VOut` the types it
/// forwards.
///
/// ```
/// use tributary_engine::processor::{Processor, ProcessorContext};
/// use tributary_engine::{Record, StreamsError};
///
/// /// Forwards each value with its length.
/// struct Lengths;
///
/// impl Processor<String, String, String, usize> for Lengths {
///     fn process(
///         &mut self,
///         ctx: &mut ProcessorContext<'_, String, usize>,
///         record: Record<String, String>,
///     ) -> Result<(), StreamsError> {
///         let len = record.value.len();
///         ctx.forward(record.with_value(len))
///     }
/// }
/// ```
pub trait Processor<KIn, VIn, KOut, VOut>: 'static {
    /// Called once before the first record, after the task's stores are restored. Look up
    /// stores and schedule punctuations here.
    ///
    /// # Errors
    /// An error stops the task.
    fn init(&mut self, _ctx: &mut ProcessorContext<'_, KOut, VOut>) -> Result<(), StreamsError> {
        Ok(())
    }

    /// Processes one record.
    ///
    /// # Errors
    /// An error stops the task.
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, KOut, VOut>,
        record: Record<KIn, VIn>,
    ) -> Result<(), StreamsError>;

    /// Called when a schedule made with [`ProcessorContext::schedule`] is due; `timestamp`
    /// is the stream time or wall-clock time (ms) that made it due.
    ///
    /// # Errors
    /// An error stops the task.
    fn punctuate(
        &mut self,
        _ctx: &mut ProcessorContext<'_, KOut, VOut>,
        _schedule: ScheduleId,
        _timestamp: i64,
    ) -> Result<(), StreamsError> {
        Ok(())
    }

    /// Called when the task closes.
    fn close(&mut self) {}
}

/// What a processor can do besides receiving records: forward, schedule, reach its stores
/// and read the current record's metadata.
pub struct ProcessorContext<'a, K, V> {
    pub(crate) task: &'a mut TaskContext,
    pub(crate) forward: &'a Forward<K, V>,
    pub(crate) meta: &'a NodeMeta,
    pub(crate) index: usize,
}

impl<K: Clone + 'static, V: Clone + 'static> ProcessorContext<'_, K, V> {
    /// Sends `record` to every downstream processor.
    ///
    /// # Errors
    /// Whatever a downstream processor fails with.
    pub fn forward(&mut self, record: Record<K, V>) -> Result<(), StreamsError> {
        self.forward.send(self.task, record)
    }
}

impl<K, V> ProcessorContext<'_, K, V> {
    /// Calls this processor's [`Processor::punctuate`] every `interval` of `kind` time.
    pub fn schedule(&mut self, interval: Duration, kind: PunctuationType) -> ScheduleId {
        self.task.schedule(self.index, interval, kind)
    }

    /// The store `name`, which must be connected to this processor (named in its `process`
    /// call) and declared with key type `K2` and value type `V2`.
    ///
    /// # Errors
    /// [`StreamsError::StoreNotConnected`] or [`StreamsError::StoreType`].
    pub fn key_value_store<K2: 'static, V2: 'static>(
        &self,
        name: &str,
    ) -> Result<KeyValueStore<K2, V2>, StreamsError> {
        if !self.meta.stores.iter().any(|s| s == name) {
            return Err(StreamsError::StoreNotConnected {
                processor: self.meta.name.clone(),
                store: name.to_owned(),
            });
        }
        let entry = self
            .task
            .stores
            .get(name)
            .ok_or_else(|| StreamsError::StoreNotConnected {
                processor: self.meta.name.clone(),
                store: name.to_owned(),
            })?;
        KeyValueStore::from_entry(entry, &self.task.clock)
    }

    /// The topic of the record being processed (empty during punctuation).
    pub fn topic(&self) -> &str {
        &self.task.topic
    }

    /// Its partition.
    pub fn partition(&self) -> i32 {
        self.task.partition
    }

    /// Its offset (-1 during punctuation).
    pub fn offset(&self) -> i64 {
        self.task.offset
    }

    /// Its timestamp (ms).
    pub fn timestamp(&self) -> i64 {
        self.task.timestamp
    }

    /// Its headers.
    pub fn headers(&self) -> &Headers {
        &self.task.headers
    }

    /// The task's stream time: the largest timestamp it has seen.
    pub fn stream_time(&self) -> i64 {
        self.task.stream_time
    }

    /// The task's wall-clock time (ms); the test driver controls it.
    pub fn wall_clock_time(&self) -> i64 {
        self.task.wall_clock
    }

    /// The task this processor runs in.
    pub fn task_id(&self) -> TaskId {
        self.task.task_id
    }

    /// The application id.
    pub fn application_id(&self) -> &str {
        &self.task.application_id
    }

    /// This processor's name in the topology.
    pub fn processor_name(&self) -> &str {
        &self.meta.name
    }
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
