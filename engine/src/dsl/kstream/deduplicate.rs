//! `KStream::deduplicate_by_key` and `deduplicate`: drop a record whose id was seen within
//! a time span (event time), keeping the first. Kafka Streams has no such operator
//! (KAFKA-10369); it is what an idempotent consumer of at-least-once events needs.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use super::Nulls;
use crate::dsl::params::Deduplicated;
use crate::dsl::repartition::{InternalTopic, require, through_topic};
use crate::dsl::timed_store::{TimedStore, timed_spec};
use crate::dsl::{Data, KStream, sink};
use crate::error::StreamsError;
use crate::partitioner::murmur2;
use crate::processor::TaskContext;
use crate::processor::node::{Forward, Node, NodeRef, node_factory};
use crate::record::Record;
use crate::serde::{Format, Serde, SerdeError, SerdeRef};
use crate::topology::graph::TopicPurpose;

/// Computes a record's id.
type IdFn<K, V, I> = Arc<dyn Fn(&K, &V) -> I + Send + Sync>;

impl<K: Data, V: Data> KStream<K, V> {
    /// Drops every record whose key was seen at most `within` earlier or later in event
    /// time, keeping the first; see [`KStream::deduplicate`]. A stream whose key may have
    /// changed is repartitioned first; records with a null key are skipped (and counted).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tributary_engine::dsl::*;
    /// # use tributary_engine::serde::*;
    /// # use tributary_engine::{StreamsConfig, TopologyTestDriver};
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream("payments", Consumed::with(StringSerde, I64Serde))
    ///     .deduplicate_by_key(Duration::from_secs(60), Deduplicated::new())
    ///     .to("unique-payments", Produced::with(StringSerde, I64Serde));
    /// let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// let input = driver.input_topic("payments", StringSerde, I64Serde)?;
    /// input.pipe("p-1".into(), 100, 1_000)?;
    /// input.pipe("p-1".into(), 100, 30_000)?; // sent again: dropped
    /// input.pipe("p-2".into(), 250, 31_000)?;
    /// input.pipe("p-1".into(), 100, 90_000)?; // 89 s after the first: new again
    /// let out = driver.output_topic("unique-payments", StringSerde, I64Serde);
    /// let expected = vec![("p-1".into(), 100), ("p-2".into(), 250), ("p-1".into(), 100)];
    /// assert_eq!(out.read_key_values()?, expected);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn deduplicate_by_key(&self, within: Duration, deduplicated: Deduplicated<K>) -> Self
    where
        K: PartialEq,
    {
        let kind = "deduplicate-by-key";
        let fix = "give the stream a key serde (`Consumed`, or a `Grouped` upstream) or pass `Deduplicated::with(id_serde)`";
        let id_serde = deduplicated.id_serde.clone().or(self.key_serde.clone());
        let id_serde = require(
            &self.graph,
            id_serde,
            kind,
            "key",
            "keep the seen keys",
            fix,
        );
        let input = self.keyed_input(kind, deduplicated.name.clone(), fix);
        let id: IdFn<K, V, K> = Arc::new(|key, _| key.clone());
        let plan = Plan {
            kind,
            id,
            id_serde,
            within,
            deduplicated,
            nulls: Some(self.nulls()),
        };
        plan.add(self, input, false)
    }

    /// Drops every record whose id (`id(key, value)`) was seen at most `within` earlier or
    /// later in event time, keeping the first: a duplicate sent again by an at-least-once
    /// producer, or a retried request, passes once. Records out of order are deduplicated
    /// the same way. The ids are kept in a logged window-style store for `within`, so
    /// duplicates are recognised across restarts and rebalances (exactly, under
    /// `exactly_once_v2`; under at-least-once a record processed again after a crash is
    /// the same record, not a duplicate, and passes again). A record older than the
    /// stream time minus `within` cannot be checked (its id may have been forgotten) and
    /// passes.
    ///
    /// The stream is repartitioned by id first (the topic `<application.id>-<name>-repartition`),
    /// so that every record of an id meets in one task; the records keep their keys, and a
    /// later stateful operator repartitions them by key again. When the id is the key, use
    /// [`KStream::deduplicate_by_key`], which needs no repartition.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tributary_engine::dsl::*;
    /// # use tributary_engine::serde::*;
    /// # use tributary_engine::{StreamsConfig, TopologyTestDriver};
    /// // Events keyed by order, each carrying its event id after a `:`.
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream("order-events", Consumed::with(StringSerde, StringSerde))
    ///     .deduplicate(
    ///         |_, event: &String| event.split(':').next().unwrap_or_default().to_owned(),
    ///         Duration::from_secs(600),
    ///         Deduplicated::with(StringSerde).with_name("event-ids"),
    ///     )
    ///     .to("unique-order-events", Produced::with(StringSerde, StringSerde));
    /// let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// let input = driver.input_topic("order-events", StringSerde, StringSerde)?;
    /// input.pipe("order-1".into(), "e1:created".into(), 1_000)?;
    /// input.pipe("order-1".into(), "e1:created".into(), 2_000)?; // redelivered
    /// input.pipe("order-1".into(), "e2:paid".into(), 3_000)?;
    /// let out = driver.output_topic("unique-order-events", StringSerde, StringSerde);
    /// let values: Vec<String> = out.read_key_values()?.into_iter().map(|(_, v)| v).collect();
    /// assert_eq!(values, ["e1:created", "e2:paid"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn deduplicate<I: Data + PartialEq>(
        &self,
        id: impl Fn(&K, &V) -> I + Send + Sync + 'static,
        within: Duration,
        deduplicated: Deduplicated<I>,
    ) -> Self {
        let kind = "deduplicate";
        let fix = "pass `Deduplicated::with(id_serde)` and give the stream key and value serdes (`Consumed`, or `Grouped` upstream)";
        let graph = &self.graph;
        let why = "keep the seen ids";
        let id_serde = require(graph, deduplicated.id_serde.clone(), kind, "id", why, fix);
        let why = "write the repartition topic";
        let key_serde = require(graph, self.key_serde.clone(), kind, "key", why, fix);
        let value_serde = require(graph, self.value_serde.clone(), kind, "value", why, fix);
        let id: IdFn<K, V, I> = Arc::new(id);
        // Every record of an id goes to one partition: the partition its serialized id
        // would have as a key. An id that cannot be serialized goes by key here and fails
        // with a clear error in the deduplicating node, which serializes it too.
        let by_id = {
            let (id, id_serde) = (id.clone(), id_serde.clone());
            move |key: &K, value: &V| {
                let mut bytes = Vec::new();
                id_serde.serialize(&id(key, value), &mut bytes).ok()?;
                Some(murmur2(&bytes) & 0x7fff_ffff)
            }
        };
        let partitioner: sink::PartitionFn<K, V> = Arc::new(by_id);
        let topic = InternalTopic {
            upstream: self.node,
            more_upstream: Vec::new(),
            name: deduplicated.name.clone(),
            purpose: TopicPurpose::Repartition,
        };
        let writer = sink::partitioned(key_serde.clone(), value_serde.clone(), Some(partitioner));
        let input = through_topic(graph, topic, writer, key_serde, value_serde);
        let plan = Plan {
            kind,
            id,
            id_serde,
            within,
            deduplicated,
            nulls: None,
        };
        plan.add(self, input, true)
    }
}

/// What a deduplicating node is built from.
struct Plan<K, V, I> {
    kind: &'static str,
    id: IdFn<K, V, I>,
    id_serde: SerdeRef<I>,
    within: Duration,
    deduplicated: Deduplicated<I>,
    /// Deduplicating by key: null keys are skipped.
    nulls: Option<Nulls<K, V>>,
}

impl<K: Data, V: Data, I: Data + PartialEq> Plan<K, V, I> {
    /// Adds the deduplicating node after `input` (a node of `stream`'s graph); its output
    /// needs repartitioning by key when `by_id`.
    fn add(self, stream: &KStream<K, V>, input: usize, by_id: bool) -> KStream<K, V> {
        let within_ms = i64::try_from(self.within.as_millis()).unwrap_or(i64::MAX);
        // Records at most `within` apart are duplicates: the earliest time a record at the
        // stream time looks back to is still kept.
        let retention_ms = within_ms.saturating_add(1);
        let spec = timed_spec(
            self.id_serde,
            Arc::new(FirstSeenSerde),
            retention_ms,
            (self.deduplicated.backend, self.deduplicated.logging),
        );
        let (kind, id, nulls) = (self.kind, self.id, self.nulls);
        let factory = node_factory::<K, V, K, V>(move |cx, forward| {
            let node = Deduplicate {
                kind,
                id: id.clone(),
                within_ms,
                seen: TimedStore::new(cx.store(0)?, retention_ms),
                nulls: nulls.clone(),
                forward,
            };
            Ok(Rc::new(RefCell::new(node)) as NodeRef<K, V>)
        });
        let name = self.deduplicated.name;
        let store_name = name.as_ref().map(|n| format!("{n}-store"));
        let mut graph = stream.graph.borrow_mut();
        let (node, _) =
            graph.add_aggregation(kind, vec![input], store_name, vec![(spec, "")], factory);
        graph.nodes[node].explicit = name;
        drop(graph);
        KStream {
            graph: stream.graph.clone(),
            node,
            key_serde: stream.key_serde.clone(),
            value_serde: stream.value_serde.clone(),
            repartition_required: by_id,
        }
    }
}

/// The deduplicating node: forwards a record unless its id was seen within `within_ms`.
struct Deduplicate<K, V, I> {
    kind: &'static str,
    id: IdFn<K, V, I>,
    within_ms: i64,
    /// Where each id was first seen, by id and time.
    seen: TimedStore<I, FirstSeen>,
    nulls: Option<Nulls<K, V>>,
    forward: Forward<K, V>,
}

impl<K: Data, V: Data, I: Data + PartialEq> Node<K, V> for Deduplicate<K, V, I> {
    fn process(&mut self, cx: &mut TaskContext, record: Record<K, V>) -> Result<(), StreamsError> {
        let null_key = self.nulls.as_ref().is_some_and(|n| n.key(&record.key));
        if cx.skips_null(self.kind, null_key, false) {
            return Ok(());
        }
        let id = (self.id)(&record.key, &record.value);
        let t = record.timestamp;
        let (from, to) = (
            t.saturating_sub(self.within_ms),
            t.saturating_add(self.within_ms),
        );
        let seen = self.seen.fetch(&id, from, to)?;
        // The record seen first may be this one, processed again after a crash past the
        // last commit (at-least-once): it passes again, as its output may not have been
        // delivered. Any other record with the id is a duplicate.
        let is_this = |first: &FirstSeen| first.offset == cx.offset && *first.topic == *cx.topic;
        if seen.iter().any(|(_, first)| !is_this(first)) {
            cx.metrics.dropped_duplicates += 1;
            tracing::trace!(
                operator = self.kind,
                offset = cx.offset,
                "dropping a duplicate"
            );
            return Ok(());
        }
        if seen.is_empty() {
            let this = FirstSeen {
                topic: cx.topic.to_string(),
                offset: cx.offset,
            };
            self.seen.put(&id, &this, t)?;
        }
        self.forward.send(cx, record)
    }
}

/// The input record an id was first seen in: its topic and offset.
#[derive(Clone, PartialEq)]
struct FirstSeen {
    topic: String,
    offset: i64,
}

/// A [`FirstSeen`] as the store keeps it: the offset (eight bytes, big-endian), then the
/// topic's name.
struct FirstSeenSerde;

impl Serde<FirstSeen> for FirstSeenSerde {
    fn serialize(&self, seen: &FirstSeen, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        out.extend_from_slice(&seen.offset.to_be_bytes());
        out.extend_from_slice(seen.topic.as_bytes());
        Ok(())
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<FirstSeen, SerdeError> {
        let (offset, topic) = bytes.split_first_chunk::<8>().ok_or_else(|| {
            SerdeError::new("first-seen", format!("{} bytes are too few", bytes.len()))
        })?;
        let topic = std::str::from_utf8(topic)
            .map_err(|e| SerdeError::new("first-seen", format!("topic not UTF-8: {e}")))?;
        Ok(FirstSeen {
            topic: topic.to_owned(),
            offset: i64::from_be_bytes(*offset),
        })
    }

    fn format(&self) -> Format {
        Format::Opaque("first-seen")
    }
}
