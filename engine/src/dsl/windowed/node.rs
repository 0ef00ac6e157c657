//! The node every windowed aggregation runs: it skips null records, keeps the
//! aggregation's own stream time, emits the windows it closes, and hands each record to
//! the [`WindowLogic`] of its window kind.

use std::sync::Arc;

use super::output::WindowOutput;
use crate::dsl::Data;
use crate::dsl::table_changes::IsNull;
use crate::error::StreamsError;
use crate::processor::ScheduleId;
use crate::processor::TaskContext;
use crate::processor::node::{Node, NodeHooks};
use crate::record::Record;
use crate::serde::SerdeRef;

/// A window's new aggregate from a record's value and the window's aggregate so far
/// (`None` for a new window).
pub(crate) type Add<K, V, VA> = dyn Fn(&K, V, Option<VA>) -> VA + Send + Sync;
/// Folds the aggregate of one more session into the merge so far (`None`: nothing merged
/// yet, which an aggregation starts from its initializer).
pub(crate) type Merge<K, VA> = dyn Fn(&K, Option<VA>, VA) -> VA + Send + Sync;

/// What a windowed aggregation computes.
pub(crate) struct Aggregation<K, V, VA> {
    pub(crate) add: Arc<Add<K, V, VA>>,
    /// Sessions only: how merged sessions' aggregates combine.
    pub(crate) merge: Option<Arc<Merge<K, VA>>>,
}

/// The part of a windowed aggregation that differs between window kinds: which windows a
/// record updates or creates.
pub(crate) trait WindowLogic<K, V, VA> {
    /// A window closes when the close time (stream time, or the wall clock) reaches its end
    /// plus this.
    fn close_after(&self) -> i64;

    /// Applies `record` (not null, already observed by `out`'s clock).
    ///
    /// # Errors
    /// When the store or a downstream operator fails.
    fn process(
        &self,
        out: &mut WindowOutput<K, VA>,
        cx: &mut TaskContext,
        record: Record<K, V>,
    ) -> Result<(), StreamsError>;
}

/// A windowed aggregation's node: skips null records, keeps the aggregation's own stream
/// time, emits the windows it closes, and hands each record to the kind's logic.
pub(crate) struct WindowedNode<K, V, VA> {
    pub(crate) kind: &'static str,
    pub(crate) key_serde: SerdeRef<K>,
    pub(crate) null_value: Option<IsNull<V>>,
    pub(crate) out: WindowOutput<K, VA>,
    pub(crate) logic: Box<dyn WindowLogic<K, V, VA>>,
}

impl<K: Data, V: Data, VA: Data> Node<K, V> for WindowedNode<K, V, VA> {
    fn process(&mut self, cx: &mut TaskContext, record: Record<K, V>) -> Result<(), StreamsError> {
        let null_value = self.null_value.as_ref().is_some_and(|n| n(&record.value));
        if cx.skips_null(self.kind, self.key_serde.is_null(&record.key), null_value) {
            return Ok(());
        }
        self.out.observe(record.timestamp);
        // Windows this record's time closes are emitted before its writes, which may
        // expire their segments.
        self.out.emit_closed(cx)?;
        self.logic.process(&mut self.out, cx, record)
    }
}

impl<K: Data, V: Data, VA: Data> NodeHooks for WindowedNode<K, V, VA> {
    fn init(&mut self, cx: &mut TaskContext) -> Result<(), StreamsError> {
        self.out.init(cx)
    }

    fn punctuate(
        &mut self,
        cx: &mut TaskContext,
        _id: ScheduleId,
        timestamp: i64,
    ) -> Result<(), StreamsError> {
        self.out.punctuate(cx, timestamp)
    }

    fn flush(&mut self, cx: &mut TaskContext) -> Result<(), StreamsError> {
        self.out.flush(cx)
    }
}
