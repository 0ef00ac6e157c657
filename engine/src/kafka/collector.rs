use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Message, TopicPartitionList};
use rustc_hash::FxHashMap;
use tributary_state::{ChangelogRecord, ChangelogSink, StateError};

use super::acknowledged::Acknowledged;
use super::client::{ClientRole, client_config};
use super::kafka_error;
use crate::config::StreamsConfig;
use crate::error::{KafkaFailure, StreamsError};
use crate::processor::{OutgoingRecord, RecordCollector};
use crate::record::Headers;

/// How long a flush sleeps when no delivery report is in: the most it adds to a commit.
const FLUSH_WAIT: Duration = Duration::from_micros(200);

/// The number a record not tracked by [`Acknowledged`] is sent with.
const UNNUMBERED: usize = usize::MAX;

/// Tracks what the brokers acknowledged: the offset after the last delivered record of each
/// partition, how far every record sent is acknowledged, and the first delivery failure.
/// librdkafka requires a producer's context to be shareable across threads, hence the
/// locks; they are only taken by the stream thread that owns the producer (delivery reports
/// are served inside its `poll`).
#[derive(Default)]
pub struct DeliveryTracker {
    delivered: Mutex<Delivered>,
    failure: Mutex<Option<KafkaFailure>>,
}

#[derive(Default)]
struct Delivered {
    /// Topic → the offset after the last delivered record, by partition (`None`: nothing
    /// delivered). Looked up by `&str`, so a delivery report allocates nothing; hashed with
    /// FxHash, as every record's report looks its topic up.
    ends: FxHashMap<String, Vec<Option<i64>>>,
    /// The records acknowledged, by the number each was sent with.
    acknowledged: Acknowledged,
}

impl ClientContext for DeliveryTracker {}

impl ProducerContext for DeliveryTracker {
    /// The number the record was sent with (see [`KafkaCollector::next_sequence`]).
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, sequence: usize) {
        match result {
            Ok(message) => {
                let mut delivered = self.delivered.lock().unwrap_or_else(|p| p.into_inner());
                if sequence != UNNUMBERED {
                    delivered.acknowledged.acknowledge(sequence as u64);
                }
                let ends = &mut delivered.ends;
                let partitions = match ends.get_mut(message.topic()) {
                    Some(partitions) => partitions,
                    None => ends.entry(message.topic().to_owned()).or_default(),
                };
                let index = message.partition().max(0) as usize;
                if partitions.len() <= index {
                    partitions.resize(index + 1, None);
                }
                let end = &mut partitions[index];
                *end = Some(end.unwrap_or(0).max(message.offset() + 1));
            }
            Err((error, message)) => {
                let mut failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
                failure.get_or_insert_with(|| {
                    let mut failure = KafkaFailure::from(error);
                    failure.message = format!(
                        "a record for `{}` partition {} was not delivered: {error}",
                        message.topic(),
                        message.partition()
                    );
                    failure
                });
            }
        }
    }
}

type Shared = Arc<BaseProducer<DeliveryTracker>>;

/// Changelog records held back until the records sent before them are acknowledged.
#[derive(Default)]
struct HeldChangelog {
    /// Topics of the held records (a stream thread logs to a handful).
    topics: Vec<String>,
    records: Vec<HeldRecord>,
}

struct HeldRecord {
    /// The number the next record sent would have had when this one was held: every record
    /// numbered below it was sent before it.
    after: u64,
    topic: usize,
    partition: i32,
    key: Vec<u8>,
    value: Option<Vec<u8>>,
    timestamp: i64,
}

/// How long an abort may take before the producer is given up.
const ABORT_TIMEOUT: Duration = Duration::from_secs(5);

/// How many records are sent between two polls of the producer for delivery reports (one
/// report covers a batch of records). A poll costs a few clock reads and a queue lock —
/// more than a send, when done after every one; a stream thread also polls after each
/// round of processing ([`KafkaCollector::release_acknowledged`]), and a flush until every
/// record is acknowledged.
const SENDS_PER_POLL: u64 = 64;

/// How many changelog records are held before they are released without waiting for a
/// commit.
const HELD_CHANGELOG_LIMIT: usize = 20_000;

/// A [`RecordCollector`] writing through an idempotent librdkafka producer. Clones share the
/// producer and the held changelog records: one collector per stream thread, used by all its
/// tasks and their changelogs on that thread only.
///
/// Under exactly-once ([`KafkaCollector::transactional`]) the producer is transactional:
/// the first record after a commit begins a transaction, and
/// [`KafkaCollector::commit_transaction`] adds the consumed offsets to it and commits it.
/// Changelog records then go out at once: the transaction makes them visible together
/// with everything else or not at all.
///
/// Under at-least-once, changelog records are held back and sent only once every record
/// sent before them (to sinks and repartition topics) is acknowledged: as soon as that is
/// so (see [`KafkaCollector::release_acknowledged`]), at each flush, or when many are held.
/// A changelog is then never ahead of what its task wrote downstream, so that after a
/// crash, a store restored to the end of its changelog and records processed again produce
/// the same downstream records rather than lose some. Without this, a table regrouped by
/// a new key could keep a row under its old key forever: the old key's retraction lost in
/// flight, and the restored store no longer knowing the old key.
#[derive(Clone)]
pub struct KafkaCollector {
    producer: Shared,
    held: Rc<RefCell<HeldChangelog>>,
    /// How many records were sent (under at-least-once, the number the next one is sent
    /// with).
    sent: Rc<Cell<u64>>,
    flush_timeout: Duration,
    /// Under exactly-once: whether a transaction is open.
    transaction: Option<Rc<Cell<bool>>>,
}

impl KafkaCollector {
    /// A producer for the cluster in `config`.
    ///
    /// # Errors
    /// When librdkafka rejects the configuration.
    pub fn new(config: &StreamsConfig) -> Result<Self, StreamsError> {
        Self::create(config, None)
    }

    /// A producer for the cluster in `config`, transactional with `transactional_id`.
    fn create(
        config: &StreamsConfig,
        transactional_id: Option<&str>,
    ) -> Result<Self, StreamsError> {
        let mut client = client_config(config, ClientRole::Producer);
        if let Some(id) = transactional_id {
            client.set("transactional.id", id);
        }
        let producer = client
            .create_with_context(DeliveryTracker::default())
            .map_err(kafka_error("create the producer"))?;
        Ok(Self {
            producer: Arc::new(producer),
            held: Rc::default(),
            sent: Rc::default(),
            flush_timeout: Duration::from_secs(60),
            transaction: transactional_id.map(|_| Rc::default()),
        })
    }

    /// A transactional producer with `transactional_id`, for a stream thread under
    /// exactly-once. Initializing it fences any earlier producer with the same id and
    /// aborts the transaction that one left open.
    ///
    /// # Errors
    /// When librdkafka rejects the configuration, or the transaction coordinator cannot be
    /// reached within the flush timeout.
    pub fn transactional(
        config: &StreamsConfig,
        transactional_id: &str,
    ) -> Result<Self, StreamsError> {
        let collector = Self::create(config, Some(transactional_id))?;
        collector
            .producer
            .init_transactions(collector.flush_timeout)
            .map_err(kafka_error("initialize the producer's transactions"))?;
        Ok(collector)
    }

    /// Whether this collector writes in transactions.
    pub fn is_transactional(&self) -> bool {
        self.transaction.is_some()
    }

    /// Begins a transaction unless one is open (or the producer is not transactional).
    fn begin(&self) -> Result<(), KafkaFailure> {
        if let Some(open) = &self.transaction
            && !open.get()
        {
            self.producer
                .begin_transaction()
                .map_err(|e| KafkaFailure::from(&e))?;
            open.set(true);
        }
        Ok(())
    }

    /// Commits the open transaction with `offsets` (the next offsets of the consumed
    /// partitions) as the consumer group's progress, fenced by `consumer`'s group
    /// generation (KIP-447): a thread that lost its partitions in a rebalance cannot commit.
    /// With nothing sent and no offsets, there is nothing to commit.
    ///
    /// # Errors
    /// When the transaction fails: [`KafkaFailure::abortable`] says it must be aborted
    /// ([`KafkaCollector::abort_transaction`]), [`KafkaFailure::fatal`] that the producer
    /// was fenced.
    pub fn commit_transaction<C: ConsumerContext>(
        &self,
        offsets: &TopicPartitionList,
        consumer: &BaseConsumer<C>,
    ) -> Result<(), StreamsError> {
        let Some(open) = &self.transaction else {
            return Ok(());
        };
        if !open.get() && offsets.count() == 0 {
            return Ok(());
        }
        self.begin()
            .map_err(|e| StreamsError::kafka("begin a transaction", e))?;
        if offsets.count() > 0 {
            let group = consumer.group_metadata().ok_or_else(|| {
                StreamsError::kafka(
                    "send the consumed offsets into the transaction",
                    KafkaFailure::detected("the consumer has no group metadata yet", true),
                )
            })?;
            self.producer
                .send_offsets_to_transaction(offsets, &group, self.flush_timeout)
                .map_err(kafka_error(
                    "send the consumed offsets into the transaction",
                ))?;
        }
        self.producer
            .commit_transaction(self.flush_timeout)
            .map_err(kafka_error("commit the transaction"))?;
        open.set(false);
        self.take_failure()
    }

    /// Aborts the open transaction, if any: none of its records become visible to
    /// read_committed readers, and its offsets are not committed.
    ///
    /// # Errors
    /// When the abort fails (the producer must then be replaced).
    pub fn abort_transaction(&self) -> Result<(), StreamsError> {
        let Some(open) = &self.transaction else {
            return Ok(());
        };
        // A fenced producer has nothing left to abort: its successor's initialization
        // aborted the transaction. Otherwise the abort gets a short wait: the producer is
        // dropped after it anyway, and a transaction it leaves open is aborted when the
        // next producer with its transactional id starts (or when it times out).
        if open.get() && self.producer.client().fatal_error().is_none() {
            self.producer
                .abort_transaction(ABORT_TIMEOUT)
                .map_err(kafka_error("abort the transaction"))?;
        }
        open.set(false);
        // Delivery failures of the aborted records no longer matter.
        let _ = self.take_failure();
        Ok(())
    }

    /// The first delivery failure reported since the last call, as an error.
    fn take_failure(&self) -> Result<(), StreamsError> {
        let tracker = self.producer.context();
        match tracker
            .failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            Some(failure) => Err(StreamsError::kafka("deliver records", failure)),
            None => Ok(()),
        }
    }

    /// Waits for every record sent so far, and fails on the first record not delivered.
    fn flush_producer(&self) -> Result<(), StreamsError> {
        // Delivery reports are served as they come in, and between them the thread sleeps.
        // Neither of rdkafka's ways of waiting fits: its flush wakes in 100 ms steps, and
        // a poll with a timeout keeps polling until that timeout ends, with what is left
        // rounded down to whole milliseconds — after a report within its first
        // millisecond, it spins. On a commit that waits for the broker's acknowledgements,
        // that spinning took the CPU the broker needed to send them.
        let deadline = Instant::now() + self.flush_timeout;
        loop {
            let in_flight = self.serve_delivery_reports();
            if in_flight == 0 {
                break;
            }
            // A fenced (or otherwise fatally failed) producer delivers nothing more.
            if let Some((code, reason)) = self.producer.client().fatal_error() {
                return Err(StreamsError::kafka(
                    "flush the producer",
                    KafkaFailure::with_code(code, reason),
                ));
            }
            if Instant::now() > deadline {
                return Err(StreamsError::kafka(
                    "flush the producer",
                    KafkaFailure::detected(
                        format!(
                            "{in_flight} records were not acknowledged within {:?}",
                            self.flush_timeout
                        ),
                        true,
                    ),
                ));
            }
            std::thread::sleep(FLUSH_WAIT);
        }
        self.take_failure()
    }

    /// Serves the delivery reports that are in, without waiting for more; returns how many
    /// records are still in flight.
    fn serve_delivery_reports(&self) -> i32 {
        let mut in_flight = self.producer.in_flight_count();
        while in_flight > 0 {
            // Without a timeout, a poll serves at most one report (a batch of records).
            self.producer.poll(Duration::ZERO);
            let left = self.producer.in_flight_count();
            if left == in_flight {
                break;
            }
            in_flight = left;
        }
        in_flight
    }

    /// The number the next record is sent with; counts it as sent. A transactional
    /// producer's records are not numbered ([`UNNUMBERED`]): it holds no changelog records
    /// back, and the records of an aborted transaction are never acknowledged.
    fn next_sequence(&self) -> usize {
        let sequence = self.sent.get();
        self.sent.set(sequence + 1);
        if self.is_transactional() {
            return UNNUMBERED;
        }
        sequence as usize
    }

    /// Sends one record, numbered as the next one (see [`DeliveryTracker`]), waiting for
    /// room while librdkafka's queue is full.
    fn produce(
        &self,
        topic: &str,
        partition: i32,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        timestamp: i64,
        headers: Option<OwnedHeaders>,
    ) -> Result<(), KafkaFailure> {
        let mut record: BaseRecord<'_, [u8], [u8], usize> =
            BaseRecord::with_opaque_to(topic, self.next_sequence())
                .partition(partition)
                .timestamp(timestamp);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(value) = value {
            record = record.payload(value);
        }
        if let Some(headers) = headers {
            record = record.headers(headers);
        }
        loop {
            match self.producer.send(record) {
                Ok(()) => {
                    if self.sent.get().is_multiple_of(SENDS_PER_POLL) {
                        self.producer.poll(Duration::ZERO);
                    }
                    return Ok(());
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    record = returned;
                    self.producer.poll(Duration::from_millis(10));
                }
                Err((error, _)) => return Err(KafkaFailure::from(&error)),
            }
        }
    }

    /// Waits for everything sent so far, then sends the held changelog records.
    fn release_changelog(&self) -> Result<(), StreamsError> {
        self.flush_producer()?;
        let held = std::mem::take(&mut *self.held.borrow_mut());
        self.send_held(&held.topics, held.records)
    }

    /// Serves the delivery reports that are in, then sends the held changelog records whose
    /// earlier records are all acknowledged, without waiting for any: a stream thread calls
    /// this after each round of processing, so that changelog records go out a broker round
    /// trip after the records before them rather than all at the next commit — a commit
    /// then waits for fewer acknowledgements, and the records sent right after it do not
    /// queue behind a burst of changelog records.
    ///
    /// # Errors
    /// When a released record cannot be handed to the producer.
    pub fn release_acknowledged(&self) -> Result<(), StreamsError> {
        self.serve_delivery_reports();
        if self.held.borrow().records.is_empty() {
            return Ok(());
        }
        let acknowledged = self
            .producer
            .context()
            .delivered
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .acknowledged
            .all_before();
        let released: Vec<HeldRecord> = {
            let mut held = self.held.borrow_mut();
            let ready = held.records.partition_point(|r| r.after <= acknowledged);
            held.records.drain(..ready).collect()
        };
        // Sending takes nothing held: the topics stay borrowed meanwhile.
        let held = self.held.borrow();
        self.send_held(&held.topics, released)
    }

    /// Sends held changelog records (whose topics are indexes into `topics`).
    fn send_held(&self, topics: &[String], records: Vec<HeldRecord>) -> Result<(), StreamsError> {
        for r in records {
            let topic = &topics[r.topic];
            self.produce(
                topic,
                r.partition,
                Some(&r.key),
                r.value.as_deref(),
                r.timestamp,
                None,
            )
            .map_err(|error| StreamsError::Produce {
                topic: topic.clone(),
                error,
            })?;
        }
        Ok(())
    }
}

fn owned_headers(headers: &Headers) -> Option<OwnedHeaders> {
    if headers.is_empty() {
        return None;
    }
    let mut owned = OwnedHeaders::new_with_capacity(headers.len());
    for (key, value) in headers {
        owned = owned.insert(Header {
            key,
            value: value.as_deref(),
        });
    }
    Some(owned)
}

impl RecordCollector for KafkaCollector {
    fn send(&mut self, r: OutgoingRecord<'_>) -> Result<(), StreamsError> {
        self.begin()
            .map_err(|e| StreamsError::kafka("begin a transaction", e))?;
        self.produce(
            r.topic,
            r.partition,
            r.key,
            r.value,
            r.timestamp,
            owned_headers(r.headers),
        )
        .map_err(|error| StreamsError::Produce {
            topic: r.topic.to_owned(),
            error,
        })
    }

    fn flush(&mut self) -> Result<(), StreamsError> {
        self.release_changelog()?;
        self.flush_producer()
    }

    fn end_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        let delivered = self
            .producer
            .context()
            .delivered
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        delivered
            .ends
            .get(topic)
            .and_then(|partitions| partitions.get(usize::try_from(partition).ok()?).copied())
            .flatten()
    }

    fn changelog_sink(&self) -> Box<dyn ChangelogSink> {
        Box::new(self.clone())
    }
}

impl ChangelogSink for KafkaCollector {
    fn send(&mut self, r: ChangelogRecord<'_>) -> Result<(), StateError> {
        let failed = |reason: String| StateError::Changelog {
            store: r.store.to_owned(),
            topic: r.topic.to_owned(),
            reason,
        };
        if self.is_transactional() {
            self.begin().map_err(|e| failed(e.to_string()))?;
            return self
                .produce(
                    r.topic,
                    r.partition,
                    Some(r.key),
                    r.value,
                    r.timestamp,
                    None,
                )
                .map_err(|e| failed(e.to_string()));
        }
        let full = {
            let mut held = self.held.borrow_mut();
            let topic = match held.topics.iter().position(|t| t == r.topic) {
                Some(index) => index,
                None => {
                    held.topics.push(r.topic.to_owned());
                    held.topics.len() - 1
                }
            };
            held.records.push(HeldRecord {
                after: self.sent.get(),
                topic,
                partition: r.partition,
                key: r.key.to_vec(),
                value: r.value.map(<[u8]>::to_vec),
                timestamp: r.timestamp,
            });
            held.records.len() >= HELD_CHANGELOG_LIMIT
        };
        if full {
            self.release_changelog()
                .map_err(|e| failed(e.to_string()))?;
        }
        Ok(())
    }
}
