//! Sink nodes: serialize, partition with the Java-compatible partitioner, and send.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use crate::config::ProductionHandler;
use crate::error::{RecordPart, StreamsError};
use crate::partitioner::partition_for;
use crate::processor::node::{Factory, Node, NodeRef, node_factory};
use crate::processor::{OutgoingRecord, TaskContext};
use crate::record::Record;
use crate::serde::{SerdeRef, encode};

/// Chooses a record's partition itself (`None`: by key, as by default).
pub(crate) type PartitionFn<K, V> = Arc<dyn Fn(&K, &V) -> Option<i32> + Send + Sync>;

struct Sink<K, V> {
    topic: String,
    partitions: i32,
    key_serde: SerdeRef<K>,
    value_serde: SerdeRef<V>,
    partitioner: Option<PartitionFn<K, V>>,
}

impl<K, V> Node<K, V> for Sink<K, V> {
    fn process(&mut self, cx: &mut TaskContext, record: Record<K, V>) -> Result<(), StreamsError> {
        match self.write(cx, record) {
            Err(error)
                if error.is_record_rejected()
                    && cx.production_handler == ProductionHandler::Continue =>
            {
                tracing::warn!(task = %cx.task_id, topic = %self.topic, offset = cx.offset, %error, "dropping an output record that cannot be written (production.exception.handler = continue)");
                cx.metrics.skipped_production += 1;
                cx.rejected_output.get_or_insert(error);
                Ok(())
            }
            written => written,
        }
    }
}

impl<K, V> Sink<K, V> {
    /// Serializes, partitions and sends `record`.
    fn write(&self, cx: &mut TaskContext, record: Record<K, V>) -> Result<(), StreamsError> {
        let has_key = encode(&*self.key_serde, &record.key, &mut cx.key_buf).map_err(
            StreamsError::topic_serialization(&self.topic, RecordPart::Key),
        )?;
        let has_value = encode(&*self.value_serde, &record.value, &mut cx.value_buf).map_err(
            StreamsError::topic_serialization(&self.topic, RecordPart::Value),
        )?;
        let chosen = self
            .partitioner
            .as_ref()
            .and_then(|p| p(&record.key, &record.value));
        let partition = match chosen {
            Some(partition) => partition % self.partitions,
            None if has_key => partition_for(&cx.key_buf, self.partitions),
            None => cx.partition % self.partitions,
        };
        cx.collector.send(OutgoingRecord {
            topic: &self.topic,
            partition,
            key: has_key.then_some(cx.key_buf.as_slice()),
            value: has_value.then_some(cx.value_buf.as_slice()),
            timestamp: record.timestamp,
            headers: &record.headers,
        })
    }
}

/// A sink writing to its node's topic with these serdes.
pub(crate) fn factory<K: 'static, V: 'static>(
    key_serde: SerdeRef<K>,
    value_serde: SerdeRef<V>,
) -> Factory {
    partitioned(key_serde, value_serde, None)
}

/// A sink writing to its node's topic with these serdes, to the partitions `partitioner`
/// chooses.
pub(crate) fn partitioned<K: 'static, V: 'static>(
    key_serde: SerdeRef<K>,
    value_serde: SerdeRef<V>,
    partitioner: Option<PartitionFn<K, V>>,
) -> Factory {
    node_factory::<K, V, (), ()>(move |cx, _| {
        let topic = cx.topic().to_owned();
        let partitions = cx.partitions_of(&topic)?;
        let sink = Sink {
            topic,
            partitions,
            key_serde: key_serde.clone(),
            value_serde: value_serde.clone(),
            partitioner: partitioner.clone(),
        };
        Ok(Rc::new(RefCell::new(sink)) as NodeRef<K, V>)
    })
}
