//! The hand-written rdkafka loops the engine is measured against: consume → process →
//! produce with the engine's client settings, murmur2 partitioning and JSON serdes, the
//! consumed offsets committed after a producer flush every commit interval.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};
use tributary::StreamsConfig;
use tributary::engine::internals::{ClientRole, client_config};
use tributary::engine::partitioner::partition_for;
use tributary::topologies::task_list::TaskEvent;

use crate::cpu::{Run, process_cpu};
use crate::work;

/// What the loop does with each event.
#[derive(Clone, Copy)]
pub enum Work {
    /// Filter and map each event to a summary, written to the output topic.
    Stateless,
    /// Count events per user in a `HashMap`; each commit writes the counts that changed.
    CountPerUser,
}

/// Reads `records` events from `input` in group `config.application_id`, does `work`,
/// writes to `output` (`partitions` partitions), commits and leaves the group.
pub fn run(
    config: &StreamsConfig,
    input: &str,
    output: &str,
    partitions: i32,
    records: u64,
    work: Work,
) -> Run {
    let cpu_before = process_cpu();
    let consumer: BaseConsumer = client_config(config, ClientRole::Consumer)
        .create()
        .unwrap();
    let producer: BaseProducer = client_config(config, ClientRole::Producer)
        .create()
        .unwrap();
    consumer.subscribe(&[input]).unwrap();
    let commit_interval = Duration::from_millis(config.commit_interval_ms);

    let mut counts: HashMap<String, i64> = HashMap::new();
    let mut changed: HashSet<String> = HashSet::new();
    let mut value = Vec::new();
    let mut seen = 0u64;
    let mut first: Option<Instant> = None;
    let mut last_commit = Instant::now();
    while seen < records {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message.unwrap();
            first.get_or_insert_with(Instant::now);
            seen += 1;
            let key = message.key().unwrap_or_default();
            let event: TaskEvent = serde_json::from_slice(message.payload().unwrap()).unwrap();
            match work {
                Work::Stateless => {
                    if work::keep(&event) {
                        value.clear();
                        serde_json::to_writer(&mut value, &work::summary(event)).unwrap();
                        send(
                            &producer,
                            output,
                            partition_for(key, partitions),
                            key,
                            &value,
                        );
                    }
                }
                Work::CountPerUser => {
                    let user = std::str::from_utf8(key).unwrap();
                    match counts.get_mut(user) {
                        Some(count) => *count += 1,
                        None => {
                            counts.insert(user.to_owned(), 1);
                        }
                    }
                    if !changed.contains(user) {
                        changed.insert(user.to_owned());
                    }
                }
            }
        }
        producer.poll(Duration::ZERO);
        if seen == records || last_commit.elapsed() >= commit_interval {
            commit(
                &consumer,
                &producer,
                output,
                partitions,
                &counts,
                &mut changed,
            );
            last_commit = Instant::now();
        }
    }
    // Leaving the group is part of the run, as it is of the engine's `close`.
    drop(consumer);
    drop(producer);
    let elapsed = first.expect("records were read").elapsed();
    Run {
        records: seen,
        elapsed,
        cpu: process_cpu() - cpu_before,
    }
}

/// Writes the changed counts, flushes the producer, then commits the consumed positions.
fn commit(
    consumer: &BaseConsumer,
    producer: &BaseProducer,
    output: &str,
    partitions: i32,
    counts: &HashMap<String, i64>,
    changed: &mut HashSet<String>,
) {
    for user in changed.drain() {
        let count = counts[&user].to_be_bytes();
        let key = user.as_bytes();
        send(
            producer,
            output,
            partition_for(key, partitions),
            key,
            &count,
        );
    }
    // Delivery reports served as they come in, sleeping 200 µs between them, as the
    // engine's collector does: rdkafka's `flush` wakes in 100 ms steps, and its `poll` with
    // a timeout spins through the last millisecond of it.
    loop {
        let in_flight = producer.in_flight_count();
        if in_flight == 0 {
            break;
        }
        producer.poll(Duration::ZERO);
        if producer.in_flight_count() == in_flight {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    let positions = consumer.position().unwrap();
    let mut list = TopicPartitionList::new();
    for entry in positions.elements() {
        if let Offset::Offset(offset) = entry.offset() {
            list.add_partition_offset(entry.topic(), entry.partition(), Offset::Offset(offset))
                .unwrap();
        }
    }
    if list.count() > 0 {
        consumer.commit(&list, CommitMode::Sync).unwrap();
    }
}

/// Sends one record, serving delivery reports while librdkafka's queue is full.
fn send(producer: &BaseProducer, topic: &str, partition: i32, key: &[u8], value: &[u8]) {
    let mut record = BaseRecord::to(topic)
        .partition(partition)
        .key(key)
        .payload(value);
    loop {
        match producer.send(record) {
            Ok(()) => return,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                producer.poll(Duration::from_millis(10));
            }
            Err((error, _)) => panic!("send failed: {error}"),
        }
    }
}
